#!/usr/bin/env python3
"""The scikit-learn peer of crates/lang-experts/benches/expertise.rs, for docs/perf.md.

    pip install -r scripts/requirements.txt
    python3 scripts/bench_lang_experts_sklearn.py [--repeat 3]

The loops of the reference code: one `average_precision_score` / `roc_auc_score` call per
unit (apple/ml-selfcond `selfcond/expertise.py`, apple/ml-aura `src/utils/auroc.py` calls
it on 10-column chunks, which is what `roc_auc_score(..., average=None)` does per column),
plus the per-unit positive median / mean and negative mean of ml-selfcond's table. Single
process (the reference code uses a process pool; divide by the core count to compare).
Prints the median of --repeat runs, in seconds.
"""

import argparse
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def data(units, n, rng):
    labels = rng.random(n) < 0.3
    sep = 0.1 * (np.arange(units) % 7)[:, None]
    return (rng.random((units, n)) + sep * labels).astype(np.float32), labels


def table(scores, labels):
    out = []
    for r in scores:
        pos = r[labels]
        out.append((average_precision_score(labels, r), roc_auc_score(labels, r),
                    np.mean(pos), np.median(pos), np.mean(r[~labels])))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    s, l = data(2000, 2000, rng)
    t_ap = median_time(lambda: [average_precision_score(l, r) for r in s], args.repeat)
    t_auc = median_time(lambda: [roc_auc_score(l, r) for r in s], args.repeat)
    print(f"average_precision 2000x2000 per-unit loop: {t_ap:.3f} s")
    print(f"roc_auc           2000x2000 per-unit loop: {t_auc:.3f} s")
    s10, l10 = data(10_000, 2000, rng)
    t_tab = median_time(lambda: table(s10, l10), 1)
    print(f"expertise table  10000x2000 per-unit loop: {t_tab:.3f} s")


if __name__ == "__main__":
    main()
