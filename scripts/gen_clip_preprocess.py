#!/usr/bin/env python3
"""Reference for ember's CLIP image preprocessing (crates/core/tests/data/hf/clip/preprocess).

Writes a few small test images (PNG) and what transformers' `CLIPImageProcessor` (the slow,
PIL-based one) makes of them, re-implemented step by step with PIL + NumPy exactly as
`transformers.image_transforms` does it (transformers itself is not installable here):

  convert("RGB") -> resize shortest edge to `size` (PIL BICUBIC, new long side =
  int(size * long / short)) -> centre crop (top = (h - ch) // 2) -> float64 * rescale_factor
  -> float32 -> (x - mean) / std in float32 -> channels first.

Usage: python3 scripts/gen_clip_preprocess.py [OUT_DIR]   (needs pillow, numpy)
"""
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "crates/core/tests/data/hf/clip/preprocess")
SIZE, CROP = 24, (24, 24)
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64].astype(np.float64)
    smooth = np.stack([
        127 + 120 * np.sin(xx / 9.0), 127 + 120 * np.cos(yy / 7.0),
        (xx + yy) * 2.0], axis=-1)
    edges = np.zeros((50, 70, 3), np.uint8)
    edges[10:30, 20:45] = [255, 0, 40]
    edges[::7, :] = [0, 255, 255]
    return {
        "noise_40x31": Image.fromarray(rng.integers(0, 256, (31, 40, 3), dtype=np.uint8)),
        "smooth_64x48": Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8)),
        "edges_70x50": Image.fromarray(edges),
        "gray_30x50": Image.fromarray(rng.integers(0, 256, (50, 30), dtype=np.uint8), "L"),
        "rgba_36x36": Image.fromarray(rng.integers(0, 256, (36, 36, 4), dtype=np.uint8), "RGBA"),
        "small_16x20": Image.fromarray(rng.integers(0, 256, (20, 16, 3), dtype=np.uint8)),
    }


def preprocess(img):
    img = img.convert("RGB")
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = SIZE, int(SIZE * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    img = img.resize((nw, nh), resample=Image.BICUBIC, reducing_gap=None)
    a = np.asarray(img)
    ch, cw = CROP
    top, left = (nh - ch) // 2, (nw - cw) // 2
    a = a[top:top + ch, left:left + cw]
    x = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        b = np.ascontiguousarray(tensors[name], "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    out = {}
    for name, img in images().items():
        img.save(os.path.join(OUT, f"{name}.png"))
        # Re-read the PNG, as the Rust side does.
        out[name] = preprocess(Image.open(os.path.join(OUT, f"{name}.png")))
    write_safetensors(os.path.join(OUT, "expected.safetensors"), out)
    with open(os.path.join(OUT, "preprocessor_config.json"), "w") as f:
        json.dump({
            "image_processor_type": "CLIPImageProcessor", "do_resize": True,
            "size": {"shortest_edge": SIZE}, "resample": 3, "do_center_crop": True,
            "crop_size": {"height": CROP[0], "width": CROP[1]}, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": MEAN,
            "image_std": STD, "do_convert_rgb": True}, f, indent=2)
        f.write("\n")
    print("wrote", sorted(out), "to", OUT)


if __name__ == "__main__":
    main()
