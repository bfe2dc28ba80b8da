//! Pretrained Hugging Face checkpoints: language-model architectures, weight loading,
//! generation and tokenizers.
//!
//! Point [`PretrainedLm::from_dir`] at a local folder as `save_pretrained` writes it
//! (`config.json` + `model.safetensors` or sharded `model.safetensors.index.json`, and
//! `tokenizer.json`). `model_type` picks the architecture:
//!
//! | `model_type` | module | notes |
//! |---|---|---|
//! | `bert`, `roberta`, `xlm-roberta`, `camembert` | [`bert`] | post-LN encoder + MLM head |
//! | `gpt2` | [`gpt2`] | learned positions, fused `Conv1D` |
//! | `llama`, `mistral` (no sliding window), `qwen2` | [`llama`] | RMSNorm, RoPE, GQA, SwiGLU, Qwen2 q/k/v biases |
//! | `gpt_neox` | [`neox`] | partial rotary, parallel residual |
//!
//! Speech encoders (`wav2vec2`, `hubert`, `wavlm`) load through [`SpeechEncoder::from_dir`]
//! ([`speech`], [`wav2vec2`], [`wavlm`]): waveforms in, every layer's hidden states out.
//!
//! CLIP (`clip`, `clip_vision_model`) loads through [`Clip::from_dir`] /
//! [`ClipVisionModel::from_dir`] ([`clip`]), its image preprocessing through
//! [`ClipImageProcessor`] ([`clip_image`]).
//!
//! Every model implements [`crate::nn::LanguageModel`], the contract the paper crates take
//! (hidden states, MLP activations, interventions, logits), and the decoders implement
//! [`CausalLm`] for KV-cached [`generate`](generate::generate).
//!
//! ```no_run
//! use ember_core::nn::{ForwardOptions, LanguageModel, TransformerInput};
//! use ember_core::pretrained::{PretrainedLm, tokenizer::HfTokenizer};
//! # fn main() -> ember_core::Result<()> {
//! let device = ember_core::backend::device_by_name("flex")?;
//! let model = PretrainedLm::from_dir("models/xlm-roberta-base", &device)?;
//! let tok = HfTokenizer::from_dir("models/xlm-roberta-base")?;
//! let ids = tok.encode_batch(&["Der Hund sitzt."], &Default::default())?;
//! let (ids, pad) = ids.to_tensors(&device)?;
//! let out = model.forward_with(
//!     TransformerInput::Tokens(ids),
//!     ForwardOptions::hidden_states().with_pad_mask(pad).with_mlp_activations(),
//! )?;
//! assert_eq!(out.hidden_states.len(), model.n_layers() + 1);
//! # Ok(()) }
//! ```

pub mod bert;
pub mod clip;
pub mod clip_image;
pub mod config;
pub mod generate;
pub mod gpt2;
pub mod layers;
pub mod llama;
pub mod neox;
pub mod random;
pub mod speech;
pub mod tokenizer;
pub mod wav2vec2;
pub mod wavlm;
pub mod weights;

use std::path::Path;

use burn::prelude::*;

pub use clip::{Clip, ClipOutput, ClipVisionModel};
pub use clip_image::ClipImageProcessor;
pub use config::HfConfig;
pub use generate::{CausalLm, GenerateOptions, Generation, Sampling, generate};
pub use layers::KvCache;
pub use speech::{SpeechArchitecture, SpeechEncoder, SpeechOutput};
pub use tokenizer::{AnyTokenizer, EncodeOptions, EncodedBatch, HfTokenizer, TextTokenizer};
pub use weights::{Weights, WeightsWriter};

use crate::error::{Error, Result};
use crate::nn::LanguageModel;
use crate::nn::transformer::{ForwardOptions, TransformerInput, TransformerOutput};

/// Which architecture a checkpoint was loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT-style encoder (`bert`).
    Bert,
    /// RoBERTa-style encoder (`roberta`, `xlm-roberta`, `camembert`).
    Roberta,
    /// GPT-2.
    Gpt2,
    /// Llama-style decoder (`llama`, `mistral`).
    Llama,
    /// Qwen2.
    Qwen2,
    /// GPT-NeoX / Pythia.
    NeoX,
}

impl Architecture {
    /// The architecture for a `model_type`, or an error listing what loads.
    pub fn from_model_type(model_type: &str, config_path: &Path) -> Result<Self> {
        Ok(match model_type {
            "bert" => Self::Bert,
            "roberta" | "xlm-roberta" | "camembert" => Self::Roberta,
            "gpt2" => Self::Gpt2,
            "llama" | "mistral" => Self::Llama,
            "qwen2" => Self::Qwen2,
            "gpt_neox" => Self::NeoX,
            other => {
                let hint = if SpeechArchitecture::parse(other).is_some() {
                    " (it is a speech encoder: load it with SpeechEncoder::from_dir)"
                } else if other.starts_with("clip") {
                    " (it is CLIP: load it with Clip::from_dir or ClipVisionModel::from_dir)"
                } else {
                    ""
                };
                return Err(Error::format(
                    config_path,
                    format!(
                        "model_type {other:?} is not supported; ember loads bert, roberta, \
                         xlm-roberta, camembert, gpt2, llama, mistral, qwen2, gpt_neox as \
                         language models{hint}"
                    ),
                ));
            }
        })
    }
}

/// A loaded pretrained language model of any supported architecture, with what it needs
/// to be written back as a Hugging Face checkpoint.
#[derive(Module, Debug)]
pub struct PretrainedLm {
    model: PretrainedArch,
    #[module(skip)]
    meta: HfMeta,
}

/// The checkpoint-side facts kept beside the modules.
#[derive(Debug, Clone)]
struct HfMeta {
    arch: Architecture,
    config: HfConfig,
    params: Vec<weights::SavedParam>,
}

/// The architecture-specific model inside a [`PretrainedLm`].
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum PretrainedArch {
    /// BERT / RoBERTa / XLM-R encoder.
    Bert(bert::Bert),
    /// GPT-2.
    Gpt2(gpt2::Gpt2),
    /// Llama / Qwen2.
    Llama(llama::Llama),
    /// GPT-NeoX.
    NeoX(neox::NeoX),
}

impl PretrainedLm {
    /// Load the checkpoint in `dir` onto `device` (see the module docs).
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let cfg = HfConfig::from_dir(dir)?;
        let arch = Architecture::from_model_type(&cfg.model_type()?, cfg.path())?;
        let weights = Weights::from_dir(dir)?;
        Self::load(arch, &cfg, &weights, device)
    }

    /// Build `arch` from a parsed config and opened weights.
    pub fn load(arch: Architecture, cfg: &HfConfig, w: &Weights, device: &Device) -> Result<Self> {
        w.take_record();
        let model =
            match arch {
                Architecture::Bert | Architecture::Roberta => PretrainedArch::Bert(
                    bert::Bert::load(bert::BertConfig::from_hf(cfg)?, w, device)?,
                ),
                Architecture::Gpt2 => PretrainedArch::Gpt2(gpt2::Gpt2::load(
                    gpt2::Gpt2Config::from_hf(cfg)?,
                    w,
                    device,
                )?),
                Architecture::Llama | Architecture::Qwen2 => PretrainedArch::Llama(
                    llama::Llama::load(llama::LlamaConfig::from_hf(cfg)?, w, device)?,
                ),
                Architecture::NeoX => PretrainedArch::NeoX(neox::NeoX::load(
                    neox::NeoXConfig::from_hf(cfg)?,
                    w,
                    device,
                )?),
            };
        Ok(Self {
            model,
            meta: HfMeta {
                arch,
                config: cfg.clone(),
                params: w.take_record(),
            },
        })
    }

    /// The architecture it was loaded as.
    pub fn architecture(&self) -> Architecture {
        self.meta.arch
    }

    /// The architecture-specific model.
    pub fn arch(&self) -> &PretrainedArch {
        &self.model
    }

    /// The `config.json` it was loaded from.
    pub fn config(&self) -> &HfConfig {
        &self.meta.config
    }

    /// Write the model (e.g. after fine-tuning) to `dir` as a Hugging Face checkpoint:
    /// `config.json` and `model.safetensors` with the original tensor names and layouts,
    /// so `transformers` and [`PretrainedLm::from_dir`] load it back.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let values = param_values(&self.model)?;
        let out = recorded_tensors(&self.meta.params, &values)?;
        write_hf_dir(dir.as_ref(), &out, &self.meta.config)
    }
}

/// Host values of every float parameter of a module, by id: `(shape, values)`.
pub(crate) type ParamMap = std::collections::HashMap<burn::module::ParamId, (Vec<usize>, Vec<f32>)>;

/// Every float parameter of `module` on the host, by id.
pub(crate) fn param_values<M: Module>(module: &M) -> Result<ParamMap> {
    let mut values = ParamValues::default();
    module.visit(&mut values);
    match values.error {
        Some(e) => Err(e),
        None => Ok(values.map),
    }
}

/// The recorded parameters under their Hugging Face names and layouts.
pub(crate) fn recorded_tensors(
    params: &[weights::SavedParam],
    values: &ParamMap,
) -> Result<WeightsWriter> {
    let mut out = WeightsWriter::new();
    for p in params {
        let (shape, v) = values.get(&p.id).ok_or_else(|| {
            Error::InvalidInput(format!(
                "parameter for {:?} is no longer in the model",
                p.name
            ))
        })?;
        if p.transposed {
            let (rows, cols) = (shape[0], shape[1]);
            out.add(
                p.name.clone(),
                &[cols, rows],
                &weights::transpose(v, rows, cols),
            )?;
        } else {
            out.add(p.name.clone(), shape, v)?;
        }
    }
    Ok(out)
}

/// Write `model.safetensors` and `config.json` into `dir` (created if needed).
pub(crate) fn write_hf_dir(dir: &Path, out: &WeightsWriter, config: &HfConfig) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    out.write(dir.join(weights::SINGLE_FILE))?;
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_json_pretty()).map_err(|e| Error::io(&path, e))
}

/// Every float parameter's value on the host, by id.
#[derive(Default)]
struct ParamValues {
    map: ParamMap,
    error: Option<Error>,
}

impl burn::module::ModuleVisitor for ParamValues {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let t = param.val();
        let shape = t.dims().to_vec();
        match crate::ops::to_host(t) {
            Ok(v) => {
                self.map.insert(param.id, (shape, v));
            }
            Err(e) => self.error = Some(e),
        }
    }
}

impl PretrainedArch {
    /// `(vocab, d_model, n_layers, d_ff)`.
    fn dims(&self) -> (usize, usize, usize, usize) {
        match self {
            Self::Bert(m) => {
                let c = m.config();
                (
                    c.vocab_size,
                    c.hidden_size,
                    c.num_layers,
                    c.intermediate_size,
                )
            }
            Self::Gpt2(m) => {
                let c = m.config();
                (
                    c.vocab_size,
                    c.hidden_size,
                    c.num_layers,
                    c.intermediate_size,
                )
            }
            Self::Llama(m) => {
                let c = m.config();
                (
                    c.vocab_size,
                    c.hidden_size,
                    c.num_layers,
                    c.intermediate_size,
                )
            }
            Self::NeoX(m) => {
                let c = m.config();
                (
                    c.vocab_size,
                    c.hidden_size,
                    c.num_layers,
                    c.intermediate_size,
                )
            }
        }
    }
}

impl LanguageModel for PretrainedLm {
    fn n_layers(&self) -> usize {
        self.model.dims().2
    }
    fn d_model(&self) -> usize {
        self.model.dims().1
    }
    fn d_ff(&self) -> usize {
        self.model.dims().3
    }
    fn vocab_size(&self) -> usize {
        self.model.dims().0
    }
    fn is_causal(&self) -> bool {
        !matches!(self.model, PretrainedArch::Bert(_))
    }
    fn max_len(&self) -> usize {
        match &self.model {
            PretrainedArch::Bert(m) => {
                let c = m.config();
                // RoBERTa positions start after the padding id.
                if c.roberta_positions {
                    c.max_positions - c.pad_token_id - 1
                } else {
                    c.max_positions
                }
            }
            PretrainedArch::Gpt2(m) => m.config().max_positions,
            PretrainedArch::Llama(m) => m.config().max_positions,
            PretrainedArch::NeoX(m) => m.config().max_positions,
        }
    }
    fn token_embedding(&self) -> Option<Tensor<2>> {
        Some(match &self.model {
            PretrainedArch::Bert(m) => m.token_embedding(),
            PretrainedArch::Gpt2(m) => m.token_embedding(),
            PretrainedArch::Llama(m) => m.token_embedding(),
            PretrainedArch::NeoX(m) => m.token_embedding(),
        })
    }
    fn forward_with(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
    ) -> Result<TransformerOutput> {
        match &self.model {
            PretrainedArch::Bert(m) => m.forward_with(input, opts),
            _ => self.forward_cached(input, opts, None),
        }
    }
}

impl CausalLm for PretrainedLm {
    fn forward_cached(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
        cache: Option<&mut KvCache>,
    ) -> Result<TransformerOutput> {
        match &self.model {
            PretrainedArch::Bert(_) => Err(Error::InvalidInput(
                "a BERT-family encoder is not a causal LM: it cannot generate".into(),
            )),
            PretrainedArch::Gpt2(m) => m.forward_cached(input, opts, cache),
            PretrainedArch::Llama(m) => m.forward_cached(input, opts, cache),
            PretrainedArch::NeoX(m) => m.forward_cached(input, opts, cache),
        }
    }
}
