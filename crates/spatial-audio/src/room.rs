//! Shoebox room acoustics: the image-source method (Allen & Berkley 1979) with per-wall
//! absorption, fractional delays and a maximum reflection order, plus a stochastic late tail
//! matched to a target T60, and first-order ambisonics (FOA) rendering of every arrival.
//!
//! Image `(i, j, k)` of source `s` in a room `L = (L_x, L_y, L_z)` sits at
//! `x_i = i·L_x + s_x` for even `i` and `i·L_x + L_x − s_x` for odd `i` (likewise `y`, `z`);
//! it has met the walls `|i| + |j| + |k|` times, `⌈|i|/2⌉` times the wall it first crosses and
//! `⌊|i|/2⌋` the opposite one, and arrives with gain `Π_w β_w^{n_w} / r` after `r / c`
//! seconds, where `β_w = √(1 − α_w)` is the pressure reflection coefficient of wall `w` with
//! energy absorption `α_w`. Every image with `|i| + |j| + |k| ≤ N` is used:
//! `(2N+1)(2N²+2N+3)/3` images. The gain convention (`1/r`, direct path at 1 m has gain 1) and
//! the fractional delay (an 81-tap Hann-windowed sinc, the whole RIR delayed by 40 samples)
//! are pyroomacoustics' (0.10), so RIRs compare sample by sample.

use crate::foa;
use ember_core::{Error, Result};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Speed of sound in m/s (pyroomacoustics' default).
pub const SPEED_OF_SOUND: f64 = 343.0;

/// A shoebox room with one energy-absorption coefficient per wall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shoebox {
    /// Size `(L_x, L_y, L_z)` in metres; the room spans `[0, L_x] × [0, L_y] × [0, L_z]`.
    pub dims: [f64; 3],
    /// Energy absorption `α` per wall in the order `x = 0, x = L_x, y = 0, y = L_y, z = 0
    /// (floor), z = L_z (ceiling)` (pyroomacoustics' west, east, south, north, floor, ceiling).
    pub absorption: [f64; 6],
}

impl Shoebox {
    /// A room with the same absorption on every wall.
    pub fn uniform(dims: [f64; 3], absorption: f64) -> Self {
        Shoebox {
            dims,
            absorption: [absorption; 6],
        }
    }

    /// Checks the size (positive, finite) and every absorption (in `[0, 1]`).
    pub fn validate(&self) -> Result<()> {
        if !self.dims.iter().all(|d| d.is_finite() && *d > 0.0) {
            return Err(Error::InvalidInput(format!(
                "room: every dimension must be positive and finite, got {:?}",
                self.dims
            )));
        }
        if !self.absorption.iter().all(|a| (0.0..=1.0).contains(a)) {
            return Err(Error::InvalidInput(format!(
                "room: every wall absorption must be in [0, 1], got {:?}",
                self.absorption
            )));
        }
        Ok(())
    }

    /// Volume in m³.
    pub fn volume(&self) -> f64 {
        self.dims.iter().product()
    }

    /// Floor area `L_x·L_y` in m².
    pub fn floor_area(&self) -> f64 {
        self.dims[0] * self.dims[1]
    }

    /// Total wall surface in m².
    pub fn surface(&self) -> f64 {
        let [x, y, z] = self.dims;
        2.0 * (x * y + x * z + y * z)
    }

    /// Sabine's reverberation time `T60 = 24 ln10 · V / (c · Σ_w S_w α_w)` in seconds.
    pub fn sabine_t60(&self) -> f64 {
        let [x, y, z] = self.dims;
        let areas = [y * z, y * z, x * z, x * z, x * y, x * y];
        let a: f64 = areas.iter().zip(&self.absorption).map(|(s, a)| s * a).sum();
        24.0 * std::f64::consts::LN_10 * self.volume() / (SPEED_OF_SOUND * a.max(1e-12))
    }

    /// Whether `p` is inside the room (walls included).
    pub fn contains(&self, p: [f64; 3]) -> bool {
        p.iter()
            .zip(&self.dims)
            .all(|(v, d)| v.is_finite() && *v >= 0.0 && v <= d)
    }
}

/// pyroomacoustics' `inverse_sabine`: the uniform energy absorption
/// `α = 24 ln10 · V / (c · S · T60)` that gives `t60` by Sabine's formula, and the image
/// order `⌈c·T60 / R − 1⌉` with `R = L₁L₂/√(L₁² + L₂²)` of the two smallest dimensions that
/// reaches `t60`. Errors if `α > 1` (the room cannot be that dry).
pub fn inverse_sabine(t60: f64, dims: [f64; 3]) -> Result<(f64, usize)> {
    if !(t60.is_finite() && t60 > 0.0) {
        return Err(Error::InvalidInput(format!(
            "inverse_sabine: T60 must be positive, got {t60}"
        )));
    }
    let room = Shoebox::uniform(dims, 0.0);
    room.validate()?;
    let alpha =
        24.0 * std::f64::consts::LN_10 * room.volume() / (SPEED_OF_SOUND * room.surface() * t60);
    if alpha > 1.0 {
        return Err(Error::InvalidInput(format!(
            "inverse_sabine: T60 {t60} s is too short for a {dims:?} m room (α = {alpha:.2} > 1)"
        )));
    }
    let mut d = dims;
    d.sort_by(f64::total_cmp);
    let r = d[0] * d[1] / (d[0] * d[0] + d[1] * d[1]).sqrt();
    Ok((
        alpha,
        (SPEED_OF_SOUND * t60 / r - 1.0).ceil().max(0.0) as usize,
    ))
}

/// Number of images with `|i| + |j| + |k| ≤ order`: `(2N+1)(2N²+2N+3)/3`.
pub fn image_count(order: usize) -> usize {
    let n = order;
    (2 * n + 1) * (2 * n * n + 2 * n + 3) / 3
}

/// One image source: where it is and its amplitude factor `Π β^n` (before the `1/r`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Image {
    /// Position in metres.
    pub position: [f64; 3],
    /// Product of the reflection coefficients met on the way.
    pub damping: f64,
    /// Reflection order `|i| + |j| + |k|`.
    pub order: usize,
}

/// Every image of `source` up to reflection order `order` (the direct path first).
pub fn images(room: &Shoebox, source: [f64; 3], order: usize) -> Result<Vec<Image>> {
    room.validate()?;
    if !room.contains(source) {
        return Err(Error::InvalidInput(format!(
            "source {source:?} is outside the {:?} m room",
            room.dims
        )));
    }
    let beta: Vec<f64> = room.absorption.iter().map(|a| (1.0 - a).sqrt()).collect();
    let n = order as i64;
    // Per axis: (coordinate, damping) for every index in -N..=N.
    let axis = |ax: usize| -> Vec<(f64, f64)> {
        let (l, s) = (room.dims[ax], source[ax]);
        let (b_lo, b_hi) = (beta[2 * ax], beta[2 * ax + 1]);
        (-n..=n)
            .map(|i| {
                let pos = if i % 2 == 0 {
                    i as f64 * l + s
                } else {
                    i as f64 * l + l - s
                };
                let m = i.unsigned_abs();
                let (first, second) = (m.div_ceil(2) as i32, (m / 2) as i32);
                let d = if i > 0 {
                    b_hi.powi(first) * b_lo.powi(second)
                } else {
                    b_lo.powi(first) * b_hi.powi(second)
                };
                (pos, d)
            })
            .collect()
    };
    let (ax, ay, az) = (axis(0), axis(1), axis(2));
    let mut out = Vec::with_capacity(image_count(order));
    out.push(Image {
        position: source,
        damping: 1.0,
        order: 0,
    });
    for i in -n..=n {
        let ri = n - i.abs();
        for j in -ri..=ri {
            let rj = ri - j.abs();
            for k in -rj..=rj {
                if i == 0 && j == 0 && k == 0 {
                    continue;
                }
                let (x, y, z) = (
                    ax[(i + n) as usize],
                    ay[(j + n) as usize],
                    az[(k + n) as usize],
                );
                out.push(Image {
                    position: [x.0, y.0, z.0],
                    damping: x.1 * y.1 * z.1,
                    order: (i.abs() + j.abs() + k.abs()) as usize,
                });
            }
        }
    }
    Ok(out)
}

/// How arrivals are placed on the sample grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Sample rate in Hz.
    pub sample_rate: f64,
    /// Maximum reflection order `N` of the image sources.
    pub max_order: usize,
    /// Length of the Hann-windowed sinc fractional-delay filter (odd; pyroomacoustics: 81).
    /// The RIR is delayed by `frac_delay_taps / 2` samples, as in pyroomacoustics.
    pub frac_delay_taps: usize,
}

impl Default for SimConfig {
    /// 16 kHz, order 8, 81 taps.
    fn default() -> Self {
        SimConfig {
            sample_rate: 16_000.0,
            max_order: 8,
            frac_delay_taps: 81,
        }
    }
}

impl SimConfig {
    /// Checks the rate (positive) and the filter length (odd, at least 1).
    pub fn validate(&self) -> Result<()> {
        if !(self.sample_rate.is_finite() && self.sample_rate > 0.0) {
            return Err(Error::InvalidInput(format!(
                "simulator: sample_rate must be positive, got {}",
                self.sample_rate
            )));
        }
        if self.frac_delay_taps.is_multiple_of(2) {
            return Err(Error::InvalidInput(format!(
                "simulator: frac_delay_taps must be odd, got {}",
                self.frac_delay_taps
            )));
        }
        Ok(())
    }

    /// Samples by which every arrival is delayed (`frac_delay_taps / 2`).
    pub fn latency(&self) -> usize {
        self.frac_delay_taps / 2
    }
}

/// The fixed Hann window of the fractional-delay filter (`numpy.hanning(taps)`).
fn hann(taps: usize) -> Vec<f64> {
    if taps == 1 {
        return vec![1.0];
    }
    (0..taps)
        .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / (taps - 1) as f64).cos())
        .collect()
}

/// Adds `gains[ch] · h(t)` to every channel, `h` the windowed sinc centred `t` samples after
/// the start (plus the latency); `sin π(k − f) = −(−1)^k sin πf` leaves one `sin` per arrival.
fn splat(out: &mut [Vec<f32>], t: f64, gains: &[f64], window: &[f64]) {
    let half = window.len() / 2;
    let ti = t.floor();
    let f = t - ti;
    let base = ti as usize; // first tap lands at base (index = ti + latency - half)
    let sf = (std::f64::consts::PI * f).sin();
    let len = out[0].len();
    for (n, w) in window.iter().enumerate() {
        let idx = base + n;
        if idx >= len {
            break;
        }
        let x = n as f64 - half as f64 - f; // sinc argument
        let s = if x.abs() < 1e-9 {
            1.0
        } else {
            let k = n as i64 - half as i64;
            let sign = if k % 2 == 0 { -1.0 } else { 1.0 };
            sign * sf / (std::f64::consts::PI * x)
        };
        let v = w * s;
        for (ch, g) in out.iter_mut().zip(gains) {
            ch[idx] += (g * v) as f32;
        }
    }
}

/// An impulse response with one or more channels (FOA: `W, Y, Z, X`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rir {
    /// Samples per channel.
    pub channels: Vec<Vec<f32>>,
    /// Sample rate in Hz.
    pub sample_rate: f64,
    /// Samples before time zero (the fractional-delay filter's half length).
    pub latency: usize,
}

fn check_points(room: &Shoebox, source: [f64; 3], mic: [f64; 3]) -> Result<f64> {
    if !room.contains(mic) {
        return Err(Error::InvalidInput(format!(
            "microphone {mic:?} is outside the {:?} m room",
            room.dims
        )));
    }
    let d = dist(source, mic);
    if d < 1e-3 {
        return Err(Error::InvalidInput(format!(
            "source and microphone coincide ({source:?})"
        )));
    }
    Ok(d)
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Arrivals `(delay in samples, per-channel gains)` of every image at `mic`.
fn arrivals(
    imgs: &[Image],
    mic: [f64; 3],
    cfg: &SimConfig,
    foa_gains: bool,
) -> Vec<(f64, [f64; 4])> {
    imgs.iter()
        .map(|im| {
            let v = [
                im.position[0] - mic[0],
                im.position[1] - mic[1],
                im.position[2] - mic[2],
            ];
            let r = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-9);
            let a = im.damping / r;
            let g = if foa_gains {
                let e = foa::encode_vector([v[0] / r, v[1] / r, v[2] / r]);
                [a * e[0], a * e[1], a * e[2], a * e[3]]
            } else {
                [a, 0.0, 0.0, 0.0]
            };
            (r / SPEED_OF_SOUND * cfg.sample_rate, g)
        })
        .collect()
}

/// The image-source RIR of an omnidirectional microphone (one channel), pyroomacoustics'
/// length `⌈t_max·fs + taps/2 + 1⌉ + 1`.
pub fn omni_rir(room: &Shoebox, source: [f64; 3], mic: [f64; 3], cfg: &SimConfig) -> Result<Rir> {
    cfg.validate()?;
    let imgs = images(room, source, cfg.max_order)?;
    check_points(room, source, mic)?;
    let arr = arrivals(&imgs, mic, cfg, false);
    Ok(render(&arr, 1, None, cfg))
}

/// [`omni_rir`] for several microphones (the images are computed once).
pub fn omni_rirs(
    room: &Shoebox,
    source: [f64; 3],
    mics: &[[f64; 3]],
    cfg: &SimConfig,
) -> Result<Vec<Rir>> {
    cfg.validate()?;
    let imgs = images(room, source, cfg.max_order)?;
    mics.iter()
        .map(|&m| {
            check_points(room, source, m)?;
            Ok(render(&arrivals(&imgs, m, cfg, false), 1, None, cfg))
        })
        .collect()
}

fn render(arr: &[(f64, [f64; 4])], n_ch: usize, len: Option<usize>, cfg: &SimConfig) -> Rir {
    let half = cfg.latency() as f64;
    let t_max = arr.iter().map(|a| a.0).fold(0.0, f64::max) + half;
    let len = len.unwrap_or((t_max + half + 1.0).ceil() as usize + 1);
    let window = hann(cfg.frac_delay_taps);
    let mut out = vec![vec![0f32; len]; n_ch];
    for (t, g) in arr {
        // The first tap of the filter sits at floor(t) (t already counts from the RIR start
        // minus the latency, and the filter is centred `half` taps in).
        if *t < len as f64 {
            splat(&mut out, *t, &g[..n_ch], &window);
        }
    }
    Rir {
        channels: out,
        sample_rate: cfg.sample_rate,
        latency: cfg.latency(),
    }
}

/// A reverberant FOA room impulse response: exact images up to `mixing_time`, then a
/// stochastic diffuse tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailConfig {
    /// Target reverberation time of the tail in seconds (energy falls 60 dB in `t60`).
    pub t60: f64,
    /// Where the image sources stop and the tail starts, in seconds after emission; `None`:
    /// the time up to which order `N` holds every image, `N·min(L)/(√3·c)`.
    pub mixing_time: Option<f64>,
    /// Length of the RIR in seconds.
    pub length: f64,
    /// Raised-cosine fade-in of the tail in seconds.
    pub fade: f64,
}

impl TailConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if !(ok(self.t60) && ok(self.length) && self.fade.is_finite() && self.fade >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "tail: t60 and length must be positive and fade ≥ 0, got {self:?}"
            )));
        }
        if let Some(m) = self.mixing_time
            && !ok(m)
        {
            return Err(Error::InvalidInput(format!(
                "tail: mixing_time must be positive, got {m}"
            )));
        }
        Ok(())
    }
}

/// FOA RIR (`W, Y, Z, X`, ACN/SN3D, see [`foa`]) of `source` at `mic`: image sources up to
/// the mixing time, then independent Gaussian noise per channel with standard deviation
/// `√(4π c / (V f_s)) · e^{−6.91 t / T60}` in `W` (the expected image density times the `1/r²`
/// energy of each image: the image field's own level) and `1/√3` of that in `X, Y, Z` (an
/// isotropic diffuse field in SN3D).
pub fn foa_rir(
    room: &Shoebox,
    source: [f64; 3],
    mic: [f64; 3],
    cfg: &SimConfig,
    tail: Option<&TailConfig>,
    rng: &mut impl Rng,
) -> Result<Rir> {
    cfg.validate()?;
    let imgs = images(room, source, cfg.max_order)?;
    check_points(room, source, mic)?;
    let mut arr = arrivals(&imgs, mic, cfg, true);
    let Some(tail) = tail else {
        return Ok(render(&arr, 4, None, cfg));
    };
    tail.validate()?;
    let fs = cfg.sample_rate;
    let min_dim = room.dims.iter().copied().fold(f64::INFINITY, f64::min);
    let direct = dist(source, mic) / SPEED_OF_SOUND;
    let t_mix = tail
        .mixing_time
        .unwrap_or(cfg.max_order as f64 * min_dim / (3f64.sqrt() * SPEED_OF_SOUND))
        .max(direct + 0.002);
    arr.retain(|a| a.0 < t_mix * fs);
    let len = (tail.length * fs).ceil() as usize;
    let mut rir = render(&arr, 4, Some(len), cfg);
    let level = (4.0 * std::f64::consts::PI * SPEED_OF_SOUND / (room.volume() * fs)).sqrt();
    let start = (t_mix * fs) as usize + cfg.latency();
    let fade = (tail.fade * fs).max(1.0);
    for n in start..len {
        let t = (n - cfg.latency()) as f64 / fs;
        let f = ((n - start) as f64 / fade).min(1.0);
        let ramp = 0.5 - 0.5 * (std::f64::consts::PI * f).cos();
        let a = level * (-6.907_755 * t / tail.t60).exp() * ramp;
        for (c, ch) in rir.channels.iter_mut().enumerate() {
            let s = if c == 0 { a } else { a / 3f64.sqrt() };
            let z: f64 = StandardNormal.sample(rng);
            ch[n] += (s * z) as f32;
        }
    }
    Ok(rir)
}

/// Schroeder backward integration `E(t) = Σ_{τ ≥ t} h²(τ)` in dB relative to `E(0)`.
pub fn schroeder_db(h: &[f32]) -> Result<Vec<f64>> {
    if h.is_empty() || h.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidInput(
            "schroeder: the RIR is empty or not finite".into(),
        ));
    }
    let mut acc = 0.0f64;
    let mut e: Vec<f64> = h
        .iter()
        .rev()
        .map(|v| {
            acc += (*v as f64).powi(2);
            acc
        })
        .collect();
    e.reverse();
    if e[0] <= 0.0 {
        return Err(Error::InvalidInput(
            "schroeder: the RIR is all zeros".into(),
        ));
    }
    let e0 = e[0];
    Ok(e.iter()
        .map(|v| 10.0 * (v / e0).max(1e-30).log10())
        .collect())
}

/// Reverberation time from the Schroeder decay, as pyroomacoustics' `measure_rt60` (T30:
/// `decay_db = 30`): from the first point 5 dB below the start to the first point a further
/// `decay_db` down (or the end of the decay), a least-squares line `dB = a·t + b`;
/// `T60 = −60 / a`. When the whole decay is shallower than `decay_db + 5` dB, the fit runs to
/// the end, as there.
pub fn measure_t60(h: &[f32], sample_rate: f64, decay_db: f64) -> Result<f64> {
    if !(decay_db.is_finite() && decay_db > 0.0 && sample_rate > 0.0) {
        return Err(Error::InvalidInput(format!(
            "measure_t60: need decay_db > 0 and sample_rate > 0, got {decay_db}, {sample_rate}"
        )));
    }
    let last = h.iter().rposition(|v| *v != 0.0).map_or(0, |i| i + 1);
    let db = schroeder_db(&h[..last.max(1)])?;
    let min_db = -db.iter().copied().fold(f64::INFINITY, f64::min);
    let decay = if min_db - 5.0 < decay_db {
        min_db
    } else {
        decay_db
    };
    let i5 = db.iter().position(|v| *v < -5.0).ok_or_else(|| {
        Error::InvalidInput("measure_t60: the RIR decays by less than 5 dB".into())
    })?;
    let e5 = db[i5];
    let id = db.iter().position(|v| *v < e5 - decay).unwrap_or(db.len());
    let seg = &db[i5..id];
    if seg.len() < 2 {
        return Err(Error::InvalidInput(
            "measure_t60: too few samples in the decay to fit".into(),
        ));
    }
    let n = seg.len() as f64;
    let t_mean = (n - 1.0) / 2.0 / sample_rate;
    let y_mean = seg.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in seg.iter().enumerate() {
        let dt = i as f64 / sample_rate - t_mean;
        sxy += dt * (y - y_mean);
        sxx += dt * dt;
    }
    let slope = sxy / sxx;
    if slope >= 0.0 {
        return Err(Error::InvalidInput(
            "measure_t60: the energy does not decay".into(),
        ));
    }
    Ok(-60.0 / slope)
}

/// Direct-to-reverberant ratio in dB: energy within `±window_s` of the direct-path peak over
/// the energy after it.
pub fn drr_db(h: &[f32], sample_rate: f64, window_s: f64) -> Result<f64> {
    schroeder_db(h)?;
    let peak = h
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |m| m.0);
    let w = (window_s * sample_rate).round() as usize;
    let (lo, hi) = (peak.saturating_sub(w), (peak + w + 1).min(h.len()));
    let e = |s: &[f32]| s.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
    let direct = e(&h[lo..hi]);
    let rest = e(&h[hi..]);
    Ok(10.0 * (direct / rest.max(1e-30)).log10())
}
