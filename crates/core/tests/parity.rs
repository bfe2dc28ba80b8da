//! Backend parity: the same Transformer forward/backward and every loss give the same
//! numbers on each compiled backend (flex vs ndarray, and wgpu when built with
//! `--features wgpu`). Weights move between backends through a burnpack file, inputs are
//! fixed, so only arithmetic differs.
//!
//! Tolerance: 2e-4 relative + 2e-4 absolute on f32 values (reduction order differs between
//! backends; the models here are small, so errors stay near 1e-6 in practice).

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Tolerance;
use ember_core::backend::parity_devices;
use ember_core::loss;
use ember_core::nn::transformer::TransformerInput;
use ember_core::nn::{ForwardOptions, Intervention, TransformerConfig, UnitEdit};
use ember_core::train::global_grad_norm;

/// Loaded Hugging Face checkpoints against the reference outputs, on every backend.
mod hf;

fn tol() -> Tolerance<f32> {
    Tolerance::rel_abs(2e-4, 2e-4)
}

fn cfg(causal: bool) -> TransformerConfig {
    TransformerConfig::new(23, 16, 4, 2, 32, 12).with_causal(causal)
}

fn tokens(device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = (0..20).map(|i| (i * 7 + 3) % 23).collect();
    Tensor::<1, Int>::from_data(TensorData::new(ids, [20]), device).reshape([2, 10])
}

fn pad_mask(device: &Device) -> Tensor<2, Bool> {
    let mut m = vec![false; 20];
    m[17..].iter_mut().for_each(|x| *x = true);
    Tensor::<1, Bool>::from_data(TensorData::new(m, [20]), device).reshape([2, 10])
}

/// Save weights from the first device, load them on every device (on its autodiff variant
/// when `autodiff`: parameters loaded on a plain device are not tracked after `fork`).
fn models(causal: bool, autodiff: bool) -> Vec<(String, Device, ember_core::nn::Transformer)> {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let dir = std::env::temp_dir().join(format!("ember-parity-{}-{causal}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.bpk");
    devices[0].1.seed(7);
    cfg(causal).init(&devices[0].1).save_file(&path).unwrap();
    devices
        .into_iter()
        .map(|(k, d)| {
            let d = if autodiff { d.autodiff() } else { d };
            let m = cfg(causal).init(&d).load_file(&path);
            (k.to_string(), d, m)
        })
        .collect()
}

#[test]
fn transformer_forward_matches_across_backends() {
    for causal in [false, true] {
        let ms = models(causal, false);
        let plan =
            Intervention::new()
                .with(0, 3, UnitEdit::Set(1.5))
                .with(1, 5, UnitEdit::Scale(0.0));
        let outs: Vec<_> = ms
            .iter()
            .map(|(name, d, m)| {
                let opts = ForwardOptions::logits()
                    .with_pad_mask(pad_mask(d))
                    .with_hidden_states()
                    .with_mlp_activations()
                    .with_intervention(plan.clone());
                (
                    name,
                    m.forward_with(TransformerInput::Tokens(tokens(d)), opts)
                        .unwrap(),
                )
            })
            .collect();
        let (ref_name, reference) = &outs[0];
        for (name, out) in &outs[1..] {
            eprintln!("forward causal={causal}: {ref_name} vs {name}");
            out.logits
                .clone()
                .unwrap()
                .to_data()
                .assert_approx_eq::<f32>(&reference.logits.clone().unwrap().to_data(), tol());
            for (a, b) in out.hidden_states.iter().zip(&reference.hidden_states) {
                a.to_data().assert_approx_eq::<f32>(&b.to_data(), tol());
            }
            for (a, b) in out.mlp_activations.iter().zip(&reference.mlp_activations) {
                a.to_data().assert_approx_eq::<f32>(&b.to_data(), tol());
            }
        }
    }
}

#[test]
fn transformer_backward_matches_across_backends() {
    let ms = models(true, true);
    let mut results = Vec::new();
    for (name, ad, m) in ms {
        let x = Tensor::<1>::from_data(
            TensorData::new(
                (0..2 * 10 * 16)
                    .map(|i| ((i % 13) as f32 - 6.0) / 10.0)
                    .collect::<Vec<_>>(),
                [320],
            ),
            &ad,
        )
        .reshape([2, 10, 16])
        .require_grad();
        let out = m
            .forward_with(
                TransformerInput::Embeddings(x.clone()),
                ForwardOptions::logits(),
            )
            .unwrap();
        let logits = out.logits.unwrap();
        let targets = tokens(&ad);
        let keep = pad_mask(&ad).bool_not();
        let l = loss::masked_cross_entropy_seq(logits, targets, keep).unwrap();
        let lv = l.clone().into_scalar::<f32>();
        let grads = l.backward();
        let gx = x.grad(&grads).unwrap();
        let gp = burn::optim::GradientsParams::from_grads(grads, &m);
        let norm = global_grad_norm(&m, &gp);
        results.push((name, lv, gx, norm));
    }
    let (rn, rl, rg, rnorm) = &results[0];
    for (name, l, g, norm) in &results[1..] {
        eprintln!("backward: {rn} vs {name}: loss {rl} / {l}, grad norm {rnorm} / {norm}");
        assert!((rl - l).abs() < 1e-4, "loss {rn}={rl} {name}={l}");
        assert!(
            (rnorm - norm).abs() / rnorm < 1e-3,
            "param grad norm {rnorm} vs {norm}"
        );
        g.to_data().assert_approx_eq::<f32>(&rg.to_data(), tol());
    }
}

fn t2(rows: usize, cols: usize, seed: usize, d: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|i| (((i * 31 + seed * 17) % 29) as f32 - 14.0) / 15.0)
        .collect();
    Tensor::<1>::from_data(TensorData::new(v, [rows * cols]), d).reshape([rows, cols])
}

fn labels(n: usize, c: usize, d: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = (0..n).map(|i| ((i * 3 + 1) % c) as i64).collect();
    Tensor::from_data(TensorData::new(v, [n]), d)
}

/// Each loss's value and gradient w.r.t. its main input on one device.
fn all_losses(d: &Device) -> Vec<(&'static str, f32, Tensor<2>)> {
    let ad = d.clone().autodiff();
    let mut out = Vec::new();
    let mut run = |name: &'static str, x: Tensor<2>, f: &dyn Fn(Tensor<2>) -> Tensor<1>| {
        let x = x.require_grad();
        let l = f(x.clone());
        let v = l.clone().into_scalar::<f32>();
        let g = x.grad(&l.backward()).unwrap();
        out.push((name, v, g));
    };
    let ad2 = ad.clone();
    run("masked_ce", t2(6, 5, 1, &ad), &|x| {
        let mask = Tensor::<1>::from_floats([1.0, 1.0, 0.0, 1.0, 0.0, 1.0], &ad2);
        loss::masked_cross_entropy(x, labels(6, 5, &ad2), mask).unwrap()
    });
    let ad2 = ad.clone();
    run("info_nce", t2(6, 4, 2, &ad), &|x| {
        loss::info_nce(x, t2(6, 4, 3, &ad2), Tensor::from_floats([2.0], &ad2)).unwrap()
    });
    let ad2 = ad.clone();
    run("pairwise_sigmoid", t2(5, 5, 4, &ad).tanh(), &|x| {
        let z = Tensor::<2>::eye(5, &ad2) * 2.0 - 1.0;
        let w = t2(5, 5, 5, &ad2).abs();
        loss::weighted_pairwise_sigmoid(
            x,
            z,
            w,
            Tensor::from_floats([10.0], &ad2),
            Tensor::from_floats([-5.0], &ad2),
        )
        .unwrap()
    });
    let ad2 = ad.clone();
    run("am_softmax", t2(6, 4, 6, &ad).tanh(), &|x| {
        loss::am_softmax(x, labels(6, 4, &ad2), 30.0, 0.4).unwrap()
    });
    let ad2 = ad.clone();
    run("aam_softmax", t2(6, 4, 7, &ad).tanh() * 0.9, &|x| {
        loss::aam_softmax(x, labels(6, 4, &ad2), 30.0, 0.2).unwrap()
    });
    run("bradley_terry", t2(2, 6, 8, &ad), &|x| {
        let chosen = x.clone().slice([0..1, 0..6]).reshape([6]);
        let rejected = x.slice([1..2, 0..6]).reshape([6]);
        loss::bradley_terry(chosen, rejected, 0.5).unwrap()
    });
    out
}

#[test]
fn losses_match_across_backends() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let reference = all_losses(&devices[0].1);
    for (kind, d) in &devices[1..] {
        for ((name, v, g), (_, rv, rg)) in all_losses(d).iter().zip(&reference) {
            eprintln!("{name}: {} {rv} vs {kind} {v}", devices[0].0);
            assert!(
                (v - rv).abs() <= 1e-4 + 1e-4 * rv.abs(),
                "{name}: {rv} vs {v} on {kind}"
            );
            g.to_data().assert_approx_eq::<f32>(&rg.to_data(), tol());
        }
    }
}
