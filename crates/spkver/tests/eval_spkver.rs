//! Smoke test of the spkver eval through the library (`ember_spkver::experiment`): a tiny
//! plan on flex runs end to end in seconds, the report holds every claim with a finite value
//! and its figures exist; bad plan values are rejected naming their key; and the binary's
//! `--model` glue (`experiment::checkpoint`) writes its report on the tiny WavLM fixture.

mod common;

use common::write_data;
use std::path::{Path, PathBuf};

use ember_core::eval::{EvalArgs, EvalRun, Plan, Scale};
use ember_core::report::Report;
use ember_spkver::experiment::checkpoint::{self, CheckpointArgs};
use ember_spkver::experiment::{self, SpkverPlan};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-eval-spkver-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn tiny_plan_runs_end_to_end() {
    let out = tmp("tiny");
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "pretrain_speakers=4",
        "pretrain_utts=2",
        "train_speakers=3",
        "train_utts=3",
        "test_speakers=3",
        "test_utts=2",
        "duration_s=[0.6, 0.8]",
        "d_model=8",
        "n_layers=1",
        "pretrain_steps=2",
        "pretrain_batch=2",
        "pretrain_crop=40",
        "head_steps=2",
        "head_batch=4",
        "crop_frames=40",
    ]);
    let (run, plan) = EvalRun::start::<SpkverPlan>(&args, "spkver").unwrap();
    assert_eq!(plan.duration_s, (0.6, 0.8));
    let report = experiment::run(&run, &plan).unwrap();
    let path = run.finish(report).unwrap();
    assert_eq!(path, out.join("report.json"));

    let report = ember_core::eval::assert_finished(
        &out,
        &[
            "C1-simplified-matches-baseline",
            "C2-data-efficiency",
            "C3-fbank-needs-frame-level",
        ],
    );
    // baseline at 100 %, simplified SP at 60 and 100 %, ASP, and the two log-mel heads
    assert_eq!(report.tables[0].rows.len(), 6);
    // log-mel + 2 exposed layers (Transformer input and 1 layer)
    assert_eq!(report.tables[1].rows.len(), 3);
    assert_eq!(report.figures.len(), 4);
    assert!(out.join("plan.json").is_file() && out.join("report.md").is_file());
    assert!(out.join("heads/simplified_SP-ssl-60").is_dir());
    assert!(report.plan.is_some());
}

#[test]
fn bad_plan_values_name_their_key() {
    SpkverPlan::for_scale(Scale::Quick).validate().unwrap();
    SpkverPlan::for_scale(Scale::Full).validate().unwrap();
    let mut plan = SpkverPlan::for_scale(Scale::Quick);
    plan.test_utts = 1;
    let e = plan.validate().unwrap_err().to_string();
    assert!(e.contains("`test_utts`"), "{e}");
    let mut plan = SpkverPlan::for_scale(Scale::Quick);
    plan.fractions_simple = vec![1.0];
    let e = plan.validate().unwrap_err().to_string();
    assert!(e.contains("`fractions_simple`") && e.contains("0.6"), "{e}");

    let args = EvalArgs::new(tmp("bad")).with_set(["duration_s=[2.0, 1.0]"]);
    let e = EvalRun::start::<SpkverPlan>(&args, "spkver")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`duration_s`"), "{e}");
}

#[test]
fn checkpoint_mode_writes_its_report() {
    let data = tmp("ckpt-data");
    std::fs::create_dir_all(&data).unwrap();
    let (wavs, trials) = write_data(&data, 3, 2, 3);
    let ck = CheckpointArgs {
        model: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wavlm"),
        wavs,
        trials,
        max_utterances: None,
        head_steps: 0,
        max_train_utterances: 10,
    };
    assert!(ck.job(3).heads.is_none(), "0 head steps: zero-shot only");

    let out = tmp("ckpt");
    let mut args = EvalArgs::new(&out).with_device("flex");
    args.seed = 3;
    let path = checkpoint::run(&args, &ck).unwrap();
    assert_eq!(path, out.join("report.json"));
    let report = Report::load(&out).unwrap();
    assert_eq!(report.eval, "spkver-checkpoint");
    assert_eq!(report.seed, 3);
    assert!(out.join("sv_layers.png").is_file());

    let args = EvalArgs::new(tmp("ckpt-set")).with_set(["head_steps=3"]);
    let e = checkpoint::run(&args, &ck).unwrap_err().to_string();
    assert!(e.contains("--set") && e.contains("--model"), "{e}");
}
