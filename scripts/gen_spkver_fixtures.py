#!/usr/bin/env python3
"""Fixtures for crates/spkver: a NumPy-only log-mel filterbank reference.

Independent of the Rust code: framing with np.lib.stride_tricks, periodic Hann window,
np.fft.rfft power spectrum, HTK mel scale mel(f) = 2595*log10(1 + f/700), triangular
filters with peak 1 on the FFT bin frequencies k*sr/n_fft (librosa.filters.mel(htk=True,
norm=None) semantics), natural log with a floor.

Run: python scripts/gen_spkver_fixtures.py  (writes crates/spkver/tests/fixtures/fbank.json)
"""
import json
import os

import numpy as np


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filters(sr, n_fft, n_mels, fmin, fmax):
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    pts = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    return fb


def log_mel(x, sr, n_fft, hop, n_mels, fmin, fmax, floor):
    n_frames = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, n_fft), strides=(x.strides[0] * hop, x.strides[0])
    )
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    spec = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2
    fb = mel_filters(sr, n_fft, n_mels, fmin, fmax)
    return np.log(np.maximum(spec @ fb.T, floor)), fb


def main():
    rng = np.random.RandomState(0)
    cases = []
    for sr, n_fft, hop, n_mels, fmin, fmax, n in [
        (16000, 512, 160, 40, 20.0, 7600.0, 4000),
        (8000, 256, 80, 23, 0.0, 4000.0, 2000),
    ]:
        t = np.arange(n) / sr
        x = (
            0.5 * np.sin(2 * np.pi * 220.0 * t)
            + 0.3 * np.sin(2 * np.pi * (300.0 + 1500.0 * t) * t)
            + 0.05 * rng.randn(n)
        ).astype(np.float32)
        feats, fb = log_mel(x.astype(np.float64), sr, n_fft, hop, n_mels, fmin, fmax, 1e-10)
        cases.append(
            {
                "config": {
                    "sample_rate": sr,
                    "n_fft": n_fft,
                    "hop": hop,
                    "n_mels": n_mels,
                    "f_min": fmin,
                    "f_max": fmax,
                    "log_floor": 1e-10,
                },
                "signal": x.tolist(),
                "filters": fb.tolist(),
                "log_mel": feats.tolist(),
            }
        )
    out = os.path.join(os.path.dirname(__file__), "..", "crates", "spkver", "tests", "fixtures", "fbank.json")
    with open(out, "w") as f:
        json.dump({"generator": "scripts/gen_spkver_fixtures.py", "numpy": np.__version__, "cases": cases}, f)
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
