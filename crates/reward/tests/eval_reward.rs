//! The `reward` experiment runs end to end at a tiny plan, a resumed run reproduces it from
//! its checkpoints, and a bad plan value is rejected naming its key.

use ember_core::eval::{EvalArgs, EvalRun, Plan, Scale};
use ember_reward::experiment::{self, RewardPlan};

const TINY: [&str; 12] = [
    "seeds=2",
    "d_model=8",
    "sft_examples=40",
    "sft_steps=4",
    "steps=4",
    "eval_every=2",
    "batch=4",
    "train_pairs=24",
    "test_pairs=12",
    "fit_pairs=12",
    "sft_lr=0.01",
    "ties=wrong",
];

#[test]
fn runs_at_tiny_size_and_resumes() {
    let out = std::env::temp_dir().join(format!("ember-reward-eval-{}", std::process::id()));
    let args = EvalArgs::new(&out).with_device("flex").with_set(TINY);
    let (run, plan) = EvalRun::start::<RewardPlan>(&args, "reward").unwrap();
    let report = experiment::run(&run, &plan).unwrap();
    let ids: Vec<&str> = report.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "premise-both-fit",
            "fit-comparable",
            "ood-mean-drop",
            "ood-max-drop"
        ]
    );
    assert!(
        report.claims.iter().all(|c| c.ours.is_finite()),
        "{:?}",
        report.claims
    );
    assert!(!report.figures.is_empty());
    for f in &report.figures {
        assert!(out.join(&f.file).exists(), "figure {} missing", f.file);
    }
    assert!(out.join("seeds.json").exists());
    // Resume: every stage restarts from its final checkpoint and measures the same numbers.
    let mut again = args.clone();
    again.resume = true;
    let (run2, plan2) = EvalRun::start::<RewardPlan>(&again, "reward").unwrap();
    let report2 = experiment::run(&run2, &plan2).unwrap();
    for (a, b) in report.claims.iter().zip(&report2.claims) {
        assert_eq!(a.ours, b.ours, "claim {} changed on resume", a.id);
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_plan_values_name_their_key() {
    for (set, key) in [
        ("fit_pairs=5000", "fit_pairs"),
        ("beta=0", "beta"),
        ("d_model=6", "d_model"),
        ("eval_every=0", "eval_every"),
        ("seeds=0", "seeds"),
    ] {
        let mut plan = RewardPlan::for_scale(Scale::Quick);
        let v = serde_json::to_value(&plan).unwrap();
        let (k, val) = set.split_once('=').unwrap();
        let mut m = v.as_object().unwrap().clone();
        m.insert(k.into(), serde_json::from_str(val).unwrap());
        plan = serde_json::from_value(serde_json::Value::Object(m)).unwrap();
        let err = plan.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{set}: {err}");
    }
    let out = std::env::temp_dir().join(format!("ember-reward-badset-{}", std::process::id()));
    let args = EvalArgs::new(&out)
        .with_device("flex")
        .with_set(["ties=sometimes"]);
    let err = EvalRun::start::<RewardPlan>(&args, "reward")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ties") || err.contains("sometimes"), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}
