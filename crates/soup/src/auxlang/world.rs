//! The latent fact world shared by both languages, and corpora of abstract documents drawn
//! from it (spec §5.2, "Latent world").
//!
//! * `n_topics × entities_per_topic` entities; entity `e` belongs to topic
//!   `e / entities_per_topic`.
//! * `n_relations` relations, each with its own set of `values_per_relation` values.
//! * A *fact* is an (entity, relation) pair with a value drawn uniformly at random once, when
//!   the world is built: [`FactWorld::value`].
//! * A *document* picks one topic and writes `doc_sentences` sentences about it. Each
//!   sentence is, with probability `1 − q`, a fact statement about an entity of that topic,
//!   and with probability `q` low-information *filler* from a topic-agnostic Markov chain over
//!   function words ([`FactWorld::filler`]). `q` is the corpus *quality knob*
//!   ([`CorpusConfig::filler_prob`]): ≈ 0.8 is "mC4-like", ≈ 0.2 "FineWeb-EDU-like".
//!
//! Documents are abstract (symbols, not token ids); a [`TokenLanguage`](super::TokenLanguage) renders
//! them to token ids.

use ember_core::seed::Seed;
use ember_core::{Error, Result};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Sizes of the fact world and of its documents. Defaults follow spec §5.2 where it gives a
/// number; the filler-chain shape is reconstructed (the spec only says "low-information").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactWorldConfig {
    /// Topics (default 8).
    pub n_topics: usize,
    /// Entities per topic (default 30).
    pub entities_per_topic: usize,
    /// Relations (default 6).
    pub n_relations: usize,
    /// Values per relation; each relation has its own value set (default 20).
    pub values_per_relation: usize,
    /// Function words of the filler chain (default 16). [reconstructed]
    pub n_function_words: usize,
    /// Successors with non-zero probability per function word in the filler chain (default
    /// 3): a small branching factor keeps filler low-information. [reconstructed]
    pub filler_branching: usize,
    /// Words per filler sentence, inclusive range (default 3..=6). [reconstructed]
    pub filler_len: (usize, usize),
    /// Sentences per document, inclusive range (default 8..=16, spec §5.2).
    pub doc_sentences: (usize, usize),
    /// Seed of the fact values and of the filler chain.
    pub seed: u64,
}

impl Default for FactWorldConfig {
    fn default() -> Self {
        Self {
            n_topics: 8,
            entities_per_topic: 30,
            n_relations: 6,
            values_per_relation: 20,
            n_function_words: 16,
            filler_branching: 3,
            filler_len: (3, 6),
            doc_sentences: (8, 16),
            seed: 0,
        }
    }
}

impl FactWorldConfig {
    /// Errors unless every size is positive, the ranges are ordered and the branching factor
    /// fits the function words.
    pub fn validate(&self) -> Result<()> {
        let pos = [
            ("n_topics", self.n_topics),
            ("entities_per_topic", self.entities_per_topic),
            ("n_relations", self.n_relations),
            ("values_per_relation", self.values_per_relation),
            ("n_function_words", self.n_function_words),
            ("filler_branching", self.filler_branching),
            ("filler_len.0", self.filler_len.0),
            ("doc_sentences.0", self.doc_sentences.0),
        ];
        for (name, v) in pos {
            if v == 0 {
                return Err(Error::InvalidInput(format!(
                    "FactWorldConfig: {name} must be positive"
                )));
            }
        }
        if self.values_per_relation < 2 {
            return Err(Error::InvalidInput(
                "FactWorldConfig: values_per_relation must be at least 2 (multiple choice needs distractors)".into(),
            ));
        }
        if self.filler_branching > self.n_function_words {
            return Err(Error::InvalidInput(format!(
                "FactWorldConfig: filler_branching ({}) exceeds n_function_words ({})",
                self.filler_branching, self.n_function_words
            )));
        }
        if self.filler_len.0 > self.filler_len.1 || self.doc_sentences.0 > self.doc_sentences.1 {
            return Err(Error::InvalidInput(format!(
                "FactWorldConfig: empty range filler_len {:?} or doc_sentences {:?}",
                self.filler_len, self.doc_sentences
            )));
        }
        let ids = self.n_topics * self.entities_per_topic
            + self.n_relations * (1 + self.values_per_relation)
            + self.n_function_words;
        if ids > u32::MAX as usize / 4 {
            return Err(Error::InvalidInput(format!(
                "FactWorldConfig: {ids} symbols is too many"
            )));
        }
        Ok(())
    }
}

/// One fact: `entity` has value `value` (index into the relation's own value set) for
/// `relation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fact {
    /// Entity index, `0..n_entities`.
    pub entity: usize,
    /// Relation index, `0..n_relations`.
    pub relation: usize,
    /// Value index within the relation's value set, `0..values_per_relation`.
    pub value: usize,
}

/// A sentence of the fact world before any language renders it (symbols, not words or
/// token ids; [`TokenLanguage::render_sentence`](super::TokenLanguage::render_sentence)
/// writes it). Not ember-core's synthlang `Sentence`, which is already rendered text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FactSentence {
    /// `[ENT REL VAL .]` (in the language's word order).
    Fact(Fact),
    /// Function-word indices drawn from the filler chain, then `.`.
    Filler(Vec<usize>),
}

/// An abstract document of the fact world: topic-coherent [`FactSentence`]s, rendered to a
/// token stream by a [`TokenLanguage`](super::TokenLanguage). Not a text record: that is
/// [`TextDocument`](crate::TextDocument), the JSONL reader's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactDocument {
    /// The topic all its fact sentences are about.
    pub topic: usize,
    /// Its sentences.
    pub sentences: Vec<FactSentence>,
}

impl FactDocument {
    /// Abstract length: 4 symbols per fact sentence (`ENT REL VAL .`), `len + 1` per filler
    /// sentence, plus 1 end-of-document marker. A language that splits entities renders one
    /// more token per fact sentence.
    pub fn symbols(&self) -> usize {
        1 + self
            .sentences
            .iter()
            .map(|s| match s {
                FactSentence::Fact(_) => 4,
                FactSentence::Filler(w) => w.len() + 1,
            })
            .sum::<usize>()
    }

    /// The facts it states.
    pub fn facts(&self) -> impl Iterator<Item = &Fact> {
        self.sentences.iter().filter_map(|s| match s {
            FactSentence::Fact(f) => Some(f),
            FactSentence::Filler(_) => None,
        })
    }
}

/// Which (entity, relation) pairs a corpus may state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactSet {
    n_relations: usize,
    member: Vec<bool>,
}

impl FactSet {
    /// Every fact of the world.
    pub fn all(world: &FactWorld) -> Self {
        Self {
            n_relations: world.cfg.n_relations,
            member: vec![true; world.n_facts()],
        }
    }

    /// A *stratified* subset: for every entity, `round(fraction × n_relations)` of its
    /// relations (at least one when `fraction > 0`), chosen at random from `seed`. Every
    /// entity therefore occurs in a corpus restricted to this set, which is what lets a
    /// model align a target entity with its auxiliary twin through the shared facts.
    ///
    /// Errors: `fraction` outside `[0, 1]`.
    pub fn stratified(world: &FactWorld, fraction: f64, seed: u64) -> Result<Self> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::InvalidInput(format!(
                "FactSet::stratified: fraction must be in [0, 1], got {fraction}"
            )));
        }
        let nr = world.cfg.n_relations;
        let mut k = (fraction * nr as f64).round() as usize;
        if fraction > 0.0 {
            k = k.max(1);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut member = vec![false; world.n_facts()];
        let mut rels: Vec<usize> = (0..nr).collect();
        for e in 0..world.n_entities() {
            rels.shuffle(&mut rng);
            for &r in &rels[..k] {
                member[e * nr + r] = true;
            }
        }
        Ok(Self {
            n_relations: nr,
            member,
        })
    }

    /// Whether (entity, relation) is in the set.
    pub fn contains(&self, entity: usize, relation: usize) -> bool {
        relation < self.n_relations
            && self
                .member
                .get(entity * self.n_relations + relation)
                .copied()
                .unwrap_or(false)
    }

    /// The facts of the world that are *not* in this set (e.g. facts only the auxiliary
    /// corpus states).
    pub fn complement(&self) -> Self {
        Self {
            n_relations: self.n_relations,
            member: self.member.iter().map(|m| !m).collect(),
        }
    }

    /// Number of facts in the set.
    pub fn len(&self) -> usize {
        self.member.iter().filter(|&&m| m).count()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fraction of the world's facts in the set.
    pub fn fraction(&self) -> f64 {
        self.len() as f64 / self.member.len().max(1) as f64
    }

    /// The (entity, relation) pairs in the set, in entity-major order.
    pub fn pairs(&self) -> Vec<(usize, usize)> {
        self.member
            .iter()
            .enumerate()
            .filter(|&(_, &m)| m)
            .map(|(i, _)| (i / self.n_relations, i % self.n_relations))
            .collect()
    }
}

/// How to draw a corpus of documents from the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusConfig {
    /// Probability `q` that a sentence is filler rather than a fact statement: the quality
    /// knob (low quality ≈ 0.8, high quality ≈ 0.2).
    pub filler_prob: f64,
    /// Draw documents until their total abstract length ([`FactDocument::symbols`]) reaches this.
    pub min_symbols: usize,
    /// Seed of the document stream.
    pub seed: u64,
}

impl CorpusConfig {
    /// A corpus of at least `min_symbols` abstract symbols with filler probability `q`.
    pub fn new(filler_prob: f64, min_symbols: usize, seed: u64) -> Self {
        Self {
            filler_prob,
            min_symbols,
            seed,
        }
    }
}

/// The fact world: fact values and the filler chain. Build with [`FactWorld::new`].
///
/// Unlike ember-core's synthlang `World` (a concept hierarchy sampled into meanings), every
/// (entity, relation) pair here has one true value, which is what QA asks about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactWorld {
    cfg: FactWorldConfig,
    /// `values[e * n_relations + r]`: the value of fact (e, r).
    values: Vec<usize>,
    /// Filler chain: per function word, its successors and cumulative probabilities.
    chain: Vec<Vec<(usize, f64)>>,
}

impl FactWorld {
    /// Draw fact values and the filler chain from `cfg.seed`.
    ///
    /// Errors: an invalid config ([`FactWorldConfig::validate`]).
    pub fn new(cfg: FactWorldConfig) -> Result<Self> {
        cfg.validate()?;
        let mut rng = Seed::new(cfg.seed).derive("fact-values").rng();
        let n_facts = cfg.n_topics * cfg.entities_per_topic * cfg.n_relations;
        let values = (0..n_facts)
            .map(|_| rng.random_range(0..cfg.values_per_relation))
            .collect();
        let nf = cfg.n_function_words;
        let mut chain = Vec::with_capacity(nf);
        let mut words: Vec<usize> = (0..nf).collect();
        for _ in 0..nf {
            words.shuffle(&mut rng);
            let mut succ: Vec<(usize, f64)> = words[..cfg.filler_branching]
                .iter()
                .map(|&w| (w, 0.2 + rng.random::<f64>()))
                .collect();
            let total: f64 = succ.iter().map(|s| s.1).sum();
            let mut acc = 0.0;
            for s in &mut succ {
                acc += s.1 / total;
                s.1 = acc;
            }
            if let Some(last) = succ.last_mut() {
                last.1 = 1.0;
            }
            chain.push(succ);
        }
        Ok(Self { cfg, values, chain })
    }

    /// Its configuration.
    pub fn config(&self) -> &FactWorldConfig {
        &self.cfg
    }

    /// Number of entities.
    pub fn n_entities(&self) -> usize {
        self.cfg.n_topics * self.cfg.entities_per_topic
    }

    /// Number of facts (`n_entities × n_relations`).
    pub fn n_facts(&self) -> usize {
        self.values.len()
    }

    /// Topic of `entity`.
    pub fn topic_of(&self, entity: usize) -> usize {
        entity / self.cfg.entities_per_topic
    }

    /// The true value of (entity, relation).
    ///
    /// Errors: an index out of range.
    pub fn value(&self, entity: usize, relation: usize) -> Result<usize> {
        if entity >= self.n_entities() || relation >= self.cfg.n_relations {
            return Err(Error::InvalidInput(format!(
                "FactWorld::value: ({entity}, {relation}) outside {} entities x {} relations",
                self.n_entities(),
                self.cfg.n_relations
            )));
        }
        Ok(self.values[entity * self.cfg.n_relations + relation])
    }

    /// The fact (entity, relation, true value).
    pub fn fact(&self, entity: usize, relation: usize) -> Result<Fact> {
        Ok(Fact {
            entity,
            relation,
            value: self.value(entity, relation)?,
        })
    }

    /// One filler sentence: a walk of the function-word Markov chain (uniform start), with a
    /// length uniform in `filler_len`.
    pub fn filler(&self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let (lo, hi) = self.cfg.filler_len;
        let len = rng.random_range(lo..=hi);
        let mut w = rng.random_range(0..self.cfg.n_function_words);
        let mut out = Vec::with_capacity(len);
        out.push(w);
        for _ in 1..len {
            let u: f64 = rng.random();
            let row = &self.chain[w];
            w = row
                .iter()
                .find(|s| u < s.1)
                .or(row.last())
                .map(|s| s.0)
                .unwrap_or(0);
            out.push(w);
        }
        out
    }

    /// Successor probabilities of function word `w` in the filler chain (for tests and
    /// entropy figures).
    pub fn filler_successors(&self, w: usize) -> Vec<(usize, f64)> {
        let mut prev = 0.0;
        self.chain
            .get(w)
            .map(|row| {
                row.iter()
                    .map(|&(s, c)| {
                        let p = c - prev;
                        prev = c;
                        (s, p)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Draw documents until their abstract length reaches `cfg.min_symbols`. Fact sentences
    /// state only facts in `facts`: a document picks a topic uniformly among topics that have
    /// at least one such fact, then each fact sentence a uniform (entity, relation) pair of
    /// that topic in `facts`. Deterministic in (`self`, `cfg`, `facts`).
    ///
    /// Errors: `filler_prob` outside `[0, 1]`; `facts` empty while `filler_prob < 1`; a
    /// fact set built for another world.
    pub fn documents(&self, cfg: &CorpusConfig, facts: &FactSet) -> Result<Vec<FactDocument>> {
        if !(0.0..=1.0).contains(&cfg.filler_prob) {
            return Err(Error::InvalidInput(format!(
                "CorpusConfig: filler_prob must be in [0, 1], got {}",
                cfg.filler_prob
            )));
        }
        if facts.member.len() != self.n_facts() || facts.n_relations != self.cfg.n_relations {
            return Err(Error::Shape(format!(
                "FactWorld::documents: fact set of {} facts, world has {}",
                facts.member.len(),
                self.n_facts()
            )));
        }
        let ept = self.cfg.entities_per_topic;
        let nr = self.cfg.n_relations;
        let by_topic: Vec<Vec<(usize, usize)>> = (0..self.cfg.n_topics)
            .map(|t| {
                (t * ept..(t + 1) * ept)
                    .flat_map(|e| (0..nr).map(move |r| (e, r)))
                    .filter(|&(e, r)| facts.contains(e, r))
                    .collect()
            })
            .collect();
        let topics: Vec<usize> = (0..self.cfg.n_topics)
            .filter(|&t| !by_topic[t].is_empty())
            .collect();
        if topics.is_empty() && cfg.filler_prob < 1.0 {
            return Err(Error::InvalidInput(
                "FactWorld::documents: empty fact set with filler_prob < 1".into(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut docs = Vec::new();
        let mut total = 0usize;
        let (lo, hi) = self.cfg.doc_sentences;
        while total < cfg.min_symbols {
            let topic = if topics.is_empty() {
                rng.random_range(0..self.cfg.n_topics)
            } else {
                topics[rng.random_range(0..topics.len())]
            };
            let n = rng.random_range(lo..=hi);
            let mut sentences = Vec::with_capacity(n);
            for _ in 0..n {
                if rng.random::<f64>() < cfg.filler_prob {
                    sentences.push(FactSentence::Filler(self.filler(&mut rng)));
                } else {
                    let pairs = &by_topic[topic];
                    let (e, r) = pairs[rng.random_range(0..pairs.len())];
                    sentences.push(FactSentence::Fact(Fact {
                        entity: e,
                        relation: r,
                        value: self.values[e * nr + r],
                    }));
                }
            }
            let doc = FactDocument { topic, sentences };
            total += doc.symbols();
            docs.push(doc);
        }
        Ok(docs)
    }
}
