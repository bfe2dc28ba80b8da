//! Data for the paper crates: text without Burn (callers turn ids into tensors), and image folders.
//!
//! - [`synthlang`]: a seeded meaning world (entity hierarchy, verbs, attributes, tense,
//!   number) rendered into several synthetic languages whose closeness is set knob by knob
//!   (shared vocabulary, word order, affixes, script, anchors, code-switching). It yields
//!   parallel corpora with meaning and concept labels, unbalanced monolingual streams, and
//!   per-pair distance descriptors.
//! - [`tokenizer`]: a word-level tokenizer with a greedy longest-match subword fallback,
//!   special tokens, optional language tags, padded batches and atomic JSON save/load.
//! - [`flores`]: reader and writer for FLORES-style parallel text (one file per language,
//!   aligned lines), so real and synthetic evaluation sets share one format.
//! - [`image_folder`]: the ImageFolder reader (`root/<class>/<image>`, decoded into tensors
//!   for an [`crate::nn::ImageEncoder`]), shared by the image papers (Proxy-FDA, AAPE).

pub mod flores;
pub mod image_folder;
pub mod synthlang;
pub mod tokenizer;

pub use flores::{FloresLayout, ParallelText, read_flores, read_flores_all, write_parallel};
pub use synthlang::{SynthLang, SynthLangConfig};
pub use tokenizer::{Batch, BatchOptions, Tokenizer, TokenizerConfig};
