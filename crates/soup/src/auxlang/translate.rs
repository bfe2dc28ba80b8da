//! A noisy machine-translation stand-in A → T (spec §5.2, E3; paper §4.4).
//!
//! The "system" knows the abstract content of an A document and writes it in T, but
//! corrupts each content symbol independently with probability `ε`: with probability
//! `drop_share` it is dropped, otherwise it is substituted by a different random symbol of
//! the same class (entity → entity, value → value of the same relation, relation →
//! relation, function word → function word). Anchors ([`DOT`], [`EOS`]) are never corrupted.
//! A class with a single member cannot be substituted: its symbol is then kept (and counted
//! as substituted, so the measured rate stays `ε`).

use super::language::{DOT, EOS, Symbol, TokenLanguage};
use super::world::{FactDocument, FactWorld};
use ember_core::{Error, Result};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The corruption model of [`NoisyTranslator`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoisyTranslator {
    /// Per-symbol corruption probability `ε` (spec: 0.3, 0.1, 0.02).
    pub epsilon: f64,
    /// Share of corruptions that drop the symbol; the rest substitute it (default 0.5).
    /// [reconstructed]
    pub drop_share: f64,
}

/// What a translation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslationStats {
    /// Content symbols read.
    pub symbols: usize,
    /// Symbols substituted.
    pub substituted: usize,
    /// Symbols dropped.
    pub dropped: usize,
}

impl TranslationStats {
    /// `(substituted + dropped) / symbols`.
    pub fn corruption_rate(&self) -> f64 {
        (self.substituted + self.dropped) as f64 / self.symbols.max(1) as f64
    }
}

impl NoisyTranslator {
    /// A translator with corruption probability `epsilon`, half drops and half substitutions.
    ///
    /// Errors: `epsilon` outside `[0, 1]`.
    pub fn new(epsilon: f64) -> Result<Self> {
        let t = Self {
            epsilon,
            drop_share: 0.5,
        };
        t.validate()?;
        Ok(t)
    }

    /// Errors unless `epsilon` and `drop_share` are in `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.epsilon) || !(0.0..=1.0).contains(&self.drop_share) {
            return Err(Error::InvalidInput(format!(
                "NoisyTranslator: epsilon ({}) and drop_share ({}) must be in [0, 1]",
                self.epsilon, self.drop_share
            )));
        }
        Ok(())
    }

    /// Translate `docs` into `target` as one token stream (each document ends with [`EOS`]).
    ///
    /// Errors: an invalid translator.
    pub fn translate(
        &self,
        world: &FactWorld,
        target: &TokenLanguage,
        docs: &[FactDocument],
        rng: &mut ChaCha8Rng,
    ) -> Result<(Vec<u32>, TranslationStats)> {
        self.validate()?;
        let c = world.config();
        let (ne, nr, nv, nf) = (
            world.n_entities(),
            c.n_relations,
            c.values_per_relation,
            c.n_function_words,
        );
        // A uniform draw from 0..n other than `x` (x itself when n == 1).
        let other = |x: usize, n: usize, rng: &mut ChaCha8Rng| -> usize {
            if n <= 1 {
                return x;
            }
            let y = rng.random_range(0..n - 1);
            if y >= x { y + 1 } else { y }
        };
        let mut stats = TranslationStats::default();
        let mut out = Vec::new();
        for d in docs {
            for s in &d.sentences {
                for sym in target.sentence_symbols(s) {
                    stats.symbols += 1;
                    if rng.random::<f64>() >= self.epsilon {
                        out.extend_from_slice(target.ids(sym));
                        continue;
                    }
                    if rng.random::<f64>() < self.drop_share {
                        stats.dropped += 1;
                        continue;
                    }
                    stats.substituted += 1;
                    let sub = match sym {
                        Symbol::Entity(e) => Symbol::Entity(other(e, ne, rng)),
                        Symbol::Relation(r) => Symbol::Relation(other(r, nr, rng)),
                        Symbol::Value(r, v) => Symbol::Value(r, other(v, nv, rng)),
                        Symbol::Func(w) => Symbol::Func(other(w, nf, rng)),
                    };
                    out.extend_from_slice(target.ids(sub));
                }
                out.push(DOT);
            }
            out.push(EOS);
        }
        Ok((out, stats))
    }
}
