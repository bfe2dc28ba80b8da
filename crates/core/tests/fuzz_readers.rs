//! Seeded property tests of every reader ember-core offers for a user's own files: ember's
//! tokenizer files, FLORES folders, Hugging Face checkpoint folders (config.json and
//! model.safetensors) and training checkpoints. Each feeds empty, truncated, random and
//! mutated inputs (see `ember_core::testing`) and requires a clear error or a usable result:
//! never a panic, a hang, or an allocation of a declared size before it is checked.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use burn::prelude::*;
use ember_core::data::flores::read_flores_with;
use ember_core::data::{FloresLayout, Tokenizer, TokenizerConfig};
use ember_core::nn::{ForwardOptions, LanguageModel, TransformerConfig, TransformerInput};
use ember_core::pretrained::PretrainedLm;
use ember_core::testing::{Mutator, Outcome, run_mutants};
use ember_core::train::{TrainConfig, Trainer};

const LIMIT: Duration = Duration::from_secs(20);

fn scratch(kind: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("ember-fuzz-{}-{kind}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hf_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hf")
        .join(name)
}

fn report(what: &str, o: Outcome) {
    eprintln!("{what}: {} accepted, {} rejected", o.accepted, o.rejected);
    assert!(
        o.rejected > 0,
        "{what}: nothing was rejected, the mutants are too mild"
    );
}

#[test]
fn ember_tokenizer_files() {
    let d = scratch("tok-seeds");
    let texts = [
        "the cat sat on the mat",
        "a dog and a cat",
        "le chat est sur le tapis",
    ];
    let mut seeds = Vec::new();
    for cfg in [
        TokenizerConfig::default(),
        TokenizerConfig {
            max_vocab: 60,
            lang_tags: vec!["en".into(), "fr".into()],
            ..TokenizerConfig::default()
        },
    ] {
        let p = d.join("t.json");
        Tokenizer::fit(texts, &cfg).unwrap().save(&p).unwrap();
        seeds.push(std::fs::read(&p).unwrap());
    }
    let mut m = Mutator::new(seeds, 1);
    let o = run_mutants(&mut m, 300, LIMIT, move |bytes| {
        let d = scratch("tok");
        let p = d.join("tokenizer.json");
        std::fs::write(&p, bytes).unwrap();
        let r = Tokenizer::load(&p);
        let _ = std::fs::remove_dir_all(&d);
        let t = r.map_err(|e| e.to_string())?;
        // A loaded tokenizer is a usable one.
        if let Err(e) = t.config().validate() {
            panic!("loaded an invalid config: {e}");
        }
        let ids = t.encode("the cat and the dog");
        assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        let _ = t.decode(&ids);
        Ok(())
    });
    report("ember tokenizer files", o);
}

#[test]
fn flores_folders() {
    let eng = "The cat sat.\nA second line.\nThird one here.\n"
        .as_bytes()
        .to_vec();
    let mut m = Mutator::new(vec![eng.clone(), "Le chat.\nDeux.\nTrois.\n".into()], 2);
    let o = run_mutants(&mut m, 300, LIMIT, move |bytes| {
        let d = scratch("flores");
        std::fs::write(d.join("eng_Latn.txt"), &eng).unwrap();
        std::fs::write(d.join("fra_Latn.txt"), bytes).unwrap();
        let r = read_flores_with(
            &d,
            &["eng_Latn", "fra_Latn"],
            &FloresLayout::single("{lang}.txt"),
        );
        let _ = std::fs::remove_dir_all(&d);
        let text = r.map_err(|e| e.to_string())?;
        // Aligned: every language has the same number of sentences.
        let n = text.get("eng_Latn").unwrap().len();
        assert_eq!(text.get("fra_Latn").unwrap().len(), n);
        Ok(())
    });
    report("FLORES folders", o);
}

/// Loads a checkpoint folder and, if it loads, runs a forward pass on four tokens.
fn load_and_run(dir: &Path) -> Result<(), String> {
    let device = Device::flex();
    let lm = PretrainedLm::from_dir(dir, &device).map_err(|e| e.to_string())?;
    let t = 4.min(lm.max_len());
    let ids = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]);
    let ids = ids.remainder_scalar(lm.vocab_size().max(1) as i64);
    lm.forward_with(TransformerInput::Tokens(ids), ForwardOptions::logits())
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn hf_config_json() {
    for (k, arch) in ["llama", "bert", "gpt2", "gpt-neox", "qwen2"]
        .into_iter()
        .enumerate()
    {
        let src = hf_fixture(arch);
        let seed = std::fs::read(src.join("config.json")).unwrap();
        let mut m = Mutator::new(vec![seed], 10 + k as u64);
        let o = run_mutants(&mut m, 120, LIMIT, move |bytes| {
            let d = scratch("hfcfg");
            std::fs::write(d.join("config.json"), bytes).unwrap();
            std::fs::copy(src.join("model.safetensors"), d.join("model.safetensors")).unwrap();
            let r = load_and_run(&d);
            let _ = std::fs::remove_dir_all(&d);
            r
        });
        report(&format!("{arch} config.json"), o);
    }
}

#[test]
fn hf_safetensors_header() {
    let src = hf_fixture("llama");
    let file = std::fs::read(src.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let (header, body) = (file[8..8 + n].to_vec(), file[8 + n..].to_vec());
    let mut m = Mutator::new(vec![header], 3);
    let o = run_mutants(&mut m, 300, LIMIT, move |h| {
        let d = scratch("hfhdr");
        std::fs::copy(src.join("config.json"), d.join("config.json")).unwrap();
        let mut f = (h.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(h);
        f.extend_from_slice(&body);
        std::fs::write(d.join("model.safetensors"), f).unwrap();
        let r = load_and_run(&d);
        let _ = std::fs::remove_dir_all(&d);
        r
    });
    report("safetensors header", o);
}

#[test]
fn hf_safetensors_file() {
    let src = hf_fixture("gpt2");
    let seed = std::fs::read(src.join("model.safetensors")).unwrap();
    let mut m = Mutator::new(vec![seed], 4);
    let o = run_mutants(&mut m, 120, LIMIT, move |bytes| {
        let d = scratch("hfst");
        std::fs::copy(src.join("config.json"), d.join("config.json")).unwrap();
        std::fs::write(d.join("model.safetensors"), bytes).unwrap();
        let r = load_and_run(&d);
        let _ = std::fs::remove_dir_all(&d);
        r
    });
    report("safetensors file", o);
}

#[test]
fn training_checkpoint_state() {
    let device = Device::flex().autodiff();
    let model = |d: &Device| {
        TransformerConfig::new(11, 8, 1, 2, 16, 4)
            .with_causal(true)
            .init(d)
    };
    let cfg = TrainConfig::new(2, 1e-2)
        .with_checkpoint_every(Some(2))
        .with_progress(false);
    let run = scratch("ckpt-run");
    let mut t = Trainer::new(model(&device), cfg.clone(), &device)
        .with_dir(&run)
        .unwrap();
    t.run(|m, _, _| {
        let ids = Tensor::<1, Int>::arange(0..4, &device).reshape([1, 4]);
        let logits = m.logits(ids.clone(), None)?;
        let keep = Tensor::<2, Bool>::ones([1, 4], &device);
        Ok(ember_core::train::StepOutput::new(
            ember_core::loss::masked_cross_entropy_seq(logits, ids, keep)?,
            4,
        ))
    })
    .unwrap();
    let ckpt = ember_core::train::latest_checkpoint(&run).unwrap().unwrap();
    let seed = std::fs::read(ckpt.join("state.json")).unwrap();
    let mut m = Mutator::new(vec![seed], 5);
    let o = run_mutants(&mut m, 200, LIMIT, move |bytes| {
        std::fs::write(ckpt.join("state.json"), bytes).unwrap();
        let device = Device::flex().autodiff();
        let mut t = Trainer::new(model(&device), cfg.clone(), &device)
            .with_dir(&run)
            .unwrap();
        match t.resume() {
            Ok(step) => {
                assert_eq!(step, 2, "a state that resumes is the one written");
                Ok(())
            }
            Err(e) => {
                assert_eq!(t.step(), 0, "a failed resume changed the trainer");
                Err(e.to_string())
            }
        }
    });
    report("checkpoint state.json", o);
}

/// Sizes a config declares (context length, vocabulary, widths) are checked against the
/// weights before anything of that size is built: a huge value is an error, not an
/// allocation (which would abort the process).
#[test]
fn declared_sizes_are_checked_before_allocation() {
    let huge = 1u64 << 40;
    for (arch, key, value) in [
        ("llama", "max_position_embeddings", huge),
        // The largest accepted context: rotary tables are built per call, not for it.
        ("llama", "max_position_embeddings", 1 << 24),
        ("gpt-neox", "max_position_embeddings", 1 << 24),
        ("llama", "vocab_size", huge),
        ("llama", "intermediate_size", huge),
        ("llama", "num_hidden_layers", huge),
        ("bert", "max_position_embeddings", huge),
        ("gpt2", "n_positions", huge),
        ("gpt-neox", "max_position_embeddings", huge),
        ("qwen2", "hidden_size", huge),
    ] {
        let src = hf_fixture(arch);
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
        assert!(cfg.get(key).is_some(), "{arch} has no {key}");
        cfg[key] = serde_json::Value::from(value);
        let d = scratch("huge");
        std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
        std::fs::copy(src.join("model.safetensors"), d.join("model.safetensors")).unwrap();
        let r = load_and_run(&d);
        let _ = std::fs::remove_dir_all(&d);
        eprintln!("{arch} {key} = {value}: {r:?}");
        if value == huge {
            let e = r.expect_err("a huge declared size loaded");
            assert!(
                e.contains(key) && e.contains("config.json"),
                "{arch} {key}: {e}"
            );
        } else {
            r.unwrap_or_else(|e| panic!("{arch} {key} = {value}: {e}"));
        }
    }
}
