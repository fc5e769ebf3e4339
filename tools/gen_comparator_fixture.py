#!/usr/bin/env python3
"""Generate Tests/Fixtures/comparators/cases.json: the comparator merge methods'
published formulas, written densely in float64 with numpy only (the oracle for ComparatorMergeTests).

Every case is a set of task vectors tau_t (T tasks) of one matrix, either dense or LoRA-factored
(tau_t = B_t A_t, rank r); the oracle always works on the dense float64 matrices. Our Swift code
works on the small core space for factored inputs, so it must land on the same numbers.

Methods (alpha = the final scaling, theta = theta0 + alpha * delta unless said otherwise):

  Iso-C (Marczak et al. 2025, "No Task Left Behind", eq. for Iso-C; FusionBench iso_utils.iso_c):
      S = sum_t tau_t = U diag(s) V^T;  delta = mean(s) U V^T
  Iso-CTS (same paper; FusionBench iso_utils.iso_cts), common fraction f:
      k = int(min(m,n) f);  k = min(m,n) - round((min(m,n) - k) / T) * T;  s_t = (min(m,n) - k) / T
      common: top-k triplets of S; per task the top-s_t triplets of (I - U_k U_k^T) tau_t;
      U* = polar([U_k, U_1', ..., U_T']), V* likewise; delta = mean(all kept sigmas) U* V*^T
  TSV-M (Gargiulo et al., CVPR 2025; FusionBench TSVM_utils.compute_and_sum_svd_mem_reduction):
      k = int(min(m,n) / T) per task; U = [U_1k .. U_Tk], S = [S_1k .. S_Tk], V likewise;
      delta = polar(U) diag(S) polar(V)^T       (polar(X) = P Q^T for X = P Sigma Q^T)
  OPCM (Tang et al. 2025, "Merging Models on the Fly"; FusionBench opcm_general.OPCM), alpha in (0,1):
      Psi_1 = tau_1;  for t >= 2, per linear matrix, Psi_{t-1} = U diag(s) V^T,
      k = first index with cumsum(s)/sum(s) > alpha,
      P = U^T tau_t V with its diagonal and its top-left k x k block zeroed,  Psi_t = Psi_{t-1} + U P V^T
      (other tensors: Psi_t = Psi_{t-1} + tau_t);  theta = theta0 + Psi_T * mean_t ||tau_t|| / ||Psi_T||
      with norms over the whole model (every tensor).  This is FusionBench's lambda_t recursion
      unrolled: merged_t = theta0 + Psi_t / lambda_t, lambda_t = ||Psi_t|| / mean_{i<=t} ||tau_i||.
  MagMax (Marczak et al., ECCV 2024): per element the task vector of largest magnitude.

Zero singular values: when a matrix is rank-deficient (always the case for LoRA sums) the dense
formulas above would use singular vectors of zero singular values, which are arbitrary (any
orthonormal completion). We keep only triplets with sigma > 1e-6 * ||reference||_F (the
reference being the matrix itself, or tau_t for Iso-CTS's task-specific part), take the mean of
the kept sigmas, the polar factor on the range only, and OPCM's diagonal zeroing only for
i < rank(Psi). For full-rank matrices (full fine-tuning) this is exactly the published code.

Usage:  tools/.venv/bin/python tools/gen_comparator_fixture.py   (deterministic: seeded)
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "comparators", "cases.json")
TOL = 1e-6


def svd(x):
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    return u, s, vt


def kept(s, ref):
    return int(np.sum(s > TOL * ref))


def polar(x):
    u, s, vt = svd(x)
    r = kept(s, np.linalg.norm(x))
    return u[:, :r] @ vt[:r]


def iso_c(taus):
    s_mat = sum(taus)
    u, s, vt = svd(s_mat)
    r = kept(s, np.linalg.norm(s_mat))
    if r == 0:
        return np.zeros_like(s_mat)
    return s[:r].mean() * (u[:, :r] @ vt[:r])


def iso_cts_sizes(m, n, t, fraction):
    d = min(m, n)
    k = int(d * fraction)
    # Python's round: halves to even, as FusionBench's code does.
    total = round((d - k) / t) * t
    k = d - total
    return k, int((d - k) / t)


def iso_cts(taus, fraction):
    m, n = taus[0].shape
    k, per = iso_cts_sizes(m, n, len(taus), fraction)
    s_mat = sum(taus)
    u, s, vt = svd(s_mat)
    kc = min(k, kept(s, np.linalg.norm(s_mat)))
    uc, sc, vc = u[:, :kc], s[:kc], vt[:kc]
    us, ss, vs = [uc], [sc], [vc]
    for tau in taus:
        w = tau - uc @ (uc.T @ tau)
        ut, st, vtt = svd(w)
        kt = min(per, kept(st, np.linalg.norm(tau)))
        us.append(ut[:, :kt]); ss.append(st[:kt]); vs.append(vtt[:kt])
    sig = np.concatenate(ss)
    if sig.size == 0:
        return np.zeros_like(s_mat)
    ucat, vcat = np.concatenate(us, axis=1), np.concatenate(vs, axis=0)
    return sig.mean() * (polar(ucat) @ polar(vcat.T).T)


def tsv_m(taus):
    m, n = taus[0].shape
    k = int(min(m, n) * (1 / len(taus)))
    us, ss, vs = [], [], []
    for tau in taus:
        u, s, vt = svd(tau)
        kt = min(k, kept(s, np.linalg.norm(tau)))
        us.append(u[:, :kt]); ss.append(s[:kt]); vs.append(vt[:kt])
    sig = np.concatenate(ss)
    if sig.size == 0:
        return np.zeros((m, n))
    ucat, vcat = np.concatenate(us, axis=1), np.concatenate(vs, axis=0)
    return polar(ucat) @ np.diag(sig) @ polar(vcat.T).T


def opcm_clean(psi, tau, alpha):
    u, s, vt = svd(psi)
    rho = kept(s, np.linalg.norm(psi))
    if rho == 0:
        return tau.copy(), 0, 0
    ratios = np.cumsum(s) / s.sum()
    split = int(np.argmax(ratios > alpha))
    u, vt = u[:, :rho], vt[:rho]
    p = u.T @ tau @ vt.T
    zero = np.zeros_like(p)
    zero[:split, :split] = p[:split, :split]
    for i in range(rho):
        zero[i, i] = p[i, i]
    return tau - u @ zero @ vt, split, rho


def opcm(models, alpha, linear):
    """models: list of dicts name -> tau (float64). linear: names of the projected matrices."""
    psi = {k: v.copy() for k, v in models[0].items()}
    norms = [np.sqrt(sum(np.sum(v * v) for v in models[0].values()))]
    splits = []
    for tau in models[1:]:
        step = {}
        for name, t in tau.items():
            if name in linear:
                cleaned, split, rho = opcm_clean(psi[name], t, alpha)
                step[name] = psi[name] + cleaned
                splits.append([split, rho])
            else:
                step[name] = psi[name] + t
        psi = step
        norms.append(np.sqrt(sum(np.sum(v * v) for v in tau.values())))
    psi_norm = np.sqrt(sum(np.sum(v * v) for v in psi.values()))
    lam = psi_norm / np.mean(norms)
    return {k: v / lam for k, v in psi.items()}, lam, norms, psi, splits


def f32(x):
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def dense_case(rng, name, m, n, t, fraction, scale=0.1):
    taus = [f32(rng.normal(0, scale, size=(m, n)) * rng.uniform(0.3, 2.0, size=n)) for _ in range(t)]
    return {"name": name, "rows": m, "cols": n, "form": "dense", "task_vectors": [x.ravel().tolist() for x in taus]}, taus


def lora_case(rng, name, m, n, t, r):
    bs = [f32(rng.normal(0, 0.3, size=(m, r))) for _ in range(t)]
    as_ = [f32(rng.normal(0, 0.3, size=(r, n))) for _ in range(t)]
    taus = [b @ a for b, a in zip(bs, as_)]
    return {"name": name, "rows": m, "cols": n, "form": "lora", "rank": r,
            "b": [b.ravel().tolist() for b in bs], "a": [a.ravel().tolist() for a in as_]}, taus


def expected(c, taus, fraction):
    k, per = iso_cts_sizes(c["rows"], c["cols"], len(taus), fraction)
    c["common_fraction"] = fraction
    c["iso_cts_sizes"] = [k, per]
    c["iso_c"] = iso_c(taus).ravel().tolist()
    c["iso_cts"] = iso_cts(taus, fraction).ravel().tolist()
    c["tsv_m"] = tsv_m(taus).ravel().tolist()
    c["task_arithmetic_sum"] = sum(taus).ravel().tolist()
    return c


def main():
    rng = np.random.default_rng(20261207)
    cases = []
    # Full-rank task vectors (full fine-tuning): exactly FusionBench's formulas.
    c, taus = dense_case(rng, "dense-3x12x10", 12, 10, 3, 0.8); cases.append(expected(c, taus, 0.8))
    c, taus = dense_case(rng, "dense-4x9x14", 9, 14, 4, 0.5); cases.append(expected(c, taus, 0.5))
    # LoRA task vectors: rank r per task, T r below the width (the core-space regime).
    c, taus = lora_case(rng, "lora-3x12x10-r2", 12, 10, 3, 2); cases.append(expected(c, taus, 0.3))
    c, taus = lora_case(rng, "lora-2x16x11-r3", 16, 11, 2, 3); cases.append(expected(c, taus, 0.8))

    # OPCM over a tiny "model": one linear matrix and one bias per task, in order.
    opcm_cases = []
    for name, form, alpha in [("opcm-dense", "dense", 0.5), ("opcm-lora", "lora", 0.5), ("opcm-dense-alpha0.8", "dense", 0.8)]:
        m, n, t = 10, 8, 4
        if form == "dense":
            mats = [f32(rng.normal(0, 0.1, size=(m, n))) for _ in range(t)]
            entry = {"task_vectors": [x.ravel().tolist() for x in mats]}
        else:
            bs = [f32(rng.normal(0, 0.3, size=(m, 2))) for _ in range(t)]
            as_ = [f32(rng.normal(0, 0.3, size=(2, n))) for _ in range(t)]
            mats = [b @ a for b, a in zip(bs, as_)]
            entry = {"rank": 2, "b": [b.ravel().tolist() for b in bs], "a": [a.ravel().tolist() for a in as_]}
        biases = [f32(rng.normal(0, 0.05, size=m)) for _ in range(t)]
        models = [{"w": w, "b": b} for w, b in zip(mats, biases)]
        merged, lam, norms, psi, splits = opcm(models, alpha, {"w"})
        # The state after the first t-1 tasks, from which the last step must resume.
        prev, prev_lam, prev_norms, _, _ = opcm(models[:-1], alpha, {"w"})
        entry.update({"name": name, "form": form, "rows": m, "cols": n, "alpha": alpha,
                      "biases": [b.tolist() for b in biases],
                      "merged_w": merged["w"].ravel().tolist(), "merged_b": merged["b"].tolist(),
                      "lambda": lam, "norms": norms, "splits": splits,
                      "previous_w": prev["w"].ravel().tolist(), "previous_b": prev["b"].tolist(),
                      "previous_lambda": prev_lam, "previous_norms": prev_norms})
        opcm_cases.append(entry)

    # MagMax on the first dense case's task vectors (per element, largest |tau|, lambda-scaled).
    taus = np.stack([np.array(x).reshape(12, 10) for x in cases[0]["task_vectors"]])
    pick = np.argmax(np.abs(taus), axis=0)
    magmax = 0.7 * np.take_along_axis(taus, pick[None], axis=0)[0]

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/gen_comparator_fixture.py", "numpy": np.__version__, "tolerance": TOL,
                   "cases": cases, "opcm": opcm_cases,
                   "magmax": {"case": cases[0]["name"], "lambda": 0.7, "delta": magmax.ravel().tolist()}}, f)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
