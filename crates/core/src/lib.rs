#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod audio;
pub mod backend;
pub mod cluster;
pub mod data;
pub mod error;
#[cfg(feature = "eval")]
pub mod eval;
#[cfg(feature = "eval")]
pub mod experiment;
pub mod host;
pub mod lm;
pub mod loss;
pub mod metrics;
pub mod nn;
pub mod ops;
pub mod pretrained;
pub mod progress;
pub mod seed;
pub mod testing;
pub mod train;

/// Eval reports (claims, tables, PNG plots, JSON, markdown): the `ember-report` crate.
pub use ember_report as report;

pub use error::{Error, Result};
