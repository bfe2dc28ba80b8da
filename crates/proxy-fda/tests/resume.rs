//! Long fine-tuning runs checkpoint and resume exactly through ember-core's `Trainer`: a tiny
//! Proxy-FDA run (generator trained jointly) and a plain FDA run, interrupted with
//! `run_steps` and resumed in a fresh `Trainer` from the checkpoint directory, end with the
//! parameters (running statistics included) of an uninterrupted run. Corrupt checkpoints and
//! checkpoints of a different model are errors, not panics.

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::prelude::*;
use ember_core::nn::{CnnEncoder, CnnEncoderConfig};
use ember_core::train::{RunSummary, StepOutput, TrainConfig, Trainer, latest_checkpoint};
use ember_proxy_fda::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// Burn's backend RNG is process-global and the harness runs tests on parallel threads: every
/// test here seeds it (model initialisation) and holds this lock.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const D: usize = 16;
const SIDE: u32 = 16;
const STEPS: usize = 8;

fn enc_cfg(d: usize) -> CnnEncoderConfig {
    CnnEncoderConfig::new(d).with_channels(vec![4, 8])
}

fn fda_cfg() -> FdaConfig {
    // Batches of 4 classes × 3 images: K = 4 neighbours out of 11.
    FdaConfig {
        k: 4,
        ..Default::default()
    }
}

fn cfg() -> TrainConfig {
    TrainConfig::new(STEPS, 3e-3)
        .with_warmup_steps(2)
        .with_checkpoint_every(Some(3))
        .with_seed(4)
        .with_progress(false)
        .with_label("proxy-fda test".into())
}

/// Synthetic fine-tuning images (PNG round trip), a frozen "pre-trained" encoder saved to disk
/// as the eval does, and a hard-mining class-balanced sampler.
struct Fixture {
    root: PathBuf,
    images: ImageFolder,
    sampler: ClassBalancedSampler,
    pre: CnnEncoder,
    pre_path: PathBuf,
    device: Device,
    ad: Device,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let device = ember_core::backend::default_backend()
            .and_then(ember_core::backend::device)
            .unwrap();
        let ad = device.clone().autodiff();
        let root =
            std::env::temp_dir().join(format!("ember-pfda-resume-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&root).ok();
        let img_root = root.join("images");
        synth::write_dataset(&img_root, 48, SIDE, 3).unwrap();
        let images = read_image_folder(&img_root, &ImageFolderConfig::new(SIDE)).unwrap();
        device.seed(1);
        let pre_path = root.join("pretrained.bpk");
        enc_cfg(D).init(&device).save_file(&pre_path).unwrap();
        let pre = enc_cfg(D).init(&device).load_file(&pre_path);
        let all: Vec<usize> = (0..images.len()).collect();
        let feats = pre
            .forward(images.batch(&all, &device))
            .try_to_vec_as::<f32>()
            .unwrap();
        let sampler = ClassBalancedSampler::new(&images.labels, 4, 3)
            .unwrap()
            .with_hard_mining(&feats, D)
            .unwrap();
        Self {
            root,
            images,
            sampler,
            pre,
            pre_path,
            device,
            ad,
        }
    }

    fn data(&self) -> FtData<'_> {
        FtData {
            images: &self.images,
            sampler: &self.sampler,
            pre: &self.pre,
            device: self.device.clone(),
            ad: self.ad.clone(),
            pre_cache: None,
        }
    }

    /// The fine-tuning model as the eval builds it: encoder from the pre-trained file, a new
    /// head and optionally a generator, initialised from backend seed `seed`.
    fn model(&self, seed: u64, generator: bool) -> FtModel {
        self.ad.seed(seed);
        let gen_ = generator.then(|| ProxyGeneratorConfig::new(D).init(&self.ad));
        FtModel {
            enc: enc_cfg(D).init(&self.ad).load_file(&self.pre_path),
            head: LinearConfig::new(D, synth::N_SHAPES).init(&self.ad),
            gen_,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.root).ok();
    }
}

type StepFn = fn(&FtModel, &FtData, &mut ChaCha8Rng) -> ember_core::Result<StepOutput>;

fn proxy_step(m: &FtModel, d: &FtData, rng: &mut ChaCha8Rng) -> ember_core::Result<StepOutput> {
    proxy_fda_step(m, d, 3.0, &fda_cfg(), &ProxyLossConfig::default(), rng)
}

fn plain_fda_step(m: &FtModel, d: &FtData, rng: &mut ChaCha8Rng) -> ember_core::Result<StepOutput> {
    fda_step(m, d, 3.0, &fda_cfg(), rng)
}

/// Every float tensor of `m` (parameters and BatchNorm running statistics), flattened.
fn params<M: Module>(m: &M) -> Vec<Vec<f32>> {
    collect_params(m)
        .into_iter()
        .map(|(t, _)| t.try_to_vec_as::<f32>().unwrap())
        .collect()
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "different numbers of tensors");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "different tensor sizes");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0f32, f32::max)
}

/// Fine-tune for `STEPS` steps in `dir`; with `interrupt`, stop after 5 steps (the last
/// checkpoint is step 3), drop the trainer and resume a freshly initialised model in a new
/// `Trainer` from the directory, as a restarted process would.
fn run(
    fx: &Fixture,
    dir: &Path,
    step: StepFn,
    generator: bool,
    interrupt: bool,
) -> (FtModel, RunSummary) {
    let data = fx.data();
    let mut t = Trainer::new(fx.model(7, generator), cfg(), &fx.ad)
        .with_dir(dir)
        .unwrap();
    assert_eq!(t.resume().unwrap(), 0, "fresh directory");
    if interrupt {
        let s = t.run_steps(5, |m, rng, _| step(m, &data, rng)).unwrap();
        assert_eq!(s.steps_run, 5);
        assert!(!t.is_done());
        drop(t);
        let latest = latest_checkpoint(dir).unwrap().unwrap();
        assert!(latest.ends_with("ckpt-00000003"), "{}", latest.display());
        // A fresh process: different backend RNG state and different initial weights, which
        // the checkpoint must replace (generator included).
        t = Trainer::new(fx.model(99, generator), cfg(), &fx.ad)
            .with_dir(dir)
            .unwrap();
        assert_eq!(t.resume().unwrap(), 3);
    }
    let summary = t.run(|m, rng, _| step(m, &data, rng)).unwrap();
    assert!(t.is_done());
    assert_eq!(t.step(), STEPS);
    (t.into_model(), summary)
}

fn check_resume(name: &str, step: StepFn, generator: bool) {
    let fx = Fixture::new(name);
    let (full, s_full) = run(&fx, &fx.root.join("full"), step, generator, false);
    let (resumed, s_resumed) = run(&fx, &fx.root.join("resumed"), step, generator, true);
    let (a, b) = (params(&full), params(&resumed));
    let diff = max_diff(&a, &b);
    assert!(
        diff <= 1e-6,
        "{name}: resumed run differs from the uninterrupted one by {diff}"
    );
    assert!(
        (s_full.final_loss - s_resumed.final_loss).abs() <= 1e-6,
        "{name}: final loss {} vs {}",
        s_full.final_loss,
        s_resumed.final_loss
    );
    // Training moved the weights (so the comparison is not vacuous).
    let init = params(&fx.model(7, generator));
    assert!(max_diff(&init, &a) > 1e-4, "{name}: weights did not move");
    if generator {
        // The generator is trained (by its own loss) and restored from the checkpoint.
        let g0 = params(fx.model(7, true).gen_.as_ref().unwrap());
        let g1 = params(full.gen_.as_ref().unwrap());
        let g2 = params(resumed.gen_.as_ref().unwrap());
        assert!(max_diff(&g0, &g1) > 1e-5, "{name}: generator did not train");
        assert!(max_diff(&g1, &g2) <= 1e-6, "{name}: generator differs");
    }
}

#[test]
fn proxy_fda_finetuning_resumes_exactly() {
    let _g = lock();
    check_resume("proxy", proxy_step, true);
}

#[test]
fn fda_finetuning_resumes_exactly() {
    let _g = lock();
    check_resume("fda", plain_fda_step, false);
}

/// A Proxy-FDA run checkpointed at step 3 in `fx.root/<name>`.
fn checkpointed(fx: &Fixture, name: &str) -> PathBuf {
    let dir = fx.root.join(name);
    let data = fx.data();
    let mut t = Trainer::new(fx.model(7, true), cfg(), &fx.ad)
        .with_dir(&dir)
        .unwrap();
    t.run_steps(3, |m, rng, _| proxy_step(m, &data, rng))
        .unwrap();
    dir
}

fn resume_err(fx: &Fixture, dir: &Path, model: FtModel) -> String {
    let mut t = Trainer::new(model, cfg(), &fx.ad).with_dir(dir).unwrap();
    t.resume().map(|_| ()).unwrap_err().to_string()
}

#[test]
fn corrupt_checkpoint_is_an_error() {
    let _g = lock();
    let fx = Fixture::new("corrupt");
    let dir = checkpointed(&fx, "run");
    let ckpt = latest_checkpoint(&dir).unwrap().unwrap();

    // A truncated model file.
    let model_file = ckpt.join("model.bpk");
    let bytes = std::fs::read(&model_file).unwrap();
    std::fs::write(&model_file, &bytes[..bytes.len() / 2]).unwrap();
    let err = resume_err(&fx, &dir, fx.model(7, true));
    assert!(err.contains("model.bpk"), "{err}");
    // Garbage in place of the model file.
    std::fs::write(&model_file, b"not a burnpack file").unwrap();
    let err = resume_err(&fx, &dir, fx.model(7, true));
    assert!(err.contains("model.bpk"), "{err}");
    std::fs::write(&model_file, &bytes).unwrap();

    // A truncated optimizer state.
    let optim_file = ckpt.join("optim.bpk");
    let obytes = std::fs::read(&optim_file).unwrap();
    std::fs::write(&optim_file, &obytes[..obytes.len() / 2]).unwrap();
    let err = resume_err(&fx, &dir, fx.model(7, true));
    assert!(err.contains("optim.bpk"), "{err}");
    std::fs::write(&optim_file, &obytes).unwrap();

    // Corrupt step/RNG state.
    let state_file = ckpt.join("state.json");
    let sbytes = std::fs::read(&state_file).unwrap();
    std::fs::write(&state_file, b"{\"format\": 1, \"step\": ").unwrap();
    let err = resume_err(&fx, &dir, fx.model(7, true));
    assert!(err.contains("corrupt checkpoint state"), "{err}");
    std::fs::write(&state_file, &sbytes).unwrap();

    // Restored, the checkpoint loads again.
    let mut t = Trainer::new(fx.model(7, true), cfg(), &fx.ad)
        .with_dir(&dir)
        .unwrap();
    assert_eq!(t.resume().unwrap(), 3);
}

#[test]
fn mismatched_model_is_an_error() {
    let _g = lock();
    let fx = Fixture::new("mismatch");
    let dir = checkpointed(&fx, "run");

    // A Proxy-FDA checkpoint resumed as a model without generator (an FDA run pointed at
    // the wrong directory): the generator's tensors are unused.
    let err = resume_err(&fx, &dir, fx.model(7, false));
    assert!(err.contains("model.bpk"), "{err}");
    // A different encoder width: shape mismatch.
    fx.ad.seed(7);
    let narrow = FtModel {
        enc: enc_cfg(8).init(&fx.ad),
        head: LinearConfig::new(8, synth::N_SHAPES).init(&fx.ad),
        gen_: Some(ProxyGeneratorConfig::new(8).init(&fx.ad)),
    };
    let err = resume_err(&fx, &dir, narrow);
    assert!(err.contains("model.bpk"), "{err}");

    // The Proxy-FDA step on a model without generator is an error, not a panic.
    let data = fx.data();
    let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let err = proxy_step(&fx.model(7, false), &data, &mut rng)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("proxy generator missing"), "{err}");

    // A sampler built for another, larger image set (96 labels, 48 images; all 8 classes per
    // batch, so indices ≥ 48 are always drawn) is an error too.
    let labels: Vec<usize> = (0..96).map(|i| i / 12).collect();
    let other = ClassBalancedSampler::new(&labels, 8, 3).unwrap();
    let data = FtData {
        sampler: &other,
        ..fx.data()
    };
    let err = proxy_step(&fx.model(7, true), &data, &mut rng)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("out of range"), "{err}");
}

/// The cached pre-trained features give the same Proxy-FDA step loss as running the frozen
/// encoder on each batch; a cache of another image set is an error.
#[test]
fn cached_pre_features_match_the_frozen_forward() {
    let _g = lock();
    let fx = Fixture::new("cache");
    let cache = PreFeatureCache::compute(&fx.pre, &fx.images, 16, &fx.device).unwrap();
    assert_eq!(cache.len(), fx.images.len());
    let cached = FtData {
        pre_cache: Some(&cache),
        ..fx.data()
    };
    let m = fx.model(5, true);
    let loss = |d: &FtData| {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        proxy_step(&m, d, &mut rng)
            .unwrap()
            .loss
            .into_scalar::<f32>()
    };
    let (a, b) = (loss(&fx.data()), loss(&cached));
    assert!((a - b).abs() < 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
    let small = PreFeatureCache::from_rows(vec![0.0; 2 * D], D).unwrap();
    let wrong = FtData {
        pre_cache: Some(&small),
        ..fx.data()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let err = proxy_step(&m, &wrong, &mut rng)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("feature cache holds 2 images"), "{err}");
    assert!(PreFeatureCache::from_rows(vec![0.0; 5], 2).is_err());
}
