//! Neural-network building blocks shared by the paper crates.
//!
//! - [`transformer`]: a pre-LN Transformer that is a bidirectional encoder (MLM) or a causal
//!   decoder (LM), exposes every layer's hidden states and MLP neuron activations, and
//!   applies neuron interventions inside the MLP.
//! - [`mlp`]: a small multi-layer perceptron (heads, probes, adapters).
//! - [`cnn`]: a small convolutional image encoder.

pub mod cnn;
pub mod intervention;
pub mod mlp;
pub mod transformer;

pub use cnn::{CnnEncoder, CnnEncoderConfig};
pub use intervention::{Intervention, UnitEdit};
pub use mlp::{Mlp, MlpConfig};
pub use transformer::{ForwardOptions, Transformer, TransformerConfig, TransformerOutput};
