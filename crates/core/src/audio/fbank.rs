//! Log-mel filterbank front end (Kaldi/librosa-style, HTK mel scale).
//!
//! For frame `i` (no centre padding): `x_i[n] = s[i·hop + n]·w[n]`, `n < n_fft`, with the
//! periodic Hann window `w[n] = 0.5 − 0.5·cos(2πn/n_fft)`; power spectrum
//! `P_i[k] = |Σ_n x_i[n] e^{−2πikn/n_fft}|²`, `k ≤ n_fft/2`; mel energies
//! `E_i[m] = Σ_k F[m, k]·P_i[k]`; output `log(max(E_i[m], floor))`.
//!
//! Mel scale (HTK): `mel(f) = 2595·log10(1 + f/700)`, `f(mel) = 700·(10^{mel/2595} − 1)`.
//! `n_mels + 2` points are spaced evenly in mel between `f_min` and `f_max`; filter `m` is the
//! triangle rising from point `m` to `m+1` and falling to `m+2`, evaluated at the FFT bin
//! frequencies `k·sr/n_fft`, peak 1 (no area normalisation) — librosa's
//! `filters.mel(htk=True, norm=None)`.

use crate::{Error, Result};
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Front-end configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FbankConfig {
    /// Sample rate of the input in Hz.
    pub sample_rate: u32,
    /// FFT size = window length in samples.
    pub n_fft: usize,
    /// Hop between frames in samples.
    pub hop: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lowest filter edge in Hz.
    pub f_min: f32,
    /// Highest filter edge in Hz (at most `sample_rate / 2`).
    pub f_max: f32,
    /// Floor applied to mel energies before the log.
    pub log_floor: f32,
}

impl Default for FbankConfig {
    /// 16 kHz, 32 ms Hann window (`n_fft = 512`), 10 ms hop, 40 mels from 20 Hz to 7.6 kHz.
    fn default() -> Self {
        FbankConfig {
            sample_rate: 16_000,
            n_fft: 512,
            hop: 160,
            n_mels: 40,
            f_min: 20.0,
            f_max: 7_600.0,
            log_floor: 1e-10,
        }
    }
}

impl FbankConfig {
    /// Check the configuration is usable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(format!("fbank config: {m}")));
        if self.sample_rate == 0 {
            return bad("sample_rate must be > 0".into());
        }
        if self.n_fft < 2 || self.hop == 0 || self.n_mels == 0 {
            return bad(format!(
                "need n_fft ≥ 2, hop ≥ 1, n_mels ≥ 1 (got {}, {}, {})",
                self.n_fft, self.hop, self.n_mels
            ));
        }
        let nyq = self.sample_rate as f32 / 2.0;
        if !(self.f_min >= 0.0 && self.f_min < self.f_max && self.f_max <= nyq) {
            return bad(format!(
                "need 0 ≤ f_min < f_max ≤ {nyq} (got {}, {})",
                self.f_min, self.f_max
            ));
        }
        if !(self.log_floor > 0.0 && self.log_floor.is_finite()) {
            return bad("log_floor must be finite and > 0".into());
        }
        Ok(())
    }
}

/// HTK mel scale `2595·log10(1 + f/700)`.
pub fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// The `[n_mels][n_fft/2 + 1]` triangular filter matrix `F` (see the module docs).
pub fn mel_filters(cfg: &FbankConfig) -> Result<Vec<Vec<f32>>> {
    cfg.validate()?;
    let n_bins = cfg.n_fft / 2 + 1;
    let (lo, hi) = (hz_to_mel(cfg.f_min as f64), hz_to_mel(cfg.f_max as f64));
    let pts: Vec<f64> = (0..cfg.n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (cfg.n_mels + 1) as f64))
        .collect();
    let bin_hz = |k: usize| k as f64 * cfg.sample_rate as f64 / cfg.n_fft as f64;
    Ok((0..cfg.n_mels)
        .map(|m| {
            let (l, c, r) = (pts[m], pts[m + 1], pts[m + 2]);
            (0..n_bins)
                .map(|k| {
                    let f = bin_hz(k);
                    let up = (f - l) / (c - l);
                    let down = (r - f) / (r - c);
                    up.min(down).max(0.0) as f32
                })
                .collect()
        })
        .collect())
}

/// A log-mel extractor with a precomputed window, filter matrix and FFT plan.
#[derive(Clone)]
pub struct Fbank {
    cfg: FbankConfig,
    window: Vec<f32>,
    filters: Vec<Vec<f32>>,
    /// First and one-past-last non-zero bin of each filter.
    spans: Vec<(usize, usize)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for Fbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fbank").field("cfg", &self.cfg).finish()
    }
}

/// Log-mel features of one utterance: `n_frames × n_mels`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Row-major values, frame after frame.
    pub data: Vec<f32>,
    /// Number of frames.
    pub n_frames: usize,
    /// Width of a frame.
    pub dim: usize,
}

impl Features {
    /// Frame `t`.
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * self.dim..(t + 1) * self.dim]
    }
}

impl Fbank {
    /// Build the extractor (errors on an invalid configuration).
    pub fn new(cfg: FbankConfig) -> Result<Self> {
        let filters = mel_filters(&cfg)?;
        let n = cfg.n_fft;
        let window = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        let spans = filters
            .iter()
            .map(|f| {
                let a = f.iter().position(|&v| v > 0.0).unwrap_or(0);
                let b = f.iter().rposition(|&v| v > 0.0).map_or(a, |i| i + 1);
                (a, b)
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        Ok(Fbank {
            cfg,
            window,
            filters,
            spans,
            fft,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FbankConfig {
        &self.cfg
    }

    /// Number of frames for `n_samples` samples (0 if shorter than one window).
    pub fn n_frames(&self, n_samples: usize) -> usize {
        if n_samples < self.cfg.n_fft {
            0
        } else {
            1 + (n_samples - self.cfg.n_fft) / self.cfg.hop
        }
    }

    /// Log-mel features of `samples`. Errors: shorter than one window, or a non-finite sample.
    pub fn compute(&self, samples: &[f32]) -> Result<Features> {
        let n_frames = self.n_frames(samples.len());
        if n_frames == 0 {
            return Err(Error::InvalidInput(format!(
                "fbank: {} samples is shorter than one {}-sample window",
                samples.len(),
                self.cfg.n_fft
            )));
        }
        if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "fbank: sample {i} is {}",
                samples[i]
            )));
        }
        let n = self.cfg.n_fft;
        let m = self.cfg.n_mels;
        let mut input = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; n / 2 + 1];
        let mut data = Vec::with_capacity(n_frames * m);
        for i in 0..n_frames {
            let frame = &samples[i * self.cfg.hop..i * self.cfg.hop + n];
            for ((dst, &s), &w) in input.iter_mut().zip(frame).zip(&self.window) {
                *dst = s * w;
            }
            self.fft
                .process_with_scratch(&mut input, &mut spec, &mut scratch)
                .map_err(|e| Error::InvalidInput(format!("fbank: FFT failed: {e}")))?;
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.re * c.re + c.im * c.im;
            }
            for (f, &(a, b)) in self.filters.iter().zip(&self.spans) {
                let e: f32 = f[a..b].iter().zip(&power[a..b]).map(|(x, y)| x * y).sum();
                data.push(e.max(self.cfg.log_floor).ln());
            }
        }
        Ok(Features {
            data,
            n_frames,
            dim: m,
        })
    }
}
