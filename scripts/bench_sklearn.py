#!/usr/bin/env python3
"""Time scikit-learn on the sizes of crates/core/benches/metrics.rs, for docs/perf.md.

    pip install -r scripts/requirements.txt
    python scripts/bench_sklearn.py [--units 2000] [--repeat 3]

AP/AUROC use the per-unit loop researchers write (one sklearn call per unit, same labels);
EER/minDCF use the roc_curve route (EER by brentq on interp1d, minDCF as in Kaldi's
compute_min_dcf.py); recall@k uses NumPy. Prints the median of --repeat runs, in seconds.
"""

import argparse
import time

import numpy as np
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    n = args.samples
    labels = rng.random(n) < 0.3
    scores = (rng.random((args.units, n)) + 0.1 * (np.arange(args.units) % 7)[:, None] * labels)
    scores = scores.astype(np.float32)
    t_ap = median_time(lambda: [average_precision_score(labels, r) for r in scores], args.repeat)
    t_auc = median_time(lambda: [roc_auc_score(labels, r) for r in scores], args.repeat)
    print(f"average_precision {args.units}x{n} per-unit loop: {t_ap:.3f} s")
    print(f"roc_auc           {args.units}x{n} per-unit loop: {t_auc:.3f} s")

    m = args.trials
    tl = rng.random(m) < 0.1
    ts = (rng.random(m) + rng.random(m) + tl).astype(np.float32)

    def eer():
        fpr, tpr, _ = roc_curve(tl, ts)
        return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)

    def eer_min_dcf():
        fpr, tpr, _ = roc_curve(tl, ts)
        e = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
        dcf = [np.min(p * (1 - tpr) + (1 - p) * fpr) / min(p, 1 - p) for p in (0.01, 0.05)]
        return e, dcf

    print(f"eer (roc_curve + brentq)      {m} trials: {median_time(eer, args.repeat):.3f} s")
    print(f"eer + minDCF x2 (one roc)     {m} trials: {median_time(eer_min_dcf, args.repeat):.3f} s")

    k = 2000
    sim = rng.random((k, k)).astype(np.float32)

    def recall():
        d = np.diag(sim)
        r2c = np.mean((sim > d[:, None]).sum(1) < 5)
        c2r = np.mean((sim > d[None, :]).sum(0) < 5)
        return r2c, c2r

    print(f"recall@5 both ways (NumPy)    {k}x{k}: {median_time(recall, args.repeat):.4f} s")


if __name__ == "__main__":
    main()
