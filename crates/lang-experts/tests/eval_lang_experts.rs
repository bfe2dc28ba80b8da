//! The `lang-experts` experiment runs end to end at a tiny plan; a bad plan value is refused
//! with a message naming the key.

use ember_core::eval::{EvalArgs, EvalRun, Plan};
use ember_lang_experts::experiment::{self, LangExpertsPlan};

#[test]
fn runs_at_tiny_size() {
    let out = std::env::temp_dir().join(format!("ember-lang-experts-{}", std::process::id()));
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "d_model=16",
        "n_layers=1",
        "batch=8",
        "babel_sentences=600",
        "babel_steps=3",
        "n_probe=20",
        "n_test=20",
        "n_para=12",
        "cw_domains=2",
        "cw_categories=2",
        "cw_leaves=3",
        "cw_sentences=400",
        "cw_steps=3",
        "cw_pool=500",
        "n_pos=10",
        "n_neg=30",
        "raters=6",
        "permutations=20",
        "tau_sweep=[0.5]",
    ]);
    let (run, plan) = EvalRun::start::<LangExpertsPlan>(&args, "lang-experts").unwrap();
    let report = experiment::run(&run, &plan).unwrap();
    let ids: Vec<&str> = report.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["P0", "C1", "C2", "C3", "C4", "C5"]);
    assert!(
        report.claims.iter().all(|c| c.ours.is_finite()),
        "{:?}",
        report.claims
    );
    for f in &report.figures {
        assert!(out.join(&f.file).exists(), "{}", f.file);
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_plan_values_name_the_key() {
    let mut p = LangExpertsPlan::for_scale(ember_core::eval::Scale::Quick);
    p.target = 9;
    assert!(p.validate().unwrap_err().to_string().contains("target"));
    let mut p = LangExpertsPlan::for_scale(ember_core::eval::Scale::Quick);
    p.k_fracs = vec![0.0];
    assert!(p.validate().unwrap_err().to_string().contains("k_fracs"));
}
