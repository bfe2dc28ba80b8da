//! Real-size Hugging Face checkpoints with random weights: write, load, round-trip, time.
//!
//! ```text
//! cargo run --release -p ember-core --example hf_real_size -- write bert-base  DIR
//! cargo run --release -p ember-core --example hf_real_size -- write llama-1b-4l DIR
//! cargo run --release -p ember-core --example hf_real_size -- write hubert-base DIR
//! cargo run --release -p ember-core --example hf_real_size -- write clip-vit-b32 DIR
//! cargo run --release -p ember-core --example hf_real_size -- load  DIR          # load time, peak memory, round trip
//! cargo run --release -p ember-core --example hf_real_size -- time  DIR B T N    # forward tokens/s (median of N)
//! ```
//! Shapes: `bert-base` is bert-base-uncased (12 × 768, vocab 30522); `llama-1b-4l` is
//! Llama-3.2-1B (2048 wide, 32 heads / 8 KV heads, SwiGLU 8192, vocab 128256, llama3 RoPE)
//! cut to 4 layers; `hubert-base` is facebook/hubert-base-ls960 (7 convs, 12 × 768; `time`
//! then reads SEQ as samples at 16 kHz); `clip-vit-b32` is openai/clip-vit-base-patch32
//! (ViT-B/32 image tower, 12 × 512 text tower; `time` runs the image tower on BATCH
//! 224 px images and ignores SEQ). Each phase runs in its own process so peak memory is the loader's own.
//! Every line printed is JSON, for `docs/perf.md`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use ember_core::nn::{ForwardOptions, LanguageModel, TransformerInput};
use ember_core::pretrained::random::{RandomShape, write_random_checkpoint};
use ember_core::pretrained::speech::waveform_batch;
use ember_core::pretrained::{
    Clip, ClipVisionModel, HfConfig, PretrainedLm, SpeechArchitecture, SpeechEncoder,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("write") if args.len() == 3 => write(&args[1], Path::new(&args[2])),
        Some("load") if args.len() == 2 => load(Path::new(&args[1])),
        Some("time") if args.len() == 5 => time(Path::new(&args[1]), args[2].parse()?, args[3].parse()?, args[4].parse()?),
        _ => Err("usage: hf_real_size write bert-base|llama-1b-4l|hubert-base|clip-vit-b32 DIR | load DIR | time DIR BATCH SEQ ITERS".into()),
    }
}

/// Peak resident memory of this process (VmHWM) in MiB.
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(String::from)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn write(kind: &str, dir: &Path) -> Res<()> {
    let t0 = Instant::now();
    write_random_checkpoint(RandomShape::parse(kind)?, dir, 0)?;
    let bytes = std::fs::metadata(dir.join("model.safetensors"))?.len();
    println!(
        "{}",
        serde_json::json!({"phase": "write", "shape": kind, "file_mib": bytes as f64 / 1048576.0, "write_s": t0.elapsed().as_secs_f64()})
    );
    Ok(())
}

fn probe(model: &PretrainedLm, device: &Device) -> Res<Vec<f32>> {
    let ids: Vec<i64> = (0..32).map(|i| (i * 97 + 5) % 1000).collect();
    let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [32]), device).reshape([2, 16]);
    let out = model.forward_with(
        TransformerInput::Tokens(ids),
        ForwardOptions::logits().with_hidden_states(),
    )?;
    Ok(ember_core::ops::to_host(out.logits.ok_or("no logits")?)?)
}

/// Load with `from_dir` on flex: the model, file MiB, peak RSS before, seconds, peak after.
fn measured_load<M>(
    dir: &Path,
    from_dir: impl Fn(&Path, &Device) -> ember_core::Result<M>,
) -> Res<(M, f64, f64, f64, f64)> {
    let bytes = std::fs::metadata(dir.join("model.safetensors"))?.len() as f64 / 1048576.0;
    let before = peak_mib();
    let t0 = Instant::now();
    let model = from_dir(dir, &Device::flex())?;
    Ok((model, bytes, before, t0.elapsed().as_secs_f64(), peak_mib()))
}

fn is_speech(dir: &Path) -> Res<bool> {
    Ok(SpeechArchitecture::parse(&HfConfig::from_dir(dir)?.model_type()?).is_some())
}

fn is_clip(dir: &Path) -> Res<bool> {
    Ok(HfConfig::from_dir(dir)?.model_type()? == "clip")
}

/// `batch` fixed 224 px images (pixel values in about [-2, 2]).
fn clip_pixels(batch: usize, device: &Device) -> Tensor<4> {
    let n = batch * 3 * 224 * 224;
    let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.013).sin() * 1.5).collect();
    Tensor::from_data(TensorData::new(x, [batch, 3, 224, 224]), device)
}

/// CLIP's logits for two images and two captions (legacy argmax pooling: the last id is
/// the largest).
fn probe_clip(model: &Clip, device: &Device) -> Res<Vec<f32>> {
    let ids: Vec<i64> = (0..20)
        .map(|i| if i % 10 == 9 { 49407 } else { 320 + i })
        .collect();
    let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [20]), device).reshape([2, 10]);
    let out = model.forward(clip_pixels(2, device), ids)?;
    Ok(ember_core::ops::to_host(out.logits_per_image)?)
}

/// The image tower alone (as proxy-fda runs it) on `batch` images.
fn time_clip(dir: &Path, batch: usize, iters: usize) -> Res<Vec<f64>> {
    let device = Device::flex();
    let model = ClipVisionModel::from_dir(dir, &device)?;
    timed(iters, || {
        let f = model.image_features(clip_pixels(batch, &device))?;
        let _ = ember_core::ops::to_host(f)?;
        Ok(())
    })
}

/// A speech encoder's last hidden state for two seconds of a fixed signal.
fn probe_speech(model: &SpeechEncoder, device: &Device) -> Res<Vec<f32>> {
    let x: Vec<f32> = (0..32_000).map(|i| (i as f32 * 0.01).sin() * 0.1).collect();
    let out = model.forward(waveform_batch(x, &[2, 16_000], device)?)?;
    Ok(ember_core::ops::to_host(out.last_hidden_state)?)
}

fn load(dir: &Path) -> Res<()> {
    if is_speech(dir)? {
        return roundtrip_bitwise(
            dir,
            |d, dev| SpeechEncoder::from_dir(d, dev),
            |m, d| m.save_pretrained(d),
            probe_speech,
        );
    }
    if is_clip(dir)? {
        return roundtrip_bitwise(
            dir,
            |d, dev| Clip::from_dir(d, dev),
            |m, d| m.save_pretrained(d),
            probe_clip,
        );
    }
    roundtrip_bitwise(
        dir,
        |d, dev| PretrainedLm::from_dir(d, dev),
        |m, d| m.save_pretrained(d),
        probe,
    )
}

/// Load (timed, peak RSS), probe, `save_pretrained`, load the copy, and require bitwise
/// equal outputs.
fn roundtrip_bitwise<M>(
    dir: &Path,
    from_dir: impl Fn(&Path, &Device) -> ember_core::Result<M>,
    save: impl Fn(&M, &Path) -> ember_core::Result<()>,
    probe: impl Fn(&M, &Device) -> Res<Vec<f32>>,
) -> Res<()> {
    let device = Device::flex();
    let (model, bytes, before, load_s, peak) = measured_load(dir, &from_dir)?;
    let a = probe(&model, &device)?;
    let copy: PathBuf = dir.with_extension("roundtrip");
    let t1 = Instant::now();
    save(&model, &copy)?;
    let save_s = t1.elapsed().as_secs_f64();
    drop(model);
    let b = probe(&from_dir(&copy, &device)?, &device)?;
    let identical = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
    let same_file = std::fs::read(dir.join("model.safetensors"))?
        == std::fs::read(copy.join("model.safetensors"))?;
    std::fs::remove_dir_all(&copy)?;
    println!(
        "{}",
        serde_json::json!({
            "phase": "load", "dir": dir, "file_mib": bytes, "load_s": load_s,
            "peak_rss_mib_before": before, "peak_rss_mib_after_load": peak,
            "save_s": save_s, "roundtrip_outputs_bitwise_equal": identical,
            "roundtrip_file_bytes_equal": same_file
        })
    );
    if !identical {
        return Err("round trip changed the outputs".into());
    }
    Ok(())
}

fn time(dir: &Path, batch: usize, seq: usize, iters: usize) -> Res<()> {
    // Sorted milliseconds, and what one run processes: tokens, or seconds of 16 kHz audio
    // (SEQ is then samples).
    let (ms, rate_key, work) = if is_clip(dir)? {
        (time_clip(dir, batch, iters)?, "images_per_s", batch as f64)
    } else if is_speech(dir)? {
        let ms = time_speech(dir, batch, seq, iters)?;
        (ms, "audio_s_per_s", (batch * seq) as f64 / 16_000.0)
    } else {
        (
            time_lm(dir, batch, seq, iters)?,
            "tokens_per_s",
            (batch * seq) as f64,
        )
    };
    let median = ms[ms.len() / 2];
    let mut line = serde_json::json!({
        "peer": "ember-flex", "dir": dir, "batch": batch, "seq": seq, "iters": iters,
        "median_ms": median, "min_ms": ms[0],
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    });
    line[rate_key] = (work / (median / 1e3)).into();
    println!("{line}");
    Ok(())
}

fn time_speech(dir: &Path, batch: usize, samples: usize, iters: usize) -> Res<Vec<f64>> {
    let device = Device::flex();
    let model = SpeechEncoder::from_dir(dir, &device)?;
    let x: Vec<f32> = (0..batch * samples)
        .map(|i| (i as f32 * 0.01).sin() * 0.1)
        .collect();
    timed(iters, || {
        let out = model.forward(waveform_batch(x.clone(), &[batch, samples], &device)?)?;
        let _ = ember_core::ops::to_host(out.last_hidden_state)?;
        Ok(())
    })
}

fn time_lm(dir: &Path, batch: usize, seq: usize, iters: usize) -> Res<Vec<f64>> {
    let device = Device::flex();
    let model = PretrainedLm::from_dir(dir, &device)?;
    let vocab = model.vocab_size() as i64;
    let ids: Vec<i64> = (0..batch * seq)
        .map(|k| ((k / seq) as i64 * 7 + (k % seq) as i64 * 13) % vocab)
        .collect();
    let mk = || {
        Tensor::<1, Int>::from_data(TensorData::new(ids.clone(), [batch * seq]), &device)
            .reshape([batch, seq])
    };
    // The same work as the peer: the last hidden state (BERT) or the logits of the last
    // position (Llama; candle's Llama returns only those).
    timed(iters, || {
        let out = model.forward_with(TransformerInput::Tokens(mk()), ForwardOptions::default())?;
        let h = out.last_hidden;
        let h = if model.is_causal() {
            let [b, t, d] = h.dims();
            let last = h.slice([0..b, t - 1..t, 0..d]);
            let emb = model.token_embedding().ok_or("no embedding")?;
            last.reshape([b, d]).matmul(emb.transpose())
        } else {
            let [b, t, d] = h.dims();
            h.reshape([b * t, d])
        };
        let _ = ember_core::ops::to_host(h)?;
        Ok(())
    })
}

/// Milliseconds of `iters` runs (at least one) after one warm-up, sorted.
fn timed(iters: usize, run: impl Fn() -> Res<()>) -> Res<Vec<f64>> {
    run()?;
    let mut ms = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        run()?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms)
}
