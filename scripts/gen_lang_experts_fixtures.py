#!/usr/bin/env python3
"""Reference values for ember-lang-experts' expertise and concept metrics.

Writes crates/lang-experts/tests/data/lang_experts_fixtures.json. CI never runs this script:
the JSON is committed. Regenerate with

    pip install -r scripts/requirements.txt
    python3 scripts/gen_lang_experts_fixtures.py

Covers: per-unit AP / AUROC with many ties (sklearn average_precision_score / roc_auc_score,
one call per unit, as ml-selfcond and ml-aura do), the positive median / mean and negative
mean (NumPy), the adjusted Rand index (sklearn adjusted_rand_score), average-linkage
clusters (scipy linkage(method="average") + fcluster(maxclust)), Spearman with ties
(scipy.stats.spearmanr) and the Spearman-Brown split-half formula.
"""

import json
import os

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score, average_precision_score, roc_auc_score

rng = np.random.default_rng(16)
out = {}

# Expertise blocks: units x sentences, pooled responses with ties (rounded), shared labels.
blocks = []
for units, n, prev in [(7, 40, 0.25), (5, 23, 0.5), (9, 64, 0.1)]:
    labels = rng.random(n) < prev
    labels[0], labels[1] = True, False
    scores = np.round(rng.normal(size=(units, n)) + 0.8 * labels * (np.arange(units)[:, None] % 3), 1)
    scores = scores.astype(np.float32)
    scores[0, :] = 0.5  # all tied
    blocks.append(
        {
            "units": units,
            "n": n,
            "labels": labels.tolist(),
            "scores": scores.ravel().tolist(),
            "ap": [float(average_precision_score(labels, r)) for r in scores],
            "auroc": [float(roc_auc_score(labels, r)) for r in scores],
            "pos_median": [float(np.median(r[labels])) for r in scores],
            "pos_mean": [float(np.mean(r[labels].astype(np.float64))) for r in scores],
            "neg_mean": [float(np.mean(r[~labels].astype(np.float64))) for r in scores],
        }
    )
out["blocks"] = blocks

# Adjusted Rand index.
ari = []
for n, ka, kb in [(30, 3, 4), (12, 2, 2), (50, 5, 5)]:
    a = rng.integers(0, ka, n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, kb, n))
    ari.append({"a": a.tolist(), "b": b.tolist(), "ari": float(adjusted_rand_score(a, b))})
out["ari"] = ari

# Average linkage: points in clusters, distances 1 - cosine-like, cut into k clusters.
link = []
for n, k in [(12, 3), (20, 4)]:
    centers = rng.normal(size=(k, 3)) * 3
    pts = centers[np.arange(n) % k] + rng.normal(size=(n, 3))
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    z = linkage(squareform(d, checks=False), method="average")
    labels = fcluster(z, k, criterion="maxclust")
    link.append({"n": n, "k": k, "dist": d.ravel().tolist(), "labels": (labels - 1).tolist()})
out["linkage"] = link

# Spearman with ties.
x = np.round(rng.normal(size=40), 1)
y = np.round(x + rng.normal(size=40), 0)
out["spearman"] = {"x": x.tolist(), "y": y.tolist(), "rho": float(spearmanr(x, y).statistic)}

path = os.path.join(os.path.dirname(__file__), "..", "crates", "lang-experts", "tests", "data",
                    "lang_experts_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
