//! `cargo xtask eval proxy-fda`: concept forgetting when fine-tuning a small CNN pre-trained
//! on attribute tasks (colour, texture, size, coarse shape) on a new task (fine shape), with
//! naive FT, LP-FT, L2-SP, LDIFS, FDA, Proxy-FDA and WiSE-FT. Images are rendered, written as
//! PNG and read back through the ImageFolder reader. Forgetting = Δ_LP on held-out prior
//! tasks; distances = OTDD-lite (Sinkhorn) and mean squared L2 between pre-trained and
//! fine-tuned features.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use clap::Parser;
use ember_core::eval::{EvalArgs, Scale};
use ember_core::loss::cross_entropy;
use ember_core::nn::{CnnEncoder, CnnEncoderConfig};
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Table};
use ember_core::train::{StepOutput, TrainConfig, Trainer};
use ember_proxy_fda::checkpoint::{self, CheckpointFt};
use ember_proxy_fda::synth::{self, Attrs};
use ember_proxy_fda::*;
use rand::RngExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// Instead of the synthetic eval: fine-tune the image tower of your own CLIP checkpoint, a
    /// local Hugging Face folder (config.json of a `clip` or `clip_vision_model`,
    /// model.safetensors, optionally preprocessor_config.json), on --data with each --method;
    /// writes report.json and report.md to --out.
    #[arg(long, value_name = "DIR", requires = "data")]
    model: Option<PathBuf>,
    /// With --model: fine-tuning images, root/<class>/<image>.{png,jpg,jpeg}.
    #[arg(long, value_name = "DIR", requires = "model")]
    data: Option<PathBuf>,
    /// With --model: test images with the same class folders (default: hold out --holdout of
    /// each class of --data).
    #[arg(long, value_name = "DIR", requires = "model")]
    test: Option<PathBuf>,
    /// With --model and no --test: fraction of each class held out for testing.
    #[arg(long, value_name = "F", default_value_t = 0.2)]
    holdout: f64,
    /// With --model: another labelled ImageFolder; its linear-probe accuracy before and after
    /// fine-tuning measures forgetting.
    #[arg(long, value_name = "DIR", requires = "model")]
    probe: Option<PathBuf>,
    /// With --model: methods to run, repeatable: naive, lp-ft, l2sp=λ, ldifs=λ, fda=λ,
    /// proxy-fda=λ (default: naive, lp-ft, fda=1, proxy-fda=1).
    #[arg(long = "method", value_name = "M")]
    methods: Vec<FtMethod>,
    /// With --model: fine-tuning steps per method.
    #[arg(long, value_name = "N", default_value_t = 200)]
    steps: usize,
    /// With --model: peak learning rate of fine-tuning.
    #[arg(long, value_name = "LR", default_value_t = 1e-5)]
    lr: f64,
    /// With --model: classes per batch × images per class.
    #[arg(long, value_name = "M", default_value_t = 8)]
    classes_per_batch: usize,
    /// With --model: images per class in a batch.
    #[arg(long, value_name = "N", default_value_t = 4)]
    per_class: usize,
}

/// `--model`: fine-tuning a local CLIP checkpoint, through `ember_proxy_fda::checkpoint`.
fn run_checkpoint(cli: &Cli, model: &Path) -> Result<()> {
    let (kind, device) = cli.eval.setup()?;
    let mut job = CheckpointFt::new(model, cli.data.clone().context("--model needs --data")?);
    job.test_dir = cli.test.clone();
    job.holdout = cli.holdout;
    job.probe_dir = cli.probe.clone();
    if !cli.methods.is_empty() {
        job.methods = cli.methods.clone();
    }
    job.steps = cli.steps;
    job.lr = cli.lr;
    job.classes_per_batch = cli.classes_per_batch;
    job.per_class = cli.per_class;
    job.seed = cli.eval.seed;
    job.run_dir = Some(cli.eval.run_dir("runs")?);
    job.progress = true;
    let res = job.run(&device)?;
    let header = checkpoint::report_header(kind.name()).with_seed(cli.eval.seed);
    let path = res.write_report(header, &cli.eval.out)?;
    eprintln!("report {}", path.display());
    Ok(())
}

struct Plan {
    side: u32,
    n_pre: usize,
    n_ft: usize,
    n_probe: usize,
    pre_steps: usize,
    ft_steps: usize,
    lp_steps: usize,
    seeds: usize,
    lambdas: usize,
}

impl Plan {
    fn for_scale(s: Scale) -> Self {
        match s {
            Scale::Quick => Plan {
                side: 32,
                n_pre: 960,
                n_ft: 256,
                n_probe: 480,
                pre_steps: 400,
                ft_steps: 300,
                lp_steps: 60,
                seeds: 1,
                lambdas: 2,
            },
            Scale::Full => Plan {
                side: 32,
                n_pre: 4000,
                n_ft: 512,
                n_probe: 1200,
                pre_steps: 2000,
                ft_steps: 800,
                lp_steps: 150,
                seeds: 3,
                lambdas: 3,
            },
        }
    }
}

/// Fine-tuning methods; the λ grids are fixed here, before any result was seen.
use ember_proxy_fda::FtMethod as Method;

fn methods(n_lambdas: usize) -> Vec<Method> {
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

const D: usize = 64;
const PRE_TASKS: [usize; 4] = [synth::N_COLORS, synth::N_TEXTURES, synth::N_SIZE_BINS, 2];

fn enc_cfg() -> CnnEncoderConfig {
    CnnEncoderConfig::new(D).with_channels(vec![16, 32, 64])
}

fn pre_labels(a: &Attrs) -> [usize; 4] {
    [a.color, a.texture, a.size_bin(), a.shape_group()]
}

/// Held-out prior tasks probed for forgetting.
const PROBE_TASKS: [&str; 4] = ["colour", "texture", "colour×texture", "size bin"];
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

struct Data {
    pre: ImageFolder,
    pre_attrs: Vec<Attrs>,
    ft: ImageFolder,
    probe: ImageFolder,
    probe_attrs: Vec<Attrs>,
    test: ImageFolder,
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

fn make_data(out: &Path, plan: &Plan, seed: u64) -> Result<Data> {
    let root = out.join("images");
    let (pre, pre_attrs) = load(&root.join("pretrain"), plan.n_pre, plan.side, seed * 10 + 1)?;
    let (ft, _) = load(&root.join("finetune"), plan.n_ft, plan.side, seed * 10 + 2)?;
    let (probe, probe_attrs) = load(&root.join("probe"), plan.n_probe, plan.side, seed * 10 + 3)?;
    let (test, _) = load(&root.join("test"), plan.n_probe, plan.side, seed * 10 + 4)?;
    Ok(Data {
        pre,
        pre_attrs,
        ft,
        probe,
        probe_attrs,
        test,
    })
}

fn pretrain(
    data: &Data,
    plan: &Plan,
    args: &EvalArgs,
    seed: u64,
    ad: &Device,
) -> Result<CnnEncoder> {
    ad.seed(seed);
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
        .with_seed(seed)
        .with_label("pretrain".into());
    let mut tr =
        Trainer::new(model, cfg, ad).with_dir(args.run_dir(&format!("seed{seed}/pretrain"))?)?;
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

struct RunResult {
    method: String,
    family: &'static str,
    lambda: Option<f64>,
    ft_acc: f64,
    delta_lp: Vec<f64>,
    ot: f64,
    l2: f64,
    ms_per_step: f64,
}

impl RunResult {
    fn mean_dlp(&self) -> f64 {
        self.delta_lp.iter().sum::<f64>() / self.delta_lp.len() as f64
    }
}

struct Ctx<'a> {
    data: &'a Data,
    plan: &'a Plan,
    args: &'a EvalArgs,
    device: Device,
    ad: Device,
    pre_path: std::path::PathBuf,
    pre_frozen: CnnEncoder,
    /// Pre-trained features of the fine-tuning images, computed once (no augmentation).
    pre_cache: PreFeatureCache,
    pre_feats_probe: Vec<f32>,
    lp_pre: Vec<f64>,
    sampler: ClassBalancedSampler,
    fda: FdaConfig,
    seed: u64,
}

fn probe_accs(ctx: &Ctx, feats: &[f32]) -> Result<Vec<f64>> {
    let n = ctx.data.probe.len();
    let half = n / 2;
    let cfg = LinearProbeConfig::default();
    (0..PROBE_TASKS.len())
        .map(|t| {
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
        .collect()
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
        let pred = logits
            .argmax(1)
            .try_to_vec_as::<i64>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
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
    ad.seed(ctx.seed + 100);
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
            .with_seed(ctx.seed)
            .with_label("LP".into());
        let mut tr = Trainer::new(model, cfg, ad)
            .with_dir(ctx.args.run_dir(&format!("seed{}/{tag}-lp", ctx.seed))?)?;
        tr.resume()?;
        tr.run(|m, rng, _| linear_probe_step(m, &data, rng))?;
        model = tr.into_model();
        lr /= 10.0;
    }
    let cfg = TrainConfig::new(ctx.plan.ft_steps, lr)
        .with_warmup_steps(ctx.plan.ft_steps / 10)
        .with_checkpoint_every(Some(ctx.plan.ft_steps / 2))
        .with_seed(ctx.seed)
        .with_label(method.label());
    let mut tr = Trainer::new(model, cfg, ad)
        .with_dir(ctx.args.run_dir(&format!("seed{}/{tag}", ctx.seed))?)?;
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

fn run_seed(args: &EvalArgs, plan: &Plan, seed: u64, device: &Device) -> Result<Vec<RunResult>> {
    let data = make_data(&args.out.join(format!("seed{seed}")), plan, seed)?;
    eprintln!(
        "seed {seed}: {} pre-training, {} fine-tuning, {} probe, {} test images (PNG round trip)",
        data.pre.len(),
        data.ft.len(),
        data.probe.len(),
        data.test.len()
    );
    let ad = device.clone().autodiff();
    let enc = pretrain(&data, plan, args, seed, &ad)?;
    let pre_path = args.out.join(format!("seed{seed}/pretrained.bpk"));
    enc.valid()
        .save_file(&pre_path)
        .map_err(|e| anyhow::anyhow!("saving pretrained: {e:?}"))?;
    let pre_frozen = enc_cfg().init(device).load_file(&pre_path);
    let pre_feats_probe = data.probe.features(&pre_frozen, 128, device)?;
    let ft_feats = data.ft.features(&pre_frozen, 128, device)?;
    let sampler =
        ClassBalancedSampler::new(&data.ft.labels, 8, 4)?.with_hard_mining(&ft_feats, D)?;
    let mut ctx = Ctx {
        data: &data,
        plan,
        args,
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

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Seed-averaged results per method label (order kept).
fn average(all: &[Vec<RunResult>]) -> Vec<RunResult> {
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
fn select<'a>(res: &'a [RunResult], family: &str, naive_acc: f64) -> &'a RunResult {
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(model) = &cli.model {
        return run_checkpoint(&cli, model);
    }
    let args = &cli.eval;
    let started = Instant::now();
    let (kind, device) = args.start("proxy-fda")?;
    let plan = Plan::for_scale(args.scale);
    let mut all = Vec::new();
    for s in 0..plan.seeds as u64 {
        all.push(run_seed(args, &plan, args.seed + s, &device)?);
    }
    let res = average(&all);

    let naive = res
        .iter()
        .find(|r| r.family == "naive FT")
        .context("naive")?;
    let pfda = select(&res, "Proxy-FDA", naive.ft_acc);
    let fda = select(&res, "FDA", naive.ft_acc);
    let ldifs = select(&res, "LDIFS", naive.ft_acc);
    let comparable = pfda.ft_acc >= naive.ft_acc - 3.0;
    let mut report = args.report(
        kind,
        "proxy-fda",
        "P1",
        "Proxy-FDA: kNN-graph feature alignment against concept forgetting",
    );
    report.add_claim(
        Claim::new(
            "proxy-fda-forgets-less",
            "Proxy-FDA forgets less (higher Δ_LP on held-out prior tasks) than naive fine-tuning and LDIFS at comparable fine-tuning accuracy",
            "mean Δ_LP (points) over colour, texture, colour×texture, size-bin probes; per family the λ with best Δ_LP among runs within 3 points of naive FT accuracy (else the most accurate); holds if Proxy-FDA's Δ_LP > naive's and > LDIFS's and its FT accuracy is within 3 points of naive",
            pfda.mean_dlp(),
            comparable && pfda.mean_dlp() > naive.mean_dlp() && pfda.mean_dlp() > ldifs.mean_dlp(),
        )
        .baseline(ldifs.mean_dlp(), format!("{} (naive FT {:+.2})", ldifs.method, naive.mean_dlp()))
        .detail(format!(
            "{}: FT acc {:.1}%; {}: {:.1}%; naive FT: {:.1}%",
            pfda.method, pfda.ft_acc, ldifs.method, ldifs.ft_acc, naive.ft_acc
        )),
    );
    let pairs: Vec<(f64, f64)> = res
        .iter()
        .filter(|r| r.family == "Proxy-FDA")
        .filter_map(|p| {
            res.iter()
                .find(|f| f.family == "FDA" && f.lambda == p.lambda)
                .map(|f| (p.mean_dlp(), f.mean_dlp()))
        })
        .collect();
    let gain = mean(pairs.iter().map(|(p, f)| p - f));
    report.add_claim(
        Claim::new(
            "proxies-add-to-fda",
            "The generated proxies add to plain FDA",
            "mean over the λ grid of Δ_LP(Proxy-FDA, λ) − Δ_LP(FDA, λ) (points); holds if > 0",
            gain,
            gain > 0.0,
        )
        .baseline(0.0, "no gain")
        .detail(format!(
            "selected runs: {} Δ_LP {:+.2} vs {} Δ_LP {:+.2}",
            pfda.method,
            pfda.mean_dlp(),
            fda.method,
            fda.mean_dlp()
        )),
    );
    let forget: Vec<f64> = res.iter().map(|r| -r.mean_dlp()).collect();
    let ots: Vec<f64> = res.iter().map(|r| r.ot).collect();
    let l2s: Vec<f64> = res.iter().map(|r| r.l2).collect();
    let rho_ot = ember_core::metrics::spearman(&ots, &forget)?;
    let rho_l2 = ember_core::metrics::spearman(&l2s, &forget)?;
    report.add_claim(
        Claim::new(
            "ot-tracks-forgetting",
            "The OT distance between pre-trained and fine-tuned features correlates with forgetting more strongly than L2",
            format!("|Spearman ρ| between distance and forgetting (−Δ_LP) across all {} runs (methods × λ, seed-averaged); holds if |ρ_OT| > |ρ_L2|", res.len()),
            rho_ot,
            rho_ot.abs() > rho_l2.abs(),
        )
        .baseline(rho_l2, "Spearman ρ of mean squared L2"),
    );

    let mut table = Table::new(
        "Fine-tuning on fine shape (8 classes): accuracy, forgetting, distances",
        [
            "method",
            "FT acc %",
            "Δ_LP colour",
            "Δ_LP texture",
            "Δ_LP col×tex",
            "Δ_LP size",
            "mean Δ_LP",
            "OT",
            "L2",
            "ms/step",
        ],
    );
    for r in &res {
        let mut row = vec![Cell::from(r.method.as_str()), Cell::from(r.ft_acc)];
        row.extend(r.delta_lp.iter().map(|&v| Cell::from(v)));
        row.extend([
            Cell::from(r.mean_dlp()),
            Cell::from(r.ot),
            Cell::from(r.l2),
            Cell::from(r.ms_per_step),
        ]);
        table.add_row(row);
    }
    report.add_table(table);
    let naive_ms = naive.ms_per_step;
    for fam in ["FDA", "Proxy-FDA", "LDIFS", "L2-SP"] {
        let ms = mean(
            res.iter()
                .filter(|r| r.family == fam)
                .map(|r| r.ms_per_step),
        );
        report.add_metric(
            format!("step_overhead_pct_{}", fam.to_lowercase().replace('-', "_")),
            100.0 * (ms / naive_ms - 1.0),
        );
    }
    report.add_metric("spearman_ot_forgetting", rho_ot);
    report.add_metric("spearman_l2_forgetting", rho_l2);
    report.add_metric("naive_ft_acc", naive.ft_acc);
    report.add_metric("naive_mean_delta_lp", naive.mean_dlp());

    // Plots.
    let mut fams: Vec<&str> = Vec::new();
    for r in &res {
        if !fams.contains(&r.family) {
            fams.push(r.family);
        }
    }
    let series = |f: &dyn Fn(&RunResult) -> (f64, f64)| -> Vec<Series> {
        fams.iter()
            .map(|fam| {
                Series::new(
                    *fam,
                    res.iter().filter(|r| r.family == *fam).map(f).collect(),
                )
            })
            .collect()
    };
    plot::line(
        args.out.join("pareto.png"),
        &LinePlot {
            title: "Fine-tuning accuracy vs forgetting".into(),
            x_label: "fine-shape test accuracy (%)".into(),
            y_label: "mean Δ_LP on prior tasks (points)".into(),
            series: series(&|r| (r.ft_acc, r.mean_dlp())),
            log_x: false,
        },
    )
    .context("pareto plot")?;
    report.add_figure(Figure::new(
        "Accuracy vs forgetting",
        "pareto.png",
        "Each point a run (λ grid per method); up = less forgetting",
    ));
    plot::line(
        args.out.join("ot_vs_forgetting.png"),
        &LinePlot {
            title: format!("OT distance vs forgetting (Spearman {rho_ot:.2})"),
            x_label: "OTDD-lite (Sinkhorn)".into(),
            y_label: "forgetting −Δ_LP (points)".into(),
            series: series(&|r| (r.ot, -r.mean_dlp())),
            log_x: false,
        },
    )
    .context("ot plot")?;
    plot::line(
        args.out.join("l2_vs_forgetting.png"),
        &LinePlot {
            title: format!("L2 distance vs forgetting (Spearman {rho_l2:.2})"),
            x_label: "mean squared L2 (normalised features)".into(),
            y_label: "forgetting −Δ_LP (points)".into(),
            series: series(&|r| (r.l2, -r.mean_dlp())),
            log_x: false,
        },
    )
    .context("l2 plot")?;
    report.add_figure(Figure::new(
        "OT vs forgetting",
        "ot_vs_forgetting.png",
        "Distributional distance against forgetting, one point per run",
    ));
    report.add_figure(Figure::new(
        "L2 vs forgetting",
        "l2_vs_forgetting.png",
        "Point-wise distance against forgetting, one point per run",
    ));
    plot::bar(
        args.out.join("delta_lp.png"),
        &BarChart {
            title: "Δ_LP per prior task".into(),
            y_label: "Δ_LP (points)".into(),
            groups: PROBE_TASKS.iter().map(|s| s.to_string()).collect(),
            series: [
                naive,
                select(&res, "LP-FT", naive.ft_acc),
                select(&res, "L2-SP", naive.ft_acc),
                ldifs,
                fda,
                pfda,
            ]
            .iter()
            .map(|r| (r.method.clone(), r.delta_lp.clone()))
            .collect(),
        },
    )
    .context("bar plot")?;
    report.add_figure(Figure::new(
        "Δ_LP per task",
        "delta_lp.png",
        "Selected run per method",
    ));
    report.add_note(format!(
        "{} seed(s); {}x{} PNG images written and read back through the ImageFolder reader; CnnEncoder [16,32,64]→{D} pre-trained {} steps on colour/texture/size-bin/shape-group, fine-tuned {} steps on fine shape (8 classes, {} images) with 8×4 class-balanced batches (hard class mining), K=8, τ=0.1, calibrated bias, n_p=4.",
        plan.seeds, plan.side, plan.side, plan.pre_steps, plan.ft_steps, plan.n_ft
    ));
    report = report.with_elapsed(started.elapsed().as_secs_f64());
    let path = report.write(&args.out)?;
    eprintln!(
        "report: {} ({:.0} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
