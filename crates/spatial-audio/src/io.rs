//! Readers and writers of the field's formats: 4-channel FOA WAV files (ACN order `W, Y, Z,
//! X`, SN3D; through `hound`) and caption CSV files (`file,caption`, AudioCaps/Clotho style;
//! through `csv`). Every error names the file.

use ember_core::{Error, Result};
use std::path::{Path, PathBuf};

/// Reads a 4-channel FOA WAV file as `[W, Y, Z, X]` channels of `f32`.
///
/// Accepted: 16/24/32-bit integer PCM (scaled by `2^(bits−1)`) or 32-bit float. Errors (with
/// the path): a channel count other than 4, a sample rate other than `expected_rate`, a
/// declared length longer than the file (truncated, checked before anything is allocated),
/// no samples, or a non-finite float sample.
pub fn read_foa_wav(path: impl AsRef<Path>, expected_rate: u32) -> Result<Vec<Vec<f32>>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_foa_wav(&bytes, path, expected_rate)
}

/// [`read_foa_wav`] on bytes already in memory (`path` names the file in errors).
pub fn decode_foa_wav(bytes: &[u8], path: &Path, expected_rate: u32) -> Result<Vec<Vec<f32>>> {
    let bad = |m: String| Error::format(path, m);
    let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    if spec.channels != 4 {
        return Err(bad(format!(
            "expected 4 FOA channels (W, Y, Z, X), found {}",
            spec.channels
        )));
    }
    if spec.sample_rate != expected_rate {
        return Err(bad(format!(
            "expected a sample rate of {expected_rate} Hz, found {} Hz (resample first)",
            spec.sample_rate
        )));
    }
    let width = (spec.bits_per_sample as usize).div_ceil(8).max(1);
    let declared = reader.len() as usize;
    if declared.saturating_mul(width) > bytes.len() {
        return Err(bad(format!(
            "the header declares {declared} samples but the file has only {} bytes (truncated)",
            bytes.len()
        )));
    }
    if declared == 0 {
        return Err(bad("the file holds no samples".into()));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => {
            if spec.bits_per_sample != 32 {
                return Err(bad(format!(
                    "unsupported float width {}",
                    spec.bits_per_sample
                )));
            }
            reader
                .samples::<f32>()
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(format!("bad sample data: {e}")))?
        }
        hound::SampleFormat::Int => {
            if !matches!(spec.bits_per_sample, 16 | 24 | 32) {
                return Err(bad(format!(
                    "unsupported integer width {} (16, 24 or 32)",
                    spec.bits_per_sample
                )));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(format!("bad sample data: {e}")))?
        }
    };
    if !interleaved.len().is_multiple_of(4) || interleaved.is_empty() {
        return Err(bad(format!(
            "{} samples is not a whole number of 4-channel frames",
            interleaved.len()
        )));
    }
    if let Some(i) = interleaved.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("sample {i} is not finite")));
    }
    let frames = interleaved.len() / 4;
    Ok((0..4)
        .map(|c| (0..frames).map(|t| interleaved[4 * t + c]).collect())
        .collect())
}

/// Writes `[W, Y, Z, X]` as a 4-channel 32-bit float WAV file.
pub fn write_foa_wav(path: impl AsRef<Path>, foa: &[Vec<f32>], sample_rate: u32) -> Result<()> {
    let path = path.as_ref();
    crate::features::check_foa(foa)?;
    let spec = hound::WavSpec {
        channels: 4,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let err = |e: hound::Error| Error::format(path, format!("writing WAV: {e}"));
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for t in 0..foa[0].len() {
        for ch in foa {
            w.write_sample(ch[t]).map_err(err)?;
        }
    }
    w.finalize().map_err(err)
}

/// One row of a caption file.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionRow {
    /// The audio file, resolved against the CSV's folder.
    pub file: PathBuf,
    /// The caption text.
    pub caption: String,
}

/// Reads a caption CSV with a header naming the columns `file` and `caption` (others are
/// ignored; AudioCaps' `audiocap_id,youtube_id,start_time,caption` needs a `file` column
/// added). Errors (with the path and line): a missing column, an empty file name or caption,
/// a malformed row, or no rows.
pub fn read_captions(path: impl AsRef<Path>) -> Result<Vec<CaptionRow>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_captions(&bytes, path)
}

/// [`read_captions`] on bytes already in memory.
pub fn decode_captions(bytes: &[u8], path: &Path) -> Result<Vec<CaptionRow>> {
    let bad = |m: String| Error::format(path, m);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let headers = rdr
        .headers()
        .map_err(|e| bad(format!("unreadable header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                bad(format!(
                    "no `{name}` column in the header {:?}",
                    headers.iter().collect::<Vec<_>>()
                ))
            })
    };
    let (fc, cc) = (col("file")?, col("caption")?);
    let base = path.parent().unwrap_or(Path::new(""));
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| bad(format!("line {line}: {e}")))?;
        let file = rec.get(fc).unwrap_or("").trim();
        let caption = rec.get(cc).unwrap_or("").trim();
        if file.is_empty() || caption.is_empty() {
            return Err(bad(format!("line {line}: empty file name or caption")));
        }
        rows.push(CaptionRow {
            file: base.join(file),
            caption: caption.to_string(),
        });
    }
    if rows.is_empty() {
        return Err(bad("no caption rows".into()));
    }
    Ok(rows)
}
