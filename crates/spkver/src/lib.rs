#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod checkpoint;
pub mod data;
pub mod encoder;
pub mod espeak;
#[cfg(feature = "eval")]
pub mod experiment;
pub mod fbank;
pub mod features;
pub mod heads;
pub mod scoring;
pub mod synth;
pub mod train;
pub mod wav;

pub use data::{
    ScanOptions, Trial, TrialList, Utterance, read_trials, scan_speaker_tree,
    scan_speaker_tree_with,
};
pub use encoder::{SslEncoder, SslEncoderConfig};
pub use fbank::{Fbank, FbankConfig, Features};
pub use features::{LayerFeatures, Standardizer, extract_layers, mean_std_vector};
pub use heads::{
    AttentiveStatsPool, LayerWeights, SimpleHead, SimpleHeadConfig, SpeakerHead, XVectorHead,
    XVectorHeadConfig, stats_pool,
};
pub use scoring::{all_pairs_trials, cosine_scores, evaluate};
pub use synth::{CorpusConfig, SessionParams, SpeakerParams, generate_corpus, synthesize};
pub use wav::{decode_wav, read_wav, write_wav};
