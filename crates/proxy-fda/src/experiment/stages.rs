//! The stages of the proxy-fda eval, each callable on its own at tiny size: render and read
//! the image sets ([`Data::make`]), pre-train the encoder on the attribute tasks
//! ([`pretrain`]), fine-tune it with every method and measure forgetting ([`run_seed`]), then
//! average seeds ([`average`]) and pick each family's λ by the fixed rule ([`select`]).

use super::ProxyFdaPlan;
use crate::synth::{self, Attrs};
use crate::{
    Bias, ClassBalancedSampler, FdaConfig, FtData, FtMethod as Method, FtModel, ImageFolder,
    ImageFolderConfig, LinearProbeConfig, NegWeight, OtConfig, PreFeatureCache,
    ProxyGeneratorConfig, ProxyLossConfig, collect_params, finetune_step, linear_probe_accuracy,
    linear_probe_step, mean_sq_l2, normalize_rows, ot_distance, read_image_folder,
    sync_running_stats, wise_ft,
};
use anyhow::{Context, Result};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use ember_core::eval::EvalRun;
use ember_core::loss::cross_entropy;
use ember_core::nn::{CnnEncoder, CnnEncoderConfig};
use ember_core::seed::Seed;
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use rand::RngExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Feature width of the encoder.
pub const D: usize = 64;
/// Classes of the pre-training tasks: colour, texture, size bin, shape group.
const PRE_TASKS: [usize; 4] = [synth::N_COLORS, synth::N_TEXTURES, synth::N_SIZE_BINS, 2];
/// Held-out prior tasks probed for forgetting.
pub const PROBE_TASKS: [&str; 4] = ["colour", "texture", "colour×texture", "size bin"];

/// Fine-tuning methods; the λ grids are fixed here, before any result was seen (`n_lambdas`
/// 3: the whole grid, otherwise its ends).
pub fn methods(n_lambdas: usize) -> Vec<Method> {
    let pick = |g: [f64; 3]| -> Vec<f64> {
        if n_lambdas >= 3 {
            g.to_vec()
        } else {
            vec![g[0], g[2]]
        }
    };
    let mut v = vec![Method::Naive, Method::LpFt];
    v.extend(pick([0.01, 0.03, 0.1]).into_iter().map(Method::L2Sp));
    v.extend(pick([0.3, 1.0, 3.0]).into_iter().map(Method::Ldifs));
    v.extend(pick([1.0, 3.0, 10.0]).into_iter().map(Method::Fda));
    v.extend(pick([1.0, 3.0, 10.0]).into_iter().map(Method::ProxyFda));
    v
}

/// Pre-training model: encoder + one linear head per attribute task.
#[derive(Module, Debug)]
struct PreModel {
    enc: CnnEncoder,
    heads: Vec<Linear>,
}

fn enc_cfg() -> CnnEncoderConfig {
    CnnEncoderConfig::new(D).with_channels(vec![16, 32, 64])
}

fn pre_labels(a: &Attrs) -> [usize; 4] {
    [a.color, a.texture, a.size_bin(), a.shape_group()]
}

fn probe_labels(a: &Attrs) -> [usize; 4] {
    [
        a.color,
        a.texture,
        a.color * synth::N_TEXTURES + a.texture,
        a.size_bin(),
    ]
}

fn ints(v: &[usize], device: &Device) -> Tensor<1, Int> {
    Tensor::<1, Int>::from_data(
        TensorData::new(v.iter().map(|&x| x as i64).collect::<Vec<_>>(), [v.len()]),
        device,
    )
}

/// One seed's image sets, rendered to PNG and read back through the ImageFolder reader.
pub struct Data {
    /// Pre-training images.
    pub pre: ImageFolder,
    /// Attributes of the pre-training images (their labels).
    pub pre_attrs: Vec<Attrs>,
    /// Fine-tuning images, labelled by fine shape.
    pub ft: ImageFolder,
    /// Probe images for Δ_LP.
    pub probe: ImageFolder,
    /// Attributes of the probe images.
    pub probe_attrs: Vec<Attrs>,
    /// Fine-shape test images.
    pub test: ImageFolder,
}

fn load(root: &Path, n: usize, side: u32, seed: u64) -> Result<(ImageFolder, Vec<Attrs>)> {
    if root.exists() {
        std::fs::remove_dir_all(root).ok();
    }
    synth::write_dataset(root, n, side, seed)?;
    let f = read_image_folder(root, &ImageFolderConfig::new(side))?;
    let attrs = f
        .paths
        .iter()
        .map(|p| synth::parse_attrs(p))
        .collect::<ember_core::Result<Vec<_>>>()?;
    Ok((f, attrs))
}

impl Data {
    /// Writes the four sets under `out/images/` (pretrain, finetune, probe, test; each from
    /// its own stream `seed.derive("<set>-data")`) and reads them back.
    pub fn make(out: &Path, plan: &ProxyFdaPlan, seed: Seed) -> Result<Data> {
        let root = out.join("images");
        let set = |name: &str, n: usize| {
            let set_seed = seed.derive(&format!("{name}-data")).value();
            load(&root.join(name), n, plan.side, set_seed)
        };
        let (pre, pre_attrs) = set("pretrain", plan.n_pre)?;
        let (ft, _) = set("finetune", plan.n_ft)?;
        let (probe, probe_attrs) = set("probe", plan.n_probe)?;
        let (test, _) = set("test", plan.n_probe)?;
        Ok(Data {
            pre,
            pre_attrs,
            ft,
            probe,
            probe_attrs,
            test,
        })
    }
}

/// Pre-trains the encoder on colour, texture, size bin and shape group (batches of 64,
/// checkpoints under `<out>/seed<repeat>/pretrain`, resumable) and returns it.
pub fn pretrain(
    run: &EvalRun,
    data: &Data,
    plan: &ProxyFdaPlan,
    (repeat, seed): (u64, Seed),
    ad: &Device,
) -> Result<CnnEncoder> {
    ad.seed(seed.value());
    let model = PreModel {
        enc: enc_cfg().init(ad),
        heads: PRE_TASKS
            .iter()
            .map(|&c| LinearConfig::new(D, c).init(ad))
            .collect(),
    };
    let cfg = TrainConfig::new(plan.pre_steps, 3e-3)
        .with_warmup_steps(plan.pre_steps / 10)
        .with_checkpoint_every(Some(plan.pre_steps / 2))
        .with_seed(seed.value())
        .with_label("pretrain".into());
    let mut tr =
        Trainer::new(model, cfg, ad).with_dir(run.run_dir(&format!("seed{repeat}/pretrain"))?)?;
    tr.resume()?;
    let n = data.pre.len();
    tr.run(|m, rng, _| {
        let idx: Vec<usize> = (0..64).map(|_| rng.random_range(0..n)).collect();
        let f = m.enc.forward(data.pre.batch(&idx, ad));
        let mut loss = Tensor::<1>::zeros([1], ad);
        for (t, head) in m.heads.iter().enumerate() {
            let y: Vec<usize> = idx
                .iter()
                .map(|&i| pre_labels(&data.pre_attrs[i])[t])
                .collect();
            loss = loss + cross_entropy(head.forward(f.clone()), ints(&y, ad))?;
        }
        // Checkpoints must hold this step's BatchNorm statistics (exact `--resume`).
        sync_running_stats(m);
        Ok(StepOutput::new(loss, idx.len()))
    })?;
    Ok(tr.into_model().enc)
}

/// One fine-tuning run's (or seed average's) measurements.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Method label, e.g. `FDA λ=1`.
    pub method: String,
    /// Method family (`naive FT`, `LP-FT`, `L2-SP`, `LDIFS`, `FDA`, `Proxy-FDA`, `WiSE-FT`).
    pub family: &'static str,
    /// Regularisation weight, if the method has one.
    pub lambda: Option<f64>,
    /// Fine-shape test accuracy, %.
    pub ft_acc: f64,
    /// Δ_LP per prior task ([`PROBE_TASKS`]), points.
    pub delta_lp: Vec<f64>,
    /// OTDD-lite distance between normalised pre-trained and fine-tuned probe features.
    pub ot: f64,
    /// Mean squared L2 distance between the same features.
    pub l2: f64,
    /// Wall time per fine-tuning step, ms (0 for WiSE-FT, which does not train).
    pub ms_per_step: f64,
}

impl RunResult {
    /// Δ_LP averaged over the prior tasks.
    pub fn mean_dlp(&self) -> f64 {
        self.delta_lp.iter().sum::<f64>() / self.delta_lp.len() as f64
    }
}

/// What every fine-tuning run of one seed shares.
struct Ctx<'a> {
    run: &'a EvalRun,
    data: &'a Data,
    plan: &'a ProxyFdaPlan,
    device: Device,
    ad: Device,
    pre_path: PathBuf,
    pre_frozen: CnnEncoder,
    /// Pre-trained features of the fine-tuning images, computed once (no augmentation).
    pre_cache: PreFeatureCache,
    pre_feats_probe: Vec<f32>,
    lp_pre: Vec<f64>,
    sampler: ClassBalancedSampler,
    fda: FdaConfig,
    /// Index of this repeat (names its directories).
    repeat: u64,
    /// This repeat's seed, `Seed::new(--seed).index(repeat)`.
    seed: Seed,
}

fn probe_accs(ctx: &Ctx, feats: &[f32]) -> Result<Vec<f64>> {
    let n = ctx.data.probe.len();
    let half = n / 2;
    let cfg = LinearProbeConfig::default();
    let bar = ember_core::progress::bar(true, PROBE_TASKS.len() as u64, "linear probes");
    let accs: Result<Vec<f64>> = (0..PROBE_TASKS.len())
        .map(|t| {
            bar.inc(1);
            let y: Vec<usize> = ctx
                .data
                .probe_attrs
                .iter()
                .map(|a| probe_labels(a)[t])
                .collect();
            Ok(linear_probe_accuracy(
                &feats[..half * D],
                &y[..half],
                &feats[half * D..],
                &y[half..],
                D,
                &cfg,
            )?)
        })
        .collect();
    bar.finish_and_clear();
    accs
}

fn ft_accuracy(m: &FtModel, ctx: &Ctx) -> Result<f64> {
    let m = m.valid();
    let n = ctx.data.test.len();
    let idx: Vec<usize> = (0..n).collect();
    let mut correct = 0usize;
    for chunk in idx.chunks(128) {
        let logits = m
            .head
            .forward(m.enc.forward(ctx.data.test.batch(chunk, &ctx.device)));
        let pred = logits.argmax(1);
        let pred =
            ember_core::host::tensor::read_as::<i64, 2, burn::tensor::Int>(pred, "predictions")?;
        correct += chunk
            .iter()
            .zip(pred)
            .filter(|(i, p)| ctx.data.test.labels[**i] as i64 == *p)
            .count();
    }
    Ok(correct as f64 / n as f64)
}

fn load_pre(ctx: &Ctx, device: &Device) -> CnnEncoder {
    enc_cfg().init(device).load_file(&ctx.pre_path)
}

fn finetune(ctx: &Ctx, method: Method) -> Result<(FtModel, f64)> {
    let ad = &ctx.ad;
    ad.seed(ctx.seed.derive("finetune-init").value());
    let gen_ = matches!(method, Method::ProxyFda(_)).then(|| ProxyGeneratorConfig::new(D).init(ad));
    let mut model = FtModel {
        enc: load_pre(ctx, ad),
        head: LinearConfig::new(D, synth::N_SHAPES).init(ad),
        gen_,
    };
    let l2sp_ref = collect_params(&load_pre(ctx, &ctx.device));
    let data = FtData {
        images: &ctx.data.ft,
        sampler: &ctx.sampler,
        pre: &ctx.pre_frozen,
        device: ctx.device.clone(),
        ad: ad.clone(),
        pre_cache: Some(&ctx.pre_cache),
    };
    let tag = method.label().replace([' ', '='], "_");
    let mut lr = 3e-3;
    if method == Method::LpFt {
        // Stage 1: linear probe (encoder frozen), then full fine-tuning at lr/10.
        let cfg = TrainConfig::new(ctx.plan.lp_steps, 3e-3)
            .with_seed(ctx.seed.value())
            .with_label("LP".into());
        let mut tr = Trainer::new(model, cfg, ad)
            .with_dir(ctx.run.run_dir(&format!("seed{}/{tag}-lp", ctx.repeat))?)?;
        tr.resume()?;
        tr.run(|m, rng, _| linear_probe_step(m, &data, rng))?;
        model = tr.into_model();
        lr /= 10.0;
    }
    let cfg = TrainConfig::new(ctx.plan.ft_steps, lr)
        .with_warmup_steps(ctx.plan.ft_steps / 10)
        .with_checkpoint_every(Some(ctx.plan.ft_steps / 2))
        .with_seed(ctx.seed.value())
        .with_label(method.label());
    let mut tr = Trainer::new(model, cfg, ad)
        .with_dir(ctx.run.run_dir(&format!("seed{}/{tag}", ctx.repeat))?)?;
    tr.resume()?;
    let start = Instant::now();
    let steps_before = tr.step();
    let reg = method.regularizer(&ctx.fda, &ProxyLossConfig::default(), &l2sp_ref);
    tr.run(|m, rng, _| finetune_step(m, &data, &reg, rng))?;
    let ran = (tr.step() - steps_before).max(1);
    let ms = start.elapsed().as_secs_f64() * 1e3 / ran as f64;
    Ok((tr.into_model(), ms))
}

fn evaluate(
    ctx: &Ctx,
    method: String,
    family: &'static str,
    lambda: Option<f64>,
    m: &FtModel,
    ms: f64,
) -> Result<RunResult> {
    let enc = m.valid().enc;
    let feats = ctx.data.probe.features(&enc, 128, &ctx.device)?;
    let lp = probe_accs(ctx, &feats)?;
    let delta_lp = lp
        .iter()
        .zip(&ctx.lp_pre)
        .map(|(a, b)| 100.0 * (a - b))
        .collect();
    let (x0, x1) = (
        normalize_rows(&ctx.pre_feats_probe, D),
        normalize_rows(&feats, D),
    );
    let labels: Vec<usize> = ctx
        .data
        .probe_attrs
        .iter()
        .map(|a| probe_labels(a)[2])
        .collect();
    let n_ot = labels.len().min(300);
    let ot = ot_distance(
        &x0[..n_ot * D],
        &x1[..n_ot * D],
        &labels[..n_ot],
        D,
        &OtConfig::default(),
    )?;
    let l2 = mean_sq_l2(&x0, &x1, D)?;
    Ok(RunResult {
        method,
        family,
        lambda,
        ft_acc: 100.0 * ft_accuracy(m, ctx)?,
        delta_lp,
        ot,
        l2,
        ms_per_step: ms,
    })
}

/// One repeat, seeded by `Seed::new(--seed).index(repeat)`: data under `<out>/seed<repeat>`,
/// pre-training, every method of
/// [`methods`]`(plan.lambdas)` fine-tuned and measured, then WiSE-FT (α = 0.5) of the naive
/// run; one [`RunResult`] per run, in that order.
pub fn run_seed(run: &EvalRun, plan: &ProxyFdaPlan, repeat: u64) -> Result<Vec<RunResult>> {
    let device = &run.device;
    let out = run.out();
    let seed = Seed::new(run.seed()).index(repeat);
    let data = Data::make(&out.join(format!("seed{repeat}")), plan, seed)?;
    eprintln!(
        "seed {repeat}: {} pre-training, {} fine-tuning, {} probe, {} test images (PNG round trip)",
        data.pre.len(),
        data.ft.len(),
        data.probe.len(),
        data.test.len()
    );
    let ad = device.clone().autodiff();
    let enc = pretrain(run, &data, plan, (repeat, seed), &ad)?;
    let pre_path = out.join(format!("seed{repeat}/pretrained.bpk"));
    enc.valid()
        .save_file(&pre_path)
        .map_err(|e| anyhow::anyhow!("saving pretrained: {e:?}"))?;
    let pre_frozen = enc_cfg().init(device).load_file(&pre_path);
    let pre_feats_probe = data.probe.features(&pre_frozen, 128, device)?;
    let ft_feats = data.ft.features(&pre_frozen, 128, device)?;
    let sampler =
        ClassBalancedSampler::new(&data.ft.labels, 8, 4)?.with_hard_mining(&ft_feats, D)?;
    let mut ctx = Ctx {
        run,
        data: &data,
        plan,
        device: device.clone(),
        ad,
        pre_path,
        pre_frozen,
        pre_cache: PreFeatureCache::from_rows(ft_feats.clone(), D)?,
        pre_feats_probe,
        lp_pre: Vec::new(),
        sampler,
        fda: FdaConfig {
            k: 8,
            tau: 0.1,
            bias: Bias::Calibrated,
            neg_weight: NegWeight::Const(1.0),
        },
        repeat,
        seed,
    };
    ctx.lp_pre = probe_accs(&ctx, &ctx.pre_feats_probe.clone())?;
    eprintln!("pre-trained LP accuracy: {:?}", ctx.lp_pre);
    let mut results = Vec::new();
    let mut naive: Option<FtModel> = None;
    for method in methods(plan.lambdas) {
        let (m, ms) = finetune(&ctx, method)?;
        let r = evaluate(
            &ctx,
            method.label(),
            method.family(),
            method.lambda(),
            &m,
            ms,
        )?;
        eprintln!(
            "{:<18} FT acc {:5.1}  ΔLP {:+6.2} {:?}  OT {:.4}  L2 {:.4}  {:.1} ms/step",
            r.method,
            r.ft_acc,
            r.mean_dlp(),
            r.delta_lp
                .iter()
                .map(|v| (v * 10.0).round() / 10.0)
                .collect::<Vec<_>>(),
            r.ot,
            r.l2,
            r.ms_per_step
        );
        if method == Method::Naive {
            naive = Some(m);
        }
        results.push(r);
    }
    // WiSE-FT: interpolate the naive run's encoder (α = 0.5) with the pre-trained one.
    let naive = naive.context("naive run missing")?.valid();
    let pre = load_pre(&ctx, device);
    let wise = FtModel {
        enc: wise_ft(&pre, &naive.enc, 0.5)?,
        head: naive.head.clone(),
        gen_: None,
    };
    let r = evaluate(&ctx, "WiSE-FT α=0.5".into(), "WiSE-FT", None, &wise, 0.0)?;
    eprintln!(
        "{:<18} FT acc {:5.1}  ΔLP {:+6.2}  OT {:.4}  L2 {:.4}",
        r.method,
        r.ft_acc,
        r.mean_dlp(),
        r.ot,
        r.l2
    );
    results.push(r);
    Ok(results)
}

/// Mean of `v` (0 when empty).
pub(crate) fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Seed-averaged results per method label (order kept); `all` holds one [`run_seed`] result
/// per seed.
pub fn average(all: &[Vec<RunResult>]) -> Vec<RunResult> {
    all[0]
        .iter()
        .enumerate()
        .map(|(i, r0)| {
            let rs: Vec<&RunResult> = all.iter().map(|s| &s[i]).collect();
            RunResult {
                method: r0.method.clone(),
                family: r0.family,
                lambda: r0.lambda,
                ft_acc: mean(rs.iter().map(|r| r.ft_acc)),
                delta_lp: (0..r0.delta_lp.len())
                    .map(|t| mean(rs.iter().map(|r| r.delta_lp[t])))
                    .collect(),
                ot: mean(rs.iter().map(|r| r.ot)),
                l2: mean(rs.iter().map(|r| r.l2)),
                ms_per_step: mean(rs.iter().map(|r| r.ms_per_step)),
            }
        })
        .collect()
}

/// Selection rule (fixed up front): among a family's λ runs whose FT accuracy is within 3
/// points of naive FT, the one with the best mean Δ_LP; if none qualifies, the most accurate.
///
/// Panics if `res` has no run of `family` (every family of [`methods`] is always run).
pub fn select<'a>(res: &'a [RunResult], family: &str, naive_acc: f64) -> &'a RunResult {
    let runs: Vec<&RunResult> = res.iter().filter(|r| r.family == family).collect();
    let ok: Vec<&&RunResult> = runs
        .iter()
        .filter(|r| r.ft_acc >= naive_acc - 3.0)
        .collect();
    if ok.is_empty() {
        runs.iter()
            .max_by(|a, b| a.ft_acc.total_cmp(&b.ft_acc))
            .copied()
            .expect("family present")
    } else {
        ok.iter()
            .max_by(|a, b| a.mean_dlp().total_cmp(&b.mean_dlp()))
            .copied()
            .copied()
            .expect("non-empty")
    }
}
