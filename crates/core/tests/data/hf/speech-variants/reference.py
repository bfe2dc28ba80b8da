"""NumPy re-implementation of transformers' Wav2Vec2/Hubert/WavLM *Model forward (eval),
written from modeling_wav2vec2.py / modeling_wavlm.py, float64 inside."""
import json, math, struct, sys
import numpy as np

def load_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]
        assert v["dtype"] == "F32"
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4").reshape(v["shape"]).astype(np.float64)
    return out

def save_st(path, tensors):
    header = {}; off = 0; blobs = []
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k], dtype="<f4"); by = a.tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(by)]}
        off += len(by); blobs.append(by)
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb))); f.write(hb); [f.write(x) for x in blobs]

_erf = np.vectorize(math.erf)
def gelu(x): return 0.5 * x * (1 + _erf(x / math.sqrt(2)))

def conv1d(x, w, b, stride=1, pad=0, groups=1):
    B, C, T = x.shape; O, I, K = w.shape
    if pad: x = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    T = x.shape[2]; To = (T - K) // stride + 1
    out = np.zeros((B, O, To))
    og = O // groups
    for g in range(groups):
        xs = x[:, g * I:(g + 1) * I]; ws = w[g * og:(g + 1) * og]
        for k in range(K):
            seg = xs[:, :, k:k + stride * (To - 1) + 1:stride]  # B, I, To
            out[:, g * og:(g + 1) * og] += np.einsum("oi,bit->bot", ws[:, :, k], seg)
    if b is not None: out += b[None, :, None]
    return out

def ln(x, w, b, eps):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b

def lin(W, p, x): return x @ W[p + ".weight"].T + W[p + ".bias"]

def bucket(rel, nb, maxd):
    nb //= 2; out = (rel > 0).astype(np.int64) * nb; a = np.abs(rel); me = nb // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        large = np.log(a.astype(np.float32) / np.float32(me)).astype(np.float32)
        large = (large / np.float32(math.log(maxd / me))) * np.float32(nb - me)
        large = np.minimum((np.float32(me) + large).astype(np.int64), nb - 1)
    return out + np.where(a < me, a, large)

def forward(cfg, W, x):
    mt = cfg["model_type"]
    pre = next(p for p in [mt + ".", ""] if p + "feature_projection.projection.weight" in W)
    act = gelu
    h = x[:, None, :]
    norm = cfg.get("feat_extract_norm", "group")
    for l, (c, k, s) in enumerate(zip(cfg["conv_dim"], cfg["conv_kernel"], cfg["conv_stride"])):
        p = f"{pre}feature_extractor.conv_layers.{l}"
        h = conv1d(h, W[p + ".conv.weight"], W.get(p + ".conv.bias") if cfg.get("conv_bias") else None, s)
        if norm == "group" and l == 0:
            m = h.mean(2, keepdims=True); v = ((h - m) ** 2).mean(2, keepdims=True)
            h = (h - m) / np.sqrt(v + 1e-5) * W[p + ".layer_norm.weight"][None, :, None] + W[p + ".layer_norm.bias"][None, :, None]
        elif norm == "layer":
            h = ln(h.transpose(0, 2, 1), W[p + ".layer_norm.weight"], W[p + ".layer_norm.bias"], 1e-5).transpose(0, 2, 1)
        h = act(h)
    f = h.transpose(0, 2, 1)
    eps = cfg.get("layer_norm_eps", 1e-5)
    if mt != "hubert" or cfg.get("feat_proj_layer_norm", True):
        f = ln(f, W[pre + "feature_projection.layer_norm.weight"], W[pre + "feature_projection.layer_norm.bias"], eps)
    out = {"extract_features": f}
    hs = lin(W, pre + "feature_projection.projection", f)
    # pos conv
    pc = pre + "encoder.pos_conv_embed.conv"
    g = W[pc + ".parametrizations.weight.original0"]; v = W[pc + ".parametrizations.weight.original1"]
    wgt = g * v / np.sqrt((v ** 2).sum(axis=(0, 1), keepdims=True))
    K = cfg["num_conv_pos_embeddings"]
    pe = conv1d(hs.transpose(0, 2, 1), wgt, W[pc + ".bias"], 1, K // 2, cfg["num_conv_pos_embedding_groups"])
    if K % 2 == 0: pe = pe[:, :, :-1]
    hs = hs + act(pe).transpose(0, 2, 1)
    stable = cfg.get("do_stable_layer_norm", False)
    if not stable:
        hs = ln(hs, W[pre + "encoder.layer_norm.weight"], W[pre + "encoder.layer_norm.bias"], eps)
    B, T, D = hs.shape; H = cfg["num_attention_heads"]; dh = D // H
    pos_bias = None
    if mt == "wavlm":
        rel = np.arange(T)[None, :] - np.arange(T)[:, None]
        bk = bucket(rel, cfg["num_buckets"], cfg["max_bucket_distance"])
        pos_bias = W[pre + "encoder.layers.0.attention.rel_attn_embed.weight"][bk].transpose(2, 0, 1)  # H T T
    all_h = []
    for i in range(cfg["num_hidden_layers"]):
        all_h.append(hs)
        p = f"{pre}encoder.layers.{i}"
        a_in = ln(hs, W[p + ".layer_norm.weight"], W[p + ".layer_norm.bias"], eps) if stable else hs
        q = lin(W, p + ".attention.q_proj", a_in).reshape(B, T, H, dh).transpose(0, 2, 1, 3) * dh ** -0.5
        kk = lin(W, p + ".attention.k_proj", a_in).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        vv = lin(W, p + ".attention.v_proj", a_in).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        sc = q @ kk.transpose(0, 1, 3, 2)
        if pos_bias is not None:
            gh = a_in.reshape(B, T, H, dh).transpose(0, 2, 1, 3)
            r = lin(W, p + ".attention.gru_rel_pos_linear", gh).reshape(B, H, T, 2, 4).sum(-1)
            r = 1 / (1 + np.exp(-r)); ga, gb = r[..., 0:1], r[..., 1:2]
            gate = ga * (gb * W[p + ".attention.gru_rel_pos_const"] - 1.0) + 2.0
            sc = sc + gate * pos_bias[None]
        sc = sc - sc.max(-1, keepdims=True); pr = np.exp(sc); pr /= pr.sum(-1, keepdims=True)
        ctx = (pr @ vv).transpose(0, 2, 1, 3).reshape(B, T, D)
        a = hs + lin(W, p + ".attention.out_proj", ctx)
        ff = lambda z: lin(W, p + ".feed_forward.output_dense", gelu(lin(W, p + ".feed_forward.intermediate_dense", z)))
        if stable:
            hs = a + ff(ln(a, W[p + ".final_layer_norm.weight"], W[p + ".final_layer_norm.bias"], eps))
        else:
            a = ln(a, W[p + ".layer_norm.weight"], W[p + ".layer_norm.bias"], eps)
            hs = ln(a + ff(a), W[p + ".final_layer_norm.weight"], W[p + ".final_layer_norm.bias"], eps)
    if stable:
        hs = ln(hs, W[pre + "encoder.layer_norm.weight"], W[pre + "encoder.layer_norm.bias"], eps)
    all_h.append(hs)
    for i, t in enumerate(all_h): out[f"hidden_states.{i}"] = t
    out["last_hidden_state"] = hs
    return out

if __name__ == "__main__":
    for d in sys.argv[1:]:
        cfg = json.load(open(d + "/config.json")); W = load_st(d + "/model.safetensors"); io = load_st(d + "/io.safetensors")
        out = forward(cfg, W, io["input_values"])
        print(d, {k: float(np.abs(out[k] - io[k]).max()) for k in io if k != "input_values"})
