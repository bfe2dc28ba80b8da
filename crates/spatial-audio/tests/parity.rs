//! flex, ndarray and wgpu (when compiled in) agree on this crate's model and losses: the
//! audio embedding and heads of the two-branch encoder, the text embedding, the InfoNCE +
//! auxiliary loss and its gradient norm. Weights move between backends through a burnpack
//! file; tolerance 2e-4 relative + absolute (5e-4 on the gradient norm).

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Tolerance;
use ember_core::backend::parity_devices;
use ember_core::nn::{Transformer, TransformerConfig};
use ember_core::train::global_grad_norm;
use ember_spatial_audio::model::{AudioEncoderConfig, AuxTargets, Elsa, elsa_loss};

fn build(d: &Device) -> Elsa<Transformer> {
    let text = TransformerConfig::new(20, 16, 4, 1, 32, 8)
        .with_lm_head(false)
        .init(d);
    let audio = AudioEncoderConfig {
        semantic_channels: vec![4, 8],
        d_semantic: 8,
        spatial_channels: vec![4, 4],
        d_spatial_branch: 8,
        d_bottleneck: 4,
        d_hidden: 16,
        d_embed: 8,
        ..AudioEncoderConfig::default()
    };
    Elsa::new(&audio, text, d).unwrap()
}

fn inputs(
    d: &Device,
) -> (
    Tensor<4>,
    Tensor<4>,
    Tensor<2, Int>,
    Tensor<2, Bool>,
    AuxTargets,
) {
    let b = 3;
    let lm: Vec<f32> = (0..b * 16 * 8)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let iv: Vec<f32> = (0..b * 6 * 16 * 8)
        .map(|i| ((i * 53 % 97) as f32 / 97.0) - 0.5)
        .collect();
    let ids = Tensor::<1, Int>::from_ints([2, 3, 4, 0, 5, 6, 0, 0, 7, 8, 9, 10].as_slice(), d)
        .reshape([b, 4]);
    let pad = ids.clone().equal_elem(0);
    let aux = AuxTargets {
        direction: Tensor::<1>::from_floats(
            [1.0, 0.0, 0.0, 0.0, 0.6, 0.8, 0.0, 0.0, 1.0].as_slice(),
            d,
        )
        .reshape([b, 3]),
        distance: Tensor::from_floats([0.5, -1.0, 0.0], d),
        log_area: Tensor::from_floats([0.1, 0.2, -0.3], d),
        mask: Tensor::from_floats([1.0, 1.0, 0.0], d),
    };
    (
        Tensor::<1>::from_floats(lm.as_slice(), d).reshape([b, 1, 16, 8]),
        Tensor::<1>::from_floats(iv.as_slice(), d).reshape([b, 6, 16, 8]),
        ids,
        pad,
        aux,
    )
}

#[test]
fn model_and_loss_agree_across_backends() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let dir = std::env::temp_dir().join(format!("ember-sa-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    devices[0].1.seed(7);
    build(&devices[0].1).save_file(dir.join("m.bpk")).unwrap();
    let mut results = Vec::new();
    for (kind, base) in devices {
        let d = base.clone().autodiff();
        let m = build(&d).load_file(dir.join("m.bpk"));
        let (lm, iv, ids, pad, aux) = inputs(&d);
        let out = m.audio.forward(lm, iv).unwrap();
        let text = m.embed_text(ids, pad).unwrap();
        let parts = elsa_loss(&out, text.clone(), m.logit_scale.value(), &aux).unwrap();
        let loss = parts.total(0.5);
        let lv = loss.clone().into_scalar::<f64>();
        let g = burn::optim::GradientsParams::from_grads(loss.backward(), &m);
        let gn = global_grad_norm(&m, &g);
        results.push((
            kind.to_string(),
            out.embedding.to_data(),
            out.heads.unwrap().to_data(),
            text.to_data(),
            lv,
            gn,
        ));
    }
    let r = &results[0];
    for o in &results[1..] {
        eprintln!(
            "{} vs {}: loss {} / {}, grad norm {} / {}",
            r.0, o.0, r.4, o.4, r.5, o.5
        );
        o.1.assert_approx_eq::<f32>(&r.1, Tolerance::rel_abs(2e-4, 2e-4));
        o.2.assert_approx_eq::<f32>(&r.2, Tolerance::rel_abs(2e-4, 2e-4));
        o.3.assert_approx_eq::<f32>(&r.3, Tolerance::rel_abs(2e-4, 2e-4));
        assert!((o.4 - r.4).abs() <= 2e-4 * (1.0 + r.4.abs()));
        assert!((o.5 - r.5).abs() <= 5e-4 * (1.0 + r.5.abs()));
    }
}
