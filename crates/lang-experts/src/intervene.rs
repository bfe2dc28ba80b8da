//! Interventions built from an [`Expertise`] table, applied through ember-core's
//! [`Intervention`] (so they run on any [`LanguageModel`]), and sampling under them.
//!
//! - do(c, k): each of the top-k experts is forced to its positive mean (Paper 1) or median
//!   (ml-selfcond `on_p50`): `z_m ← v_m` at the chosen positions.
//! - AurA: every unit with AUROC > ½ is multiplied by `α_m = 1 − 2(AUROC_m − ½)`.
//! - Random control: the same number of units per (layer, site) drawn at random, given the
//!   experts' forcing values (Paper 1 §7).

use crate::capture::UnitIndex;
use crate::expertise::Expertise;
use burn::prelude::*;
use ember_core::nn::intervention::{EditPositions, Site};
use ember_core::nn::{ForwardOptions, Intervention, LanguageModel, TransformerInput, UnitEdit};
use ember_core::{Error, Result};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which statistic of the pooled positive responses an expert is forced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ForceValue {
    /// Mean over N⁺ (Paper 1).
    #[default]
    Mean,
    /// Median over N⁺ (ml-selfcond `on_p50`).
    Median,
}

/// Which positions an intervention edits, relative to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Scope {
    /// Every position (the reference code's default).
    #[default]
    All,
    /// The prompt's positions only.
    Prompt,
    /// Generated positions only.
    Generated,
}

impl Scope {
    /// The absolute position window for a prompt of `prompt_len` tokens.
    pub fn positions(self, prompt_len: usize) -> EditPositions {
        match self {
            Scope::All => EditPositions::All,
            Scope::Prompt => EditPositions::Range {
                from: 0,
                until: Some(prompt_len.max(1)),
            },
            Scope::Generated => EditPositions::Range {
                from: prompt_len,
                until: None,
            },
        }
    }
}

/// `(layer, site, unit)` of global unit `id`.
pub fn locate(index: &UnitIndex, id: usize) -> Result<(usize, Site, usize)> {
    let (b, u) = index.locate(id).ok_or_else(|| {
        Error::InvalidInput(format!("unit {id} out of range 0..{}", index.n_units()))
    })?;
    let blk = index.blocks[b];
    Ok((blk.layer, blk.site, u))
}

/// do(c, k): force each unit of `experts` (global ids) to its `value` statistic.
pub fn force_experts(ex: &Expertise, experts: &[usize], value: ForceValue) -> Result<Intervention> {
    let mut iv = Intervention::new();
    for &id in experts {
        let s = ex.units.get(id).ok_or_else(|| {
            Error::InvalidInput(format!("expert {id} out of range 0..{}", ex.units.len()))
        })?;
        let v = match value {
            ForceValue::Mean => s.pos_mean,
            ForceValue::Median => s.pos_median,
        };
        let (layer, site, unit) = locate(&ex.index, id)?;
        iv = iv.with_at(site, layer, unit, UnitEdit::Set(v));
    }
    Ok(iv)
}

/// AurA dampening: `z_m ← α_m z_m` with `α_m = 1 − 2(AUROC_m − ½)` for every unit with
/// AUROC > ½ (units at or below chance are untouched).
pub fn aura(ex: &Expertise) -> Result<Intervention> {
    let mut iv = Intervention::new();
    for (id, s) in ex.units.iter().enumerate() {
        if s.auroc > 0.5 {
            let (layer, site, unit) = locate(&ex.index, id)?;
            let alpha = (1.0 - 2.0 * (s.auroc - 0.5)) as f32;
            iv = iv.with_at(site, layer, unit, UnitEdit::Scale(alpha));
        }
    }
    Ok(iv)
}

/// The random-unit control of [`force_experts`]: for each (layer, site) block, as many
/// random units as it holds experts, drawn from the block's non-experts (all units if too
/// few), each forced to the value of one of the experts (a random matching).
pub fn random_control(
    ex: &Expertise,
    experts: &[usize],
    value: ForceValue,
    seed: u64,
) -> Result<Intervention> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut per_block: Vec<Vec<usize>> = vec![Vec::new(); ex.index.blocks.len()];
    for &id in experts {
        let (b, _) = ex
            .index
            .locate(id)
            .ok_or_else(|| Error::InvalidInput(format!("expert {id} out of range")))?;
        per_block[b].push(id);
    }
    let mut iv = Intervention::new();
    for (b, ids) in per_block.iter().enumerate() {
        if ids.is_empty() {
            continue;
        }
        let blk = ex.index.blocks[b];
        let mut pool: Vec<usize> = (blk.offset..blk.offset + blk.width)
            .filter(|u| !ids.contains(u))
            .collect();
        if pool.len() < ids.len() {
            pool = (blk.offset..blk.offset + blk.width).collect();
        }
        pool.shuffle(&mut rng);
        let mut vals: Vec<usize> = ids.clone();
        vals.shuffle(&mut rng);
        for (&target, &src) in pool.iter().zip(&vals) {
            let s = ex.units[src];
            let v = match value {
                ForceValue::Mean => s.pos_mean,
                ForceValue::Median => s.pos_median,
            };
            iv = iv.with_at(blk.site, blk.layer, target - blk.offset, UnitEdit::Set(v));
        }
    }
    Ok(iv)
}

/// Sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleOptions {
    /// New tokens per sample.
    pub new_tokens: usize,
    /// Softmax temperature (> 0).
    pub temperature: f32,
    /// Nucleus mass in (0, 1].
    pub top_p: f32,
    /// Positions the intervention edits.
    pub scope: Scope,
    /// Stop at this token (not included), if any.
    pub eos: Option<u32>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            new_tokens: 16,
            temperature: 1.0,
            top_p: 0.9,
            scope: Scope::All,
            eos: None,
        }
    }
}

/// Samples continuations of `prompts` (each non-empty) from a causal `model` under
/// `intervention`, recomputing the full prefix each step (no cache, so positions are
/// absolute and [`Scope`] is exact). Returns the generated tokens per prompt.
pub fn sample<M: LanguageModel + ?Sized>(
    model: &M,
    prompts: &[Vec<u32>],
    intervention: Option<&Intervention>,
    opts: &SampleOptions,
    seed: u64,
    device: &Device,
) -> Result<Vec<Vec<u32>>> {
    if !model.is_causal() {
        return Err(Error::InvalidInput(
            "sample: the model is not causal".into(),
        ));
    }
    if !(opts.temperature > 0.0
        && opts.temperature.is_finite()
        && opts.top_p > 0.0
        && opts.top_p <= 1.0)
    {
        return Err(Error::InvalidInput(format!(
            "sample: temperature {} must be > 0 and top_p {} in (0, 1]",
            opts.temperature, opts.top_p
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(prompts.len());
    for (pi, p) in prompts.iter().enumerate() {
        if p.is_empty() {
            return Err(Error::InvalidInput(format!("sample: prompt {pi} is empty")));
        }
        let mut seq = p.clone();
        let mut generated = Vec::new();
        for _ in 0..opts.new_tokens {
            if seq.len() >= model.max_len() {
                break;
            }
            let t = seq.len();
            let ids = Tensor::<1, Int>::from_data(
                TensorData::new(seq.iter().map(|&x| x as i64).collect::<Vec<_>>(), [t]),
                device,
            )
            .reshape([1, t]);
            let mut fo = ForwardOptions::logits();
            if let Some(iv) = intervention {
                fo.intervention = Some(iv.clone().with_positions(opts.scope.positions(p.len())));
            }
            let logits = model
                .forward_with(TransformerInput::Tokens(ids), fo)?
                .logits
                .ok_or_else(|| {
                    Error::InvalidInput("sample: the model returned no logits".into())
                })?;
            let v = logits.dims()[2];
            let last = logits.slice([0..1, t - 1..t, 0..v]).reshape([v]);
            let row = ember_core::host::to_host_finite(last, "logits")?;
            let next = nucleus(&row, opts.temperature, opts.top_p, rng.random::<f64>());
            if Some(next) == opts.eos {
                break;
            }
            seq.push(next);
            generated.push(next);
        }
        out.push(generated);
    }
    Ok(out)
}

/// Draws from `softmax(logits / T)` restricted to the smallest top set of mass ≥ `top_p`,
/// with the uniform variate `u`.
pub fn nucleus(logits: &[f32], temperature: f32, top_p: f32, u: f64) -> u32 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p: Vec<(f64, u32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| ((((l - m) / temperature) as f64).exp(), i as u32))
        .collect();
    let z: f64 = p.iter().map(|x| x.0).sum();
    p.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut keep = 0;
    let mut acc = 0.0;
    while keep < p.len() {
        acc += p[keep].0 / z;
        keep += 1;
        if acc >= top_p as f64 {
            break;
        }
    }
    let mass: f64 = p[..keep].iter().map(|x| x.0).sum();
    let mut r = u * mass;
    for &(w, i) in &p[..keep] {
        if r < w {
            return i;
        }
        r -= w;
    }
    p[keep - 1].1
}
