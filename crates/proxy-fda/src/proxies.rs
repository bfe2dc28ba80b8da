//! The proxies' pooling weights, the data the generator ([`crate::proxy`]) hands to the
//! Proxy-FDA loss ([`crate::fda::proxy_fda_loss`]). A module of its own so that neither of
//! those two imports the other.

use burn::prelude::*;
use ember_core::{Error, Result};

/// Which set a proxy is pooled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxySet {
    /// Neighbours `X_i⁺`.
    Positive,
    /// Non-neighbours `X_i⁻`.
    Negative,
}

/// Pooling weights of one batch: `A⁺, A⁻: [B, n_p, B]`, rows on the simplex over members.
#[derive(Debug, Clone)]
pub struct Proxies {
    /// Weights over the neighbour set.
    pub pos: Tensor<3>,
    /// Weights over the non-neighbour set.
    pub neg: Tensor<3>,
}

impl Proxies {
    /// Proxies per set.
    pub fn n_p(&self) -> usize {
        self.pos.dims()[1]
    }

    pub(crate) fn check(&self, b: usize) -> Result<()> {
        let [b1, n1, c1] = self.pos.dims();
        let [b2, n2, c2] = self.neg.dims();
        if b1 != b || c1 != b || [b2, n2, c2] != [b1, n1, c1] || n1 == 0 {
            return Err(Error::Shape(format!(
                "proxy weights {:?}/{:?} do not match a batch of {b}",
                self.pos.dims(),
                self.neg.dims()
            )));
        }
        Ok(())
    }

    /// Both sets' weights side by side: `[B, 2 n_p, B]`, positive proxies first.
    pub fn both(&self) -> Tensor<3> {
        Tensor::cat(vec![self.pos.clone(), self.neg.clone()], 1)
    }

    /// Pool features `x: [B, d]` with the weights of `set` -> `[B, n_p, d]` (not normalised).
    pub fn pool(&self, set: ProxySet, x: Tensor<2>) -> Tensor<3> {
        let a = match set {
            ProxySet::Positive => self.pos.clone(),
            ProxySet::Negative => self.neg.clone(),
        };
        a.matmul(x.unsqueeze_dim::<3>(0))
    }
}
