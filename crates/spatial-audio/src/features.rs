//! Features of an FOA clip: the log-mel spectrogram of `W` (ember-core's
//! [`Fbank`](ember_core::audio::Fbank)) and mel-binned active and reactive intensity vectors,
//! plus the no-learning intensity-vector direction estimate.
//!
//! With the STFT `W, X, Y, Z` of the four channels (same framing as the filterbank: periodic
//! Hann, no centring), per time–frequency bin the active intensity is
//! `I_a = Re(W*·[X, Y, Z])`, the reactive `I_r = Im(W*·[X, Y, Z])`, the energy
//! `E = |W|² + (|X|² + |Y|² + |Z|²)/3`; per mel band `m`:
//! `I_m = Σ_k F[m,k]·I[k] / (Σ_k F[m,k]·E[k] + ε)` (the DCASE baseline's normalisation, mel
//! binned). With ACN/SN3D and this sign, `I_a` points **towards** the source.

use crate::foa;
use ember_core::audio::fbank::{Fbank, FbankConfig, mel_filters};
use ember_core::{Error, Result};
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Front-end settings (the filterbank's, shared by the intensity vectors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// STFT and mel settings.
    pub fbank: FbankConfig,
    /// Frequency band in Hz summed by the intensity-vector direction estimate.
    pub doa_band: (f32, f32),
}

impl Default for FeatureConfig {
    /// 16 kHz, 32 ms window, 10 ms hop, 32 mels 50–7600 Hz; direction from 100–4000 Hz.
    fn default() -> Self {
        FeatureConfig {
            fbank: FbankConfig {
                n_mels: 32,
                f_min: 50.0,
                ..FbankConfig::default()
            },
            doa_band: (100.0, 4000.0),
        }
    }
}

/// The features of one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipFeatures {
    /// Frames.
    pub n_frames: usize,
    /// Mel bands.
    pub n_mels: usize,
    /// Log-mel of `W`, `[n_frames, n_mels]` row-major.
    pub logmel: Vec<f32>,
    /// Intensity maps `[6, n_frames, n_mels]`: active `x, y, z`, then reactive `x, y, z`.
    pub intensity: Vec<f32>,
}

/// Precomputed window, mel filters and FFT plan.
#[derive(Clone)]
pub struct FeatureExtractor {
    cfg: FeatureConfig,
    fbank: Fbank,
    filters: Vec<Vec<f32>>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// Checks a 4-channel clip: four equal-length, finite channels.
pub fn check_foa(foa: &[Vec<f32>]) -> Result<usize> {
    if foa.len() != 4 {
        return Err(Error::Shape(format!(
            "FOA clip: expected 4 channels (W, Y, Z, X), got {}",
            foa.len()
        )));
    }
    let n = foa[0].len();
    if foa.iter().any(|c| c.len() != n) {
        return Err(Error::Shape("FOA clip: channels differ in length".into()));
    }
    if let Some(c) = foa.iter().position(|c| c.iter().any(|v| !v.is_finite())) {
        return Err(Error::NonFinite(format!(
            "FOA clip: channel {c} has a NaN or infinite sample"
        )));
    }
    Ok(n)
}

/// Per-frame complex spectra of the four channels: `(re, im)` per bin.
type Spectra = Vec<[Vec<realfft::num_complex::Complex<f32>>; 4]>;

impl FeatureExtractor {
    /// Builds the extractor (errors on an invalid filterbank configuration).
    pub fn new(cfg: FeatureConfig) -> Result<Self> {
        let fbank = Fbank::new(cfg.fbank.clone())?;
        let filters = mel_filters(&cfg.fbank)?;
        let n = cfg.fbank.n_fft;
        let window = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        Ok(FeatureExtractor {
            cfg,
            fbank,
            filters,
            window,
            fft,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Frames of a clip of `n_samples`.
    pub fn n_frames(&self, n_samples: usize) -> usize {
        self.fbank.n_frames(n_samples)
    }

    fn spectra(&self, foa: &[Vec<f32>]) -> Result<Spectra> {
        let n = check_foa(foa)?;
        let frames = self.n_frames(n);
        if frames == 0 {
            return Err(Error::InvalidInput(format!(
                "FOA clip: {n} samples is shorter than one {}-sample window",
                self.cfg.fbank.n_fft
            )));
        }
        let hop = self.cfg.fbank.hop;
        let nf = self.cfg.fbank.n_fft;
        let mut input = self.fft.make_input_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut out = Vec::with_capacity(frames);
        for t in 0..frames {
            let spec: [Vec<_>; 4] = std::array::from_fn(|c| {
                let frame = &foa[c][t * hop..t * hop + nf];
                for ((d, s), w) in input.iter_mut().zip(frame).zip(&self.window) {
                    *d = s * w;
                }
                let mut o = self.fft.make_output_vec();
                // Lengths come from the plan itself, so this cannot fail.
                let _ = self
                    .fft
                    .process_with_scratch(&mut input, &mut o, &mut scratch);
                o
            });
            out.push(spec);
        }
        Ok(out)
    }

    /// Log-mel of `W` and the mel-binned intensity maps (see the module docs).
    pub fn extract(&self, foa: &[Vec<f32>]) -> Result<ClipFeatures> {
        let spectra = self.spectra(foa)?;
        let logmel = self.fbank.compute(&foa[foa::W])?;
        let (t_n, m_n) = (spectra.len(), self.filters.len());
        let mut intensity = vec![0f32; 6 * t_n * m_n];
        let n_bins = self.cfg.fbank.n_fft / 2 + 1;
        let mut ia = vec![[0f32; 3]; n_bins];
        let mut ir = vec![[0f32; 3]; n_bins];
        let mut e = vec![0f32; n_bins];
        for (t, s) in spectra.iter().enumerate() {
            for k in 0..n_bins {
                let w = s[foa::W][k];
                let xyz = [s[foa::X][k], s[foa::Y][k], s[foa::Z][k]];
                for (d, v) in xyz.iter().enumerate() {
                    let p = w.conj() * v;
                    ia[k][d] = p.re;
                    ir[k][d] = p.im;
                }
                e[k] = w.norm_sqr() + xyz.iter().map(|v| v.norm_sqr()).sum::<f32>() / 3.0;
            }
            for (m, f) in self.filters.iter().enumerate() {
                let mut acc = [0f32; 6];
                let mut en = 0f32;
                for (k, g) in f.iter().enumerate() {
                    if *g == 0.0 {
                        continue;
                    }
                    for d in 0..3 {
                        acc[d] += g * ia[k][d];
                        acc[3 + d] += g * ir[k][d];
                    }
                    en += g * e[k];
                }
                for (c, a) in acc.iter().enumerate() {
                    intensity[(c * t_n + t) * m_n + m] = a / (en + 1e-8);
                }
            }
        }
        Ok(ClipFeatures {
            n_frames: t_n,
            n_mels: m_n,
            logmel: logmel.data,
            intensity,
        })
    }

    /// The no-learning direction estimate: the unit vector of `Σ_{t,k} Re(W*·[X, Y, Z])` over
    /// every frame and the bins of `doa_band` (an energy-weighted mean of the active
    /// intensity). `None` when the sum is zero (a mono clip).
    pub fn intensity_doa(&self, foa: &[Vec<f32>]) -> Result<Option<[f64; 3]>> {
        let spectra = self.spectra(foa)?;
        let hz = self.cfg.fbank.sample_rate as f32 / self.cfg.fbank.n_fft as f32;
        let (lo, hi) = self.cfg.doa_band;
        let mut acc = [0f64; 3];
        for s in &spectra {
            for (k, w) in s[foa::W].iter().enumerate() {
                let f = k as f32 * hz;
                if f < lo || f > hi {
                    continue;
                }
                let w = w.conj();
                acc[0] += (w * s[foa::X][k]).re as f64;
                acc[1] += (w * s[foa::Y][k]).re as f64;
                acc[2] += (w * s[foa::Z][k]).re as f64;
            }
        }
        let n = (acc[0] * acc[0] + acc[1] * acc[1] + acc[2] * acc[2]).sqrt();
        Ok((n > 0.0 && n.is_finite()).then(|| [acc[0] / n, acc[1] / n, acc[2] / n]))
    }
}
