//! Multiple-choice fact QA (spec §5.2, "Metrics").
//!
//! A question is a fact (entity, relation); its candidates are *every* value of the
//! relation, each written as the full sentence of the language (`ENT REL VAL .` or
//! `VAL REL ENT .`) after the [`EOS`] context token. A candidate's score is the
//! length-normalised log-likelihood of its sentence,
//!
//! ```text
//! score(v) = (1 / |s_v|) · Σ_{t ∈ s_v} log p(x_t | x_<t),   s_v = render(ENT, REL, v) + "."
//! ```
//!
//! and the model answers `argmax_v score(v)` (ties go to the lowest index). Chance is
//! `1 / values_per_relation`. Scoring the whole sentence (not just the value token) is what
//! makes value-first questions (C3's OVS order) answerable: there the value comes first and
//! the fact is carried by `p(ENT | VAL REL)`.

use super::language::{EOS, TokenLanguage};
use super::world::{Fact, FactSet, FactWorld};
use burn::prelude::*;
use ember_core::lm::sequence_logprobs;
use ember_core::nn::Transformer;
use ember_core::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaItem {
    /// The fact asked about (its true value is `candidates[correct]`'s value).
    pub fact: Fact,
    /// Per candidate value: `[EOS] + sentence + [.]` token ids.
    pub candidates: Vec<Vec<u32>>,
    /// Index of the true value.
    pub correct: usize,
}

/// Accuracy of a set of questions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QaResult {
    /// Fraction answered correctly.
    pub accuracy: f64,
    /// Number of questions.
    pub n: usize,
    /// Chance accuracy (mean of `1 / #candidates`).
    pub chance: f64,
}

impl QaResult {
    /// Binomial standard error of the accuracy, `sqrt(a(1-a)/n)`.
    pub fn std_err(&self) -> f64 {
        (self.accuracy * (1.0 - self.accuracy) / self.n.max(1) as f64).sqrt()
    }
}

/// Questions in `lang` about the facts of `facts` (all of them, or a seeded random subset of
/// `max_items`), in entity-major order.
///
/// Errors: an empty fact set.
pub fn qa_items(
    world: &FactWorld,
    lang: &TokenLanguage,
    facts: &FactSet,
    max_items: Option<usize>,
    seed: u64,
) -> Result<Vec<QaItem>> {
    let mut pairs = facts.pairs();
    if pairs.is_empty() {
        return Err(Error::InvalidInput("qa_items: empty fact set".into()));
    }
    if let Some(m) = max_items
        && m < pairs.len()
    {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        pairs.shuffle(&mut rng);
        pairs.truncate(m);
        pairs.sort_unstable();
    }
    let nv = world.config().values_per_relation;
    pairs
        .into_iter()
        .map(|(e, r)| {
            let fact = world.fact(e, r)?;
            let candidates = (0..nv)
                .map(|v| {
                    let mut seq = vec![EOS];
                    lang.render_symbols(
                        &lang.fact_symbols(&Fact {
                            entity: e,
                            relation: r,
                            value: v,
                        }),
                        &mut seq,
                    );
                    seq.push(super::language::DOT);
                    seq
                })
                .collect();
            Ok(QaItem {
                fact,
                candidates,
                correct: fact.value,
            })
        })
        .collect()
}

/// Length-normalised log-likelihood of every candidate of every item (`[item][candidate]`),
/// scoring all tokens after the leading context token, in batches of `batch` sequences.
///
/// Errors: as [`sequence_logprobs`] (e.g. a non-causal model, sequences longer than the
/// model's context).
pub fn score_items(
    model: &Transformer,
    items: &[QaItem],
    batch: usize,
    device: &Device,
) -> Result<Vec<Vec<f64>>> {
    let seqs: Vec<Vec<u32>> = items
        .iter()
        .flat_map(|it| it.candidates.iter().cloned())
        .collect();
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let from = vec![1usize; seqs.len()];
    let lp = sequence_logprobs(model, &seqs, &from, batch, device)?;
    let mut out = Vec::with_capacity(items.len());
    let mut k = 0;
    for it in items {
        let row = lp[k..k + it.candidates.len()]
            .iter()
            .map(|&(sum, n)| sum / n.max(1) as f64)
            .collect();
        k += it.candidates.len();
        out.push(row);
    }
    Ok(out)
}

/// Index of the largest score (ties: lowest index; NaN never wins). `None` when empty.
pub fn argmax(scores: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_nan() {
            continue;
        }
        if best.is_none_or(|b| s > scores[b]) {
            best = Some(i);
        }
    }
    best
}

/// Accuracy of `scores` (`[item][candidate]`) against the items' correct indices.
///
/// Errors: a different number of score rows and items, or an empty set.
pub fn accuracy_from_scores(items: &[QaItem], scores: &[Vec<f64>]) -> Result<QaResult> {
    if items.len() != scores.len() {
        return Err(Error::Shape(format!(
            "accuracy_from_scores: {} items, {} score rows",
            items.len(),
            scores.len()
        )));
    }
    if items.is_empty() {
        return Err(Error::InvalidInput("accuracy_from_scores: no items".into()));
    }
    let correct = items
        .iter()
        .zip(scores)
        .filter(|(it, s)| argmax(s) == Some(it.correct))
        .count();
    let chance = items
        .iter()
        .map(|it| 1.0 / it.candidates.len().max(1) as f64)
        .sum::<f64>()
        / items.len() as f64;
    Ok(QaResult {
        accuracy: correct as f64 / items.len() as f64,
        n: items.len(),
        chance,
    })
}

/// Multiple-choice accuracy of `model` on `items` ([`score_items`] then argmax).
pub fn qa_accuracy(
    model: &Transformer,
    items: &[QaItem],
    batch: usize,
    device: &Device,
) -> Result<QaResult> {
    let scores = score_items(model, items, batch, device)?;
    accuracy_from_scores(items, &scores)
}
