"""ember-core's Transformer written in JAX, the peer model of the JAX benches
(`bench_train_step_jax.py`, `bench_dpo_jax.py`): pre-LN blocks with biases, learned
positions, causal softmax attention, an erf-GELU MLP, a final LayerNorm (eps 1e-5) and logits
tied to the token embedding, exactly the layout of `ember_core::nn::Transformer`.
"""

import jax
import jax.numpy as jnp


def init(key, vocab, d_model, n_layers, d_ff, max_len):
    """Parameters initialised like ember's (normal, std 0.02; LayerNorm 1 and 0)."""
    ks = iter(jax.random.split(key, 4 + 8 * n_layers))
    n = lambda shape: 0.02 * jax.random.normal(next(ks), shape)  # noqa: E731
    d = d_model
    p = {"tok": n((vocab, d)), "pos": n((max_len, d)), "lnf": (jnp.ones(d), jnp.zeros(d)), "layers": []}
    for _ in range(n_layers):
        p["layers"].append(
            {
                "ln1": (jnp.ones(d), jnp.zeros(d)),
                "q": (n((d, d)), jnp.zeros(d)),
                "k": (n((d, d)), jnp.zeros(d)),
                "v": (n((d, d)), jnp.zeros(d)),
                "o": (n((d, d)), jnp.zeros(d)),
                "ln2": (jnp.ones(d), jnp.zeros(d)),
                "up": (n((d, d_ff)), jnp.zeros(d_ff)),
                "down": (n((d_ff, d)), jnp.zeros(d)),
            }
        )
    return p


def ln(x, g):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / jnp.sqrt(v + 1e-5) * g[0] + g[1]


def lin(x, w):
    return x @ w[0] + w[1]


def logits(p, ids, n_heads):
    """Logits `[B, T, vocab]` of token ids `[B, T]` under a causal mask."""
    n, t = ids.shape
    d = p["tok"].shape[1]
    x = p["tok"][ids] + p["pos"][:t]
    mask = jnp.tril(jnp.ones((t, t), bool))
    for layer in p["layers"]:
        h = ln(x, layer["ln1"])
        q, k, v = (
            lin(h, layer[w]).reshape(n, t, n_heads, d // n_heads).transpose(0, 2, 1, 3) for w in "qkv"
        )
        s = jnp.where(mask, q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(d // n_heads), -jnp.inf)
        a = (jax.nn.softmax(s, -1) @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
        x = x + lin(a, layer["o"])
        x = x + lin(jax.nn.gelu(lin(ln(x, layer["ln2"]), layer["up"]), approximate=False), layer["down"])
    return ln(x, p["lnf"]) @ p["tok"].T
