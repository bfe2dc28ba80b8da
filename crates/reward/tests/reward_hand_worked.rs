//! Hand-worked and brute-force checks: DPO at policy = reference, the oracle of hand-built
//! responses, log-probabilities position by position from the logits on the host, and the
//! explicit reward as a host dot product.

use burn::prelude::*;
use ember_core::nn::TransformerConfig;
use ember_core::nn::transformer::{ForwardOptions, TransformerInput};
use ember_reward::world::{EOS, Setting, World, WorldConfig};
use ember_reward::{
    DpoConfig, DpoKind, LogProbReduction, PairBatch, PairLogProbs, PreferencePair, RewardModel,
    Ties, dpo_loss, pair_logprobs, preference_accuracy,
};

fn dev() -> Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

#[test]
fn dpo_at_the_reference_is_ln2_and_ipo_is_quarter_beta_squared() {
    let d = dev();
    let v = Tensor::<1>::from_data(TensorData::new(vec![-3.0f32, -7.5, -1.25], [3]), &d);
    let lp = || PairLogProbs {
        policy_chosen: v.clone(),
        policy_rejected: v.clone() - 2.0,
        ref_chosen: v.clone(),
        ref_rejected: v.clone() - 2.0,
    };
    let sig = dpo_loss(lp(), &DpoConfig::default())
        .unwrap()
        .into_scalar::<f64>();
    assert!((sig - 2f64.ln()).abs() < 1e-6, "{sig}");
    // cDPO at h = 0: (1 − ε) ln 2 + ε ln 2 = ln 2 as well.
    let c = DpoConfig {
        label_smoothing: 0.2,
        ..DpoConfig::default()
    };
    assert!((dpo_loss(lp(), &c).unwrap().into_scalar::<f64>() - 2f64.ln()).abs() < 1e-6);
    // IPO at h = 0: (0 − 1/(2β))² = 1/(4β²) = 25 for β = 0.1.
    let ipo = DpoConfig {
        kind: DpoKind::Ipo,
        ..DpoConfig::default()
    };
    assert!((dpo_loss(lp(), &ipo).unwrap().into_scalar::<f64>() - 25.0).abs() < 1e-3);
    // Every pair ties at the reference: ½ with ties as ½, 0 with strict >.
    let r = [0.0; 3];
    assert_eq!(preference_accuracy(&r, &r, Ties::Half).unwrap(), 0.5);
    assert_eq!(preference_accuracy(&r, &r, Ties::Wrong).unwrap(), 0.0);
    // Margin h = 2 with β = 0.5: −log σ(1) = log(1 + e^−1).
    let lp2 = PairLogProbs {
        policy_chosen: v.clone() + 2.0,
        ..lp()
    };
    let l = dpo_loss(
        lp2,
        &DpoConfig {
            beta: 0.5,
            ..DpoConfig::default()
        },
    )
    .unwrap()
    .into_scalar::<f64>();
    assert!((l - (1.0 + (-1f64).exp()).ln()).abs() < 1e-6, "{l}");
}

#[test]
fn oracle_of_hand_built_responses() {
    let w = World::new(WorldConfig::default()).unwrap();
    // Topic 1, length request 1 (5 words).
    let p = w.prompt(1, 1);
    let on = |c: usize, f: usize| w.concept_token(1, c, f);
    let off = w.concept_token(2, 0, 0);
    let filler = (w.vocab_size() - 1) as u32;
    // 3 distinct concepts (form A and B of concept 0 are the same concept: one repeat), one
    // off-topic word, 6 words for a request of 5:
    // 3 − 1 − ½·1 − ½·1 = 1.
    let y = [on(0, 0), on(0, 1), on(1, 0), on(2, 1), off, filler, EOS];
    assert_eq!(w.oracle(&p, &y).unwrap(), 1.0);
    // The additive proxy counts every on-topic word and ignores repeats: 4 − 1 − ½·1 = 2.5.
    assert_eq!(w.additive_proxy(&p, &y).unwrap(), 2.5);
    // Perfect: 5 distinct on-topic concepts, 5 words: 5.
    let y = [on(0, 0), on(1, 0), on(2, 0), on(3, 1), on(4, 0), EOS];
    assert_eq!(w.oracle(&p, &y).unwrap(), 5.0);
    assert_eq!(w.additive_proxy(&p, &y).unwrap(), 5.0);
    // The token shift changes no oracle reward.
    assert_eq!(w.oracle(&p, &w.to_form_b(&y)).unwrap(), 5.0);
    assert!(w.oracle(&[1, 2, 3], &y).is_err());
    // Held-out topics never appear in preference-training pairs, not even as off-topic words.
    let train = w
        .pairs(
            &w.domain(Setting::InDistribution),
            200,
            &mut ember_core::seed::Seed::new(1).rng(),
        )
        .unwrap();
    let held = w.train_topics().end;
    for l in &train {
        for &tok in l.pair.chosen.iter().chain(&l.pair.rejected) {
            if let Some((k, _, f)) = w.concept_of(tok) {
                assert!(
                    k < held && f == 0,
                    "token {tok} of topic {k} form {f} in training"
                );
            }
        }
        assert!(l.r_chosen != l.r_rejected);
    }
}

#[test]
fn logprobs_and_rewards_brute_force() {
    let d = dev();
    d.seed(5);
    let m = TransformerConfig::new(30, 16, 4, 2, 32, 16)
        .with_causal(true)
        .init(&d);
    let pairs = [
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
    ];
    let refs: Vec<&PreferencePair> = pairs.iter().collect();
    let b = PairBatch::new(&refs, 0, 16, 30, &d).unwrap();
    let (c, r) = pair_logprobs(&m, &b, LogProbReduction::Sum).unwrap();
    let (cm, _) = pair_logprobs(&m, &b, LogProbReduction::Mean).unwrap();
    let got: Vec<f32> = [c, r]
        .into_iter()
        .flat_map(|x| x.into_data().try_to_vec::<f32>().unwrap())
        .collect();
    let got_mean = cm.into_data().try_to_vec::<f32>().unwrap();
    // Each sequence alone, unpadded; log-softmax on the host.
    let rows: Vec<(&[u32], &[u32])> = pairs
        .iter()
        .map(|p| (&p.prompt[..], &p.chosen[..]))
        .chain(pairs.iter().map(|p| (&p.prompt[..], &p.rejected[..])))
        .collect();
    for (i, (p, y)) in rows.iter().enumerate() {
        let seq: Vec<i64> = p.iter().chain(y.iter()).map(|&x| x as i64).collect();
        let n = seq.len();
        let ids =
            Tensor::<1, Int>::from_data(TensorData::new(seq.clone(), [n]), &d).reshape([1, n]);
        let logits = m
            .logits(ids, None)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mut want = 0.0f64;
        for pos in p.len()..n {
            let z = &logits[(pos - 1) * 30..pos * 30];
            let mx = z.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let lse = mx + z.iter().map(|&v| (v as f64 - mx).exp()).sum::<f64>().ln();
            want += z[seq[pos] as usize] as f64 - lse;
        }
        assert!(
            (got[i] as f64 - want).abs() < 1e-4,
            "row {i}: {} vs {want}",
            got[i]
        );
        if i < 2 {
            assert!((got_mean[i] as f64 - want / y.len() as f64).abs() < 1e-4);
        }
    }
    // Explicit reward: the head on the last real token's final hidden state.
    let rm = RewardModel::new(m.clone(), &d);
    let rewards = rm
        .rewards(&b)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let w = rm
        .head
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let bias = rm
        .head
        .bias
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()[0];
    assert_eq!(bias, 0.0);
    for (i, (p, y)) in rows.iter().enumerate() {
        let seq: Vec<i64> = p.iter().chain(y.iter()).map(|&x| x as i64).collect();
        let n = seq.len();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(seq, [n]), &d).reshape([1, n]);
        let h = m
            .forward_with(TransformerInput::Tokens(ids), ForwardOptions::default())
            .unwrap()
            .last_hidden;
        let h = h.into_data().try_to_vec::<f32>().unwrap();
        let last = &h[(n - 1) * 16..n * 16];
        let want: f32 = last.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + bias;
        assert!(
            (rewards[i] - want).abs() < 1e-4,
            "reward {i}: {} vs {want}",
            rewards[i]
        );
    }
}
