//! Procedural sound events with plain (semantic) captions: tones, chirps, noise bursts,
//! clicks, FM bird calls, knocks, buzzes, engines and formant speech from ember-core's
//! synthesiser (shared with ember-spkver). Every event is random within its kind (pitch,
//! timing, level), deterministic in the caller's RNG.

use ember_core::audio::formant::{SessionParams, SpeakerParams, synthesize};
use ember_core::{Error, Result};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::f32::consts::PI;

/// The sound kinds: canonical caption first, then paraphrases (no spatial words).
pub const KINDS: &[&[&str]] = &[
    &[
        "a high beep",
        "a high-pitched beep",
        "a shrill tone beeping",
    ],
    &["a low beep", "a low-pitched beep", "a deep tone beeping"],
    &[
        "a siren wailing",
        "an alarm siren wails",
        "a two-tone siren",
    ],
    &["a rising chirp", "a sweep going up", "an upward chirp"],
    &["a falling chirp", "a sweep going down", "a downward chirp"],
    &["a hissing noise", "steam hissing", "a burst of hiss"],
    &["a low rumble", "rumbling thunder", "a deep rumbling"],
    &["a clock ticking", "ticking of a clock", "a ticking clock"],
    &["a bird chirping", "a bird sings", "birdsong chirps"],
    &["someone knocking", "knocks on a door", "a knocking sound"],
    &["an insect buzzing", "a buzzing fly", "a buzz"],
    &["an engine idling", "a motor running", "an idling engine"],
    &["a man speaking", "a male voice talking", "a man talks"],
    &[
        "a woman speaking",
        "a female voice talking",
        "a woman talks",
    ],
];

/// Number of kinds.
pub fn n_kinds() -> usize {
    KINDS.len()
}

fn uni(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

fn noise(rng: &mut ChaCha8Rng) -> f32 {
    rng.random::<f32>() * 2.0 - 1.0
}

/// A `n`-sample event of kind `kind` at `sample_rate` Hz, peak-normalised to 0.5.
pub fn render(kind: usize, n: usize, sample_rate: u32, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
    if kind >= KINDS.len() {
        return Err(Error::InvalidInput(format!(
            "sound kind {kind} is out of range (0..{})",
            KINDS.len()
        )));
    }
    if n < 1000 || sample_rate < 8000 {
        return Err(Error::InvalidInput(format!(
            "sounds: need ≥ 1000 samples at ≥ 8 kHz, got {n} at {sample_rate} Hz"
        )));
    }
    let sr = sample_rate as f32;
    let t = |i: usize| i as f32 / sr;
    let mut x = vec![0f32; n];
    match kind {
        0 | 1 => {
            let f = if kind == 0 {
                uni(rng, 1500.0, 2500.0)
            } else {
                uni(rng, 300.0, 600.0)
            };
            let period = uni(rng, 0.15, 0.3);
            let duty = uni(rng, 0.4, 0.7);
            for (i, v) in x.iter_mut().enumerate() {
                let on = (t(i) % period) < duty * period;
                *v = if on { (2.0 * PI * f * t(i)).sin() } else { 0.0 };
            }
        }
        2 => {
            let (f1, f2) = (uni(rng, 550.0, 650.0), uni(rng, 850.0, 950.0));
            let rate = uni(rng, 1.5, 3.0);
            let mut ph = 0f32;
            for (i, v) in x.iter_mut().enumerate() {
                let f = if (t(i) * rate) % 1.0 < 0.5 { f1 } else { f2 };
                ph += 2.0 * PI * f / sr;
                *v = ph.sin();
            }
        }
        3 | 4 => {
            let (lo, hi) = (uni(rng, 200.0, 500.0), uni(rng, 2000.0, 4000.0));
            let dur = n as f32 / sr;
            let mut ph = 0f32;
            for (i, v) in x.iter_mut().enumerate() {
                let a = t(i) / dur;
                let a = if kind == 3 { a } else { 1.0 - a };
                ph += 2.0 * PI * lo * (hi / lo).powf(a) / sr;
                *v = ph.sin();
            }
        }
        5 => {
            let (a, b) = (uni(rng, 0.0, 0.2), uni(rng, 0.6, 1.0));
            for (i, v) in x.iter_mut().enumerate() {
                let r = i as f32 / n as f32;
                *v = if r >= a && r <= b { noise(rng) } else { 0.0 };
            }
        }
        6 => {
            let (mut y, mut z) = (0f32, 0f32);
            let k = uni(rng, 0.01, 0.03);
            for v in x.iter_mut() {
                y = 0.995 * y + 0.05 * noise(rng);
                z += k * (y - z);
                *v = z;
            }
        }
        7 => {
            let rate = uni(rng, 2.0, 5.0);
            let period = (sr / rate) as usize;
            let off = rng.random_range(0..period);
            for (i, v) in x.iter_mut().enumerate() {
                let p = (i + off) % period;
                if p < 60 {
                    *v = (-(p as f32) / 10.0).exp() * (2.0 * PI * 3000.0 * t(p)).sin()
                        + 0.3 * noise(rng) * (-(p as f32) / 8.0).exp();
                }
            }
        }
        8 => {
            let calls = rng.random_range(2..5usize);
            let len = n / calls;
            for c in 0..calls {
                let (f0, df) = (uni(rng, 3000.0, 5000.0), uni(rng, 500.0, 1500.0));
                let l = (len as f32 * uni(rng, 0.3, 0.6)) as usize;
                let start = c * len;
                let mut ph = 0f32;
                for j in 0..l.min(n - start) {
                    let a = j as f32 / l as f32;
                    ph += 2.0 * PI * (f0 + df * (2.0 * PI * 8.0 * a).sin()) / sr;
                    x[start + j] = (PI * a).sin() * ph.sin();
                }
            }
        }
        9 => {
            let knocks = rng.random_range(2..5usize);
            let f = uni(rng, 60.0, 150.0);
            for k in 0..knocks {
                let start = (k as f32 * uni(rng, 0.18, 0.24) * sr) as usize + 100;
                for j in 0..(0.15 * sr) as usize {
                    if start + j < n {
                        let env = (-(j as f32) / (0.02 * sr)).exp();
                        x[start + j] += env
                            * ((2.0 * PI * f * t(j)).sin()
                                + 0.5 * noise(rng) * (-(j as f32) / 40.0).exp());
                    }
                }
            }
        }
        10 => {
            let f = uni(rng, 100.0, 200.0);
            for (i, v) in x.iter_mut().enumerate() {
                *v = 2.0 * ((f * t(i)) % 1.0) - 1.0;
            }
        }
        11 => {
            let fm = uni(rng, 20.0, 40.0);
            let mut y = 0f32;
            for (i, v) in x.iter_mut().enumerate() {
                y += 0.1 * (noise(rng) - y);
                *v = y * (0.6 + 0.4 * (2.0 * PI * fm * t(i)).sin());
            }
        }
        _ => {
            let mut sp = SpeakerParams::sample(rng);
            sp.f0 = if kind == 12 {
                uni(rng, 85.0, 150.0)
            } else {
                uni(rng, 170.0, 255.0)
            };
            sp.vtl = if kind == 12 {
                uni(rng, 0.85, 1.0)
            } else {
                uni(rng, 1.05, 1.2)
            };
            let se = SessionParams::sample(rng, (35.0, 45.0));
            let seed = rng.random::<u64>();
            x = synthesize(&sp, &se, n as f32 / sr, sample_rate, seed)?;
            x.resize(n, 0.0);
        }
    }
    let peak = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak > 0.0 {
        x.iter_mut().for_each(|v| *v *= 0.5 / peak);
    }
    Ok(x)
}
