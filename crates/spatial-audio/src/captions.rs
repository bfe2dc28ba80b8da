//! Spatial caption augmentation: ELSA's attribute bins (spec §A2.2, the thresholds shared by
//! the public reimplementations), with deliberate "no word" gaps between bins, and a small
//! template bank. Direction words follow [`crate::foa`]: `+90°` azimuth is **left**.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The spatial attributes a caption can describe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpatialAttributes {
    /// Azimuth in degrees (counter-clockwise, `+90` = left).
    pub azimuth_deg: f64,
    /// Elevation in degrees (up positive).
    pub elevation_deg: f64,
    /// Source distance in metres.
    pub distance_m: f64,
    /// Room floor area in m².
    pub floor_area_m2: f64,
    /// Reverberation time (T30 measured on the RIR) in seconds.
    pub t30_s: f64,
}

/// Azimuth word: front `[−35°, 35°]`, left `[55°, 125°]`, right `[−125°, −55°]`, behind
/// `|φ| ≥ 145°`, otherwise none.
pub fn direction_word(azimuth_deg: f64) -> Option<&'static str> {
    let a = wrap_deg(azimuth_deg);
    if (-35.0..=35.0).contains(&a) {
        Some("front")
    } else if (55.0..=125.0).contains(&a) {
        Some("left")
    } else if (-125.0..=-55.0).contains(&a) {
        Some("right")
    } else if a.abs() >= 145.0 {
        Some("behind")
    } else {
        None
    }
}

/// Elevation word: above `> 40°`, below `< −40°`.
pub fn elevation_word(elevation_deg: f64) -> Option<&'static str> {
    if elevation_deg > 40.0 {
        Some("above")
    } else if elevation_deg < -40.0 {
        Some("below")
    } else {
        None
    }
}

/// Distance word: near `< 1 m`, far `> 2 m`.
pub fn distance_word(distance_m: f64) -> Option<&'static str> {
    if distance_m < 1.0 {
        Some("near")
    } else if distance_m > 2.0 {
        Some("far")
    } else {
        None
    }
}

/// Room-size word: small `< 50 m²`, mid-sized `50–100 m²`, large `> 100 m²`.
pub fn size_word(floor_area_m2: f64) -> &'static str {
    if floor_area_m2 < 50.0 {
        "small"
    } else if floor_area_m2 <= 100.0 {
        "medium"
    } else {
        "large"
    }
}

/// Reverberation word: dry `< 200 ms`, echoey `> 1000 ms`.
pub fn reverb_word(t30_s: f64) -> Option<&'static str> {
    if t30_s < 0.2 {
        Some("dry")
    } else if t30_s > 1.0 {
        Some("echoey")
    } else {
        None
    }
}

/// Azimuth wrapped into `(−180, 180]`.
pub fn wrap_deg(a: f64) -> f64 {
    let mut x = a % 360.0;
    if x > 180.0 {
        x -= 360.0;
    } else if x <= -180.0 {
        x += 360.0;
    }
    x
}

/// Synonyms per canonical word (the first is the canonical one).
fn synonyms(word: &str) -> &'static [&'static str] {
    match word {
        "front" => &["in front", "ahead"],
        "left" => &["to the left", "on the left side"],
        "right" => &["to the right", "on the right side"],
        "behind" => &["behind", "from the back"],
        "above" => &["above", "overhead"],
        "below" => &["below", "from beneath"],
        "near" => &["close by", "nearby"],
        "far" => &["far away", "in the distance"],
        "small" => &["small", "tiny"],
        "medium" => &["medium", "mid-sized"],
        "large" => &["large", "big"],
        "dry" => &["dry", "dampened"],
        "echoey" => &["echoey", "reverberant"],
        _ => &[],
    }
}

/// The spatial phrase of `attrs`: canonical (first synonym, first template) when `rng` is
/// `None`, otherwise random synonyms and one of three templates.
pub fn spatial_phrase(attrs: &SpatialAttributes, rng: Option<&mut ChaCha8Rng>) -> String {
    let words = [
        direction_word(attrs.azimuth_deg),
        elevation_word(attrs.elevation_deg),
        distance_word(attrs.distance_m),
    ];
    let room = [
        Some(size_word(attrs.floor_area_m2)),
        reverb_word(attrs.t30_s),
    ];
    let mut pick_rng = rng;
    let mut pick = |w: &str| -> String {
        let s = synonyms(w);
        match pick_rng.as_deref_mut() {
            Some(r) => s[r.random_range(0..s.len())].to_string(),
            None => s[0].to_string(),
        }
    };
    let where_: Vec<String> = words.iter().flatten().map(|w| pick(w)).collect();
    let room_words: Vec<String> = room.iter().flatten().map(|w| pick(w)).collect();
    let template = match pick_rng {
        Some(r) => r.random_range(0..3usize),
        None => 0,
    };
    let place = where_.join(" ");
    let room_s = room_words.join(" ");
    match template {
        0 => format!("{place} in a {room_s} room"),
        1 => format!("{place} inside a {room_s} room"),
        _ => format!("heard {place} within a {room_s} room"),
    }
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ")
}

/// `"<semantic> <spatial phrase>"`.
pub fn spatial_caption(
    semantic: &str,
    attrs: &SpatialAttributes,
    rng: Option<&mut ChaCha8Rng>,
) -> String {
    format!("{semantic} {}", spatial_phrase(attrs, rng))
}

/// Lower-case word tokens (letters, digits and `-`).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}
