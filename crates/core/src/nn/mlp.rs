//! A small multi-layer perceptron: probes, projection heads, coefficient networks.

use super::activation::gelu;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;

/// Configuration of an [`Mlp`]: `d_in -> hidden... -> d_out`, GELU between layers.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input width.
    pub d_in: usize,
    /// Hidden widths (empty: a single linear layer).
    pub hidden: Vec<usize>,
    /// Output width.
    pub d_out: usize,
    /// Dropout after each hidden activation.
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl MlpConfig {
    /// Checks widths and dropout before anything is built.
    pub fn validate(&self) -> crate::Result<()> {
        if self.d_in == 0 || self.d_out == 0 || self.hidden.contains(&0) {
            return Err(crate::Error::Config(format!(
                "MlpConfig: every width must be positive (d_in {}, hidden {:?}, d_out {})",
                self.d_in, self.hidden, self.d_out
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(crate::Error::Config(format!(
                "MlpConfig: dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        Ok(())
    }

    /// [`MlpConfig::init`] after [`MlpConfig::validate`].
    pub fn try_init(&self, device: &Device) -> crate::Result<Mlp> {
        self.validate()?;
        Ok(self.init(device))
    }

    /// Build the MLP on `device`.
    ///
    /// # Panics
    /// With [`MlpConfig::validate`]'s message on an invalid configuration.
    pub fn init(&self, device: &Device) -> Mlp {
        if let Err(e) = self.validate() {
            panic!("{e}");
        }
        let mut dims = vec![self.d_in];
        dims.extend(&self.hidden);
        dims.push(self.d_out);
        let layers = dims
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        Mlp {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// A stack of linear layers with GELU in between (none after the last).
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
}

impl Mlp {
    /// `[..., d_in] -> [..., d_out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let n = self.layers.len();
        self.layers.iter().enumerate().fold(x, |x, (i, l)| {
            let y = l.forward(x);
            if i + 1 < n {
                self.dropout.forward(gelu(y))
            } else {
                y
            }
        })
    }
}
