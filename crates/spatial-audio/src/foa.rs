//! First-order ambisonics (FOA) convention of this crate, fixed once and tested:
//!
//! - **Axes**: `+x` is the listener's front, `+y` their **left**, `+z` up (right-handed).
//! - **Azimuth** `φ` is measured **counter-clockwise** from the front seen from above:
//!   `φ = +90°` is the left, `φ = −90°` the right, `±180°` behind (the ambisonics / DCASE /
//!   SOFA convention). **Elevation** `θ` is positive upwards.
//! - **Channel order ACN** (`W, Y, Z, X`) with **SN3D** normalisation: a plane wave `s(t)`
//!   from `(φ, θ)` gives `W = s`, `Y = s·sin φ cos θ`, `Z = s·sin θ`, `X = s·cos φ cos θ`.
//!
//! Public reimplementations of ELSA placed sources counter-clockwise but called `+90°`
//! "right"; here a positive `Y` is always *left* and the caption words follow.

use serde::{Deserialize, Serialize};

/// ACN index of the omnidirectional channel.
pub const W: usize = 0;
/// ACN index of the left–right dipole (`+` = left).
pub const Y: usize = 1;
/// ACN index of the up–down dipole (`+` = up).
pub const Z: usize = 2;
/// ACN index of the front–back dipole (`+` = front).
pub const X: usize = 3;

/// A direction in degrees (see the module docs for the convention).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    /// Azimuth in degrees, counter-clockwise from the front (`+90` = left), in `(−180, 180]`.
    pub azimuth_deg: f64,
    /// Elevation in degrees, positive up, in `[−90, 90]`.
    pub elevation_deg: f64,
}

impl Direction {
    /// A direction from azimuth and elevation in degrees.
    pub fn new(azimuth_deg: f64, elevation_deg: f64) -> Self {
        Direction {
            azimuth_deg,
            elevation_deg,
        }
    }

    /// The unit vector `(cos φ cos θ, sin φ cos θ, sin θ)` in `(x, y, z)`.
    pub fn unit_vector(&self) -> [f64; 3] {
        let (a, e) = (
            self.azimuth_deg.to_radians(),
            self.elevation_deg.to_radians(),
        );
        [a.cos() * e.cos(), a.sin() * e.cos(), e.sin()]
    }

    /// The direction of a (not necessarily unit) vector `(x, y, z)`; `None` for a zero or
    /// non-finite vector.
    pub fn from_vector(v: [f64; 3]) -> Option<Self> {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if !(n.is_finite() && n > 0.0) {
            return None;
        }
        Some(Direction {
            azimuth_deg: v[1].atan2(v[0]).to_degrees(),
            elevation_deg: (v[2] / n).clamp(-1.0, 1.0).asin().to_degrees(),
        })
    }
}

/// SN3D gains `[W, Y, Z, X] = [1, u_y, u_z, u_x]` of a unit vector `u` pointing from the
/// microphone towards the source.
pub fn encode_vector(u: [f64; 3]) -> [f64; 4] {
    [1.0, u[1], u[2], u[0]]
}

/// SN3D gains `[1, sin φ cos θ, sin θ, cos φ cos θ]` of a direction.
pub fn encode(dir: Direction) -> [f64; 4] {
    encode_vector(dir.unit_vector())
}

/// A plane wave `s` from `dir` as four ACN/SN3D channels.
pub fn encode_signal(s: &[f32], dir: Direction) -> Vec<Vec<f32>> {
    encode(dir)
        .iter()
        .map(|g| s.iter().map(|v| v * *g as f32).collect())
        .collect()
}

/// Great-circle angle between two vectors in degrees (`NaN` if either is zero).
pub fn angle_deg(a: [f64; 3], b: [f64; 3]) -> f64 {
    let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let na = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    let nb = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
    (dot / (na * nb)).clamp(-1.0, 1.0).acos().to_degrees()
}
