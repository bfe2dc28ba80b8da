#![doc = include_str!("../README.md")]

pub mod checkpoint;
pub mod clip;
pub mod cupl;
pub mod dual;
#[cfg(feature = "eval")]
pub mod experiment;
pub mod learners;
pub mod pretrain;
pub mod train;
pub mod world;

pub use clip::{SmallClip, SmallClipConfig};
pub use cupl::{CuplPrompts, parse_cupl, read_cupl, write_cupl};
pub use dual::{DualEncoder, FramedPrompts, HfPromptTokenizer, PromptTokenizer, encode_texts};
pub use learners::{
    Aape, AapeConfig, Aggregation, Aggregator, ClassTextSpec, ClassTexts, CoCoOp, CoOp, Combiner,
    cosine_logits, kgcoop_penalty, l2n,
};
pub use train::{Features, LearnConfig, LearnInputs, Learned, Method, train};
pub use world::{AttrWorld, Domain, Images, WorldConfig, WorldTokenizer};
