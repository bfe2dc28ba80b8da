//! Fine-tuning a loaded CLIP image tower on an ImageFolder (`eval-proxy-fda --model DIR
//! --data DIR`), on the tiny random CLIP checkpoint in `tests/data/clip` and PNG folders the
//! tests write.

use burn::prelude::*;
use ember_core::report::Report;
use ember_proxy_fda::FtMethod;
use ember_proxy_fda::checkpoint::{CheckpointFt, report_header, stratified_split};
use std::path::{Path, PathBuf};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/clip")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-pfda-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `root/<class>/<i>.png`: class `c` is a hue, with a bright square at a per-image place;
/// sizes vary so that CLIP's resize and crop both act.
fn write_folder(root: &Path, classes: &[&str], per_class: usize) {
    let hues = [
        [220u8, 40, 40],
        [40, 200, 60],
        [50, 70, 230],
        [200, 200, 40],
    ];
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let (w, h) = (36 + 3 * i as u32, 40 + (i as u32 % 3) * 5);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let inside = (x / 8 + y / 8 + i as u32).is_multiple_of(3);
                let base = hues[c % hues.len()];
                let k = if inside { 1.0 } else { 0.55 };
                image::Rgb(base.map(|v| (v as f32 * k) as u8))
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

fn device() -> Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

fn small_job(data: &Path) -> CheckpointFt {
    let mut job = CheckpointFt::new(model_dir(), data);
    job.steps = 6;
    job.lp_steps = 3;
    job.lr = 1e-3;
    job.classes_per_batch = 3;
    job.per_class = 2;
    job.holdout = 0.25;
    job.batch = 8;
    job
}

#[test]
fn every_method_fine_tunes_the_clip_tower_and_a_resumed_run_is_identical() {
    let root = tmp("methods");
    write_folder(&root.join("data"), &["a", "b", "c"], 8);
    write_folder(&root.join("probe"), &["p", "q"], 6);
    let mut job = small_job(&root.join("data"));
    job.probe_dir = Some(root.join("probe"));
    job.methods = vec![
        FtMethod::Naive,
        FtMethod::LpFt,
        FtMethod::L2Sp(0.01),
        FtMethod::Ldifs(1.0),
        FtMethod::Fda(1.0),
        FtMethod::ProxyFda(1.0),
    ];
    job.run_dir = Some(root.join("runs"));
    let dev = device();
    let res = job.run(&dev).unwrap();

    // 8 images per class, 25% held out: 2 test, 6 train per class.
    assert_eq!((res.n_train, res.n_test), (18, 6));
    assert_eq!(res.classes, ["a", "b", "c"]);
    assert_eq!(res.image_size, 32);
    assert_eq!(res.feature_dim, 16, "the fixture's projection_dim");
    assert_eq!(res.batch_size, 6);
    assert_eq!(res.k, 4, "K lowered to batch − 2");
    let before = res.probe_before.expect("probe folder given");
    assert!((0.0..=100.0).contains(&before));
    assert_eq!(res.methods.len(), 6);
    for m in &res.methods {
        assert_eq!(m.steps_run, 6, "{}", m.method);
        assert!(m.final_loss.is_finite(), "{}: {}", m.method, m.final_loss);
        assert!((0.0..=100.0).contains(&m.test_accuracy), "{m:?}");
        // the tower itself was trained, not only the head
        assert!(m.feature_drift > 0.0 && m.feature_drift < 4.0, "{m:?}");
        let d = m.delta_probe.expect("probe given");
        assert!((d - (m.probe_accuracy.unwrap() - before)).abs() < 1e-9);
    }

    // Same run directory: every method resumes from its final checkpoint, runs no step
    // and measures exactly the same numbers.
    let again = job.run(&dev).unwrap();
    for (a, b) in res.methods.iter().zip(&again.methods) {
        assert_eq!(b.steps_run, 0, "{}", b.method);
        assert_eq!(a.test_accuracy, b.test_accuracy, "{}", a.method);
        assert_eq!(a.feature_drift, b.feature_drift, "{}", a.method);
        assert_eq!(a.probe_accuracy, b.probe_accuracy, "{}", a.method);
    }

    let out = root.join("out");
    let path = res
        .write_report(report_header("flex").with_seed(0), &out)
        .unwrap();
    let report = Report::load(&path).unwrap();
    let json = report.to_json().unwrap();
    for key in [
        "test_accuracy_naive_ft",
        "feature_drift_proxy_fda_1",
        "delta_probe_lp_ft",
        "probe_accuracy_pretrained",
    ] {
        assert!(json.contains(key), "{key} missing from {json}");
    }
    assert!(out.join("report.md").is_file());
}

#[test]
fn a_test_folder_replaces_the_hold_out() {
    let root = tmp("testdir");
    write_folder(&root.join("train"), &["a", "b"], 4);
    write_folder(&root.join("test"), &["a", "b"], 3);
    let mut job = small_job(&root.join("train"));
    job.test_dir = Some(root.join("test"));
    job.classes_per_batch = 2;
    let inputs = job.read_inputs().unwrap();
    assert_eq!((inputs.train.len(), inputs.test.len()), (8, 6));
    assert!(inputs.probe.is_none());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let root = tmp("bad");
    write_folder(&root.join("one"), &["only"], 4);
    write_folder(&root.join("two"), &["a", "b"], 4);
    write_folder(&root.join("other"), &["a", "z"], 4);
    let err = |job: CheckpointFt| job.run(&device()).unwrap_err().to_string();

    let e = err(small_job(&root.join("one")));
    assert!(e.contains("at least two class folders"), "{e}");

    let mut job = small_job(&root.join("two"));
    job.test_dir = Some(root.join("other"));
    let e = err(job);
    assert!(e.contains("test classes") && e.contains("other"), "{e}");

    let mut job = small_job(&root.join("two"));
    job.methods.clear();
    assert!(err(job).contains("no fine-tuning method"));

    let mut job = small_job(&root.join("two"));
    job.holdout = 1.0;
    assert!(err(job).contains("holdout"));

    let mut job = small_job(&root.join("two"));
    job.model_dir = root.join("missing-model");
    let e = err(job);
    assert!(e.contains("missing-model"), "{e}");

    // A processor that crops to 24 for a model that takes 32.
    let model = root.join("model24");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(model_dir().join(f), model.join(f)).unwrap();
    }
    let pre = std::fs::read_to_string(model_dir().join("preprocessor_config.json")).unwrap();
    std::fs::write(
        model.join("preprocessor_config.json"),
        pre.replace("32", "24"),
    )
    .unwrap();
    let mut job = small_job(&root.join("two"));
    job.model_dir = model;
    let e = err(job);
    assert!(
        e.contains("preprocessor_config.json") && e.contains("24×24") && e.contains("32×32"),
        "{e}"
    );
}

#[test]
fn stratified_split_keeps_every_class_on_both_sides() {
    let labels = [0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2];
    let (a, b) = stratified_split(&labels, 0.2, 7).unwrap();
    assert_eq!(a.len() + b.len(), labels.len());
    for c in 0..3 {
        assert!(
            a.iter().any(|&i| labels[i] == c),
            "class {c} not in the first set"
        );
        assert!(
            b.iter().any(|&i| labels[i] == c),
            "class {c} not in the second set"
        );
    }
    // 20% of 5, 2 and 10 images, rounded, at least one
    assert_eq!(b.len(), 1 + 1 + 2);
    assert_eq!(stratified_split(&labels, 0.2, 7).unwrap(), (a, b), "seeded");
    let e = stratified_split(&[0, 0, 1], 0.5, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("class 1 has 1 image"), "{e}");
}
