//! A seeded, pure-Rust source–filter (formant) speech synthesiser for speaker-verification
//! experiments without recorded speech.
//!
//! Source: a Rosenberg glottal pulse with per-speaker open quotient, one-pole spectral tilt
//! `y[n] = (1 − a)·x[n] + a·y[n−1]`, aspiration noise, jitter and shimmer, an f0 contour
//! `f0(t) = f0_spk·shift·2^{p(t)/12}·(1 + v_e·sin 2π v_r t)` with per-syllable pitch targets
//! `p` inside the speaker's range. Filter: a cascade of four Klatt resonators
//! `y[n] = A·x[n] + B·y[n−1] + C·y[n−2]`, `C = −e^{−2πBT}`, `B = 2e^{−πBT}cos 2πFT`,
//! `A = 1 − B − C`, with formants `F_i = α·F_i^{phone}·(1 + δ_{phone,i})` (α: vocal-tract
//! length factor, δ: the speaker's private ±5 % per-vowel offsets) moving towards each phone's
//! targets with a per-speaker time constant; fricatives and bursts are noise through one
//! resonator. Text is random CV/CVC syllables (text-independent), with a per-speaker
//! stressed/unstressed duration rhythm and speaking rate — dynamic cues only frame-level
//! models can see. Sessions add a random FIR tilt, one peaking EQ, additive white noise at a
//! random SNR, and small f0 and rate shifts.

use crate::{Error, Result};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::f32::consts::PI;

/// Peterson–Barney-like adult-male vowel formants (F1, F2, F3) in Hz.
pub const VOWELS: [[f32; 3]; 9] = [
    [270.0, 2290.0, 3010.0], // i
    [390.0, 1990.0, 2550.0], // ɪ
    [530.0, 1840.0, 2480.0], // ɛ
    [660.0, 1720.0, 2410.0], // æ
    [730.0, 1090.0, 2440.0], // ɑ
    [570.0, 840.0, 2410.0],  // ɔ
    [440.0, 1020.0, 2240.0], // ʊ
    [300.0, 870.0, 2240.0],  // u
    [640.0, 1190.0, 2390.0], // ʌ
];

/// Who is speaking: fixed per speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerParams {
    /// Mean f0 in Hz (85–255).
    pub f0: f32,
    /// Pitch range in semitones.
    pub f0_range_st: f32,
    /// Vocal-tract-length factor α multiplying every formant (0.85–1.2).
    pub vtl: f32,
    /// Glottal open quotient.
    pub open_quotient: f32,
    /// One-pole spectral tilt coefficient `a`.
    pub tilt: f32,
    /// Aspiration (breathiness) level relative to the pulse.
    pub breath: f32,
    /// Relative period jitter (std).
    pub jitter: f32,
    /// Relative amplitude shimmer (std).
    pub shimmer: f32,
    /// Formant bandwidth scale.
    pub bw_scale: f32,
    /// Speaking-rate factor (> 1 is faster).
    pub rate: f32,
    /// Stressed/unstressed duration contrast.
    pub rhythm: f32,
    /// Formant transition time constant in seconds.
    pub transition_s: f32,
    /// Vibrato rate (Hz) and relative extent.
    pub vibrato: (f32, f32),
    /// Private per-vowel relative formant offsets δ (±5 %).
    pub vowel_offsets: Vec<[f32; 3]>,
}

fn uni(rng: &mut impl Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

impl SpeakerParams {
    /// Draw a speaker.
    pub fn sample(rng: &mut impl Rng) -> Self {
        SpeakerParams {
            f0: 85.0 * (255.0f32 / 85.0).powf(rng.random::<f32>()),
            f0_range_st: uni(rng, 1.0, 6.0),
            vtl: uni(rng, 0.85, 1.2),
            open_quotient: uni(rng, 0.4, 0.8),
            tilt: uni(rng, 0.0, 0.8),
            breath: uni(rng, 0.0, 0.3),
            jitter: uni(rng, 0.0, 0.03),
            shimmer: uni(rng, 0.0, 0.15),
            bw_scale: uni(rng, 0.7, 1.6),
            rate: uni(rng, 0.75, 1.35),
            rhythm: uni(rng, 0.0, 0.5),
            transition_s: uni(rng, 0.006, 0.03),
            vibrato: (uni(rng, 3.0, 7.0), uni(rng, 0.0, 0.03)),
            vowel_offsets: (0..VOWELS.len())
                .map(|_| [0; 3].map(|_| uni(rng, -0.05, 0.05)))
                .collect(),
        }
    }
}

/// The recording session: channel and noise, fixed per utterance here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionParams {
    /// FIR taps of the channel.
    pub fir: Vec<f32>,
    /// Peaking EQ: centre Hz, gain dB, Q.
    pub peak: (f32, f32, f32),
    /// Signal-to-noise ratio in dB.
    pub snr_db: f32,
    /// Global f0 multiplier.
    pub f0_shift: f32,
    /// Global rate multiplier.
    pub rate_shift: f32,
}

impl SessionParams {
    /// Draw a session with an SNR uniform in `snr_db`.
    pub fn sample(rng: &mut impl Rng, snr_db: (f32, f32)) -> Self {
        let n = 4 + (rng.random::<u32>() % 5) as usize;
        let mut fir: Vec<f32> = (0..n)
            .map(|i| {
                if i == 0 {
                    1.0
                } else {
                    uni(rng, -0.4, 0.4) / i as f32
                }
            })
            .collect();
        let norm = fir.iter().map(|v| v.abs()).sum::<f32>();
        fir.iter_mut().for_each(|v| *v /= norm);
        SessionParams {
            fir,
            peak: (
                300.0 * 10f32.powf(rng.random::<f32>()),
                uni(rng, -9.0, 9.0),
                uni(rng, 0.7, 2.5),
            ),
            snr_db: uni(rng, snr_db.0, snr_db.1),
            f0_shift: uni(rng, 0.95, 1.05),
            rate_shift: uni(rng, 0.93, 1.07),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Seg {
    /// Voiced with formant targets (Hz) and amplitude; `nasal` widens B1.
    Voiced { f: [f32; 3], amp: f32, nasal: bool },
    /// Voiceless noise through one resonator (centre, bandwidth, amp).
    Noise { centre: f32, bw: f32, amp: f32 },
    /// Silence (plosive closure).
    Closure,
}

/// A segment with duration (s) and pitch target (semitones) for voiced parts.
#[derive(Debug, Clone, Copy)]
struct Planned {
    seg: Seg,
    dur: f32,
    pitch: f32,
}

fn consonant(rng: &mut impl Rng) -> Vec<(Seg, f32)> {
    match rng.random::<u32>() % 10 {
        0 => vec![(
            Seg::Voiced {
                f: [250.0, 1000.0, 2200.0],
                amp: 0.35,
                nasal: true,
            },
            0.06,
        )],
        1 => vec![(
            Seg::Voiced {
                f: [250.0, 1500.0, 2500.0],
                amp: 0.35,
                nasal: true,
            },
            0.06,
        )],
        2 => vec![(
            Seg::Voiced {
                f: [360.0, 1300.0, 2600.0],
                amp: 0.6,
                nasal: false,
            },
            0.05,
        )],
        3 => vec![(
            Seg::Voiced {
                f: [300.0, 700.0, 2200.0],
                amp: 0.6,
                nasal: false,
            },
            0.05,
        )],
        4 => vec![(
            Seg::Noise {
                centre: 5000.0,
                bw: 1500.0,
                amp: 0.25,
            },
            0.09,
        )],
        5 => vec![(
            Seg::Noise {
                centre: 2800.0,
                bw: 800.0,
                amp: 0.3,
            },
            0.09,
        )],
        6 => vec![(
            Seg::Noise {
                centre: 3500.0,
                bw: 3000.0,
                amp: 0.1,
            },
            0.08,
        )],
        k => {
            let centre = [800.0, 3500.0, 1800.0][(k - 7) as usize];
            vec![
                (Seg::Closure, 0.05),
                (
                    Seg::Noise {
                        centre,
                        bw: 1000.0,
                        amp: 0.5,
                    },
                    0.015,
                ),
            ]
        }
    }
}

/// The 2nd-order resonator.
#[derive(Debug, Clone, Copy, Default)]
struct Reson {
    a: f32,
    b: f32,
    c: f32,
    y1: f32,
    y2: f32,
}

impl Reson {
    fn set(&mut self, f: f32, bw: f32, sr: f32) {
        let t = 1.0 / sr;
        let f = f.min(0.45 * sr);
        self.c = -(-2.0 * PI * bw * t).exp();
        self.b = 2.0 * (-PI * bw * t).exp() * (2.0 * PI * f * t).cos();
        self.a = 1.0 - self.b - self.c;
    }
    fn tick(&mut self, x: f32) -> f32 {
        let y = self.a * x + self.b * self.y1 + self.c * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Synthesise `duration_s` seconds of speech at `sample_rate` Hz, deterministic in `seed`.
///
/// Errors: a duration or sample rate that gives fewer than 1,000 samples, or a rate below
/// 8 kHz (the fricatives need the bandwidth).
pub fn synthesize(
    speaker: &SpeakerParams,
    session: &SessionParams,
    duration_s: f32,
    sample_rate: u32,
    seed: u64,
) -> Result<Vec<f32>> {
    if sample_rate < 8000 {
        return Err(Error::InvalidInput(format!(
            "synth: sample rate {sample_rate} Hz is below 8 kHz"
        )));
    }
    let sr = sample_rate as f32;
    let n_total = (duration_s * sr) as usize;
    if !(duration_s.is_finite() && n_total >= 1000) {
        return Err(Error::InvalidInput(format!(
            "synth: duration {duration_s} s gives fewer than 1000 samples"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rate = speaker.rate * session.rate_shift;
    // Plan syllables until the duration is covered.
    let mut plan: Vec<Planned> = vec![Planned {
        seg: Seg::Closure,
        dur: 0.08,
        pitch: 0.0,
    }];
    let mut total = 0.08;
    let mut syl = 0usize;
    while total < duration_s {
        let stress = if syl.is_multiple_of(2) {
            1.0 + speaker.rhythm
        } else {
            1.0 - 0.5 * speaker.rhythm
        };
        let pitch = uni(&mut rng, -0.5, 0.5) * speaker.f0_range_st
            + if syl.is_multiple_of(2) {
                0.3 * speaker.f0_range_st
            } else {
                0.0
            }
            - speaker.f0_range_st * total / duration_s.max(1e-3) * 0.5;
        let mut segs = consonant(&mut rng);
        let v = (rng.random::<u32>() as usize) % VOWELS.len();
        let off = speaker.vowel_offsets[v];
        let f = [0, 1, 2].map(|i| VOWELS[v][i] * (1.0 + off[i]));
        segs.push((
            Seg::Voiced {
                f,
                amp: 1.0,
                nasal: false,
            },
            0.12 * stress,
        ));
        if rng.random::<f32>() < 0.3 {
            segs.extend(consonant(&mut rng));
        }
        for (seg, d) in segs {
            let dur = d / rate;
            plan.push(Planned { seg, dur, pitch });
            total += dur;
        }
        syl += 1;
    }

    let bws = [60.0, 90.0, 150.0, 200.0].map(|b| b * speaker.bw_scale);
    let mut res = [Reson::default(); 4];
    let mut fric = Reson::default();
    let mut cur_f = [500.0, 1500.0, 2500.0, 3300.0].map(|f| f * speaker.vtl);
    let mut cur_voice = 0.0f32;
    let mut cur_noise = 0.0f32;
    let mut cur_pitch = 0.0f32;
    let smooth = 1.0 - (-32.0 / (speaker.transition_s * sr)).exp();
    let mut out = Vec::with_capacity(n_total);
    let (mut phase, mut period_mult, mut amp_mult) = (0.0f32, 1.0f32, 1.0f32);
    let (mut prev_flow, mut tilt_y) = (0.0f32, 0.0f32);
    let oq = speaker.open_quotient;
    let mut seg_i = 0usize;
    let mut seg_end = plan[0].dur;
    let mut n = 0usize;
    while n < n_total {
        let t = n as f32 / sr;
        while t >= seg_end && seg_i + 1 < plan.len() {
            seg_i += 1;
            seg_end += plan[seg_i].dur;
        }
        let p = plan[seg_i];
        // Block-rate parameter update (32 samples).
        let (tf, tv, tn, nasal, ncent, nbw) = match p.seg {
            Seg::Voiced { f, amp, nasal } => (Some(f), amp, 0.0, nasal, 0.0, 0.0),
            Seg::Noise { centre, bw, amp } => (None, 0.0, amp, false, centre, bw),
            Seg::Closure => (None, 0.0, 0.0, false, 0.0, 0.0),
        };
        if let Some(f) = tf {
            for i in 0..3 {
                cur_f[i] += smooth * (f[i] * speaker.vtl - cur_f[i]);
            }
        }
        cur_voice += smooth * (tv - cur_voice);
        cur_noise += 0.5 * (tn - cur_noise);
        cur_pitch += smooth * 0.5 * (p.pitch - cur_pitch);
        for i in 0..4 {
            let bw = if i == 0 && nasal {
                bws[0] * 2.5
            } else {
                bws[i]
            };
            res[i].set(cur_f[i], bw, sr);
        }
        if tn > 0.0 {
            fric.set(ncent.min(0.45 * sr), nbw, sr);
        }
        for _ in 0..32 {
            if n >= n_total {
                break;
            }
            let t = n as f32 / sr;
            let f0 = speaker.f0
                * session.f0_shift
                * 2f32.powf(cur_pitch / 12.0)
                * (1.0 + speaker.vibrato.1 * (2.0 * PI * speaker.vibrato.0 * t).sin());
            phase += f0 / sr / period_mult;
            if phase >= 1.0 {
                phase -= 1.0;
                period_mult = 1.0 + speaker.jitter * (rng.random::<f32>() - 0.5) * 3.46;
                amp_mult = 1.0 + speaker.shimmer * (rng.random::<f32>() - 0.5) * 3.46;
            }
            let open = 0.6 * oq;
            let flow = if phase < open {
                0.5 * (1.0 - (PI * phase / open).cos())
            } else if phase < oq {
                (0.5 * PI * (phase - open) / (oq - open)).cos()
            } else {
                0.0
            };
            let dflow = (flow - prev_flow) * sr / f0.max(1.0) * 0.1;
            prev_flow = flow;
            tilt_y = (1.0 - speaker.tilt) * dflow + speaker.tilt * tilt_y;
            let white = rng.random::<f32>() - 0.5;
            let asp = speaker.breath * white * if flow > 0.0 { 1.0 } else { 0.3 };
            let mut v = cur_voice * amp_mult * (tilt_y + asp);
            for r in res.iter_mut() {
                v = r.tick(v);
            }
            let nz = fric.tick(cur_noise * (rng.random::<f32>() - 0.5) * 4.0);
            out.push(v + nz);
            n += 1;
        }
    }
    Ok(apply_session(out, session, sr, &mut rng))
}

/// Channel (FIR, then a peaking biquad), RMS normalisation to 0.1, and white noise at the
/// session's SNR.
fn apply_session(x: Vec<f32>, s: &SessionParams, sr: f32, rng: &mut impl Rng) -> Vec<f32> {
    let mut y: Vec<f32> = (0..x.len())
        .map(|n| {
            s.fir
                .iter()
                .enumerate()
                .filter(|(k, _)| *k <= n)
                .map(|(k, h)| h * x[n - k])
                .sum()
        })
        .collect();
    // RBJ peaking EQ.
    let (f, g, q) = s.peak;
    let a = 10f32.powf(g / 40.0);
    let w = 2.0 * PI * f.min(0.45 * sr) / sr;
    let alpha = w.sin() / (2.0 * q);
    let (b0, b1, b2) = (1.0 + alpha * a, -2.0 * w.cos(), 1.0 - alpha * a);
    let (a0, a1, a2) = (1.0 + alpha / a, -2.0 * w.cos(), 1.0 - alpha / a);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for v in y.iter_mut() {
        let x0 = *v;
        let y0 = (b0 * x0 + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
        x2 = x1;
        x1 = x0;
        y2 = y1;
        y1 = y0;
        *v = y0;
    }
    let rms = (y.iter().map(|v| v * v).sum::<f32>() / y.len() as f32)
        .sqrt()
        .max(1e-9);
    let noise_rms = 0.1 * 10f32.powf(-s.snr_db / 20.0);
    for v in y.iter_mut() {
        *v = *v / rms * 0.1 + noise_rms * (rng.random::<f32>() - 0.5) * 3.46;
    }
    y
}

/// A labelled synthetic corpus: `utterances[i]` belongs to speaker `speakers[i]`.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Waveforms.
    pub audio: Vec<Vec<f32>>,
    /// Speaker index of each utterance.
    pub speakers: Vec<usize>,
    /// Number of distinct speakers.
    pub n_speakers: usize,
}

/// Corpus generation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusConfig {
    /// Number of speakers.
    pub speakers: usize,
    /// Utterances per speaker (each its own session).
    pub utts_per_speaker: usize,
    /// Utterance duration range in seconds.
    pub duration_s: (f32, f32),
    /// SNR range in dB.
    pub snr_db: (f32, f32),
    /// Sample rate.
    pub sample_rate: u32,
    /// Seed; different seeds give disjoint speakers (in distribution).
    pub seed: u64,
}

/// Generate a corpus (speakers and sessions drawn from `cfg.seed`; in parallel).
pub fn generate_corpus(cfg: &CorpusConfig) -> Result<Corpus> {
    use rayon::prelude::*;
    if cfg.speakers == 0 || cfg.utts_per_speaker == 0 {
        return Err(Error::InvalidInput(
            "corpus: need ≥ 1 speaker and utterance".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut jobs = Vec::new();
    for s in 0..cfg.speakers {
        let sp = SpeakerParams::sample(&mut rng);
        for _ in 0..cfg.utts_per_speaker {
            let sess = SessionParams::sample(&mut rng, cfg.snr_db);
            let dur = uni(&mut rng, cfg.duration_s.0, cfg.duration_s.1);
            jobs.push((s, sp.clone(), sess, dur, rng.random::<u64>()));
        }
    }
    let audio = jobs
        .par_iter()
        .map(|(_, sp, sess, dur, seed)| synthesize(sp, sess, *dur, cfg.sample_rate, *seed))
        .collect::<Result<Vec<_>>>()?;
    Ok(Corpus {
        audio,
        speakers: jobs.iter().map(|j| j.0).collect(),
        n_speakers: cfg.speakers,
    })
}
