//! Acceptance F: the method takes a loaded Hugging Face text tower. The `bert` fixture (tiny
//! random weights, transformers 5.17 outputs, copied from `shared/fixtures/hf/bert` into
//! `tests/data/hf/bert`): the `TextEncoder` of a loaded `PretrainedLm` is the masked mean of
//! transformers' last hidden states, and ELSA's loss trains through it.

use burn::prelude::*;
use ember_core::pretrained::{PretrainedLm, Weights};
use ember_core::train::global_grad_norm;
use ember_spatial_audio::model::{AudioEncoderConfig, AuxTargets, Elsa, TextEncoder, elsa_loss};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/bert")
}

#[test]
fn loaded_bert_is_a_text_tower() {
    let device = ember_core::backend::device_by_name("flex").unwrap();
    let bert = PretrainedLm::from_dir(fixture(), &device).unwrap();
    let io = Weights::from_files(&[fixture().join("io.safetensors")]).unwrap();
    let (ids, shape) = io.host_ints("input_ids").unwrap();
    let (mask, _) = io.host_ints("attention_mask").unwrap();
    let (b, t) = (shape[0], shape[1]);
    let hidden = io.host("hidden_states.2", &[b, t, 32]).unwrap();
    let ids_t = Tensor::<1, Int>::from_ints(ids.as_slice(), &device).reshape([b, t]);
    let pad = Tensor::<1, Int>::from_ints(mask.as_slice(), &device)
        .reshape([b, t])
        .equal_elem(0);
    let got = bert.encode_text(ids_t.clone(), pad.clone()).unwrap();
    let got = got.into_data().try_to_vec::<f32>().unwrap();
    for r in 0..b {
        let keep: Vec<usize> = (0..t).filter(|&j| mask[r * t + j] != 0).collect();
        for d in 0..32 {
            let want = keep
                .iter()
                .map(|&j| hidden[(r * t + j) * 32 + d])
                .sum::<f32>()
                / keep.len() as f32;
            assert!(
                (got[r * 32 + d] - want).abs() < 1e-4,
                "row {r} dim {d}: {} vs {want}",
                got[r * 32 + d]
            );
        }
    }
    // ELSA with the loaded tower: the loss is finite and has gradients on the tower.
    let ad = device.clone().autodiff();
    let bert = PretrainedLm::from_dir(fixture(), &ad).unwrap();
    let audio = AudioEncoderConfig {
        semantic_channels: vec![4],
        spatial_channels: vec![4],
        d_embed: 8,
        ..AudioEncoderConfig::default()
    };
    let model = Elsa::new(&audio, bert, &ad).unwrap();
    let lm = Tensor::<4>::ones([b, 1, 16, 8], &ad);
    let iv = Tensor::<4>::zeros([b, 6, 16, 8], &ad);
    let out = model.audio.forward(lm, iv).unwrap();
    let text = model
        .embed_text(ids_t.to_device(&ad), pad.to_device(&ad))
        .unwrap();
    let aux = AuxTargets {
        direction: Tensor::<2>::zeros([b, 3], &ad),
        distance: Tensor::zeros([b], &ad),
        log_area: Tensor::zeros([b], &ad),
        mask: Tensor::zeros([b], &ad),
    };
    let loss = elsa_loss(&out, text, model.logit_scale.value(), &aux)
        .unwrap()
        .total(1.0);
    assert!(loss.clone().into_scalar::<f64>().is_finite());
    let g = burn::optim::GradientsParams::from_grads(loss.backward(), &model.text);
    assert!(
        global_grad_norm(&model.text, &g) > 0.0,
        "no gradient reached the loaded tower"
    );
}
