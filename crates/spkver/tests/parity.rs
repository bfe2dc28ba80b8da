//! Backend parity (flex vs ndarray, and wgpu when compiled): the SSL encoder's hidden states
//! and pre-training loss, and both heads' embeddings, AM-softmax loss and gradients agree.
//! Weights move between backends through a burnpack file; inputs are fixed.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Tolerance;
use ember_core::backend::parity_devices;
use ember_core::train::global_grad_norm;
use ember_spkver::SslEncoderConfig;
use ember_spkver::heads::{SimpleHeadConfig, SpeakerHead, XVectorHeadConfig};

fn tol() -> Tolerance<f32> {
    Tolerance::rel_abs(2e-4, 2e-4)
}

fn input<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 97) as f32 / 97.0 - 0.5) * 2.0)
        .collect();
    Tensor::<1>::from_data(TensorData::new(v, [n]), device).reshape(shape)
}

fn devices() -> Vec<(String, Device)> {
    let d = parity_devices();
    assert!(
        d.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    d.into_iter().map(|(k, d)| (k.to_string(), d)).collect()
}

fn path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spkver-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn encoder_forward_and_pretrain_loss_match() {
    let ds = devices();
    let cfg = SslEncoderConfig::new(8, 16, 4, 2, 32, 20)
        .with_n_clusters(5)
        .with_dropout(0.0);
    let p = path("enc.bpk");
    ds[0].1.seed(3);
    cfg.init(&ds[0].1).save_file(&p).unwrap();
    let mut outs = Vec::new();
    for (name, d) in &ds {
        let ad = d.clone().autodiff();
        let enc = cfg.init(&ad).load_file(&p);
        let layers = enc.valid().layers(input([2, 19, 8], d)).unwrap();
        assert_eq!(layers.len(), 3);
        assert_eq!(layers[0].dims(), [2, 10, 16]);
        let mask = Tensor::<1, Bool>::from_data(
            TensorData::new((0..20).map(|i| i % 3 == 0).collect::<Vec<_>>(), [20]),
            &ad,
        )
        .reshape([2, 10]);
        let tg = Tensor::<1, Int>::from_data(
            TensorData::new((0..20).map(|i| (i % 5) as i64).collect::<Vec<_>>(), [20]),
            &ad,
        )
        .reshape([2, 10]);
        let loss = enc.pretrain_loss(input([2, 19, 8], &ad), mask, tg).unwrap();
        let grads = GradientsParams::from_grads(loss.clone().backward(), &enc);
        let gn = global_grad_norm(&enc, &grads);
        outs.push((name.clone(), layers, loss.into_scalar::<f32>(), gn));
    }
    let (n0, l0, loss0, g0) = &outs[0];
    for (n, l, loss, g) in &outs[1..] {
        for (a, b) in l0.iter().zip(l) {
            a.to_data().assert_approx_eq::<f32>(&b.to_data(), tol());
        }
        assert!((loss0 - loss).abs() < 1e-4, "{n0} {loss0} vs {n} {loss}");
        assert!(
            (g0 - g).abs() < 1e-3 * (1.0 + g0.abs()),
            "{n0} {g0} vs {n} {g}"
        );
    }
}

fn check_head<H: SpeakerHead, F: Fn(&Device) -> H>(make: F, name: &str, t: usize) {
    let ds = devices();
    let p = path(&format!("{name}.bpk"));
    ds[0].1.seed(5);
    make(&ds[0].1).save_file(&p).unwrap();
    let mut outs = Vec::new();
    for (bk, d) in &ds {
        let ad = d.clone().autodiff();
        let head = make(&ad).load_file(&p);
        let x = input([3, 4, t, 6], &ad);
        let emb = head.valid().embed(input([3, 4, t, 6], d)).unwrap();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2, 1], [3]), &ad);
        let loss = head.loss(x, labels, 30.0, 0.4).unwrap();
        let grads = loss.clone().backward();
        let ga = head.layer_weights().alpha.val().grad(&grads).unwrap();
        let gp = GradientsParams::from_grads(grads, &head);
        let gn = global_grad_norm(&head, &gp);
        outs.push((bk.clone(), emb, loss.into_scalar::<f32>(), ga, gn));
    }
    let (b0, e0, l0, a0, g0) = &outs[0];
    for (b, e, l, a, g) in &outs[1..] {
        e0.to_data().assert_approx_eq::<f32>(&e.to_data(), tol());
        a0.to_data()
            .assert_approx_eq::<f32>(&a.to_data(), Tolerance::rel_abs(1e-3, 1e-4));
        assert!(
            (l0 - l).abs() < 1e-3 * (1.0 + l0.abs()),
            "{name}: {b0} {l0} vs {b} {l}"
        );
        assert!(
            (g0 - g).abs() < 1e-3 * (1.0 + g0.abs()),
            "{name}: {b0} {g0} vs {b} {g}"
        );
    }
}

#[test]
fn heads_forward_backward_match() {
    check_head(|d| SimpleHeadConfig::new(4, 6, 5, 3).init(d), "simple", 12);
    check_head(
        |d| SimpleHeadConfig::new(4, 6, 5, 3).with_asp_units(4).init(d),
        "asp",
        12,
    );
    check_head(
        |d| XVectorHeadConfig::new(4, 6, 8, 12, 5, 3).init(d),
        "xvector",
        20,
    );
}
