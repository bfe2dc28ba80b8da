//! Backend parity (flex vs ndarray, and wgpu when compiled in) of the representation
//! extraction (masked mean-pooled hidden states of every layer) and of the text ABX path on
//! those representations. Weights move between backends through a burnpack file.

use burn::module::Module;
use ember_abx::repr::{Pooling, pool_layers};
use ember_abx::text::{ParallelEmbeddings, text_abx};
use ember_core::backend::parity_devices;
use ember_core::data::tokenizer::{BatchOptions, Tokenizer, TokenizerConfig};
use ember_core::nn::TransformerConfig;

#[test]
fn pooled_layers_and_text_abx_agree_across_backends() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let texts = [
        "ka lo mi",
        "pa lo",
        "ka mi su te",
        "lo lo pa",
        "te su ka mi",
        "mi pa",
        "su ka",
        "pa te lo mi su",
    ];
    let tok = Tokenizer::fit(
        texts.iter().copied(),
        &TokenizerConfig {
            min_freq: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let batch = tok
        .encode_batch(
            &texts,
            &BatchOptions {
                max_len: 8,
                ..Default::default()
            },
        )
        .unwrap();
    let cfg = TransformerConfig::new(tok.vocab_size(), 16, 4, 2, 32, 8);
    let dir = std::env::temp_dir().join(format!("ember-abx-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.bpk");
    devices[0].1.seed(3);
    cfg.init(&devices[0].1).save_file(&path).unwrap();
    let mut outs = Vec::new();
    for (kind, d) in &devices {
        let m = cfg.init(d).load_file(&path);
        let layers = pool_layers(&m, &batch, &tok, Pooling::MeanNoSpecials, 3, d).unwrap();
        assert_eq!(layers.len(), 3);
        assert!(layers.iter().all(|l| l.len() == texts.len() * 16));
        // texts as 2 "languages" × 4 "meanings"
        let emb = ParallelEmbeddings::new(vec!["a".into(), "b".into()], 4, 16, layers[2].clone())
            .unwrap();
        let (ld, md) = text_abx(&emb).unwrap();
        outs.push((kind.to_string(), layers, ld.mean_error(), md.mean_error()));
    }
    let (k0, l0, ld0, md0) = &outs[0];
    for (k, l, ld, md) in &outs[1..] {
        for (a, b) in l0.iter().flatten().zip(l.iter().flatten()) {
            assert!(
                (a - b).abs() <= 2e-4 + 2e-4 * a.abs(),
                "{k0} vs {k}: {a} vs {b}"
            );
        }
        // no near-ties at this size: the ABX errors are identical
        assert_eq!((ld0, md0), (ld, md), "{k0} vs {k}");
    }
}
