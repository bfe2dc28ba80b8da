//! Acceptance F: the method runs on a loaded Hugging Face checkpoint. The `gpt2` fixture
//! (tiny random weights, transformers 5.17 outputs, committed under `tests/data/hf/gpt2`):
//! `pair_logprobs` reproduces transformers' `response_logprob_sum`, DPO trains on it through
//! `CheckpointDpo`, and the binary's `--model DIR --data FILE` mode runs end to end.

use ember_core::data::tokenizer::{Tokenizer, TokenizerConfig};
use ember_core::pretrained::{PretrainedLm, Weights};
use ember_reward::checkpoint::CheckpointDpo;
use ember_reward::{LogProbReduction, PairBatch, PreferencePair, pair_logprobs};
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/gpt2")
}

#[test]
fn pair_logprobs_match_transformers() {
    let device = ember_core::backend::device_by_name("flex").unwrap();
    let model = PretrainedLm::from_dir(fixture(), &device).unwrap();
    let io = Weights::from_files(&[fixture().join("io.safetensors")]).unwrap();
    let (ids, shape) = io.host_ints("input_ids").unwrap();
    let want = io.host("response_logprob_sum", &[2]).unwrap();
    let t = shape[1];
    let row =
        |i: usize| -> Vec<u32> { ids[i * t..(i + 1) * t].iter().map(|&x| x as u32).collect() };
    // transformers scored tokens 5..9 of each row: prompt = the first 5 tokens.
    let (r0, r1) = (row(0), row(1));
    let pairs = [
        PreferencePair {
            prompt: r0[..5].to_vec(),
            chosen: r0[5..].to_vec(),
            rejected: r1[5..].to_vec(),
        },
        PreferencePair {
            prompt: r1[..5].to_vec(),
            chosen: r1[5..].to_vec(),
            rejected: r0[5..7].to_vec(),
        },
    ];
    let refs: Vec<&PreferencePair> = pairs.iter().collect();
    let b = PairBatch::new(&refs, 0, 64, 128, &device).unwrap();
    let (c, _) = pair_logprobs(&model, &b, LogProbReduction::Sum).unwrap();
    let c = c.into_data().try_to_vec::<f32>().unwrap();
    for (i, (a, w)) in c.iter().zip(&want).enumerate() {
        assert!((a - w).abs() < 1e-4, "row {i}: ours {a}, transformers {w}");
    }
}

/// The fixture's weights with an ember word tokenizer (vocabulary within the model's 128)
/// and a preference file, in a temporary folder.
fn user_folder(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("ember-reward-hf-{name}-{}", std::process::id()));
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture().join(f), model.join(f)).unwrap();
    }
    let words = [
        "good", "bad", "answer", "question", "please", "the", "is", "a", "fine", "poor",
    ];
    let texts: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "{} {} {}",
                words[i % 10],
                words[(i * 3) % 10],
                words[(i * 7) % 10]
            )
        })
        .collect();
    let cfg = TokenizerConfig {
        max_vocab: 100,
        ..TokenizerConfig::default()
    };
    Tokenizer::fit(&texts, &cfg)
        .unwrap()
        .save(model.join("tokenizer.json"))
        .unwrap();
    let mut jsonl = String::new();
    for i in 0..10 {
        jsonl.push_str(&format!(
            "{{\"prompt\": \"the question {}\", \"chosen\": \"a good answer\", \"rejected\": \"a {} poor answer\"}}\n",
            words[i % 10],
            words[(i + 3) % 10]
        ));
    }
    let data = dir.join("prefs.jsonl");
    std::fs::write(&data, jsonl).unwrap();
    (model, data)
}

#[test]
fn dpo_trains_on_a_loaded_checkpoint() {
    let device = ember_core::backend::device_by_name("flex").unwrap();
    let (model, data) = user_folder("lib");
    let mut job = CheckpointDpo::new(&model, &data);
    job.schedule.steps = 8;
    job.schedule.warmup = 0;
    job.schedule.eval_every = 4;
    job.schedule.batch = 4;
    job.schedule.lr = 3e-3;
    let out = model.parent().unwrap().join("out");
    let r = job.run(&out, &device).unwrap();
    assert_eq!(r.pairs, (8, 2));
    // The reference is the starting model: every held-out pair ties before training.
    assert_eq!(r.heldout_accuracy_before, 0.5);
    // Eight pairs that all prefer the same answer: DPO fits them.
    assert!(r.train_accuracy_after > 0.5, "{r:?}");
    assert!(r.heldout_margin_after.is_finite());
    assert!(
        out.join("dpo").read_dir().unwrap().next().is_some(),
        "no checkpoint written"
    );
    let path = r.write_report(&out).unwrap();
    assert!(
        std::fs::read_to_string(path)
            .unwrap()
            .contains("heldout_accuracy_after")
    );
}

#[test]
fn binary_runs_on_model_and_data() {
    let (model, data) = user_folder("bin");
    let out = model.parent().unwrap().join("out");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_eval-reward"))
            .args(["--device", "flex", "--model"])
            .arg(&model)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .args(["--steps", "2"])
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = run(&[]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.join("dpo_result.json").exists());
    let bad = run(&["--beta=-1"]);
    assert!(!bad.status.success());
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("beta"), "{msg}");
}
