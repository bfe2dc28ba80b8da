//! WAV input and output through `hound`: mono PCM (8/16/24/32-bit int) or 32-bit float.

use ember_core::{Error, Result};
use std::path::Path;

/// Read a mono WAV file as samples in `[-1, 1]`.
///
/// Errors (with the path): the file cannot be opened or is not a valid WAV, its sample rate
/// is not `expected_rate`, it has more than one channel, it is empty, or it holds a
/// non-finite float sample.
pub fn read_wav(path: impl AsRef<Path>, expected_rate: u32) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let mut reader = hound::WavReader::open(path).map_err(|e| wav_err(path, e))?;
    let spec = reader.spec();
    if spec.channels != 1 {
        return Err(Error::format(
            path,
            format!(
                "expected mono audio, found {} channels (downmix first)",
                spec.channels
            ),
        ));
    }
    if spec.sample_rate != expected_rate {
        return Err(Error::format(
            path,
            format!(
                "expected a sample rate of {expected_rate} Hz, found {} Hz (resample first)",
                spec.sample_rate
            ),
        ));
    }
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| wav_err(path, e))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| wav_err(path, e))?
        }
    };
    if samples.is_empty() {
        return Err(Error::format(path, "the file holds no samples"));
    }
    if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(path, format!("sample {i} is not finite")));
    }
    Ok(samples)
}

/// Write `samples` (clipped to `[-1, 1]`) as a 16-bit mono PCM WAV.
pub fn write_wav(path: impl AsRef<Path>, samples: &[f32], sample_rate: u32) -> Result<()> {
    let path = path.as_ref();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| wav_err(path, e))?;
    for &s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        w.write_sample(v).map_err(|e| wav_err(path, e))?;
    }
    w.finalize().map_err(|e| wav_err(path, e))
}

fn wav_err(path: &Path, e: hound::Error) -> Error {
    match e {
        hound::Error::IoError(io) => Error::io(path, io),
        other => Error::format(path, format!("not a readable WAV file: {other}")),
    }
}
