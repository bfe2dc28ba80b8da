#!/usr/bin/env python3
"""WAV edge cases for crates/spkver, decoded by soundfile (libsndfile) as the reference.

Writes crates/spkver/tests/data/wav_cases/:
  <case>.wav       the file (soundfile writes it where it can, otherwise the RIFF chunks are
                   packed here by hand: 24-bit in a 32-bit extensible container, an odd-length
                   chunk with its pad byte, a long fact chunk, a LIST chunk, an 18-byte fmt)
  <case>.ref.f64   what soundfile.read(dtype="float64") returns, little-endian float64
                   (interleaved for the stereo case), so the Rust test compares exactly
  cases.json       per case: a description, the sample rate and channel count soundfile reports,
                   and `expect`: "ok" (ember must return the reference samples) or
                   "error: <substring>" (ember refuses by design: stereo, wrong rate)

Re-running changes only the timestamp libsndfile writes into the PEAK chunk of float files.
Every hand-packed file is also checked here: soundfile must decode it to the intended samples.
Run: python scripts/gen_wav_cases.py   (pip install soundfile numpy; CI never runs Python)
"""
import json
import os
import struct

import numpy as np
import soundfile as sf

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "spkver", "tests", "data", "wav_cases")
RATE = 16_000
N = 240  # samples per case (a few hundred, so the committed files stay small)

GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def signal(n=N, amp=0.9, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    x = amp * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    return np.clip(x, -1.0, 1.0 - 2.0**-15)


def chunk(cid, body):
    """A RIFF chunk: id, little-endian length, body, and a pad byte when the length is odd."""
    assert len(cid) == 4
    pad = b"\x00" if len(body) % 2 else b""
    return cid + struct.pack("<I", len(body)) + body + pad


def riff(chunks):
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_pcm(tag, channels, rate, bits, cb=None):
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if cb is not None:
        body += struct.pack("<H", cb)
    return chunk(b"fmt ", body)


def fmt_extensible(channels, rate, container_bits, valid_bits, subformat_tag):
    block = channels * container_bits // 8
    body = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * block, block, container_bits)
    body += struct.pack("<HHI", 22, valid_bits, 0x4 if channels == 1 else 0x3)
    body += struct.pack("<H", subformat_tag) + GUID_TAIL
    return chunk(b"fmt ", body)


def int16_bytes(x):
    return np.round(x * 32768).clip(-32768, 32767).astype("<i2").tobytes()


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {}

    def add(name, desc, expect, intended=None, write=None, raw=None):
        path = os.path.join(OUT, name + ".wav")
        if raw is not None:
            with open(path, "wb") as f:
                f.write(raw)
        else:
            write(path)
        ref, rate = sf.read(path, dtype="float64", always_2d=True)
        info = sf.info(path)
        if intended is not None:
            got = ref[:, 0] if ref.shape[1] == 1 else ref.reshape(-1)
            assert np.array_equal(got, intended), f"{name}: soundfile does not decode the intended samples"
        ref.reshape(-1).astype("<f8").tofile(os.path.join(OUT, name + ".ref.f64"))
        cases[name] = {
            "description": desc,
            "rate": int(rate),
            "channels": int(info.channels),
            "frames": int(ref.shape[0]),
            "expect": expect,
        }

    x = signal()
    loud = signal(amp=1.0, seed=1) * 2.5  # floats far outside [-1, 1]
    loud[7] = -3.75
    loud[11] = 1e3

    # soundfile writes these itself; floats hold values outside [-1, 1] (read as stored).
    what = {"PCM_U8": "8-bit unsigned PCM", "PCM_16": "16-bit PCM", "PCM_24": "24-bit PCM in 3 bytes",
            "PCM_32": "32-bit PCM", "FLOAT": "32-bit float outside [-1, 1]",
            "DOUBLE": "64-bit float outside [-1, 1]"}
    for container, subtypes in [("WAV", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]),
                                ("WAVEX", ["PCM_16", "PCM_24", "FLOAT", "DOUBLE"])]:
        for st in subtypes:
            data = loud if st in ("FLOAT", "DOUBLE") else x
            desc = ("WAVE_FORMAT_EXTENSIBLE, " if container == "WAVEX" else "") + what[st]
            add(f"{container.lower()}_{st.lower()}", desc, "ok",
                write=lambda p, d=data, s=st, c=container: sf.write(p, d, RATE, subtype=s, format=c))
    stereo = np.stack([x, -x], axis=1)
    add("stereo", "16-bit stereo: ember refuses (downmix first)", "error: 2 channels",
        write=lambda p: sf.write(p, stereo, RATE, subtype="PCM_16", format="WAV"))
    add("rate_44100", "16-bit mono at 44.1 kHz: ember refuses (resample first)", "error: 44100 Hz",
        write=lambda p: sf.write(p, x, 44_100, subtype="PCM_16", format="WAV"))

    # Hand-packed files.
    q16 = np.round(x * 32768).clip(-32768, 32767).astype(np.int64)
    i24 = np.round(x * 2**23).clip(-(2**23), 2**23 - 1).astype(np.int64)
    body = (i24 << 8).astype("<i4").tobytes()  # 24 valid bits, left-justified in 32
    add("wavex_24_in_32", "WAVE_FORMAT_EXTENSIBLE, 24 valid bits in a 32-bit container", "ok",
        intended=i24 / 2**23, raw=riff([fmt_extensible(1, RATE, 32, 24, 1), chunk(b"data", body)]))
    add("odd_chunk_pad", "an odd-length (3-byte) chunk and its pad byte before the data", "ok",
        intended=q16 / 32768,
        raw=riff([fmt_pcm(1, 1, RATE, 16), chunk(b"abcd", b"xyz"), chunk(b"data", int16_bytes(x))]))
    f32 = loud.astype("<f4")
    fact = chunk(b"fact", struct.pack("<I", N) + b"\x01\x02\x03\x04\x05\x06\x07\x08")
    add("long_fact", "32-bit float with a 12-byte fact chunk (longer than its 4-byte count)", "ok",
        intended=f32.astype(np.float64),
        raw=riff([fmt_pcm(3, 1, RATE, 32, cb=0), fact, chunk(b"data", f32.tobytes())]))
    info = b"INFO" + chunk(b"INAM", b"edge case\x00") + chunk(b"ICMT", b"odd\x00")
    add("list_chunk", "a LIST/INFO chunk before the data and another after it", "ok",
        intended=q16 / 32768,
        raw=riff([fmt_pcm(1, 1, RATE, 16), chunk(b"LIST", info), chunk(b"data", int16_bytes(x)),
                  chunk(b"LIST", info)]))
    add("fmt_18", "PCM with an 18-byte WAVEFORMATEX fmt chunk (cbSize = 0)", "ok",
        intended=q16 / 32768,
        raw=riff([fmt_pcm(1, 1, RATE, 16, cb=0), chunk(b"data", int16_bytes(x))]))
    u8 = (np.round(x[: N - 1] * 128) + 128).clip(0, 255).astype(np.uint8)
    add("odd_data_u8", "8-bit PCM with an odd-length data chunk, its pad byte, then a chunk", "ok",
        intended=(u8.astype(np.float64) - 128) / 128,
        raw=riff([fmt_pcm(1, 1, RATE, 8), chunk(b"data", u8.tobytes()), chunk(b"junk", b"12345")]))

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
