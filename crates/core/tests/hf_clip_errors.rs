//! Bad CLIP checkpoints, images and token ids give clear errors, never a panic: a
//! checkpoint error names the file (and the tensor or key), an input error says what the
//! model takes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ember_core::pretrained::clip::open_image;
use ember_core::pretrained::{
    Clip, ClipImageProcessor, ClipVisionModel, PretrainedLm, Weights, WeightsWriter,
};

fn clip_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/clip")
}

/// A scratch copy of the CLIP fixture: config through `config`, then every tensor through
/// `tensor` (which may rename, reshape or drop it by returning `None`).
fn clip_copy(
    tag: &str,
    config: impl FnOnce(&mut serde_json::Value),
    mut tensor: impl FnMut(&str, &[usize], Vec<f32>) -> Option<(Vec<usize>, Vec<f32>)>,
) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hf-clip-{tag}"));
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(clip_dir().join("config.json")).unwrap()).unwrap();
    config(&mut cfg);
    fs::write(out.join("config.json"), cfg.to_string()).unwrap();
    let src = Weights::from_dir(clip_dir()).unwrap();
    let mut w = WeightsWriter::new();
    for name in src.names() {
        let shape = src.shape(name).unwrap().to_vec();
        if let Some((s, v)) = tensor(name, &shape, src.host(name, &shape).unwrap()) {
            w.add(name, &s, &v).unwrap();
        }
    }
    w.write(out.join("model.safetensors")).unwrap();
    out
}

fn keep(_: &str, s: &[usize], v: Vec<f32>) -> Option<(Vec<usize>, Vec<f32>)> {
    Some((s.to_vec(), v))
}

fn clip_err(dir: &Path) -> String {
    let e = Clip::from_dir(dir, &Device::flex())
        .err()
        .unwrap_or_else(|| panic!("{} loaded, an error was expected", dir.display()));
    e.to_string()
}

#[test]
fn unknown_model_type_names_the_config() {
    let d = clip_copy("type", |v| v["model_type"] = "siglip".into(), keep);
    let e = clip_err(&d);
    assert!(
        e.contains("config.json") && e.contains("siglip") && e.contains("\"clip\""),
        "{e}"
    );
    // The vision-only loader also reads clip_vision_model; the full one points to it.
    let d = clip_copy(
        "vtype",
        |v| v["model_type"] = "clip_vision_model".into(),
        keep,
    );
    assert!(clip_err(&d).contains("ClipVisionModel::from_dir"));
    // A language-model loader given CLIP says which loader to use.
    let e = PretrainedLm::from_dir(clip_dir(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(e.contains("Clip::from_dir"), "{e}");
}

#[test]
fn missing_files_are_named() {
    let d = clip_copy("nofiles", |_| {}, keep);
    fs::remove_file(d.join("model.safetensors")).unwrap();
    assert!(clip_err(&d).contains("model.safetensors"));
    fs::remove_file(d.join("config.json")).unwrap();
    assert!(clip_err(&d).contains("config.json"));
}

#[test]
fn missing_tensors_are_named() {
    for name in [
        "vision_model.pre_layrnorm.weight",
        "vision_model.embeddings.class_embedding",
        "text_model.encoder.layers.1.mlp.fc2.bias",
        "text_model.final_layer_norm.weight",
        "visual_projection.weight",
        "text_projection.weight",
        "logit_scale",
    ] {
        let d = clip_copy(
            "missing",
            |_| {},
            |n, s, v| (n != name).then(|| (s.to_vec(), v)),
        );
        let e = clip_err(&d);
        assert!(
            e.contains("model.safetensors") && e.contains(name) && e.contains("missing"),
            "without {name}: {e}"
        );
    }
    // The image tower alone needs no text weights.
    let d = clip_copy(
        "vision-only",
        |_| {},
        |n, s, v| (!n.starts_with("text_")).then(|| (s.to_vec(), v)),
    );
    ClipVisionModel::from_dir(&d, &Device::flex()).unwrap();
}

#[test]
fn misshaped_tensors_are_named_with_both_shapes() {
    let d = clip_copy(
        "shape",
        |_| {},
        |n, s, v| {
            if n == "vision_model.embeddings.patch_embedding.weight" {
                Some((vec![s[0], s[1], 4, 16], v))
            } else {
                Some((s.to_vec(), v))
            }
        },
    );
    let e = clip_err(&d);
    assert!(
        e.contains("patch_embedding.weight")
            && e.contains("[32, 3, 4, 16]")
            && e.contains("[32, 3, 8, 8]"),
        "{e}"
    );
    // The config's image size disagrees with the stored position table (17 positions).
    let d = clip_copy(
        "imgsize",
        |v| v["vision_config"]["image_size"] = 40.into(),
        keep,
    );
    let e = clip_err(&d);
    assert!(
        e.contains("position_embedding") && e.contains("[17, 32]"),
        "{e}"
    );
    // logit_scale must be a scalar.
    let d = clip_copy(
        "scale",
        |_| {},
        |n, s, v| {
            Some(if n == "logit_scale" {
                (vec![1], v)
            } else {
                (s.to_vec(), v)
            })
        },
    );
    assert!(clip_err(&d).contains("logit_scale"));
}

#[test]
fn config_fields_out_of_range_are_named() {
    for (section, key, val) in [
        ("vision_config", "patch_size", serde_json::json!(5)),
        ("vision_config", "num_attention_heads", serde_json::json!(3)),
        ("text_config", "hidden_act", serde_json::json!("swishy")),
        ("text_config", "vocab_size", serde_json::json!(0)),
        ("text_config", "layer_norm_eps", serde_json::json!(-1.0)),
    ] {
        let d = clip_copy(
            &format!("range-{key}"),
            |v| v[section][key] = val.clone(),
            keep,
        );
        let e = clip_err(&d);
        assert!(e.contains("config.json"), "{key}: {e}");
        assert!(e.contains(key) || e.contains("swishy"), "{key}: {e}");
    }
}

#[test]
fn truncated_and_corrupt_weight_files_are_errors_not_panics() {
    let d = clip_copy("corrupt", |_| {}, keep);
    common::damaged_weights_are_errors(&d, |dir| Clip::from_dir(dir, &Device::flex()));
    fs::write(d.join("config.json"), "{\"model_type\": \"clip\",").unwrap();
    assert!(clip_err(&d).contains("config.json"));
    // Non-finite weights.
    let d = clip_copy(
        "nan",
        |_| {},
        |n, s, mut v| {
            if n == "text_model.encoder.layers.0.layer_norm2.bias" {
                v[3] = f32::NAN;
            }
            Some((s.to_vec(), v))
        },
    );
    let e = clip_err(&d);
    assert!(
        e.contains("layer_norm2.bias") && e.contains("non-finite"),
        "{e}"
    );
}

fn ids(v: &[i64], t: usize, dev: &Device) -> Tensor<2, Int> {
    Tensor::<1, Int>::from_data(TensorData::new(v.to_vec(), [v.len()]), dev)
        .reshape([v.len() / t, t])
}

#[test]
fn bad_pixels_are_shape_errors() {
    let dev = Device::flex();
    let model = Clip::from_dir(clip_dir(), &dev).unwrap();
    for shape in [
        [1, 1, 32, 32],
        [1, 3, 24, 32],
        [1, 3, 224, 224],
        [0, 3, 32, 32],
    ] {
        let x = Tensor::<4>::zeros(shape, &dev);
        let e = model.image_features(x).unwrap_err().to_string();
        assert!(
            e.contains("[B ≥ 1, 3, 32, 32]") && e.contains(&format!("{shape:?}")),
            "{e}"
        );
    }
    // The right shape passes.
    model
        .image_features(Tensor::<4>::zeros([1, 3, 32, 32], &dev))
        .unwrap();
}

#[test]
fn bad_token_ids_are_errors() {
    let dev = Device::flex();
    let model = Clip::from_dir(clip_dir(), &dev).unwrap();
    for bad in [100, -1, 1 << 20] {
        let e = model
            .text_features(ids(&[98, 5, bad, 99], 4, &dev))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&bad.to_string()) && e.contains("0..100"), "{e}");
    }
    // Longer than max_position_embeddings (16).
    let e = model
        .text_features(ids(&[5; 17], 17, &dev))
        .unwrap_err()
        .to_string();
    assert!(e.contains("17") && e.contains("at most 16"), "{e}");
    let e = model
        .text_features(Tensor::<2, Int>::zeros([0, 4], &dev))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn unreadable_images_and_bad_preprocessor_configs_are_named() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hf-clip-images");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("nope.png");
    let e = open_image(&missing).unwrap_err().to_string();
    assert!(e.contains("nope.png"), "{e}");
    let garbage = dir.join("garbage.jpg");
    fs::write(&garbage, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let e = open_image(&garbage).unwrap_err().to_string();
    assert!(e.contains("garbage.jpg") && e.contains("image"), "{e}");
    let text = dir.join("text.png");
    fs::write(&text, "hello").unwrap();
    assert!(
        open_image(&text)
            .unwrap_err()
            .to_string()
            .contains("text.png")
    );

    for (json, key) in [
        (r#"{"image_mean": [0.5, 0.5]}"#, "image_mean"),
        (r#"{"image_std": [0.5, 0.0, 0.5]}"#, "image_std"),
        (r#"{"resample": 7}"#, "resample"),
        (r#"{"size": {"height": 20, "width": 20}}"#, "size"),
        (r#"{"crop_size": -3}"#, "crop_size"),
        ("[1, 2]", "JSON object"),
    ] {
        fs::write(dir.join("preprocessor_config.json"), json).unwrap();
        let e = ClipImageProcessor::from_dir(&dir).unwrap_err().to_string();
        assert!(
            e.contains("preprocessor_config.json") && e.contains(key),
            "{json}: {e}"
        );
    }
    // Images that cannot be preprocessed.
    let p = ClipImageProcessor::default();
    let dev = Device::flex();
    assert!(
        p.preprocess(&[], &dev)
            .unwrap_err()
            .to_string()
            .contains("no images")
    );
    let empty = image::DynamicImage::new_rgb8(0, 5);
    assert!(
        p.preprocess(&[empty], &dev)
            .unwrap_err()
            .to_string()
            .contains("empty image")
    );
}
