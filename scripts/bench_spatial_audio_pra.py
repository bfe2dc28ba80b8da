#!/usr/bin/env python3
"""pyroomacoustics side of ember-spatial-audio's `rir` bench (crates/spatial-audio/benches/rir.rs).

Times the image-source RIR of a 6 x 5 x 3 m room at 16 kHz, order 8, 4 omnidirectional
receivers (ShoeBox construction + image_source_model + compute_rir; the 10 Hz high-pass
disabled as in our simulator), and an FOA-free "render" baseline: the same room at order 6 with
`simulate` of a 1 s signal at one receiver. Prints medians in ms.

    pip install pyroomacoustics==0.10.1
    python3 scripts/bench_spatial_audio_pra.py
"""
import time

import numpy as np
import pyroomacoustics as pra

pra.constants.set("rir_hpf_enable", False)
MICS = np.array([[3.5, 3.0, 1.6], [3.6, 3.0, 1.6], [3.5, 3.1, 1.6], [3.6, 3.1, 1.6]]).T


def rir_once(order=8, mics=MICS):
    room = pra.ShoeBox([6, 5, 3], fs=16000, materials=pra.Material(0.35), max_order=order, air_absorption=False)
    room.add_source([2.0, 1.5, 1.0])
    room.add_microphone_array(mics)
    room.compute_rir()
    return room


def render_once(x):
    room = pra.ShoeBox([6, 5, 3], fs=16000, materials=pra.Material(0.35), max_order=6, air_absorption=False)
    room.add_source([2.0, 1.5, 1.0], signal=x)
    room.add_microphone(MICS[:, :1])
    room.simulate()
    return room


def median_ms(f, reps):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return 1000 * float(np.median(ts))


x = np.random.default_rng(0).uniform(-1, 1, 16000)
print(f"pyroomacoustics {pra.__version__}")
print(f"ism_order8_4mics_6x5x3_16k: {median_ms(rir_once, 50):.3f} ms (median of 50)")
print(f"render_1s_order6_omni: {median_ms(lambda: render_once(x), 30):.3f} ms (median of 30)")
