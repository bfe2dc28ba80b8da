//! Self-supervised speech encoders from local Hugging Face checkpoints: wav2vec 2.0, HuBERT
//! and WavLM (`model_type` `wav2vec2`, `hubert`, `wavlm`; the bare `*Model` or the encoder
//! inside a task-head checkpoint).
//!
//! [`SpeechEncoder::from_dir`] reads `config.json` and `model.safetensors` (and
//! `preprocessor_config.json` when present, for `do_normalize`); [`SpeechEncoder::forward`]
//! takes 16 kHz waveforms `[B, N]` and returns every layer's hidden states, as
//! transformers' `output_hidden_states=True` does, for SUPERB-style weighted sums.
//!
//! ```no_run
//! use ember_core::pretrained::speech::{SpeechEncoder, waveform_batch};
//! # fn main() -> ember_core::Result<()> {
//! let device = ember_core::backend::device_by_name("flex")?;
//! let model = SpeechEncoder::from_dir("models/wavlm-base-plus", &device)?;
//! let samples = vec![0.0f32; 16_000];
//! let out = model.forward(waveform_batch(samples, &[16_000], &device)?)?;
//! assert_eq!(out.hidden_states.len(), model.n_layers() + 1);
//! assert_eq!(out.last_hidden_state.dims()[1], model.num_frames(16_000));
//! # Ok(()) }
//! ```
//!
//! A batch holds utterances of one length (no attention mask, as the group-norm base
//! models expect): run utterances of different lengths one at a time.

use std::collections::HashSet;
use std::path::Path;

use burn::module::ParamId;
use burn::prelude::*;

use super::config::HfConfig;
use super::wav2vec2::{PosConvWeight, Wav2Vec2, Wav2Vec2Config};
use super::weights::{SavedParam, Weights};
use super::{Architecture, param_values, recorded_tensors, write_hf_dir};
use crate::error::{Error, Result};

/// Which speech architecture a checkpoint was loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechArchitecture {
    /// wav2vec 2.0 (`wav2vec2`).
    Wav2Vec2,
    /// HuBERT (`hubert`).
    Hubert,
    /// WavLM (`wavlm`): wav2vec2 plus a gated relative position bias.
    WavLm,
}

impl SpeechArchitecture {
    /// The architecture for a `model_type`, if it is a speech encoder.
    pub fn parse(model_type: &str) -> Option<Self> {
        match model_type {
            "wav2vec2" => Some(Self::Wav2Vec2),
            "hubert" => Some(Self::Hubert),
            "wavlm" => Some(Self::WavLm),
            _ => None,
        }
    }

    /// The architecture for a `model_type`, or an error that says what loads (and points
    /// language-model folders to [`super::PretrainedLm`]).
    pub fn from_model_type(model_type: &str, config_path: &Path) -> Result<Self> {
        Self::parse(model_type).ok_or_else(|| {
            let hint = if Architecture::from_model_type(model_type, config_path).is_ok() {
                ": it is a language model, load it with PretrainedLm::from_dir"
            } else {
                ""
            };
            Error::format(
                config_path,
                format!(
                    "model_type {model_type:?} is not a supported speech encoder (wav2vec2, hubert, wavlm){hint}"
                ),
            )
        })
    }

    /// The `model_type` string (also the weight prefix of task-head checkpoints).
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Wav2Vec2 => "wav2vec2",
            Self::Hubert => "hubert",
            Self::WavLm => "wavlm",
        }
    }
}

/// What a speech encoder returns for a batch `[B, N]` of `T = num_frames(N)` frames.
#[derive(Debug, Clone)]
pub struct SpeechOutput {
    /// Conv features entering the feature projection's linear layer `[B, T, C]` (after its
    /// layer norm; transformers' `extract_features` for wav2vec2 and WavLM).
    pub extract_features: Tensor<3>,
    /// `L + 1` states `[B, T, D]`: the encoder input after the positional conv (and the
    /// encoder layer norm in post-LN models), then each block's output; the last one is
    /// `last_hidden_state` (after the final layer norm in stable-layer-norm models).
    pub hidden_states: Vec<Tensor<3>>,
    /// The encoder output `[B, T, D]`.
    pub last_hidden_state: Tensor<3>,
}

/// A loaded wav2vec2 / HuBERT / WavLM encoder, with what it needs to be written back as a
/// Hugging Face checkpoint.
#[derive(Module, Debug)]
pub struct SpeechEncoder {
    model: Wav2Vec2,
    #[module(skip)]
    meta: SpeechMeta,
}

/// The checkpoint-side facts kept beside the modules.
#[derive(Debug, Clone)]
struct SpeechMeta {
    config: HfConfig,
    params: Vec<SavedParam>,
    pos_conv: PosConvWeight,
    /// Float tensors the encoder does not use (`masked_spec_embed`, task heads), kept so
    /// `save_pretrained` writes them back unchanged.
    extras: Vec<(String, Vec<usize>, Vec<f32>)>,
    normalize: bool,
}

impl SpeechEncoder {
    /// Load the checkpoint in `dir` onto `device` (see the module docs). Waveforms are
    /// normalised per utterance iff `preprocessor_config.json` says `do_normalize` (its
    /// default, true, when the file has no such key); without that file they are not.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let cfg = HfConfig::from_dir(dir)?;
        let arch = SpeechArchitecture::from_model_type(&cfg.model_type()?, cfg.path())?;
        let normalize = if dir.join("preprocessor_config.json").is_file() {
            let pre = HfConfig::from_str(
                &std::fs::read_to_string(dir.join("preprocessor_config.json"))
                    .map_err(|e| Error::io(dir.join("preprocessor_config.json"), e))?,
                dir.join("preprocessor_config.json"),
            )?;
            pre.bool_or("do_normalize", true)?
        } else {
            false
        };
        let weights = Weights::from_dir(dir)?;
        Ok(Self::load(arch, &cfg, &weights, device)?.with_normalize(normalize))
    }

    /// Build `arch` from a parsed config and opened weights (no waveform normalisation).
    pub fn load(
        arch: SpeechArchitecture,
        cfg: &HfConfig,
        w: &Weights,
        device: &Device,
    ) -> Result<Self> {
        w.take_record();
        let (model, pos_conv) = Wav2Vec2::load(Wav2Vec2Config::from_hf(cfg, arch)?, w, device)?;
        let params = w.take_record();
        let mut used: HashSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
        match &pos_conv {
            PosConvWeight::Plain(n) => {
                used.insert(n);
            }
            PosConvWeight::WeightNorm { g, v } => {
                used.insert(g);
                used.insert(v);
            }
        }
        // Unused tensors that do not read as finite floats are dropped, not an error: the
        // encoder never needs them.
        let extras = w
            .names()
            .filter(|n| !used.contains(n))
            .filter_map(|n| {
                let shape = w.shape(n)?.to_vec();
                w.host(n, &shape).ok().map(|v| (n.to_string(), shape, v))
            })
            .collect();
        Ok(Self {
            model,
            meta: SpeechMeta {
                config: cfg.clone(),
                params,
                pos_conv,
                extras,
                normalize: false,
            },
        })
    }

    /// Normalise each waveform to zero mean, unit variance before the encoder (as
    /// `Wav2Vec2FeatureExtractor(do_normalize=True)`), or not.
    pub fn with_normalize(mut self, normalize: bool) -> Self {
        self.meta.normalize = normalize;
        self
    }

    /// Whether [`SpeechEncoder::forward`] normalises its input.
    pub fn normalizes(&self) -> bool {
        self.meta.normalize
    }

    /// The architecture it was loaded as.
    pub fn architecture(&self) -> SpeechArchitecture {
        self.model.config().arch
    }

    /// The encoder module.
    pub fn model(&self) -> &Wav2Vec2 {
        &self.model
    }

    /// The parsed shape and options.
    pub fn encoder_config(&self) -> &Wav2Vec2Config {
        self.model.config()
    }

    /// The `config.json` it was loaded from.
    pub fn config(&self) -> &HfConfig {
        &self.meta.config
    }

    /// Transformer blocks (`hidden_states` has one more entry).
    pub fn n_layers(&self) -> usize {
        self.model.config().num_layers
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.model.config().hidden_size
    }

    /// Frames the encoder makes of `num_samples` samples (0 if too short).
    pub fn num_frames(&self, num_samples: usize) -> usize {
        self.model.config().num_frames(num_samples)
    }

    /// The fewest samples that give one frame (400 for the released models: 25 ms).
    pub fn min_samples(&self) -> usize {
        self.model.config().min_samples()
    }

    /// Encode waveforms `[B, N]` (one utterance per row, all of length `N`). Errors on an
    /// empty batch, waveforms shorter than [`SpeechEncoder::min_samples`] and non-finite
    /// samples.
    pub fn forward(&self, waveforms: Tensor<2>) -> Result<SpeechOutput> {
        let [b, n] = waveforms.dims();
        self.model.config().check_samples(b, n)?;
        let mut host = crate::ops::to_host(waveforms.clone())?;
        if let Some(i) = host.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "waveform {} has a non-finite sample ({}) at index {}",
                i / n,
                host[i],
                i % n
            )));
        }
        let x = if self.meta.normalize {
            host.chunks_mut(n).for_each(normalize_waveform);
            Tensor::from_data(TensorData::new(host, [b, n]), &waveforms.device())
        } else {
            waveforms
        };
        self.model.forward(x)
    }

    /// Write the encoder (e.g. after fine-tuning) to `dir` as a Hugging Face checkpoint:
    /// `config.json` and `model.safetensors` under the original names (the positional conv
    /// as the weight-norm pair or the plain weight it was read as), and the tensors the
    /// encoder did not use unchanged. Loading what it wrote gives back the same tensors, bit
    /// for bit.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let values = param_values(&self.model)?;
        let mut out = recorded_tensors(&self.meta.params, &values)?;
        let (weight, magnitude) = self.model.pos_conv_weight_ids();
        let get = |id: &ParamId| {
            values
                .get(id)
                .ok_or_else(|| Error::InvalidInput("the positional conv weight is gone".into()))
        };
        let (shape, w) = get(&weight)?;
        match (&self.meta.pos_conv, magnitude) {
            (PosConvWeight::Plain(n), None) => out.add(n.clone(), shape, w)?,
            (PosConvWeight::WeightNorm { g, v }, Some(m)) => {
                let (g_shape, g_values) = get(&m)?;
                out.add(g.clone(), g_shape, g_values)?;
                out.add(v.clone(), shape, w)?;
            }
            _ => {
                return Err(Error::InvalidInput(
                    "the positional conv's parametrisation does not match its source names".into(),
                ));
            }
        }
        for (n, s, v) in &self.meta.extras {
            out.add(n.clone(), s, v)?;
        }
        write_hf_dir(dir.as_ref(), &out, &self.meta.config)
    }
}

/// Zero mean, unit variance in place, as `Wav2Vec2FeatureExtractor` does with
/// `do_normalize`: `(x − mean) / sqrt(var + 1e-7)` (biased variance).
pub fn normalize_waveform(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + 1e-7).sqrt();
    x.iter_mut()
        .for_each(|v| *v = ((*v as f64 - mean) * inv) as f32);
}

/// A waveform batch `[B, N]` from row-major samples of shape `[N]` (one utterance) or
/// `[B, N]`; any other rank, or a length that does not match the shape, is an error.
pub fn waveform_batch(samples: Vec<f32>, shape: &[usize], device: &Device) -> Result<Tensor<2>> {
    let [b, n] = match *shape {
        [n] => [1, n],
        [b, n] => [b, n],
        _ => {
            return Err(Error::Shape(format!(
                "a waveform batch is [samples] or [batch, samples], got shape {shape:?} (rank {})",
                shape.len()
            )));
        }
    };
    if b * n != samples.len() {
        return Err(Error::Shape(format!(
            "shape {shape:?} needs {} samples, got {}",
            b * n,
            samples.len()
        )));
    }
    Ok(Tensor::from_data(TensorData::new(samples, [b, n]), device))
}

#[cfg(test)]
mod tests {
    use super::normalize_waveform;

    #[test]
    fn normalisation_is_zero_mean_unit_variance() {
        let mut x: Vec<f32> = (0..1000)
            .map(|i| (i as f32 * 0.37).sin() * 0.1 + 0.02)
            .collect();
        normalize_waveform(&mut x);
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-6, "{mean}");
        assert!((var - 1.0).abs() < 1e-4, "{var}");
        // A silent utterance stays finite (eps inside the square root).
        let mut z = vec![0.0f32; 16];
        normalize_waveform(&mut z);
        assert!(z.iter().all(|v| *v == 0.0));
    }
}
