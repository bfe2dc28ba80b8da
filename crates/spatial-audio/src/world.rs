//! The synthetic world of the reproduction: procedural sound events ([`crate::sounds`])
//! placed in random shoebox rooms, rendered to FOA through [`crate::room`] (image sources
//! plus a diffuse tail matched to a target T60), with spatial captions from
//! [`crate::captions`]; and mono clips (`W` = the event, `X = Y = Z = 0`) with plain captions.

use crate::captions::{SpatialAttributes, spatial_caption};
use crate::conv::convolve_channels;
use crate::foa::Direction;
use crate::room::{Shoebox, SimConfig, TailConfig, foa_rir, inverse_sabine, measure_t60};
use crate::sounds::{self, KINDS};
use ember_core::seed::Seed;
use ember_core::{Error, Result};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Ranges of the world (ELSA's simulation ranges, scaled down for a CPU; spec §D1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Clip length in seconds.
    pub clip_s: f64,
    /// Floor area range in m².
    pub floor_area: (f64, f64),
    /// Aspect ratio range of the floor.
    pub aspect: (f64, f64),
    /// Ceiling height range in m.
    pub height: (f64, f64),
    /// Target T60 range in seconds (uniform wall absorption by inverse Sabine).
    pub t60: (f64, f64),
    /// Source distance range in m.
    pub distance: (f64, f64),
    /// Source elevation range in degrees.
    pub elevation_deg: (f64, f64),
    /// Image-source order before the diffuse tail.
    pub max_order: usize,
    /// Sensor noise below the clip's `W` level, in dB.
    pub snr_db: f64,
}

impl Default for WorldConfig {
    /// 16 kHz, 1 s clips, 13.3–120 m², T60 0.15–1.2 s, 0.5–4 m, ±45°, order 6, 40 dB SNR.
    fn default() -> Self {
        WorldConfig {
            sample_rate: 16_000,
            clip_s: 1.0,
            floor_area: (13.3, 120.0),
            aspect: (1.0, 2.5),
            height: (2.5, 4.0),
            t60: (0.15, 1.2),
            distance: (0.5, 4.0),
            elevation_deg: (-45.0, 45.0),
            max_order: 6,
            snr_db: 40.0,
        }
    }
}

/// The labels of a spatial clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpatialLabel {
    /// What the caption describes (T30 measured on the rendered RIR).
    pub attrs: SpatialAttributes,
    /// Unit vector towards the source.
    pub direction: [f64; 3],
    /// The T60 the tail was matched to.
    pub t60_target: f64,
}

/// One clip of the world.
#[derive(Debug, Clone)]
pub struct Clip {
    /// `[W, Y, Z, X]`.
    pub foa: Vec<Vec<f32>>,
    /// Sound kind (index into [`KINDS`]).
    pub kind: usize,
    /// Spatial labels (`None` for a mono clip).
    pub spatial: Option<SpatialLabel>,
    /// A training caption (random paraphrase, synonyms and template).
    pub caption: String,
    /// The canonical caption (first paraphrase, first synonyms, first template): clips with
    /// the same canonical caption are equivalent in retrieval.
    pub canonical: String,
}

fn uni(rng: &mut ChaCha8Rng, r: (f64, f64)) -> f64 {
    r.0 + (r.1 - r.0) * rng.random::<f64>()
}

/// A sampled scene: `(room, target T60, source, microphone, direction, distance)`.
pub type Scene = (Shoebox, f64, [f64; 3], [f64; 3], Direction, f64);

/// A random room, microphone and source (≥ 0.3 m from every wall; the microphone ≥ 1 m where
/// the room allows), with the absorption that gives the target T60.
pub fn sample_scene(cfg: &WorldConfig, rng: &mut ChaCha8Rng) -> Result<Scene> {
    for _ in 0..1000 {
        let area = uni(rng, cfg.floor_area);
        let aspect = uni(rng, cfg.aspect);
        let (lx, ly) = ((area * aspect).sqrt(), (area / aspect).sqrt());
        let h = uni(rng, cfg.height);
        let dims = [lx, ly, h];
        let t60 = uni(rng, cfg.t60);
        let Ok((alpha, _)) = inverse_sabine(t60, dims) else {
            continue;
        };
        let margin = |l: f64, m: f64| if l > 2.0 * m + 0.2 { m } else { l / 2.0 - 0.1 };
        let mic: [f64; 3] = std::array::from_fn(|i| {
            let m = margin(dims[i], if i == 2 { 0.8 } else { 1.0 });
            m + (dims[i] - 2.0 * m) * rng.random::<f64>()
        });
        let dir = Direction::new(uni(rng, (-180.0, 180.0)), uni(rng, cfg.elevation_deg));
        let d = uni(rng, cfg.distance);
        let u = dir.unit_vector();
        let src = [mic[0] + d * u[0], mic[1] + d * u[1], mic[2] + d * u[2]];
        if (0..3).all(|i| src[i] >= 0.3 && src[i] <= dims[i] - 0.3) {
            return Ok((Shoebox::uniform(dims, alpha), t60, src, mic, dir, d));
        }
    }
    Err(Error::InvalidInput(
        "world: no valid source position found in 1000 tries (ranges too wide for the rooms)"
            .into(),
    ))
}

/// Renders one clip from `seed`: spatial (a room) or mono.
pub fn make_clip(cfg: &WorldConfig, seed: Seed, spatial: bool) -> Result<Clip> {
    let mut rng = seed.rng();
    let n = (cfg.clip_s * cfg.sample_rate as f64).round() as usize;
    let kind = rng.random_range(0..KINDS.len());
    let dry = sounds::render(kind, n, cfg.sample_rate, &mut rng)?;
    let para = KINDS[kind];
    let sem_train = para[rng.random_range(0..para.len())];
    if !spatial {
        let mut foa = vec![dry, vec![0.0; n], vec![0.0; n], vec![0.0; n]];
        add_noise(&mut foa, cfg.snr_db, &mut rng, 1);
        return Ok(Clip {
            foa,
            kind,
            spatial: None,
            caption: sem_train.to_string(),
            canonical: para[0].to_string(),
        });
    }
    let (room, t60, src, mic, dir, d) = sample_scene(cfg, &mut rng)?;
    let sim = SimConfig {
        sample_rate: cfg.sample_rate as f64,
        max_order: cfg.max_order,
        frac_delay_taps: 81,
    };
    let tail = TailConfig {
        t60,
        mixing_time: None,
        length: (1.2 * t60).min(cfg.clip_s).max(0.3),
        fade: 0.005,
    };
    let rir = foa_rir(&room, src, mic, &sim, Some(&tail), &mut rng)?;
    let t30 = measure_t60(&rir.channels[0], sim.sample_rate, 20.0).unwrap_or(t60);
    // Skip the filter latency so the clip starts at the emission time.
    let lat = rir.latency;
    let h: Vec<Vec<f32>> = rir.channels.iter().map(|c| c[lat..].to_vec()).collect();
    let mut foa = convolve_channels(&dry, &h, Some(n))?;
    let rms = (foa[0].iter().map(|v| v * v).sum::<f32>() / n as f32)
        .sqrt()
        .max(1e-9);
    foa.iter_mut().flatten().for_each(|v| *v *= 0.1 / rms);
    add_noise(&mut foa, cfg.snr_db, &mut rng, 4);
    let attrs = SpatialAttributes {
        azimuth_deg: dir.azimuth_deg,
        elevation_deg: dir.elevation_deg,
        distance_m: d,
        floor_area_m2: room.floor_area(),
        t30_s: t30,
    };
    Ok(Clip {
        foa,
        kind,
        caption: spatial_caption(sem_train, &attrs, Some(&mut rng)),
        canonical: spatial_caption(para[0], &attrs, None),
        spatial: Some(SpatialLabel {
            attrs,
            direction: dir.unit_vector(),
            t60_target: t60,
        }),
    })
}

/// White noise `snr_db` below a 0.1 RMS on the first `channels` channels.
fn add_noise(foa: &mut [Vec<f32>], snr_db: f64, rng: &mut ChaCha8Rng, channels: usize) {
    let a = 0.1 * 10f64.powf(-snr_db / 20.0) as f32 * 3f32.sqrt();
    for ch in foa.iter_mut().take(channels) {
        for v in ch.iter_mut() {
            *v += a * (rng.random::<f32>() * 2.0 - 1.0);
        }
    }
}
