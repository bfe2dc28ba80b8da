//! The stages before the heads: synthetic data and log-mel features, HuBERT-style
//! pre-training of the encoder, frozen per-layer features and zero-shot scoring.

use super::SpkverPlan;
use crate::SslEncoderConfig;
use crate::encoder::SslEncoder;
use crate::espeak::{espeak_available, espeak_corpus};
use crate::fbank::{Fbank, FbankConfig, Features};
use crate::features::{LayerFeatures, Standardizer, extract_layers, mean_std_vector};
use crate::scoring::{all_pairs_trials, evaluate};
use crate::synth::{Corpus, CorpusConfig, generate_corpus};
use crate::train::{PretrainConfig, cluster_targets, pretrain_encoder, token_frames};
use anyhow::Result;
use burn::module::Module;
use burn::prelude::*;
use ember_core::cluster::{KMeans, KMeansInit};
use ember_core::eval::EvalRun;
use ember_core::seed::Seed;
use std::time::Instant;

/// Trial pairs (utterance indices) and whether each is a target (same-speaker) trial.
pub type Trials = (Vec<(usize, usize)>, Vec<bool>);

/// Sample rate of every synthetic corpus.
const SAMPLE_RATE: u32 = 16_000;

/// The three synthetic populations, their standardised log-mel features and the test trials.
pub struct Data {
    /// Unlabelled pre-training utterances.
    pub pre: Corpus,
    /// Head training utterances (speaker-major).
    pub train: Corpus,
    /// Test utterances of unseen speakers.
    pub test: Corpus,
    /// The log-mel front end.
    pub fbank: Fbank,
    /// Log-mel standardiser fitted on pre-training and training utterances.
    pub fbank_norm: Standardizer,
    /// Standardised log-mel of `pre`.
    pub pre_n: Vec<Features>,
    /// Standardised log-mel of `train`.
    pub train_n: Vec<Features>,
    /// Standardised log-mel of `test`.
    pub test_n: Vec<Features>,
    /// All pairs of test utterances.
    pub trials: Trials,
    /// Target trials among them.
    pub n_target: usize,
}

/// Generates one population of `speakers × utts` utterances from `seed`.
fn corpus(p: &SpkverPlan, speakers: usize, utts: usize, seed: u64) -> Result<Corpus> {
    Ok(generate_corpus(&CorpusConfig {
        speakers,
        utts_per_speaker: utts,
        duration_s: p.duration_s,
        snr_db: (10.0, 30.0),
        sample_rate: SAMPLE_RATE,
        seed,
    })?)
}

/// Log-mel features of every utterance of `c`, in parallel.
fn fbanks(fb: &Fbank, c: &Corpus) -> Result<Vec<Features>> {
    use rayon::prelude::*;
    Ok(c.audio
        .par_iter()
        .map(|a| fb.compute(a))
        .collect::<ember_core::Result<Vec<_>>>()?)
}

/// `fs` standardised with `st`.
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

/// The seed of one corpus (pre-training, training, test, espeak-ng), derived from the run seed.
fn corpus_seed(seed: u64, corpus: &str) -> u64 {
    Seed::new(seed).derive(&format!("{corpus}-corpus")).value()
}

impl Data {
    /// Synthesises the three populations from `seed` and computes their standardised log-mel.
    pub fn synthesise(p: &SpkverPlan, seed: u64) -> Result<Data> {
        let t0 = Instant::now();
        let pre = corpus(
            p,
            p.pretrain_speakers,
            p.pretrain_utts,
            corpus_seed(seed, "pretrain"),
        )?;
        let tr = corpus(
            p,
            p.train_speakers,
            p.train_utts,
            corpus_seed(seed, "train"),
        )?;
        let te = corpus(p, p.test_speakers, p.test_utts, corpus_seed(seed, "test"))?;
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
        Ok(Data {
            pre,
            train: tr,
            test: te,
            fbank: fb,
            fbank_norm: fb_norm,
            pre_n,
            train_n: tr_n,
            test_n: te_n,
            trials,
            n_target,
        })
    }

    /// Longest utterance in frames, over all three populations (the encoder's positions).
    fn max_frames(&self) -> usize {
        self.pre_n
            .iter()
            .chain(&self.train_n)
            .chain(&self.test_n)
            .map(|f| f.n_frames)
            .max()
            .unwrap_or(1)
    }
}

/// The pre-trained encoder (inference device) and its training record.
pub struct Pretrained {
    /// The frozen encoder.
    pub encoder: SslEncoder,
    /// Masked-prediction loss `(step, loss)` every 10 steps.
    pub curve: Vec<(f64, f64)>,
    /// Encoder parameters.
    pub params: usize,
    /// Longest input (log-mel frames) the encoder accepts: the longest synthetic utterance.
    pub max_frames: usize,
    /// Seconds of k-means and pre-training.
    pub seconds: f64,
}

impl Pretrained {
    /// HuBERT iteration 1 on `data.pre_n`: 32 k-means clusters of log-mel token frames as
    /// targets, then masked prediction on the autodiff device `ad` (seeded here, right
    /// before the encoder is built), checkpointed under `<out>/pretrain`.
    pub fn train(run: &EvalRun, p: &SpkverPlan, data: &Data, ad: &Device) -> Result<Pretrained> {
        let seed = run.seed();
        let t0 = Instant::now();
        let tok: Vec<f32> = data.pre_n.iter().flat_map(token_frames).collect();
        let km = KMeans::fit(
            &tok,
            data.fbank.config().n_mels,
            32,
            15,
            KMeansInit::Random,
            seed,
        )?;
        let targets = cluster_targets(&data.pre_n, &km)?;
        ad.seed(seed);
        let max_frames = data.max_frames();
        let enc_cfg =
            SslEncoderConfig::new(40, p.d_model, 4, p.n_layers, 4 * p.d_model, max_frames);
        let encoder = enc_cfg.init(ad);
        let pcfg = PretrainConfig {
            steps: p.pretrain_steps,
            batch: p.pretrain_batch,
            crop_frames: p.pretrain_crop,
            lr: 2e-3,
            mask_prob: 0.08,
            mask_span: 5,
            seed,
            dir: Some(run.run_dir("pretrain")?),
            resume: run.args.resume,
            progress: true,
        };
        let (encoder, curve) = pretrain_encoder(encoder, &data.pre_n, &targets, &pcfg, ad)?;
        let encoder = encoder.valid();
        let params = encoder.num_params();
        let seconds = t0.elapsed().as_secs_f64();
        eprintln!(
            "pre-training: {seconds:.1}s, masked-prediction loss {:.3} → {:.3} (ln 32 = {:.3})",
            curve.first().map_or(f64::NAN, |c| c.1),
            curve.last().map_or(f64::NAN, |c| c.1),
            32f64.ln()
        );
        Ok(Pretrained {
            encoder,
            curve,
            params,
            max_frames,
            seconds,
        })
    }
}

/// Frozen per-layer features of the training and test utterances, and their log-mel.
pub struct Frozen {
    /// Encoder layers of the training utterances, standardised.
    pub train: Vec<LayerFeatures>,
    /// Encoder layers of the test utterances, standardised with the training statistics.
    pub test: Vec<LayerFeatures>,
    /// Standardised log-mel of the training utterances, as one "layer".
    pub train_fbank: Vec<LayerFeatures>,
    /// Standardised log-mel of the test utterances, as one "layer".
    pub test_fbank: Vec<LayerFeatures>,
    /// Per-layer standardiser fitted on `train`.
    pub standardizer: Standardizer,
    /// Hidden states the encoder exposes.
    pub n_layers: usize,
    /// Seconds of extraction.
    pub seconds: f64,
}

impl Frozen {
    /// Runs `encoder` once per training and test utterance and standardises every layer with
    /// training statistics.
    pub fn extract(encoder: &SslEncoder, data: &Data, device: &Device) -> Result<Frozen> {
        let t0 = Instant::now();
        let mut tr_l = extract_layers(encoder, &data.train_n, device)?;
        let mut te_l = extract_layers(encoder, &data.test_n, device)?;
        let seconds = t0.elapsed().as_secs_f64();
        let st = Standardizer::fit(&tr_l)?;
        tr_l.iter_mut().try_for_each(|f| st.apply(f))?;
        te_l.iter_mut().try_for_each(|f| st.apply(f))?;
        Ok(Frozen {
            train: tr_l,
            test: te_l,
            train_fbank: data.train_n.iter().map(LayerFeatures::from_fbank).collect(),
            test_fbank: data.test_n.iter().map(LayerFeatures::from_fbank).collect(),
            standardizer: st,
            n_layers: encoder.n_outputs(),
            seconds,
        })
    }
}

/// EER of mean ‖ std pooled layer `l` of `feats`, cosine-scored on `trials`.
fn pooled_eer(feats: &[LayerFeatures], l: usize, trials: &Trials) -> Result<f64> {
    let emb: Vec<Vec<f32>> = feats.iter().map(|f| mean_std_vector(f, l)).collect();
    Ok(evaluate(&emb, &trials.0, &trials.1)?.eer.eer)
}

/// `"12.34%"` per EER, for the log lines.
fn percents(eers: &[f64]) -> Vec<String> {
    eers.iter().map(|e| format!("{:.2}%", e * 100.0)).collect()
}

/// Zero-shot test EER (no training): per encoder layer and on log-mel.
pub struct ZeroShot {
    /// EER per exposed layer (0 = Transformer input).
    pub per_layer: Vec<f64>,
    /// EER of pooled log-mel.
    pub fbank: f64,
}

impl ZeroShot {
    /// Scores every layer of `frozen.test` and its log-mel on `trials`.
    pub fn score(frozen: &Frozen, trials: &Trials) -> Result<ZeroShot> {
        let per_layer = (0..frozen.n_layers)
            .map(|l| pooled_eer(&frozen.test, l, trials))
            .collect::<Result<Vec<_>>>()?;
        let fbank = pooled_eer(&frozen.test_fbank, 0, trials)?;
        eprintln!(
            "zero-shot EER per layer: {:?}; log-mel {:.2}%",
            percents(&per_layer),
            fbank * 100.0
        );
        Ok(ZeroShot { per_layer, fbank })
    }

    /// The lowest per-layer EER.
    pub fn best_layer(&self) -> f64 {
        self.per_layer.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Zero-shot EER on espeak-ng speakers: a different synthesiser, the same frozen encoder.
pub struct EspeakZeroShot {
    /// Speakers (voice variant × pitch × speed).
    pub n_speakers: usize,
    /// Utterances.
    pub n_utterances: usize,
    /// EER per exposed layer.
    pub per_layer: Vec<f64>,
    /// EER of pooled log-mel.
    pub fbank: f64,
}

impl EspeakZeroShot {
    /// Synthesises at most 24 speakers × 8 utterances with espeak-ng (cut to the encoder's
    /// longest input) and scores them like [`ZeroShot`], or returns `None` (and says so) when
    /// espeak-ng is not installed.
    pub fn score_if_installed(
        p: &SpkverPlan,
        seed: u64,
        data: &Data,
        ssl: &Pretrained,
        frozen: &Frozen,
        device: &Device,
    ) -> Result<Option<EspeakZeroShot>> {
        if !espeak_available() {
            eprintln!("espeak-ng not installed: skipping the optional espeak-ng test speakers");
            return Ok(None);
        }
        let t0 = Instant::now();
        let es = espeak_corpus(
            p.test_speakers.min(24),
            p.test_utts.min(8),
            p.duration_s.1,
            SAMPLE_RATE,
            corpus_seed(seed, "espeak"),
        )?;
        let mut es_n = normalise(&fbanks(&data.fbank, &es)?, &data.fbank_norm)?;
        // espeak-ng utterances are cut to the longest synthetic duration, which the
        // synthetic corpora need not reach: keep them within the encoder's positions.
        for f in &mut es_n {
            f.n_frames = f.n_frames.min(ssl.max_frames);
            f.data.truncate(f.n_frames * f.dim);
        }
        let mut es_l = extract_layers(&ssl.encoder, &es_n, device)?;
        es_l.iter_mut()
            .try_for_each(|f| frozen.standardizer.apply(f))?;
        let es_trials = all_pairs_trials(&es.speakers);
        let per_layer = (0..frozen.n_layers)
            .map(|l| pooled_eer(&es_l, l, &es_trials))
            .collect::<Result<Vec<_>>>()?;
        let es_fb: Vec<LayerFeatures> = es_n.iter().map(LayerFeatures::from_fbank).collect();
        let fbank = pooled_eer(&es_fb, 0, &es_trials)?;
        eprintln!(
            "espeak-ng ({} speakers × {} utts, {:.1}s): zero-shot EER per layer {:?}; log-mel {:.2}%",
            es.n_speakers,
            es.audio.len() / es.n_speakers,
            t0.elapsed().as_secs_f64(),
            percents(&per_layer),
            fbank * 100.0
        );
        Ok(Some(EspeakZeroShot {
            n_speakers: es.n_speakers,
            n_utterances: es.audio.len(),
            per_layer,
            fbank,
        }))
    }
}
