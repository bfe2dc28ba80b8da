#![doc = include_str!("../README.md")]
#![recursion_limit = "256"]

pub mod baselines;
pub mod checkpoint;
#[cfg(feature = "eval")]
pub mod experiment;
pub mod fda;
pub mod forgetting;
mod fused;
pub mod image_folder;
pub mod knn;
pub mod method;
pub mod proxies;
pub mod proxy;
pub mod sampler;
pub mod synth;
pub mod train;
mod util;

pub use baselines::{collect_params, l2sp_penalty, ldifs_penalty, wise_ft};
pub use fda::{Bias, FdaConfig, NegWeight, fda_loss, proxy_fda_loss};
pub use forgetting::{
    LinearProbeConfig, OtConfig, linear_probe_accuracy, mean_sq_l2, normalize_rows, ot_distance,
    sinkhorn,
};
pub use image_folder::{ImageFolder, ImageFolderConfig, read_image_folder};
pub use knn::KnnGraph;
pub use method::FtMethod;
pub use proxy::{Proxies, ProxyGenerator, ProxyGeneratorConfig, ProxyLossConfig, ProxySet};
pub use sampler::ClassBalancedSampler;
pub use train::{
    FtData, FtModel, PreFeatureCache, Regularizer, fda_step, finetune_step, linear_probe_step,
    naive_step, proxy_fda_step, sync_running_stats,
};
