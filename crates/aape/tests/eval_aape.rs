//! The `aape` experiment runs end to end at a tiny plan, writes its figures, and a bad
//! plan value is refused with a message naming the key.

use ember_aape::experiment::{self, AapePlan};
use ember_core::eval::{EvalArgs, EvalRun, Plan, Scale};

#[test]
fn runs_at_tiny_size() {
    let out = std::env::temp_dir().join(format!("ember-aape-{}", std::process::id()));
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "seeds=1",
        "classes=4",
        "attributes=6",
        "side=8",
        "under_represented=2",
        "prompts_per_class=3",
        "embed_dim=8",
        "text_width=8",
        "channels=[4]",
        "pretrain_images_per_class=4",
        "pretrain_steps=2",
        "pretrain_batch=8",
        "shots=2",
        "shots_sweep=[1]",
        "test_per_class=2",
        "steps=2",
        "batch=4",
        "d_k=4",
        "gen_hidden=4",
    ]);
    let (run, plan) = EvalRun::start::<AapePlan>(&args, "aape").unwrap();
    let report = experiment::run(&run, &plan).unwrap();
    assert_eq!(report.claims.len(), 5);
    assert!(
        report.claims.iter().all(|c| c.ours.is_finite()),
        "{:?}",
        report.claims
    );
    for f in &report.figures {
        assert!(out.join(&f.file).is_file(), "missing figure {}", f.file);
    }
    assert!(report.figures.iter().any(|f| f.file == "shots.png"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_plan_values_name_the_key() {
    let mut p = AapePlan::for_scale(Scale::Quick);
    p.hallucination_rate = 1.5;
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("hallucination_rate"), "{e}");
    let mut p = AapePlan::for_scale(Scale::Full);
    p.n_ctx = 0;
    assert!(p.validate().unwrap_err().to_string().contains("n_ctx"));
}
