//! flex, ndarray and wgpu (when compiled in) agree on this crate's models and losses: the
//! policy's pair log-probabilities, the DPO loss (sigmoid, conservative, IPO) and its
//! gradient norm, the explicit reward model's rewards and Bradley-Terry loss. Weights move
//! between backends through a burnpack file; tolerance 2e-4 relative + absolute.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Tolerance;
use ember_core::backend::parity_devices;
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::train::global_grad_norm;
use ember_reward::policy::sft_loss;
use ember_reward::{
    DpoConfig, DpoKind, LogProbReduction, PairBatch, PairLogProbs, PreferencePair, ReferenceCache,
    RewardModel, dpo_loss, pair_logprobs,
};

fn tol() -> Tolerance<f32> {
    Tolerance::rel_abs(2e-4, 2e-4)
}

fn cfg() -> TransformerConfig {
    TransformerConfig::new(30, 16, 4, 2, 32, 16).with_causal(true)
}

fn pairs() -> Vec<PreferencePair> {
    vec![
        PreferencePair {
            prompt: vec![1, 5, 9, 2],
            chosen: vec![11, 12, 13, 3],
            rejected: vec![20, 3],
        },
        PreferencePair {
            prompt: vec![1, 6],
            chosen: vec![14, 3],
            rejected: vec![21, 22, 23, 24, 25, 3],
        },
        PreferencePair {
            prompt: vec![1, 7, 8],
            chosen: vec![15, 16, 3],
            rejected: vec![26, 27, 28, 3],
        },
    ]
}

fn models(autodiff: bool) -> Vec<(String, Device, Device, Transformer, burn::nn::Linear)> {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let dir = std::env::temp_dir().join(format!(
        "ember-reward-parity-{}-{autodiff}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    devices[0].1.seed(3);
    let rm = RewardModel::new(cfg().init(&devices[0].1), &devices[0].1);
    rm.backbone.clone().save_file(dir.join("t.bpk")).unwrap();
    rm.head.clone().save_file(dir.join("h.bpk")).unwrap();
    devices
        .into_iter()
        .map(|(k, base)| {
            let d = if autodiff {
                base.clone().autodiff()
            } else {
                base.clone()
            };
            let t = cfg().init(&d).load_file(dir.join("t.bpk"));
            let h = burn::nn::LinearConfig::new(16, 1)
                .init(&d)
                .load_file(dir.join("h.bpk"));
            (k.to_string(), base, d, t, h)
        })
        .collect()
}

fn batch(d: &Device) -> PairBatch {
    let p = pairs();
    let refs: Vec<&PreferencePair> = p.iter().collect();
    PairBatch::new(&refs, 0, 16, 30, d).unwrap()
}

#[test]
fn log_probs_and_rewards_agree() {
    let ms = models(false);
    let outs: Vec<_> = ms
        .iter()
        .map(|(name, _, d, t, h)| {
            let b = batch(d);
            let (c, r) = pair_logprobs(t, &b, LogProbReduction::Sum).unwrap();
            let (cm, _) = pair_logprobs(t, &b, LogProbReduction::Mean).unwrap();
            let rm = RewardModel {
                backbone: t.clone(),
                head: h.clone(),
            };
            let rewards = rm.rewards(&b).unwrap();
            let sft = sft_loss(
                t,
                &PairBatch::sequences(&pairs().iter().collect::<Vec<_>>(), 0, 16, 30, d).unwrap(),
            )
            .unwrap();
            (name, [c, r, cm, rewards, sft])
        })
        .collect();
    let (rn, reference) = &outs[0];
    for (name, o) in &outs[1..] {
        eprintln!("log-probs and rewards: {rn} vs {name}");
        for (a, b) in o.iter().zip(reference) {
            a.to_data().assert_approx_eq::<f32>(&b.to_data(), tol());
        }
    }
}

#[test]
fn losses_and_gradients_agree() {
    let ms = models(true);
    let mut results = Vec::new();
    for (name, base, d, t, h) in ms {
        let b = batch(&d);
        let p = pairs();
        // A reference different from the policy: the policy's log-probs shifted per pair.
        let inner = t.valid();
        let mut cache =
            ReferenceCache::compute(&inner, &p, 0, 8, LogProbReduction::Sum, &base).unwrap();
        cache
            .chosen
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x -= 0.3 * i as f64);
        cache
            .rejected
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x += 0.2 * i as f64);
        let mut values = Vec::new();
        for (kind, eps) in [
            (DpoKind::Sigmoid, 0.0),
            (DpoKind::Sigmoid, 0.1),
            (DpoKind::Ipo, 0.0),
        ] {
            let (pc, pr) = pair_logprobs(&t, &b, LogProbReduction::Sum).unwrap();
            let (rc, rr) = cache.gather(&[0, 1, 2], &d).unwrap();
            let loss = dpo_loss(
                PairLogProbs {
                    policy_chosen: pc,
                    policy_rejected: pr,
                    ref_chosen: rc,
                    ref_rejected: rr,
                },
                &DpoConfig {
                    beta: 0.5,
                    kind,
                    label_smoothing: eps,
                },
            )
            .unwrap();
            let lv = loss.clone().into_scalar::<f64>();
            let g = burn::optim::GradientsParams::from_grads(loss.backward(), &t);
            values.push((lv, global_grad_norm(&t, &g)));
        }
        let rm = RewardModel {
            backbone: t.clone(),
            head: h.clone(),
        };
        let bt = rm.loss(&b).unwrap();
        let btv = bt.clone().into_scalar::<f64>();
        let g = burn::optim::GradientsParams::from_grads(bt.backward(), &rm);
        values.push((btv, global_grad_norm(&rm, &g)));
        results.push((name, values));
    }
    let (rn, rv) = &results[0];
    for (name, v) in &results[1..] {
        for ((l, g), (rl, rg)) in v.iter().zip(rv) {
            eprintln!("{rn} vs {name}: loss {rl} / {l}, grad norm {rg} / {g}");
            assert!(
                (l - rl).abs() <= 2e-4 * (1.0 + rl.abs()),
                "loss {rn}={rl} {name}={l}"
            );
            assert!(
                (g - rg).abs() <= 2e-4 * (1.0 + rg.abs()),
                "grad norm {rn}={rg} {name}={g}"
            );
        }
    }
}
