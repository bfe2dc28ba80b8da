#!/usr/bin/env python3
"""Reference values for ember-reward's losses and metrics, computed with JAX (float64).

Writes crates/reward/tests/data/reward_fixtures.json. CI never runs this script: the JSON is
committed. Regenerate with

    pip install jax numpy
    python3 scripts/gen_reward_fixtures.py

Covers: the DPO loss (sigmoid, conservative / label-smoothed, IPO) and its gradient with
respect to the policy log-probabilities (jax.grad), the implicit reward
beta * (log pi - log pi_ref), the Bradley-Terry loss of an explicit reward model with a
scalar head read at each row's last token (hidden states given), and preference accuracy
with both tie conventions.
"""

import json
import os

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

OUT = os.path.join(
    os.path.dirname(__file__), "..", "crates", "reward", "tests", "data", "reward_fixtures.json"
)


def dpo_loss(pc, pr, rc, rr, beta, kind, eps):
    """TRL's DPOTrainer.dpo_loss for loss_type sigmoid (label_smoothing eps) and ipo."""
    h = (pc - rc) - (pr - rr)
    if kind == "sigmoid":
        per = -jax.nn.log_sigmoid(beta * h) * (1 - eps) - jax.nn.log_sigmoid(-beta * h) * eps
    else:
        per = (h - 1 / (2 * beta)) ** 2
    return jnp.mean(per)


def main():
    rng = np.random.default_rng(20261207)
    cases = []
    for b, beta, kind, eps in [
        (7, 0.1, "sigmoid", 0.0),
        (7, 0.5, "sigmoid", 0.0),
        (5, 0.1, "sigmoid", 0.1),
        (6, 0.1, "ipo", 0.0),
        (6, 0.5, "ipo", 0.0),
        (1, 2.0, "sigmoid", 0.25),
    ]:
        # Log-probabilities of 5-20 token responses: sums of negative per-token values.
        pc, pr, rc, rr = (-rng.uniform(2.0, 40.0, size=b) for _ in range(4))
        # Push some pairs far into the saturated region of the sigmoid.
        pc[0] = rc[0] + 300.0 if b > 1 else pc[0]
        loss, (gc, gr) = jax.value_and_grad(dpo_loss, argnums=(0, 1))(
            jnp.array(pc), jnp.array(pr), jnp.array(rc), jnp.array(rr), beta, kind, eps
        )
        cases.append(
            {
                "beta": beta,
                "kind": kind,
                "label_smoothing": eps,
                "policy_chosen": pc.tolist(),
                "policy_rejected": pr.tolist(),
                "ref_chosen": rc.tolist(),
                "ref_rejected": rr.tolist(),
                "loss": float(loss),
                "grad_policy_chosen": np.asarray(gc).tolist(),
                "grad_policy_rejected": np.asarray(gr).tolist(),
                "implicit_chosen": (beta * (pc - rc)).tolist(),
                "implicit_rejected": (beta * (pr - rr)).tolist(),
            }
        )

    # Explicit reward model: rewards = h[i, last_i] . w + b; BT loss on chosen rows 0..B,
    # rejected rows B..2B.
    bsz, t, d = 3, 6, 4
    hidden = rng.normal(size=(2 * bsz, t, d))
    lengths = rng.integers(2, t + 1, size=2 * bsz)
    w = rng.normal(size=d)
    bias = 0.3

    def bt(w, bias):
        last = hidden[np.arange(2 * bsz), lengths - 1]
        r = last @ w + bias
        return -jnp.mean(jax.nn.log_sigmoid(r[:bsz] - r[bsz:])), r

    (bt_loss, rewards), gw = jax.value_and_grad(bt, has_aux=True)(jnp.array(w), bias)
    explicit = {
        "hidden": hidden.reshape(-1).tolist(),
        "shape": [2 * bsz, t, d],
        "lengths": lengths.tolist(),
        "weight": w.tolist(),
        "bias": bias,
        "rewards": np.asarray(rewards).tolist(),
        "loss": float(bt_loss),
        "grad_weight": np.asarray(gw).tolist(),
    }

    # Accuracy with ties (exact equalities on purpose).
    chosen = np.array([1.0, 0.5, 0.5, -2.0, 3.0, 0.0, 0.0, 7.25])
    rejected = np.array([0.0, 0.5, 1.0, -2.0, 2.0, 0.0, -1.0, 7.5])
    acc = {
        "chosen": chosen.tolist(),
        "rejected": rejected.tolist(),
        "strict": float(np.mean(chosen > rejected)),
        "half": float(np.mean((chosen > rejected) + 0.5 * (chosen == rejected))),
    }

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(
            {
                "generator": "scripts/gen_reward_fixtures.py",
                "jax": jax.__version__,
                "numpy": np.__version__,
                "dpo": cases,
                "explicit": explicit,
                "accuracy": acc,
            },
            f,
            indent=1,
        )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
