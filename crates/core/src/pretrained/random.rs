//! Hugging Face checkpoints with random weights at the shapes of released models, for load
//! and throughput measurements (and pipeline tests) without a download.

use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::weights::WeightsWriter;
use crate::error::{Error, Result};

/// A released model's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomShape {
    /// bert-base-uncased: 12 × 768, 12 heads, MLP 3072, vocab 30,522, with the MLM head.
    BertBase,
    /// Llama-3.2-1B (2048 wide, 32 query / 8 key-value heads of 64, SwiGLU 8192, vocab
    /// 128,256, tied head, llama3 RoPE scaling) cut to 4 layers.
    Llama1b4Layers,
    /// facebook/hubert-base-ls960: 7 convs of 512 (group norm), 12 × 768, 12 heads, MLP
    /// 3072, positional conv 128 wide in 16 groups (weight norm).
    HubertBase,
    /// openai/clip-vit-base-patch32: ViT-B/32 image tower (12 × 768, 12 heads, MLP 3072,
    /// patch 32, 224 px), text tower 12 × 512 (8 heads, MLP 2048, vocab 49,408, 77
    /// positions), projections to 512.
    ClipVitB32,
}

impl RandomShape {
    /// Parse `bert-base`, `llama-1b-4l`, `hubert-base` or `clip-vit-b32`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "bert-base" => Ok(Self::BertBase),
            "llama-1b-4l" => Ok(Self::Llama1b4Layers),
            "hubert-base" => Ok(Self::HubertBase),
            "clip-vit-b32" => Ok(Self::ClipVitB32),
            other => Err(Error::InvalidInput(format!(
                "unknown shape {other:?} (bert-base, llama-1b-4l, hubert-base, clip-vit-b32)"
            ))),
        }
    }
}

struct Gen {
    rng: ChaCha8Rng,
    out: WeightsWriter,
}

impl Gen {
    fn add(&mut self, name: &str, shape: &[usize], kind: &str) -> Result<()> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = match kind {
            "ones" => vec![1.0; n],
            "zeros" => vec![0.0; n],
            // Uniform with std 0.02 (as initializer_range): cheap and bounded.
            _ => (0..n)
                .map(|_| (self.rng.random::<f32>() - 0.5) * 0.0693)
                .collect(),
        };
        self.out.add(name, shape, &v)
    }

    /// A pre-LN CLIP encoder `{p}encoder.layers.{0..l}` of width `d`, MLP `f`.
    fn clip_encoder(&mut self, p: &str, l: usize, d: usize, f: usize) -> Result<()> {
        for i in 0..l {
            let p = format!("{p}encoder.layers.{i}");
            for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                self.add(&format!("{p}.self_attn.{n}.weight"), &[d, d], "w")?;
                self.add(&format!("{p}.self_attn.{n}.bias"), &[d], "w")?;
            }
            for n in ["layer_norm1", "layer_norm2"] {
                self.add(&format!("{p}.{n}.weight"), &[d], "ones")?;
                self.add(&format!("{p}.{n}.bias"), &[d], "zeros")?;
            }
            self.add(&format!("{p}.mlp.fc1.weight"), &[f, d], "w")?;
            self.add(&format!("{p}.mlp.fc1.bias"), &[f], "w")?;
            self.add(&format!("{p}.mlp.fc2.weight"), &[d, f], "w")?;
            self.add(&format!("{p}.mlp.fc2.bias"), &[d], "w")?;
        }
        Ok(())
    }

    /// `{name}.weight` ones, `{name}.bias` zeros.
    fn norm(&mut self, name: &str, d: usize) -> Result<()> {
        self.add(&format!("{name}.weight"), &[d], "ones")?;
        self.add(&format!("{name}.bias"), &[d], "zeros")
    }
}

/// Write `config.json` and `model.safetensors` of `shape` with seeded random weights to `dir`,
/// under the Hugging Face names.
pub fn write_random_checkpoint(shape: RandomShape, dir: impl AsRef<Path>, seed: u64) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        out: WeightsWriter::new(),
    };
    let config = match shape {
        RandomShape::BertBase => {
            let (v, d, f, l) = (30522, 768, 3072, 12);
            g.add("bert.embeddings.word_embeddings.weight", &[v, d], "w")?;
            g.add("bert.embeddings.position_embeddings.weight", &[512, d], "w")?;
            g.add("bert.embeddings.token_type_embeddings.weight", &[2, d], "w")?;
            g.add("bert.embeddings.LayerNorm.weight", &[d], "ones")?;
            g.add("bert.embeddings.LayerNorm.bias", &[d], "zeros")?;
            for i in 0..l {
                let p = format!("bert.encoder.layer.{i}");
                for n in [
                    "attention.self.query",
                    "attention.self.key",
                    "attention.self.value",
                    "attention.output.dense",
                ] {
                    g.add(&format!("{p}.{n}.weight"), &[d, d], "w")?;
                    g.add(&format!("{p}.{n}.bias"), &[d], "w")?;
                }
                for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
                    g.add(&format!("{p}.{n}.weight"), &[d], "ones")?;
                    g.add(&format!("{p}.{n}.bias"), &[d], "zeros")?;
                }
                g.add(&format!("{p}.intermediate.dense.weight"), &[f, d], "w")?;
                g.add(&format!("{p}.intermediate.dense.bias"), &[f], "w")?;
                g.add(&format!("{p}.output.dense.weight"), &[d, f], "w")?;
                g.add(&format!("{p}.output.dense.bias"), &[d], "w")?;
            }
            g.add("cls.predictions.transform.dense.weight", &[d, d], "w")?;
            g.add("cls.predictions.transform.dense.bias", &[d], "w")?;
            g.add("cls.predictions.transform.LayerNorm.weight", &[d], "ones")?;
            g.add("cls.predictions.transform.LayerNorm.bias", &[d], "zeros")?;
            g.add("cls.predictions.bias", &[v], "zeros")?;
            serde_json::json!({
                "architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": v,
                "hidden_size": d, "num_hidden_layers": l, "num_attention_heads": 12,
                "intermediate_size": f, "hidden_act": "gelu", "max_position_embeddings": 512,
                "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
                "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
                "initializer_range": 0.02, "position_embedding_type": "absolute",
                "use_cache": true, "classifier_dropout": null
            })
        }
        RandomShape::Llama1b4Layers => {
            let (v, d, f, l, h, kv, hd) = (128256, 2048, 8192, 4, 32, 8, 64);
            g.add("model.embed_tokens.weight", &[v, d], "w")?;
            for i in 0..l {
                let p = format!("model.layers.{i}");
                g.add(&format!("{p}.input_layernorm.weight"), &[d], "ones")?;
                g.add(
                    &format!("{p}.post_attention_layernorm.weight"),
                    &[d],
                    "ones",
                )?;
                g.add(&format!("{p}.self_attn.q_proj.weight"), &[h * hd, d], "w")?;
                g.add(&format!("{p}.self_attn.k_proj.weight"), &[kv * hd, d], "w")?;
                g.add(&format!("{p}.self_attn.v_proj.weight"), &[kv * hd, d], "w")?;
                g.add(&format!("{p}.self_attn.o_proj.weight"), &[d, h * hd], "w")?;
                g.add(&format!("{p}.mlp.gate_proj.weight"), &[f, d], "w")?;
                g.add(&format!("{p}.mlp.up_proj.weight"), &[f, d], "w")?;
                g.add(&format!("{p}.mlp.down_proj.weight"), &[d, f], "w")?;
            }
            g.add("model.norm.weight", &[d], "ones")?;
            serde_json::json!({
                "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": v,
                "hidden_size": d, "intermediate_size": f, "num_hidden_layers": l,
                "num_attention_heads": h, "num_key_value_heads": kv, "head_dim": hd,
                "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
                "tie_word_embeddings": true, "bos_token_id": 128000, "eos_token_id": 128001,
                "attention_bias": false, "mlp_bias": false, "initializer_range": 0.02,
                "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 8192}
            })
        }
        RandomShape::HubertBase => {
            let (c, d, f, l, k) = (512, 768, 3072, 12, 128);
            let kernels = [10, 3, 3, 3, 3, 2, 2];
            let strides = [5, 2, 2, 2, 2, 2, 2];
            for (i, &kw) in kernels.iter().enumerate() {
                let p = format!("feature_extractor.conv_layers.{i}");
                let c_in = if i == 0 { 1 } else { c };
                g.add(&format!("{p}.conv.weight"), &[c, c_in, kw], "w")?;
            }
            g.add(
                "feature_extractor.conv_layers.0.layer_norm.weight",
                &[c],
                "ones",
            )?;
            g.add(
                "feature_extractor.conv_layers.0.layer_norm.bias",
                &[c],
                "zeros",
            )?;
            g.add("feature_projection.layer_norm.weight", &[c], "ones")?;
            g.add("feature_projection.layer_norm.bias", &[c], "zeros")?;
            g.add("feature_projection.projection.weight", &[d, c], "w")?;
            g.add("feature_projection.projection.bias", &[d], "w")?;
            let pc = "encoder.pos_conv_embed.conv";
            g.add(
                &format!("{pc}.parametrizations.weight.original0"),
                &[1, 1, k],
                "ones",
            )?;
            g.add(
                &format!("{pc}.parametrizations.weight.original1"),
                &[d, d / 16, k],
                "w",
            )?;
            g.add(&format!("{pc}.bias"), &[d], "w")?;
            g.add("encoder.layer_norm.weight", &[d], "ones")?;
            g.add("encoder.layer_norm.bias", &[d], "zeros")?;
            g.add("masked_spec_embed", &[d], "w")?;
            for i in 0..l {
                let p = format!("encoder.layers.{i}");
                for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    g.add(&format!("{p}.attention.{n}.weight"), &[d, d], "w")?;
                    g.add(&format!("{p}.attention.{n}.bias"), &[d], "w")?;
                }
                for n in ["layer_norm", "final_layer_norm"] {
                    g.add(&format!("{p}.{n}.weight"), &[d], "ones")?;
                    g.add(&format!("{p}.{n}.bias"), &[d], "zeros")?;
                }
                g.add(
                    &format!("{p}.feed_forward.intermediate_dense.weight"),
                    &[f, d],
                    "w",
                )?;
                g.add(
                    &format!("{p}.feed_forward.intermediate_dense.bias"),
                    &[f],
                    "w",
                )?;
                g.add(
                    &format!("{p}.feed_forward.output_dense.weight"),
                    &[d, f],
                    "w",
                )?;
                g.add(&format!("{p}.feed_forward.output_dense.bias"), &[d], "w")?;
            }
            serde_json::json!({
                "architectures": ["HubertModel"], "model_type": "hubert",
                "conv_dim": vec![c; 7], "conv_kernel": kernels, "conv_stride": strides,
                "conv_bias": false, "feat_extract_norm": "group",
                "feat_extract_activation": "gelu", "num_feat_extract_layers": 7,
                "hidden_size": d, "num_hidden_layers": l, "num_attention_heads": 12,
                "intermediate_size": f, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
                "num_conv_pos_embeddings": k, "num_conv_pos_embedding_groups": 16,
                "do_stable_layer_norm": false, "feat_proj_layer_norm": true,
                "conv_pos_batch_norm": false, "initializer_range": 0.02, "vocab_size": 32
            })
        }
        RandomShape::ClipVitB32 => {
            let (vd, vf, td, tf, e, v, t) = (768, 3072, 512, 2048, 512, 49408, 77);
            let (patch, size) = (32, 224);
            let n_pos = (size / patch) * (size / patch) + 1;
            let vp = "vision_model.";
            g.add(&format!("{vp}embeddings.class_embedding"), &[vd], "w")?;
            g.add(
                &format!("{vp}embeddings.patch_embedding.weight"),
                &[vd, 3, patch, patch],
                "w",
            )?;
            g.add(
                &format!("{vp}embeddings.position_embedding.weight"),
                &[n_pos, vd],
                "w",
            )?;
            g.norm(&format!("{vp}pre_layrnorm"), vd)?;
            g.clip_encoder(vp, 12, vd, vf)?;
            g.norm(&format!("{vp}post_layernorm"), vd)?;
            let tp = "text_model.";
            g.add(
                &format!("{tp}embeddings.token_embedding.weight"),
                &[v, td],
                "w",
            )?;
            g.add(
                &format!("{tp}embeddings.position_embedding.weight"),
                &[t, td],
                "w",
            )?;
            g.clip_encoder(tp, 12, td, tf)?;
            g.norm(&format!("{tp}final_layer_norm"), td)?;
            g.add("visual_projection.weight", &[e, vd], "w")?;
            g.add("text_projection.weight", &[e, td], "w")?;
            // ln(100): CLIP's trained temperature sits at the clamp.
            g.out.add("logit_scale", &[], &[100f32.ln()])?;
            serde_json::json!({
                "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": e,
                "logit_scale_init_value": 2.6592, "initializer_factor": 1.0,
                "text_config": {
                    "model_type": "clip_text_model", "vocab_size": v, "hidden_size": td,
                    "intermediate_size": tf, "num_hidden_layers": 12, "num_attention_heads": 8,
                    "max_position_embeddings": t, "hidden_act": "quick_gelu",
                    "layer_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": 2,
                    "pad_token_id": 1, "projection_dim": e
                },
                "vision_config": {
                    "model_type": "clip_vision_model", "hidden_size": vd,
                    "intermediate_size": vf, "num_hidden_layers": 12, "num_attention_heads": 12,
                    "num_channels": 3, "image_size": size, "patch_size": patch,
                    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": e
                }
            })
        }
    };
    g.out.write(dir.join("model.safetensors"))?;
    let path = dir.join("config.json");
    let text =
        serde_json::to_string_pretty(&config).map_err(|e| Error::format(&path, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}
