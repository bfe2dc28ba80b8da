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
//! * [`eval`]: multiple-choice fact QA scored by length-normalised sentence log-likelihood.
//!
//! ```
//! use ember_soup::auxlang::{BilingualPair, Closeness, Sentence, World, WorldConfig};
//! # fn main() -> ember_core::Result<()> {
//! let world = World::new(WorldConfig { n_topics: 2, entities_per_topic: 4, ..Default::default() })?;
//! let pair = BilingualPair::new(&world, &Closeness::C3.config(), 7)?;
//! let fact = world.fact(5, 1)?;
//! let a = pair.aux().render_sentence(&Sentence::Fact(fact));
//! let t = pair.target().render_sentence(&Sentence::Fact(fact));
//! assert_eq!(a.len(), 4); // ENT REL VAL .
//! assert_eq!(t.len(), 5); // VAL REL ENT₁ ENT₂ .  (head-final, split entity)
//! println!("A: {}   T: {}", pair.decode(&a), pair.decode(&t));
//! # Ok(()) }
//! ```

pub mod eval;
pub mod language;
pub mod mixing;
pub mod translate;
pub mod world;

pub use eval::{
    QaItem, QaResult, accuracy_from_scores, argmax, qa_accuracy, qa_items, score_items,
};
pub use language::{
    BilingualPair, Closeness, DOT, EOS, Language, LanguageConfig, Symbol, WordOrder,
};
pub use mixing::{MixSampler, MixSource, SourceUsage};
pub use translate::{NoisyTranslator, TranslationStats};
pub use world::{CorpusConfig, Document, Fact, FactSet, Sentence, World, WorldConfig};
