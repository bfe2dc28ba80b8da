#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod auxlang;
pub mod bank;
pub mod corpus;
pub mod domains;
#[cfg(feature = "eval")]
pub mod experiment;
pub mod jsonl;
pub mod meta;
pub mod mixture;
pub mod soe;
pub mod train;

pub use bank::FrozenSoup;
pub use corpus::{MarkovCorpus, MarkovCorpusConfig};
pub use domains::{Featurizer, domain_weights};
pub use jsonl::{TextDocument, read_jsonl, write_jsonl};
pub use meta::MetaDistribution;
pub use mixture::{AliasTable, MixtureSampler};
pub use soe::{AlphaNorm, SoupConfig, SoupOfExperts};
