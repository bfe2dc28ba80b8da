#!/usr/bin/env python3
"""Regenerate crates/core/tests/fixtures/kmeans.json: scikit-learn's Lloyd k-means from given
initial centroids, the reference for ember_core::cluster::KMeans::fit_from / histogram.

    pip install -r scripts/requirements.txt
    python scripts/gen_cluster_fixtures.py

Schema: {"meta": {...}, "cases": [{"name", "dim", "k", "data": [f32] row-major,
"init": [f32] row-major, "centroids": [f64] (sklearn cluster_centers_), "labels": [int],
"inertia": float, "histogram": [float] (np.bincount(labels, minlength=k) / n)}]}.
Inputs are float32 values (JSON holds them exactly); sklearn runs in float64 on them.
Blobs are well separated and inits are data points, so no cluster goes empty (sklearn would
relocate an empty cluster; ember keeps its centroid).
"""
import json
import pathlib

import numpy as np
import sklearn
from sklearn.cluster import KMeans

SEED = 20261126
rng = np.random.default_rng(SEED)
cases = []


def case(name, data, init):
    data = data.astype(np.float32)
    init = init.astype(np.float32)
    km = KMeans(n_clusters=init.shape[0], init=init.astype(np.float64), n_init=1,
                max_iter=300, tol=0.0, algorithm="lloyd")
    km.fit(data.astype(np.float64))
    labels = km.labels_
    hist = np.bincount(labels, minlength=init.shape[0]) / data.shape[0]
    cases.append({
        "name": name, "dim": int(data.shape[1]), "k": int(init.shape[0]),
        "data": [float(v) for v in data.ravel()],
        "init": [float(v) for v in init.ravel()],
        "centroids": [float(v) for v in km.cluster_centers_.ravel()],
        "labels": [int(v) for v in labels],
        "inertia": float(km.inertia_),
        "histogram": [float(v) for v in hist],
    })


# Gaussian blobs in 2-D, 8-D and 16-D.
for dim, k, n_per in [(2, 3, 40), (8, 5, 30), (16, 4, 25)]:
    centres = rng.normal(0, 6, size=(k, dim))
    data = np.concatenate([c + rng.normal(0, 1.0, size=(n_per, dim)) for c in centres])
    # One random point of each blob as its initial centroid, so no cluster starts empty.
    init = np.stack([data[b * n_per + rng.integers(n_per)] for b in range(k)])
    data = data[rng.permutation(len(data))]
    case(f"blobs_d{dim}_k{k}", data, init)

# Overlapping blobs: Lloyd takes several iterations to settle.
centres = np.array([[0, 0], [2.5, 0], [1.2, 2.0]])
data = np.concatenate([c + rng.normal(0, 1.0, size=(60, 2)) for c in centres])
init = data[:3]
case("overlapping_d2_k3", data, init)

out = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/kmeans.json"
out.write_text(json.dumps({"meta": {"seed": SEED, "numpy": np.__version__,
                                    "sklearn": sklearn.__version__},
                           "cases": cases}, indent=None))
print(f"wrote {out} ({len(cases)} cases)")
