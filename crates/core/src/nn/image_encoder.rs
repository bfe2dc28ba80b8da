//! The contract image methods run on: ember's own [`CnnEncoder`] and a loaded CLIP image
//! tower ([`ClipVisionModel`]) both implement [`ImageEncoder`], so a method written once
//! (Proxy-FDA fine-tuning, prompt learning) runs on a model trained here or on CLIP.

use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;

use crate::error::Result;
use crate::nn::CnnEncoder;
use crate::pretrained::ClipVisionModel;

/// Images in, one feature vector per image out; a Burn [`Module`], so it can be fine-tuned
/// (build or load it on `device.autodiff()`), checkpointed and averaged.
pub trait ImageEncoder: Module + ModuleDisplay {
    /// Features `[B, D]` of normalised images `[B, C, H, W]`. Errors: an input shape the
    /// encoder cannot take (e.g. a CLIP tower fed a different image size).
    fn encode(&self, images: Tensor<4>) -> Result<Tensor<2>>;
    /// Width `D` of [`ImageEncoder::encode`]'s output.
    fn feature_dim(&self) -> usize;
}

impl ImageEncoder for CnnEncoder {
    fn encode(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        Ok(self.forward(images))
    }
    fn feature_dim(&self) -> usize {
        CnnEncoder::feature_dim(self)
    }
}

/// CLIP's image features (`get_image_features`: the projected pooled output, not
/// normalised), the features CLIP fine-tuning papers regularise.
impl ImageEncoder for ClipVisionModel {
    fn encode(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        self.image_features(images)
    }
    fn feature_dim(&self) -> usize {
        self.embed_dim()
    }
}
