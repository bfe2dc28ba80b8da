//! Autoregressive generation with a key/value cache: greedy or sampled (temperature,
//! top-k, top-p), optionally under an MLP intervention.
//!
//! The prompt is run once to fill the cache; each new token then costs one single-position
//! forward pass, and one read-back of its logits row to pick the next id on the host.

use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::layers::KvCache;
use crate::error::{Error, Result};
use crate::nn::LanguageModel;
use crate::nn::intervention::Intervention;
use crate::nn::transformer::{ForwardOptions, TransformerInput, TransformerOutput};

/// A decoder that can continue from a [`KvCache`].
pub trait CausalLm: LanguageModel {
    /// The forward pass over new positions; with a cache, positions continue from its
    /// length and the new keys/values are appended to it.
    fn forward_cached(
        &self,
        input: TransformerInput,
        opts: ForwardOptions,
        cache: Option<&mut KvCache>,
    ) -> Result<TransformerOutput>;
}

/// How the next token is picked.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// The most likely token (ties: the lowest id, like `argmax`).
    Greedy,
    /// A draw from the softmax at `temperature`, restricted to the `top_k` most likely
    /// tokens and then to the smallest set whose mass reaches `top_p` (nucleus).
    Sample {
        /// Softmax temperature (> 0).
        temperature: f32,
        /// Keep only this many candidates (`None`: all).
        top_k: Option<usize>,
        /// Nucleus mass in (0, 1] (`None`: 1).
        top_p: Option<f32>,
        /// Seed of the draw (same seed, same continuation).
        seed: u64,
    },
}

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// New tokens to produce at most.
    pub max_new_tokens: usize,
    /// Greedy or sampled.
    pub sampling: Sampling,
    /// Stop after emitting this id.
    pub eos_token_id: Option<u32>,
    /// Edit MLP units during every step (the prompt included).
    pub intervention: Option<Intervention>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 32,
            sampling: Sampling::Greedy,
            eos_token_id: None,
            intervention: None,
        }
    }
}

/// What [`generate`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The new tokens only (the prompt is not repeated).
    pub tokens: Vec<u32>,
    /// The smallest gap between the top-1 and top-2 logits over the steps: how close the
    /// greedy path came to a tie (a tolerance check for cross-implementation tests).
    pub min_margin: f32,
}

/// Continue `prompt` with `model` on `device`.
pub fn generate(
    model: &impl CausalLm,
    prompt: &[u32],
    opts: &GenerateOptions,
    device: &Device,
) -> Result<Generation> {
    if prompt.is_empty() {
        return Err(Error::InvalidInput("generate: empty prompt".into()));
    }
    if let Sampling::Sample {
        temperature,
        top_p,
        top_k,
        ..
    } = &opts.sampling
    {
        if !(temperature.is_finite() && *temperature > 0.0) {
            return Err(Error::InvalidInput(format!(
                "temperature must be > 0, got {temperature}"
            )));
        }
        if let Some(p) = top_p
            && !(*p > 0.0 && *p <= 1.0)
        {
            return Err(Error::InvalidInput(format!(
                "top_p must be in (0, 1], got {p}"
            )));
        }
        if *top_k == Some(0) {
            return Err(Error::InvalidInput("top_k must be positive".into()));
        }
    }
    let mut rng = match opts.sampling {
        Sampling::Sample { seed, .. } => ChaCha8Rng::seed_from_u64(seed),
        Sampling::Greedy => ChaCha8Rng::seed_from_u64(0),
    };
    let step_opts = || {
        let mut o = ForwardOptions::logits();
        o.intervention = opts.intervention.clone();
        o
    };
    let mut cache = KvCache::new();
    let mut input: Vec<u32> = prompt.to_vec();
    let mut tokens = Vec::with_capacity(opts.max_new_tokens);
    let mut min_margin = f32::INFINITY;
    for _ in 0..opts.max_new_tokens {
        let t = input.len();
        let ids = Tensor::<1, Int>::from_data(
            TensorData::new(input.iter().map(|&x| x as i64).collect::<Vec<_>>(), [t]),
            device,
        )
        .reshape([1, t]);
        let out =
            model.forward_cached(TransformerInput::Tokens(ids), step_opts(), Some(&mut cache))?;
        let logits = out
            .logits
            .ok_or_else(|| Error::InvalidInput("model returned no logits".into()))?;
        let v = logits.dims()[2];
        let row = crate::ops::to_host(logits.slice([0..1, t - 1..t, 0..v]))?;
        let (next, margin) = pick(&row, &opts.sampling, &mut rng)?;
        min_margin = min_margin.min(margin);
        tokens.push(next);
        if opts.eos_token_id == Some(next) {
            break;
        }
        input = vec![next];
    }
    Ok(Generation { tokens, min_margin })
}

/// Pick the next id from one logits row; also returns the top-1/top-2 gap.
fn pick(row: &[f32], sampling: &Sampling, rng: &mut ChaCha8Rng) -> Result<(u32, f32)> {
    if let Some(i) = row.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite(format!("logit {i} is {}", row[i])));
    }
    let mut order: Vec<usize> = (0..row.len()).collect();
    // Descending by logit, ties by id (stable sort keeps the lower id first).
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
    let margin = if row.len() > 1 {
        row[order[0]] - row[order[1]]
    } else {
        f32::INFINITY
    };
    match sampling {
        Sampling::Greedy => Ok((order[0] as u32, margin)),
        Sampling::Sample {
            temperature,
            top_k,
            top_p,
            ..
        } => {
            let k = top_k.unwrap_or(row.len()).min(row.len());
            let top = row[order[0]];
            let mut probs: Vec<f64> = order[..k]
                .iter()
                .map(|&i| (((row[i] - top) / temperature) as f64).exp())
                .collect();
            let total: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= total);
            let keep = match top_p {
                Some(p) => {
                    let mut acc = 0.0;
                    probs
                        .iter()
                        .position(|&q| {
                            acc += q;
                            acc >= *p as f64
                        })
                        .map_or(k, |i| i + 1)
                }
                None => k,
            };
            let mass: f64 = probs[..keep].iter().sum();
            let mut u = rng.random::<f64>() * mass;
            for (j, &q) in probs[..keep].iter().enumerate() {
                if u < q {
                    return Ok((order[j] as u32, margin));
                }
                u -= q;
            }
            Ok((order[keep - 1] as u32, margin))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_argmax_and_reports_margin() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (id, m) = pick(&[0.1, 2.0, 1.5], &Sampling::Greedy, &mut rng).unwrap();
        assert_eq!(id, 1);
        assert!((m - 0.5).abs() < 1e-6);
    }

    #[test]
    fn top_k_one_is_greedy_and_nucleus_restricts() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let s = Sampling::Sample {
            temperature: 1.0,
            top_k: Some(1),
            top_p: None,
            seed: 0,
        };
        for _ in 0..20 {
            assert_eq!(pick(&[0.0, 3.0, 1.0], &s, &mut rng).unwrap().0, 1);
        }
        // p = [0.665, 0.245, 0.090]: top_p 0.6 keeps only the first.
        let s = Sampling::Sample {
            temperature: 1.0,
            top_k: None,
            top_p: Some(0.6),
            seed: 0,
        };
        for _ in 0..20 {
            assert_eq!(pick(&[2.0, 1.0, 0.0], &s, &mut rng).unwrap().0, 0);
        }
        // Sampling over all three visits each with roughly its probability.
        let s = Sampling::Sample {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            seed: 0,
        };
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            counts[pick(&[2.0, 1.0, 0.0], &s, &mut rng).unwrap().0 as usize] += 1;
        }
        let expect = [0.665, 0.245, 0.090];
        for (c, e) in counts.iter().zip(expect) {
            assert!((*c as f64 / 3000.0 - e).abs() < 0.03, "{counts:?}");
        }
    }

    #[test]
    fn non_finite_logits_are_an_error() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!(pick(&[0.0, f32::NAN], &Sampling::Greedy, &mut rng).is_err());
    }
}
