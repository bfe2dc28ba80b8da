#!/usr/bin/env python3
"""Fixtures for ember-spatial-audio's image-source simulator, made with pyroomacoustics.

Writes crates/spatial-audio/tests/fixtures/pra_rir.json: shoebox RIRs (omnidirectional
receiver, per-wall energy absorption, order N, no air absorption, the 10 Hz high-pass
disabled so the raw image-source sum is compared), pyroomacoustics' inverse-Sabine
absorption and max order, and its Schroeder RT60 of one RIR.

    pip install pyroomacoustics==0.10.1 numpy
    python3 scripts/gen_spatial_audio_fixtures.py
"""
import json
import os

import numpy as np
import pyroomacoustics as pra

pra.constants.set("rir_hpf_enable", False)
FS = 16000
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "spatial-audio", "tests", "fixtures")


def rir(dims, absorption, order, src, mic):
    walls = ["west", "east", "south", "north", "floor", "ceiling"]
    mats = {w: pra.Material(float(a)) for w, a in zip(walls, absorption)}
    room = pra.ShoeBox(dims, fs=FS, materials=mats, max_order=order, air_absorption=False)
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    return room.rir[0][0].astype(np.float64)


cases = []
for name, dims, absorption, order, src, mic in [
    ("per_wall_order3", [6.0, 5.0, 3.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 3, [1.3, 2.1, 1.2], [4.2, 3.3, 1.7]),
    ("uniform_order8", [6.0, 5.0, 3.0], [0.35] * 6, 8, [2.0, 1.5, 1.0], [3.5, 3.0, 1.6]),
    ("small_order20", [4.0, 3.0, 2.5], [0.25] * 6, 20, [1.0, 1.0, 1.2], [2.7, 2.1, 1.4]),
]:
    h = rir(dims, absorption, order, src, mic)
    case = {
        "name": name,
        "dims": dims,
        "absorption": absorption,
        "order": order,
        "source": src,
        "mic": mic,
        "rir": [float(f"{v:.7g}") for v in h],
    }
    if name == "small_order20":
        case["rt60_t30"] = float(pra.experimental.measure_rt60(h, fs=FS, decay_db=30))
    cases.append(case)

sabine = []
for dims, rt60 in [([6.0, 5.0, 3.0], 0.5), ([10.0, 8.0, 3.0], 1.0), ([4.0, 3.0, 2.5], 0.3)]:
    a, n = pra.inverse_sabine(rt60, dims)
    sabine.append({"dims": dims, "rt60": rt60, "absorption": float(a), "max_order": int(n)})

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "pra_rir.json"), "w") as f:
    json.dump(
        {
            "generator": f"pyroomacoustics {pra.__version__}, numpy {np.__version__}",
            "fs": FS,
            "c": float(pra.constants.get("c")),
            "frac_delay_length": int(pra.constants.get("frac_delay_length")),
            "cases": cases,
            "inverse_sabine": sabine,
        },
        f,
    )
print("wrote", os.path.join(OUT, "pra_rir.json"))
