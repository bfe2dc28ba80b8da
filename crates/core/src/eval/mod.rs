//! What every eval shares: the command line, the plan, device choice, provenance and the
//! closing steps.
//!
//! Each paper crate keeps its experiment in a library module (callable from tests at tiny
//! size) and ships a thin `eval-<name>` binary that `cargo xtask eval` builds and runs with
//! `--device`, `--scale`, `--out`, `--seed`, `--resume`, `--config` and `--set`:
//!
//! ```ignore
//! let cli = Cli::parse();
//! let (run, plan) = EvalRun::start::<MyPlan>(&cli.eval, "my-eval")?;
//! let report = my_crate::experiment::run(&run, &plan)?;
//! run.finish(report)?;
//! ```

pub mod plan;
pub mod provenance;

pub use plan::{Plan, check};

use crate::backend::{BackendKind, resolve_device};
use crate::error::Result;
use crate::report::Report;
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How big a reproduction run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// Minutes on a 2-core CPU: checks the pipeline end to end, claims measured on small data.
    Quick,
    /// Up to an hour on a 2-core CPU: the sizes the claims are judged at.
    Full,
}

impl Scale {
    /// `quick` or `full`.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Full => "full",
        }
    }
}

/// The arguments every eval binary accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// Backend: flex (CPU, default), ndarray (CPU) or wgpu (GPU). Falls back to the
    /// EMBER_DEVICE environment variable, then to the first compiled CPU backend.
    #[arg(long)]
    pub device: Option<String>,
    /// quick: a few minutes on a laptop CPU; full: the sizes the claims are judged at.
    #[arg(long, value_enum, default_value = "quick")]
    pub scale: Scale,
    /// Directory for report.json, report.md, plots, logs and checkpoints.
    #[arg(long, default_value = "ember-out/eval")]
    pub out: PathBuf,
    /// Seed for data generation, initialisation and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Resume an interrupted run from the checkpoints in --out instead of starting afresh.
    #[arg(long)]
    pub resume: bool,
    /// Plan file (TOML, or JSON such as a previous run's plan.json) overriding the scale's
    /// defaults; only the keys it names change.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one plan entry after --config, e.g. `--set steps=200` or
    /// `--set model.d_model=64`; repeatable. Unknown keys and wrong kinds are errors.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl EvalArgs {
    /// The defaults of the command line (quick scale, seed 0, first compiled CPU backend)
    /// writing to `out`: for tests and scripts that run an experiment without a shell.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        EvalArgs {
            device: None,
            scale: Scale::Quick,
            out: out.into(),
            seed: 0,
            resume: false,
            config: None,
            overrides: Vec::new(),
        }
    }

    /// Builder: adds `--set key=value` overrides.
    pub fn with_set<S: Into<String>>(mut self, overrides: impl IntoIterator<Item = S>) -> Self {
        self.overrides.extend(overrides.into_iter().map(Into::into));
        self
    }

    /// Builder: picks the backend by name (`flex`, `ndarray`, `wgpu`).
    pub fn with_device(mut self, device: &str) -> Self {
        self.device = Some(device.to_string());
        self
    }

    /// Resolve the device and create the output directory.
    pub fn setup(&self) -> Result<(BackendKind, Device)> {
        std::fs::create_dir_all(&self.out).map_err(|e| crate::Error::io(&self.out, e))?;
        resolve_device(self.device.as_deref())
    }

    /// [`EvalArgs::setup`], then the one-line start banner every eval prints on stderr.
    pub fn start(&self, eval: &str) -> Result<(BackendKind, Device)> {
        // An eval process trains and exits: keep freed tensor buffers for reuse.
        crate::host::alloc::retain_freed_memory();
        let (kind, device) = self.setup()?;
        eprintln!(
            "eval {eval}: device {kind}, scale {}, seed {}",
            self.scale.name(),
            self.seed
        );
        Ok((kind, device))
    }

    /// A report for this run, with device, scale and seed filled in.
    pub fn report(
        &self,
        backend: BackendKind,
        eval: &str,
        paper: &str,
        title: &str,
    ) -> crate::report::Report {
        crate::report::Report::new(eval, paper, title)
            .with_device(backend.name())
            .with_scale(self.scale.name())
            .with_seed(self.seed)
    }

    /// A run directory under `--out` for checkpoints and logs; emptied unless `--resume`.
    pub fn run_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.out.join(name);
        if !self.resume && dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
        }
        Ok(dir)
    }
}

/// Runs an eval binary's body and turns its outcome into the exit status: an error is
/// printed as `error: <message>: <cause>...` (no backtrace, whatever `RUST_BACKTRACE` says)
/// and exits with status 1.
pub fn exit(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Test support for eval smoke tests: loads `<out>/report.json` of a finished run and checks
/// what every eval must give: the claims `claim_ids` in that order, each with a finite `ours`,
/// every listed figure on disk, and `plan.json`. Panics with the reason; returns the report
/// for the eval's own checks.
pub fn assert_finished(out: &Path, claim_ids: &[&str]) -> Report {
    let report =
        Report::load(out).unwrap_or_else(|e| panic!("no report in {}: {e}", out.display()));
    let ids: Vec<&str> = report.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, claim_ids, "claims of {}", report.eval);
    for c in &report.claims {
        assert!(c.ours.is_finite(), "claim {}: ours {}", c.id, c.ours);
    }
    for f in &report.figures {
        assert!(out.join(&f.file).is_file(), "figure {} missing", f.file);
    }
    assert!(out.join("plan.json").is_file(), "plan.json missing");
    report
}

/// One eval run in progress: its arguments, device, plan and clock.
#[derive(Debug)]
pub struct EvalRun {
    /// The command-line arguments it was started with.
    pub args: EvalArgs,
    /// The backend it runs on.
    pub backend: BackendKind,
    /// The device of that backend (no autodiff).
    pub device: Device,
    eval: String,
    plan: serde_json::Value,
    started: Instant,
}

impl EvalRun {
    /// Resolves the plan (scale defaults, `--config`, `--set`, validation) before anything
    /// else, then the device; creates `--out`, writes the plan to `<out>/plan.json` and
    /// prints the start banner.
    pub fn start<P: Plan>(args: &EvalArgs, eval: &str) -> Result<(EvalRun, P)> {
        let plan: P = plan::resolve(args.scale, args.config.as_deref(), &args.overrides)?;
        let (backend, device) = args.start(eval)?;
        let plan_json = plan::to_value(&plan)?;
        let text = serde_json::to_string_pretty(&plan_json)
            .map_err(|e| crate::Error::Config(e.to_string()))?;
        let path = args.out.join("plan.json");
        std::fs::write(&path, text).map_err(|e| crate::Error::io(&path, e))?;
        let run = EvalRun {
            args: args.clone(),
            backend,
            device,
            eval: eval.to_string(),
            plan: plan_json,
            started: Instant::now(),
        };
        Ok((run, plan))
    }

    /// The output directory (`--out`).
    pub fn out(&self) -> &Path {
        &self.args.out
    }

    /// The run's seed (`--seed`).
    pub fn seed(&self) -> u64 {
        self.args.seed
    }

    /// The run's scale (`--scale`).
    pub fn scale(&self) -> Scale {
        self.args.scale
    }

    /// A report for this run, with device, scale, seed and plan filled in.
    pub fn report(&self, paper: &str, title: &str) -> Report {
        let mut report = self.args.report(self.backend, &self.eval, paper, title);
        report.plan = Some(self.plan.clone());
        report
    }

    /// A run directory under `--out` for checkpoints and logs; emptied unless `--resume`.
    pub fn run_dir(&self, name: &str) -> Result<PathBuf> {
        self.args.run_dir(name)
    }

    /// Seconds since [`EvalRun::start`].
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Stamps wall time and provenance on `report`, writes `report.json` and `report.md`
    /// under `--out`, and prints which claims hold. Returns the path of `report.json`.
    pub fn finish(&self, mut report: Report) -> Result<PathBuf> {
        report.elapsed_s = self.elapsed_s();
        if report.plan.is_none() {
            report.plan = Some(self.plan.clone());
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        report.provenance = Some(provenance::collect(&cwd));
        let path = report.write(self.out())?;
        for c in &report.claims {
            eprintln!(
                "  {} {}: ours {} vs {}",
                if c.holds { "holds    " } else { "not held " },
                c.id,
                crate::report::fmt_num(c.ours),
                c.baseline
                    .map(crate::report::fmt_num)
                    .unwrap_or_else(|| "–".into()),
            );
        }
        eprintln!(
            "eval {}: {}/{} claims hold in {:.0} s; report: {}",
            self.eval,
            report.claims_holding(),
            report.claims.len(),
            report.elapsed_s,
            path.display()
        );
        Ok(path)
    }
}
