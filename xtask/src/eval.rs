//! `cargo xtask eval`: build and run each selected eval, then write the summary.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::Context;
use ember_report::{Report, Summary};

use crate::EvalArgs;
use crate::evals;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The cargo that runs us (`$CARGO`), or `cargo` from `PATH`.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo test --workspace --release --features <F> --no-run`: builds every eval binary with
/// exactly the feature unification of the README's test command (by default), so the evals
/// and the tests share one build (`cargo build -p <one package>` would unify features differently, without
/// dev-dependencies and other members, and rebuild the Burn stack).
pub fn build_args(features: &str) -> Vec<OsString> {
    [
        "test",
        "--workspace",
        "--release",
        "--features",
        features,
        "--no-run",
    ]
    .map(OsString::from)
    .to_vec()
}

/// Arguments of an eval binary writing to `report_dir`.
pub fn run_args(args: &EvalArgs, report_dir: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = [
        "--device",
        args.device.as_str(),
        "--scale",
        args.scale.as_str(),
        "--out",
    ]
    .map(OsString::from)
    .to_vec();
    v.push(report_dir.as_os_str().to_owned());
    v.push("--seed".into());
    v.push(args.seed.to_string().into());
    if args.resume {
        v.push("--resume".into());
    }
    if let Some(config) = &args.config {
        v.push("--config".into());
        v.push(config.as_os_str().to_owned());
    }
    for o in &args.overrides {
        v.push("--set".into());
        v.push(o.into());
    }
    v
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR` and cargo config).
pub(crate) fn target_dir(cargo: &OsStr) -> anyhow::Result<PathBuf> {
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(project_root())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo metadata")?;
    anyhow::ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        out.status
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed invalid JSON")?;
    let dir = meta["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(PathBuf::from(dir))
}

/// Runs `program <args>` in the workspace root with stdout/stderr passed through.
fn status(program: &Path, args: &[OsString]) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .current_dir(project_root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("exited with {status}"))
    }
}

/// The report an eval left in `report_dir`, or why there is none. `run` is the outcome of
/// building and running the eval.
pub fn collect(report_dir: &Path, run: Result<(), String>) -> Result<Report, String> {
    run?;
    Report::load(report_dir.join("report.json")).map_err(|e| e.to_string())
}

fn fmt_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

/// Runs the `eval` subcommand.
pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        print!("{}", evals::list());
        return Ok(ExitCode::SUCCESS);
    }
    args.check_plan_args().map_err(anyhow::Error::msg)?;
    let selected = evals::select(&args.names)?;
    let out = std::path::absolute(&args.out)
        .with_context(|| format!("bad --out {}", args.out.display()))?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let cargo = cargo();
    let started = Instant::now();
    let n = selected.len();

    let features = args.build_features().map_err(anyhow::Error::msg)?;
    eprintln!(
        "==> building every eval (cargo test --workspace --release --features {features} --no-run)"
    );
    let t_build = Instant::now();
    let built =
        status(Path::new(&cargo), &build_args(&features)).map_err(|e| format!("build failed: {e}"));
    eprintln!("    build: {}", fmt_secs(t_build.elapsed().as_secs_f64()));
    let bin_dir = target_dir(&cargo)?.join("release");
    let mut outcomes = Vec::with_capacity(n);
    for (i, spec) in selected.iter().enumerate() {
        let report_dir = out.join(spec.name);
        eprintln!(
            "\n==> [{}/{n}] {} (paper {}): {}\n    device {}, scale {}, seed {}, report in {}",
            i + 1,
            spec.name,
            spec.paper,
            spec.description,
            args.device.as_str(),
            args.scale.as_str(),
            args.seed,
            report_dir.display()
        );
        // A report left by an earlier run must not pass for this one (with --resume too:
        // the eval rewrites it when it finishes).
        let stale = report_dir.join("report.json");
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove stale {}", stale.display()))?;
        }

        let t_run = Instant::now();
        let ran = built.clone().and_then(|()| {
            status(&bin_dir.join(spec.bin), &run_args(args, &report_dir))
                .map_err(|e| format!("eval failed: {e}"))
        });
        let run_s = if ran.is_ok() {
            t_run.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let result = collect(&report_dir, ran);
        match &result {
            Ok(r) => eprintln!(
                "<== {} ok in {} ({}/{} claims hold)",
                spec.name,
                fmt_secs(run_s),
                r.claims_holding(),
                r.claims.len()
            ),
            Err(e) => eprintln!("<== {} FAILED: {e}", spec.name),
        }
        outcomes.push((spec.name.to_string(), result, run_s));
    }

    let mut summary = Summary::build(args.device.as_str(), args.scale.as_str(), outcomes);
    summary.total_elapsed_s = started.elapsed().as_secs_f64();
    let md = summary.write(&out).context("cannot write the summary")?;
    println!("\n{}", summary.to_text());
    println!("summary: {}", md.display());
    Ok(if summary.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Device, Scale};
    use ember_report::{Claim, RunStatus};

    fn args(device: Device) -> EvalArgs {
        EvalArgs {
            names: vec![],
            device,
            scale: Scale::Quick,
            out: "ember-out".into(),
            seed: 3,
            features: None,
            resume: false,
            config: None,
            overrides: vec![],
            list: false,
        }
    }

    fn tmp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ember-xtask-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn strs(v: &[OsString]) -> Vec<&str> {
        v.iter().map(|s| s.to_str().unwrap()).collect()
    }

    #[test]
    fn command_lines() {
        let a = args(Device::Flex);
        assert_eq!(
            strs(&build_args(&a.build_features().unwrap())),
            [
                "test",
                "--workspace",
                "--release",
                "--features",
                "ndarray,wgpu",
                "--no-run"
            ]
        );
        assert_eq!(
            strs(&run_args(&a, Path::new("/o/core"))),
            [
                "--device", "flex", "--scale", "quick", "--out", "/o/core", "--seed", "3"
            ]
        );
        let wa = args(Device::Wgpu);
        let w = build_args(&wa.build_features().unwrap());
        assert!(
            strs(&w)
                .windows(2)
                .any(|p| p == ["--features", "ndarray,wgpu"])
        );
        assert!(
            strs(&run_args(&args(Device::Wgpu), Path::new("/o")))
                .windows(2)
                .any(|p| p == ["--device", "wgpu"])
        );
    }

    #[test]
    fn resume_config_and_overrides_pass_through() {
        let mut a = args(Device::Flex);
        a.names = vec!["core".into()];
        a.resume = true;
        a.config = Some("plan.toml".into());
        a.overrides = vec!["steps=3".into(), "batch=4".into()];
        assert!(a.check_plan_args().is_ok());
        assert_eq!(
            &strs(&run_args(&a, Path::new("/o")))[8..],
            [
                "--resume",
                "--config",
                "plan.toml",
                "--set",
                "steps=3",
                "--set",
                "batch=4"
            ]
        );
        a.names.push("abx".into());
        assert!(
            a.check_plan_args()
                .unwrap_err()
                .contains("exactly one eval")
        );
        a.names.clear();
        assert!(a.check_plan_args().unwrap_err().contains("all of them"));
    }

    #[test]
    fn target_dir_is_found() {
        let dir = target_dir(&cargo()).unwrap();
        assert!(dir.is_absolute(), "{}", dir.display());
    }

    #[test]
    fn project_root_is_the_workspace() {
        assert!(project_root().join("Cargo.toml").is_file());
        assert!(project_root().join("xtask").is_dir());
    }

    #[test]
    fn summary_from_fake_report_dirs() {
        let out = tmp_dir("summary");
        Report::new("core", "core", "Causal LM")
            .claim(
                Claim::new("C1", "loss < unigram entropy", "held-out CE", 2.0, true)
                    .baseline(3.0, "H1"),
            )
            .claim(Claim::new("C2", "fast", "tokens/s", 10.0, false))
            .write(out.join("core"))
            .unwrap();
        std::fs::create_dir_all(out.join("broken")).unwrap();
        std::fs::write(out.join("broken/report.json"), "{not json").unwrap();

        let outcomes = vec![
            ("core".to_string(), collect(&out.join("core"), Ok(())), 5.0),
            (
                "broken".to_string(),
                collect(&out.join("broken"), Ok(())),
                1.0,
            ),
            (
                "nothing".to_string(),
                collect(&out.join("nothing"), Ok(())),
                1.0,
            ),
            (
                "nobuild".to_string(),
                collect(
                    &out.join("nobuild"),
                    Err("build failed: exited with 101".into()),
                ),
                0.0,
            ),
        ];
        let summary = Summary::build("flex", "quick", outcomes);
        assert_eq!(summary.claims.len(), 2);
        // A claim that does not hold is not a failure; missing/corrupt reports and build failures are.
        let status: Vec<_> = summary.runs.iter().map(|r| r.status).collect();
        assert_eq!(
            status,
            [
                RunStatus::Ok,
                RunStatus::Failed,
                RunStatus::Failed,
                RunStatus::Failed
            ]
        );
        assert!(
            summary.runs[1]
                .error
                .as_deref()
                .unwrap()
                .contains("corrupt report")
        );
        assert!(
            summary.runs[2]
                .error
                .as_deref()
                .unwrap()
                .contains("no report at")
        );
        assert_eq!(
            summary.runs[3].error.as_deref(),
            Some("build failed: exited with 101")
        );
        assert!(!summary.all_ok());

        summary.write(&out).unwrap();
        let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
        assert!(
            md.contains("| core | **C1** loss < unigram entropy | held-out CE | 2 | 3 (H1) | ✓ |"),
            "{md}"
        );
        assert!(md.contains("[report.md](core/report.md)"));
        assert!(out.join("summary.json").is_file());
        let _ = std::fs::remove_dir_all(&out);
    }
}
