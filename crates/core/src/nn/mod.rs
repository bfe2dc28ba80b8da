//! Neural-network building blocks shared by the paper crates.
//!
//! - [`transformer`]: a pre-LN Transformer that is a bidirectional encoder (MLM) or a causal
//!   decoder (LM), exposes every layer's hidden states and MLP neuron activations, and
//!   applies neuron interventions inside the MLP.
//! - [`language_model`]: the [`LanguageModel`] contract that ember's Transformer and every
//!   loaded pretrained model implement, so each paper method runs on both.
//! - [`activation`]: GELU, on flex through a host kernel that returns flex's bits faster.
//! - [`mlp`]: a small multi-layer perceptron (heads, probes, adapters).
//! - [`cnn`]: a small convolutional image encoder.
//! - [`image_encoder`]: the [`ImageEncoder`] contract that the CNN and a loaded CLIP image
//!   tower implement, so each image method runs on both.

pub mod activation;
pub mod cnn;
pub mod image_encoder;
pub mod intervention;
pub mod language_model;
pub mod mlp;
pub mod transformer;

pub use cnn::{CnnEncoder, CnnEncoderConfig};
pub use image_encoder::ImageEncoder;
pub use intervention::{Intervention, UnitEdit};
pub use language_model::LanguageModel;
pub use mlp::{Mlp, MlpConfig};
pub use transformer::{
    ForwardOptions, Transformer, TransformerConfig, TransformerInput, TransformerOutput,
};
