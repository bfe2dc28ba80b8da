//! Configuration of the synthetic world and its languages, with presets.
//!
//! Defaults follow the offline reproduction plans in `shared/papers` (abx-spkver §5.1,
//! lang-experts §6.2–6.3, soup-auxlang §5.2); sizes there are [R] (reconstructed), so every
//! one of them is a field here rather than a constant.

use serde::{Deserialize, Serialize};

use super::lexicon::Script;
use crate::error::{Result, ensure};

/// Order of subject, verb and object in a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum WordOrder {
    /// English-like.
    #[default]
    Svo,
    /// Japanese-like (head-final).
    Sov,
    /// Verb-initial.
    Vso,
    /// Verb-initial, object first.
    Vos,
    /// Object-initial.
    Osv,
    /// Object-initial, verb second.
    Ovs,
}

impl WordOrder {
    /// Slot order as indices 0 = subject, 1 = verb, 2 = object.
    pub fn slots(self) -> [usize; 3] {
        match self {
            WordOrder::Svo => [0, 1, 2],
            WordOrder::Sov => [0, 2, 1],
            WordOrder::Vso => [1, 0, 2],
            WordOrder::Vos => [1, 2, 0],
            WordOrder::Osv => [2, 0, 1],
            WordOrder::Ovs => [2, 1, 0],
        }
    }
}

/// Where an adjective goes relative to its noun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AdjPosition {
    /// Adjective–noun.
    #[default]
    Before,
    /// Noun–adjective.
    After,
}

/// How a grammatical feature (tense on verbs, plural on nouns) is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Marking {
    /// Affix glued after the stem (`walk`+`ed`).
    #[default]
    Suffix,
    /// Affix glued before the stem.
    Prefix,
    /// Separate word (before the verb for tense, after the noun for plural).
    Particle,
    /// Not expressed at all (the meaning distinction is lost in this language).
    None,
}

/// Position of the determiner in a noun phrase (names take none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DetPosition {
    /// No determiner.
    None,
    /// Determiner first.
    #[default]
    Before,
    /// Determiner last.
    After,
}

/// One synthetic language: how the shared meaning world is rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LanguageSpec {
    /// Name, also the FLORES-style file stem; must be non-empty and contain no path separator.
    pub name: String,
    /// Fraction of non-anchor lexical items (content words, function words, affixes) that reuse
    /// the proto-language form; the rest get fresh forms no other language uses. Chosen exactly
    /// (round(f·n) items), so measured overlap tracks it closely. Default 1.0.
    pub shared_vocab_fraction: f64,
    /// Probability that a shared form is a cognate (one vowel changed) instead of identical.
    /// Default 0.0.
    pub cognate_edit_rate: f64,
    /// Clause word order. Default SVO.
    pub word_order: WordOrder,
    /// Adjective position. Default before the noun.
    pub adjective: AdjPosition,
    /// Tense marking on verbs (present is always unmarked). Default suffix.
    pub tense_marking: Marking,
    /// Plural marking on nouns. Default suffix.
    pub plural_marking: Marking,
    /// Determiner position. Default before.
    pub determiner: DetPosition,
    /// Case particles after subject and object noun phrases. Default false.
    pub case_markers: bool,
    /// Writing system of non-anchor words. Default Latin.
    pub script: Script,
    /// Overrides [`SynthLangConfig::code_switch_rate`] for this language's monolingual stream.
    pub code_switch_rate: Option<f64>,
    /// Overrides [`SynthLangConfig::filler_rate`] for this language's monolingual stream.
    pub filler_rate: Option<f64>,
}

impl Default for LanguageSpec {
    fn default() -> Self {
        LanguageSpec {
            name: "l0".into(),
            shared_vocab_fraction: 1.0,
            cognate_edit_rate: 0.0,
            word_order: WordOrder::Svo,
            adjective: AdjPosition::Before,
            tense_marking: Marking::Suffix,
            plural_marking: Marking::Suffix,
            determiner: DetPosition::Before,
            case_markers: false,
            script: Script::Latin,
            code_switch_rate: None,
            filler_rate: None,
        }
    }
}

/// Probabilities used when sampling a meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MeaningSampling {
    /// Noun phrase carries an attribute. Default 0.3.
    pub p_attribute: f64,
    /// Noun phrase is plural. Default 0.3.
    pub p_plural: f64,
    /// A plural noun phrase carries a numeral (anchor). Default 0.3.
    pub p_numeral: f64,
    /// Subject is a proper name (anchor). Default 0.15.
    pub p_name: f64,
    /// Head noun is a category or domain word ("animal") instead of a leaf ("dog"). Default 0.1.
    pub p_category_head: f64,
    /// Sentence is taxonomic ("a dog is-a animal"), lang-experts §6.3 ρ_tax. Default 0.0.
    pub taxonomy_rate: f64,
}

impl Default for MeaningSampling {
    fn default() -> Self {
        MeaningSampling {
            p_attribute: 0.3,
            p_plural: 0.3,
            p_numeral: 0.3,
            p_name: 0.15,
            p_category_head: 0.1,
            taxonomy_rate: 0.0,
        }
    }
}

/// Everything that determines a [`SynthLang`](super::SynthLang): same config ⇒ same world,
/// lexicons and corpora.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthLangConfig {
    /// Seed for the world and the lexicons (corpora add their own stream number).
    pub seed: u64,
    /// Top-level categories ("animal", "tool"...). Default 4.
    pub n_domains: usize,
    /// Categories under each domain ("dog-like", ...). Default 4.
    pub categories_per_domain: usize,
    /// Leaf entities under each category. Default 5 (so 80 entities, lang-experts §6.3).
    pub entities_per_category: usize,
    /// Verbs. Default 16.
    pub n_actions: usize,
    /// Adjectives. Default 12.
    pub n_attributes: usize,
    /// Proper names (anchor candidates). Default 8.
    pub n_names: usize,
    /// Numerals 2..=n+1 (anchor candidates, written as digits when anchored). Default 6.
    pub n_numerals: usize,
    /// Low-information filler words per language (aux-data quality knob, soup-auxlang §5.2).
    /// Default 12.
    pub n_filler_words: usize,
    /// Surface forms per entity per language (>1 gives paraphrases). Default 1.
    pub synonyms: usize,
    /// Verbs constrain the domains of subject and object ("eat": animate, food). Default true.
    pub selectional_restrictions: bool,
    /// Fraction of names and numerals written identically (and unscripted) in every language.
    /// Default 1.0.
    pub anchor_fraction: f64,
    /// Per content word, probability that a monolingual stream uses another language's word
    /// for the same concept (abx-spkver §5.1 ρ_cs). Default 0.0.
    pub code_switch_rate: f64,
    /// Probability that a monolingual sentence is filler without meaning. Default 0.0.
    pub filler_rate: f64,
    /// Syllables per content word, inclusive range. Default (2, 3).
    pub syllables_per_word: (usize, usize),
    /// Meaning sampling probabilities.
    pub sampling: MeaningSampling,
    /// The languages. Default: [`SynthLangConfig::graded`]`(4, 0)`.
    pub languages: Vec<LanguageSpec>,
}

impl Default for SynthLangConfig {
    fn default() -> Self {
        SynthLangConfig::graded(4, 0)
    }
}

impl SynthLangConfig {
    fn base(seed: u64, languages: Vec<LanguageSpec>) -> Self {
        SynthLangConfig {
            seed,
            n_domains: 4,
            categories_per_domain: 4,
            entities_per_category: 5,
            n_actions: 16,
            n_attributes: 12,
            n_names: 8,
            n_numerals: 6,
            n_filler_words: 12,
            synonyms: 1,
            selectional_restrictions: true,
            anchor_fraction: 1.0,
            code_switch_rate: 0.0,
            filler_rate: 0.0,
            syllables_per_word: (2, 3),
            sampling: MeaningSampling::default(),
            languages,
        }
    }

    /// `n_langs` languages (`l0`, `l1`, ...) of decreasing closeness to `l0` (= the proto
    /// language). With t = k/(n−1) for language k:
    /// shared_vocab_fraction = 1 − t; word order SVO for t ≤ 1/3, SOV for t ≤ 2/3, else VSO;
    /// adjective after the noun for t ≥ 1/2; tense as particle for 1/2 ≤ t < 1 and prefix at
    /// t = 1; plural as particle for t ≥ 3/4; determiner after and case markers for t ≥ 1/2;
    /// Cyrillic script for the farthest language when n ≥ 3.
    pub fn graded(n_langs: usize, seed: u64) -> Self {
        let n = n_langs.max(1);
        let langs = (0..n)
            .map(|k| {
                let t = if n == 1 {
                    0.0
                } else {
                    k as f64 / (n - 1) as f64
                };
                let far = t >= 0.5;
                LanguageSpec {
                    name: format!("l{k}"),
                    shared_vocab_fraction: 1.0 - t,
                    word_order: if t <= 1.0 / 3.0 + 1e-9 {
                        WordOrder::Svo
                    } else if t <= 2.0 / 3.0 + 1e-9 {
                        WordOrder::Sov
                    } else {
                        WordOrder::Vso
                    },
                    adjective: if far {
                        AdjPosition::After
                    } else {
                        AdjPosition::Before
                    },
                    tense_marking: if t >= 1.0 && n > 1 {
                        Marking::Prefix
                    } else if far {
                        Marking::Particle
                    } else {
                        Marking::Suffix
                    },
                    plural_marking: if t >= 0.75 {
                        Marking::Particle
                    } else {
                        Marking::Suffix
                    },
                    determiner: if far {
                        DetPosition::After
                    } else {
                        DetPosition::Before
                    },
                    case_markers: far,
                    script: if n >= 3 && k == n - 1 {
                        Script::Cyrillic
                    } else {
                        Script::Latin
                    },
                    ..LanguageSpec::default()
                }
            })
            .collect();
        Self::base(seed, langs)
    }

    /// A target/auxiliary pair at one of the closeness levels of soup-auxlang §5.2
    /// (`level` 0 "dialect" .. 3 "far"; larger values clamp to 3). Language 0 (`aux`) is the
    /// proto language; language 1 (`tgt`) shares 0.9 / 0.3 / 0 / 0 of its vocabulary; level 3
    /// is also head-final (SOV, adjective after, prefix tense). The paper's "split entities"
    /// operator has no direct analogue here; level 3 uses morphology instead.
    pub fn aux_pair(level: usize, seed: u64) -> Self {
        let aux = LanguageSpec {
            name: "aux".into(),
            ..LanguageSpec::default()
        };
        let mut tgt = LanguageSpec {
            name: "tgt".into(),
            shared_vocab_fraction: [0.9, 0.3, 0.0, 0.0][level.min(3)],
            ..LanguageSpec::default()
        };
        if level >= 3 {
            tgt.word_order = WordOrder::Sov;
            tgt.adjective = AdjPosition::After;
            tgt.tense_marking = Marking::Prefix;
        }
        Self::base(seed, vec![aux, tgt])
    }

    /// Number of leaf entities (domains × categories × entities per category).
    pub fn n_entities(&self) -> usize {
        self.n_domains * self.categories_per_domain * self.entities_per_category
    }

    /// Checks ranges so generation never panics on a bad config.
    pub fn validate(&self) -> Result<()> {
        let p = |name: &str, v: f64| -> Result<()> {
            ensure!(
                v.is_finite() && (0.0..=1.0).contains(&v),
                "synthlang: {name} must be in [0, 1], got {v}"
            );
            Ok(())
        };
        ensure!(!self.languages.is_empty(), "synthlang: no languages");
        ensure!(
            self.n_domains >= 1
                && self.categories_per_domain >= 1
                && self.entities_per_category >= 1,
            "synthlang: n_domains, categories_per_domain and entities_per_category must be >= 1"
        );
        ensure!(self.n_actions >= 1, "synthlang: n_actions must be >= 1");
        ensure!(self.synonyms >= 1, "synthlang: synonyms must be >= 1");
        ensure!(
            self.syllables_per_word.0 >= 1
                && self.syllables_per_word.0 <= self.syllables_per_word.1,
            "synthlang: syllables_per_word must satisfy 1 <= min <= max, got {:?}",
            self.syllables_per_word
        );
        ensure!(
            self.syllables_per_word.1 <= 16,
            "synthlang: syllables_per_word max must be <= 16"
        );
        p("anchor_fraction", self.anchor_fraction)?;
        p("code_switch_rate", self.code_switch_rate)?;
        p("filler_rate", self.filler_rate)?;
        let s = &self.sampling;
        p("sampling.p_attribute", s.p_attribute)?;
        p("sampling.p_plural", s.p_plural)?;
        p("sampling.p_numeral", s.p_numeral)?;
        p("sampling.p_name", s.p_name)?;
        p("sampling.p_category_head", s.p_category_head)?;
        p("sampling.taxonomy_rate", s.taxonomy_rate)?;
        let mut names = std::collections::HashSet::new();
        for l in &self.languages {
            ensure!(
                !l.name.is_empty()
                    && !l.name.contains(['/', '\\'])
                    && !l.name.chars().any(char::is_whitespace),
                "synthlang: language name {:?} must be non-empty, without whitespace or path separators",
                l.name
            );
            ensure!(
                names.insert(l.name.as_str()),
                "synthlang: duplicate language name {:?}",
                l.name
            );
            p(
                &format!("{}.shared_vocab_fraction", l.name),
                l.shared_vocab_fraction,
            )?;
            p(
                &format!("{}.cognate_edit_rate", l.name),
                l.cognate_edit_rate,
            )?;
            if let Some(r) = l.code_switch_rate {
                p(&format!("{}.code_switch_rate", l.name), r)?;
            }
            if let Some(r) = l.filler_rate {
                p(&format!("{}.filler_rate", l.name), r)?;
            }
        }
        Ok(())
    }
}
