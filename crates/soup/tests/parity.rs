//! Backend parity (flex vs ndarray, and wgpu when compiled): the soup's coefficients, the
//! instantiated model's logits, the LM loss through the instantiation, and the gradient
//! norms of the shared parameters, experts and router agree. Weights move between backends
//! through a burnpack file.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Tolerance;
use ember_core::backend::parity_devices;
use ember_core::lm::{next_token_loss, token_batch};
use ember_core::nn::TransformerConfig;
use ember_core::train::global_grad_norm;
use ember_soup::{AlphaNorm, SoupConfig};

#[test]
fn soup_forward_and_backward_match_across_backends() {
    let ds = parity_devices();
    assert!(
        ds.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let cfg = SoupConfig::new(
        TransformerConfig::new(20, 16, 2, 2, 32, 8).with_causal(true),
        5,
        3,
    )
    .with_alpha_norm(AlphaNorm::Softmax)
    .with_expert_init_std(0.02);
    let path = std::env::temp_dir().join(format!("soup-parity-{}.bpk", std::process::id()));
    ds[0].1.seed(11);
    cfg.init(&ds[0].1).unwrap().save_file(&path).unwrap();
    let h = [0.1, 0.4, 0.0, 0.3, 0.2];
    let rows: Vec<Vec<u32>> = (0..4)
        .map(|r| (0..9).map(|t| ((r * 7 + t * 11) % 20) as u32).collect())
        .collect();
    let mut outs = Vec::new();
    for (kind, d) in &ds {
        let ad = d.clone().autodiff();
        let soup = cfg.init(&ad).unwrap().load_file(&path);
        let alpha = soup.valid().coefficients(&h).unwrap();
        let inputs: Vec<&[u32]> = rows.iter().map(|r| &r[..8]).collect();
        let x = token_batch(&inputs, d).unwrap();
        let logits = soup.valid().export(&h).unwrap().logits(x, None).unwrap();
        let loss = next_token_loss(
            &soup.instantiate(&h).unwrap(),
            token_batch(&rows, &ad).unwrap(),
        )
        .unwrap();
        let grads = GradientsParams::from_grads(loss.clone().backward(), &soup);
        let gn = global_grad_norm(&soup, &grads);
        outs.push((
            kind.to_string(),
            alpha,
            logits,
            loss.into_scalar::<f32>(),
            gn,
        ));
    }
    std::fs::remove_file(&path).ok();
    let tol = Tolerance::<f32>::rel_abs(2e-4, 2e-4);
    let (n0, a0, l0, loss0, g0) = &outs[0];
    assert!(*g0 > 0.0);
    for (n, a, l, loss, g) in &outs[1..] {
        a0.to_data().assert_approx_eq::<f32>(&a.to_data(), tol);
        l0.to_data().assert_approx_eq::<f32>(&l.to_data(), tol);
        assert!((loss0 - loss).abs() < 1e-4, "{n0} {loss0} vs {n} {loss}");
        assert!(
            (g0 - g).abs() < 1e-3 * (1.0 + g0.abs()),
            "{n0} {g0} vs {n} {g}"
        );
    }
}
