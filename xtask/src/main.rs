//! ember's build orchestration, in plain Rust (run it as `cargo xtask <command>`).
//!
//! * `cargo xtask eval [NAME...]`: build and run paper evals and collect their reports into
//!   `<OUT>/REPORT.md` and `<OUT>/summary.json`. See [`eval`].
//! * `cargo xtask tidy`: check the workspace conventions a lint cannot (crate layout, backend
//!   features, eval registration, README sections, figures). See [`tidy`].
//! * `cargo xtask new-crate NAME`: lay out a paper crate in that shape. See [`new_crate`].
//! * `cargo xtask prune`: delete the build outputs the current build no longer uses. See
//!   [`prune`].

mod eval;
mod evals;
mod new_crate;
mod prune;
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "ember build orchestration",
    long_about = "ember build orchestration: run paper evals and collect their reports.\n\n\
                  Run from the workspace root as `cargo xtask <COMMAND>`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build and run paper evals, then summarize their claims in <OUT>/REPORT.md
    #[command(
        long_about = "Build and run paper evals, then summarize their claims.\n\n\
        First it builds every eval binary with\n\
        \x20 cargo test --workspace --release --features <F> --no-run\n\
        (F = --features, default `ndarray,wgpu`: the very build of the README's test command, so \
        evals and tests share one compiled Burn stack; `--features ndarray` skips compiling wgpu \
        for a CPU-only machine). Then, for \
        each selected eval, it runs\n\
        \x20 <target>/release/<bin> --device <DEVICE> --scale <SCALE> --out <OUT>/<name> --seed <SEED>\n\n\
        Each eval writes <OUT>/<name>/report.json and report.md; afterwards <OUT>/summary.json and \
        <OUT>/REPORT.md list every claim (paper | claim | ours | baseline | holds) and every run.\n\n\
        Exits non-zero if an eval fails to build or run or leaves no valid report; a claim that \
        does not hold is a result, not a failure."
    )]
    Eval(EvalArgs),
    /// Check the workspace conventions a compiler lint cannot; exits non-zero on a violation
    #[command(
        long_about = "Check the workspace conventions a compiler lint cannot: every paper crate \
        forwards the flex/ndarray/wgpu features, has tests/parity.rs, registers its eval binaries \
        in xtask/src/evals.rs, has the README sections of docs/new-crate.md and uses its README as \
        crate docs; every member opts into [workspace.lints]; every committed figure is shown by a \
        markdown file and every linked image exists. Prints one line per problem."
    )]
    Tidy,
    /// Lay out a new paper crate crates/NAME (package ember-NAME) in the shape tidy checks
    #[command(
        long_about = "Lay out a new paper crate crates/NAME (package ember-NAME) in the shape \
        docs/new-crate.md describes and `cargo xtask tidy` checks: the backend and eval \
        features, src/experiment.rs with its plan, the thin eval binary, tests/parity.rs, an \
        eval smoke test and the README sections. Refuses to overwrite. Afterwards register the \
        eval in xtask/src/evals.rs and fill in every TODO."
    )]
    NewCrate {
        /// Crate name: lower-case words joined by '-', e.g. spatial-audio
        name: String,
    },
    /// Delete old build outputs in <target>/release/deps that the current build no longer uses
    #[command(
        long_about = "Delete old build outputs in <target>/release/deps that the current build no \
        longer uses. Cargo never removes a unit's old outputs, and every change of features or \
        dependencies leaves new test and eval binaries (about 130 MB each) beside the old ones, \
        so a kept target directory fills the disk.\n\n\
        By default it asks cargo which files the README's test build uses (it runs\n\
        \x20 cargo test --workspace --release --features <F> --no-run --message-format=json\n\
        which builds first if that build is not fresh) and deletes every other hash-named file. \
        With --executables it deletes every hash-named executable without building, for a disk \
        too full to build on; the next build relinks the ones it needs."
    )]
    Prune {
        /// Cargo features of the build to keep [default: ndarray,wgpu, the README's test build]
        #[arg(long, value_name = "F", default_value = "ndarray,wgpu")]
        features: String,
        /// Delete every test and eval executable without asking cargo (no build needed)
        #[arg(long)]
        executables: bool,
        /// List what would be deleted, delete nothing
        #[arg(long)]
        dry_run: bool,
    },
}

/// Arguments of `cargo xtask eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Evals to run, by name (default: every registered eval; see --list)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Burn backend the evals run on
    #[arg(long, value_enum, default_value_t = Device::Flex)]
    pub device: Device,
    /// Experiment scale passed to every eval
    #[arg(long, value_enum, default_value_t = Scale::Quick)]
    pub scale: Scale,
    /// Output directory: one sub-directory per eval, plus summary.json and REPORT.md
    #[arg(long, value_name = "DIR", default_value = "ember-out")]
    pub out: PathBuf,
    /// Seed passed to every eval
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Cargo features of the eval build [default: ndarray,wgpu, the README's test build].
    /// `ndarray` alone skips compiling wgpu (then only --device flex|ndarray run)
    #[arg(long, value_name = "F")]
    pub features: Option<String>,
    /// Resume interrupted evals from the checkpoints in their output directories
    #[arg(long)]
    pub resume: bool,
    /// Plan file (TOML or JSON, e.g. a previous run's plan.json) passed to the eval; needs
    /// exactly one eval NAME, since every eval has its own plan keys
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Plan override passed to the eval, e.g. `--set steps=200`; repeatable; needs exactly
    /// one eval NAME
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// List the registered evals (name, paper, description) and exit
    #[arg(long)]
    pub list: bool,
}

impl EvalArgs {
    /// Errors: `--config` or `--set` with other than one eval (plan keys differ per eval).
    pub fn check_plan_args(&self) -> Result<(), String> {
        if (self.config.is_some() || !self.overrides.is_empty()) && self.names.len() != 1 {
            return Err(format!(
                "--config and --set change one eval's plan: name exactly one eval (got {})",
                if self.names.is_empty() {
                    "all of them".to_string()
                } else {
                    self.names.join(", ")
                }
            ));
        }
        Ok(())
    }

    /// The features the evals are built with: `--features`, else the device's default.
    /// Errors: features that do not compile the chosen device in.
    pub fn build_features(&self) -> Result<String, String> {
        let f = match &self.features {
            Some(f) => f.trim().to_string(),
            None => return Ok(self.device.features().to_string()),
        };
        let names: Vec<&str> = f.split([',', ' ']).filter(|s| !s.is_empty()).collect();
        // `flex` is a default feature of every crate; the others must be named.
        if self.device != Device::Flex && !names.contains(&self.device.as_str()) {
            return Err(format!(
                "--features {f:?} does not compile in --device {}; add `{}`",
                self.device.as_str(),
                self.device.as_str()
            ));
        }
        Ok(names.join(","))
    }
}

/// Backend selection, passed through to the eval binaries as `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// Burn's pure-Rust CPU backend
    Flex,
    /// The ndarray CPU backend
    Ndarray,
    /// GPU through wgpu
    Wgpu,
}

impl Device {
    /// The name passed to the eval binaries as `--device`.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Flex => "flex",
            Device::Ndarray => "ndarray",
            Device::Wgpu => "wgpu",
        }
    }

    /// Cargo features the eval crates are built with by default: those of the README's test
    /// command (`flex` is a default feature of every crate), whatever the device, so evals
    /// and tests share one build and `--device wgpu` needs no rebuild.
    pub fn features(self) -> &'static str {
        "ndarray,wgpu"
    }
}

/// Experiment scale, passed through to the eval binaries as `--scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// Small settings: minutes on a CPU, for smoke tests
    Quick,
    /// Paper-scale settings
    Full,
}

impl Scale {
    /// The name passed to the eval binaries as `--scale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Full => "full",
        }
    }
}

/// Runs `cargo xtask tidy`.
fn run_tidy() -> anyhow::Result<ExitCode> {
    let problems = tidy::check(&eval::project_root())?;
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        eprintln!("tidy: the workspace follows its conventions (docs/new-crate.md)");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("tidy: {} problem(s)", problems.len());
        Ok(ExitCode::FAILURE)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Eval(args) => eval::run(&args),
        Command::Tidy => run_tidy(),
        Command::Prune {
            features,
            executables,
            dry_run,
        } => prune::run(&features, executables, dry_run).map(|()| ExitCode::SUCCESS),
        Command::NewCrate { name } => {
            new_crate::create(&eval::project_root(), &name).map(|files| {
                for f in &files {
                    println!("created {f}");
                }
                eprintln!(
                    "next: register the eval in xtask/src/evals.rs, then fill in every TODO \
                 (docs/new-crate.md is the checklist)"
                );
                ExitCode::SUCCESS
            })
        }
    };
    // Print errors ourselves: `main() -> Result` would add a backtrace under RUST_BACKTRACE.
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
    }

    fn eval_args(args: &[&str]) -> EvalArgs {
        match parse(args).unwrap().command {
            Command::Eval(a) => a,
            _ => panic!("not an eval command"),
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn eval_defaults() {
        let a = eval_args(&["eval"]);
        assert!(a.names.is_empty());
        assert_eq!(a.device, Device::Flex);
        assert_eq!(a.scale, Scale::Quick);
        assert_eq!(a.out, PathBuf::from("ember-out"));
        assert_eq!(a.seed, 0);
        assert!(!a.list);
    }

    #[test]
    fn eval_all_options() {
        let a = eval_args(&[
            "eval", "core", "abx", "--device", "wgpu", "--scale", "full", "--out", "/tmp/o",
            "--seed", "42",
        ]);
        assert_eq!(a.names, ["core", "abx"]);
        assert_eq!(a.device, Device::Wgpu);
        assert_eq!(a.scale, Scale::Full);
        assert_eq!(a.out, PathBuf::from("/tmp/o"));
        assert_eq!(a.seed, 42);
        assert!(eval_args(&["eval", "--list"]).list);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["eval", "--device", "cuda"]).is_err());
        assert!(parse(&["eval", "--scale", "huge"]).is_err());
        assert!(parse(&["eval", "--seed", "-1"]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn features_per_device() {
        for d in [Device::Flex, Device::Ndarray, Device::Wgpu] {
            assert_eq!(d.features(), "ndarray,wgpu", "{d:?}");
        }
    }

    #[test]
    fn features_override() {
        assert_eq!(
            eval_args(&["eval"]).build_features().unwrap(),
            "ndarray,wgpu"
        );
        let a = eval_args(&["eval", "--features", " ndarray "]);
        assert_eq!(a.build_features().unwrap(), "ndarray");
        let a = eval_args(&["eval", "--device", "wgpu", "--features", "ndarray"]);
        let e = a.build_features().unwrap_err();
        assert!(e.contains("does not compile in --device wgpu"), "{e}");
    }
}
