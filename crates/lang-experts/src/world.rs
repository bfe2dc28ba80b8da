//! ConceptWorld: a synthetic taxonomy rendered into sentences, with simulated human
//! similarity ratings (the P4 reproduction's stand-in for MEN).
//!
//! `domains × categories × leaves` concepts. Every leaf owns a binary feature vector: each
//! of its domain's features is present with `p_domain`, each of its category's with
//! `p_category`, its own unique features always. Sentences state features of one concept
//! (`the dog has f1 and f2`), sometimes of two concepts from the same category, and at
//! `taxonomy_rate` a taxonomic fact (`a dog is a kind of c3`). True similarity is the cosine
//! of the feature vectors; raters score `clip(round(1 + 6 S + ε), 1, 7)`, `ε ~ N(0, σ²)`.

use ember_core::{Error, Result};
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Shape and sampling knobs of the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptWorldConfig {
    /// Top-level domains.
    pub domains: usize,
    /// Categories per domain.
    pub categories: usize,
    /// Leaf concepts per category.
    pub leaves: usize,
    /// Features owned by each domain.
    pub domain_features: usize,
    /// Features owned by each category.
    pub category_features: usize,
    /// Unique features per leaf.
    pub leaf_features: usize,
    /// Probability that a member has one of its domain's features.
    pub p_domain: f64,
    /// Probability that a member has one of its category's features.
    pub p_category: f64,
    /// Share of sentences about two concepts.
    pub two_concept_rate: f64,
    /// Share of taxonomic sentences (`x is a kind of y`).
    pub taxonomy_rate: f64,
}

impl Default for ConceptWorldConfig {
    fn default() -> Self {
        ConceptWorldConfig {
            domains: 4,
            categories: 4,
            leaves: 5,
            domain_features: 10,
            category_features: 8,
            leaf_features: 4,
            p_domain: 0.9,
            p_category: 0.85,
            two_concept_rate: 0.15,
            taxonomy_rate: 0.05,
        }
    }
}

impl ConceptWorldConfig {
    /// Checks every knob.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidInput(format!("concept world: {m}")));
        if self.domains == 0 || self.categories == 0 || self.leaves < 2 {
            return bad("needs >= 1 domain, >= 1 category and >= 2 leaves");
        }
        if self.domain_features + self.category_features + self.leaf_features == 0 {
            return bad("needs features");
        }
        for (k, p) in [
            ("p_domain", self.p_domain),
            ("p_category", self.p_category),
            ("two_concept_rate", self.two_concept_rate),
            ("taxonomy_rate", self.taxonomy_rate),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(&format!("{k} = {p} outside [0, 1]"));
            }
        }
        Ok(())
    }
}

/// A sampled world: concept names, taxonomy, feature vectors and the word vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct ConceptWorld {
    /// The settings.
    pub config: ConceptWorldConfig,
    /// Leaf names (`x0`, `x1`, ...).
    pub leaves: Vec<String>,
    /// Category of each leaf.
    pub category: Vec<usize>,
    /// Domain of each leaf.
    pub domain: Vec<usize>,
    /// Binary feature vectors of the leaves, `[n_leaves][n_features]`.
    pub features: Vec<Vec<bool>>,
    /// Vocabulary: specials, then leaves, categories, domains, features, function words.
    pub vocab: Vec<String>,
}

/// Padding id of every vocabulary here.
pub const PAD: u32 = 0;
/// Sentence separator / start id.
pub const BOS: u32 = 1;
const FUNCTION: [&str; 8] = ["the", "has", "and", "a", "is", "kind", "of", "with"];

impl ConceptWorld {
    /// Samples the world from `seed`.
    pub fn new(config: ConceptWorldConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let c = &config;
        let n_cat = c.domains * c.categories;
        let n_leaf = n_cat * c.leaves;
        let n_feat =
            c.domains * c.domain_features + n_cat * c.category_features + n_leaf * c.leaf_features;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut leaves = Vec::new();
        let (mut category, mut domain, mut features) = (Vec::new(), Vec::new(), Vec::new());
        for l in 0..n_leaf {
            let cat = l / c.leaves;
            let dom = cat / c.categories;
            let mut f = vec![false; n_feat];
            for k in 0..c.domain_features {
                f[dom * c.domain_features + k] = rng.random::<f64>() < c.p_domain;
            }
            let base = c.domains * c.domain_features;
            for k in 0..c.category_features {
                f[base + cat * c.category_features + k] = rng.random::<f64>() < c.p_category;
            }
            let base = base + n_cat * c.category_features;
            for k in 0..c.leaf_features {
                f[base + l * c.leaf_features + k] = true;
            }
            leaves.push(format!("x{l}"));
            category.push(cat);
            domain.push(dom);
            features.push(f);
        }
        let mut vocab: Vec<String> = vec!["<pad>".into(), "<s>".into()];
        vocab.extend(leaves.iter().cloned());
        vocab.extend((0..n_cat).map(|k| format!("cat{k}")));
        vocab.extend((0..c.domains).map(|k| format!("dom{k}")));
        vocab.extend((0..n_feat).map(|k| format!("f{k}")));
        vocab.extend(FUNCTION.iter().map(|s| s.to_string()));
        Ok(ConceptWorld {
            config,
            leaves,
            category,
            domain,
            features,
            vocab,
        })
    }

    /// Token id of a word of the vocabulary.
    pub fn id(&self, w: &str) -> u32 {
        self.vocab.iter().position(|v| v == w).unwrap_or(0) as u32
    }

    /// Token id of leaf `l`.
    pub fn leaf_id(&self, l: usize) -> u32 {
        2 + l as u32
    }

    fn feature_id(&self, f: usize) -> u32 {
        let n_cat = self.config.domains * self.config.categories;
        (2 + self.leaves.len() + n_cat + self.config.domains + f) as u32
    }

    /// True similarity: cosine of the binary feature vectors of leaves `i` and `j`.
    pub fn similarity(&self, i: usize, j: usize) -> f64 {
        let (a, b) = (&self.features[i], &self.features[j]);
        let dot = a.iter().zip(b).filter(|(x, y)| **x && **y).count() as f64;
        let na = a.iter().filter(|x| **x).count() as f64;
        let nb = b.iter().filter(|x| **x).count() as f64;
        dot / (na * nb).sqrt().max(1e-12)
    }

    /// One sentence (token ids, starting with [`BOS`]) and the leaves it mentions.
    pub fn sentence(&self, rng: &mut ChaCha8Rng) -> (Vec<u32>, Vec<usize>) {
        let n = self.leaves.len();
        let a = rng.random_range(0..n);
        let w = |s: &str| self.id(s);
        let feats = |l: usize, rng: &mut ChaCha8Rng| -> u32 {
            let on: Vec<usize> = (0..self.features[l].len())
                .filter(|&f| self.features[l][f])
                .collect();
            self.feature_id(*on.choose(rng).unwrap_or(&0))
        };
        let u: f64 = rng.random();
        if u < self.config.taxonomy_rate {
            let cat = self.category[a];
            let s = vec![
                BOS,
                w("a"),
                self.leaf_id(a),
                w("is"),
                w("a"),
                w("kind"),
                w("of"),
                w(&format!("cat{cat}")),
            ];
            return (s, vec![a]);
        }
        if u < self.config.taxonomy_rate + self.config.two_concept_rate {
            // the second concept: same category with probability 0.6
            let b = if rng.random::<f64>() < 0.6 {
                let cat = self.category[a];
                let lv = self.config.leaves;
                let mut b = cat * lv + rng.random_range(0..lv);
                if b == a {
                    b = cat * lv + (b + 1 - cat * lv) % lv;
                }
                b
            } else {
                let mut b = rng.random_range(0..n);
                if b == a {
                    b = (b + 1) % n;
                }
                b
            };
            let s = vec![
                BOS,
                w("the"),
                self.leaf_id(a),
                w("and"),
                w("the"),
                self.leaf_id(b),
                w("has"),
                feats(a, rng),
            ];
            return (s, vec![a, b]);
        }
        let mut s = vec![BOS, w("the"), self.leaf_id(a), w("has"), feats(a, rng)];
        if rng.random::<f64>() < 0.5 {
            s.push(w("and"));
            s.push(feats(a, rng));
        }
        if rng.random::<f64>() < 0.3 {
            s.push(w("with"));
            s.push(feats(a, rng));
        }
        (s, vec![a])
    }

    /// `n` sentences with their mentioned leaves.
    pub fn corpus(&self, n: usize, seed: u64) -> Vec<(Vec<u32>, Vec<usize>)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| self.sentence(&mut rng)).collect()
    }
}

/// Simulated ratings of word pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratings {
    /// Leaf pairs `(i, j)`, `i < j`.
    pub pairs: Vec<(usize, usize)>,
    /// Per rater, per pair, 1..=7.
    pub scores: Vec<Vec<f64>>,
}

impl Ratings {
    /// `raters` raters score every pair: `clip(round(1 + 6 S + ε), 1, 7)`, `ε ~ N(0, σ²)`.
    pub fn simulate(
        world: &ConceptWorld,
        pairs: Vec<(usize, usize)>,
        raters: usize,
        sigma: f64,
        seed: u64,
    ) -> Result<Self> {
        if raters < 2 || pairs.len() < 3 || !(sigma >= 0.0 && sigma.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "ratings: need >= 2 raters, >= 3 pairs and a finite sigma >= 0 (got {raters}, {}, {sigma})",
                pairs.len()
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal =
            Normal::new(0.0, sigma.max(1e-12)).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let truth: Vec<f64> = pairs.iter().map(|&(i, j)| world.similarity(i, j)).collect();
        let scores = (0..raters)
            .map(|_| {
                truth
                    .iter()
                    .map(|s| {
                        (1.0 + 6.0 * s + normal.sample(&mut rng))
                            .round()
                            .clamp(1.0, 7.0)
                    })
                    .collect()
            })
            .collect();
        Ok(Ratings { pairs, scores })
    }

    /// Mean rating per pair.
    pub fn mean(&self) -> Vec<f64> {
        let r = self.scores.len() as f64;
        (0..self.pairs.len())
            .map(|p| self.scores.iter().map(|s| s[p]).sum::<f64>() / r)
            .collect()
    }

    /// Split-half reliability with the Spearman–Brown correction, averaged over `splits`
    /// random rater splits: `2ρ / (1 + ρ)` with `ρ` the Spearman correlation of the halves'
    /// mean ratings.
    pub fn split_half(&self, splits: usize, seed: u64) -> Result<f64> {
        use rand::seq::SliceRandom;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let r = self.scores.len();
        let mut idx: Vec<usize> = (0..r).collect();
        let mut acc = 0.0;
        for _ in 0..splits.max(1) {
            idx.shuffle(&mut rng);
            let half = |ids: &[usize]| -> Vec<f64> {
                (0..self.pairs.len())
                    .map(|p| ids.iter().map(|&k| self.scores[k][p]).sum::<f64>() / ids.len() as f64)
                    .collect()
            };
            let rho = ember_core::metrics::spearman(&half(&idx[..r / 2]), &half(&idx[r / 2..]))?;
            acc += 2.0 * rho / (1.0 + rho);
        }
        Ok(acc / splits.max(1) as f64)
    }
}

/// The σ in `grid` whose split-half reliability is closest to `target` (the paper's
/// human–human agreement, about 0.84).
pub fn calibrate_sigma(
    world: &ConceptWorld,
    pairs: &[(usize, usize)],
    raters: usize,
    target: f64,
    seed: u64,
) -> Result<(f64, f64)> {
    let mut best = (f64::NAN, f64::NAN, f64::INFINITY);
    for k in 1..=60 {
        let sigma = 0.05 * k as f64;
        let r = Ratings::simulate(world, pairs.to_vec(), raters, sigma, seed)?;
        let rel = r.split_half(5, seed)?;
        if (rel - target).abs() < best.2 {
            best = (sigma, rel, (rel - target).abs());
        }
    }
    Ok((best.0, best.1))
}
