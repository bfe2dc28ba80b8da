#!/usr/bin/env python3
"""JAX (CPU, jit) peer of ember-core's `train_step` bench: one training step of the same
Transformer LM (pre-LN, causal, d = 128, 4 layers, 4 heads, d_ff = 512, vocabulary 512,
learned positions, tied embeddings, erf-GELU; `jax_transformer.py`) on a batch of 16 x 64
tokens: forward, mean cross-entropy, backward, global-norm clipping to 1.0 and an AdamW update
(lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01, Burn's decoupled form), all in one
`jax.jit`, with the loss read back to the host every step as ember's Trainer does (its NaN
check). Also the inference forward (logits, no gradient). The token ids are the bench's,
`(i * 7919) % 512`.

    pip install jax numpy
    python3 scripts/bench_train_step_jax.py [--rounds 5 --iters 20] [--ops]

`--ops` also times the step's pieces alone (forward and backward of GELU, causal attention,
LayerNorm, a matmul and the cross-entropy at the step's shapes), the peer of the bench's
"step pieces" group.

Run it in the same shell command as
`cargo bench --workspace --features ndarray,wgpu --bench train_step` (docs/perf.md).
CI never runs it.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jax_transformer

B, T, V, D, L, H, FF = 16, 64, 512, 128, 4, 4, 512
LR, B1, B2, EPS, WD, CLIP = 1e-3, 0.9, 0.999, 1e-8, 0.01, 1.0


def loss_fn(p, ids):
    lp = jax.nn.log_softmax(jax_transformer.logits(p, ids[:, :T], H), -1)
    return -jnp.take_along_axis(lp, ids[:, 1:, None], -1).mean()


@jax.jit
def train_step(p, m, v, step, ids):
    loss, g = jax.value_and_grad(loss_fn)(p, ids)
    norm = jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(g)))
    g = jax.tree_util.tree_map(lambda x: x * jnp.minimum(1.0, CLIP / (norm + 1e-6)), g)
    step = step + 1
    m = jax.tree_util.tree_map(lambda a, b: B1 * a + (1 - B1) * b, m, g)
    v = jax.tree_util.tree_map(lambda a, b: B2 * a + (1 - B2) * b * b, v, g)
    c1, c2 = 1 - B1**step, 1 - B2**step

    def update(w, mi, vi):
        return w * (1 - LR * WD) - LR * (mi / c1) / (jnp.sqrt(vi / c2) + EPS)

    p = jax.tree_util.tree_map(update, p, m, v)
    return p, m, v, step, loss


forward = jax.jit(lambda p, ids: jax_transformer.logits(p, ids, H))


def attention(q, k, v):
    t = q.shape[2]
    s = q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(q.shape[-1])
    s = jnp.where(jnp.tril(jnp.ones((t, t), bool)), s, -jnp.inf)
    return jax.nn.softmax(s, -1) @ v


def pieces():
    """(name, jitted gradient of sum(piece), arguments) at the step's shapes."""
    r = np.random.default_rng(0)
    n = B * T

    def normal(*shape):
        return jnp.array(r.standard_normal(shape), dtype=jnp.float32)

    targets = jnp.array((np.arange(n) * 7919) % V, dtype=jnp.int32)

    def ce(logits):
        lp = jax.nn.log_softmax(logits, -1)
        return -jnp.take_along_axis(lp, targets[:, None], -1).mean()

    def grad(f, g, argnums=0):
        """Gradient of sum(f(...) * g): a dense gradient flows back, as inside the step."""
        return jax.jit(jax.value_and_grad(lambda *a: (f(*a) * g).sum(), argnums))

    g_ff, g_att, g_d = normal(n, FF), normal(B, H, T, 32), normal(n, D)
    ln_params = (jnp.ones(D), jnp.zeros(D))
    return [
        ("gelu [1024, 512]", grad(lambda x: jax.nn.gelu(x, approximate=False), g_ff), (normal(n, FF),)),
        ("causal attention [16, 4, 64, 32]", grad(attention, g_att, (0, 1, 2)), tuple(normal(B, H, T, 32) for _ in range(3))),
        ("layer norm [1024, 128]", grad(jax_transformer.ln, g_d, (0, 1)), (normal(n, D), ln_params)),
        ("matmul [1024, 128] x [128, 512]", grad(lambda x, w: x @ w, g_ff, (0, 1)), (normal(n, D), normal(D, FF))),
        ("cross-entropy [1024, 512]", grad(ce, 1.0), (normal(n, V),)),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--ops", action="store_true", help="also time the step's pieces")
    args = ap.parse_args()
    ids = jnp.array((np.arange(B * (T + 1)) * 7919) % V, dtype=jnp.int32).reshape(B, T + 1)
    p = jax_transformer.init(jax.random.PRNGKey(0), V, D, L, FF, T)
    state = [p, jax.tree_util.tree_map(jnp.zeros_like, p), jax.tree_util.tree_map(jnp.zeros_like, p), 0]

    def one_step():
        nonlocal state
        *state, loss = train_step(*state, ids)
        return float(loss)  # the per-step host read-back ember's Trainer also does

    runs = {
        "train_step": one_step,
        "forward": lambda: jax.block_until_ready(forward(state[0], ids[:, :T])),
    }
    if args.ops:
        for name, f, a in pieces():
            runs[name] = lambda f=f, a=a: jax.block_until_ready(f(*a))
    tokens = B * T
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; {tokens} tokens per step")
    for name, f in runs.items():
        f()  # compile
        medians = []
        for _ in range(args.rounds):
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                f()
                times.append(time.perf_counter() - t0)
            medians.append(float(np.median(times)))
        med = float(np.median(medians))
        print(
            f"{name}: median {med * 1e3:.2f} ms ({tokens / med:,.0f} tokens/s); rounds "
            + ", ".join(f"{x * 1e3:.2f}" for x in medians)
        )


if __name__ == "__main__":
    main()
