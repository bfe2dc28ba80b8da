"""Variants of the wav2vec2 / WavLM / HuBERT fixtures for the configurations the
transformers-made fixtures do not cover, with outputs from reference.py (a NumPy
re-implementation of transformers' *Model forward; run `python3 reference.py ../wav2vec2
../hubert ../wavlm` to see it match the transformers outputs there, ≤ 3e-6).

  wav2vec2-stable: feat_extract_norm "layer", conv_bias, do_stable_layer_norm (large-lv60 style)
  wavlm-stable:    the same for WavLM, saved as a task-head checkpoint (`wavlm.` prefix, an
                   extra `lm_head`) to cover the prefix and the pass-through of unused tensors
  hubert-noproj:   HuBERT with feat_proj_layer_norm false, positional conv stored under the
                   old weight_g / weight_v names

Run from this folder: python3 make.py (NumPy only; seeded, deterministic)."""
import json, os
import numpy as np
from reference import load_st, save_st, forward

rng = np.random.default_rng(13)

def make(name, src, edit_cfg, edit_w, prefix=""):
    cfg = json.load(open(f"../{src}/config.json"))
    W = load_st(f"../{src}/model.safetensors")
    edit_cfg(cfg); edit_w(cfg, W)
    x = load_st(f"../{src}/io.safetensors")["input_values"][:1, :800]
    Wf = {k: v.astype(np.float32).astype(np.float64) for k, v in W.items()}
    if "encoder.pos_conv_embed.conv.weight_g" in Wf:  # reference.py reads the new names
        Wf["encoder.pos_conv_embed.conv.parametrizations.weight.original0"] = Wf["encoder.pos_conv_embed.conv.weight_g"]
        Wf["encoder.pos_conv_embed.conv.parametrizations.weight.original1"] = Wf["encoder.pos_conv_embed.conv.weight_v"]
    out = forward(cfg, Wf, x)
    if src == "hubert":
        out.pop("extract_features")
    os.makedirs(name, exist_ok=True)
    json.dump(cfg, open(f"{name}/config.json", "w"), indent=2)
    save_st(f"{name}/model.safetensors", {prefix + k if not k.startswith("lm_head") else k: v for k, v in W.items()})
    save_st(f"{name}/io.safetensors", {"input_values": x, **out})

def stable(cfg):
    cfg.update(feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True)

def layer_norm_convs(cfg, W):
    for l, c in enumerate(cfg["conv_dim"]):
        p = f"feature_extractor.conv_layers.{l}"
        W[f"{p}.conv.bias"] = rng.normal(0, 0.1, c)
        W[f"{p}.layer_norm.weight"] = 1 + rng.normal(0, 0.1, c)
        W[f"{p}.layer_norm.bias"] = rng.normal(0, 0.1, c)

def with_head(cfg, W):
    layer_norm_convs(cfg, W)
    W["lm_head.weight"] = rng.normal(0, 0.1, (cfg["vocab_size"], cfg["hidden_size"]))
    W["lm_head.bias"] = np.zeros(cfg["vocab_size"])

def old_names_no_proj_norm(cfg, W):
    for s in ["weight", "bias"]:
        del W[f"feature_projection.layer_norm.{s}"]
    p = "encoder.pos_conv_embed.conv"
    W[f"{p}.weight_g"] = W.pop(f"{p}.parametrizations.weight.original0")
    W[f"{p}.weight_v"] = W.pop(f"{p}.parametrizations.weight.original1")

make("wav2vec2-stable", "wav2vec2", stable, layer_norm_convs)
make("wavlm-stable", "wavlm", stable, with_head, prefix="wavlm.")
make("hubert-noproj", "hubert", lambda c: c.update(feat_proj_layer_norm=False), old_names_no_proj_norm)
