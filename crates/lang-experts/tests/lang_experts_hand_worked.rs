//! Hand-worked and brute-force checks of the pieces without a library reference: capture
//! pooling against the raw forward pass, interventions at each site and position window,
//! expert selection, Jaccard, AurA factors, the random control, sampling.

use burn::prelude::*;
use ember_core::backend::device_by_name as device;
use ember_core::nn::intervention::{EditPositions, Site};
use ember_core::nn::{ForwardOptions, Intervention, TransformerConfig, TransformerInput, UnitEdit};
use ember_lang_experts::capture::{CaptureConfig, Pooling, collect};
use ember_lang_experts::expertise::{ExpertSet, Expertise, Metric};
use ember_lang_experts::intervene::{
    ForceValue, SampleOptions, Scope, aura, force_experts, nucleus, random_control, sample,
};

fn model(dev: &Device) -> ember_core::nn::Transformer {
    dev.seed(3);
    TransformerConfig::new(20, 8, 2, 2, 16, 12)
        .with_causal(true)
        .init(dev)
}

fn sentences() -> Vec<Vec<u32>> {
    vec![
        vec![1, 5, 6, 7],
        vec![1, 8],
        vec![1, 9, 10, 11, 12, 13],
        vec![1, 5, 5],
    ]
}

#[test]
fn pooling_matches_the_raw_forward_and_ignores_padding() {
    let dev = device("flex").unwrap();
    let m = model(&dev);
    for pooling in [Pooling::Max, Pooling::Mean] {
        let cfg = CaptureConfig {
            sites: vec![Site::MlpPre, Site::MlpAct, Site::MlpOut],
            layers: None,
            pooling,
            batch_size: 3,
        };
        let r = collect(&m, &sentences(), 0, &cfg, None, &dev).unwrap();
        assert_eq!(r.index.n_units(), 2 * (16 + 16 + 8));
        // brute force: each sentence alone, no padding
        for (i, s) in sentences().iter().enumerate() {
            let ids = Tensor::<1, Int>::from_data(
                TensorData::new(s.iter().map(|&x| x as i64).collect::<Vec<_>>(), [s.len()]),
                &dev,
            )
            .reshape([1, s.len()]);
            let o = m
                .forward_with(
                    TransformerInput::Tokens(ids),
                    ForwardOptions::default()
                        .with_mlp_pre()
                        .with_mlp_out()
                        .with_mlp_activations(),
                )
                .unwrap();
            for (b, blk) in r.index.blocks.iter().enumerate() {
                let t = match blk.site {
                    Site::MlpPre => o.mlp_pre[blk.layer].clone(),
                    Site::MlpAct => o.mlp_activations[blk.layer].clone(),
                    Site::MlpOut => o.mlp_out[blk.layer].clone(),
                };
                let v = t.into_data().try_to_vec::<f32>().unwrap();
                for u in 0..blk.width {
                    let col: Vec<f32> = (0..s.len()).map(|p| v[p * blk.width + u]).collect();
                    let want = match pooling {
                        Pooling::Max => col.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                        Pooling::Mean => col.iter().sum::<f32>() / col.len() as f32,
                    };
                    let got = r.blocks[b][u * r.n_sentences + i];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{pooling:?} block {b} unit {u} sentence {i}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn site_edits_and_position_windows() {
    let dev = device("flex").unwrap();
    let m = model(&dev);
    let ids = Tensor::<2, Int>::from_ints([[1, 5, 6, 7, 8]], &dev);
    let run = |iv: Intervention| {
        m.forward_with(
            TransformerInput::Tokens(ids.clone()),
            ForwardOptions::hidden_states()
                .with_mlp_pre()
                .with_mlp_out()
                .with_mlp_activations()
                .with_intervention(iv),
        )
        .unwrap()
    };
    let base = run(Intervention::new());
    // forcing a pre-activation to v makes the post-activation gelu(v) at that unit
    let o = run(Intervention::new().with_at(Site::MlpPre, 1, 3, UnitEdit::Set(2.0)));
    let act = o.mlp_activations[1]
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let gelu2 = 2.0 * 0.5 * (1.0 + libm_erf(2.0 / 2f32.sqrt()));
    for p in 0..5 {
        assert!(
            (act[p * 16 + 3] - gelu2).abs() < 1e-4,
            "{}",
            act[p * 16 + 3]
        );
    }
    // captures are recorded before the edit of their own site
    let o = run(Intervention::new().with_at(Site::MlpOut, 0, 2, UnitEdit::Set(5.0)));
    assert_eq!(
        o.mlp_out[0]
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
        base.mlp_out[0]
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    );
    // a window from position 3 leaves positions 0..3 unchanged in a causal model, changes 3..
    let o = run(Intervention::new()
        .with_at(Site::MlpOut, 0, 2, UnitEdit::Set(5.0))
        .with_positions(EditPositions::Range {
            from: 3,
            until: None,
        }));
    let a = o
        .last_hidden
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let b = base
        .last_hidden
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for p in 0..5 {
        let diff: f32 = (0..8).map(|k| (a[p * 8 + k] - b[p * 8 + k]).abs()).sum();
        assert_eq!(diff == 0.0, p < 3, "position {p}: diff {diff}");
    }
    // Scale(1) everywhere is the identity
    let mut iv = Intervention::new();
    for u in 0..8 {
        iv = iv.with_at(Site::MlpOut, 1, u, UnitEdit::Scale(1.0));
    }
    let o = run(iv);
    assert_eq!(
        o.last_hidden.into_data().try_to_vec::<f32>().unwrap(),
        base.last_hidden.into_data().try_to_vec::<f32>().unwrap()
    );
}

fn libm_erf(x: f32) -> f32 {
    // Abramowitz-Stegun 7.1.26 is too coarse; integrate instead (Simpson, 2000 steps).
    let n = 2000;
    let h = x as f64 / n as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(0.0) + f(x as f64);
    for i in 1..n {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    (s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()) as f32
}

fn expertise() -> Expertise {
    let dev = device("flex").unwrap();
    let m = model(&dev);
    let sents: Vec<Vec<u32>> = (0..24)
        .map(|i| vec![1, 2 + (i % 6) as u32, 10 + (i % 4) as u32])
        .collect();
    let labels: Vec<bool> = (0..24).map(|i| i % 6 < 2).collect();
    let r = collect(&m, &sents, 0, &CaptureConfig::default(), None, &dev).unwrap();
    Expertise::compute(&r, &labels).unwrap()
}

#[test]
fn selection_force_aura_and_random_control() {
    let ex = expertise();
    let n = ex.units.len();
    assert_eq!(n, 2 * (16 + 8));
    // top-k equals a brute-force full sort
    let mut ids: Vec<usize> = (0..n).collect();
    ids.sort_by(|&a, &b| {
        ex.units[b]
            .auroc
            .total_cmp(&ex.units[a].auroc)
            .then(a.cmp(&b))
    });
    assert_eq!(ex.top_k(Metric::Auroc, 7), ids[..7].to_vec());
    assert_eq!(ex.top_k(Metric::Auroc, 10 * n).len(), n);
    let th = ex.threshold(Metric::Ap, 0.5);
    assert_eq!(
        th.ids(),
        (0..n)
            .filter(|&i| ex.units[i].ap >= 0.5)
            .collect::<Vec<_>>()
    );
    // forcing writes the positive mean / median of each expert at its site
    let top = ex.top_k(Metric::Auroc, 5);
    let iv = force_experts(&ex, &top, ForceValue::Median).unwrap();
    let mut count = 0;
    for site in [Site::MlpPre, Site::MlpOut] {
        for (layer, edits) in iv.site_edits(site) {
            for &(u, e) in edits {
                let blk = ex
                    .index
                    .blocks
                    .iter()
                    .find(|b| b.layer == *layer && b.site == site)
                    .unwrap();
                let id = blk.offset + u;
                assert!(top.contains(&id));
                assert_eq!(e, UnitEdit::Set(ex.units[id].pos_median));
                count += 1;
            }
        }
    }
    assert_eq!(count, 5);
    // AurA: α = 1 − 2(AUROC − ½) exactly for the units above chance
    let a = aura(&ex).unwrap();
    let n_above = ex.units.iter().filter(|u| u.auroc > 0.5).count();
    let total: usize = [Site::MlpPre, Site::MlpOut]
        .iter()
        .map(|s| a.site_edits(*s).values().map(Vec::len).sum::<usize>())
        .sum();
    assert_eq!(total, n_above);
    // the random control keeps k per (layer, site) block and avoids the experts
    let top = ex.top_k(Metric::Auroc, 9);
    let rc = random_control(&ex, &top, ForceValue::Mean, 7).unwrap();
    for (bi, blk) in ex.index.blocks.iter().enumerate() {
        let want = top
            .iter()
            .filter(|&&id| ex.index.locate(id).unwrap().0 == bi)
            .count();
        let got = rc.site_edits(blk.site).get(&blk.layer).map_or(0, Vec::len);
        assert_eq!(got, want, "block {bi}");
        for &(u, _) in rc
            .site_edits(blk.site)
            .get(&blk.layer)
            .into_iter()
            .flatten()
        {
            assert!(!top.contains(&(blk.offset + u)));
        }
    }
}

#[test]
fn jaccard_by_hand() {
    let a = ExpertSet::from_ids(130, [1, 2, 3, 100]);
    let b = ExpertSet::from_ids(130, [2, 3, 4, 129]);
    assert_eq!(a.jaccard(&b).unwrap(), 2.0 / 6.0);
    assert_eq!(
        ExpertSet::from_ids(10, [])
            .jaccard(&ExpertSet::from_ids(10, []))
            .unwrap(),
        0.0
    );
    assert!(a.jaccard(&ExpertSet::from_ids(64, [1])).is_err());
}

#[test]
fn nucleus_and_sampling_scopes() {
    // top_p 0.5 over probabilities ~[0.64, 0.24, 0.09, ...] keeps only the first token
    let logits = [3.0f32, 2.0, 1.0, 0.0];
    for u in [0.0, 0.3, 0.99] {
        assert_eq!(nucleus(&logits, 1.0, 0.5, u), 0);
    }
    assert_eq!(nucleus(&logits, 1.0, 1.0, 0.999_999), 3);
    let dev = device("flex").unwrap();
    let m = model(&dev);
    let ex = expertise();
    let iv = force_experts(&ex, &ex.top_k(Metric::Auroc, 4), ForceValue::Mean).unwrap();
    let prompts = vec![vec![1, 5], vec![1, 6, 7]];
    let opts = SampleOptions {
        new_tokens: 5,
        ..SampleOptions::default()
    };
    let a = sample(&m, &prompts, Some(&iv), &opts, 1, &dev).unwrap();
    let b = sample(&m, &prompts, Some(&iv), &opts, 1, &dev).unwrap();
    assert_eq!(a, b, "seeded sampling is deterministic");
    assert!(a.iter().all(|g| g.len() == 5));
    for scope in [Scope::Prompt, Scope::Generated] {
        let o = SampleOptions { scope, ..opts };
        assert_eq!(
            sample(&m, &prompts, Some(&iv), &o, 1, &dev).unwrap().len(),
            2
        );
    }
}

#[test]
fn shared_sort_equals_the_per_metric_kernels() {
    use ember_core::metrics::{average_precision_batch, roc_auc_batch};
    use ember_lang_experts::expertise::{median, score_block};
    // heavy ties (values on a grid of 7), signed zeros, an all-tied unit, odd and even
    // positive counts
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut u = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s >> 11
    };
    for (units, n) in [(37, 101), (20, 64), (5, 9)] {
        let labels: Vec<bool> = (0..n).map(|i| i == 0 || (i != 1 && u() % 3 == 0)).collect();
        let mut scores: Vec<f32> = (0..units * n)
            .map(|_| match u() % 10 {
                0 => 0.0,
                1 => -0.0,
                r => (r as f32 - 5.0) * 0.25 + (u() % 7) as f32 * 0.125,
            })
            .collect();
        scores[..n].fill(0.5);
        let st = score_block(&scores, units, &labels).unwrap();
        let ap = average_precision_batch(&scores, units, &labels).unwrap();
        let auc = roc_auc_batch(&scores, units, &labels).unwrap();
        for k in 0..units {
            let row = &scores[k * n..(k + 1) * n];
            let mut pos: Vec<f32> = row
                .iter()
                .zip(&labels)
                .filter(|p| *p.1)
                .map(|p| *p.0)
                .collect();
            let neg: Vec<f32> = row
                .iter()
                .zip(&labels)
                .filter(|p| !*p.1)
                .map(|p| *p.0)
                .collect();
            let mean = pos.iter().map(|&x| x as f64).sum::<f64>() / pos.len() as f64;
            let neg_mean = neg.iter().fold(0.0f64, |a, &x| a + x as f64) / neg.len() as f64;
            assert_eq!(st[k].ap.to_bits(), ap[k].to_bits(), "AP unit {k}");
            assert_eq!(st[k].auroc.to_bits(), auc[k].to_bits(), "AUROC unit {k}");
            assert_eq!(
                st[k].pos_mean.to_bits(),
                (mean as f32).to_bits(),
                "mean unit {k}"
            );
            assert_eq!(
                st[k].neg_mean.to_bits(),
                (neg_mean as f32).to_bits(),
                "neg unit {k}"
            );
            assert_eq!(st[k].pos_median, median(&mut pos), "median unit {k}");
        }
    }
}
