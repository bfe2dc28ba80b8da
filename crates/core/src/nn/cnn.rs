//! A small convolutional image encoder (conv-BN-ReLU stages, global average pooling,
//! linear projection): the vision tower of the reproductions (Proxy-FDA, AAPE).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Configuration of a [`CnnEncoder`].
#[derive(Config, Debug)]
pub struct CnnEncoderConfig {
    /// Input channels (3 for RGB).
    #[config(default = 3)]
    pub in_channels: usize,
    /// Output channels of each stage; every stage halves the resolution (stride 2).
    #[config(default = "vec![16, 32, 64]")]
    pub channels: Vec<usize>,
    /// Width of the output embedding.
    pub d_out: usize,
}

impl CnnEncoderConfig {
    /// Checks channel counts and the output width before anything is built.
    pub fn validate(&self) -> crate::Result<()> {
        if self.in_channels == 0 || self.d_out == 0 || self.channels.contains(&0) {
            return Err(crate::Error::Config(format!(
                "CnnEncoderConfig: every width must be positive (in_channels {}, channels {:?}, d_out {})",
                self.in_channels, self.channels, self.d_out
            )));
        }
        Ok(())
    }

    /// [`CnnEncoderConfig::init`] after [`CnnEncoderConfig::validate`].
    pub fn try_init(&self, device: &Device) -> crate::Result<CnnEncoder> {
        self.validate()?;
        Ok(self.init(device))
    }

    /// Build the encoder on `device`.
    ///
    /// # Panics
    /// With [`CnnEncoderConfig::validate`]'s message on an invalid configuration.
    pub fn init(&self, device: &Device) -> CnnEncoder {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let mut c_in = self.in_channels;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for &c in &self.channels {
            convs.push(
                Conv2dConfig::new([c_in, c], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
            );
            norms.push(BatchNormConfig::new(c).init(device));
            c_in = c;
        }
        CnnEncoder {
            convs,
            norms,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            proj: LinearConfig::new(c_in, self.d_out).init(device),
        }
    }
}

/// `[B, C, H, W] -> [B, d_out]`.
#[derive(Module, Debug)]
pub struct CnnEncoder {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    pool: AdaptiveAvgPool2d,
    proj: Linear,
}

impl CnnEncoder {
    /// Embed a batch of images `[B, C, H, W]` into `[B, d_out]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self
            .convs
            .iter()
            .zip(&self.norms)
            .fold(images, |x, (conv, norm)| {
                relu(norm.forward(conv.forward(x)))
            });
        let [b, c, _, _] = x.dims();
        self.proj.forward(self.pool.forward(x).reshape([b, c]))
    }

    /// Width of [`CnnEncoder::forward`]'s output (`d_out`).
    pub fn feature_dim(&self) -> usize {
        self.proj.weight.dims()[1]
    }
}
