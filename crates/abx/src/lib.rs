#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod checkpoint;
pub mod dataset;
pub mod distance;
pub mod engine;
#[cfg(feature = "eval")]
pub mod experiment;
pub mod npy;
pub mod probe;
pub mod repr;
mod screen;
pub mod text;
pub mod zerospeech;

pub use checkpoint::{CheckpointAbx, CheckpointAbxResult, LayerAbx};
pub use dataset::Dataset;
pub use distance::{Distance, dtw_normalized};
pub use engine::{CellScore, Score, Subsample, Task, score};
pub use npy::{NpyArray, read_npy, write_npy};
pub use repr::{LayerReprs, Pooling, SpecialIds, hf_special_ids, pool_checkpoints, pool_layers};
pub use text::{
    Blocks, Grams, Interval, MdKernel, ParallelEmbeddings, TextAbx, TextTask, meaning_abx,
    meaning_abx_with, text_abx,
};
pub use zerospeech::{ItemLine, load_zerospeech, read_item_file, zerospeech_task};
