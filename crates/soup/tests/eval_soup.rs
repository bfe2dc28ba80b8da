//! Smoke tests of the crate's two evals through the library (`ember_soup::experiment`): a
//! tiny plan of each on flex runs end to end in seconds, the report holds every claim with a
//! finite value and its figures exist; bad plan values are rejected naming their key.

use ember_core::eval::{EvalArgs, EvalRun, Plan, Scale};
use ember_core::report::Report;
use ember_soup::experiment::aux_lang::{self, AuxLangPlan};
use ember_soup::experiment::soup::{self, SoupPlan, TaskKind};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-eval-soup-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Every claim in `ids` order with a finite `ours`, every figure on disk, the plan recorded.
fn check_report(out: &Path, ids: &[&str]) -> Report {
    let report = Report::load(out).unwrap();
    let got: Vec<&str> = report.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(got, ids);
    for c in &report.claims {
        assert!(c.ours.is_finite(), "claim {}: ours {}", c.id, c.ours);
    }
    assert!(!report.figures.is_empty());
    for f in &report.figures {
        assert!(out.join(&f.file).is_file(), "figure {} missing", f.file);
    }
    assert!(out.join("plan.json").is_file());
    assert!(report.plan.is_some());
    report
}

#[test]
fn soup_tiny_plan_runs_end_to_end() {
    let out = tmp("soup");
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "vocab=16",
        "topics=2",
        "leaves_per_topic=2",
        "seq=8",
        "pretrain_docs=200",
        "k=4",
        "d_model=8",
        "heads=2",
        "layers=1",
        "steps=8",
        "batch=4",
        "experts=[1, 2]",
        r#"tasks=["one_leaf", "novel_leaf"]"#,
        "spec_docs=10",
        "eval_docs=20",
        "ft_steps=2",
        "support_sizes=[1, 2]",
    ]);
    let (run, plan) = EvalRun::start::<SoupPlan>(&args, "soup").unwrap();
    assert_eq!(plan.tasks, [TaskKind::OneLeaf, TaskKind::NovelLeaf]);
    let report = soup::run(&run, &plan).unwrap();
    run.finish(report).unwrap();
    let report = check_report(
        &out,
        &["soe-specialists", "instantiation-cost", "more-experts"],
    );
    // One row per task; the JSONL round trip and the run directories are on disk.
    assert_eq!(report.tables[0].rows.len(), 2);
    assert!(out.join("corpus.jsonl").is_file());
    for dir in [
        "generic",
        "soup-n1",
        "soup-n2",
        "soup-n2-empirical",
        "crisp-0",
        "crisp-1",
    ] {
        assert!(out.join(dir).join("metrics.jsonl").is_file(), "{dir}");
    }
}

#[test]
fn aux_lang_tiny_plan_runs_end_to_end() {
    let out = tmp("aux-lang");
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "world.n_topics=2",
        "world.entities_per_topic=4",
        "world.values_per_relation=4",
        "world.n_function_words=6",
        "world.filler_len=[2, 3]",
        "world.doc_sentences=[2, 4]",
        "target_passes=1",
        "val_windows=8",
        "steps=20",
        "batch=4",
        "seq=8",
        "eval_every=10",
        "small.d_model=8",
        "small.layers=1",
        "small.d_ff=16",
        "large.d_model=16",
        "large.layers=1",
        "large.d_ff=32",
    ]);
    let (run, plan) = EvalRun::start::<AuxLangPlan>(&args, "aux-lang").unwrap();
    let report = aux_lang::run(&run, &plan).unwrap();
    run.finish(report).unwrap();
    let report = check_report(
        &out,
        &[
            "4-close-gains-more",
            "5-quality-helps-target",
            "6-large-overfits",
        ],
    );
    // C0: target-only, bi-high, bi-low; C3: target-only, bi-high; the large model.
    assert_eq!(report.tables[0].rows.len(), 6);
    assert!(out.join("C0-bi-high-large").join("result.json").is_file());
}

#[test]
fn bad_plan_values_name_their_key() {
    for scale in [Scale::Quick, Scale::Full] {
        SoupPlan::for_scale(scale).validate().unwrap();
        AuxLangPlan::for_scale(scale).validate().unwrap();
    }
    let mut plan = SoupPlan::for_scale(Scale::Quick);
    plan.support_sizes = vec![1, 99];
    let e = plan.validate().unwrap_err().to_string();
    assert!(e.contains("`support_sizes`"), "{e}");

    let mut plan = AuxLangPlan::for_scale(Scale::Quick);
    plan.large.d_model = 30;
    let e = plan.validate().unwrap_err().to_string();
    assert!(e.contains("`large.d_model`"), "{e}");

    let args = EvalArgs::new(tmp("bad-soup")).with_set(["experts=[8, 2]"]);
    let e = EvalRun::start::<SoupPlan>(&args, "soup")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`experts`"), "{e}");
    let args = EvalArgs::new(tmp("bad-aux")).with_set([r#"extra_levels=["C3"]"#]);
    let e = EvalRun::start::<AuxLangPlan>(&args, "aux-lang")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`extra_levels`"), "{e}");
}
