//! Bad speech-encoder checkpoints and bad waveforms give clear errors, never a panic:
//! a checkpoint error names the file (and the tensor or key), a waveform error says what
//! is wrong with which utterance. Also: language-model and speech folders passed to the
//! wrong loader say which loader to use.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ember_core::pretrained::speech::waveform_batch;
use ember_core::pretrained::{PretrainedLm, SpeechEncoder, Weights, WeightsWriter};

fn fixture(arch: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hf")
        .join(arch)
}

/// A scratch copy of `arch`'s config and weights, each tensor passed through `edit`
/// (`None` drops it) and the config JSON through `config`.
fn variant(
    arch: &str,
    tag: &str,
    config: impl FnOnce(&mut serde_json::Value),
    mut edit: impl FnMut(&str, Vec<usize>, Vec<f32>) -> Kept,
) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hf-speech-{arch}-{tag}"));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    let text = fs::read_to_string(fixture(arch).join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    config(&mut v);
    fs::write(d.join("config.json"), v.to_string()).unwrap();
    let w = Weights::from_dir(fixture(arch)).unwrap();
    let mut out = WeightsWriter::new();
    for n in w.names() {
        let shape = w.shape(n).unwrap().to_vec();
        let vals = w.host(n, &shape).unwrap();
        if let Some((s, v)) = edit(n, shape, vals) {
            out.add(n, &s, &v).unwrap();
        }
    }
    out.write(d.join("model.safetensors")).unwrap();
    d
}

/// A tensor as kept: `(shape, values)`.
type Kept = Option<(Vec<usize>, Vec<f32>)>;

fn same(_: &str, s: Vec<usize>, v: Vec<f32>) -> Kept {
    Some((s, v))
}

fn without(name: &'static str) -> impl FnMut(&str, Vec<usize>, Vec<f32>) -> Kept {
    move |n, s, v| (n != name).then_some((s, v))
}

fn speech_err(dir: &Path) -> String {
    match SpeechEncoder::from_dir(dir, &Device::flex()) {
        Ok(_) => panic!("{} loaded, an error was expected", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_model_type_names_the_config() {
    let d = variant(
        "wav2vec2",
        "type",
        |v| v["model_type"] = "data2vec-audio".into(),
        same,
    );
    let e = speech_err(&d);
    assert!(
        e.contains("config.json")
            && e.contains("data2vec-audio")
            && e.contains("wav2vec2, hubert, wavlm"),
        "{e}"
    );
}

#[test]
fn the_wrong_loader_points_to_the_right_one() {
    let e = speech_err(&fixture("bert"));
    assert!(
        e.contains("language model") && e.contains("PretrainedLm::from_dir"),
        "{e}"
    );
    let e = PretrainedLm::from_dir(fixture("wavlm"), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.json")
            && e.contains("speech encoder")
            && e.contains("SpeechEncoder::from_dir"),
        "{e}"
    );
}

#[test]
fn missing_tensors_are_named() {
    for (arch, name) in [
        ("wav2vec2", "encoder.layers.1.attention.q_proj.weight"),
        (
            "hubert",
            "feature_extractor.conv_layers.0.layer_norm.weight",
        ),
        ("wavlm", "encoder.layers.0.attention.rel_attn_embed.weight"),
        ("wavlm", "encoder.layers.1.attention.gru_rel_pos_const"),
        (
            "wav2vec2",
            "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
        ),
    ] {
        let d = variant(arch, "missing", |_| {}, without(name));
        let e = speech_err(&d);
        assert!(
            e.contains("model.safetensors") && e.contains(name) && e.contains("missing"),
            "{arch} without {name}: {e}"
        );
    }
    // A folder without any weights, and one without a config.
    let d = variant("hubert", "no-weights", |_| {}, same);
    fs::remove_file(d.join("model.safetensors")).unwrap();
    assert!(speech_err(&d).contains("model.safetensors"));
    fs::remove_file(d.join("config.json")).unwrap();
    assert!(speech_err(&d).contains("config.json"));
}

#[test]
fn misshaped_tensors_are_named_with_both_shapes() {
    let d = variant(
        "wav2vec2",
        "shape",
        |_| {},
        |n, s, v| {
            if n == "feature_extractor.conv_layers.1.conv.weight" {
                Some((vec![s[2], s[1], s[0]], v))
            } else {
                Some((s, v))
            }
        },
    );
    let e = speech_err(&d);
    assert!(
        e.contains("conv_layers.1.conv.weight")
            && e.contains("[3, 16, 16]")
            && e.contains("[16, 16, 3]"),
        "{e}"
    );
    // The config's kernel disagrees with the stored positional conv.
    let d = variant(
        "wavlm",
        "pos-kernel",
        |v| v["num_conv_pos_embeddings"] = 8.into(),
        same,
    );
    let e = speech_err(&d);
    assert!(
        e.contains("pos_conv_embed") && e.contains("[1, 1, 16]"),
        "{e}"
    );
}

#[test]
fn config_fields_out_of_range_are_named() {
    for (key, val) in [
        ("conv_kernel", serde_json::json!([10, 3])),
        ("conv_stride", serde_json::json!([5, 0, 2])),
        ("conv_dim", serde_json::json!("16")),
        ("feat_extract_norm", serde_json::json!("batch")),
        ("num_conv_pos_embedding_groups", serde_json::json!(5)),
        ("num_attention_heads", serde_json::json!(3)),
        ("feat_extract_activation", serde_json::json!("swishy")),
        ("num_feat_extract_layers", serde_json::json!(4)),
        ("add_adapter", serde_json::json!(true)),
    ] {
        let d = variant(
            "wav2vec2",
            &format!("range-{key}"),
            |v| v[key] = val.clone(),
            same,
        );
        let e = speech_err(&d);
        assert!(e.contains("config.json"), "{key}: {e}");
        assert!(e.contains(key) || e.contains("swishy"), "{key}: {e}");
    }
    let d = variant(
        "hubert",
        "bn",
        |v| v["conv_pos_batch_norm"] = true.into(),
        same,
    );
    assert!(speech_err(&d).contains("conv_pos_batch_norm"));
    let d = variant("wavlm", "buckets", |v| v["num_buckets"] = 2.into(), same);
    assert!(speech_err(&d).contains("num_buckets"));
}

#[test]
fn truncated_and_corrupt_weight_files_are_errors_not_panics() {
    let d = variant("wavlm", "corrupt", |_| {}, same);
    common::damaged_weights_are_errors(&d, |dir| SpeechEncoder::from_dir(dir, &Device::flex()));
}

#[test]
fn degenerate_weights_are_refused() {
    let d = variant(
        "hubert",
        "nan",
        |_| {},
        |n, s, mut v| {
            if n == "encoder.layers.0.final_layer_norm.bias" {
                v[2] = f32::INFINITY;
            }
            Some((s, v))
        },
    );
    let e = speech_err(&d);
    assert!(
        e.contains("final_layer_norm.bias") && e.contains("non-finite"),
        "{e}"
    );
    // A zero weight-norm direction has no norm to divide by.
    let d = variant(
        "wav2vec2",
        "zero-v",
        |_| {},
        |n, s, v| {
            if n.ends_with("parametrizations.weight.original1") {
                Some((s, vec![0.0; v.len()]))
            } else {
                Some((s, v))
            }
        },
    );
    let e = speech_err(&d);
    assert!(e.contains("original1") && e.contains("weight norm"), "{e}");
}

#[test]
fn bad_waveforms_are_errors() {
    let dev = Device::flex();
    let model = SpeechEncoder::from_dir(fixture("wav2vec2"), &dev).unwrap();
    // Rank: a waveform batch is [N] or [B, N].
    let e = waveform_batch(vec![0.0; 800], &[2, 1, 400], &dev)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rank 3") && e.contains("[batch, samples]"),
        "{e}"
    );
    let e = waveform_batch(vec![0.0; 10], &[], &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank 0"), "{e}");
    let e = waveform_batch(vec![0.0; 799], &[2, 400], &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("800") && e.contains("799"), "{e}");
    // Too short for the conv stack (40 samples make one frame here).
    for n in [0, 1, 39] {
        let x = waveform_batch(vec![0.1; 2 * n], &[2, n], &dev).unwrap();
        let e = model.forward(x).unwrap_err().to_string();
        assert!(
            e.contains("too short") && e.contains("at least 40"),
            "{n}: {e}"
        );
    }
    let e = model
        .forward(waveform_batch(vec![], &[0, 400], &dev).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    // Non-finite samples, with or without normalisation.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut v = vec![0.01f32; 800];
        v[400 + 17] = bad;
        for m in [model.clone(), model.clone().with_normalize(true)] {
            let e = m
                .forward(waveform_batch(v.clone(), &[2, 400], &dev).unwrap())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("non-finite") && e.contains("waveform 1") && e.contains("index 17"),
                "{e}"
            );
        }
    }
}
