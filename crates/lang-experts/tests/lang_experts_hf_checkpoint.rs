//! Acceptance F: the method runs on a loaded Hugging Face checkpoint (the tiny random `gpt2`
//! fixture of transformers 5.17, committed under `tests/data/hf/gpt2`): the captured MLP
//! units match transformers' `mlp_act`, the new pre-activation site is consistent with them,
//! and expert finding, forcing, embeddings and sampling run unchanged.

use burn::prelude::*;
use ember_core::nn::intervention::Site;
use ember_core::nn::{ForwardOptions, LanguageModel, TransformerInput};
use ember_core::pretrained::{PretrainedLm, Weights};
use ember_lang_experts::analysis::embeddings;
use ember_lang_experts::capture::{CaptureConfig, Pooling, collect};
use ember_lang_experts::expertise::{Expertise, Metric};
use ember_lang_experts::intervene::{ForceValue, SampleOptions, force_experts, sample};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/gpt2")
}

fn gelu_new(x: f32) -> f32 {
    0.5 * x * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
}

#[test]
fn captures_match_transformers_and_the_method_runs() {
    let dev = ember_core::backend::device_by_name("flex").unwrap();
    let model = PretrainedLm::from_dir(fixture(), &dev).unwrap();
    let io = Weights::from_files(&[fixture().join("io.safetensors")]).unwrap();
    let (ids, shape) = io.host_ints("input_ids").unwrap();
    let t = shape[1];
    let row0: Vec<u32> = ids[..t].iter().map(|&x| x as u32).collect();
    let want = io.host("mlp_act.0", &[2, t, model.d_ff()]).unwrap();
    // the pre-activation site: gelu_new(pre) is transformers' mlp_act
    let x = Tensor::<1, Int>::from_data(
        TensorData::new(row0.iter().map(|&v| v as i64).collect::<Vec<_>>(), [t]),
        &dev,
    )
    .reshape([1, t]);
    let o = model
        .forward_with(
            TransformerInput::Tokens(x),
            ForwardOptions::default().with_mlp_pre().with_mlp_out(),
        )
        .unwrap();
    let pre = o.mlp_pre[0]
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(o.mlp_out[0].dims(), [1, t, model.d_model()]);
    for (i, p) in pre.iter().enumerate() {
        assert!((gelu_new(*p) - want[i]).abs() < 1e-4, "unit {i}");
    }
    // pooled max of the act site over row 0 equals the max of transformers' mlp_act
    let cfg = CaptureConfig {
        sites: vec![Site::MlpAct],
        layers: Some(vec![0]),
        pooling: Pooling::Max,
        batch_size: 4,
    };
    let r = collect(&model, std::slice::from_ref(&row0), 0, &cfg, None, &dev).unwrap();
    let f = model.d_ff();
    for u in 0..f {
        let m = (0..t)
            .map(|p| want[p * f + u])
            .fold(f32::NEG_INFINITY, f32::max);
        assert!((r.blocks[0][u] - m).abs() < 1e-4);
    }
    // the method end to end: experts of "sentences starting with token 5" on the default sites
    let sents: Vec<Vec<u32>> = (0..16)
        .map(|i| {
            vec![
                (5 + (i % 2) * 20) as u32,
                (i * 7 % 100) as u32,
                3,
                (i % 5) as u32,
            ]
        })
        .collect();
    let labels: Vec<bool> = (0..16).map(|i| i % 2 == 0).collect();
    let r = collect(&model, &sents, 0, &CaptureConfig::default(), None, &dev).unwrap();
    assert_eq!(
        r.index.n_units(),
        model.n_layers() * (model.d_ff() + model.d_model())
    );
    let ex = Expertise::compute(&r, &labels).unwrap();
    let top = ex.top_k(Metric::Auroc, 8);
    assert!(
        ex.units[top[0]].auroc > 0.9,
        "the first token is linearly visible"
    );
    let iv = force_experts(&ex, &top, ForceValue::Mean).unwrap();
    let last = model.n_layers();
    let pre = embeddings(&model, &sents, 0, &[last], None, 8, &dev).unwrap();
    let post = embeddings(&model, &sents, 0, &[last], Some(&iv), 8, &dev).unwrap();
    assert_eq!(pre[0].len(), 16 * model.d_model());
    assert_ne!(pre, post, "the intervention moves the embeddings");
    let g = sample(
        &model,
        &[vec![5, 6]],
        Some(&iv),
        &SampleOptions::default(),
        0,
        &dev,
    )
    .unwrap();
    assert_eq!(g[0].len(), 16);
}

/// The `--model DIR --flores DIR` runner on the fixture's weights, a word-level
/// `tokenizer.json` (ids within the model's 128) and a FLORES folder written here.
#[test]
fn checkpoint_runner_on_user_files() {
    use ember_lang_experts::checkpoint::CheckpointRun;
    let dir = std::env::temp_dir().join(format!("le-ckpt-{}", std::process::id()));
    let model = dir.join("model");
    let data = dir.join("flores");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture().join(f), model.join(f)).unwrap();
    }
    let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    let vocab: serde_json::Map<String, serde_json::Value> =
        std::iter::once(("[UNK]".to_string(), 0.into()))
            .chain(
                words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (w.clone(), (i + 1).into())),
            )
            .collect();
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(model.join("tokenizer.json"), tok.to_string()).unwrap();
    // language a uses w0..w19, b uses w20..w39; line i is "parallel" across them
    for (lang, off) in [("a", 0), ("b", 20)] {
        let lines: Vec<String> = (0..30)
            .map(|i| {
                format!(
                    "w{} w{} w{}",
                    off + i % 20,
                    off + (i * 3) % 20,
                    off + (i * 7) % 20
                )
            })
            .collect();
        std::fs::write(
            data.join(format!("{lang}.devtest")),
            lines.join("\n") + "\n",
        )
        .unwrap();
    }
    let mut run = CheckpointRun::new(&model, &data, vec!["a".into(), "b".into()], "b");
    run.k = 10;
    run.probe = 12;
    let dev = ember_core::backend::device_by_name("flex").unwrap();
    let res = run.run(&dev).unwrap();
    assert_eq!((res.k, res.n_probe, res.n_test), (10, 12, 18));
    assert!(
        res.mean_expert_auroc > 0.6,
        "disjoint vocabularies: {}",
        res.mean_expert_auroc
    );
    assert!(
        res.pre[0][1].is_finite() && res.post[1][0].is_finite() && res.random[0][1].is_finite()
    );
    assert!(res.write_report(dir.join("out")).unwrap().exists());
    // a target that is not a language is a clear error
    let bad = CheckpointRun::new(&model, &data, vec!["a".into(), "b".into()], "c");
    assert!(bad.run(&dev).unwrap_err().to_string().contains("target c"));
    let _ = std::fs::remove_dir_all(&dir);
}
