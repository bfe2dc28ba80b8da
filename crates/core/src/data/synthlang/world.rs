//! The language-independent meaning world: concepts with a domain → category → entity
//! hierarchy, verbs with selectional restrictions, and meanings sampled from them.

use rand::RngExt;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::SynthLangConfig;

/// Index into [`World::concepts`].
pub type ConceptId = usize;

/// Grammatical morphemes; each is a concept so every language gives it a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FunctionWord {
    /// Past-tense marker.
    Past,
    /// Future-tense marker.
    Future,
    /// Plural marker.
    Plural,
    /// Determiner.
    Determiner,
    /// Subject case particle.
    SubjectMarker,
    /// Object case particle.
    ObjectMarker,
    /// Copula of taxonomic sentences ("is a kind of").
    Copula,
}

/// All function words, in concept-id order.
pub const FUNCTION_WORDS: [FunctionWord; 7] = [
    FunctionWord::Past,
    FunctionWord::Future,
    FunctionWord::Plural,
    FunctionWord::Determiner,
    FunctionWord::SubjectMarker,
    FunctionWord::ObjectMarker,
    FunctionWord::Copula,
];

/// What a concept is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConceptKind {
    /// Top of the hierarchy ("animal").
    Domain,
    /// Middle of the hierarchy ("canine").
    Category,
    /// Leaf ("dog").
    Entity,
    /// Verb.
    Action,
    /// Adjective.
    Attribute,
    /// Proper name (anchor candidate).
    Name,
    /// Numeral with its value (anchor candidate).
    Numeral(u32),
    /// Grammatical morpheme.
    Function(FunctionWord),
    /// Meaningless filler word.
    Filler,
}

/// One concept of the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concept {
    /// Its id (= index in [`World::concepts`]).
    pub id: ConceptId,
    /// Its kind.
    pub kind: ConceptKind,
    /// A language-independent label such as `D1.C0.E3` or `A5`, for reports.
    pub label: String,
    /// Parent in the hierarchy (category for entities, domain for categories).
    pub parent: Option<ConceptId>,
    /// Domain index (0..n_domains) for domains, categories and entities.
    pub domain: Option<usize>,
}

/// Grammatical tense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tense {
    /// Past.
    Past,
    /// Present (unmarked in every language).
    Present,
    /// Future.
    Future,
}

/// A noun phrase of a meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NounPhrase {
    /// Entity, category, domain or name.
    pub head: ConceptId,
    /// Optional adjective.
    pub attribute: Option<ConceptId>,
    /// Optional numeral (only when plural).
    pub numeral: Option<ConceptId>,
    /// Grammatical number.
    pub plural: bool,
}

/// What is said about the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Predicate {
    /// "subject ACTION object".
    Action {
        /// The verb.
        action: ConceptId,
        /// The object.
        object: NounPhrase,
    },
    /// Taxonomic: "subject is a kind of category".
    IsA {
        /// An ancestor (category or domain) of the subject.
        category: ConceptId,
    },
}

/// A language-independent meaning; equal meanings render to the "same sentence" in every
/// language, so it doubles as the same-meaning label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Meaning {
    /// Subject.
    pub subject: NounPhrase,
    /// Predicate.
    pub predicate: Predicate,
    /// Tense.
    pub tense: Tense,
}

impl Meaning {
    /// Content concepts mentioned (heads, attributes, numerals, verb, category), in
    /// subject–verb–object order; the concept labels of the sentence.
    pub fn concepts(&self) -> Vec<ConceptId> {
        let mut out = Vec::with_capacity(7);
        let np = |np: &NounPhrase, out: &mut Vec<ConceptId>| {
            out.extend(np.numeral);
            out.extend(np.attribute);
            out.push(np.head);
        };
        np(&self.subject, &mut out);
        match &self.predicate {
            Predicate::Action { action, object } => {
                out.push(*action);
                np(object, &mut out);
            }
            Predicate::IsA { category } => out.push(*category),
        }
        out
    }
}

/// The concept inventory and its structure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    /// All concepts; ids are indices.
    pub concepts: Vec<Concept>,
    /// Domain concepts, by domain index.
    pub domains: Vec<ConceptId>,
    /// Category concepts.
    pub categories: Vec<ConceptId>,
    /// Leaf entities.
    pub entities: Vec<ConceptId>,
    /// Verbs.
    pub actions: Vec<ConceptId>,
    /// Adjectives.
    pub attributes: Vec<ConceptId>,
    /// Proper names.
    pub names: Vec<ConceptId>,
    /// Numerals.
    pub numerals: Vec<ConceptId>,
    /// Filler words.
    pub fillers: Vec<ConceptId>,
    /// Function words, in [`FUNCTION_WORDS`] order.
    pub function_words: Vec<ConceptId>,
    /// Names and numerals that are anchors (identical in every language).
    pub anchors: Vec<ConceptId>,
    /// Per concept: allowed subject domains (verbs only; empty otherwise).
    pub subject_domains: Vec<Vec<usize>>,
    /// Per concept: allowed object domains (verbs only).
    pub object_domains: Vec<Vec<usize>>,
    /// Per domain: compatible adjectives.
    pub domain_attributes: Vec<Vec<ConceptId>>,
    /// Per concept: whether it is an anchor.
    pub is_anchor: Vec<bool>,
    /// Per domain: its categories.
    pub domain_categories: Vec<Vec<ConceptId>>,
    /// Per domain: its entities.
    pub domain_entities: Vec<Vec<ConceptId>>,
}

impl World {
    pub(crate) fn generate(cfg: &SynthLangConfig, rng: &mut ChaCha8Rng) -> World {
        let mut concepts = Vec::new();
        let mut add = |kind, label: String, parent, domain| {
            let id = concepts.len();
            concepts.push(Concept {
                id,
                kind,
                label,
                parent,
                domain,
            });
            id
        };
        let mut w = World {
            concepts: Vec::new(),
            domains: vec![],
            categories: vec![],
            entities: vec![],
            actions: vec![],
            attributes: vec![],
            names: vec![],
            numerals: vec![],
            fillers: vec![],
            function_words: vec![],
            anchors: vec![],
            subject_domains: vec![],
            object_domains: vec![],
            domain_attributes: vec![],
            is_anchor: vec![],
            domain_categories: vec![],
            domain_entities: vec![],
        };
        for d in 0..cfg.n_domains {
            let dom = add(ConceptKind::Domain, format!("D{d}"), None, Some(d));
            w.domains.push(dom);
            let (mut cats, mut ents) = (vec![], vec![]);
            for c in 0..cfg.categories_per_domain {
                let cat = add(
                    ConceptKind::Category,
                    format!("D{d}.C{c}"),
                    Some(dom),
                    Some(d),
                );
                cats.push(cat);
                for e in 0..cfg.entities_per_category {
                    ents.push(add(
                        ConceptKind::Entity,
                        format!("D{d}.C{c}.E{e}"),
                        Some(cat),
                        Some(d),
                    ));
                }
            }
            w.categories.extend(&cats);
            w.entities.extend(&ents);
            w.domain_categories.push(cats);
            w.domain_entities.push(ents);
        }
        for i in 0..cfg.n_actions {
            w.actions
                .push(add(ConceptKind::Action, format!("A{i}"), None, None));
        }
        for i in 0..cfg.n_attributes {
            w.attributes
                .push(add(ConceptKind::Attribute, format!("Q{i}"), None, None));
        }
        for i in 0..cfg.n_names {
            w.names
                .push(add(ConceptKind::Name, format!("N{i}"), None, None));
        }
        for i in 0..cfg.n_numerals {
            let v = i as u32 + 2;
            w.numerals
                .push(add(ConceptKind::Numeral(v), format!("#{v}"), None, None));
        }
        for f in FUNCTION_WORDS {
            w.function_words
                .push(add(ConceptKind::Function(f), format!("{f:?}"), None, None));
        }
        for i in 0..cfg.n_filler_words {
            w.fillers
                .push(add(ConceptKind::Filler, format!("F{i}"), None, None));
        }
        let n = concepts.len();
        w.concepts = concepts;
        w.subject_domains = vec![vec![]; n];
        w.object_domains = vec![vec![]; n];
        let all: Vec<usize> = (0..cfg.n_domains).collect();
        let subset = |rng: &mut ChaCha8Rng| -> Vec<usize> {
            if !cfg.selectional_restrictions {
                return all.clone();
            }
            let mut s: Vec<usize> = all
                .iter()
                .copied()
                .filter(|_| rng.random_bool(0.5))
                .collect();
            if s.is_empty() {
                s.push(rng.random_range(0..cfg.n_domains));
            }
            s
        };
        for &a in &w.actions {
            w.subject_domains[a] = subset(rng);
            w.object_domains[a] = subset(rng);
        }
        w.domain_attributes = vec![vec![]; cfg.n_domains];
        for &q in &w.attributes {
            for d in subset(rng) {
                w.domain_attributes[d].push(q);
            }
        }
        w.is_anchor = vec![false; n];
        let mut candidates: Vec<ConceptId> = w.names.iter().chain(&w.numerals).copied().collect();
        rand::seq::SliceRandom::shuffle(candidates.as_mut_slice(), rng);
        let k = (cfg.anchor_fraction * candidates.len() as f64).round() as usize;
        candidates.truncate(k.min(candidates.len()));
        candidates.sort_unstable();
        for &c in &candidates {
            w.is_anchor[c] = true;
        }
        w.anchors = candidates;
        w
    }

    /// The id of a function word.
    pub fn function(&self, f: FunctionWord) -> ConceptId {
        // FUNCTION_WORDS and function_words are built in the same order.
        let i = FUNCTION_WORDS.iter().position(|&g| g == f).unwrap_or(0);
        self.function_words[i]
    }

    /// Parent, grandparent, ... of `c` (nearest first).
    pub fn ancestors(&self, c: ConceptId) -> Vec<ConceptId> {
        let mut out = vec![];
        let mut cur = self.concepts.get(c).and_then(|x| x.parent);
        while let Some(p) = cur {
            out.push(p);
            cur = self.concepts[p].parent;
        }
        out
    }

    /// Direct children of `c` in the hierarchy.
    pub fn children(&self, c: ConceptId) -> Vec<ConceptId> {
        self.concepts
            .iter()
            .filter(|x| x.parent == Some(c))
            .map(|x| x.id)
            .collect()
    }

    /// Whether `c` is `ancestor` or lies below it.
    pub fn is_a(&self, c: ConceptId, ancestor: ConceptId) -> bool {
        c == ancestor || self.ancestors(c).contains(&ancestor)
    }

    /// Whether `c` is a noun head that takes no determiner or plural (a name).
    pub(crate) fn is_name(&self, c: ConceptId) -> bool {
        matches!(self.concepts[c].kind, ConceptKind::Name)
    }

    fn sample_np(
        &self,
        cfg: &SynthLangConfig,
        rng: &mut ChaCha8Rng,
        domains: &[usize],
        allow_name: bool,
    ) -> NounPhrase {
        let s = &cfg.sampling;
        if allow_name && !self.names.is_empty() && rng.random_bool(s.p_name) {
            let head = *self.names.choose(rng).unwrap_or(&self.names[0]);
            return NounPhrase {
                head,
                attribute: None,
                numeral: None,
                plural: false,
            };
        }
        let d = *domains.choose(rng).unwrap_or(&0);
        let head = if rng.random_bool(s.p_category_head) {
            if rng.random_bool(0.5) {
                self.domains[d]
            } else {
                *self.domain_categories[d]
                    .choose(rng)
                    .unwrap_or(&self.domains[d])
            }
        } else {
            *self.domain_entities[d]
                .choose(rng)
                .unwrap_or(&self.domains[d])
        };
        let plural = rng.random_bool(s.p_plural);
        let numeral = if plural && rng.random_bool(s.p_numeral) {
            self.numerals.choose(rng).copied()
        } else {
            None
        };
        let attribute = if rng.random_bool(s.p_attribute) {
            self.domain_attributes[d].choose(rng).copied()
        } else {
            None
        };
        NounPhrase {
            head,
            attribute,
            numeral,
            plural,
        }
    }

    /// One meaning drawn from the config's sampling distribution.
    pub(crate) fn sample_meaning(&self, cfg: &SynthLangConfig, rng: &mut ChaCha8Rng) -> Meaning {
        if rng.random_bool(cfg.sampling.taxonomy_rate) {
            let e = *self.entities.choose(rng).unwrap_or(&self.entities[0]);
            let anc = self.ancestors(e);
            let category = *anc.choose(rng).unwrap_or(&e);
            return Meaning {
                subject: NounPhrase {
                    head: e,
                    attribute: None,
                    numeral: None,
                    plural: false,
                },
                predicate: Predicate::IsA { category },
                tense: Tense::Present,
            };
        }
        let action = *self.actions.choose(rng).unwrap_or(&self.actions[0]);
        let subject = self.sample_np(cfg, rng, &self.subject_domains[action], true);
        let object = self.sample_np(cfg, rng, &self.object_domains[action], false);
        let tense = [Tense::Past, Tense::Present, Tense::Future][rng.random_range(0..3)];
        Meaning {
            subject,
            predicate: Predicate::Action { action, object },
            tense,
        }
    }
}
