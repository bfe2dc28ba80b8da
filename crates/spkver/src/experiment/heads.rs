//! The heads: the SUPERB x-vector baseline and the simplified head, trained with AM-softmax
//! on frozen SSL layers and on log-mel, at several training-data fractions.

use super::SpkverPlan;
use super::stages::{Data, Frozen, Pretrained, Trials};
use crate::features::{LayerFeatures, extract_layers};
use crate::heads::{SimpleHeadConfig, SpeakerHead, XVectorHeadConfig};
use crate::scoring::evaluate;
use crate::train::{HeadTrainConfig, embed_all, train_head};
use anyhow::Result;
use burn::prelude::*;
use ember_core::eval::EvalRun;
use std::time::Instant;

/// What every head run on one kind of input shares.
pub struct HeadInputs<'a> {
    /// `"ssl"` or `"fbank"`: the input's name in the report and the checkpoint folder.
    pub features: &'static str,
    /// Training utterances.
    pub train: &'a [LayerFeatures],
    /// Speaker of each training utterance (speaker-major order).
    pub train_speakers: &'a [usize],
    /// Test utterances.
    pub test: &'a [LayerFeatures],
    /// Test trials over `test`.
    pub trials: &'a Trials,
    /// Training crop length in frames of this input.
    pub crop: usize,
}

/// One trained head's test result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Head name (`baseline x-vector`, `simplified SP`, `simplified ASP`).
    pub name: String,
    /// Input: `"ssl"` or `"fbank"`.
    pub features: &'static str,
    /// Fraction of each training speaker's utterances used.
    pub frac: f64,
    /// Head parameters (the classifier excluded).
    pub params: usize,
    /// Test EER.
    pub eer: f64,
    /// Test minDCF at p = 0.01.
    pub dcf01: f64,
    /// Test minDCF at p = 0.05.
    pub dcf05: f64,
    /// Learned layer weights (softmax).
    pub layer_weights: Vec<f64>,
    /// Seconds of training and scoring.
    pub train_s: f64,
}

/// Trains heads with the plan's schedule on an autodiff device, checkpointing each under
/// `<out>/heads/<name>-<input>-<percent>`.
pub struct HeadTrainer<'a> {
    /// The eval run (seed, `--resume`, output folder).
    pub run: &'a EvalRun,
    /// Steps, batch size.
    pub plan: &'a SpkverPlan,
    /// Autodiff device the heads were built on.
    pub device: &'a Device,
}

/// The first `⌈frac·n⌉` utterances of every speaker (utterances are stored speaker-major).
pub fn subset(speakers: &[usize], frac: f64) -> Vec<usize> {
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

impl HeadTrainer<'_> {
    /// Trains `head` on the `frac` subset of `inputs.train` and scores it on the test trials.
    pub fn train<H: SpeakerHead>(
        &self,
        name: &str,
        head: H,
        frac: f64,
        inputs: &HeadInputs,
    ) -> Result<Outcome> {
        let features = inputs.features;
        let t0 = Instant::now();
        let params = head.head_params();
        let tag = format!("{name}-{features}-{:.0}", frac * 100.0).replace(' ', "_");
        let cfg = HeadTrainConfig {
            steps: self.plan.head_steps,
            batch: self.plan.head_batch,
            crop_frames: inputs.crop,
            lr: 1e-3,
            scale: 30.0,
            margin: 0.4,
            seed: self.run.seed(),
            dir: Some(self.run.run_dir(&format!("heads/{tag}"))?),
            resume: self.run.args.resume,
            progress: true,
        };
        let idx = subset(inputs.train_speakers, frac);
        let (trained, _) = train_head(
            head,
            inputs.train,
            inputs.train_speakers,
            &idx,
            &cfg,
            self.device,
        )?;
        let head = trained.valid();
        let plain = self.device.clone().without_autodiff();
        let emb = embed_all(&head, inputs.test, &plain)?;
        let m = evaluate(&emb, &inputs.trials.0, &inputs.trials.1)?;
        let lw = head.layer_weights().weights();
        let lw =
            ember_core::host::tensor::read_as::<f32, 1, burn::tensor::Float>(lw, "layer weights")?;
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
}

/// The x-vector baseline (128/384/128) for `layers` inputs of width `d_in`.
fn baseline_cfg(layers: usize, d_in: usize, speakers: usize) -> XVectorHeadConfig {
    XVectorHeadConfig::new(layers, d_in, 128, 384, 128, speakers)
}

/// The simplified head (64-d embedding) for `layers` inputs of width `d_in`.
fn simple_cfg(layers: usize, d_in: usize, speakers: usize) -> SimpleHeadConfig {
    SimpleHeadConfig::new(layers, d_in, 64, speakers)
}

/// Every head run of the eval, in a fixed order (each head is built on `ad` right before it
/// trains): the baseline and the simplified SP head at the plan's fractions on SSL layers,
/// simplified ASP on SSL layers, then the baseline and simplified SP on log-mel.
pub fn train_all(
    run: &EvalRun,
    plan: &SpkverPlan,
    data: &Data,
    frozen: &Frozen,
    ad: &Device,
) -> Result<Vec<Outcome>> {
    let (d, n_layers) = (plan.d_model, frozen.n_layers);
    let ns = data.train.n_speakers;
    let trainer = HeadTrainer {
        run,
        plan,
        device: ad,
    };
    let ssl = HeadInputs {
        features: "ssl",
        train: &frozen.train,
        train_speakers: &data.train.speakers,
        test: &frozen.test,
        trials: &data.trials,
        crop: plan.crop_frames / 2,
    };
    let fbank = HeadInputs {
        features: "fbank",
        train: &frozen.train_fbank,
        test: &frozen.test_fbank,
        crop: plan.crop_frames,
        ..ssl
    };
    let mut outs = Vec::new();
    for &f in &plan.fractions_base {
        let head = baseline_cfg(n_layers, d, ns).init(ad);
        outs.push(trainer.train("baseline x-vector", head, f, &ssl)?);
    }
    for &f in &plan.fractions_simple {
        let head = simple_cfg(n_layers, d, ns).init(ad);
        outs.push(trainer.train("simplified SP", head, f, &ssl)?);
    }
    let head = simple_cfg(n_layers, d, ns).with_asp_units(32).init(ad);
    outs.push(trainer.train("simplified ASP", head, 1.0, &ssl)?);
    let head = baseline_cfg(1, 40, ns).init(ad);
    outs.push(trainer.train("baseline x-vector", head, 1.0, &fbank)?);
    let head = simple_cfg(1, 40, ns).init(ad);
    outs.push(trainer.train("simplified SP", head, 1.0, &fbank)?);
    Ok(outs)
}

/// Test utterances per second through the frozen encoder and an (untrained) simplified head,
/// one utterance at a time.
pub fn embed_throughput(
    plan: &SpkverPlan,
    data: &Data,
    ssl: &Pretrained,
    frozen: &Frozen,
    device: &Device,
) -> Result<f64> {
    let head = simple_cfg(frozen.n_layers, plan.d_model, data.train.n_speakers).init(device);
    let t0 = Instant::now();
    let tl = extract_layers(&ssl.encoder, &data.test_n, device)?;
    embed_all(&head, &tl, device)?;
    Ok(data.test_n.len() as f64 / t0.elapsed().as_secs_f64())
}
