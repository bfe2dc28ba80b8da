//! WavLM's gated relative position bias (`model_type` `wavlm`); everything else is the
//! wav2vec2 layout ([`super::wav2vec2`]).
//!
//! ```text
//! bias[h, i, j] = E[bucket(j - i), h]            encoder.layers.0.attention.rel_attn_embed
//!                 (computed once, in layer 0, shared by every layer)
//! per layer, from the attention input x [B, T, D] split into heads x_h [B, H, T, D/H]:
//!   (r_a, r_b) = σ(sum over 4 of (x_h W + b) viewed [.., 2, 4])   attention.gru_rel_pos_linear
//!   gate = r_a · (r_b · c_h − 1) + 2                               attention.gru_rel_pos_const
//!   scores = q kᵀ / √(D/H) + gate[b, h, i] · bias[h, i, j]
//! ```
//! Buckets follow T5: half for each direction, exact up to `num_buckets / 4`, then
//! logarithmic up to `max_bucket_distance`.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::layers::linear;
use super::weights::Weights;
use crate::error::Result;

/// The bucket of a relative distance `rel = key − query`, as transformers'
/// `WavLMAttention._relative_positions_bucket` computes it (in float32).
pub fn relative_position_bucket(rel: i64, num_buckets: usize, max_distance: usize) -> usize {
    let half = num_buckets / 2;
    let max_exact = half / 2;
    let base = if rel > 0 { half } else { 0 };
    let a = rel.unsigned_abs() as usize;
    if a < max_exact {
        return base + a;
    }
    let log_ratio = ((a as f32) / (max_exact as f32)).ln()
        / ((max_distance as f64 / max_exact as f64).ln() as f32)
        * ((half - max_exact) as f32);
    let large = (max_exact as f32 + log_ratio) as usize;
    base + large.min(half - 1)
}

/// The bucketed relative position bias table `[num_buckets, H]`.
#[derive(Module, Debug)]
pub struct RelPositionBias {
    embed: Param<Tensor<2>>,
    num_buckets: usize,
    max_distance: usize,
}

impl RelPositionBias {
    /// Load `name` `[num_buckets, heads]`.
    pub fn load(
        w: &Weights,
        name: &str,
        num_buckets: usize,
        heads: usize,
        max_distance: usize,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            embed: w.param(name, [num_buckets, heads], device)?,
            num_buckets,
            max_distance,
        })
    }

    /// The ungated bias `[H, T, T]` for `t` frames.
    pub fn forward(&self, t: usize, device: &Device) -> Tensor<3> {
        let [_, h] = self.embed.dims();
        // One bucket per distance −(t−1)..=t−1, then laid out as the T × T table.
        let per_rel: Vec<i64> = (0..2 * t as i64 - 1)
            .map(|r| {
                relative_position_bucket(r - (t as i64 - 1), self.num_buckets, self.max_distance)
                    as i64
            })
            .collect();
        let mut idx = Vec::with_capacity(t * t);
        for i in 0..t {
            for j in 0..t {
                idx.push(per_rel[j + t - 1 - i]);
            }
        }
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [t * t]), device);
        self.embed
            .val()
            .select(0, idx)
            .reshape([t, t, h])
            .permute([2, 0, 1])
    }
}

/// A layer's gate on the shared bias (`gru_rel_pos_linear`, `gru_rel_pos_const`).
#[derive(Module, Debug)]
pub struct RelPosGate {
    linear: Linear,
    constant: Param<Tensor<4>>,
}

impl RelPosGate {
    /// Load from the attention module at `prefix` (`….attention`).
    pub fn load(
        w: &Weights,
        prefix: &str,
        heads: usize,
        head_dim: usize,
        device: &Device,
    ) -> Result<Self> {
        Ok(Self {
            linear: linear(
                w,
                &format!("{prefix}.gru_rel_pos_linear"),
                head_dim,
                8,
                true,
                device,
            )?,
            constant: w.param(
                &format!("{prefix}.gru_rel_pos_const"),
                [1, heads, 1, 1],
                device,
            )?,
        })
    }

    /// `gate · bias` `[B, H, T, T]` for the attention input `x` `[B, T, D]` and the shared
    /// bias `[B, H, T, T]`.
    pub fn gated_bias(&self, x: Tensor<3>, h: usize, bias: &Tensor<4>) -> Tensor<4> {
        let [b, t, d] = x.dims();
        let x = x.reshape([b, t, h, d / h]).swap_dims(1, 2);
        let r = self
            .linear
            .forward(x)
            .reshape([b, h, t, 2, 4])
            .sum_dim(4)
            .reshape([b, h, t, 2]);
        let r = sigmoid(r);
        let ra = r.clone().slice([0..b, 0..h, 0..t, 0..1]);
        let rb = r.slice([0..b, 0..h, 0..t, 1..2]);
        let gate = ra * (rb * self.constant.val() - 1.0) + 2.0;
        gate.expand([b, h, t, t]) * bias.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::relative_position_bucket as bucket;

    #[test]
    fn buckets_match_transformers() {
        // num_buckets 320, max_distance 800 (WavLM base): 160 per direction, exact below 80.
        assert_eq!(bucket(0, 320, 800), 0);
        assert_eq!(bucket(-5, 320, 800), 5);
        assert_eq!(bucket(5, 320, 800), 165);
        assert_eq!(bucket(-79, 320, 800), 79);
        assert_eq!(bucket(-80, 320, 800), 80);
        // 80 + ln(160/80) / ln(10) · 80 = 104.08
        assert_eq!(bucket(-160, 320, 800), 104);
        assert_eq!(bucket(10_000, 320, 800), 319);
        // The fixture's 32 buckets / 64: exact below 8, 15 the last per direction.
        assert_eq!(bucket(-7, 32, 64), 7);
        assert_eq!(bucket(16, 32, 64), 16 + 8 + 2);
        assert_eq!(bucket(-100, 32, 64), 15);
    }
}
