//! Every bad input a user can give is a clear error: empty sets, mismatched shapes, NaN,
//! out-of-vocabulary ids, over-long pairs, invalid settings, a damaged checkpoint.

use burn::prelude::*;
use ember_core::nn::TransformerConfig;
use ember_reward::train::{Batching, Schedule, train_dpo};
use ember_reward::{
    DpoConfig, DpoKind, LogProbReduction, PairBatch, PairLogProbs, PreferencePair, ReferenceCache,
    Ties, dpo_loss, implicit_rewards, pair_logprobs, preference_accuracy,
};

fn dev() -> Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

fn t(v: &[f32], d: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), d)
}

fn pair(prompt: &[u32], c: &[u32], r: &[u32]) -> PreferencePair {
    PreferencePair {
        prompt: prompt.to_vec(),
        chosen: c.to_vec(),
        rejected: r.to_vec(),
    }
}

fn err<T: std::fmt::Debug>(r: ember_core::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn accuracy_and_rewards_reject_bad_values() {
    assert!(err(preference_accuracy(&[], &[], Ties::Half)).contains("no pairs"));
    assert!(
        err(preference_accuracy(&[1.0], &[1.0, 2.0], Ties::Half))
            .contains("1 chosen and 2 rejected")
    );
    assert!(err(preference_accuracy(&[f64::NAN], &[0.0], Ties::Wrong)).contains("NaN"));
    assert!(err(implicit_rewards(&[1.0], &[f64::INFINITY], 0.1)).contains("not finite"));
    assert!(err(implicit_rewards(&[1.0], &[1.0], 0.0)).contains("beta"));
    assert!(err(implicit_rewards(&[1.0, 2.0], &[1.0], 0.1)).contains("2 policy and 1 reference"));
}

#[test]
fn dpo_loss_rejects_bad_configs_and_shapes() {
    let d = dev();
    let lp = |n: usize| PairLogProbs {
        policy_chosen: t(&vec![-1.0; n], &d),
        policy_rejected: t(&vec![-2.0; n], &d),
        ref_chosen: t(&vec![-1.5; n], &d),
        ref_rejected: t(&[-1.5, -1.0][..n.min(2)], &d),
    };
    assert!(err(dpo_loss(lp(3), &DpoConfig::default())).contains("ref_rejected is [2]"));
    let ok = lp(2);
    for (cfg, want) in [
        (
            DpoConfig {
                beta: 0.0,
                ..DpoConfig::default()
            },
            "beta",
        ),
        (
            DpoConfig {
                beta: f64::NAN,
                ..DpoConfig::default()
            },
            "beta",
        ),
        (
            DpoConfig {
                label_smoothing: 0.5,
                ..DpoConfig::default()
            },
            "label_smoothing",
        ),
        (
            DpoConfig {
                kind: DpoKind::Ipo,
                label_smoothing: 0.1,
                ..DpoConfig::default()
            },
            "IPO",
        ),
    ] {
        assert!(err(dpo_loss(ok.clone(), &cfg)).contains(want), "{cfg:?}");
    }
    let empty = PairLogProbs {
        policy_chosen: t(&[], &d),
        policy_rejected: t(&[], &d),
        ref_chosen: t(&[], &d),
        ref_rejected: t(&[], &d),
    };
    assert!(err(dpo_loss(empty, &DpoConfig::default())).contains("empty batch"));
}

#[test]
fn batches_reject_bad_pairs() {
    let d = dev();
    let b = |p: PreferencePair| err(PairBatch::new(&[&p], 0, 8, 20, &d));
    assert!(b(pair(&[], &[1], &[2])).contains("empty prompt"));
    assert!(b(pair(&[1], &[], &[2])).contains("empty chosen or rejected"));
    assert!(b(pair(&[1], &[2; 9], &[2])).contains("at most 8"));
    assert!(b(pair(&[1], &[25], &[2])).contains("token id 25 outside the vocabulary 0..20"));
    assert!(err(PairBatch::new(&[], 0, 8, 20, &d)).contains("no pairs"));
    // A sequence batch is not a pair batch.
    let p = pair(&[1], &[2], &[3]);
    let m = TransformerConfig::new(20, 8, 2, 1, 16, 8)
        .with_causal(true)
        .init(&d);
    let seqs = PairBatch::sequences(&[&p], 0, 8, 20, &d).unwrap();
    assert!(err(pair_logprobs(&m, &seqs, LogProbReduction::Sum)).contains("batch of pairs"));
    // A bidirectional model has no log-probabilities of a continuation.
    let enc = TransformerConfig::new(20, 8, 2, 1, 16, 8).init(&d);
    let pb = PairBatch::new(&[&p], 0, 8, 20, &d).unwrap();
    assert!(err(pair_logprobs(&enc, &pb, LogProbReduction::Sum)).contains("causal"));
    let cache = ReferenceCache {
        chosen: vec![0.0],
        rejected: vec![0.0],
        reduction: LogProbReduction::Sum,
    };
    assert!(err(cache.gather(&[1], &d)).contains("holds 1 pairs, asked for index 1"));
}

#[test]
fn training_rejects_bad_settings_and_damaged_checkpoints() {
    let d = dev();
    let ad = d.clone().autodiff();
    let m = TransformerConfig::new(20, 8, 2, 1, 16, 8)
        .with_causal(true)
        .init(&ad);
    let pairs = vec![
        pair(&[1, 2], &[5, 3], &[6, 3]),
        pair(&[1, 4], &[7, 3], &[8, 8, 3]),
    ];
    let cache =
        ReferenceCache::compute(&m.valid(), &pairs, 0, 4, LogProbReduction::Sum, &d).unwrap();
    let sched = Schedule {
        steps: 4,
        batch: 2,
        lr: 1e-3,
        warmup: 0,
        seed: 1,
        eval_every: 2,
        grad_clip: 1.0,
    };
    let batching = Batching::of(&m, 0);
    let bad = Schedule {
        lr: -1.0,
        ..sched.clone()
    };
    let e = err(train_dpo(
        m.clone(),
        &pairs,
        &cache,
        &DpoConfig::default(),
        &bad,
        batching,
        None,
        &ad,
        |_, _| Ok(()),
    ));
    assert!(e.contains("lr"), "{e}");
    let short = ReferenceCache {
        chosen: vec![0.0],
        rejected: vec![0.0],
        reduction: LogProbReduction::Sum,
    };
    let e = err(train_dpo(
        m.clone(),
        &pairs,
        &short,
        &DpoConfig::default(),
        &sched,
        batching,
        None,
        &ad,
        |_, _| Ok(()),
    ));
    assert!(e.contains("holds 1 pairs, the data 2"), "{e}");

    // Train with checkpoints, damage one, and resume: a clear error naming the file.
    let dir = std::env::temp_dir().join(format!("ember-reward-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    train_dpo(
        m.clone(),
        &pairs,
        &cache,
        &DpoConfig::default(),
        &sched,
        batching,
        Some(&dir),
        &ad,
        |_, _| Ok(()),
    )
    .unwrap();
    let mut damaged = false;
    for entry in walk(&dir) {
        if entry.file_name().is_some_and(|n| n == "model.bpk") {
            let mut bytes = std::fs::read(&entry).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&entry, bytes).unwrap();
            damaged = true;
        }
    }
    assert!(damaged, "no model.bpk under {}", dir.display());
    let e = err(train_dpo(
        m,
        &pairs,
        &cache,
        &DpoConfig::default(),
        &sched,
        batching,
        Some(&dir),
        &ad,
        |_, _| Ok(()),
    ));
    assert!(e.contains("model.bpk"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
