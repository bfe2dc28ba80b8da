//! espeak-ng as an optional extra source of speakers (used when the `espeak-ng` binary is on
//! `PATH`; Debian package `espeak-ng`). A speaker is an espeak-ng voice variant with its own
//! pitch and speed; each utterance is a random sentence from a small word list,
//! synthesised to a temporary WAV, read back through [`hound`] and resampled to the corpus
//! rate with a windowed-sinc low-pass resampler.
//!
//! espeak-ng is a formant synthesiser too, but a different one from [`crate::synth`]: it gives
//! a cross-synthesiser test set for the same encoder and heads.

use crate::synth::Corpus;
use ember_core::seed::Seed;
use ember_core::{Error, Result};
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::process::Command;

/// Whether `espeak-ng` can be run.
pub fn espeak_available() -> bool {
    Command::new("espeak-ng")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// One espeak-ng speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct EspeakSpeaker {
    /// Voice, e.g. `en-us+m3`.
    pub voice: String,
    /// Base pitch, 0–99 (espeak-ng `-p`).
    pub pitch: u32,
    /// Words per minute (espeak-ng `-s`).
    pub speed: u32,
}

/// Variants shipped with espeak-ng's data (male and female presets).
const VARIANTS: &[&str] = &[
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
];
const LANGS: &[&str] = &["en-us", "en-gb", "en-gb-scotland"];
const WORDS: &[&str] = &[
    "the", "river", "carried", "seven", "stones", "across", "a", "quiet", "valley", "morning",
    "light", "fell", "on", "old", "roofs", "while", "people", "walked", "slowly", "towards",
    "market", "with", "baskets", "of", "green", "apples", "and", "bread", "nobody", "spoke",
];

/// `n` speakers drawn from `seed`: voice = language × variant, pitch 20–80, speed 130–190 wpm.
pub fn espeak_speakers(n: usize, seed: u64) -> Vec<EspeakSpeaker> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| EspeakSpeaker {
            voice: format!(
                "{}+{}",
                LANGS[i % LANGS.len()],
                VARIANTS[(i / LANGS.len() + i) % VARIANTS.len()]
            ),
            pitch: rng.random_range(20..=80),
            speed: rng.random_range(130..=190),
        })
        .collect()
}

fn temp_wav() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "ember-espeak-{}-{}.wav",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// espeak-ng falls back to its default voice, silently and with exit status 0, for an
/// unknown voice: check the language and the variant against its own lists instead.
fn check_voice(voice: &str) -> Result<()> {
    let list = |arg: &str| -> Result<String> {
        let out = Command::new("espeak-ng")
            .arg(arg)
            .output()
            .map_err(|e| Error::InvalidInput(format!("cannot run espeak-ng: {e}")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (lang, variant) = voice.split_once('+').unwrap_or((voice, ""));
    let langs = list("--voices")?;
    let known = |listing: &str, col: usize, name: &str| {
        listing
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(col) == Some(name))
    };
    if !known(&langs, 1, lang) {
        return Err(Error::InvalidInput(format!(
            "espeak-ng has no language `{lang}` (see `espeak-ng --voices`)"
        )));
    }
    if !variant.is_empty() && !known(&list("--voices=variant")?, 4, &format!("!v/{variant}")) {
        return Err(Error::InvalidInput(format!(
            "espeak-ng has no voice variant `{variant}` (see `espeak-ng --voices=variant`)"
        )));
    }
    Ok(())
}

/// Synthesise `text` with `speaker` at `sample_rate` Hz.
///
/// Errors: espeak-ng missing or failing, an unknown voice, an unreadable WAV, or an empty
/// result.
pub fn synthesize_espeak(
    speaker: &EspeakSpeaker,
    text: &str,
    sample_rate: u32,
) -> Result<Vec<f32>> {
    check_voice(&speaker.voice)?;
    let path = temp_wav();
    let out = Command::new("espeak-ng")
        .args(["-w"])
        .arg(&path)
        .args(["-v", &speaker.voice])
        .args(["-p", &speaker.pitch.to_string()])
        .args(["-s", &speaker.speed.to_string()])
        .arg(text)
        .output()
        .map_err(|e| Error::InvalidInput(format!("cannot run espeak-ng: {e}")))?;
    if !out.status.success() {
        std::fs::remove_file(&path).ok();
        return Err(Error::InvalidInput(format!(
            "espeak-ng failed for voice {}: {}",
            speaker.voice,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let read = (|| {
        let mut r = hound::WavReader::open(&path)
            .map_err(|e| Error::format(&path, format!("espeak-ng output: {e}")))?;
        let spec = r.spec();
        if spec.channels != 1 || spec.sample_format != hound::SampleFormat::Int {
            return Err(Error::format(&path, "espeak-ng output is not mono PCM"));
        }
        let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
        let x: Vec<f32> = r
            .samples::<i32>()
            .map(|s| s.map(|v| v as f32 / scale))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::format(&path, format!("espeak-ng output: {e}")))?;
        Ok((x, spec.sample_rate))
    })();
    std::fs::remove_file(&path).ok();
    let (x, rate) = read?;
    if x.is_empty() {
        return Err(Error::InvalidInput("espeak-ng produced no audio".into()));
    }
    resample(&x, rate, sample_rate)
}

/// Band-limited resampling from `from` to `to` Hz: each output sample is a Hann-windowed
/// sinc interpolation of the input (16 zero crossings each side), with the cutoff at
/// `0.95 × min(from, to) / 2` so downsampling does not alias.
///
/// Errors: a zero rate or a non-finite sample.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == 0 || to == 0 {
        return Err(Error::InvalidInput("resample: zero sample rate".into()));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite("resample: non-finite sample".into()));
    }
    if from == to {
        return Ok(x.to_vec());
    }
    const ZEROS: f64 = 16.0;
    let ratio = to as f64 / from as f64;
    // Cutoff as a fraction of the input Nyquist.
    let fc = 0.95 * ratio.min(1.0);
    let half = (ZEROS / fc).ceil() as isize; // input samples each side
    let n_out = ((x.len() as f64) * ratio).floor() as usize;
    let sinc = |t: f64| {
        if t.abs() < 1e-12 {
            1.0
        } else {
            (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
        }
    };
    Ok((0..n_out)
        .map(|j| {
            let pos = j as f64 / ratio;
            let centre = pos.floor() as isize;
            let mut acc = 0.0;
            for i in (centre - half)..=(centre + half) {
                if i < 0 || i as usize >= x.len() {
                    continue;
                }
                let d = pos - i as f64;
                let w = 0.5 + 0.5 * (std::f64::consts::PI * d / (half as f64 + 1.0)).cos();
                acc += x[i as usize] as f64 * fc * sinc(fc * d) * w;
            }
            acc as f32
        })
        .collect())
}

/// A corpus of `speakers` espeak-ng speakers × `utts` utterances (random 5–9-word sentences),
/// each cut to at most `max_s` seconds, at `sample_rate` Hz.
pub fn espeak_corpus(
    speakers: usize,
    utts: usize,
    max_s: f32,
    sample_rate: u32,
    seed: u64,
) -> Result<Corpus> {
    use rayon::prelude::*;
    if speakers == 0 || utts == 0 {
        return Err(Error::InvalidInput(
            "espeak corpus: need ≥ 1 speaker and utterance".into(),
        ));
    }
    let spk = espeak_speakers(speakers, seed);
    let mut rng = Seed::new(seed).derive("espeak-words").rng();
    let jobs: Vec<(usize, String)> = (0..speakers)
        .flat_map(|s| (0..utts).map(move |_| s))
        .map(|s| {
            let n = rng.random_range(5..=9);
            let words: Vec<&str> = (0..n)
                .map(|_| *WORDS.choose(&mut rng).unwrap_or(&"the"))
                .collect();
            (s, words.join(" "))
        })
        .collect();
    let max_len = (max_s * sample_rate as f32) as usize;
    let audio = jobs
        .par_iter()
        .map(|(s, text)| {
            let mut a = synthesize_espeak(&spk[*s], text, sample_rate)?;
            a.truncate(max_len);
            Ok(a)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Corpus {
        audio,
        speakers: jobs.iter().map(|j| j.0).collect(),
        n_speakers: speakers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(f: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / rate as f64).sin() as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// A 1 kHz tone survives 22.05 → 16 kHz with its amplitude and phase (compared with the
    /// analytic tone at the output rate); a 10 kHz tone, above the new Nyquist, is removed.
    #[test]
    fn resampling_keeps_passband_and_removes_aliases() {
        let x = tone(1000.0, 22_050, 22_050);
        let y = resample(&x, 22_050, 16_000).unwrap();
        assert_eq!(y.len(), 16_000);
        let want = tone(1000.0, 16_000, 16_000);
        let err = y[200..15_800]
            .iter()
            .zip(&want[200..15_800])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err < 0.02, "max error {err}");
        let alias = resample(&tone(10_000.0, 22_050, 22_050), 22_050, 16_000).unwrap();
        assert!(
            rms(&alias[200..15_800]) < 0.02,
            "{}",
            rms(&alias[200..15_800])
        );
        // Upsampling a tone keeps it too.
        let up = resample(&tone(500.0, 8_000, 8_000), 8_000, 16_000).unwrap();
        let want = tone(500.0, 16_000, 16_000);
        assert!(
            up[400..15_600]
                .iter()
                .zip(&want[400..15_600])
                .all(|(a, b)| (a - b).abs() < 0.02)
        );
        assert!(resample(&[0.0], 0, 16_000).is_err());
        assert!(resample(&[f32::NAN], 8_000, 16_000).is_err());
    }

    #[test]
    fn speakers_are_seeded_and_distinct() {
        let a = espeak_speakers(10, 1);
        assert_eq!(a, espeak_speakers(10, 1));
        let voices: std::collections::HashSet<_> =
            a.iter().map(|s| (&s.voice, s.pitch, s.speed)).collect();
        assert_eq!(voices.len(), 10);
    }

    /// Runs only where espeak-ng is installed (CI installs it); elsewhere it says so.
    #[test]
    fn espeak_source_when_installed() {
        if !espeak_available() {
            eprintln!("espeak-ng not installed: skipping the synthesis check");
            return;
        }
        let c = espeak_corpus(2, 2, 1.5, 16_000, 3).unwrap();
        assert_eq!(c.audio.len(), 4);
        assert_eq!(c.speakers, vec![0, 0, 1, 1]);
        for a in &c.audio {
            assert!(a.len() > 4_000 && a.len() <= 24_000, "{}", a.len());
            assert!(rms(a) > 0.01);
        }
        let bad = EspeakSpeaker {
            voice: "no-such-voice+zz".into(),
            pitch: 50,
            speed: 150,
        };
        assert!(synthesize_espeak(&bad, "hello", 16_000).is_err());
    }
}
