//! Surface realisations of the world: an auxiliary language A and a target language T that
//! share the abstract content and one token-id space (spec §5.2, "Languages").
//!
//! T differs from A by three operators ([`TokenLanguageConfig`]):
//! 1. **lexical overlap `o`**: in each symbol class (entities, relations, values, function
//!    words) exactly `round(o × class size)` symbols, chosen at random, reuse A's token id;
//!    the rest get fresh ids (the shifted-vocabulary "Fake-English" idea);
//! 2. **word order** of fact sentences, read as a clause with the entity as subject, the
//!    relation as verb and the value as object (ember-core's [`WordOrder`]): A is SVO
//!    (`ENT REL VAL .`), the far level reverses it to OVS (`VAL REL ENT .`, the spec's
//!    "head-final"); filler sentences keep their order;
//! 3. **segmentation**: the far language writes each entity as 2 sub-tokens
//!    (prefix, suffix) drawn from two small inventories shared across entities, like BPE
//!    pieces; sub-tokens are always fresh ids.
//!
//! The end-of-document id ([`EOS`]) and the sentence full stop ([`DOT`]) are shared anchors.
//! Closeness levels C0..C3 ([`Closeness`]) are the spec's table.

use super::world::{Fact, FactDocument, FactSentence, FactWorld};
use ember_core::data::synthlang::WordOrder;
use ember_core::seed::Seed;
use ember_core::{Error, Result};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// End-of-document token id, shared by both languages (also the context token that QA
/// prompts start from).
pub const EOS: u32 = 0;
/// Sentence full stop, shared by both languages.
pub const DOT: u32 = 1;

/// How T is derived from A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TokenLanguageConfig {
    /// Fraction of symbols (per class) that reuse A's token id, in `[0, 1]`.
    pub overlap: f64,
    /// Word order of fact sentences.
    pub order: WordOrder,
    /// Write entities as 2 sub-tokens.
    pub split_entities: bool,
}

impl TokenLanguageConfig {
    /// A language identical to A (overlap 1, same order, no split).
    pub fn identical() -> Self {
        Self {
            overlap: 1.0,
            order: WordOrder::Svo,
            split_entities: false,
        }
    }

    /// Errors unless `overlap` is in `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.overlap) {
            return Err(Error::InvalidInput(format!(
                "TokenLanguageConfig: overlap must be in [0, 1], got {}",
                self.overlap
            )));
        }
        Ok(())
    }
}

/// The spec's closeness levels between A and T.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Closeness {
    /// "dialect": overlap 0.9, same order, same segmentation.
    C0,
    /// "close": overlap 0.3, same order, same segmentation.
    C1,
    /// "medium": overlap 0, same order, same segmentation.
    C2,
    /// "far": overlap 0, reversed order (OVS, the spec's "head-final"), entities split into
    /// 2 sub-tokens.
    C3,
}

impl Closeness {
    /// All levels, closest first.
    pub const ALL: [Closeness; 4] = [Closeness::C0, Closeness::C1, Closeness::C2, Closeness::C3];

    /// The operators of this level.
    pub fn config(self) -> TokenLanguageConfig {
        let (overlap, order, split_entities) = match self {
            Closeness::C0 => (0.9, WordOrder::Svo, false),
            Closeness::C1 => (0.3, WordOrder::Svo, false),
            Closeness::C2 => (0.0, WordOrder::Svo, false),
            Closeness::C3 => (0.0, WordOrder::Ovs, true),
        };
        TokenLanguageConfig {
            overlap,
            order,
            split_entities,
        }
    }

    /// `C0`..`C3`.
    pub fn name(self) -> &'static str {
        match self {
            Closeness::C0 => "C0",
            Closeness::C1 => "C1",
            Closeness::C2 => "C2",
            Closeness::C3 => "C3",
        }
    }

    /// `dialect`, `close`, `medium`, `far`.
    pub fn label(self) -> &'static str {
        match self {
            Closeness::C0 => "dialect",
            Closeness::C1 => "close",
            Closeness::C2 => "medium",
            Closeness::C3 => "far",
        }
    }

    /// Parse `C0`..`C3` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        Closeness::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::InvalidInput(format!("unknown closeness level `{s}`; known: C0..C3"))
            })
    }
}

/// An abstract content symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Symbol {
    /// Entity index.
    Entity(usize),
    /// Relation index.
    Relation(usize),
    /// Value `1` of relation `0`.
    Value(usize, usize),
    /// Function word index.
    Func(usize),
}

/// One language: token ids for every abstract symbol of the fact world. It renders
/// straight to ids in an id space shared with its pair, unlike ember-core's synthlang
/// `Language` (a lexicon of word strings that a tokenizer encodes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLanguage {
    name: String,
    cfg: TokenLanguageConfig,
    /// Per entity: 1 id, or 2 (prefix, suffix) when split.
    entities: Vec<Vec<u32>>,
    relations: Vec<u32>,
    /// `values[r][v]`.
    values: Vec<Vec<u32>>,
    funcs: Vec<u32>,
}

impl TokenLanguage {
    /// `"A"` or `"T"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operators that derived it from A (A itself: [`TokenLanguageConfig::identical`]).
    pub fn config(&self) -> &TokenLanguageConfig {
        &self.cfg
    }

    /// Word order of its fact sentences.
    pub fn order(&self) -> WordOrder {
        self.cfg.order
    }

    /// Token ids of one abstract symbol (2 for a split entity). Out-of-range indices give an
    /// empty slice.
    pub fn ids(&self, s: Symbol) -> &[u32] {
        fn one(v: Option<&u32>) -> &[u32] {
            v.map(std::slice::from_ref).unwrap_or(&[])
        }
        match s {
            Symbol::Entity(e) => self.entities.get(e).map(Vec::as_slice).unwrap_or(&[]),
            Symbol::Relation(r) => one(self.relations.get(r)),
            Symbol::Value(r, v) => one(self.values.get(r).and_then(|vs| vs.get(v))),
            Symbol::Func(w) => one(self.funcs.get(w)),
        }
    }

    /// The content symbols of a sentence in this language's order (no full stop).
    pub fn sentence_symbols(&self, s: &FactSentence) -> Vec<Symbol> {
        match s {
            FactSentence::Fact(f) => self.fact_symbols(f).to_vec(),
            FactSentence::Filler(words) => words.iter().map(|&w| Symbol::Func(w)).collect(),
        }
    }

    /// The three symbols of a fact in this language's order (entity = subject, relation =
    /// verb, value = object).
    pub fn fact_symbols(&self, f: &Fact) -> [Symbol; 3] {
        let svo = [
            Symbol::Entity(f.entity),
            Symbol::Relation(f.relation),
            Symbol::Value(f.relation, f.value),
        ];
        self.cfg.order.slots().map(|i| svo[i])
    }

    /// Append the ids of `symbols` to `out`.
    pub fn render_symbols(&self, symbols: &[Symbol], out: &mut Vec<u32>) {
        for &s in symbols {
            out.extend_from_slice(self.ids(s));
        }
    }

    /// Token ids of one sentence, ending with [`DOT`].
    pub fn render_sentence(&self, s: &FactSentence) -> Vec<u32> {
        let mut out = Vec::with_capacity(6);
        self.render_symbols(&self.sentence_symbols(s), &mut out);
        out.push(DOT);
        out
    }

    /// Append a document's sentences and a final [`EOS`] to `out`.
    pub fn render_document(&self, d: &FactDocument, out: &mut Vec<u32>) {
        for s in &d.sentences {
            let syms = self.sentence_symbols(s);
            self.render_symbols(&syms, out);
            out.push(DOT);
        }
        out.push(EOS);
    }

    /// One token stream of many documents (each ends with [`EOS`]).
    pub fn stream(&self, docs: &[FactDocument]) -> Vec<u32> {
        let mut out = Vec::new();
        for d in docs {
            self.render_document(d, &mut out);
        }
        out
    }

    /// Every distinct token id the language uses (anchors included), sorted.
    pub fn token_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = vec![EOS, DOT];
        ids.extend(self.entities.iter().flatten());
        ids.extend(&self.relations);
        ids.extend(self.values.iter().flatten());
        ids.extend(&self.funcs);
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// An auxiliary language A and a target language T over one token-id space.
///
/// Id layout: `0` = [`EOS`], `1` = [`DOT`], then A's ids for entities, relations, values and
/// function words in that order, then T's fresh ids (and its entity sub-tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BilingualPair {
    aux: TokenLanguage,
    target: TokenLanguage,
    names: Vec<String>,
}

impl BilingualPair {
    /// Build A and T for `world`; the random choices of T (which symbols keep A's id, the
    /// sub-token split) come from `seed`.
    ///
    /// Errors: an invalid `target` config.
    pub fn new(world: &FactWorld, target: &TokenLanguageConfig, seed: u64) -> Result<Self> {
        target.validate()?;
        let c = world.config();
        let (ne, nr, nv, nf) = (
            world.n_entities(),
            c.n_relations,
            c.values_per_relation,
            c.n_function_words,
        );
        let mut names: Vec<String> = vec!["<eos>".into(), ".".into()];
        let fresh = |names: &mut Vec<String>, name: String| -> u32 {
            names.push(name);
            (names.len() - 1) as u32
        };
        // A: one fresh id per symbol.
        let a_ent: Vec<Vec<u32>> = (0..ne)
            .map(|e| vec![fresh(&mut names, format!("e{e}"))])
            .collect();
        let a_rel: Vec<u32> = (0..nr)
            .map(|r| fresh(&mut names, format!("r{r}")))
            .collect();
        let a_val: Vec<Vec<u32>> = (0..nr)
            .map(|r| {
                (0..nv)
                    .map(|v| fresh(&mut names, format!("v{r}_{v}")))
                    .collect()
            })
            .collect();
        let a_fun: Vec<u32> = (0..nf)
            .map(|w| fresh(&mut names, format!("w{w}")))
            .collect();
        let aux = TokenLanguage {
            name: "A".into(),
            cfg: TokenLanguageConfig::identical(),
            entities: a_ent.clone(),
            relations: a_rel.clone(),
            values: a_val.clone(),
            funcs: a_fun.clone(),
        };

        // T: per class, exactly round(o * n) symbols keep A's id.
        let mut rng = Seed::new(seed).derive("target-overlap").rng();
        let shared = |n: usize, rng: &mut ChaCha8Rng| -> Vec<bool> {
            let k = (target.overlap * n as f64).round() as usize;
            let mut keep: Vec<bool> = (0..n).map(|i| i < k).collect();
            keep.shuffle(rng);
            keep
        };
        let t_ent: Vec<Vec<u32>> = if target.split_entities {
            let n_pre = (ne as f64).sqrt().ceil().max(1.0) as usize;
            let n_suf = ne.div_ceil(n_pre);
            let pre: Vec<u32> = (0..n_pre)
                .map(|i| fresh(&mut names, format!("T.p{i}")))
                .collect();
            let suf: Vec<u32> = (0..n_suf)
                .map(|i| fresh(&mut names, format!("T.s{i}")))
                .collect();
            let mut perm: Vec<usize> = (0..ne).collect();
            perm.shuffle(&mut rng);
            perm.iter()
                .map(|&k| vec![pre[k / n_suf], suf[k % n_suf]])
                .collect()
        } else {
            let keep = shared(ne, &mut rng);
            (0..ne)
                .map(|e| {
                    if keep[e] {
                        a_ent[e].clone()
                    } else {
                        vec![fresh(&mut names, format!("T.e{e}"))]
                    }
                })
                .collect()
        };
        let keep = shared(nr, &mut rng);
        let t_rel: Vec<u32> = (0..nr)
            .map(|r| {
                if keep[r] {
                    a_rel[r]
                } else {
                    fresh(&mut names, format!("T.r{r}"))
                }
            })
            .collect();
        let keep = shared(nr * nv, &mut rng);
        let t_val: Vec<Vec<u32>> = (0..nr)
            .map(|r| {
                (0..nv)
                    .map(|v| {
                        if keep[r * nv + v] {
                            a_val[r][v]
                        } else {
                            fresh(&mut names, format!("T.v{r}_{v}"))
                        }
                    })
                    .collect()
            })
            .collect();
        let keep = shared(nf, &mut rng);
        let t_fun: Vec<u32> = (0..nf)
            .map(|w| {
                if keep[w] {
                    a_fun[w]
                } else {
                    fresh(&mut names, format!("T.w{w}"))
                }
            })
            .collect();
        let target = TokenLanguage {
            name: "T".into(),
            cfg: *target,
            entities: t_ent,
            relations: t_rel,
            values: t_val,
            funcs: t_fun,
        };
        Ok(Self { aux, target, names })
    }

    /// The auxiliary language A.
    pub fn aux(&self) -> &TokenLanguage {
        &self.aux
    }

    /// The target language T.
    pub fn target(&self) -> &TokenLanguage {
        &self.target
    }

    /// Size of the shared id space (the LM's vocabulary).
    pub fn vocab_size(&self) -> usize {
        self.names.len()
    }

    /// A readable name of a token id (`e3`, `v1_4`, `T.e3`, `T.p2`, `.`, `<eos>`).
    pub fn token_name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("<unk>")
    }

    /// Token ids as space-separated names.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&i| self.token_name(i))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Measured lexical overlap: the fraction of abstract symbols (entities, relations,
    /// values, function words) whose T ids equal their A ids. A split entity never counts as
    /// shared.
    pub fn measured_overlap(&self) -> f64 {
        let mut same = 0usize;
        let mut total = 0usize;
        let mut count = |a: &[u32], t: &[u32]| {
            total += 1;
            if a == t {
                same += 1;
            }
        };
        for (a, t) in self.aux.entities.iter().zip(&self.target.entities) {
            count(a, t);
        }
        for (a, t) in self.aux.relations.iter().zip(&self.target.relations) {
            count(std::slice::from_ref(a), std::slice::from_ref(t));
        }
        for (a, t) in self
            .aux
            .values
            .iter()
            .flatten()
            .zip(self.target.values.iter().flatten())
        {
            count(std::slice::from_ref(a), std::slice::from_ref(t));
        }
        for (a, t) in self.aux.funcs.iter().zip(&self.target.funcs) {
            count(std::slice::from_ref(a), std::slice::from_ref(t));
        }
        same as f64 / total.max(1) as f64
    }

    /// Fraction of T's distinct token ids that A also uses (anchors included).
    pub fn shared_token_fraction(&self) -> f64 {
        let a = self.aux.token_ids();
        let t = self.target.token_ids();
        let shared = t.iter().filter(|id| a.binary_search(id).is_ok()).count();
        shared as f64 / t.len().max(1) as f64
    }
}
