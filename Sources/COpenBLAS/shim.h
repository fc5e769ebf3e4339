#include <cblas.h>
/* Thread control, declared by OpenBLAS but not by the reference cblas.h. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
