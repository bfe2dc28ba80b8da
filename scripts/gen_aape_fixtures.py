#!/usr/bin/env python3
"""Reference values for ember-aape's math, computed independently with NumPy.

Writes crates/aape/tests/data/aape_fixtures.json: random inputs and the outputs of
- the attention aggregator (alpha = mean over heads of softmax_m(q.k_m / sqrt(d_k)), masked
  prompts excluded; rho = normalize(sum_m alpha_m e_m), values are the raw prompts),
- the mean aggregator,
- the AAPE classifier: a = W2 relu(W1 normalize(f) + b1) + b2,
  w_c(x) = normalize(g_c + [g_c; a] P), logits = s cos(f, w_c(x)),
- the distillation term mean_b ||a_b - rho_b||^2, the cross-entropy of the logits,
- KgCoOp's penalty 1 - mean_c cos(t_c, h_c),
- the harmonic mean of CoOp's published base/novel (82.69, 63.22) -> 71.66.
Burn's Linear computes x @ W + b with W stored [in, out]; so does this script.

Run: python3 scripts/gen_aape_fixtures.py
"""
import json
import pathlib

import numpy as np

rng = np.random.default_rng(7)
B, M, E, H, DK, HID, C = 3, 5, 8, 2, 4, 3, 4
S = 20.0


def l2n(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


f = rng.normal(size=(B, E)).astype(np.float64)
e = l2n(rng.normal(size=(B, M, E)))
mask = np.ones((B, M))
mask[1, 3:] = 0.0  # image 1's class has only 3 prompts
e[1, 3:] = 0.0
wq = rng.normal(size=(E, H * DK)) * 0.5
wk = rng.normal(size=(E, H * DK)) * 0.5

q = (l2n(f) @ wq).reshape(B, H, DK)
k = (e.reshape(B * M, E) @ wk).reshape(B, M, H, DK).transpose(0, 2, 1, 3)
s = np.einsum("bhd,bhmd->bhm", q, k) / np.sqrt(DK)
s = np.where(mask[:, None, :] > 0, s, -np.inf)
a = np.exp(s - s.max(axis=2, keepdims=True))
a = a / a.sum(axis=2, keepdims=True)
alpha = a.mean(axis=1)
rho = l2n(np.einsum("bm,bme->be", alpha, e))
alpha_mean = mask / mask.sum(axis=1, keepdims=True)
rho_mean = l2n(np.einsum("bm,bme->be", alpha_mean, e))

w1 = rng.normal(size=(E, HID)) * 0.5
b1 = rng.normal(size=(HID,)) * 0.1
w2 = rng.normal(size=(HID, E)) * 0.5
b2 = rng.normal(size=(E,)) * 0.1
p = rng.normal(size=(2 * E, E)) * 0.3
g = l2n(rng.normal(size=(C, E)))
aape = np.maximum(l2n(f) @ w1 + b1, 0.0) @ w2 + b2
w = g[None, :, :] + np.concatenate(
    [np.broadcast_to(g[None], (B, C, E)), np.broadcast_to(aape[:, None], (B, C, E))], axis=2
) @ p
logits = S * np.einsum("be,bce->bc", l2n(f), l2n(w))
labels = np.array([0, 2, 3])
lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
ce = float(np.mean(lse - logits[np.arange(B), labels]))
distill = float(np.mean(np.sum((aape - rho) ** 2, axis=1)))

t = rng.normal(size=(C, E))
h = rng.normal(size=(C, E))
kg = float(1.0 - np.mean(np.sum(l2n(t) * l2n(h), axis=1)))

hm = 2 * 82.69 * 63.22 / (82.69 + 63.22)

out = {
    "dims": {"B": B, "M": M, "E": E, "H": H, "DK": DK, "HID": HID, "C": C, "scale": S},
    "f": f.ravel().tolist(),
    "e": e.ravel().tolist(),
    "mask": mask.ravel().tolist(),
    "wq": wq.ravel().tolist(),
    "wk": wk.ravel().tolist(),
    "alpha": alpha.ravel().tolist(),
    "rho": rho.ravel().tolist(),
    "alpha_mean": alpha_mean.ravel().tolist(),
    "rho_mean": rho_mean.ravel().tolist(),
    "w1": w1.ravel().tolist(),
    "b1": b1.tolist(),
    "w2": w2.ravel().tolist(),
    "b2": b2.tolist(),
    "p": p.ravel().tolist(),
    "g": g.ravel().tolist(),
    "aape": aape.ravel().tolist(),
    "logits": logits.ravel().tolist(),
    "labels": labels.tolist(),
    "ce": ce,
    "distill": distill,
    "kg_t": t.ravel().tolist(),
    "kg_h": h.ravel().tolist(),
    "kg": kg,
    "coop_hm": hm,
}
path = pathlib.Path(__file__).resolve().parent.parent / "crates/aape/tests/data/aape_fixtures.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {path}; CoOp HM {hm:.4f}")
