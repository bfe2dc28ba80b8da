//! Bad checkpoint folders give clear errors that name the file (and the tensor or key),
//! never a panic: unknown `model_type`, missing / mis-shaped tensors, out-of-range config
//! fields, truncated or corrupt weight files, broken shard indexes, out-of-vocabulary ids.
//! Also: f16 / bf16 checkpoints load as f32, and sharded checkpoints load.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ember_core::nn::{ForwardOptions, LanguageModel, TransformerInput};
use ember_core::pretrained::{PretrainedLm, Weights};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn fixture(arch: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hf")
        .join(arch)
}

/// A scratch copy of a fixture folder (config + weights) under the target dir.
fn scratch(arch: &str, tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hf-{arch}-{tag}"));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        fs::copy(fixture(arch).join(f), d.join(f)).unwrap();
    }
    d
}

fn load_err(dir: &Path) -> String {
    match PretrainedLm::from_dir(dir, &Device::flex()) {
        Ok(_) => panic!("{} loaded, an error was expected", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Rewrite `model.safetensors` through `f(name, shape, values) -> Option<(name, shape, values)>`.
fn rewrite_weights(
    dir: &Path,
    mut f: impl FnMut(&str, &[usize], Vec<f32>) -> Option<(String, Vec<usize>, Vec<f32>)>,
) {
    let w = Weights::from_dir(dir).unwrap();
    let mut out = ember_core::pretrained::WeightsWriter::new();
    let names: Vec<String> = w.names().map(String::from).collect();
    for n in names {
        let shape = w.shape(&n).unwrap().to_vec();
        let v = w.host(&n, &shape).unwrap();
        if let Some((n2, s2, v2)) = f(&n, &shape, v) {
            out.add(n2, &s2, &v2).unwrap();
        }
    }
    drop(w);
    out.write(dir.join("model.safetensors")).unwrap();
}

#[test]
fn unknown_model_type_names_the_config() {
    let d = scratch("llama", "unknown-type");
    edit_config(&d, |v| v["model_type"] = "mamba".into());
    let e = load_err(&d);
    assert!(
        e.contains("config.json") && e.contains("mamba") && e.contains("not supported"),
        "{e}"
    );
}

#[test]
fn missing_config_and_missing_weights_are_named() {
    let d = scratch("gpt2", "missing");
    fs::remove_file(d.join("model.safetensors")).unwrap();
    let e = load_err(&d);
    assert!(e.contains("model.safetensors"), "{e}");
    fs::remove_file(d.join("config.json")).unwrap();
    let e = load_err(&d);
    assert!(e.contains("config.json"), "{e}");
}

#[test]
fn missing_tensor_is_named() {
    let d = scratch("llama", "missing-tensor");
    rewrite_weights(&d, |n, s, v| {
        (n != "model.layers.1.mlp.up_proj.weight").then(|| (n.into(), s.to_vec(), v))
    });
    let e = load_err(&d);
    assert!(
        e.contains("model.safetensors")
            && e.contains("model.layers.1.mlp.up_proj.weight")
            && e.contains("missing"),
        "{e}"
    );
}

#[test]
fn misshaped_tensor_is_named_with_both_shapes() {
    let d = scratch("bert", "misshaped");
    rewrite_weights(&d, |n, s, v| {
        if n == "bert.encoder.layer.0.intermediate.dense.weight" {
            Some((n.into(), vec![s[1], s[0]], v))
        } else {
            Some((n.into(), s.to_vec(), v))
        }
    });
    let e = load_err(&d);
    assert!(
        e.contains("intermediate.dense.weight") && e.contains("[32, 64]") && e.contains("[64, 32]"),
        "{e}"
    );
}

#[test]
fn config_fields_out_of_range_are_named() {
    for (key, val) in [
        ("num_attention_heads", serde_json::json!(5)),
        ("num_key_value_heads", serde_json::json!(3)),
        ("hidden_size", serde_json::json!(0)),
        ("vocab_size", serde_json::json!(-4)),
        ("rms_norm_eps", serde_json::json!(-1.0)),
        ("num_hidden_layers", serde_json::json!("two")),
        ("hidden_act", serde_json::json!("swishy")),
    ] {
        let d = scratch("llama", &format!("range-{key}"));
        edit_config(&d, |v| v[key] = val.clone());
        let e = load_err(&d);
        assert!(e.contains("config.json"), "{key}: {e}");
        assert!(e.contains(key) || e.contains("swishy"), "{key}: {e}");
    }
    let d = scratch("llama", "rope-type");
    edit_config(&d, |v| v["rope_parameters"]["rope_type"] = "yarn".into());
    assert!(load_err(&d).contains("yarn"));
}

#[test]
fn truncated_and_corrupt_weight_files_are_errors_not_panics() {
    let d = scratch("gpt2", "corrupt");
    let good = fs::read(d.join("model.safetensors")).unwrap();
    for cut in [0, 4, 8, 100, good.len() / 2, good.len() - 1] {
        fs::write(d.join("model.safetensors"), &good[..cut]).unwrap();
        let e = load_err(&d);
        assert!(e.contains("model.safetensors"), "cut {cut}: {e}");
    }
    // Random single-byte damage anywhere: a clear error or (if it hit a weight value) a
    // model that loads; never a panic. Damage in the header must be an error.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut header_errors = 0;
    for i in 0..300 {
        let mut bad = good.clone();
        let pos = if i % 2 == 0 {
            rng.random_range(0..header)
        } else {
            rng.random_range(0..bad.len())
        };
        bad[pos] ^= 1 << rng.random_range(0..8);
        fs::write(d.join("model.safetensors"), &bad).unwrap();
        let r = PretrainedLm::from_dir(&d, &Device::flex());
        if pos < header && r.is_err() {
            header_errors += 1;
        }
    }
    assert!(
        header_errors > 100,
        "header damage detected only {header_errors} times of 150"
    );
}

#[test]
fn non_finite_weights_are_refused() {
    let d = scratch("qwen2", "nan");
    rewrite_weights(&d, |n, s, mut v| {
        if n == "model.norm.weight" {
            v[3] = f32::NAN;
        }
        Some((n.into(), s.to_vec(), v))
    });
    let e = load_err(&d);
    assert!(
        e.contains("model.norm.weight") && e.contains("non-finite"),
        "{e}"
    );
}

#[test]
fn out_of_vocabulary_ids_are_an_error() {
    let model = PretrainedLm::from_dir(fixture("gpt2"), &Device::flex()).unwrap();
    let dev = Device::flex();
    for bad in [128i64, -1] {
        let ids = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, bad, 3], [3]), &dev)
            .reshape([1, 3]);
        let e = model
            .forward_with(TransformerInput::Tokens(ids), ForwardOptions::logits())
            .unwrap_err();
        assert!(e.to_string().contains("outside the vocabulary"), "{e}");
    }
    // Too long for the position table.
    let ids = Tensor::<2, Int>::zeros([1, 65], &dev);
    assert!(
        model
            .forward_with(TransformerInput::Tokens(ids), ForwardOptions::logits())
            .is_err()
    );
}

/// f16 / bf16 checkpoints load as f32 and agree with the f32 model to the cast's precision.
#[test]
fn half_precision_checkpoints_load_as_f32() {
    use safetensors::tensor::{Dtype, TensorView};
    let src = Weights::from_dir(fixture("llama")).unwrap();
    let dev = Device::flex();
    let reference = PretrainedLm::from_dir(fixture("llama"), &dev).unwrap();
    let ids = || {
        Tensor::<1, Int>::from_data(TensorData::new((0..10i64).collect::<Vec<_>>(), [10]), &dev)
            .reshape([1, 10])
    };
    let want = ember_core::ops::to_host(
        reference
            .forward_with(TransformerInput::Tokens(ids()), ForwardOptions::logits())
            .unwrap()
            .logits
            .unwrap(),
    )
    .unwrap();
    for (dtype, tol) in [(Dtype::F16, 0.05f32), (Dtype::BF16, 0.3)] {
        let d = scratch("llama", &format!("{dtype:?}"));
        let mut bufs = Vec::new();
        for n in src.names() {
            let shape = src.shape(n).unwrap().to_vec();
            let v = src.host(n, &shape).unwrap();
            let bytes: Vec<u8> = match dtype {
                Dtype::F16 => v
                    .iter()
                    .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                    .collect(),
                _ => v
                    .iter()
                    .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
                    .collect(),
            };
            bufs.push((n.to_string(), shape, bytes));
        }
        let views: Vec<(String, TensorView<'_>)> = bufs
            .iter()
            .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize_to_file(views, None, &d.join("model.safetensors")).unwrap();
        let m = PretrainedLm::from_dir(&d, &dev).unwrap();
        let got = ember_core::ops::to_host(
            m.forward_with(TransformerInput::Tokens(ids()), ForwardOptions::logits())
                .unwrap()
                .logits
                .unwrap(),
        )
        .unwrap();
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < tol, "{dtype:?}: logits differ by {worst}");
        assert!(worst > 0.0, "{dtype:?}: the cast should change something");
    }
}

/// A checkpoint split into shards with an index loads to the same model; a broken index is
/// an error naming the index.
#[test]
fn sharded_checkpoints_load_and_broken_indexes_are_named() {
    let d = scratch("gpt-neox", "sharded");
    let src = Weights::from_dir(&d).unwrap();
    let names: Vec<String> = src.names().map(String::from).collect();
    let mut shards = [
        ember_core::pretrained::WeightsWriter::new(),
        ember_core::pretrained::WeightsWriter::new(),
    ];
    let mut map = serde_json::Map::new();
    for (i, n) in names.iter().enumerate() {
        let s = src.shape(n).unwrap().to_vec();
        shards[i % 2]
            .add(n.clone(), &s, &src.host(n, &s).unwrap())
            .unwrap();
        map.insert(
            n.clone(),
            format!("model-0000{}-of-00002.safetensors", i % 2 + 1).into(),
        );
    }
    drop(src);
    for (i, s) in shards.iter().enumerate() {
        s.write(d.join(format!("model-0000{}-of-00002.safetensors", i + 1)))
            .unwrap();
    }
    fs::remove_file(d.join("model.safetensors")).unwrap();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let dev = Device::flex();
    let a = PretrainedLm::from_dir(&d, &dev).unwrap();
    let b = PretrainedLm::from_dir(fixture("gpt-neox"), &dev).unwrap();
    let ids = || Tensor::<2, Int>::ones([1, 4], &dev);
    let la = ember_core::ops::to_host(
        a.forward_with(TransformerInput::Tokens(ids()), ForwardOptions::logits())
            .unwrap()
            .logits
            .unwrap(),
    )
    .unwrap();
    let lb = ember_core::ops::to_host(
        b.forward_with(TransformerInput::Tokens(ids()), ForwardOptions::logits())
            .unwrap()
            .logits
            .unwrap(),
    )
    .unwrap();
    assert_eq!(la, lb);

    // The index points at a shard that does not exist.
    let mut broken = map.clone();
    broken.insert(names[0].clone(), "model-00009-of-00002.safetensors".into());
    fs::write(
        d.join("model.safetensors.index.json"),
        serde_json::json!({"weight_map": broken}).to_string(),
    )
    .unwrap();
    let e = load_err(&d);
    assert!(e.contains("model-00009-of-00002.safetensors"), "{e}");
    // A shard name that leaves the folder.
    let mut escape = map.clone();
    escape.insert(names[0].clone(), "../model.safetensors".into());
    fs::write(
        d.join("model.safetensors.index.json"),
        serde_json::json!({"weight_map": escape}).to_string(),
    )
    .unwrap();
    let e = load_err(&d);
    assert!(e.contains("index.json") && e.contains("leaves"), "{e}");
    // Not JSON.
    fs::write(d.join("model.safetensors.index.json"), "{\"weight_map\": ").unwrap();
    let e = load_err(&d);
    assert!(e.contains("index.json"), "{e}");
}
