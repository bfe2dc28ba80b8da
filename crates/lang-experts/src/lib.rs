#![doc = include_str!("../README.md")]

pub mod analysis;
pub mod capture;
pub mod checkpoint;
pub mod concepts;
pub mod expertise;
pub mod intervene;
pub mod world;

pub use capture::{CaptureConfig, Pooling, Responses, UnitIndex, collect};
pub use expertise::{ExpertSet, Expertise, Metric, UnitStats};
pub use intervene::{
    ForceValue, SampleOptions, Scope, aura, force_experts, random_control, sample,
};

#[cfg(feature = "eval")]
pub mod experiment;
