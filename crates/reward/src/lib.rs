#![doc = include_str!("../README.md")]

pub mod checkpoint;
pub mod data;
pub mod loss;
pub mod policy;
pub mod reward_model;
pub mod shift;
pub mod train;
pub mod world;

#[cfg(feature = "eval")]
pub mod experiment;

pub use data::{PreferencePair, TextPair, read_preferences, tokenize_pairs};
pub use loss::{
    DpoConfig, DpoKind, PairLogProbs, Ties, dpo_loss, implicit_rewards, preference_accuracy,
};
pub use policy::{LogProbReduction, PairBatch, ReferenceCache, pair_logprobs};
pub use reward_model::RewardModel;
pub use world::{Setting, World, WorldConfig};
