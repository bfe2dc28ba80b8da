#!/usr/bin/env python3
"""JAX (CPU, jit) peer of ember-reward's `dpo_step` bench: one DPO step, i.e. the policy's
forward and backward (jax.value_and_grad over every parameter) on 32 pairs = 64 sequences of
19 tokens, with cached reference log-probabilities, and the same step recomputing them with
a reference forward pass (stop_gradient). The model matches ember's Transformer at the
bench's size: pre-LN blocks, learned positions, 4 heads, GELU (erf) MLP 4x, tied embeddings,
vocabulary 98, width 64, 2 layers.

    pip install jax numpy
    python3 scripts/bench_dpo_jax.py [--rounds 5 --iters 20]

Prints the median step time and tokens/s of each variant, and the per-round ratio
cached / recomputed (rounds alternate between the variants). Run it beside
`cargo bench --features ndarray --bench dpo_step` (docs/perf.md). CI never runs it.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jax_transformer

B, PROMPT, RESPONSE, V, D, L, H = 32, 4, 15, 98, 64, 2, 4
T = PROMPT + RESPONSE


def logits(p, ids):
    return jax_transformer.logits(p, ids, H)


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
    p = jax_transformer.init(jax.random.PRNGKey(0), V, D, L, 4 * D, T)
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
    for f in runs.values():
        jax.block_until_ready(f())  # compile
    # Rounds alternate between the variants so that load from other processes falls on both
    # alike; the per-round ratio cached / recomputed is then steadier than either time.
    medians = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, f in runs.items():
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                jax.block_until_ready(f())
                times.append(time.perf_counter() - t0)
            medians[name].append(float(np.median(times)))
    for name, rounds in medians.items():
        m = float(np.median(rounds))
        print(
            f"{name}: median {m * 1e3:.2f} ms ({tokens / m:,.0f} tokens/s); rounds "
            + ", ".join(f"{x * 1e3:.2f}" for x in rounds)
        )
    ratios = [c / r for c, r in zip(medians["cached_reference"], medians["recomputed_reference"])]
    print(
        f"cached / recomputed per round: median {float(np.median(ratios)):.3f}; rounds "
        + ", ".join(f"{x:.3f}" for x in ratios)
    )

if __name__ == "__main__":
    main()
