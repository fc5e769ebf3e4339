#include <cblas.h>
/* Thread control, declared by OpenBLAS but not by the reference cblas.h. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
/* LAPACK (Fortran symbols, shipped inside libopenblas): Cholesky and symmetric eigenproblems. Every
   argument by pointer; the character arguments are single letters (no hidden length is read). */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info);
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
             const double *vl, const double *vu, const int *il, const int *iu, const double *abstol,
             int *m, double *w, double *z, const int *ldz, int *isuppz, double *work, const int *lwork,
             int *iwork, const int *liwork, int *info);
/* SVD (divide and conquer) and Householder QR, for the subspace merge methods (Iso, TSV-M, OPCM). */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
             const int *lwork, int *info);
