//! `cargo xtask eval spkver`: can the downstream model be removed for speaker verification on
//! self-supervised features? Synthetic speakers (formant synthesiser), a tiny HuBERT-style
//! encoder pre-trained here, the SUPERB x-vector baseline vs the simplified head, zero-shot
//! per-layer scoring, data efficiency, and the same heads on log-mel input.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use clap::Parser;
use ember_core::cluster::{KMeans, KMeansInit};
use ember_core::eval::{EvalArgs, Scale};
use ember_core::report::plot::{self, BarChart, LinePlot, Series};
use ember_core::report::{Cell, Claim, Figure, Table};
use ember_spkver::SslEncoderConfig;
use ember_spkver::checkpoint::{self, CheckpointSv, HeadTraining};
use ember_spkver::fbank::{Fbank, FbankConfig, Features};
use ember_spkver::features::{LayerFeatures, Standardizer, extract_layers, mean_std_vector};
use ember_spkver::heads::{SimpleHeadConfig, SpeakerHead, XVectorHeadConfig};
use ember_spkver::scoring::{all_pairs_trials, evaluate};
use ember_spkver::synth::{Corpus, CorpusConfig, generate_corpus};
use ember_spkver::train::{
    HeadTrainConfig, PretrainConfig, cluster_targets, embed_all, pretrain_encoder, token_frames,
    train_head,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// SV with SSL features: baseline x-vector vs simplified head (paper P10).
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    eval: EvalArgs,
    /// Instead of the synthetic eval: speaker verification on every layer of your own
    /// wav2vec2 / HuBERT / WavLM checkpoint, a local Hugging Face folder (config.json,
    /// model.safetensors, optionally preprocessor_config.json). Needs --wavs and --trials;
    /// writes report.json, report.md and sv_layers.png to --out.
    #[arg(long, value_name = "DIR", requires_all = ["wavs", "trials"])]
    model: Option<PathBuf>,
    /// With --model: VoxCeleb-style tree root/<speaker>/**/*.wav (mono, at the model's sample
    /// rate). Speakers no trial names train the heads.
    #[arg(long, value_name = "DIR", requires = "model")]
    wavs: Option<PathBuf>,
    /// With --model: trial list, `label enroll.wav test.wav` per line, paths relative to --wavs.
    #[arg(long, value_name = "FILE", requires = "model")]
    trials: Option<PathBuf>,
    /// With --model: use only the first N distinct trial utterances (default: all).
    #[arg(long, value_name = "N", requires = "model")]
    max_utterances: Option<usize>,
    /// With --model: head training steps; 0 = zero-shot only.
    #[arg(long, value_name = "N", default_value_t = HeadTraining::default().steps)]
    head_steps: usize,
    /// With --model: use at most N training utterances for the heads.
    #[arg(long, value_name = "N", default_value_t = HeadTraining::default().max_train_utterances)]
    max_train_utterances: usize,
}

/// `--model`: SV on a local checkpoint, through `ember_spkver::checkpoint`.
fn run_checkpoint(cli: &Cli, model: &Path) -> Result<()> {
    let (kind, device) = cli.eval.setup()?;
    let mut job = CheckpointSv::new(
        model,
        cli.wavs.clone().context("--model needs --wavs")?,
        cli.trials.clone().context("--model needs --trials")?,
    );
    job.max_utterances = cli.max_utterances;
    job.seed = cli.eval.seed;
    job.progress = true;
    job.heads = (cli.head_steps > 0).then(|| HeadTraining {
        steps: cli.head_steps,
        max_train_utterances: cli.max_train_utterances,
        ..HeadTraining::default()
    });
    let res = job.run(&device)?;
    for l in &res.layers {
        eprintln!(
            "layer {:>2}: EER {:.2}%  minDCF(0.01) {:.3}",
            l.layer,
            l.eer * 100.0,
            l.min_dcf_01
        );
    }
    for h in &res.heads {
        eprintln!(
            "{}: EER {:.2}%  minDCF(0.01) {:.3}",
            h.name,
            h.eer * 100.0,
            h.min_dcf_01
        );
    }
    let header = checkpoint::report_header(kind.name()).with_seed(cli.eval.seed);
    let path = res.write_report(header, &cli.eval.out)?;
    eprintln!("report {}", path.display());
    Ok(())
}

struct Plan {
    pretrain_speakers: usize,
    pretrain_utts: usize,
    train_speakers: usize,
    train_utts: usize,
    test_speakers: usize,
    test_utts: usize,
    duration: (f32, f32),
    d_model: usize,
    n_layers: usize,
    pretrain_steps: usize,
    pretrain_batch: usize,
    pretrain_crop: usize,
    head_steps: usize,
    head_batch: usize,
    crop_frames: usize,
    fractions_simple: Vec<f64>,
    fractions_base: Vec<f64>,
}

impl Plan {
    fn for_scale(s: Scale) -> Self {
        match s {
            Scale::Quick => Plan {
                pretrain_speakers: 30,
                pretrain_utts: 4,
                train_speakers: 40,
                train_utts: 10,
                test_speakers: 20,
                test_utts: 8,
                duration: (1.5, 2.5),
                d_model: 64,
                n_layers: 3,
                pretrain_steps: 150,
                pretrain_batch: 16,
                pretrain_crop: 100,
                head_steps: 200,
                head_batch: 32,
                crop_frames: 100,
                fractions_simple: vec![0.6, 1.0],
                fractions_base: vec![1.0],
            },
            Scale::Full => Plan {
                pretrain_speakers: 200,
                pretrain_utts: 8,
                train_speakers: 160,
                train_utts: 20,
                test_speakers: 40,
                test_utts: 20,
                duration: (1.5, 3.0),
                d_model: 64,
                n_layers: 4,
                pretrain_steps: 2000,
                pretrain_batch: 32,
                pretrain_crop: 150,
                head_steps: 1200,
                head_batch: 32,
                crop_frames: 150,
                fractions_simple: vec![0.2, 0.4, 0.6, 0.8, 1.0],
                fractions_base: vec![0.6, 1.0],
            },
        }
    }
}

/// EER tolerance of the "no worse than" rules, fixed before any run (absolute, in EER units).
const TOL: f64 = 0.005;

fn corpus(p: &Plan, speakers: usize, utts: usize, seed: u64) -> Result<Corpus> {
    Ok(generate_corpus(&CorpusConfig {
        speakers,
        utts_per_speaker: utts,
        duration_s: p.duration,
        snr_db: (10.0, 30.0),
        sample_rate: 16_000,
        seed,
    })?)
}

fn fbanks(fb: &Fbank, c: &Corpus) -> Result<Vec<Features>> {
    use rayon::prelude::*;
    Ok(c.audio
        .par_iter()
        .map(|a| fb.compute(a))
        .collect::<ember_core::Result<Vec<_>>>()?)
}

fn normalise(fs: &[Features], st: &Standardizer) -> Result<Vec<Features>> {
    fs.iter()
        .map(|f| {
            let mut lf = LayerFeatures::from_fbank(f);
            st.apply(&mut lf)?;
            Ok(Features {
                data: lf.data,
                n_frames: f.n_frames,
                dim: f.dim,
            })
        })
        .collect()
}

/// The first `⌈frac·n⌉` utterances of every speaker (utterances are stored speaker-major).
fn subset(speakers: &[usize], frac: f64) -> Vec<usize> {
    let mut per: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &s) in speakers.iter().enumerate() {
        per.entry(s).or_default().push(i);
    }
    per.values()
        .flat_map(|v| {
            v.iter()
                .copied()
                .take(((frac * v.len() as f64).ceil() as usize).max(1))
        })
        .collect()
}

struct Outcome {
    name: String,
    features: &'static str,
    frac: f64,
    params: usize,
    eer: f64,
    dcf01: f64,
    dcf05: f64,
    layer_weights: Vec<f64>,
    train_s: f64,
}

#[allow(clippy::too_many_arguments)]
fn run_head<H: SpeakerHead>(
    name: &str,
    features: &'static str,
    head: H,
    frac: f64,
    train: &[LayerFeatures],
    train_spk: &[usize],
    test: &[LayerFeatures],
    trials: &(Vec<(usize, usize)>, Vec<bool>),
    p: &Plan,
    args: &EvalArgs,
    crop: usize,
    device: &Device,
) -> Result<Outcome> {
    let t0 = Instant::now();
    let params = head.head_params();
    let tag = format!("{name}-{features}-{:.0}", frac * 100.0).replace(' ', "_");
    let cfg = HeadTrainConfig {
        steps: p.head_steps,
        batch: p.head_batch,
        crop_frames: crop,
        lr: 1e-3,
        scale: 30.0,
        margin: 0.4,
        seed: args.seed,
        dir: Some(args.run_dir(&format!("heads/{tag}"))?),
        resume: args.resume,
    };
    let idx = subset(train_spk, frac);
    let (trained, _) = train_head(head, train, train_spk, &idx, &cfg, device)?;
    let head = trained.valid();
    let plain = device.clone().without_autodiff();
    let emb = embed_all(&head, test, &plain)?;
    let m = evaluate(&emb, &trials.0, &trials.1)?;
    let lw = head
        .layer_weights()
        .weights()
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let out = Outcome {
        name: name.into(),
        features,
        frac,
        params,
        eer: m.eer.eer,
        dcf01: m.min_dcf[0].min_dcf,
        dcf05: m.min_dcf[1].min_dcf,
        layer_weights: lw.iter().map(|&v| v as f64).collect(),
        train_s: t0.elapsed().as_secs_f64(),
    };
    eprintln!(
        "  {name:<22} {features:<6} {:>4.0}%  params {params:>7}  EER {:.2}%  minDCF(0.01) {:.3}  ({:.1}s)",
        frac * 100.0,
        out.eer * 100.0,
        out.dcf01,
        out.train_s
    );
    Ok(out)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(model) = &cli.model {
        return run_checkpoint(&cli, model);
    }
    let args = &cli.eval;
    let started = Instant::now();
    let (kind, device) = args.start("spkver")?;
    let p = Plan::for_scale(args.scale);
    ember_core::backend::seed_everything(&device, args.seed);

    // 1. Data: disjoint speaker populations (different seeds) for pre-training, training, test.
    let t0 = Instant::now();
    let base = args.seed.wrapping_mul(1000);
    let pre = corpus(&p, p.pretrain_speakers, p.pretrain_utts, base + 1)?;
    let tr = corpus(&p, p.train_speakers, p.train_utts, base + 2)?;
    let te = corpus(&p, p.test_speakers, p.test_utts, base + 3)?;
    let synth_s = t0.elapsed().as_secs_f64();
    let fb = Fbank::new(FbankConfig::default())?;
    let (pre_f, tr_f, te_f) = (fbanks(&fb, &pre)?, fbanks(&fb, &tr)?, fbanks(&fb, &te)?);
    let fb_norm = Standardizer::fit(
        &pre_f
            .iter()
            .chain(&tr_f)
            .map(LayerFeatures::from_fbank)
            .collect::<Vec<_>>(),
    )?;
    let (pre_n, tr_n, te_n) = (
        normalise(&pre_f, &fb_norm)?,
        normalise(&tr_f, &fb_norm)?,
        normalise(&te_f, &fb_norm)?,
    );
    eprintln!(
        "data: {} pre-training, {} training ({} speakers), {} test utterances ({} speakers); synthesis {synth_s:.1}s",
        pre.audio.len(),
        tr.audio.len(),
        tr.n_speakers,
        te.audio.len(),
        te.n_speakers
    );
    let trials = all_pairs_trials(&te.speakers);
    let n_target = trials.1.iter().filter(|&&t| t).count();

    // 2. Self-supervised pre-training (HuBERT iteration 1: k-means of log-mel token frames).
    let t0 = Instant::now();
    let tok: Vec<f32> = pre_n.iter().flat_map(token_frames).collect();
    let km = KMeans::fit(
        &tok,
        fb.config().n_mels,
        32,
        15,
        KMeansInit::Random,
        args.seed,
    )?;
    let targets = cluster_targets(&pre_n, &km)?;
    let ad = device.clone().autodiff();
    ad.seed(args.seed);
    let max_frames = pre_n
        .iter()
        .chain(&tr_n)
        .chain(&te_n)
        .map(|f| f.n_frames)
        .max()
        .unwrap_or(1);
    let enc_cfg = SslEncoderConfig::new(40, p.d_model, 4, p.n_layers, 4 * p.d_model, max_frames);
    let encoder = enc_cfg.init(&ad);
    let pcfg = PretrainConfig {
        steps: p.pretrain_steps,
        batch: p.pretrain_batch,
        crop_frames: p.pretrain_crop,
        lr: 2e-3,
        mask_prob: 0.08,
        mask_span: 5,
        seed: args.seed,
        dir: Some(args.run_dir("pretrain")?),
        resume: args.resume,
    };
    let (encoder, pre_curve) = pretrain_encoder(encoder, &pre_n, &targets, &pcfg, &ad)?;
    let encoder = encoder.valid();
    let enc_params = encoder.num_params();
    let pretrain_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "pre-training: {pretrain_s:.1}s, masked-prediction loss {:.3} → {:.3} (ln 32 = {:.3})",
        pre_curve.first().map_or(f64::NAN, |c| c.1),
        pre_curve.last().map_or(f64::NAN, |c| c.1),
        32f64.ln()
    );

    // 3. Frozen features, once per utterance; standardised per layer with training stats.
    let t0 = Instant::now();
    let mut tr_l = extract_layers(&encoder, &tr_n, &device)?;
    let mut te_l = extract_layers(&encoder, &te_n, &device)?;
    let extract_s = t0.elapsed().as_secs_f64();
    let st = Standardizer::fit(&tr_l)?;
    tr_l.iter_mut().try_for_each(|f| st.apply(f))?;
    te_l.iter_mut().try_for_each(|f| st.apply(f))?;
    let tr_fb: Vec<LayerFeatures> = tr_n.iter().map(LayerFeatures::from_fbank).collect();
    let te_fb: Vec<LayerFeatures> = te_n.iter().map(LayerFeatures::from_fbank).collect();
    let n_layers = encoder.n_outputs();

    // 4. Zero-shot: per-layer mean ‖ std pooling, cosine scoring.
    let mut zs = Vec::new();
    for l in 0..n_layers {
        let emb: Vec<Vec<f32>> = te_l.iter().map(|f| mean_std_vector(f, l)).collect();
        zs.push(evaluate(&emb, &trials.0, &trials.1)?.eer.eer);
    }
    let zs_fb = {
        let emb: Vec<Vec<f32>> = te_fb.iter().map(|f| mean_std_vector(f, 0)).collect();
        evaluate(&emb, &trials.0, &trials.1)?.eer.eer
    };
    eprintln!(
        "zero-shot EER per layer: {:?}; log-mel {:.2}%",
        zs.iter()
            .map(|e| format!("{:.2}%", e * 100.0))
            .collect::<Vec<_>>(),
        zs_fb * 100.0
    );

    // 4b. Optional: zero-shot on espeak-ng speakers (a different synthesiser), when installed.
    let espeak = if ember_spkver::espeak::espeak_available() {
        let t0 = Instant::now();
        let es = ember_spkver::espeak::espeak_corpus(
            p.test_speakers.min(24),
            p.test_utts.min(8),
            p.duration.1,
            16_000,
            base + 4,
        )?;
        let es_n = normalise(&fbanks(&fb, &es)?, &fb_norm)?;
        let mut es_l = extract_layers(&encoder, &es_n, &device)?;
        es_l.iter_mut().try_for_each(|f| st.apply(f))?;
        let es_trials = all_pairs_trials(&es.speakers);
        let mut per_layer = Vec::new();
        for l in 0..n_layers {
            let emb: Vec<Vec<f32>> = es_l.iter().map(|f| mean_std_vector(f, l)).collect();
            per_layer.push(evaluate(&emb, &es_trials.0, &es_trials.1)?.eer.eer);
        }
        let emb: Vec<Vec<f32>> = es_n
            .iter()
            .map(|f| mean_std_vector(&LayerFeatures::from_fbank(f), 0))
            .collect();
        let fbank_eer = evaluate(&emb, &es_trials.0, &es_trials.1)?.eer.eer;
        eprintln!(
            "espeak-ng ({} speakers × {} utts, {:.1}s): zero-shot EER per layer {:?}; log-mel {:.2}%",
            es.n_speakers,
            es.audio.len() / es.n_speakers,
            t0.elapsed().as_secs_f64(),
            per_layer
                .iter()
                .map(|e| format!("{:.2}%", e * 100.0))
                .collect::<Vec<_>>(),
            fbank_eer * 100.0
        );
        Some((es.n_speakers, es.audio.len(), per_layer, fbank_eer))
    } else {
        eprintln!("espeak-ng not installed: skipping the optional espeak-ng test speakers");
        None
    };

    // 5. Heads.
    let d = p.d_model;
    let ns = tr.n_speakers;
    let ssl_crop = p.crop_frames / 2;
    let base_cfg = |l, d_in| XVectorHeadConfig::new(l, d_in, 128, 384, 128, ns);
    let simple_cfg = |l, d_in| SimpleHeadConfig::new(l, d_in, 64, ns);
    let mut outs: Vec<Outcome> = Vec::new();
    for &f in &p.fractions_base {
        outs.push(run_head(
            "baseline x-vector",
            "ssl",
            base_cfg(n_layers, d).init(&ad),
            f,
            &tr_l,
            &tr.speakers,
            &te_l,
            &trials,
            &p,
            args,
            ssl_crop,
            &ad,
        )?);
    }
    for &f in &p.fractions_simple {
        outs.push(run_head(
            "simplified SP",
            "ssl",
            simple_cfg(n_layers, d).init(&ad),
            f,
            &tr_l,
            &tr.speakers,
            &te_l,
            &trials,
            &p,
            args,
            ssl_crop,
            &ad,
        )?);
    }
    outs.push(run_head(
        "simplified ASP",
        "ssl",
        simple_cfg(n_layers, d).with_asp_units(32).init(&ad),
        1.0,
        &tr_l,
        &tr.speakers,
        &te_l,
        &trials,
        &p,
        args,
        ssl_crop,
        &ad,
    )?);
    outs.push(run_head(
        "baseline x-vector",
        "fbank",
        base_cfg(1, 40).init(&ad),
        1.0,
        &tr_fb,
        &tr.speakers,
        &te_fb,
        &trials,
        &p,
        args,
        p.crop_frames,
        &ad,
    )?);
    outs.push(run_head(
        "simplified SP",
        "fbank",
        simple_cfg(1, 40).init(&ad),
        1.0,
        &tr_fb,
        &tr.speakers,
        &te_fb,
        &trials,
        &p,
        args,
        p.crop_frames,
        &ad,
    )?);

    // Embedding throughput (frozen encoder + simplified head, one utterance at a time).
    let plain_simple = simple_cfg(n_layers, d).init(&device);
    let t0 = Instant::now();
    let tl = extract_layers(&encoder, &te_n, &device)?;
    embed_all(&plain_simple, &tl, &device)?;
    let utt_per_s = te_n.len() as f64 / t0.elapsed().as_secs_f64();

    // 6. Claims (rules fixed before running; TOL = 0.5 pp EER).
    let find = |name: &str, feat: &str, frac: f64| {
        outs.iter()
            .find(|o| o.name == name && o.features == feat && (o.frac - frac).abs() < 1e-9)
            .context("missing run")
    };
    let base_ssl = find("baseline x-vector", "ssl", 1.0)?;
    let simple_ssl = find("simplified SP", "ssl", 1.0)?;
    let simple_60 = find("simplified SP", "ssl", 0.6)?;
    let base_fb = find("baseline x-vector", "fbank", 1.0)?;
    let simple_fb = find("simplified SP", "fbank", 1.0)?;
    let reduction = 1.0 - simple_ssl.params as f64 / base_ssl.params as f64;
    let mut report = args.report(
        kind,
        "spkver",
        "P10",
        "Simplified speaker-verification heads on self-supervised features",
    );
    report.add_claim(
        Claim::new(
            "C1-simplified-matches-baseline",
            "On SSL features the simplified head (weighted layer sum + stats pooling + one linear layer) is no worse than the SUPERB x-vector baseline with ≥ 95% fewer parameters",
            format!("test EER of the simplified head on frozen SSL layers; holds if EER ≤ baseline EER + {:.1} pp and the parameter reduction is ≥ 95%", TOL * 100.0),
            simple_ssl.eer,
            simple_ssl.eer <= base_ssl.eer + TOL && reduction >= 0.95,
        )
        .baseline(base_ssl.eer, "x-vector baseline EER (SSL features, 100% data)")
        .detail(format!(
            "parameters {} vs {} ({:.2}% fewer; paper: 97.51%); relative EER change {:+.1}% (paper: 29.93% average improvement); minDCF(0.01) {:.3} vs {:.3}",
            simple_ssl.params, base_ssl.params, reduction * 100.0,
            (base_ssl.eer - simple_ssl.eer) / base_ssl.eer.max(1e-12) * 100.0,
            simple_ssl.dcf01, base_ssl.dcf01
        )),
    );
    report.add_claim(
        Claim::new(
            "C2-data-efficiency",
            "Trained on 60% of the data, the simplified head is no worse than the baseline trained on 100%",
            format!("test EER of the simplified head trained on the first 60% of each training speaker's utterances; holds if ≤ the 100%-data baseline EER + {:.1} pp", TOL * 100.0),
            simple_60.eer,
            simple_60.eer <= base_ssl.eer + TOL,
        )
        .baseline(base_ssl.eer, "x-vector baseline EER, 100% data"),
    );
    report.add_claim(
        Claim::new(
            "C3-fbank-needs-frame-level",
            "On filterbank input the baseline's frame-level (TDNN) layers matter: the simplified head loses there",
            format!("test EER of the simplified head on log-mel input; holds if it exceeds the x-vector baseline's log-mel EER by more than {:.1} pp", TOL * 100.0),
            simple_fb.eer,
            simple_fb.eer > base_fb.eer + TOL,
        )
        .baseline(base_fb.eer, "x-vector baseline EER on log-mel"),
    );

    let mut t = Table::new(
        "Heads × features (test: all pairs)",
        [
            "head",
            "features",
            "train data",
            "parameters",
            "EER",
            "minDCF p=0.01",
            "minDCF p=0.05",
            "train s",
        ],
    );
    for o in &outs {
        t.add_row(vec![
            Cell::from(o.name.as_str()),
            Cell::from(o.features),
            Cell::from(format!("{:.0}%", o.frac * 100.0)),
            Cell::from(o.params as f64),
            Cell::from(o.eer),
            Cell::from(o.dcf01),
            Cell::from(o.dcf05),
            Cell::from(o.train_s),
        ]);
    }
    report.add_table(t);
    let mut t = Table::new(
        "Zero-shot EER (mean ‖ std pooling, cosine)",
        ["input", "EER"],
    );
    t.add_row(vec![Cell::from("log-mel"), Cell::from(zs_fb)]);
    for (l, e) in zs.iter().enumerate() {
        t.add_row(vec![Cell::from(format!("SSL layer {l}")), Cell::from(*e)]);
    }
    report.add_table(t);
    match &espeak {
        Some((n_spk, n_utt, per_layer, fbank_eer)) => {
            let mut t = Table::new(
                format!(
                    "Optional source: zero-shot EER on espeak-ng speakers ({n_spk} speakers, {n_utt} utterances; a different synthesiser, same frozen encoder)"
                ),
                ["input", "EER"],
            );
            t.add_row(vec![Cell::from("log-mel"), Cell::from(*fbank_eer)]);
            for (l, e) in per_layer.iter().enumerate() {
                t.add_row(vec![Cell::from(format!("SSL layer {l}")), Cell::from(*e)]);
            }
            report.add_table(t);
        }
        None => {
            report.add_note("espeak-ng was not installed, so the optional espeak-ng test speakers were skipped.");
        }
    }

    // Plots.
    plot::line(
        args.out.join("zero_shot.png"),
        &LinePlot {
            title: "Zero-shot SV per layer (mean+std pooling, cosine)".into(),
            x_label: "layer (0 = Transformer input)".into(),
            y_label: "EER".into(),
            series: vec![
                Series::new(
                    "SSL encoder",
                    zs.iter().enumerate().map(|(l, &e)| (l as f64, e)).collect(),
                ),
                Series::new(
                    "log-mel",
                    vec![(0.0, zs_fb), ((n_layers - 1) as f64, zs_fb)],
                ),
            ],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "Zero-shot per layer",
        "zero_shot.png",
        "EER of per-layer mean+std pooled frozen features",
    ));
    plot::bar(
        args.out.join("heads.png"),
        &BarChart {
            title: "EER by head and input (100% data)".into(),
            y_label: "EER".into(),
            groups: vec!["SSL layers".into(), "log-mel".into()],
            series: vec![
                ("baseline x-vector".into(), vec![base_ssl.eer, base_fb.eer]),
                ("simplified SP".into(), vec![simple_ssl.eer, simple_fb.eer]),
            ],
        },
    )?;
    report.add_figure(Figure::new(
        "Heads",
        "heads.png",
        "Baseline vs simplified head on SSL features and on log-mel",
    ));
    let curve = |name: &str| -> Vec<(f64, f64)> {
        outs.iter()
            .filter(|o| o.name == name && o.features == "ssl")
            .map(|o| (o.frac * 100.0, o.eer))
            .collect()
    };
    plot::line(
        args.out.join("data_efficiency.png"),
        &LinePlot {
            title: "Data efficiency on SSL features".into(),
            x_label: "% of training utterances per speaker".into(),
            y_label: "EER".into(),
            series: vec![
                Series::new("baseline x-vector", curve("baseline x-vector")),
                Series::new("simplified SP", curve("simplified SP")),
            ],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "Data efficiency",
        "data_efficiency.png",
        "EER against the fraction of training data",
    ));
    plot::line(
        args.out.join("pretrain.png"),
        &LinePlot {
            title: "SSL pre-training (masked k-means prediction)".into(),
            x_label: "step".into(),
            y_label: "cross-entropy (nats)".into(),
            series: vec![Series::new("masked frames", pre_curve.clone())],
            log_x: false,
        },
    )?;
    report.add_figure(Figure::new(
        "Pre-training",
        "pretrain.png",
        "HuBERT-style masked prediction loss",
    ));

    report.add_metric("eer_baseline_ssl", base_ssl.eer);
    report.add_metric("eer_simple_ssl", simple_ssl.eer);
    report.add_metric("eer_simple_ssl_60", simple_60.eer);
    report.add_metric("eer_baseline_fbank", base_fb.eer);
    report.add_metric("eer_simple_fbank", simple_fb.eer);
    report.add_metric("param_reduction", reduction);
    report.add_metric("params_baseline", base_ssl.params as f64);
    report.add_metric("params_simple", simple_ssl.params as f64);
    report.add_metric("encoder_params", enc_params as f64);
    report.add_metric(
        "zero_shot_best_layer_eer",
        zs.iter().copied().fold(f64::INFINITY, f64::min),
    );
    report.add_metric("zero_shot_fbank_eer", zs_fb);
    report.add_metric("embed_utterances_per_s", utt_per_s);
    report.add_metric("trials", trials.1.len() as f64);
    report.add_metric("target_trials", n_target as f64);
    report.add_metric("pretrain_s", pretrain_s);
    report.add_metric("extract_s", extract_s);
    report.add_note(format!(
        "Speakers from the pure-Rust formant synthesiser (per-speaker f0, VTL, glottal source, rhythm, vibrato, formant dynamics; per-session FIR+EQ channel and 10–30 dB noise). Test: all {} pairs of {} utterances of {} unseen speakers ({n_target} target trials). Encoder: conv front end + {}-layer Transformer d={}, {enc_params} parameters, HuBERT-style pre-training for {} steps on {} unlabelled utterances; {n_layers} exposed layers, frozen and standardised per layer. Heads: AM-softmax s=30 m=0.4, Adam lr 1e-3, {} steps of {} random {}-frame crops; no model selection (last step).",
        trials.1.len(), te.audio.len(), te.n_speakers, p.n_layers, p.d_model, p.pretrain_steps, pre.audio.len(), p.head_steps, p.head_batch, p.crop_frames
    ));
    let zs_best = zs.iter().copied().fold(f64::INFINITY, f64::min);
    report.add_note(format!(
        "Precondition of the paper's argument (SSL features carry more directly usable speaker information than filterbanks): best zero-shot SSL layer EER {:.2}% vs log-mel {:.2}% ({}).",
        zs_best * 100.0,
        zs_fb * 100.0,
        if zs_best + TOL < zs_fb { "met" } else { "not met: the encoder adds no zero-shot speaker information over its input" }
    ));
    report.add_note(format!(
        "Learned layer weights (simplified SP, 100%): {:?}",
        simple_ssl
            .layer_weights
            .iter()
            .map(|w| format!("{w:.3}"))
            .collect::<Vec<_>>()
    ));
    report = report.with_elapsed(started.elapsed().as_secs_f64());
    let path = report.write(&args.out)?;
    eprintln!(
        "C1 {} (simple {:.2}% vs base {:.2}%, {:.1}% fewer params); C2 {} (60%: {:.2}%); C3 {} (fbank simple {:.2}% vs base {:.2}%); {:.0} utt/s; {:.0}s; report {}",
        report.claims[0].holds,
        simple_ssl.eer * 100.0,
        base_ssl.eer * 100.0,
        reduction * 100.0,
        report.claims[1].holds,
        simple_60.eer * 100.0,
        report.claims[2].holds,
        simple_fb.eer * 100.0,
        base_fb.eer * 100.0,
        utt_per_s,
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}
