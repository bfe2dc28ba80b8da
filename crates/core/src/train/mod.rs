//! An explicit training loop in the style of Burn's `custom-training-loop` example, with the
//! things long research runs need: AdamW, warmup + cosine learning rate, global
//! gradient-norm clipping, a progress bar with loss and throughput, a JSONL metric log,
//! atomic periodic checkpoints (model, optimizer, step, RNG) and exact resume, and a hard
//! stop on a non-finite loss that leaves the last good checkpoint intact.
//!
//! The caller keeps the model and the batch logic; [`Trainer::run`] calls a closure that
//! returns the loss for one step:
//!
//! ```no_run
//! # use ember_core::train::{Trainer, TrainConfig, StepOutput};
//! # use ember_core::nn::TransformerConfig;
//! # use burn::prelude::*;
//! # fn main() -> ember_core::Result<()> {
//! let device = Device::flex().autodiff();
//! let model = TransformerConfig::new(100, 32, 4, 2, 64, 16).with_causal(true).init(&device);
//! let cfg = TrainConfig::new(200, 3e-3);
//! let mut trainer = Trainer::new(model, cfg, &device).with_dir("runs/lm")?;
//! trainer.resume()?; // no-op on a fresh directory
//! trainer.run(|model, rng, _step| {
//!     # let _ = (model, rng);
//!     # let loss = Tensor::<1>::zeros([1], &device);
//!     // draw a batch with `rng`, compute `loss` with `model`...
//!     Ok(StepOutput::new(loss, 8 * 16))
//! })?;
//! let model = trainer.into_model();
//! # Ok(()) }
//! ```

mod checkpoint;
mod clip;
mod schedule;

pub use checkpoint::{CheckpointState, latest_checkpoint};
pub use clip::{clip_global_norm, global_grad_norm};
pub use schedule::LrSchedule;

use crate::error::{Error, Result};
use crate::seed::Seed;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Hyper-parameters of a [`Trainer`] run.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Total optimisation steps.
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps from `lr / warmup` to `lr`.
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// Cosine decay floor as a fraction of `lr` (0: decay to zero; 1: constant after warmup).
    #[config(default = 0.1)]
    pub min_lr_ratio: f64,
    /// Decoupled weight decay (AdamW); 0 gives plain Adam.
    #[config(default = 0.01)]
    pub weight_decay: f64,
    /// Adam β1.
    #[config(default = 0.9)]
    pub beta1: f64,
    /// Adam β2.
    #[config(default = 0.999)]
    pub beta2: f64,
    /// Adam ε (PyTorch's default; Burn's is 1e-5).
    #[config(default = 1e-8)]
    pub epsilon: f64,
    /// Clip the global gradient L2 norm to this value (`None`: no clipping).
    #[config(default = "Some(1.0)")]
    pub grad_clip: Option<f64>,
    /// Write a JSONL log line every this many steps.
    #[config(default = 10)]
    pub log_every: usize,
    /// Checkpoint every this many steps (and at the end); `None`: only at the end.
    #[config(default = "None")]
    pub checkpoint_every: Option<usize>,
    /// How many checkpoints to keep on disk.
    #[config(default = 2)]
    pub keep_checkpoints: usize,
    /// Seed of the host RNG handed to the step closure and of the per-step backend RNG.
    #[config(default = 0)]
    pub seed: u64,
    /// Show a progress bar on stderr (hidden automatically when stderr is not a terminal).
    #[config(default = true)]
    pub progress: bool,
    /// Label shown before the progress bar.
    #[config(default = "String::from(\"train\")")]
    pub label: String,
}

/// What one step's closure returns.
pub struct StepOutput {
    /// Scalar loss (`[1]`) on the autodiff device.
    pub loss: Tensor<1>,
    /// Items processed (tokens, examples): for the throughput figure.
    pub items: usize,
    /// Extra scalars to log.
    pub extra: Vec<(String, f64)>,
}

impl StepOutput {
    /// A loss and an item count.
    pub fn new(loss: Tensor<1>, items: usize) -> Self {
        Self {
            loss,
            items,
            extra: Vec::new(),
        }
    }

    /// Add a logged scalar.
    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.extra.push((name.to_string(), value));
        self
    }
}

/// One JSONL log record.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LogRecord {
    /// Step just completed (1-based).
    pub step: usize,
    /// Loss of that step.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Items per second since the previous record.
    pub items_per_s: f64,
    /// Wall time since the run (or resume) started.
    pub elapsed_s: f64,
    /// Extra scalars from [`StepOutput::with`].
    #[serde(default)]
    pub extra: std::collections::BTreeMap<String, f64>,
}

/// Summary of a finished [`Trainer::run`].
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Steps executed by this call (excludes steps restored from a checkpoint).
    pub steps_run: usize,
    /// Loss of the final step.
    pub final_loss: f64,
    /// Mean items/s over this call.
    pub items_per_s: f64,
    /// Wall time of this call.
    pub elapsed_s: f64,
}

/// The explicit training loop. See the module docs.
pub struct Trainer<M: Module> {
    model: M,
    optim: ModuleOptimizer,
    cfg: TrainConfig,
    schedule: LrSchedule,
    step: usize,
    rng: ChaCha8Rng,
    device: Device,
    dir: Option<PathBuf>,
    bar: Option<ProgressBar>,
}

impl TrainConfig {
    /// Checks every field before a trainer is built: a non-positive or non-finite learning
    /// rate, betas outside [0, 1), a warm-up longer than the run, ... are errors naming the
    /// field.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |field: &str, what: String| Err(Error::Config(format!("TrainConfig.{field} {what}")));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(
                "lr",
                format!("must be positive and finite, got {}", self.lr),
            );
        }
        if self.warmup_steps > self.steps {
            return bad(
                "warmup_steps",
                format!("({}) exceeds steps ({})", self.warmup_steps, self.steps),
            );
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad(
                "min_lr_ratio",
                format!("must be in [0, 1], got {}", self.min_lr_ratio),
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                format!("must be ≥ 0, got {}", self.weight_decay),
            );
        }
        for (field, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(field, format!("must be in [0, 1), got {b}"));
            }
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return bad("epsilon", format!("must be positive, got {}", self.epsilon));
        }
        if let Some(c) = self.grad_clip
            && !(c.is_finite() && c > 0.0)
        {
            return bad("grad_clip", format!("must be positive when set, got {c}"));
        }
        if self.log_every == 0 {
            return bad("log_every", "must be at least 1".into());
        }
        if self.checkpoint_every == Some(0) {
            return bad("checkpoint_every", "must be at least 1 when set".into());
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints", "must be at least 1".into());
        }
        Ok(())
    }
}

impl<M: Module> Trainer<M> {
    /// [`Trainer::new`] after [`TrainConfig::validate`]: the constructor for configurations
    /// that come from a user.
    pub fn try_new(model: M, cfg: TrainConfig, device: &Device) -> Result<Self> {
        cfg.validate()?;
        Ok(Self::new(model, cfg, device))
    }

    /// A trainer for `model` (already on `device`, which should be an autodiff device).
    ///
    /// # Panics
    /// With [`TrainConfig::validate`]'s message on an invalid configuration; see
    /// [`Trainer::try_new`].
    pub fn new(model: M, cfg: TrainConfig, device: &Device) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("{e}");
        }
        let optim = AdamWConfig::new()
            .with_beta_1(cfg.beta1 as f32)
            .with_beta_2(cfg.beta2 as f32)
            .with_epsilon(cfg.epsilon as f32)
            .with_weight_decay(cfg.weight_decay as f32)
            .init();
        let schedule =
            LrSchedule::warmup_cosine(cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio);
        Self {
            model,
            optim,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            schedule,
            cfg,
            step: 0,
            device: device.clone(),
            dir: None,
            bar: None,
        }
    }

    /// Log to `dir/metrics.jsonl` and checkpoint under `dir/` (created if missing).
    pub fn with_dir(mut self, dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        self.dir = Some(dir);
        Ok(self)
    }

    /// Restore model, optimizer, step and RNG from the latest checkpoint in the run
    /// directory, if there is one. Returns the restored step (0 when starting fresh).
    pub fn resume(&mut self) -> Result<usize> {
        let Some(dir) = &self.dir else {
            return Ok(0);
        };
        let Some(ckpt) = latest_checkpoint(dir)? else {
            return Ok(0);
        };
        // Everything is verified and decoded first; the trainer changes only once nothing can
        // fail any more, so a failed resume leaves it as it was.
        let (model, optim, state, rng) =
            checkpoint::load(&ckpt, self.model.clone(), self.optim.clone())?;
        checkpoint::truncate_log(&dir.join("metrics.jsonl"), state.step)?;
        self.model = model;
        self.optim = optim;
        self.step = state.step;
        self.rng = rng;
        Ok(self.step)
    }

    /// The step the next call to [`Trainer::run`] starts from.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The model being trained.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The trained model.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Write a checkpoint of the current state now.
    pub fn checkpoint(&self) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let state = CheckpointState::new(self.step, &self.rng, &self.cfg);
        let path = checkpoint::save(
            dir,
            &self.model,
            &self.optim,
            &state,
            self.cfg.keep_checkpoints,
        )?;
        Ok(Some(path))
    }

    /// Train until `cfg.steps`, calling `step_fn(model, rng, step)` for each step's loss.
    ///
    /// A NaN or infinite loss stops the run with [`Error::Training`] before the update, so
    /// the model and the last checkpoint on disk are the last good ones.
    pub fn run<F>(&mut self, step_fn: F) -> Result<RunSummary>
    where
        F: FnMut(&M, &mut ChaCha8Rng, usize) -> Result<StepOutput>,
    {
        self.run_until(self.cfg.steps, step_fn)
    }

    /// Run at most `n` more steps (never past `cfg.steps`): for interleaving evaluation.
    pub fn run_steps<F>(&mut self, n: usize, step_fn: F) -> Result<RunSummary>
    where
        F: FnMut(&M, &mut ChaCha8Rng, usize) -> Result<StepOutput>,
    {
        let until = self.step.saturating_add(n).min(self.cfg.steps);
        self.run_until(until, step_fn)
    }

    /// Whether every configured step has run.
    pub fn is_done(&self) -> bool {
        self.step >= self.cfg.steps
    }

    fn run_until<F>(&mut self, until: usize, mut step_fn: F) -> Result<RunSummary>
    where
        F: FnMut(&M, &mut ChaCha8Rng, usize) -> Result<StepOutput>,
    {
        let start = Instant::now();
        let first_step = self.step;
        let total = self.cfg.steps;
        if self.bar.is_none() {
            self.bar = Some(self.progress_bar());
        }
        let bar = self.bar.clone().unwrap_or_else(ProgressBar::hidden);
        let mut log = match &self.dir {
            Some(dir) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("metrics.jsonl"))
                    .map_err(|e| Error::io(dir.join("metrics.jsonl"), e))?,
            ),
            None => None,
        };
        let mut items_total = 0usize;
        let mut items_window = 0usize;
        let mut window_start = Instant::now();
        let mut last_loss = f64::NAN;
        while self.step < until {
            let step = self.step;
            // Reseed the backend per step so dropout masks depend only on (seed, step):
            // a resumed run draws exactly what the uninterrupted run drew.
            self.device
                .seed(Seed::new(self.cfg.seed).step(step as u64).value());
            let out = step_fn(&self.model, &mut self.rng, step)?;
            let loss_value = out.loss.clone().into_scalar::<f64>();
            if !loss_value.is_finite() {
                bar.abandon_with_message(format!(
                    "stopped: loss {loss_value} at step {}",
                    step + 1
                ));
                let last = self
                    .dir
                    .as_ref()
                    .map(|d| latest_checkpoint(d))
                    .transpose()?
                    .flatten()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "none written".into());
                return Err(Error::Training(format!(
                    "non-finite loss ({loss_value}) at step {}; the model was not updated. Last good checkpoint: {last}",
                    step + 1
                )));
            }
            let grads = GradientsParams::from_grads(out.loss.backward(), &self.model);
            let (grads, grad_norm) = match self.cfg.grad_clip {
                Some(max) => clip_global_norm(&self.model, grads, max),
                None => {
                    let n = global_grad_norm(&self.model, &grads);
                    (grads, n)
                }
            };
            let lr = self.schedule.lr(step);
            self.model = self.optim.step(lr, self.model.clone(), grads);
            self.step += 1;
            last_loss = loss_value;
            items_total += out.items;
            items_window += out.items;
            bar.inc(1);
            if self.step.is_multiple_of(self.cfg.log_every.max(1)) || self.step == total {
                let window = window_start.elapsed().as_secs_f64().max(1e-9);
                let record = LogRecord {
                    step: self.step,
                    loss: loss_value,
                    lr,
                    grad_norm,
                    items_per_s: items_window as f64 / window,
                    elapsed_s: start.elapsed().as_secs_f64(),
                    extra: out.extra.into_iter().collect(),
                };
                bar.set_message(format!(
                    "loss {loss_value:.4}  {:.0} items/s",
                    record.items_per_s
                ));
                if let Some(f) = log.as_mut() {
                    let line = serde_json::to_string(&record)
                        .map_err(|e| Error::Training(format!("log encode: {e}")))?;
                    writeln!(f, "{line}").map_err(|e| Error::io("metrics.jsonl", e))?;
                }
                items_window = 0;
                window_start = Instant::now();
            }
            let periodic = self
                .cfg
                .checkpoint_every
                .is_some_and(|every| every > 0 && self.step.is_multiple_of(every));
            if periodic || self.step == total {
                self.checkpoint()?;
            }
        }
        if self.step >= total {
            bar.finish_and_clear();
        }
        let elapsed = start.elapsed().as_secs_f64();
        Ok(RunSummary {
            steps_run: self.step - first_step,
            final_loss: last_loss,
            items_per_s: items_total as f64 / elapsed.max(1e-9),
            elapsed_s: elapsed,
        })
    }

    fn progress_bar(&self) -> ProgressBar {
        crate::progress::bar(self.cfg.progress, self.cfg.steps as u64, &self.cfg.label)
            .with_position(self.step as u64)
    }
}
