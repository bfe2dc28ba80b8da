#!/usr/bin/env python3
"""NumPy peer for the ember-abx dense text path (bench `abx/dense_md`).

Meaning discrimination (ON meaning, ACROSS language) for every ordered language pair
(L1, L2) of L languages x n parallel sentences x d dims, in NumPy's dense formulation:
rows L2-normalised once, then per ordered pair one Gram block G = E_L2 @ E_L1.T and the
comparison of every row with its diagonal entry (ties count 1/2):

    err(L1 -> L2) = [ sum_{m != m'} 1(G[m, m'] > G[m, m]) + 1/2 1(G[m, m'] == G[m, m]) ] / (n (n - 1))

Same sizes and float32 as the Rust bench (5 x 1000 x 256). Prints the median of `--reps`
timings (normalisation included, data generation excluded).

    python3 scripts/bench_abx_numpy.py [--langs 5] [--n 1000] [--dim 256] [--reps 20]

Peers of the Rust bench's variants: `OPENBLAS_CORETYPE=Haswell` (AVX2 kernels, against
`EMBER_SIMD=avx2`) and `OPENBLAS_NUM_THREADS=1` (against `RAYON_NUM_THREADS=1`).
"""
import argparse
import time

import numpy as np


def md_all_pairs(embs):
    normed = [e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12) for e in embs]
    n = normed[0].shape[0]
    out = {}
    for i, e1 in enumerate(normed):
        for j, e2 in enumerate(normed):
            if i == j:
                continue
            g = e2 @ e1.T
            diag = np.diag(g)[:, None]
            gt = (g > diag).sum()
            eq = (g == diag).sum() - n  # the diagonal itself
            out[(i, j)] = (gt + 0.5 * eq) / (n * (n - 1))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--langs", type=int, default=5)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--reps", type=int, default=20)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((a.n, a.dim)).astype(np.float32)
    embs = [(shared + rng.standard_normal((a.n, a.dim))).astype(np.float32) for _ in range(a.langs)]
    md_all_pairs(embs)  # warm-up
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        res = md_all_pairs(embs)
        times.append(time.perf_counter() - t0)
    times.sort()
    mean_err = float(np.mean(list(res.values())))
    print(
        f"numpy dense MD: {a.langs} langs x {a.n} x {a.dim}, {len(res)} ordered pairs: "
        f"median {1e3 * times[len(times) // 2]:.1f} ms (min {1e3 * times[0]:.1f} ms); mean error {mean_err:.4f}"
    )


if __name__ == "__main__":
    main()
