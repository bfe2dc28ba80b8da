//! The `spatial-audio` experiment runs end to end at a tiny plan, and a bad plan value is
//! rejected with a message naming the key.

use ember_core::eval::{EvalArgs, EvalRun, Plan};
use ember_spatial_audio::experiment::{self, SpatialAudioPlan};

#[test]
fn runs_at_tiny_size() {
    let out = std::env::temp_dir().join(format!("ember-spatial-audio-{}", std::process::id()));
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "train_clips=40",
        "test_spatial=12",
        "test_mono=8",
        "max_order=2",
        "steps=3",
        "batch=8",
        "probe_steps=3",
        "checkpoint_every=2",
    ]);
    let (run, plan) = EvalRun::start::<SpatialAudioPlan>(&args, "spatial-audio").unwrap();
    let report = experiment::run(&run, &plan).unwrap();
    assert_eq!(report.claims.len(), 4);
    assert!(
        report.claims.iter().all(|c| c.ours.is_finite()),
        "{:?}",
        report.claims
    );
    for f in &report.figures {
        assert!(out.join(&f.file).exists(), "{}", f.file);
    }
    let mut bad = plan.clone();
    bad.spatial_fraction = 1.5;
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("spatial_fraction"), "{e}");
    let _ = std::fs::remove_dir_all(&out);
}
