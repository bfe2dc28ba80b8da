#!/usr/bin/env python3
"""JAX (CPU, jit) peer of ember-reward's `dpo_step` bench: one DPO step, i.e. the policy's
forward and backward (jax.value_and_grad over every parameter) on 32 pairs = 64 sequences of
19 tokens, with cached reference log-probabilities, and the same step recomputing them with
a reference forward pass (stop_gradient). The model matches ember's Transformer at the
bench's size: pre-LN blocks, learned positions, 4 heads, GELU (erf) MLP 4x, tied embeddings,
vocabulary 98, width 64, 2 layers.

    pip install jax numpy
    python3 scripts/bench_dpo_jax.py [--rounds 5 --iters 20]

Prints the median step time and tokens/s of each variant. Run it beside
`cargo bench --features ndarray --bench dpo_step` (docs/perf.md). CI never runs it.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

B, PROMPT, RESPONSE, V, D, L, H = 32, 4, 15, 98, 64, 2, 4
T = PROMPT + RESPONSE


def init(key):
    ks = iter(jax.random.split(key, 4 + 8 * L))
    n = lambda shape: 0.02 * jax.random.normal(next(ks), shape)  # noqa: E731
    p = {"tok": n((V, D)), "pos": n((T, D)), "lnf": (jnp.ones(D), jnp.zeros(D)), "layers": []}
    for _ in range(L):
        p["layers"].append(
            {
                "ln1": (jnp.ones(D), jnp.zeros(D)),
                "q": (n((D, D)), jnp.zeros(D)),
                "k": (n((D, D)), jnp.zeros(D)),
                "v": (n((D, D)), jnp.zeros(D)),
                "o": (n((D, D)), jnp.zeros(D)),
                "ln2": (jnp.ones(D), jnp.zeros(D)),
                "up": (n((D, 4 * D)), jnp.zeros(4 * D)),
                "down": (n((4 * D, D)), jnp.zeros(D)),
            }
        )
    return p


def ln(x, g):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / jnp.sqrt(v + 1e-5) * g[0] + g[1]


def lin(x, w):
    return x @ w[0] + w[1]


def logits(p, ids):
    n, t = ids.shape
    x = p["tok"][ids] + p["pos"][:t]
    mask = jnp.tril(jnp.ones((t, t), bool))
    for layer in p["layers"]:
        h = ln(x, layer["ln1"])
        q, k, v = (lin(h, layer[w]).reshape(n, t, H, D // H).transpose(0, 2, 1, 3) for w in "qkv")
        s = jnp.where(mask, q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(D // H), -jnp.inf)
        a = (jax.nn.softmax(s, -1) @ v).transpose(0, 2, 1, 3).reshape(n, t, D)
        x = x + lin(a, layer["o"])
        x = x + lin(jax.nn.gelu(lin(ln(x, layer["ln2"]), layer["up"]), approximate=False), layer["down"])
    return ln(x, p["lnf"]) @ p["tok"].T


def response_logps(p, ids, resp):
    lp = jax.nn.log_softmax(logits(p, ids[:, :-1]), -1)
    tok = jnp.take_along_axis(lp, ids[:, 1:, None], -1)[..., 0]
    return (tok * resp[:, 1:]).sum(-1)


def dpo(pc, pr, rc, rr, beta=0.1):
    return -jax.nn.log_sigmoid(beta * ((pc - rc) - (pr - rr))).mean()


def cached_loss(p, ids, resp, rc, rr):
    lp = response_logps(p, ids, resp)
    return dpo(lp[:B], lp[B:], rc, rr)


def recomputed_loss(p, ref, ids, resp):
    lp = response_logps(p, ids, resp)
    r = jax.lax.stop_gradient(response_logps(ref, ids, resp))
    return dpo(lp[:B], lp[B:], r[:B], r[B:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ids = jnp.array(rng.integers(4, V, size=(2 * B, T)), dtype=jnp.int32)
    resp = jnp.array(np.tile(np.arange(T) >= PROMPT, (2 * B, 1)), dtype=jnp.float32)
    p = init(jax.random.PRNGKey(0))
    ref = jax.tree_util.tree_map(lambda x: x + 0.0, p)
    r = response_logps(ref, ids, resp)
    rc, rr = r[:B], r[B:]
    step_cached = jax.jit(jax.value_and_grad(cached_loss))
    step_recomputed = jax.jit(jax.value_and_grad(recomputed_loss))
    runs = {
        "cached_reference": lambda: step_cached(p, ids, resp, rc, rr),
        "recomputed_reference": lambda: step_recomputed(p, ref, ids, resp),
    }
    tokens = 2 * B * T
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; {tokens} tokens per step")
    for name, f in runs.items():
        jax.block_until_ready(f())  # compile
        medians = []
        for _ in range(args.rounds):
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                jax.block_until_ready(f())
                times.append(time.perf_counter() - t0)
            medians.append(float(np.median(times)))
        m = float(np.median(medians))
        print(
            f"{name}: median {m * 1e3:.2f} ms ({tokens / m:,.0f} tokens/s); rounds "
            + ", ".join(f"{x * 1e3:.2f}" for x in medians)
        )


if __name__ == "__main__":
    main()
