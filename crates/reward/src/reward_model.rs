//! The explicit reward model (EXRM): a language-model backbone with a scalar head read at the
//! last response token (the EOS position when responses end with EOS), trained with the
//! Bradley-Terry loss `−log σ(r(x, y_w) − r(x, y_l))` (TRL's `RewardTrainer`, OpenRLHF's
//! `RewardModel`: `Linear(d, 1)` on the final hidden state, std `1/(d+1)` init).

use crate::data::PreferencePair;
use crate::policy::{PairBatch, to_f64};
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use ember_core::nn::LanguageModel;
use ember_core::nn::transformer::{ForwardOptions, TransformerInput};
use ember_core::{Error, Result};

/// A backbone `M` (any [`LanguageModel`] that is a Burn module) and a scalar head.
#[derive(Module, Debug)]
pub struct RewardModel<M: Module> {
    /// The language model whose final hidden states are scored.
    pub backbone: M,
    /// `Linear(d_model, 1)`.
    pub head: Linear,
}

impl<M: Module + LanguageModel> RewardModel<M> {
    /// Wraps `backbone` with a fresh head, weights `N(0, 1/(d+1))` and zero bias
    /// (OpenRLHF's value-head init); uses `device`'s RNG.
    pub fn new(backbone: M, device: &Device) -> Self {
        let d = backbone.d_model();
        let head = LinearConfig::new(d, 1)
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: 1.0 / (d as f64 + 1.0),
            })
            .init(device);
        let head = Linear {
            bias: Some(Param::from_tensor(Tensor::zeros([1], device))),
            ..head
        };
        Self { backbone, head }
    }

    /// Rewards `[2B]` of the rows of `batch` (chosen rows first), differentiable.
    pub fn rewards(&self, batch: &PairBatch) -> Result<Tensor<1>> {
        let out = self.backbone.forward_with(
            TransformerInput::Tokens(batch.ids.clone()),
            ForwardOptions::default().with_pad_mask(batch.pad.clone()),
        )?;
        let h = out.last_hidden;
        let [n, t, d] = h.dims();
        if batch.last.dims() != [n, t] {
            return Err(Error::Shape(format!(
                "reward model: batch last-token mask is {:?}, hidden states are [{n}, {t}, {d}]",
                batch.last.dims()
            )));
        }
        let pooled = (h * batch.last.clone().reshape([n, t, 1]))
            .sum_dim(1)
            .reshape([n, d]);
        Ok(self.head.forward(pooled).reshape([n]))
    }

    /// Rewards `(chosen [B], rejected [B])` of the pairs in `batch`.
    pub fn pair_rewards(&self, batch: &PairBatch) -> Result<(Tensor<1>, Tensor<1>)> {
        let b = batch.pairs;
        let r = self.rewards(batch)?;
        Ok((r.clone().narrow(0, 0, b), r.narrow(0, b, b)))
    }

    /// The Bradley-Terry loss of `batch` (ember-core's [`ember_core::loss::bradley_terry`],
    /// β = 1).
    pub fn loss(&self, batch: &PairBatch) -> Result<Tensor<1>> {
        let (c, r) = self.pair_rewards(batch)?;
        ember_core::loss::bradley_terry(c, r, 1.0)
    }

    /// Host rewards `(chosen, rejected)` of every pair, in batches of `batch`, no gradients.
    pub fn score_pairs(
        &self,
        pairs: &[PreferencePair],
        pad_id: u32,
        batch: usize,
        device: &Device,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        if pairs.is_empty() {
            return Err(Error::InvalidInput("score_pairs: no pairs".into()));
        }
        let (mut c, mut r) = (Vec::new(), Vec::new());
        for chunk in pairs.chunks(batch.max(1)) {
            let refs: Vec<&PreferencePair> = chunk.iter().collect();
            let pb = PairBatch::new(
                &refs,
                pad_id,
                self.backbone.max_len(),
                self.backbone.vocab_size(),
                device,
            )?;
            let (lc, lr) = self.pair_rewards(&pb)?;
            c.extend(to_f64(lc, "chosen rewards")?);
            r.extend(to_f64(lr, "rejected rewards")?);
        }
        Ok((c, r))
    }
}
