//! A synthetic preference world with a hidden reward rule (the spec's D2.1), its response
//! generators and the five distribution shifts of the reproduction.
//!
//! Vocabulary: `PAD BOS SEP EOS`, `n_topics` topic tokens, one token per length request,
//! per topic `concepts` concepts with two surface forms each (A and B: synonyms), and
//! `fillers` filler words. A prompt is `[BOS, TOPIC_k, LEN_j, SEP]`; a response is at most
//! `max_response` words followed by `EOS`.
//!
//! The oracle reward of a response to topic `k` asking for `L` words is
//!
//! `r*(x, y) = #distinct on-topic concepts − 1·#off-topic concept words − ½·|len − L| − ½·#repeats`
//!
//! (either surface form counts; a repeat is an on-topic concept word beyond its first use),
//! and labels are drawn Bradley-Terry style, `P(y₁ ≻ y₂) = σ((r*₁ − r*₂)/τ)`, exact ties
//! dropped.

use crate::data::PreferencePair;
use ember_core::{Error, Result};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Padding id.
pub const PAD: u32 = 0;
/// Beginning of a prompt.
pub const BOS: u32 = 1;
/// End of a prompt.
pub const SEP: u32 = 2;
/// End of a response.
pub const EOS: u32 = 3;

/// Sizes of the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// Topic tokens.
    pub topics: usize,
    /// Concepts per topic (each with two surface forms).
    pub concepts: usize,
    /// Filler words.
    pub fillers: usize,
    /// Requested lengths, one token each.
    pub lengths: Vec<usize>,
    /// Longest response, in words (EOS not counted).
    pub max_response: usize,
    /// Bradley-Terry label temperature τ.
    pub tau: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            topics: 6,
            concepts: 6,
            fillers: 12,
            lengths: vec![3, 5, 7, 10],
            max_response: 14,
            tau: 0.5,
        }
    }
}

/// A response generator: how many words, and which kind each word is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    /// Response length is the requested length plus an offset drawn uniformly from here.
    pub len_offset: (i64, i64),
    /// Per-response probability that a word is an on-topic concept, drawn uniformly here.
    pub p_on: (f64, f64),
    /// Per-response probability that a word is an off-topic concept, drawn uniformly here.
    pub p_off: (f64, f64),
    /// Probability that a concept word uses surface form B.
    pub form_b: f64,
    /// Which filler words (indices into the filler block).
    pub fillers: Range<usize>,
}

impl Generator {
    /// G0, the preference-training generator: form A only, the first half of the fillers.
    pub fn g0(cfg: &WorldConfig) -> Self {
        Self {
            len_offset: (-3, 3),
            p_on: (0.2, 0.9),
            p_off: (0.0, 0.3),
            form_b: 0.0,
            fillers: 0..cfg.fillers / 2,
        }
    }

    /// G1, the shifted generator: more filler (the other half), fewer concepts, longer.
    pub fn g1(cfg: &WorldConfig) -> Self {
        Self {
            len_offset: (-1, 5),
            p_on: (0.1, 0.6),
            p_off: (0.0, 0.2),
            form_b: 0.0,
            fillers: cfg.fillers / 2..cfg.fillers,
        }
    }

    /// The SFT corpus generator: good responses, both surface forms equally, every filler.
    pub fn sft(cfg: &WorldConfig) -> Self {
        Self {
            len_offset: (-2, 2),
            p_on: (0.5, 1.0),
            p_off: (0.0, 0.15),
            form_b: 0.5,
            fillers: 0..cfg.fillers,
        }
    }
}

/// Which prompts and responses a preference set is drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// Topics the prompts use.
    pub topics: Range<usize>,
    /// Length requests (indices into [`WorldConfig::lengths`]).
    pub lengths: Range<usize>,
    /// The response generator.
    pub generator: Generator,
    /// Map every concept word to surface form B afterwards (token-level shift).
    pub to_form_b: bool,
}

/// The in-distribution domain and the five shifted ones of the reproduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// Training distribution: first two thirds of the topics, all but the longest length
    /// request, G0, form A.
    InDistribution,
    /// Prompt shift: the held-out topics (seen in SFT, never in preference training).
    Prompt,
    /// Response shift: responses from G1.
    Response,
    /// Token-level shift: in-distribution pairs with every concept word in form B.
    Token,
    /// Length shift: the longest length request only (seen in SFT).
    Length,
    /// Prompt and response shift together.
    Combined,
}

impl Setting {
    /// The five shifted settings.
    pub const SHIFTS: [Setting; 5] = [
        Setting::Prompt,
        Setting::Response,
        Setting::Token,
        Setting::Length,
        Setting::Combined,
    ];

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Setting::InDistribution => "in-distribution",
            Setting::Prompt => "prompt",
            Setting::Response => "response",
            Setting::Token => "token",
            Setting::Length => "length",
            Setting::Combined => "combined",
        }
    }
}

/// A preference pair with the oracle rewards of its two responses.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPair {
    /// The pair (chosen is the one the Bradley-Terry draw preferred).
    pub pair: PreferencePair,
    /// Oracle reward of the chosen response.
    pub r_chosen: f64,
    /// Oracle reward of the rejected response.
    pub r_rejected: f64,
}

/// The world: token layout, oracle and generators (see the module docs).
#[derive(Debug, Clone)]
pub struct World {
    cfg: WorldConfig,
}

impl World {
    /// Checks `cfg` (at least 2 topics, 1 concept, 2 fillers, 1 length, `τ > 0`, lengths
    /// that fit `max_response`) and builds the world.
    pub fn new(cfg: WorldConfig) -> Result<World> {
        let bad = |m: &str| Err(Error::InvalidInput(format!("WorldConfig: {m}")));
        if cfg.topics < 3 {
            return bad("need at least 3 topics (training and held-out ones)");
        }
        if cfg.concepts == 0 || cfg.fillers < 2 || cfg.lengths.len() < 2 {
            return bad("need concepts >= 1, fillers >= 2 and at least 2 lengths");
        }
        if !(cfg.tau.is_finite() && cfg.tau > 0.0) {
            return bad("tau must be positive");
        }
        if cfg.lengths.iter().any(|&l| l == 0 || l > cfg.max_response) {
            return bad("every length must be in 1..=max_response");
        }
        Ok(World { cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &WorldConfig {
        &self.cfg
    }

    fn topic0(&self) -> u32 {
        4
    }
    fn len0(&self) -> u32 {
        self.topic0() + self.cfg.topics as u32
    }
    fn concept0(&self) -> u32 {
        self.len0() + self.cfg.lengths.len() as u32
    }
    fn filler0(&self) -> u32 {
        self.concept0() + (self.cfg.topics * self.cfg.concepts * 2) as u32
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.filler0() as usize + self.cfg.fillers
    }

    /// Longest prompt + response in tokens.
    pub fn max_len(&self) -> usize {
        4 + self.cfg.max_response + 1
    }

    /// Topics used in preference training (the first two thirds).
    pub fn train_topics(&self) -> Range<usize> {
        0..(2 * self.cfg.topics).div_ceil(3).min(self.cfg.topics - 1)
    }

    /// The token of concept `c` of topic `k` in surface form `form` (0 = A, 1 = B).
    pub fn concept_token(&self, k: usize, c: usize, form: usize) -> u32 {
        self.concept0() + ((k * self.cfg.concepts + c) * 2 + form) as u32
    }

    /// `(topic, concept, form)` of a concept token.
    pub fn concept_of(&self, id: u32) -> Option<(usize, usize, usize)> {
        let i = id.checked_sub(self.concept0())? as usize;
        (i < self.cfg.topics * self.cfg.concepts * 2)
            .then(|| (i / 2 / self.cfg.concepts, i / 2 % self.cfg.concepts, i % 2))
    }

    /// The prompt `[BOS, TOPIC_k, LEN_j, SEP]`.
    pub fn prompt(&self, topic: usize, length: usize) -> Vec<u32> {
        vec![
            BOS,
            self.topic0() + topic as u32,
            self.len0() + length as u32,
            SEP,
        ]
    }

    /// The oracle reward of `response` (EOS optional) to `prompt` (see the module docs).
    ///
    /// Errors: a prompt that is not one of this world's.
    pub fn oracle(&self, prompt: &[u32], response: &[u32]) -> Result<f64> {
        let (k, l) = self.parse_prompt(prompt)?;
        let words: Vec<u32> = response.iter().copied().filter(|&t| t != EOS).collect();
        let mut seen = vec![false; self.cfg.concepts];
        let (mut distinct, mut off, mut repeats) = (0.0, 0.0, 0.0);
        for &w in &words {
            if let Some((topic, c, _)) = self.concept_of(w) {
                if topic == k {
                    if seen[c] {
                        repeats += 1.0;
                    } else {
                        seen[c] = true;
                        distinct += 1.0;
                    }
                } else {
                    off += 1.0;
                }
            }
        }
        Ok(distinct - off - 0.5 * (words.len() as f64 - l as f64).abs() - 0.5 * repeats)
    }

    /// The additive proxy of the oracle: `#on-topic concept words − #off-topic concept words
    /// − ½·|len − L|`, the oracle without distinctness (every on-topic word counts, repeats
    /// are not penalised). A scorer that adds one value per word plus the length term can
    /// represent it, so its agreement with the labels shows how much of the oracle's
    /// accuracy needs the non-additive part (see the crate README's pilot).
    ///
    /// Errors: a prompt that is not one of this world's.
    pub fn additive_proxy(&self, prompt: &[u32], response: &[u32]) -> Result<f64> {
        let (k, l) = self.parse_prompt(prompt)?;
        let words: Vec<u32> = response.iter().copied().filter(|&t| t != EOS).collect();
        let (mut on, mut off) = (0.0, 0.0);
        for &w in &words {
            if let Some((topic, _, _)) = self.concept_of(w) {
                if topic == k {
                    on += 1.0;
                } else {
                    off += 1.0;
                }
            }
        }
        Ok(on - off - 0.5 * (words.len() as f64 - l as f64).abs())
    }

    /// `(topic, requested length)` of a prompt of this world.
    fn parse_prompt(&self, prompt: &[u32]) -> Result<(usize, usize)> {
        match prompt {
            [BOS, t, l, SEP]
                if (self.topic0()..self.len0()).contains(t)
                    && (self.len0()..self.concept0()).contains(l) =>
            {
                Ok((
                    (t - self.topic0()) as usize,
                    self.cfg.lengths[(l - self.len0()) as usize],
                ))
            }
            _ => Err(Error::InvalidInput(format!(
                "oracle: {prompt:?} is not a prompt of this world"
            ))),
        }
    }

    /// One response (ending in EOS) to topic `k` with requested length index `j`; off-topic
    /// concept words come from the other topics in `topics` (a domain's own topics, so the
    /// concepts of held-out topics never appear in preference training, not even as
    /// off-topic words).
    pub fn respond<R: Rng + ?Sized>(
        &self,
        k: usize,
        j: usize,
        topics: Range<usize>,
        g: &Generator,
        rng: &mut R,
    ) -> Vec<u32> {
        let others: Vec<usize> = topics.filter(|&t| t != k).collect();
        let target = self.cfg.lengths[j] as i64;
        let n = (target + rng.random_range(g.len_offset.0..=g.len_offset.1))
            .clamp(1, self.cfg.max_response as i64) as usize;
        let p_on = rng.random_range(g.p_on.0..=g.p_on.1);
        let p_off = rng.random_range(g.p_off.0..=g.p_off.1);
        let mut out = Vec::with_capacity(n + 1);
        for _ in 0..n {
            let u: f64 = rng.random();
            let form = usize::from(rng.random_bool(g.form_b));
            let tok = if u < p_on {
                self.concept_token(k, rng.random_range(0..self.cfg.concepts), form)
            } else if u < p_on + p_off && !others.is_empty() {
                let other = others[rng.random_range(0..others.len())];
                self.concept_token(other, rng.random_range(0..self.cfg.concepts), form)
            } else {
                self.filler0() + rng.random_range(g.fillers.clone()) as u32
            };
            out.push(tok);
        }
        out.push(EOS);
        out
    }

    /// Every concept word of `ids` in surface form B (the token-level shift).
    pub fn to_form_b(&self, ids: &[u32]) -> Vec<u32> {
        ids.iter()
            .map(|&t| match self.concept_of(t) {
                Some((k, c, _)) => self.concept_token(k, c, 1),
                None => t,
            })
            .collect()
    }

    /// The domain of a setting.
    pub fn domain(&self, s: Setting) -> Domain {
        let train = self.train_topics();
        let held = train.end..self.cfg.topics;
        let short = 0..self.cfg.lengths.len() - 1;
        let longest = self.cfg.lengths.len() - 1..self.cfg.lengths.len();
        let (g0, g1) = (Generator::g0(&self.cfg), Generator::g1(&self.cfg));
        let d =
            |topics: Range<usize>, lengths: Range<usize>, generator: Generator, b: bool| Domain {
                topics,
                lengths,
                generator,
                to_form_b: b,
            };
        match s {
            Setting::InDistribution => d(train, short, g0, false),
            Setting::Prompt => d(held, short, g0, false),
            Setting::Response => d(train, short, g1, false),
            Setting::Token => d(train, short, g0, true),
            Setting::Length => d(train, longest, g0, false),
            Setting::Combined => d(held, short, g1, false),
        }
    }

    /// `n` labelled pairs from `domain`: two responses per prompt from its generator, the
    /// label drawn Bradley-Terry from the oracle, exact oracle ties redrawn.
    pub fn pairs<R: Rng + ?Sized>(
        &self,
        domain: &Domain,
        n: usize,
        rng: &mut R,
    ) -> Result<Vec<LabelledPair>> {
        if domain.topics.is_empty() || domain.lengths.is_empty() {
            return Err(Error::InvalidInput(
                "domain has no topics or lengths".into(),
            ));
        }
        let mut out = Vec::with_capacity(n);
        let mut tries = 0usize;
        while out.len() < n {
            tries += 1;
            if tries > 100 * n + 1000 {
                return Err(Error::InvalidInput(
                    "domain yields only oracle ties: cannot draw pairs".into(),
                ));
            }
            let k = rng.random_range(domain.topics.clone());
            let j = rng.random_range(domain.lengths.clone());
            let prompt = self.prompt(k, j);
            let mut a = self.respond(k, j, domain.topics.clone(), &domain.generator, rng);
            let mut b = self.respond(k, j, domain.topics.clone(), &domain.generator, rng);
            if domain.to_form_b {
                a = self.to_form_b(&a);
                b = self.to_form_b(&b);
            }
            let (ra, rb) = (self.oracle(&prompt, &a)?, self.oracle(&prompt, &b)?);
            if ra == rb {
                continue;
            }
            let p_a = 1.0 / (1.0 + (-(ra - rb) / self.cfg.tau).exp());
            let a_wins = rng.random_bool(p_a);
            let (chosen, rejected, rc, rr) = if a_wins {
                (a, b, ra, rb)
            } else {
                (b, a, rb, ra)
            };
            out.push(LabelledPair {
                pair: PreferencePair {
                    prompt,
                    chosen,
                    rejected,
                },
                r_chosen: rc,
                r_rejected: rr,
            });
        }
        Ok(out)
    }

    /// `n` SFT examples `(prompt, response)` over every topic and length request, from the
    /// SFT generator (both surface forms in identical contexts).
    pub fn sft_corpus<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Vec<(Vec<u32>, Vec<u32>)> {
        let g = Generator::sft(&self.cfg);
        (0..n)
            .map(|_| {
                let k = rng.random_range(0..self.cfg.topics);
                let j = rng.random_range(0..self.cfg.lengths.len());
                (
                    self.prompt(k, j),
                    self.respond(k, j, 0..self.cfg.topics, &g, rng),
                )
            })
            .collect()
    }

    /// A readable word for each token id (`<bos>`, `topic2`, `len1`, `c2.3a`, `f5`, ...), so
    /// world pairs can be written as JSONL text.
    pub fn word(&self, id: u32) -> String {
        match id {
            PAD => "<pad>".into(),
            BOS => "<bos>".into(),
            SEP => "<sep>".into(),
            EOS => "<eos>".into(),
            _ if id < self.len0() => format!("topic{}", id - self.topic0()),
            _ if id < self.concept0() => format!("len{}", id - self.len0()),
            _ => match self.concept_of(id) {
                Some((k, c, f)) => format!("c{k}.{c}{}", if f == 0 { 'a' } else { 'b' }),
                None => format!("f{}", id - self.filler0()),
            },
        }
    }
}
