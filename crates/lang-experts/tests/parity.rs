//! flex, ndarray and wgpu (when compiled in) agree on this crate's forward captures under an
//! intervention, and on the expertise computed from them.

use burn::module::Module;
use ember_core::backend::parity_devices;
use ember_core::nn::TransformerConfig;
use ember_core::nn::intervention::{EditPositions, Site};
use ember_core::nn::{Intervention, UnitEdit};
use ember_lang_experts::capture::{CaptureConfig, Pooling, collect};
use ember_lang_experts::expertise::Expertise;

#[test]
fn backends_agree() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let sents: Vec<Vec<u32>> = (0..12)
        .map(|i| {
            (0..3 + i % 4)
                .map(|j| ((i * 3 + j) % 19 + 1) as u32)
                .collect()
        })
        .collect();
    let labels: Vec<bool> = (0..12).map(|i| i % 3 == 0).collect();
    let iv = Intervention::new()
        .with_at(Site::MlpPre, 0, 2, UnitEdit::Set(1.5))
        .with_at(Site::MlpOut, 1, 1, UnitEdit::Scale(0.3))
        .with(1, 4, UnitEdit::Set(-0.2))
        .with_positions(EditPositions::Range {
            from: 1,
            until: None,
        });
    let cfg_m = TransformerConfig::new(20, 16, 2, 2, 32, 8).with_causal(true);
    let dir = std::env::temp_dir().join(format!("le-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    devices[0].1.seed(5);
    cfg_m
        .init(&devices[0].1)
        .save_file(dir.join("m.bpk"))
        .unwrap();
    let mut runs = Vec::new();
    for (name, dev) in &devices {
        // the same weights on every backend: saved from the first, loaded by each
        let m = cfg_m.init(dev).load_file(dir.join("m.bpk"));
        let cfg = CaptureConfig {
            sites: vec![Site::MlpPre, Site::MlpAct, Site::MlpOut],
            pooling: Pooling::Mean,
            ..CaptureConfig::default()
        };
        let r = collect(&m, &sents, 0, &cfg, Some(&iv), dev).unwrap();
        let ex = Expertise::compute(&r, &labels).unwrap();
        runs.push((*name, r, ex));
    }
    let (n0, r0, e0) = &runs[0];
    for (n, r, e) in &runs[1..] {
        for (a, b) in r0.blocks.iter().flatten().zip(r.blocks.iter().flatten()) {
            assert!((a - b).abs() < 1e-4, "{n0} vs {n}: {a} vs {b}");
        }
        for (a, b) in e0.units.iter().zip(&e.units) {
            assert!((a.auroc - b.auroc).abs() < 0.05, "{n0} vs {n}");
        }
    }
}
