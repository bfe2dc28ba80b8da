//! Auxiliary-language pretraining for a data-constrained target language (paper P6:
//! Seto et al., *Training Bilingual LMs with Data Constraints in the Targeted Language*,
//! arXiv 2411.12986), as the offline synthetic reproduction of spec §5.2.
//!
//! The method changes no model or loss; everything is in the data:
//! * [`world`]: a latent fact world (entities in topics, relations with their own value
//!   sets, random fact values) and topic-coherent documents mixing fact statements with
//!   low-information filler at a quality knob `q`;
//! * [`language`]: an auxiliary language A and a target language T over one shared id space,
//!   T derived from A by lexical overlap, word order and segmentation ([`Closeness`] C0..C3);
//! * [`mixing`]: a fixed-ratio window sampler that counts passes over each source;
//! * [`translate`]: a noisy A → T "translation system" (corrupts each symbol with
//!   probability ε);
//! * [`eval`]: multiple-choice fact QA scored by length-normalised sentence log-likelihood;
//! * [`upsample`]: clustered importance sampling of the auxiliary corpus towards a small
//!   target-like probe set (CRISP, P6 §4.2).
//!
//! **Not ember-core's synthlang.** `ember_core::data::synthlang` is a *meaning* world
//! (concept hierarchy, verbs, adjectives, tense) rendered as word strings in graded languages
//! that a tokenizer then encodes. P6 needs something else: facts with one true value to ask
//! about, corpora restricted to a subset of the facts, filler at a quality knob, and two
//! languages sharing token *ids* with a controlled overlap. Hence its own [`FactWorld`]
//! (fact values and a filler chain, documents of [`FactSentence`]s) rendered straight to
//! token ids by a [`TokenLanguage`]; only the [`WordOrder`] enum is core's.
//!
//! ```
//! use ember_soup::auxlang::{
//!     BilingualPair, Closeness, CorpusConfig, FactSentence, FactSet, FactWorld, FactWorldConfig,
//!     MixSampler,
//! };
//!
//! let world = FactWorld::new(FactWorldConfig { n_topics: 2, entities_per_topic: 4, ..Default::default() }).unwrap();
//! // A far target language: no shared ids, reversed order (OVS), entities split in two sub-tokens.
//! let pair = BilingualPair::new(&world, &Closeness::C3.config(), 7).unwrap();
//! let fact = world.fact(5, 1).unwrap();
//! let a = pair.aux().render_sentence(&FactSentence::Fact(fact));
//! let t = pair.target().render_sentence(&FactSentence::Fact(fact));
//! println!("A: {}\nT: {}", pair.decode(&a), pair.decode(&t)); // e.g. "e5 r1 v1_3 ." / "T.v1_3 T.r1 T.p1 T.s2 ."
//! assert_eq!((a.len(), t.len()), (4, 5));
//!
//! // A scarce T corpus (25% of facts) mixed in at 5% of training windows.
//! let t_facts = FactSet::stratified(&world, 0.25, 1).unwrap();
//! let docs = world.documents(&CorpusConfig::new(0.5, 2_000, 2), &t_facts).unwrap();
//! let t_stream = pair.target().stream(&docs);
//! let mut sampler = MixSampler::with_target_ratio(1_000, t_stream.len() / 33, 0.05, 0).unwrap();
//! let draws = sampler.batch(400);
//! assert_eq!(draws.iter().filter(|d| d.0 == 1).count(), 20);
//! println!("passes over T so far: {:.2}", sampler.epochs()[1]);
//! ```

pub mod eval;
pub mod language;
pub mod mixing;
pub mod translate;
pub mod upsample;
pub mod world;

/// Word order of fact sentences: ember-core's synthlang enum (entity = subject, relation =
/// verb, value = object).
pub use ember_core::data::synthlang::WordOrder;
pub use eval::{
    QaItem, QaResult, accuracy_from_scores, argmax, qa_accuracy, qa_items, score_items,
};
pub use language::{
    BilingualPair, Closeness, DOT, EOS, Symbol, TokenLanguage, TokenLanguageConfig,
};
pub use mixing::{MixSampler, MixSource, SourceUsage};
pub use translate::{NoisyTranslator, TranslationStats};
pub use upsample::ClusterUpsampler;
pub use world::{
    CorpusConfig, Fact, FactDocument, FactSentence, FactSet, FactWorld, FactWorldConfig,
};
