//! candle-peer: the forward pass that ember's perf table measures, done with candle-transformers
//! on the same Hugging Face `config.json` + `model.safetensors` (f32, CPU).
//!
//! Usage:
//!   candle-peer --arch bert|llama|clip --model DIR --batch B --seq T --iters N [--warmup W] [--threads K]
//!   candle-peer --arch bert|llama|clip --model DIR --check
//!
//! `clip` runs the image tower of a `CLIPModel` checkpoint (`get_image_features`: pooled
//! output → `visual_projection`) on `B` images and ignores `--seq`.
//!
//! Timing prints one JSON line. `--check` compares against the reference run that the fixture
//! folder holds in `io.safetensors` (PyTorch / transformers outputs).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::clip::text_model::Activation;
use candle_transformers::models::clip::vision_model::{ClipVisionConfig, ClipVisionTransformer};
use candle_transformers::models::{bert, llama};

struct Args {
    arch: String,
    model: PathBuf,
    batch: usize,
    seq: usize,
    iters: usize,
    warmup: usize,
    threads: Option<usize>,
    check: bool,
}

const USAGE: &str = "usage: candle-peer --arch bert|llama|clip --model DIR --batch B --seq T --iters N \
                     [--warmup W] [--threads K] [--check]";

fn parse_args() -> Result<Args> {
    let mut a = Args {
        arch: String::new(),
        model: PathBuf::new(),
        batch: 1,
        seq: 128,
        iters: 10,
        warmup: 2,
        threads: None,
        check: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--check" {
            a.check = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let v = it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = || v.parse::<usize>().with_context(|| format!("{flag}: not a number: {v}"));
        match flag.as_str() {
            "--arch" => a.arch = v.clone(),
            "--model" => a.model = PathBuf::from(&v),
            "--batch" => a.batch = num()?,
            "--seq" => a.seq = num()?,
            "--iters" => a.iters = num()?,
            "--warmup" => a.warmup = num()?,
            "--threads" => a.threads = Some(num()?),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if !matches!(a.arch.as_str(), "bert" | "llama" | "clip") {
        bail!("--arch must be bert, llama or clip\n{USAGE}");
    }
    if a.model.as_os_str().is_empty() {
        bail!("--model DIR is required\n{USAGE}");
    }
    if a.batch == 0 || a.seq == 0 || a.iters == 0 {
        bail!("--batch, --seq and --iters must be positive");
    }
    Ok(a)
}

/// The two models behind one forward call. Both run the whole `batch × seq` input every call.
enum Model {
    Bert(bert::BertModel),
    /// candle's Llama has no padding mask and returns only the last position's logits [B, vocab].
    /// The cache is an unused template (no KV stored, no masks yet); each call clones it.
    Llama(llama::Llama, llama::Cache),
}

impl Model {
    fn load(arch: &str, dir: &Path, dev: &Device) -> Result<(Self, usize, usize)> {
        let cfg_text = std::fs::read_to_string(dir.join("config.json"))
            .with_context(|| format!("reading {}/config.json", dir.display()))?;
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only and not modified while the program runs.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, dev)? };
        if arch == "bert" {
            let cfg: bert::Config = serde_json::from_str(&cfg_text)?;
            // BertModel::load itself uses the `bert.` prefix when the checkpoint has it
            // (BertForMaskedLM) and the bare names otherwise (BertModel).
            let m = bert::BertModel::load(vb, &cfg)?;
            Ok((Model::Bert(m), cfg.vocab_size, cfg.max_position_embeddings))
        } else {
            let mut json: serde_json::Value = serde_json::from_str(&cfg_text)?;
            // transformers >= 5 nests rope_theta under rope_parameters; candle reads the top level
            // (and would silently fall back to 10000).
            if json.get("rope_theta").is_none() {
                if let Some(t) = json.pointer("/rope_parameters/rope_theta").cloned() {
                    json["rope_theta"] = t;
                }
            }
            let lc: llama::LlamaConfig = serde_json::from_value(json.clone())?;
            let cfg = lc.into_config(false);
            if let Some(hd) = json.get("head_dim").and_then(|v| v.as_u64()) {
                if hd as usize != cfg.hidden_size / cfg.num_attention_heads {
                    bail!("config head_dim {hd} != hidden_size/num_heads; candle's Llama assumes the latter");
                }
            }
            let m = llama::Llama::load(vb, &cfg)?;
            // RoPE tables over max_position_embeddings are built here, once, outside the timing.
            let cache = llama::Cache::new(false, DType::F32, &cfg, dev)?;
            let (v, p) = (cfg.vocab_size, cfg.max_position_embeddings);
            Ok((Model::Llama(m, cache), v, p))
        }
    }

    /// ids: [B, T] u32; mask: [B, T] (BERT only). Returns BERT's last hidden state [B, T, H]
    /// or Llama's last-position logits [B, vocab].
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Model::Bert(m) => m.forward(ids, &ids.zeros_like()?, Some(mask))?,
            Model::Llama(m, template) => {
                // A fresh cache per call (clone of the empty template: shares the RoPE tables,
                // holds no keys/values or masks), index_pos 0: no KV reuse across iterations.
                let mut cache = template.clone();
                m.forward(ids, 0, &mut cache)?
            }
        })
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
}

fn check(args: &Args, model: &Model, dev: &Device) -> Result<()> {
    let io = candle_core::safetensors::load(args.model.join("io.safetensors"), dev)
        .context("--check needs the fixture's io.safetensors")?;
    let get = |k: &str| io.get(k).with_context(|| format!("io.safetensors has no {k}"));
    let ids = get("input_ids")?.to_dtype(DType::U32)?;
    let mask = get("attention_mask")?.to_dtype(DType::U32)?;
    match model {
        Model::Bert(_) => {
            // The last entry of hidden_states is the encoder's output (BertModel's return value).
            let n = (0..).take_while(|i| io.contains_key(&format!("hidden_states.{i}"))).count();
            let key = format!("hidden_states.{}", n - 1);
            let reference = get(&key)?;
            let out = model.forward(&ids, &mask)?;
            let d0 = max_abs_diff(&out.i(0)?, &reference.i(0)?)?;
            println!("check bert: last hidden state vs {key}, row 0 (all {} positions): max |diff| = {d0:.3e}", ids.dim(1)?);
            // Row 1 is right-padded: compare only its real positions.
            let valid = mask.i(1)?.to_vec1::<u32>()?.iter().filter(|&&m| m == 1).count();
            let d1 = max_abs_diff(&out.i((1, ..valid))?, &reference.i((1, ..valid))?)?;
            println!("check bert: row 1 (padded; first {valid} real positions): max |diff| = {d1:.3e}");
        }
        Model::Llama(..) => {
            let reference = get("logits")?; // [B, T, vocab]
            let t = ids.dim(1)?;
            // candle's Llama forward has no padding mask, so check row 0 alone.
            let out = model.forward(&ids.i(0..1)?, &mask.i(0..1)?)?; // [1, vocab]
            let d = max_abs_diff(&out.i(0)?, &reference.i((0, t - 1))?)?;
            println!("check llama: last-position logits of row 0 vs logits[0, {}, :]: max |diff| = {d:.3e}", t - 1);
            println!("(candle's Llama::forward returns only the last position's logits)");
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    // Before any candle/rayon call: candle's CPU kernels and gemm size their pools from this.
    if let Some(k) = args.threads {
        std::env::set_var("RAYON_NUM_THREADS", k.to_string());
    }
    let dev = Device::Cpu;
    if args.arch == "clip" {
        return run_clip(&args, &dev);
    }
    let (model, vocab, max_pos) = Model::load(&args.arch, &args.model, &dev)?;
    if args.check {
        return check(&args, &model, &dev);
    }
    if args.seq > max_pos {
        bail!("--seq {} exceeds max_position_embeddings {max_pos}", args.seq);
    }

    let (b, t) = (args.batch, args.seq);
    let ids: Vec<u32> = (0..b)
        .flat_map(|i| (0..t).map(move |j| ((i * 7 + j * 13) % vocab) as u32))
        .collect();
    let ids = Tensor::from_vec(ids, (b, t), &dev)?;
    let mask = Tensor::ones((b, t), DType::U32, &dev)?;

    let ms = timed(args.warmup, args.iters, || model.forward(&ids, &mask))?;
    let median = median(&ms);
    let output = match model {
        Model::Bert(_) => "last_hidden_state",
        Model::Llama(..) => "last_position_logits",
    };
    // Keys in a fixed order (serde_json's map would sort them).
    let line = format!(
        concat!(
            r#"{{"peer":"candle","candle_version":"{}","arch":"{}","batch":{},"seq":{},"#,
            r#""iters":{},"warmup":{},"median_ms":{:.4},"min_ms":{:.4},"tokens_per_s":{:.1},"#,
            r#""threads":{},"output":"{}"}}"#
        ),
        CANDLE_VERSION,
        args.arch,
        b,
        t,
        args.iters,
        args.warmup,
        median,
        ms[0],
        (b * t) as f64 / (median / 1e3),
        candle_core::utils::get_num_threads(),
        output,
    );
    println!("{line}");
    Ok(())
}

/// `warmup` untimed calls, then `iters` timed ones; the times in milliseconds, sorted.
fn timed(warmup: usize, iters: usize, f: impl Fn() -> Result<Tensor>) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    let mut ms = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        let out = f()?; // CPU backend is eager: done when it returns
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(out);
    }
    ms.sort_by(|x, y| x.total_cmp(y));
    Ok(ms)
}

/// Median of sorted, non-empty times.
fn median(ms: &[f64]) -> f64 {
    if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    }
}

/// The image tower of a Hugging Face `CLIPModel` checkpoint: `vision_model.*` and
/// `visual_projection` (the text tower's weights are never read).
struct ClipImage {
    tower: ClipVisionTransformer,
    /// `None` for a checkpoint without `visual_projection.weight` (a bare `CLIPVisionModel`):
    /// the image features are then the pooled output itself.
    projection: Option<candle_nn::Linear>,
    cfg: ClipVisionConfig,
}

impl ClipImage {
    fn load(dir: &Path, dev: &Device) -> Result<Self> {
        let cfg_text = std::fs::read_to_string(dir.join("config.json"))
            .with_context(|| format!("reading {}/config.json", dir.display()))?;
        let json: serde_json::Value = serde_json::from_str(&cfg_text)?;
        // CLIPModel nests the tower's settings under vision_config; a CLIPVisionModel(WithProjection)
        // config has them at the top level.
        let vc = json.get("vision_config").unwrap_or(&json);
        // Missing keys take transformers' CLIPVisionConfig defaults (ViT-B/32).
        let size = |k: &str, default: usize| -> Result<usize> {
            match vc.get(k) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => v.as_u64().map(|n| n as usize).with_context(|| format!("vision_config.{k}: not a count: {v}")),
            }
        };
        let act = vc.get("hidden_act").and_then(|v| v.as_str()).unwrap_or("quick_gelu");
        if act != "quick_gelu" {
            bail!("vision_config.hidden_act is {act}; candle's CLIP vision model only has quick_gelu");
        }
        let eps = vc.get("layer_norm_eps").and_then(|v| v.as_f64()).unwrap_or(1e-5);
        if (eps - 1e-5).abs() > 1e-12 {
            bail!("vision_config.layer_norm_eps is {eps}; candle's CLIP vision model hard-codes 1e-5");
        }
        // visual_projection is [projection_dim, hidden] with CLIPModel's top-level projection_dim
        // (vision_config.projection_dim is an unused leftover there, often a stale 512).
        let projection_dim = json
            .get("projection_dim")
            .or_else(|| vc.get("projection_dim"))
            .and_then(|v| v.as_u64())
            .map_or(512, |n| n as usize);
        let cfg = ClipVisionConfig {
            embed_dim: size("hidden_size", 768)?,
            activation: Activation::QuickGelu,
            intermediate_size: size("intermediate_size", 3072)?,
            num_hidden_layers: size("num_hidden_layers", 12)?,
            num_attention_heads: size("num_attention_heads", 12)?,
            projection_dim,
            num_channels: size("num_channels", 3)?,
            image_size: size("image_size", 224)?,
            patch_size: size("patch_size", 32)?,
        };
        if cfg.embed_dim % cfg.num_attention_heads != 0 || cfg.image_size % cfg.patch_size != 0 {
            bail!("vision_config: hidden_size must divide by num_attention_heads and image_size by patch_size: {cfg:?}");
        }
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only and not modified while the program runs.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, dev)? };
        let tower = ClipVisionTransformer::new(vb.pp("vision_model"), &cfg)?;
        let projection = if vb.contains_tensor("visual_projection.weight") {
            Some(candle_nn::linear_no_bias(cfg.embed_dim, cfg.projection_dim, vb.pp("visual_projection"))?)
        } else {
            None
        };
        Ok(Self { tower, projection, cfg })
    }

    /// pixels: [B, C, S, S] → image features [B, projection_dim] (not normalised),
    /// transformers' `get_image_features`.
    fn image_features(&self, pixels: &Tensor) -> Result<Tensor> {
        let pooled = pixels.apply(&self.tower)?; // post_layernorm(last_hidden_state[:, 0, :])
        Ok(match &self.projection {
            Some(p) => pooled.apply(p)?,
            None => pooled,
        })
    }
}

/// `--arch clip`: time or check the image tower.
fn run_clip(args: &Args, dev: &Device) -> Result<()> {
    let model = ClipImage::load(&args.model, dev)?;
    if args.check {
        return check_clip(args, &model, dev);
    }
    let (b, c, s) = (args.batch, model.cfg.num_channels, model.cfg.image_size);
    // The same fixed pixels ember's hf_real_size example feeds (about [-1.5, 1.5]).
    let px: Vec<f32> = (0..b * c * s * s).map(|i| (i as f32 * 0.013).sin() * 1.5).collect();
    let px = Tensor::from_vec(px, (b, c, s, s), dev)?;
    let ms = timed(args.warmup, args.iters, || model.image_features(&px))?;
    let median = median(&ms);
    let output = if model.projection.is_some() { "image_features" } else { "pooled_output" };
    let line = format!(
        concat!(
            r#"{{"peer":"candle","candle_version":"{}","arch":"clip","batch":{},"image_size":{},"#,
            r#""iters":{},"warmup":{},"median_ms":{:.4},"min_ms":{:.4},"images_per_s":{:.2},"#,
            r#""threads":{},"output":"{}"}}"#
        ),
        CANDLE_VERSION,
        b,
        s,
        args.iters,
        args.warmup,
        median,
        ms[0],
        b as f64 / (median / 1e3),
        candle_core::utils::get_num_threads(),
        output,
    );
    println!("{line}");
    Ok(())
}

fn check_clip(args: &Args, model: &ClipImage, dev: &Device) -> Result<()> {
    let io = candle_core::safetensors::load(args.model.join("io.safetensors"), dev)
        .context("--check needs the fixture's io.safetensors")?;
    let get = |k: &str| io.get(k).with_context(|| format!("io.safetensors has no {k}"));
    let px = get("pixel_values")?.to_dtype(DType::F32)?;
    let feats = model.image_features(&px)?; // [B, E]
    let mut compared = false;
    // transformers 5.x returns get_image_features as the pooler output of the vision call:
    // the projected, unnormalised image features.
    if let Some(r) = io.get("vision_pooler_output") {
        if r.dims() == feats.dims() {
            let d = max_abs_diff(&feats, r)?;
            println!("check clip: image features (projected, unnormalised) vs vision_pooler_output {:?}: max |diff| = {d:.3e}", r.dims());
            compared = true;
        } else {
            println!("check clip: vision_pooler_output is {:?}, not the features' {:?}; skipped", r.dims(), feats.dims());
        }
    }
    if let Some(r) = io.get("image_embeds") {
        let norm = feats.sqr()?.sum_keepdim(1)?.sqrt()?;
        let d = max_abs_diff(&feats.broadcast_div(&norm)?, r)?;
        println!("check clip: L2-normalised image features vs image_embeds {:?}: max |diff| = {d:.3e}", r.dims());
        compared = true;
    }
    if let Some(r) = io.get("vision_last_hidden_state") {
        // The last encoder layer's output (before post_layernorm) is transformers' last_hidden_state.
        let hs = model.tower.output_hidden_states(&px)?;
        let d = max_abs_diff(&hs[hs.len() - 2], r)?;
        println!("check clip: vision last hidden state vs vision_last_hidden_state {:?}: max |diff| = {d:.3e}", r.dims());
        compared = true;
    }
    if !compared {
        bail!("io.safetensors holds none of vision_pooler_output, image_embeds, vision_last_hidden_state");
    }
    Ok(())
}

/// The candle-core version in Cargo.lock (set by build.rs).
const CANDLE_VERSION: &str = env!("CANDLE_VERSION");
