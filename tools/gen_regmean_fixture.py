#!/usr/bin/env python3
"""Generate Tests/Fixtures/regmean/cases.json: RegMean's closed form in numpy.

Oracle: the published formula (Jin et al., ICLR 2023, "Dataless Knowledge Fusion by Merging
Weights of Language Models", eq. 4 with the off-diagonal scaling of section 3.3), written
densely in float64 with numpy only:

    G_i  = X_i^T X_i                                 (X_i: n_i x d input rows of task i)
    G~_i = alpha G_i + (1 - alpha) diag(G_i)
    eps  = ridge * mean(diag(sum_i w_i G_i))
    dW   = (sum_i w_i dW_i G~_i) (sum_i w_i G~_i + eps I)^-1

Also MagMax's published rule on a tiny vector (per element the task vector of largest magnitude).

Our Swift code never forms these d x d matrices (Gram sketches + Woodbury), so with a sketch
rank of min(n_i, d) it must reproduce `delta` to float32 precision. Also recorded: the top-k
eigenvalues of one Gram, which a rank-k sketch must hold exactly.

Usage:  tools/.venv/bin/python tools/gen_regmean_fixture.py   (deterministic: seeded)
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "regmean", "cases.json")


def case(rng, name, d, out, rows, weights, alpha, ridge, zero=()):
    xs = [rng.normal(0, 1, size=(n, d)) * rng.uniform(0.2, 3.0, size=d) for n in rows]
    dws = [np.zeros((out, d)) if i in zero else rng.normal(0, 0.1, size=(out, d)) for i in range(len(rows))]
    xs = [x.astype(np.float32).astype(np.float64) for x in xs]
    dws = [w.astype(np.float32).astype(np.float64) for w in dws]
    grams = [x.T @ x for x in xs]
    tilde = [alpha * g + (1 - alpha) * np.diag(np.diag(g)) for g in grams]
    full = sum(w * g for w, g in zip(weights, grams))
    eps = ridge * np.mean(np.diag(full))
    a = sum(w * g for w, g in zip(weights, tilde)) + eps * np.eye(d)
    m = sum(w * dw @ g for w, dw, g in zip(weights, dws, tilde))
    delta = np.linalg.solve(a.T, m.T).T
    top = np.sort(np.linalg.eigvalsh(grams[0]))[::-1]
    return {
        "name": name, "dim": d, "out": out, "alpha": alpha, "ridge": ridge, "weights": weights,
        "inputs": [x.ravel().tolist() for x in xs], "rows": rows,
        "task_vectors": [w.ravel().tolist() for w in dws],
        "delta": delta.ravel().tolist(),
        "top_eigenvalues_of_first": top[:3].tolist(),
    }


def main():
    rng = np.random.default_rng(20261207)
    cases = [
        # fewer tokens than the width for every task (the usual case at LLM widths)
        case(rng, "few-rows", d=12, out=5, rows=[4, 7, 3], weights=[1.0, 1.0, 1.0], alpha=0.9, ridge=1e-3),
        # more tokens than the width, per-layer weights, plain RegMean's alpha = 1
        case(rng, "many-rows-weighted", d=8, out=6, rows=[20, 11], weights=[0.7, 0.3], alpha=1.0, ridge=1e-2),
        # the sequential update: the head's task vector is zero, its Gram the running sum
        case(rng, "head-and-new", d=10, out=4, rows=[9, 6], weights=[1.0, 1.0], alpha=0.9, ridge=1e-3, zero=(0,)),
    ]
    # MagMax (Marczak et al. 2024): per element the task vector of largest magnitude, lambda-scaled.
    base = rng.normal(0, 1, size=40).astype(np.float32)
    models = [(base + rng.normal(0, 0.3, size=40)).astype(np.float32) for _ in range(3)]
    models[1][5] = base[5]  # an element no model but one changes
    taus = np.stack([m.astype(np.float64) - base for m in models])
    pick = np.argmax(np.abs(taus), axis=0)
    magmax = base + 0.8 * taus[pick, np.arange(40)]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/gen_regmean_fixture.py", "numpy": np.__version__, "cases": cases,
                   "magmax": {"lambda": 0.8, "base": base.tolist(), "models": [m.tolist() for m in models],
                              "expected": magmax.tolist()}}, f)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
