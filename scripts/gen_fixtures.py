#!/usr/bin/env python3
"""Regenerate the reference fixtures for ember-core's metrics and losses.

    pip install -r scripts/requirements.txt
    python scripts/gen_fixtures.py          # writes crates/core/tests/fixtures/{metrics,losses}.json

Seeded (numpy default_rng(SEED)); rerunning produces identical files with the pinned versions.
Float32 inputs (scores, similarities, vectors) are generated as float32 and fed to the reference
as float32, so ties are the ones Rust sees; JSON holds their exact values.

metrics.json schema
-------------------
{
  "meta": {"seed", "numpy", "scipy", "sklearn"},
  "accuracy":   [{"name", "pred": [int], "target": [int], "expected": float}],
  "ranking":    [{"name", "scores": [f32], "labels": [bool],
                  "ap": average_precision_score, "auroc": roc_auc_score}],
  "ranking_batch": [{"name", "n_units", "scores": [f32] row-major [n_units, n_samples],
                     "labels": [bool] (n_samples), "ap": [float], "auroc": [float]}],
  "verification": [{"name", "scores": [f32], "labels": [bool] (true = target trial),
                    "eer": brentq(1 - x - interp1d(fpr, tpr)(x)) on roc_curve,
                    "eer_threshold": f32, threshold of the first roc point (high -> low,
                                     drop_intermediate=False) with FNR <= FPR,
                    "min_dcf": [{"p_target", "c_miss", "c_fa", "min_dcf" (normalised),
                                 "threshold": f32 or null for reject-all (+inf)}],
                    "eer_nearest": max(fpr[i], fnr[i]) at i = nanargmin(|fnr - fpr|) on
                                   roc_curve (drop_intermediate=True; voxceleb_trainer),
                    "eer_nearest_threshold": thresholds[i], null for +inf}],
  "recall_at_k": [{"name", "n_rows", "n_cols", "sim": [f32] row-major, "targets": [int],
                   "k", "expected"}]   hit iff #{j: sim[i,j] > sim[i,t_i]} < k,
  "recall_diagonal": [{"name", "n", "sim": [f32], "k", "row_to_col", "col_to_row"}],
  "correlation": [{"name", "x": [f64], "y": [f64], "pearson": pearsonr, "spearman": spearmanr,
                   "rank_x": rankdata(x, "average")}],
  "angular": [{"name", "dim", "pred": [f32], "target": [f32],
               "errors_deg": [2 * arctan2(|p̂ - t̂|, |p̂ + t̂|) in degrees],
               "mean_deg": float}]
}

losses.json schema (every case: inputs, then "loss"; means unless stated)
------------------
{
  "meta": {...},
  "masked_cross_entropy": [{"name", "logits": [N][V], "targets": [N] int, "mask": [N] 0/1,
        "loss": sum_i mask_i * -log_softmax(logits_i)[t_i] / sum_i mask_i,
        "grad_logits": [N][V] = mask_i * (softmax(logits_i) - onehot(t_i)) / sum(mask)}],
  "info_nce": [{"name", "a": [N][D], "b": [N][D], "logit_scale": t (log of the scale),
        "loss": 0.5 * (CE(L, arange N) + CE(L.T, arange N)), L = exp(t) * â @ b̂.T,
                rows L2-normalised, CE = mean over rows}],
  "weighted_pairwise_sigmoid": [{"name", "sim": [N][M], "z": [N][M] in {+1,-1},
        "w": [N][M] >= 0, "t" (plain scale), "b" (bias),
        "loss": -sum_ij w_ij * log_sigmoid(z_ij * (t * sim_ij + b)) / N}],
  "am_softmax": [{"name", "cos": [N][C], "labels": [N], "s", "m",
        "loss": mean CE of s * (cos - m * onehot)}],
  "aam_softmax": [{"name", "cos": [N][C], "labels": [N], "s", "m",
        "loss": mean CE of s * cos(arccos(clip(cos, -1+1e-7, 1-1e-7)) + m * onehot)}],
  "bradley_terry": [{"name", "r_chosen": [N], "r_rejected": [N], "beta",
        "loss": -mean(log_sigmoid(beta * (r_chosen - r_rejected)))}]
}
Loss inputs/outputs are float64 values; compare in f32 with a tolerance suited to f32.
"""

import json
import pathlib

import numpy as np
import scipy
import sklearn
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from scipy.special import log_expit, log_softmax, softmax
from scipy.stats import pearsonr, rankdata, spearmanr
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score, roc_curve

SEED = 20261126
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "core" / "tests" / "fixtures"
rng = np.random.default_rng(SEED)
META = {"seed": SEED, "numpy": np.__version__, "scipy": scipy.__version__, "sklearn": sklearn.__version__}


def f32list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def f64list(a):
    return np.asarray(a, dtype=np.float64).tolist()


# ----------------------------------------------------------------------------- metrics
def score_sets():
    """(name, scores f32, labels bool) covering random, tie-heavy and degenerate inputs."""
    out = []
    n = 500
    labels = rng.random(n) < 0.3
    s = (rng.standard_normal(n) + 0.8 * labels).astype(np.float32)
    out.append(("random", s, labels))
    out.append(("ties_round1", np.round(s, 1).astype(np.float32), labels))
    out.append(("ties_coarse_ints", np.round(s).astype(np.float32), labels))
    lab = rng.random(60) < 0.5
    lab[:2] = [True, False]
    out.append(("all_tied", np.full(60, 0.25, np.float32), lab))
    lab = np.zeros(40, bool)
    lab[[3, 17]] = True
    out.append(("rare_positives", rng.standard_normal(40).astype(np.float32), lab))
    out.append(("perfect", np.arange(10, dtype=np.float32), np.arange(10) >= 6))
    out.append(("inverted", -np.arange(10, dtype=np.float32), np.arange(10) >= 6))
    out.append(("signed_zero_ties", np.array([-0.0, 0.0, 1.0, -1.0, 0.0, -0.0], np.float32),
                np.array([True, False, True, False, False, True])))
    return out


def ranking_cases():
    return [{"name": name, "scores": f32list(s), "labels": [bool(v) for v in l],
             "ap": float(average_precision_score(l, s)), "auroc": float(roc_auc_score(l, s))}
            for name, s, l in score_sets()]


def ranking_batch_cases():
    cases = []
    for name, n_units, n, tie in [("random", 7, 200, False), ("ties", 5, 120, True)]:
        labels = rng.random(n) < 0.4
        labels[:2] = [True, False]
        s = rng.standard_normal((n_units, n)) + rng.standard_normal((n_units, 1)) * labels
        if tie:
            s = np.round(s, 1)
            s[0] = 1.5  # a fully tied unit
        s = s.astype(np.float32)
        cases.append({"name": name, "n_units": n_units, "scores": f32list(s),
                      "labels": [bool(v) for v in labels],
                      "ap": [float(average_precision_score(labels, r)) for r in s],
                      "auroc": [float(roc_auc_score(labels, r)) for r in s]})
    return cases


def eer_reference(scores, labels):
    fpr, tpr, _ = roc_curve(labels, scores)
    return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0, xtol=1e-14)


def eer_closed_form(scores, labels):
    """Same definition as Rust: first roc point with FNR <= FPR (exact integers), then the
    intersection of the bracketing segment with TPR = 1 - FPR."""
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    p, n = int(labels.sum()), int((~labels).sum())
    tps = np.rint(tpr * p).astype(np.int64)
    fps = np.rint(fpr * n).astype(np.int64)
    k = int(np.argmax((p - tps) * n <= fps * p))
    x0, y0, x1, y1 = fps[k - 1] / n, tps[k - 1] / p, fps[k] / n, tps[k] / p
    s = (1.0 - x0 - y0) / ((x1 - x0) + (y1 - y0))
    return x0 + s * (x1 - x0), float(thr[k])


def min_dcf_reference(scores, labels, p_target, c_miss, c_fa):
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    p, n = int(labels.sum()), int((~labels).sum())
    tps = np.rint(tpr * p).astype(np.int64)
    fps = np.rint(fpr * n).astype(np.int64)
    p_miss = (p - tps) / p
    p_fa = fps / n
    cost = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    k = int(np.argmin(cost))  # first = highest threshold among equal minima
    c_def = min(c_miss * p_target, c_fa * (1.0 - p_target))
    # Cross-check against the textbook 1 - tpr formulation.
    alt = np.min(c_miss * p_target * (1 - tpr) + c_fa * (1 - p_target) * fpr) / c_def
    assert abs(alt - cost[k] / c_def) < 1e-12
    threshold = None if np.isinf(thr[k]) else float(thr[k])
    return float(cost[k] / c_def), threshold


def eer_nearest_roc_point(scores, labels):
    """voxceleb_trainer's tuneThresholdfromScore: the roc_curve point nearest FNR = FPR."""
    fpr, tpr, thresholds = roc_curve(labels, scores, pos_label=1)
    fnr = 1 - tpr
    i = np.nanargmin(np.absolute(fnr - fpr))
    thr = float(thresholds[i])
    return float(max(fpr[i], fnr[i])), (None if np.isinf(thr) else thr)


def verification_cases():
    sets = []
    n = 3000
    labels = rng.random(n) < 0.1
    s = (rng.standard_normal(n) + 2.0 * labels).astype(np.float32)
    sets.append(("random", s, labels))
    sets.append(("ties_round1", np.round(s, 1).astype(np.float32), labels))
    sets.extend((name, s, l) for name, s, l in score_sets()
                if name in ("all_tied", "rare_positives", "perfect", "inverted"))
    # Few targets, where the EER conventions differ by up to a ROC step (1/9). Its own
    # generator, so the shared stream (and every other fixture) is unchanged.
    few = np.random.default_rng(20)
    lab = np.zeros(90, bool)
    lab[:9] = True
    sets.append(("nine_targets", (few.standard_normal(90) + 1.5 * lab).astype(np.float32), lab))
    sets.append(("nine_targets_ties", np.round(sets[-1][1], 0).astype(np.float32), lab))
    cases = []
    for name, s, l in sets:
        eer = eer_reference(s, l)
        eer2, eer_thr = eer_closed_form(s, l)
        assert abs(eer - eer2) < 1e-9, (name, eer, eer2)
        dcfs = []
        for p_target in (0.01, 0.05):
            v, t = min_dcf_reference(s, l, p_target, 1.0, 1.0)
            dcfs.append({"p_target": p_target, "c_miss": 1.0, "c_fa": 1.0, "min_dcf": v,
                         "threshold": t})
        v, t = min_dcf_reference(s, l, 0.05, 10.0, 1.0)
        dcfs.append({"p_target": 0.05, "c_miss": 10.0, "c_fa": 1.0, "min_dcf": v, "threshold": t})
        near, near_thr = eer_nearest_roc_point(s, l)
        cases.append({"name": name, "scores": f32list(s), "labels": [bool(v) for v in l],
                      "eer": float(eer), "eer_threshold": eer_thr, "min_dcf": dcfs,
                      "eer_nearest": near, "eer_nearest_threshold": near_thr})
    return cases


def recall_hits(sim, targets, k):
    tgt = sim[np.arange(sim.shape[0]), targets][:, None]
    return float(np.mean((sim > tgt).sum(axis=1) < k))


def recall_cases():
    cases, diag = [], []
    for name, round_to in [("random", None), ("ties_round1", 1)]:
        sim = rng.standard_normal((30, 40)).astype(np.float32)
        targets = rng.integers(0, 40, 30)
        sim[np.arange(30), targets] += 1.0
        if round_to is not None:
            sim = np.round(sim, round_to).astype(np.float32)
        for k in (1, 5, 10, 40):
            cases.append({"name": name, "n_rows": 30, "n_cols": 40, "sim": f32list(sim),
                          "targets": targets.tolist(), "k": k,
                          "expected": recall_hits(sim, targets, k)})
        sq = rng.standard_normal((25, 25)).astype(np.float32) + 1.5 * np.eye(25, dtype=np.float32)
        if round_to is not None:
            sq = np.round(sq, round_to).astype(np.float32)
        for k in (1, 5):
            ar = np.arange(25)
            diag.append({"name": name, "n": 25, "sim": f32list(sq), "k": k,
                         "row_to_col": recall_hits(sq, ar, k),
                         "col_to_row": recall_hits(np.ascontiguousarray(sq.T), ar, k)})
    return cases, diag


def correlation_cases():
    cases = []
    x = rng.standard_normal(200)
    y = 0.6 * x + rng.standard_normal(200)
    sets = [("random", x, y), ("ties_round1", np.round(x, 1), np.round(y, 1)),
            ("ties_ints", rng.integers(0, 5, 50).astype(float), rng.integers(0, 3, 50).astype(float)),
            ("negative", x[:20], -x[:20] ** 3), ("two_points", np.array([1.0, 2.0]), np.array([3.0, -1.0]))]
    for name, a, b in sets:
        cases.append({"name": name, "x": f64list(a), "y": f64list(b),
                      "pearson": float(pearsonr(a, b).statistic),
                      "spearman": float(spearmanr(a, b).statistic),
                      "rank_x": f64list(rankdata(a, method="average"))})
    return cases


def angular_cases():
    cases = []
    for name, n, dim in [("gaze3", 50, 3), ("dim8", 20, 8)]:
        p = rng.standard_normal((n, dim)).astype(np.float32)
        t = (p + 0.3 * rng.standard_normal((n, dim))).astype(np.float32)
        t[0] = p[0] * 2.0  # parallel: exactly 0 after clamping
        t[1] = -p[1]  # antiparallel: 180
        cases.append((name, dim, p, t))
    out = []
    for name, dim, p, t in cases:
        p64, t64 = p.astype(np.float64), t.astype(np.float64)
        pn = p64 / np.linalg.norm(p64, axis=1, keepdims=True)
        tn = t64 / np.linalg.norm(t64, axis=1, keepdims=True)
        # Kahan's well-conditioned form (what Rust evaluates); the textbook clamped arccos agrees
        # to ~1e-6 degrees, its own rounding error near 0 and 180.
        err = np.degrees(2 * np.arctan2(np.linalg.norm(pn - tn, axis=1), np.linalg.norm(pn + tn, axis=1)))
        acos = np.degrees(np.arccos(np.clip(np.sum(pn * tn, axis=1), -1.0, 1.0)))
        assert np.max(np.abs(err - acos)) < 1e-5
        out.append({"name": name, "dim": dim, "pred": f32list(p), "target": f32list(t),
                    "errors_deg": f64list(err), "mean_deg": float(err.mean())})
    return out


def accuracy_cases():
    out = []
    for name, n, c in [("random", 100, 5), ("binary", 17, 2)]:
        t = rng.integers(0, c, n)
        p = np.where(rng.random(n) < 0.7, t, rng.integers(0, c, n))
        out.append({"name": name, "pred": p.tolist(), "target": t.tolist(),
                    "expected": float(accuracy_score(t, p))})
    return out


# ----------------------------------------------------------------------------- losses
def ce_rows(logits, targets):
    return -log_softmax(logits, axis=1)[np.arange(len(targets)), targets]


def loss_cases():
    out = {"meta": META}
    mce = []
    for name, n, v in [("n6_v5", 6, 5), ("n8_v10", 8, 10)]:
        logits = rng.standard_normal((n, v)) * 2.0
        targets = rng.integers(0, v, n)
        mask = (rng.random(n) < 0.7).astype(np.int64)
        mask[0] = 1
        loss = float(np.sum(mask * ce_rows(logits, targets)) / mask.sum())
        grad = mask[:, None] * (softmax(logits, axis=1) - np.eye(v)[targets]) / mask.sum()
        mce.append({"name": name, "logits": f64list(logits), "targets": targets.tolist(),
                    "mask": mask.tolist(), "loss": loss, "grad_logits": f64list(grad)})
    out["masked_cross_entropy"] = mce

    nce = []
    for name, n, d, t in [("n6_d4", 6, 4, np.log(1 / 0.07)), ("n8_d8", 8, 8, 0.0)]:
        a = rng.standard_normal((n, d))
        b = a + 0.8 * rng.standard_normal((n, d))
        an = a / np.linalg.norm(a, axis=1, keepdims=True)
        bn = b / np.linalg.norm(b, axis=1, keepdims=True)
        logits = np.exp(t) * an @ bn.T
        ar = np.arange(n)
        loss = 0.5 * (ce_rows(logits, ar).mean() + ce_rows(logits.T, ar).mean())
        nce.append({"name": name, "a": f64list(a), "b": f64list(b), "logit_scale": float(t),
                    "loss": float(loss)})
    out["info_nce"] = nce

    wps = []
    for name, n, m, t, bias in [("siglip_init", 6, 6, 10.0, -10.0), ("rect", 7, 5, 3.0, 0.5)]:
        sim = rng.uniform(-1, 1, (n, m))
        z = -np.ones((n, m))
        z[np.arange(min(n, m)), np.arange(min(n, m))] = 1.0
        w = rng.uniform(0, 2, (n, m))
        w[0, 1] = 0.0
        loss = -np.sum(w * log_expit(z * (t * sim + bias))) / n
        wps.append({"name": name, "sim": f64list(sim), "z": f64list(z), "w": f64list(w),
                    "t": t, "b": bias, "loss": float(loss)})
    out["weighted_pairwise_sigmoid"] = wps

    am, aam = [], []
    for name, n, c, s, m in [("s30_m0.4", 8, 10, 30.0, 0.4), ("s10_m0.2", 6, 5, 10.0, 0.2)]:
        cos = rng.uniform(-0.95, 0.95, (n, c))
        labels = rng.integers(0, c, n)
        onehot = np.eye(c)[labels]
        am.append({"name": name, "cos": f64list(cos), "labels": labels.tolist(), "s": s, "m": m,
                   "loss": float(ce_rows(s * (cos - m * onehot), labels).mean())})
    for name, n, c, s, m in [("s30_m0.2", 8, 10, 30.0, 0.2), ("s30_m0.2_edges", 6, 5, 30.0, 0.2)]:
        cos = rng.uniform(-0.95, 0.95, (n, c))
        labels = rng.integers(0, c, n)
        if name.endswith("edges"):
            cos[0, labels[0]] = 1.0  # clipped to 1 - 1e-7
            cos[1, labels[1]] = -1.0  # clipped to -1 + 1e-7; theta + m > pi (no easy margin)
        onehot = np.eye(c)[labels]
        theta = np.arccos(np.clip(cos, -1 + 1e-7, 1 - 1e-7))
        logits = s * np.cos(theta + m * onehot)
        aam.append({"name": name, "cos": f64list(cos), "labels": labels.tolist(), "s": s, "m": m,
                    "loss": float(ce_rows(logits, labels).mean())})
    out["am_softmax"] = am
    out["aam_softmax"] = aam

    bt = []
    for name, n, beta in [("beta1", 8, 1.0), ("beta0.1", 6, 0.1)]:
        rc = rng.standard_normal(n) * 2
        rr = rng.standard_normal(n) * 2
        bt.append({"name": name, "r_chosen": f64list(rc), "r_rejected": f64list(rr), "beta": beta,
                   "loss": float(-np.mean(log_expit(beta * (rc - rr))))})
    out["bradley_terry"] = bt
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    recall, diag = recall_cases()
    metrics = {"meta": META, "accuracy": accuracy_cases(), "ranking": ranking_cases(),
               "ranking_batch": ranking_batch_cases(), "verification": verification_cases(),
               "recall_at_k": recall, "recall_diagonal": diag,
               "correlation": correlation_cases(), "angular": angular_cases()}
    losses = loss_cases()
    for name, obj in [("metrics.json", metrics), ("losses.json", losses)]:
        path = OUT / name
        path.write_text(json.dumps(obj, separators=(",", ":")) + "\n")
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
