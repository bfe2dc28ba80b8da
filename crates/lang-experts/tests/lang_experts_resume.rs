//! The eval's LMs checkpoint through ember-core's `Trainer`: a run interrupted after a
//! checkpoint and continued with `--resume` ends with the same model (same final loss, same
//! embeddings, bit for bit) as the run that was never interrupted.

use ember_core::eval::{EvalArgs, EvalRun};
use ember_lang_experts::analysis::embeddings;
use ember_lang_experts::experiment::{LangExpertsPlan, lm};
use std::path::Path;

const TINY: [&str; 6] = [
    "d_model=16",
    "n_layers=1",
    "batch=4",
    "seq=8",
    "max_len=16",
    "checkpoint_every=2",
];
const STEPS: usize = 6;

fn stream() -> Vec<u32> {
    (0..600u32).map(|i| (i * 7 + i / 13) % 29 + 1).collect()
}

/// Trains the eval's Babel LM for `STEPS` under `out`; returns its final loss and the
/// last-layer embeddings of a few fixed sentences.
fn train(out: &Path, resume: bool) -> (f64, Vec<f32>, usize) {
    let mut args = EvalArgs::new(out).with_device("flex").with_set(TINY);
    args.resume = resume;
    let (run, plan) = EvalRun::start::<LangExpertsPlan>(&args, "lang-experts").unwrap();
    let lm = lm::train(&run, &plan, "babel", 32, &stream(), STEPS).unwrap();
    let sents: Vec<Vec<u32>> = (0..5u32).map(|i| vec![1, 3 + i, 7, 11 + i]).collect();
    let e = embeddings(&lm.model, &sents, 0, &[1], None, 4, &run.device).unwrap();
    (lm.final_loss, e.concat(), lm.resumed_from)
}

#[test]
fn interrupted_then_resumed_equals_uninterrupted() {
    let tmp =
        std::env::temp_dir().join(format!("ember-lang-experts-resume-{}", std::process::id()));
    let (full, broken) = (tmp.join("full"), tmp.join("broken"));
    let reference = train(&full, false);
    assert!(reference.0.is_finite());
    assert_eq!(reference.2, 0, "a fresh run starts at step 0");
    // What a run killed during step 5 or 6 leaves on disk: LATEST pointing at the step-4
    // checkpoint (the Trainer keeps the last two, so ckpt 6 and 4 remain after a full run).
    let _ = train(&broken, false);
    let dir = broken.join("babel");
    std::fs::remove_dir_all(dir.join(format!("ckpt-{STEPS:08}"))).unwrap();
    std::fs::write(dir.join("LATEST"), "ckpt-00000004").unwrap();
    assert!(dir.join("ckpt-00000004").is_dir());
    let resumed = train(&broken, true);
    assert_eq!(
        resumed.2, 4,
        "--resume continues from the step-4 checkpoint"
    );
    assert_eq!(resumed.0.to_bits(), reference.0.to_bits(), "final loss");
    assert_eq!(resumed.1.len(), reference.1.len());
    for (i, (a, b)) in resumed.1.iter().zip(&reference.1).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "embedding value {i}: {a} vs {b}");
    }
    // Without --resume the same directory starts afresh and retrains to the same model.
    let fresh = train(&broken, false);
    assert_eq!(fresh.2, 0);
    assert_eq!(fresh.0.to_bits(), reference.0.to_bits());
    let _ = std::fs::remove_dir_all(&tmp);
}
