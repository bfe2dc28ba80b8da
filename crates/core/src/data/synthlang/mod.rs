//! Seeded synthetic languages over a shared meaning world.
//!
//! A [`World`] of concepts (domain → category → entity hierarchy, verbs, adjectives, names,
//! numerals) is sampled into [`Meaning`]s, which each of L [`Language`]s renders as a word
//! sequence. Languages differ from a hidden proto language by controlled amounts (shared
//! vocabulary, cognates, word order, affixes, script, anchors), so experiments can vary
//! closeness one knob at a time. Every token keeps its concept, role and source language,
//! which gives same-meaning labels, concept labels and code-switch counts for free.
//!
//! ```
//! use ember_core::data::synthlang::{SynthLang, SynthLangConfig};
//! let g = SynthLang::new(SynthLangConfig::graded(3, 7)).unwrap();
//! let dev = g.parallel(10, 0).unwrap();          // same meanings, all languages
//! let mono = g.monolingual_corpora(&[100, 50, 10], 1, Some(&dev.meaning_set())).unwrap();
//! assert_eq!(dev.sentences.len(), 3);
//! assert_eq!(mono[2].sentences.len(), 10);
//! ```

mod config;
mod lexicon;
mod world;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use config::{
    AdjPosition, DetPosition, LanguageSpec, Marking, MeaningSampling, SynthLangConfig, WordOrder,
};
pub use lexicon::Script;
pub use world::{
    Concept, ConceptId, ConceptKind, FUNCTION_WORDS, FunctionWord, Meaning, NounPhrase, Predicate,
    Tense, World,
};

use super::flores::ParallelText;
use crate::error::{Result, ensure};
use lexicon::{Phonology, capitalize};

/// Syntactic role of a token, for probing (abx-spkver §5.4 "POS analogue").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Subject head (or the subject of a taxonomic sentence).
    Agent,
    /// Verb.
    Action,
    /// Object head, or the category of a taxonomic sentence.
    Patient,
    /// Adjective or numeral.
    Modifier,
    /// Determiner, particle, case marker, copula.
    Function,
    /// Filler word of a meaningless sentence.
    Filler,
}

/// Annotation of one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The concept the token expresses (its stem; affixes are folded into the token).
    pub concept: Option<ConceptId>,
    /// Syntactic role.
    pub role: Role,
    /// Language whose lexicon produced the token (differs from the sentence's under
    /// code-switching).
    pub lang: usize,
}

/// A rendered sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentence {
    /// Language index.
    pub lang: usize,
    /// The meaning rendered; `None` for filler sentences.
    pub meaning: Option<Meaning>,
    /// Words (no spaces inside a word).
    pub tokens: Vec<String>,
    /// One annotation per token.
    pub info: Vec<TokenInfo>,
}

impl Sentence {
    /// Words joined by single spaces.
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// The same meanings rendered in every language; `sentences[lang][i]` expresses `meanings[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelCorpus {
    /// The meanings (distinct within the corpus).
    pub meanings: Vec<Meaning>,
    /// Per language, one sentence per meaning.
    pub sentences: Vec<Vec<Sentence>>,
}

impl ParallelCorpus {
    /// Number of meanings.
    pub fn len(&self) -> usize {
        self.meanings.len()
    }

    /// Whether there are no meanings.
    pub fn is_empty(&self) -> bool {
        self.meanings.is_empty()
    }

    /// Texts of one language (empty if `lang` is out of range).
    pub fn texts(&self, lang: usize) -> Vec<String> {
        self.sentences
            .get(lang)
            .map(|s| s.iter().map(Sentence::text).collect())
            .unwrap_or_default()
    }

    /// The meanings as a set, to exclude them from training streams.
    pub fn meaning_set(&self) -> HashSet<Meaning> {
        self.meanings.iter().copied().collect()
    }

    /// As FLORES-style parallel text, with `names[lang]` as language codes
    /// (e.g. [`SynthLang::language_names`]).
    pub fn to_parallel_text(&self, names: &[String]) -> Result<ParallelText> {
        ensure!(
            names.len() == self.sentences.len(),
            "to_parallel_text: {} names for {} languages",
            names.len(),
            self.sentences.len()
        );
        Ok(ParallelText {
            langs: names.to_vec(),
            lines: (0..self.sentences.len()).map(|l| self.texts(l)).collect(),
        })
    }
}

/// Independently sampled sentences of one language (no parallel signal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonolingualCorpus {
    /// Language index.
    pub lang: usize,
    /// Sentences.
    pub sentences: Vec<Sentence>,
}

impl MonolingualCorpus {
    /// Texts.
    pub fn texts(&self) -> Vec<String> {
        self.sentences.iter().map(Sentence::text).collect()
    }
}

/// One language: its spec and lexicon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Language {
    /// Index in [`SynthLang::languages`].
    pub index: usize,
    /// The spec it was built from.
    pub spec: LanguageSpec,
    /// Per concept, its surface forms (stems; synonyms after the first for entities).
    pub forms: Vec<Vec<String>>,
    /// Per concept, whether the form derives from the proto form (shared or cognate).
    pub from_proto: Vec<bool>,
}

/// Closeness descriptor of a language pair, measured on the built lexicons.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LanguageDistance {
    /// Fraction of non-anchor concepts whose first form is identical in both languages.
    pub lexical_overlap: f64,
    /// Fraction of non-anchor concepts whose forms both derive from the proto form
    /// (identical up to script and cognate edits).
    pub cognate_overlap: f64,
    /// Normalised Kendall distance between the S/V/O orders (0 same, 1 reversed).
    pub word_order_distance: f64,
    /// Fraction of {adjective position, tense marking, plural marking, determiner, case
    /// markers} that differ.
    pub morphosyntax_distance: f64,
    /// Whether the scripts differ.
    pub script_differs: bool,
    /// Mean of (1 − lexical_overlap), word_order_distance, morphosyntax_distance and
    /// script_differs (0/1): one number for sorting pairs, not a calibrated metric.
    pub combined: f64,
}

/// The generator: a world and its languages, built deterministically from a config.
#[derive(Debug, Clone)]
pub struct SynthLang {
    config: SynthLangConfig,
    world: World,
    languages: Vec<Language>,
}

const TAG_WORLD: u64 = 1;
const TAG_PROTO: u64 = 2;
const TAG_LANG: u64 = 3;
const TAG_PARALLEL: u64 = 4;
const TAG_MONO: u64 = 5;

use crate::seed::splitmix64 as splitmix;

/// An RNG for one purpose, so changing one corpus request never shifts another's draws.
fn rng_for(seed: u64, tag: u64, a: u64, b: u64) -> ChaCha8Rng {
    // tidy: hash of the request, kept so existing corpora stay bit-identical.
    let s = splitmix(splitmix(splitmix(seed ^ splitmix(tag)) ^ a) ^ b.wrapping_mul(31));
    ChaCha8Rng::seed_from_u64(s)
}

/// Per-word inflection request.
#[derive(Clone, Copy)]
enum Infl {
    Bare,
    Plural,
    Tense(Tense),
}

struct Ctx<'a> {
    rng: &'a mut ChaCha8Rng,
    code_switch: f64,
    random_synonyms: bool,
    /// Synonym index used when `random_synonyms` is false (taken modulo the count).
    synonym: usize,
}

impl SynthLang {
    /// Builds the world and lexicons; fails on an invalid config.
    pub fn new(config: SynthLangConfig) -> Result<Self> {
        config.validate()?;
        let world = World::generate(&config, &mut rng_for(config.seed, TAG_WORLD, 0, 0));
        let n = world.concepts.len();
        let syl = config.syllables_per_word;
        let syllables_of = |c: ConceptId| match world.concepts[c].kind {
            ConceptKind::Function(
                FunctionWord::Past | FunctionWord::Future | FunctionWord::Plural,
            ) => (1, 1),
            ConceptKind::Function(_) | ConceptKind::Filler => (1, 2),
            _ => syl,
        };
        // Proto forms, globally unique.
        let proto_phon = Phonology::proto();
        let mut prng = rng_for(config.seed, TAG_PROTO, 0, 0);
        let mut taken: HashSet<String> = HashSet::new();
        let mut proto = Vec::with_capacity(n);
        for c in 0..n {
            let w = proto_phon.unique_word(&mut prng, syllables_of(c), &taken)?;
            taken.insert(w.clone());
            proto.push(w);
        }
        let mut languages = Vec::with_capacity(config.languages.len());
        for (li, spec) in config.languages.iter().enumerate() {
            let mut rng = rng_for(config.seed, TAG_LANG, li as u64, 0);
            let phon = Phonology::sample(&mut rng);
            let mut pool: Vec<ConceptId> = (0..n).filter(|&c| !world.is_anchor[c]).collect();
            pool.shuffle(&mut rng);
            let k = (spec.shared_vocab_fraction * pool.len() as f64).round() as usize;
            let shared: HashSet<ConceptId> = pool[..k.min(pool.len())].iter().copied().collect();
            let mut forms = Vec::with_capacity(n);
            let mut from_proto = vec![false; n];
            for c in 0..n {
                let kind = world.concepts[c].kind;
                let mut fs = Vec::new();
                if world.is_anchor[c] {
                    fs.push(match kind {
                        ConceptKind::Numeral(v) => v.to_string(),
                        _ => capitalize(&proto[c]),
                    });
                    from_proto[c] = true;
                } else {
                    let base = if shared.contains(&c) {
                        from_proto[c] = true;
                        let mut w = proto[c].clone();
                        if spec.cognate_edit_rate > 0.0 && rng.random_bool(spec.cognate_edit_rate) {
                            let e = proto_phon.edit(&mut rng, &w);
                            if !taken.contains(&e) {
                                taken.insert(e.clone());
                                w = e;
                            }
                        }
                        w
                    } else {
                        let w = phon.unique_word(&mut rng, syllables_of(c), &taken)?;
                        taken.insert(w.clone());
                        w
                    };
                    fs.push(base);
                    if kind == ConceptKind::Entity {
                        for _ in 1..config.synonyms {
                            let w = phon.unique_word(&mut rng, syllables_of(c), &taken)?;
                            taken.insert(w.clone());
                            fs.push(w);
                        }
                    }
                    for f in &mut fs {
                        *f = spec.script.apply(f);
                        if kind == ConceptKind::Name {
                            *f = capitalize(f);
                        }
                    }
                }
                forms.push(fs);
            }
            languages.push(Language {
                index: li,
                spec: spec.clone(),
                forms,
                from_proto,
            });
        }
        Ok(SynthLang {
            config,
            world,
            languages,
        })
    }

    /// The config it was built from.
    pub fn config(&self) -> &SynthLangConfig {
        &self.config
    }

    /// The meaning world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The languages.
    pub fn languages(&self) -> &[Language] {
        &self.languages
    }

    /// Language names in index order.
    pub fn language_names(&self) -> Vec<String> {
        self.languages.iter().map(|l| l.spec.name.clone()).collect()
    }

    /// Index of the language called `name`.
    pub fn language_index(&self, name: &str) -> Option<usize> {
        self.languages.iter().position(|l| l.spec.name == name)
    }

    fn check_lang(&self, lang: usize) -> Result<()> {
        ensure!(
            lang < self.languages.len(),
            "synthlang: language index {lang} out of range (have {})",
            self.languages.len()
        );
        Ok(())
    }

    /// Draws one meaning (the same distribution every corpus uses).
    pub fn sample_meaning(&self, rng: &mut ChaCha8Rng) -> Meaning {
        self.world.sample_meaning(&self.config, rng)
    }

    /// Renders `meaning` in `lang` deterministically: first synonym, no code-switching.
    pub fn render(&self, meaning: &Meaning, lang: usize) -> Result<Sentence> {
        self.render_variant(meaning, lang, 0)
    }

    /// Like [`render`](Self::render) but with synonym `synonym` (modulo
    /// [`SynthLangConfig::synonyms`]) for every entity: `render_variant(m, l, 0)` and
    /// `render_variant(m, l, 1)` form a paraphrase pair when `synonyms >= 2`.
    pub fn render_variant(
        &self,
        meaning: &Meaning,
        lang: usize,
        synonym: usize,
    ) -> Result<Sentence> {
        self.check_meaning(meaning)?;
        self.check_lang(lang)?;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut ctx = Ctx {
            rng: &mut rng,
            code_switch: 0.0,
            random_synonyms: false,
            synonym,
        };
        Ok(self.render_in(meaning, lang, &mut ctx))
    }

    /// Renders with random synonyms and per-word code-switching at `code_switch_rate`.
    pub fn render_random(
        &self,
        meaning: &Meaning,
        lang: usize,
        code_switch_rate: f64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Sentence> {
        self.check_meaning(meaning)?;
        self.check_lang(lang)?;
        ensure!(
            code_switch_rate.is_finite() && (0.0..=1.0).contains(&code_switch_rate),
            "code_switch_rate must be in [0, 1], got {code_switch_rate}"
        );
        let mut ctx = Ctx {
            rng,
            code_switch: code_switch_rate,
            random_synonyms: true,
            synonym: 0,
        };
        Ok(self.render_in(meaning, lang, &mut ctx))
    }

    fn check_meaning(&self, m: &Meaning) -> Result<()> {
        let n = self.world.concepts.len();
        ensure!(
            m.concepts().iter().all(|&c| c < n),
            "synthlang: meaning refers to a concept id >= {n}"
        );
        Ok(())
    }

    /// `n` distinct meanings rendered in every language (random synonyms, no code-switching).
    /// `stream` selects an independent draw: the same (config, n, stream) gives the same corpus.
    pub fn parallel(&self, n: usize, stream: u64) -> Result<ParallelCorpus> {
        let mut out = self.parallel_splits(&[n], stream)?;
        Ok(out.pop().unwrap_or(ParallelCorpus {
            meanings: vec![],
            sentences: vec![],
        }))
    }

    /// Several parallel corpora with pairwise disjoint meanings (e.g. dev / devtest).
    pub fn parallel_splits(&self, sizes: &[usize], stream: u64) -> Result<Vec<ParallelCorpus>> {
        let total: usize = sizes.iter().sum();
        let mut rng = rng_for(self.config.seed, TAG_PARALLEL, stream, 0);
        let mut seen = HashSet::with_capacity(total);
        let mut meanings = Vec::with_capacity(total);
        let mut misses = 0usize;
        while meanings.len() < total {
            let m = self.sample_meaning(&mut rng);
            if seen.insert(m) {
                meanings.push(m);
            } else {
                misses += 1;
                ensure!(
                    misses <= 100 * total + 1000,
                    "synthlang: could not find {total} distinct meanings; the meaning space is too small"
                );
            }
        }
        let mut out = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for &size in sizes {
            let ms = meanings[start..start + size].to_vec();
            start += size;
            let sentences = (0..self.languages.len())
                .map(|l| {
                    let mut ctx = Ctx {
                        rng: &mut rng,
                        code_switch: 0.0,
                        random_synonyms: true,
                        synonym: 0,
                    };
                    ms.iter().map(|m| self.render_in(m, l, &mut ctx)).collect()
                })
                .collect();
            out.push(ParallelCorpus {
                meanings: ms,
                sentences,
            });
        }
        Ok(out)
    }

    /// `n` independently sampled sentences of `lang`, with the language's code-switch and
    /// filler rates. Meanings in `exclude` are redrawn (up to 100 times, then kept) so held-out
    /// parallel sets stay unseen.
    pub fn monolingual(
        &self,
        lang: usize,
        n: usize,
        stream: u64,
        exclude: Option<&HashSet<Meaning>>,
    ) -> Result<MonolingualCorpus> {
        self.check_lang(lang)?;
        let spec = &self.languages[lang].spec;
        let cs = spec
            .code_switch_rate
            .unwrap_or(self.config.code_switch_rate);
        let filler = spec.filler_rate.unwrap_or(self.config.filler_rate);
        let mut rng = rng_for(self.config.seed, TAG_MONO, stream, lang as u64);
        let mut sentences = Vec::with_capacity(n);
        for _ in 0..n {
            if filler > 0.0 && !self.world.fillers.is_empty() && rng.random_bool(filler) {
                sentences.push(self.filler_sentence(lang, &mut rng));
                continue;
            }
            let mut m = self.sample_meaning(&mut rng);
            if let Some(ex) = exclude {
                let mut tries = 0;
                while ex.contains(&m) && tries < 100 {
                    m = self.sample_meaning(&mut rng);
                    tries += 1;
                }
            }
            let mut ctx = Ctx {
                rng: &mut rng,
                code_switch: cs,
                random_synonyms: true,
                synonym: 0,
            };
            sentences.push(self.render_in(&m, lang, &mut ctx));
        }
        Ok(MonolingualCorpus { lang, sentences })
    }

    /// One monolingual corpus per language with `sizes[lang]` sentences (unbalanced allowed).
    pub fn monolingual_corpora(
        &self,
        sizes: &[usize],
        stream: u64,
        exclude: Option<&HashSet<Meaning>>,
    ) -> Result<Vec<MonolingualCorpus>> {
        ensure!(
            sizes.len() == self.languages.len(),
            "synthlang: {} sizes for {} languages",
            sizes.len(),
            self.languages.len()
        );
        sizes
            .iter()
            .enumerate()
            .map(|(l, &n)| self.monolingual(l, n, stream, exclude))
            .collect()
    }

    fn filler_sentence(&self, lang: usize, rng: &mut ChaCha8Rng) -> Sentence {
        let len = rng.random_range(3..=8);
        let mut tokens = Vec::with_capacity(len);
        let mut info = Vec::with_capacity(len);
        for _ in 0..len {
            if let Some(&c) = self.world.fillers.choose(rng) {
                tokens.push(self.languages[lang].forms[c][0].clone());
                info.push(TokenInfo {
                    concept: Some(c),
                    role: Role::Filler,
                    lang,
                });
            }
        }
        Sentence {
            lang,
            meaning: None,
            tokens,
            info,
        }
    }

    /// Whether `c` is an anchor (same form in every language, never code-switched).
    pub fn is_anchor(&self, c: ConceptId) -> bool {
        self.world.is_anchor.get(c).copied().unwrap_or(false)
    }

    /// Stem plus affix for `infl` in language `src` (particles are the caller's job).
    fn inflect(&self, src: usize, stem: &str, infl: Infl) -> String {
        let l = &self.languages[src];
        let (marking, f) = match infl {
            Infl::Bare | Infl::Tense(Tense::Present) => return stem.to_string(),
            Infl::Plural => (l.spec.plural_marking, FunctionWord::Plural),
            Infl::Tense(Tense::Past) => (l.spec.tense_marking, FunctionWord::Past),
            Infl::Tense(Tense::Future) => (l.spec.tense_marking, FunctionWord::Future),
        };
        let affix = &l.forms[self.world.function(f)][0];
        match marking {
            Marking::Suffix => format!("{stem}{affix}"),
            Marking::Prefix => format!("{affix}{stem}"),
            Marking::Particle | Marking::None => stem.to_string(),
        }
    }

    /// A content word for `c` in host language `lang`, possibly code-switched.
    fn content_word(
        &self,
        lang: usize,
        c: ConceptId,
        infl: Infl,
        role: Role,
        ctx: &mut Ctx,
        out: &mut Vec<(String, TokenInfo)>,
    ) {
        let mut src = lang;
        let nl = self.languages.len();
        if ctx.code_switch > 0.0 && nl > 1 && !self.world.is_anchor[c] {
            // Draw the coin for every eligible word so the rate is exact in expectation.
            if ctx.rng.random_bool(ctx.code_switch) {
                let k = ctx.rng.random_range(0..nl - 1);
                src = if k >= lang { k + 1 } else { k };
            }
        }
        let forms = &self.languages[src].forms[c];
        let syn = if forms.len() <= 1 {
            0
        } else if ctx.random_synonyms {
            ctx.rng.random_range(0..forms.len())
        } else {
            ctx.synonym % forms.len()
        };
        let word = self.inflect(src, &forms[syn], infl);
        out.push((
            word,
            TokenInfo {
                concept: Some(c),
                role,
                lang: src,
            },
        ));
    }

    fn function_word(&self, lang: usize, f: FunctionWord, out: &mut Vec<(String, TokenInfo)>) {
        let c = self.world.function(f);
        out.push((
            self.languages[lang].forms[c][0].clone(),
            TokenInfo {
                concept: Some(c),
                role: Role::Function,
                lang,
            },
        ));
    }

    fn render_np(
        &self,
        lang: usize,
        np: &NounPhrase,
        role: Role,
        case: Option<FunctionWord>,
        ctx: &mut Ctx,
        out: &mut Vec<(String, TokenInfo)>,
    ) {
        let spec = &self.languages[lang].spec;
        let name = self.world.is_name(np.head);
        if spec.determiner == DetPosition::Before && !name {
            self.function_word(lang, FunctionWord::Determiner, out);
        }
        if let Some(n) = np.numeral {
            self.content_word(lang, n, Infl::Bare, Role::Modifier, ctx, out);
        }
        if spec.adjective == AdjPosition::Before
            && let Some(a) = np.attribute
        {
            self.content_word(lang, a, Infl::Bare, Role::Modifier, ctx, out);
        }
        let plural = np.plural && !name;
        let infl = if plural { Infl::Plural } else { Infl::Bare };
        self.content_word(lang, np.head, infl, role, ctx, out);
        if spec.adjective == AdjPosition::After
            && let Some(a) = np.attribute
        {
            self.content_word(lang, a, Infl::Bare, Role::Modifier, ctx, out);
        }
        if plural && spec.plural_marking == Marking::Particle {
            self.function_word(lang, FunctionWord::Plural, out);
        }
        if spec.determiner == DetPosition::After && !name {
            self.function_word(lang, FunctionWord::Determiner, out);
        }
        if spec.case_markers
            && let Some(f) = case
        {
            self.function_word(lang, f, out);
        }
    }

    fn render_in(&self, m: &Meaning, lang: usize, ctx: &mut Ctx) -> Sentence {
        let spec = &self.languages[lang].spec;
        let mut slots: [Vec<(String, TokenInfo)>; 3] = Default::default();
        self.render_np(
            lang,
            &m.subject,
            Role::Agent,
            Some(FunctionWord::SubjectMarker),
            ctx,
            &mut slots[0],
        );
        match &m.predicate {
            Predicate::Action { action, object } => {
                if spec.tense_marking == Marking::Particle {
                    match m.tense {
                        Tense::Past => self.function_word(lang, FunctionWord::Past, &mut slots[1]),
                        Tense::Future => {
                            self.function_word(lang, FunctionWord::Future, &mut slots[1])
                        }
                        Tense::Present => {}
                    }
                }
                self.content_word(
                    lang,
                    *action,
                    Infl::Tense(m.tense),
                    Role::Action,
                    ctx,
                    &mut slots[1],
                );
                self.render_np(
                    lang,
                    object,
                    Role::Patient,
                    Some(FunctionWord::ObjectMarker),
                    ctx,
                    &mut slots[2],
                );
            }
            Predicate::IsA { category } => {
                self.function_word(lang, FunctionWord::Copula, &mut slots[1]);
                let np = NounPhrase {
                    head: *category,
                    attribute: None,
                    numeral: None,
                    plural: false,
                };
                self.render_np(lang, &np, Role::Patient, None, ctx, &mut slots[2]);
            }
        }
        let len = slots.iter().map(Vec::len).sum();
        let mut tokens = Vec::with_capacity(len);
        let mut info = Vec::with_capacity(len);
        for s in spec.word_order.slots() {
            for (t, i) in std::mem::take(&mut slots[s]) {
                tokens.push(t);
                info.push(i);
            }
        }
        Sentence {
            lang,
            meaning: Some(*m),
            tokens,
            info,
        }
    }

    /// Every surface token of `lang` expressing concept `c`: all synonyms, bare and inflected
    /// (plural for nouns, past/future for verbs) — the positives for concept-neuron work.
    pub fn concept_tokens(&self, lang: usize, c: ConceptId) -> Result<Vec<String>> {
        self.check_lang(lang)?;
        ensure!(
            c < self.world.concepts.len(),
            "synthlang: concept id {c} out of range"
        );
        let kind = self.world.concepts[c].kind;
        let mut out = BTreeSet::new();
        for stem in &self.languages[lang].forms[c] {
            out.insert(stem.clone());
            match kind {
                ConceptKind::Domain | ConceptKind::Category | ConceptKind::Entity => {
                    out.insert(self.inflect(lang, stem, Infl::Plural));
                }
                ConceptKind::Action => {
                    for t in [Tense::Past, Tense::Future] {
                        out.insert(self.inflect(lang, stem, Infl::Tense(t)));
                    }
                }
                _ => {}
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Inverse of [`concept_tokens`](Self::concept_tokens) for a whole language: surface
    /// token → concepts it can express (more than one only if an affix makes forms collide).
    pub fn token_concepts(&self, lang: usize) -> Result<BTreeMap<String, Vec<ConceptId>>> {
        let mut map: BTreeMap<String, Vec<ConceptId>> = BTreeMap::new();
        for c in 0..self.world.concepts.len() {
            for t in self.concept_tokens(lang, c)? {
                map.entry(t).or_default().push(c);
            }
        }
        Ok(map)
    }

    /// Closeness descriptor of languages `a` and `b`.
    pub fn distance(&self, a: usize, b: usize) -> Result<LanguageDistance> {
        self.check_lang(a)?;
        self.check_lang(b)?;
        let (la, lb) = (&self.languages[a], &self.languages[b]);
        let pool: Vec<ConceptId> = (0..self.world.concepts.len())
            .filter(|&c| !self.world.is_anchor[c])
            .collect();
        let denom = pool.len().max(1) as f64;
        let same = pool
            .iter()
            .filter(|&&c| la.forms[c][0] == lb.forms[c][0])
            .count() as f64;
        let cognate = pool
            .iter()
            .filter(|&&c| la.from_proto[c] && lb.from_proto[c])
            .count() as f64;
        let (oa, ob) = (la.spec.word_order.slots(), lb.spec.word_order.slots());
        let pos = |o: [usize; 3]| {
            let mut p = [0usize; 3];
            for (i, &s) in o.iter().enumerate() {
                p[s] = i;
            }
            p
        };
        let (pa, pb) = (pos(oa), pos(ob));
        let mut discordant = 0;
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            if (pa[i] < pa[j]) != (pb[i] < pb[j]) {
                discordant += 1;
            }
        }
        let (sa, sb) = (&la.spec, &lb.spec);
        let morph = [
            sa.adjective != sb.adjective,
            sa.tense_marking != sb.tense_marking,
            sa.plural_marking != sb.plural_marking,
            sa.determiner != sb.determiner,
            sa.case_markers != sb.case_markers,
        ]
        .iter()
        .filter(|&&d| d)
        .count() as f64
            / 5.0;
        let lexical_overlap = same / denom;
        let word_order_distance = discordant as f64 / 3.0;
        let script_differs = sa.script != sb.script;
        Ok(LanguageDistance {
            lexical_overlap,
            cognate_overlap: cognate / denom,
            word_order_distance,
            morphosyntax_distance: morph,
            script_differs,
            combined: ((1.0 - lexical_overlap)
                + word_order_distance
                + morph
                + if script_differs { 1.0 } else { 0.0 })
                / 4.0,
        })
    }

    /// [`distance`](Self::distance) for every ordered pair.
    pub fn distance_matrix(&self) -> Vec<Vec<LanguageDistance>> {
        let n = self.languages.len();
        (0..n)
            .map(|a| (0..n).filter_map(|b| self.distance(a, b).ok()).collect())
            .collect()
    }

    /// Fraction of code-switchable tokens (content words that are not anchors) produced by a
    /// language other than the sentence's: the measured code-switch rate.
    pub fn code_switch_fraction(&self, sentences: &[Sentence]) -> f64 {
        let (mut eligible, mut switched) = (0usize, 0usize);
        for s in sentences {
            for i in &s.info {
                if let Some(c) = i.concept
                    && matches!(
                        i.role,
                        Role::Agent | Role::Action | Role::Patient | Role::Modifier
                    )
                    && !self.is_anchor(c)
                {
                    eligible += 1;
                    if i.lang != s.lang {
                        switched += 1;
                    }
                }
            }
        }
        if eligible == 0 {
            0.0
        } else {
            switched as f64 / eligible as f64
        }
    }
}

/// XLM-R-style exponent smoothing of language sampling probabilities: p_l ∝ (n_l / N)^α.
/// α = 1 keeps the natural proportions, α → 0 flattens them (abx-spkver §5.1 uses 0.3).
pub fn smoothed_sampling_probs(sizes: &[usize], alpha: f64) -> Result<Vec<f64>> {
    ensure!(
        alpha.is_finite() && alpha >= 0.0,
        "alpha must be finite and >= 0, got {alpha}"
    );
    let total: usize = sizes.iter().sum();
    ensure!(total > 0, "smoothed_sampling_probs: all sizes are zero");
    let w: Vec<f64> = sizes
        .iter()
        .map(|&n| {
            if n == 0 {
                0.0
            } else {
                (n as f64 / total as f64).powf(alpha)
            }
        })
        .collect();
    let z: f64 = w.iter().sum();
    Ok(w.into_iter().map(|x| x / z).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: &[Sentence], b: &[Sentence]) -> f64 {
        let ta: HashSet<&String> = a.iter().flat_map(|s| &s.tokens).collect();
        let tb: HashSet<&String> = b.iter().flat_map(|s| &s.tokens).collect();
        ta.intersection(&tb).count() as f64 / ta.union(&tb).count() as f64
    }

    #[test]
    fn deterministic() {
        let g1 = SynthLang::new(SynthLangConfig::graded(4, 11)).unwrap();
        let g2 = SynthLang::new(SynthLangConfig::graded(4, 11)).unwrap();
        assert_eq!(g1.parallel(50, 3).unwrap(), g2.parallel(50, 3).unwrap());
        assert_eq!(
            g1.monolingual(2, 50, 1, None).unwrap(),
            g2.monolingual(2, 50, 1, None).unwrap()
        );
        let g3 = SynthLang::new(SynthLangConfig::graded(4, 12)).unwrap();
        assert_ne!(g1.parallel(50, 3).unwrap(), g3.parallel(50, 3).unwrap());
        assert_ne!(g1.parallel(50, 3).unwrap(), g1.parallel(50, 4).unwrap());
    }

    #[test]
    fn lang0_of_graded_is_proto_and_parallel_meanings_align() {
        let g = SynthLang::new(SynthLangConfig::graded(3, 1)).unwrap();
        let p = g.parallel(30, 0).unwrap();
        for l in 0..3 {
            for (i, s) in p.sentences[l].iter().enumerate() {
                assert_eq!(s.meaning, Some(p.meanings[i]));
                assert_eq!(s.tokens.len(), s.info.len());
                // Content concepts in the sentence are exactly those of the meaning.
                let mut got: Vec<_> = s
                    .info
                    .iter()
                    .filter(|t| t.role != Role::Function)
                    .filter_map(|t| t.concept)
                    .collect();
                let mut want = p.meanings[i].concepts();
                got.sort_unstable();
                want.sort_unstable();
                assert_eq!(got, want);
            }
        }
        assert_eq!(g.distance(0, 0).unwrap().lexical_overlap, 1.0);
        let far = g.distance(0, 2).unwrap();
        assert!(far.script_differs && far.lexical_overlap == 0.0);
    }

    #[test]
    fn hierarchy() {
        let g = SynthLang::new(SynthLangConfig::default()).unwrap();
        let w = g.world();
        let e = w.entities[7];
        let anc = w.ancestors(e);
        assert_eq!(anc.len(), 2);
        assert_eq!(w.concepts[anc[0]].kind, ConceptKind::Category);
        assert_eq!(w.concepts[anc[1]].kind, ConceptKind::Domain);
        assert!(w.is_a(e, anc[1]));
        assert!(w.children(anc[0]).contains(&e));
    }

    #[test]
    fn overlap_grows_with_shared_fraction() {
        let mut cfg = SynthLangConfig::graded(1, 5);
        for (i, f) in [0.75, 0.5, 0.25, 0.0].into_iter().enumerate() {
            cfg.languages.push(LanguageSpec {
                name: format!("x{i}"),
                shared_vocab_fraction: f,
                ..LanguageSpec::default()
            });
        }
        let g = SynthLang::new(cfg).unwrap();
        let p = g.parallel(400, 0).unwrap();
        let ov: Vec<f64> = (1..5)
            .map(|l| overlap(&p.sentences[0], &p.sentences[l]))
            .collect();
        assert!(ov.windows(2).all(|w| w[0] > w[1]), "{ov:?}");
    }

    #[test]
    fn bad_config_is_an_error() {
        let cfg = SynthLangConfig {
            code_switch_rate: 1.5,
            ..SynthLangConfig::default()
        };
        assert!(SynthLang::new(cfg).is_err());
        let mut cfg = SynthLangConfig::default();
        cfg.languages[1].name = cfg.languages[0].name.clone();
        assert!(SynthLang::new(cfg).is_err());
        let mut cfg = SynthLangConfig::default();
        cfg.languages.clear();
        assert!(SynthLang::new(cfg).is_err());
    }

    #[test]
    fn smoothing() {
        let p = smoothed_sampling_probs(&[100, 10], 1.0).unwrap();
        assert!((p[0] - 100.0 / 110.0).abs() < 1e-12);
        let q = smoothed_sampling_probs(&[100, 10], 0.3).unwrap();
        assert!(q[1] > p[1]);
        assert!(smoothed_sampling_probs(&[0, 0], 0.3).is_err());
    }
}
