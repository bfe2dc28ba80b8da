//! WAV input and output. Reading walks the RIFF chunks itself (see [`decode_wav`]); writing
//! goes through `hound`.
//!
//! Why not `hound` for reading: hound 3.5 does not skip the pad byte after an odd-length
//! chunk, reads only 4 bytes of a longer `fact` chunk (both lose sync and reject valid
//! files), decodes 24 valid bits in a 32-bit extensible container from the wrong bytes, has
//! no 64-bit float, and sizes its sample iterator by the declared data length (a 100-byte
//! file declaring 4 GiB of data made `collect` allocate that much).

use ember_core::{Error, Result};
use std::path::Path;

/// Read a mono WAV file as `f32` samples.
///
/// Accepted: RIFF/WAVE with `WAVE_FORMAT_PCM` (8-bit unsigned, 16/24/32-bit signed),
/// `WAVE_FORMAT_IEEE_FLOAT` (32/64-bit) or `WAVE_FORMAT_EXTENSIBLE` with a PCM or float
/// sub-format (valid bits left-justified in the container, e.g. 24 in 32); any other chunks
/// (`fact`, `LIST`, `PEAK`, odd lengths with their pad byte) are skipped.
///
/// Values: integers are scaled by 2^(container bits − 1), so they lie in `[-1, 1)`; floats are
/// returned **as stored**, also outside `[-1, 1]` (64-bit floats rounded to `f32`). Both match
/// `soundfile.read(path)` (checked in `tests/wav_cases.rs`).
///
/// Errors (with the path), by design: more than one channel (downmix first), a sample rate
/// other than `expected_rate` (resample first), compressed or unknown formats (µ-law, ADPCM,
/// ...), a data chunk longer than the file (truncated), a data length that is not a whole
/// number of frames, no samples, or a non-finite float sample.
pub fn read_wav(path: impl AsRef<Path>, expected_rate: u32) -> Result<Vec<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_wav(&bytes, path, expected_rate)
}

/// [`read_wav`] on the bytes of a file already in memory (`path` names it in errors).
pub fn decode_wav(bytes: &[u8], path: &Path, expected_rate: u32) -> Result<Vec<f32>> {
    let bad = |msg: String| Error::format(path, msg);
    let (fmt, data) = find_chunks(bytes).map_err(bad)?;
    let f = parse_fmt(fmt).map_err(bad)?;
    if f.channels != 1 {
        return Err(bad(format!(
            "expected mono audio, found {} channels (downmix first)",
            f.channels
        )));
    }
    if f.rate != expected_rate {
        return Err(bad(format!(
            "expected a sample rate of {expected_rate} Hz, found {} Hz (resample first)",
            f.rate
        )));
    }
    let width = f.container_bits as usize / 8;
    if data.len() % width != 0 {
        return Err(bad(format!(
            "the data chunk ({} bytes) is not a whole number of {width}-byte samples",
            data.len()
        )));
    }
    if data.is_empty() {
        return Err(bad("the file holds no samples".into()));
    }
    let samples: Vec<f32> = data
        .chunks_exact(width)
        .map(|b| decode_sample(b, f.float))
        .collect();
    if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "sample {i} is not finite (or too large for f32)"
        )));
    }
    Ok(samples)
}

/// The `fmt ` and `data` chunk bodies. Chunks are walked by their declared lengths (plus the
/// pad byte after an odd length), each length checked against the bytes that remain; the walk
/// stops at the first `data` chunk once a `fmt ` chunk has been seen, so trailing bytes after
/// the audio are ignored.
fn find_chunks(bytes: &[u8]) -> std::result::Result<(&[u8], &[u8]), String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        let what = if bytes.starts_with(b"RF64") {
            "an RF64 file (not supported; convert to WAV)"
        } else {
            "not a RIFF/WAVE file"
        };
        return Err(format!("not a readable WAV file: {what}"));
    }
    let mut fmt = None;
    let mut data = None;
    let mut at = 12;
    while let Some(header) = bytes.get(at..at + 8) {
        let id = &header[0..4];
        let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize;
        let start = at + 8;
        let remaining = bytes.len() - start;
        if len > remaining {
            return Err(format!(
                "chunk {:?} at byte {at} declares {len} bytes but only {remaining} follow \
                 (truncated or corrupt file)",
                String::from_utf8_lossy(id)
            ));
        }
        let body = &bytes[start..start + len];
        match id {
            b"fmt " if fmt.is_none() => fmt = Some(body),
            b"data" if data.is_none() => data = Some(body),
            b"fmt " | b"data" => {
                return Err(format!(
                    "a second {:?} chunk at byte {at}",
                    String::from_utf8_lossy(id)
                ));
            }
            _ => {}
        }
        if fmt.is_some() && data.is_some() {
            break;
        }
        at = start + len + len % 2;
    }
    match (fmt, data) {
        (Some(f), Some(d)) => Ok((f, d)),
        (None, _) => Err("not a readable WAV file: no fmt chunk".into()),
        (_, None) => Err("not a readable WAV file: no data chunk".into()),
    }
}

struct Fmt {
    channels: u16,
    rate: u32,
    container_bits: u16,
    float: bool,
}

const PCM: u16 = 1;
const IEEE_FLOAT: u16 = 3;
const EXTENSIBLE: u16 = 0xfffe;
/// KSDATAFORMAT_SUBTYPE_* GUIDs are the format tag followed by these 14 bytes.
const GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

fn parse_fmt(b: &[u8]) -> std::result::Result<Fmt, String> {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    if b.len() < 16 {
        return Err(format!(
            "fmt chunk of {} bytes (at least 16 needed)",
            b.len()
        ));
    }
    let mut tag = u16_at(0);
    let channels = u16_at(2);
    let rate = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes"));
    let block_align = u16_at(12);
    let bits = u16_at(14);
    if tag == EXTENSIBLE {
        if b.len() < 40 || u16_at(16) < 22 {
            return Err("WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes".into());
        }
        let valid_bits = u16_at(18);
        if b[26..40] != GUID_TAIL {
            return Err("WAVE_FORMAT_EXTENSIBLE with an unknown sub-format GUID".into());
        }
        if valid_bits > bits {
            return Err(format!("{valid_bits} valid bits in a {bits}-bit container"));
        }
        tag = u16_at(24);
    }
    let float = match tag {
        PCM => false,
        IEEE_FLOAT => true,
        other => {
            let name = match other {
                2 => " (ADPCM)",
                6 => " (A-law)",
                7 => " (µ-law)",
                0x55 => " (MP3)",
                _ => "",
            };
            return Err(format!(
                "format tag {other:#06x}{name} is not supported (convert to PCM or float)"
            ));
        }
    };
    let supported = if float {
        matches!(bits, 32 | 64)
    } else {
        matches!(bits, 8 | 16 | 24 | 32)
    };
    if !supported {
        let kind = if float { "float" } else { "integer PCM" };
        return Err(format!("{bits}-bit {kind} samples are not supported"));
    }
    if channels == 0 {
        return Err("the fmt chunk declares 0 channels".into());
    }
    if u32::from(block_align) != u32::from(channels) * u32::from(bits / 8) {
        return Err(format!(
            "block align {block_align} does not match {channels} channel(s) of {bits} bits"
        ));
    }
    Ok(Fmt {
        channels,
        rate,
        container_bits: bits,
        float,
    })
}

/// One little-endian sample of 1–4 (integer) or 4/8 (float) bytes.
fn decode_sample(b: &[u8], float: bool) -> f32 {
    match (float, b.len()) {
        (true, 4) => f32::from_le_bytes(b.try_into().expect("4 bytes")),
        (true, _) => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
        (false, 1) => ((f64::from(b[0]) - 128.0) / 128.0) as f32,
        (false, n) => {
            // Left-justify in an i32, then scale by 2^31: the same as dividing the n-byte
            // value by 2^(8n - 1).
            let mut v = [0u8; 4];
            v[4 - n..].copy_from_slice(b);
            (f64::from(i32::from_le_bytes(v)) / 2f64.powi(31)) as f32
        }
    }
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
        other => Error::format(path, format!("cannot write WAV: {other}")),
    }
}
