#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod captions;
pub mod conv;
pub mod features;
pub mod foa;
pub mod io;
pub mod model;
pub mod room;
pub mod sounds;
pub mod world;

#[cfg(feature = "eval")]
pub mod experiment;

pub use captions::{SpatialAttributes, spatial_caption};
pub use features::{ClipFeatures, FeatureConfig, FeatureExtractor};
pub use foa::Direction;
pub use io::{read_captions, read_foa_wav, write_foa_wav};
pub use model::{AudioEncoder, AudioEncoderConfig, Elsa, TextEncoder, elsa_loss};
pub use room::{Shoebox, SimConfig, TailConfig, foa_rir, inverse_sabine, measure_t60, omni_rir};
