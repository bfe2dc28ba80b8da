//! `ember-hf`: check that a local Hugging Face checkpoint loads in ember, and run it.
//!
//! ```text
//! ember-hf inspect DIR [--text "..."]          # architecture, sizes, load time; one forward pass
//! ember-hf generate DIR --prompt "..." [--max-new-tokens 32] [--temperature T --top-k K --top-p P --seed S]
//! ```
//! `DIR` is what `save_pretrained` writes: `config.json`, `model.safetensors` (or a sharded
//! index) and, for text, `tokenizer.json`. Loads bert, roberta, xlm-roberta, camembert, gpt2,
//! llama, mistral, qwen2 and gpt_neox; anything else is a clear error.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::prelude::*;
use clap::{Parser, Subcommand};
use ember_core::backend::resolve_device;
use ember_core::nn::{ForwardOptions, LanguageModel, TransformerInput};
use ember_core::pretrained::tokenizer::{EncodeOptions, HfTokenizer};
use ember_core::pretrained::{GenerateOptions, PretrainedLm, Sampling, generate};

/// Load a local Hugging Face checkpoint folder with ember and inspect or run it.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// Backend: flex (default), ndarray or wgpu (if compiled in); or set EMBER_DEVICE.
    #[arg(long, global = true)]
    device: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load DIR, print its architecture, sizes and load time as JSON, and run one forward
    /// pass (on --text through tokenizer.json if the folder has one, else on ids 0..8).
    Inspect {
        /// Checkpoint folder.
        dir: PathBuf,
        /// Text to encode and run.
        #[arg(long)]
        text: Option<String>,
    },
    /// Continue --prompt with a causal model (KV cache; greedy unless --temperature is set).
    Generate {
        /// Checkpoint folder (needs tokenizer.json).
        dir: PathBuf,
        /// Prompt text.
        #[arg(long)]
        prompt: String,
        /// New tokens at most.
        #[arg(long, default_value_t = 32)]
        max_new_tokens: usize,
        /// Sample at this temperature instead of greedy decoding.
        #[arg(long)]
        temperature: Option<f32>,
        /// With --temperature: keep the k most likely tokens.
        #[arg(long)]
        top_k: Option<usize>,
        /// With --temperature: nucleus mass in (0, 1].
        #[arg(long)]
        top_p: Option<f32>,
        /// With --temperature: seed of the draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let (_, device) = resolve_device(cli.device.as_deref())?;
    match cli.command {
        Command::Inspect { dir, text } => {
            let t0 = Instant::now();
            let model = PretrainedLm::from_dir(&dir, &device)?;
            let load_s = t0.elapsed().as_secs_f64();
            let tok = dir
                .join("tokenizer.json")
                .is_file()
                .then(|| HfTokenizer::from_dir(&dir))
                .transpose()?;
            let (ids, pad) = match (&tok, &text) {
                (Some(tok), Some(text)) => tok
                    .encode_batch(&[text.as_str()], &EncodeOptions::default())?
                    .to_tensors(&device)?,
                (None, Some(_)) => {
                    anyhow::bail!("{}: no tokenizer.json to encode --text with", dir.display())
                }
                _ => {
                    let t = model.max_len().min(8);
                    let ids = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]);
                    let pad = Tensor::<2, Bool>::from_data(
                        TensorData::new(vec![false; t], [1, t]),
                        &device,
                    );
                    (ids, pad)
                }
            };
            let t1 = Instant::now();
            let out = model.forward_with(
                TransformerInput::Tokens(ids),
                ForwardOptions::hidden_states()
                    .with_mlp_activations()
                    .with_pad_mask(pad),
            )?;
            let forward_s = t1.elapsed().as_secs_f64();
            let info = serde_json::json!({
                "dir": dir, "architecture": format!("{:?}", model.architecture()),
                "causal": model.is_causal(), "layers": model.n_layers(), "d_model": model.d_model(),
                "d_ff": model.d_ff(), "vocab": model.vocab_size(), "max_len": model.max_len(),
                "parameters": model.num_params(), "load_s": load_s,
                "tokenizer": tok.as_ref().map(|t| t.vocab_size()),
                "hidden_states": out.hidden_states.len(), "last_hidden": out.last_hidden.dims(),
                "forward_s": forward_s,
            });
            println!("{}", serde_json::to_string_pretty(&info)?);
        }
        Command::Generate {
            dir,
            prompt,
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            seed,
        } => {
            let model = PretrainedLm::from_dir(&dir, &device)?;
            let tok = HfTokenizer::from_dir(&dir)
                .context("generate needs the folder's tokenizer.json")?;
            let ids = tok.encode(&prompt, true)?;
            let sampling = match temperature {
                None => Sampling::Greedy,
                Some(temperature) => Sampling::Sample {
                    temperature,
                    top_k,
                    top_p,
                    seed,
                },
            };
            let opts = GenerateOptions {
                max_new_tokens,
                sampling,
                eos_token_id: tok.eos_id(),
                intervention: None,
            };
            let g = generate(&model, &ids, &opts, &device)?;
            println!("{}{}", prompt, tok.decode(&g.tokens, true)?);
        }
    }
    Ok(())
}
