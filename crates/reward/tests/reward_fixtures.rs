//! DPO losses, their gradients, implicit rewards, the explicit reward head with its
//! Bradley-Terry loss, and accuracy with ties against JAX (`scripts/gen_reward_fixtures.py`,
//! float64; committed as `tests/data/reward_fixtures.json`).

use burn::module::Param;
use burn::nn::LinearConfig;
use burn::prelude::*;
use ember_reward::{
    DpoConfig, DpoKind, PairLogProbs, Ties, dpo_loss, implicit_rewards, preference_accuracy,
};
use serde_json::Value;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/reward_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(ours: f64, want: f64, what: &str) {
    let tol = 1e-5 * want.abs().max(1.0);
    assert!(
        (ours - want).abs() <= tol,
        "{what}: ours {ours}, JAX {want}"
    );
}

fn t1(v: &[f64], device: &Device) -> Tensor<1> {
    let f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(f, [v.len()]), device)
}

#[test]
fn dpo_losses_and_gradients_match_jax() {
    let device = ember_core::backend::device_by_name("flex")
        .unwrap()
        .autodiff();
    let fx = fixture();
    let cases = fx["dpo"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for (i, c) in cases.iter().enumerate() {
        let cfg = DpoConfig {
            beta: c["beta"].as_f64().unwrap(),
            kind: match c["kind"].as_str().unwrap() {
                "sigmoid" => DpoKind::Sigmoid,
                _ => DpoKind::Ipo,
            },
            label_smoothing: c["label_smoothing"].as_f64().unwrap(),
        };
        let pc = t1(&floats(&c["policy_chosen"]), &device).require_grad();
        let pr = t1(&floats(&c["policy_rejected"]), &device).require_grad();
        let loss = dpo_loss(
            PairLogProbs {
                policy_chosen: pc.clone(),
                policy_rejected: pr.clone(),
                ref_chosen: t1(&floats(&c["ref_chosen"]), &device),
                ref_rejected: t1(&floats(&c["ref_rejected"]), &device),
            },
            &cfg,
        )
        .unwrap();
        close(
            loss.clone().into_scalar::<f64>(),
            c["loss"].as_f64().unwrap(),
            &format!("case {i} loss"),
        );
        let grads = loss.backward();
        for (name, t, key) in [
            ("chosen", &pc, "grad_policy_chosen"),
            ("rejected", &pr, "grad_policy_rejected"),
        ] {
            let g = t
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for (j, (&a, b)) in g.iter().zip(floats(&c[key])).enumerate() {
                close(a as f64, b, &format!("case {i} d loss / d {name}[{j}]"));
            }
        }
        let pcv = floats(&c["policy_chosen"]);
        let rcv = floats(&c["ref_chosen"]);
        for (a, b) in implicit_rewards(&pcv, &rcv, cfg.beta)
            .unwrap()
            .iter()
            .zip(floats(&c["implicit_chosen"]))
        {
            close(*a, b, &format!("case {i} implicit reward"));
        }
        let prv = floats(&c["policy_rejected"]);
        let rrv = floats(&c["ref_rejected"]);
        for (a, b) in implicit_rewards(&prv, &rrv, cfg.beta)
            .unwrap()
            .iter()
            .zip(floats(&c["implicit_rejected"]))
        {
            close(*a, b, &format!("case {i} implicit reward (rejected)"));
        }
    }
}

#[test]
fn explicit_head_and_bradley_terry_match_jax() {
    let device = ember_core::backend::device_by_name("flex")
        .unwrap()
        .autodiff();
    let e = &fixture()["explicit"];
    let shape: Vec<usize> = e["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let [n, t, d] = [shape[0], shape[1], shape[2]];
    let hidden: Vec<f32> = floats(&e["hidden"]).iter().map(|&x| x as f32).collect();
    let h =
        Tensor::<1>::from_data(TensorData::new(hidden, [n * t * d]), &device).reshape([n, t, d]);
    let lengths: Vec<usize> = e["lengths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    // The same pooling the reward model uses: a one-hot mask of each row's last token.
    let mut last = vec![0f32; n * t];
    for (i, &l) in lengths.iter().enumerate() {
        last[i * t + l - 1] = 1.0;
    }
    let last = Tensor::<1>::from_data(TensorData::new(last, [n * t]), &device).reshape([n, t, 1]);
    let mut head = LinearConfig::new(d, 1).init(&device);
    let w: Vec<f32> = floats(&e["weight"]).iter().map(|&x| x as f32).collect();
    head.weight = Param::from_tensor(
        Tensor::<1>::from_data(TensorData::new(w, [d]), &device).reshape([d, 1]),
    );
    head.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![e["bias"].as_f64().unwrap() as f32], [1]),
        &device,
    )));
    let rewards = head
        .forward((h * last).sum_dim(1).reshape([n, d]))
        .reshape([n]);
    let rv = rewards.clone().into_data().try_to_vec::<f32>().unwrap();
    for (i, (&a, b)) in rv.iter().zip(floats(&e["rewards"])).enumerate() {
        close(a as f64, b, &format!("reward {i}"));
    }
    let b = n / 2;
    let loss = ember_core::loss::bradley_terry(
        rewards.clone().narrow(0, 0, b),
        rewards.narrow(0, b, n - b),
        1.0,
    )
    .unwrap();
    close(
        loss.clone().into_scalar::<f64>(),
        e["loss"].as_f64().unwrap(),
        "BT loss",
    );
    let grads = loss.backward();
    let gw = head
        .weight
        .val()
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for (j, (&a, b)) in gw.iter().zip(floats(&e["grad_weight"])).enumerate() {
        close(a as f64, b, &format!("d loss / d w[{j}]"));
    }
}

#[test]
fn accuracy_with_ties_matches_numpy() {
    let a = &fixture()["accuracy"];
    let (c, r) = (floats(&a["chosen"]), floats(&a["rejected"]));
    close(
        preference_accuracy(&c, &r, Ties::Wrong).unwrap(),
        a["strict"].as_f64().unwrap(),
        "strict",
    );
    close(
        preference_accuracy(&c, &r, Ties::Half).unwrap(),
        a["half"].as_f64().unwrap(),
        "half",
    );
}
