//! wav2vec2, HuBERT and WavLM encoders reproduce transformers' `*Model` (5.17, PyTorch,
//! float32) on every compiled backend: every tensor in `io.safetensors` (each layer's
//! hidden state, `last_hidden_state`, `extract_features` where returned) within 1e-4.

use std::path::PathBuf;

use burn::prelude::*;
use ember_core::backend::parity_devices;
use ember_core::pretrained::speech::waveform_batch;
use ember_core::pretrained::{SpeechEncoder, Weights};

use super::{TOL, dir, worst};

fn check_speech(arch: &str) {
    let io = Weights::from_files(&[dir(arch).join("io.safetensors")]).unwrap();
    let shape = io.shape("input_values").unwrap().to_vec();
    let samples = io.host("input_values", &shape).unwrap();
    let expected: Vec<String> = io
        .names()
        .filter(|n| *n != "input_values")
        .map(String::from)
        .collect();
    for (kind, device) in parity_devices() {
        let model = SpeechEncoder::from_dir(dir(arch), &device).unwrap();
        assert!(
            !model.normalizes(),
            "the reference fed input_values as they are"
        );
        let x = waveform_batch(samples.clone(), &shape, &device).unwrap();
        let out = model.forward(x).unwrap();
        assert_eq!(out.hidden_states.len(), model.n_layers() + 1, "{arch}");
        assert_eq!(
            out.last_hidden_state.dims()[1],
            model.num_frames(shape[1]),
            "{arch}: frames"
        );
        let mut report = Vec::new();
        for name in &expected {
            let ours = match name.as_str() {
                "last_hidden_state" => &out.last_hidden_state,
                "extract_features" => &out.extract_features,
                n => {
                    let i: usize = n
                        .strip_prefix("hidden_states.")
                        .and_then(|i| i.parse().ok())
                        .unwrap_or_else(|| panic!("{arch}: unexpected reference tensor {n}"));
                    &out.hidden_states[i]
                }
            };
            report.push((name.clone(), worst(ours, &io, name)));
        }
        for (name, d) in &report {
            assert!(
                *d <= TOL,
                "{arch} on {kind:?}: {name} differs by {d:e}: {report:?}"
            );
        }
        eprintln!(
            "{arch} {kind:?}: worst {:e} over {report:?}",
            report.iter().map(|r| r.1).fold(0.0, f32::max)
        );
    }
}

#[test]
fn wav2vec2_matches_reference() {
    check_speech("wav2vec2");
}

#[test]
fn hubert_matches_reference() {
    check_speech("hubert");
}

#[test]
fn wavlm_matches_reference() {
    check_speech("wavlm");
}

/// The configurations the transformers fixtures do not cover, against `reference.py` (a
/// NumPy re-implementation that matches transformers on the three fixtures above):
/// layer-norm conv stack with conv bias and pre-LN blocks (wav2vec2, WavLM), a task-head
/// checkpoint's `wavlm.` prefix, HuBERT without the projection's layer norm and with the old
/// `weight_g` / `weight_v` names.
#[test]
fn speech_variants_match_the_numpy_reference() {
    for v in ["wav2vec2-stable", "wavlm-stable", "hubert-noproj"] {
        check_speech(&format!("speech-variants/{v}"));
    }
}

/// Frames follow the conv stack (kernels 10, 3, 3; strides 5, 2, 2): 1,600 samples give 79,
/// 40 samples one, 39 none.
#[test]
fn speech_frame_counts_follow_the_conv_stack() {
    let model = SpeechEncoder::from_dir(dir("wav2vec2"), &Device::flex()).unwrap();
    assert_eq!(model.num_frames(1600), 79);
    assert_eq!(model.min_samples(), 40);
    assert_eq!(model.num_frames(40), 1);
    assert_eq!(model.num_frames(39), 0);
    let out = model
        .forward(waveform_batch(vec![0.1; 40], &[40], &Device::flex()).unwrap())
        .unwrap();
    assert_eq!(out.last_hidden_state.dims(), [1, 1, 32]);
}

/// Normalisation (`do_normalize`) equals feeding the normalised waveform, and a
/// `preprocessor_config.json` that asks for it turns it on.
#[test]
fn speech_normalisation_follows_the_preprocessor_config() {
    let device = Device::flex();
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hf-speech-normalize");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(dir("hubert").join(f), out_dir.join(f)).unwrap();
    }
    std::fs::write(
        out_dir.join("preprocessor_config.json"),
        r#"{"feature_extractor_type": "Wav2Vec2FeatureExtractor", "do_normalize": true, "sampling_rate": 16000}"#,
    )
    .unwrap();
    let model = SpeechEncoder::from_dir(&out_dir, &device).unwrap();
    assert!(model.normalizes());
    let raw: Vec<f32> = (0..800)
        .map(|i| (i as f32 * 0.05).sin() * 0.3 + 0.1)
        .collect();
    let mut norm = raw.clone();
    ember_core::pretrained::speech::normalize_waveform(&mut norm);
    let a = model
        .forward(waveform_batch(raw, &[800], &device).unwrap())
        .unwrap();
    let b = model
        .clone()
        .with_normalize(false)
        .forward(waveform_batch(norm, &[800], &device).unwrap())
        .unwrap();
    let a = ember_core::ops::to_host(a.last_hidden_state).unwrap();
    let b = ember_core::ops::to_host(b.last_hidden_state).unwrap();
    assert_eq!(a, b);
}

/// `save_pretrained` writes back exactly the tensors it read (the positional conv's
/// weight-norm pair included, unused tensors such as `masked_spec_embed` unchanged), so the
/// copy reproduces the outputs bit for bit.
#[test]
fn speech_save_pretrained_round_trips() {
    let device = Device::flex();
    for arch in [
        "wav2vec2",
        "hubert",
        "wavlm",
        "speech-variants/wavlm-stable",
        "speech-variants/hubert-noproj",
    ] {
        let model = SpeechEncoder::from_dir(dir(arch), &device).unwrap();
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hf-save-{}", arch.replace('/', "-")));
        model.save_pretrained(&out_dir).unwrap();
        let back = SpeechEncoder::from_dir(&out_dir, &device).unwrap();
        let x = || {
            let v: Vec<f32> = (0..1200)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 200.0)
                .collect();
            waveform_batch(v, &[2, 600], &device).unwrap()
        };
        let a = model.forward(x()).unwrap();
        let b = back.forward(x()).unwrap();
        for (ha, hb) in a.hidden_states.iter().zip(&b.hidden_states) {
            let ha = ember_core::ops::to_host(ha.clone()).unwrap();
            let hb = ember_core::ops::to_host(hb.clone()).unwrap();
            assert!(
                ha.iter().zip(&hb).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{arch}: round trip changed a hidden state"
            );
        }
        let orig = Weights::from_dir(dir(arch)).unwrap();
        let saved = Weights::from_dir(&out_dir).unwrap();
        let names: Vec<&str> = orig.names().collect();
        assert_eq!(names, saved.names().collect::<Vec<_>>(), "{arch}: names");
        for n in names {
            let s = orig.shape(n).unwrap().to_vec();
            assert_eq!(
                orig.host(n, &s).unwrap(),
                saved.host(n, &s).unwrap(),
                "{arch}: {n}"
            );
        }
    }
}
