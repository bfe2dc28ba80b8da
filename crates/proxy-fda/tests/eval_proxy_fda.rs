//! Smoke test of the proxy-fda eval through the library (`ember_proxy_fda::experiment`): a
//! tiny plan on flex runs end to end in seconds, the report holds every claim with a finite
//! value and its figures exist; a bad plan value is rejected naming its key; and the binary's
//! `--model` mode (`run_checkpoint`) writes its report on the tiny CLIP fixture.

use ember_core::eval::{EvalArgs, EvalRun, Plan, Scale};
use ember_core::report::Report;
use ember_proxy_fda::FtMethod;
use ember_proxy_fda::checkpoint::CheckpointFt;
use ember_proxy_fda::experiment::{self, ProxyFdaPlan};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-eval-pfda-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn tiny_plan_runs_end_to_end() {
    let out = tmp("tiny");
    let args = EvalArgs::new(&out).with_device("flex").with_set([
        "side=16",
        "n_pre=64",
        "n_ft=32",
        "n_probe=48",
        "pre_steps=4",
        "ft_steps=3",
        "lp_steps=2",
        "lambdas=2",
    ]);
    let (run, plan) = EvalRun::start::<ProxyFdaPlan>(&args, "proxy-fda").unwrap();
    assert_eq!((plan.side, plan.ft_steps, plan.seeds), (16, 3, 1));
    let report = experiment::run(&run, &plan).unwrap();
    let path = run.finish(report).unwrap();
    assert_eq!(path, out.join("report.json"));

    let report = ember_core::eval::assert_finished(
        &out,
        &[
            "proxy-fda-forgets-less",
            "proxies-add-to-fda",
            "ot-tracks-forgetting",
        ],
    );
    // naive, LP-FT, 2 λ × (L2-SP, LDIFS, FDA, Proxy-FDA), WiSE-FT
    assert_eq!(report.tables[0].rows.len(), 11);
    assert_eq!(report.figures.len(), 4);
    assert!(out.join("l2_vs_forgetting.png").is_file());
    assert!(out.join("plan.json").is_file() && out.join("seed0/pretrained.bpk").is_file());
    assert!(report.plan.is_some());
}

#[test]
fn bad_plan_values_name_their_key() {
    ProxyFdaPlan::for_scale(Scale::Quick).validate().unwrap();
    ProxyFdaPlan::for_scale(Scale::Full).validate().unwrap();
    let mut plan = ProxyFdaPlan::for_scale(Scale::Quick);
    plan.lambdas = 4;
    let e = plan.validate().unwrap_err().to_string();
    assert!(e.contains("`lambdas`"), "{e}");

    let args = EvalArgs::new(tmp("bad")).with_set(["n_ft=5"]);
    let e = EvalRun::start::<ProxyFdaPlan>(&args, "proxy-fda")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`n_ft`"), "{e}");
}

/// `root/<class>/<i>.png`, one flat colour per class with a lighter square per image.
fn write_folder(root: &Path, classes: &[&str], per_class: usize) {
    let hues = [[220u8, 40, 40], [40, 200, 60], [50, 70, 230]];
    for (c, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(36, 40, |x, y| {
                let inside = (x / 8 + y / 8 + i as u32).is_multiple_of(3);
                let k = if inside { 1.0 } else { 0.55 };
                image::Rgb(hues[c % hues.len()].map(|v| (v as f32 * k) as u8))
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn checkpoint_mode_writes_its_report() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/clip");
    let root = tmp("ckpt");
    write_folder(&root.join("data"), &["a", "b"], 6);
    let mut job = CheckpointFt::new(model, root.join("data"));
    job.methods = vec![FtMethod::Naive, FtMethod::ProxyFda(1.0)];
    job.steps = 2;
    job.lr = 1e-3;
    job.classes_per_batch = 2;
    job.per_class = 2;
    job.holdout = 0.25;
    job.batch = 8;
    let out = root.join("out");
    let mut args = EvalArgs::new(&out).with_device("flex");
    args.seed = 3;
    let path = experiment::run_checkpoint(&args, &job).unwrap();
    assert_eq!(path, out.join("report.json"));
    let report = Report::load(&out).unwrap();
    assert_eq!(report.eval, "proxy-fda-checkpoint");
    assert_eq!(report.seed, 3);
    assert!(report.claims.is_empty());
    assert_eq!(report.tables[0].rows.len(), 2);
    for m in &job.methods {
        let dir = out.join("runs").join(m.slug());
        assert!(dir.is_dir(), "{} missing", dir.display());
    }

    // The synthetic eval's plan keys do not apply to this mode.
    let args = EvalArgs::new(root.join("out2")).with_set(["ft_steps=3"]);
    let e = experiment::run_checkpoint(&args, &job)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--set"), "{e}");
}
