//! What every eval binary shares: the command line, device choice and timing.
//!
//! Each paper crate ships an `eval-<name>` binary that `cargo xtask eval` builds and runs
//! with `--device`, `--scale`, `--out` and `--seed`, and that writes `<out>/report.json`.

use crate::backend::{BackendKind, resolve_device};
use crate::error::Result;
use burn::tensor::Device;
use std::path::PathBuf;

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
}

impl EvalArgs {
    /// Resolve the device and create the output directory.
    pub fn setup(&self) -> Result<(BackendKind, Device)> {
        std::fs::create_dir_all(&self.out).map_err(|e| crate::Error::io(&self.out, e))?;
        resolve_device(self.device.as_deref())
    }

    /// [`EvalArgs::setup`], then the one-line start banner every eval prints on stderr.
    pub fn start(&self, eval: &str) -> Result<(BackendKind, Device)> {
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
