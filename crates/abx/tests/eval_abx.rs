//! Smoke test of the abx eval through the library (`ember_abx::experiment`): a tiny plan on
//! flex runs end to end in seconds, the report holds every claim with a finite value and its
//! figures exist; a bad plan value is rejected naming its key; and the binary's `--model`
//! mode (`run_checkpoint`) writes its report on the tiny XLM-R fixture.

use std::path::{Path, PathBuf};

use ember_abx::checkpoint::CheckpointAbx;
use ember_abx::experiment::{self, AbxPlan};
use ember_core::data::flores::{ParallelText, write_parallel};
use ember_core::eval::{EvalArgs, EvalRun, Plan, Scale};
use ember_core::report::Report;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-eval-abx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn tiny_plan_runs_end_to_end() {
    let out = tmp("tiny");
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "langs=2",
        "largest=200",
        "eval_n=16",
        "d_model=16",
        "n_layers=2",
        "checkpoints=[0, 2, 4]",
        "batch=4",
        "max_len=16",
        "bootstrap=10",
        "code_switch=0.1",
    ]);
    let (run, plan) = EvalRun::start::<AbxPlan>(&args, "abx").unwrap();
    assert_eq!(plan.code_switch, 0.1);
    let report = experiment::run(&run, &plan).unwrap();
    let path = run.finish(report).unwrap();
    assert_eq!(path, out.join("report.json"));

    let report = ember_core::eval::assert_finished(
        &out,
        &[
            "ld-declines-lower-layers",
            "md-improves-deeper-layers",
            "controls",
        ],
    );
    // 3 checkpoints × 3 hidden states
    assert_eq!(report.tables[0].rows.len(), 9);
    assert_eq!(report.figures.len(), 6);
    assert!(out.join("plan.json").is_file() && out.join("tokenizer.json").is_file());
    assert!(report.plan.is_some());
}

#[test]
fn bad_plan_values_name_their_key() {
    let mut plan = AbxPlan::for_scale(Scale::Quick);
    plan.validate().unwrap();
    AbxPlan::for_scale(Scale::Full).validate().unwrap();
    plan.code_switch = 1.5;
    let e = plan.validate().unwrap_err().to_string();
    assert!(e.contains("`code_switch`"), "{e}");

    let args = EvalArgs::new(tmp("bad")).with_set(["checkpoints=[10, 5]"]);
    let e = EvalRun::start::<AbxPlan>(&args, "abx")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`checkpoints`"), "{e}");
}

#[test]
fn checkpoint_mode_writes_its_report() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xlm-roberta-tiny");
    let flores = tmp("flores");
    std::fs::create_dir_all(&flores).unwrap();
    let text = ParallelText {
        langs: vec!["eng_Latn".into(), "fra_Latn".into()],
        lines: vec![
            vec![
                "the cat sat on the mat.".into(),
                "a dog runs in the park.".into(),
                "she reads a long book.".into(),
                "it rains in the morning.".into(),
            ],
            vec![
                "le chat est sur le tapis.".into(),
                "un chien court dans le parc.".into(),
                "elle lit un long livre.".into(),
                "il pleut le matin.".into(),
            ],
        ],
    };
    write_parallel(&flores, &text, "{lang}.devtest").unwrap();
    let out = tmp("ckpt");
    let mut args = EvalArgs::new(&out).with_device("flex");
    args.seed = 3;
    let job = CheckpointAbx::new(model, &flores, ["eng_Latn", "fra_Latn"]);
    let path = experiment::run_checkpoint(&args, &job).unwrap();
    assert_eq!(path, out.join("report.json"));
    let report = Report::load(&out).unwrap();
    assert_eq!(report.eval, "abx-checkpoint");
    assert_eq!(report.seed, 3);
    assert_eq!(report.tables[0].rows.len(), 3);
    assert!(out.join("abx_layers.png").is_file());
}
