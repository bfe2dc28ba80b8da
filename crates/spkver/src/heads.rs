//! Downstream speaker-embedding heads on frozen multi-layer features `x: [B, L, T, D]`.
//!
//! - [`LayerWeights`]: `h_t = Σ_l softmax(α)_l · x_{l,t}`, `α` initialised to 0 (SUPERB).
//! - [`stats_pool`]: `u = [mean_t h_t ‖ sqrt(var_t h_t + ε)]`.
//! - [`AttentiveStatsPool`]: `e_t = v·tanh(W h_t + b)`, `a = softmax_t(e)`,
//!   `μ = Σ a_t h_t`, `σ = sqrt(Σ a_t h_t² − μ² + ε)`, `u = [μ ‖ σ]`.
//! - [`XVectorHead`] (SUPERB baseline, scaled): connector `Linear(D→H)`, five TDNN layers
//!   (`Conv1d`, context 5/3/3/1/1, dilation 1/2/3/1/1, ReLU, no BN), stats pooling,
//!   `e = ReLU(W₁u + b₁)` (the embedding), `ReLU(W₂e + b₂)` into the classifier.
//! - [`SimpleHead`] (the paper's simplified head): weighted sum → SP or ASP → one
//!   `Linear(2D → E)`.
//!
//! Both carry a [`CosineClassifier`] for AM-softmax training (`s = 30, m = 0.4` by default,
//! [`SpeakerHead::loss`]); [`SpeakerHead::head_params`] counts parameters without it.

use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use ember_core::loss::{CosineClassifier, am_softmax};
use ember_core::{Error, Result};

/// Learned softmax weights over `L` layers.
#[derive(Module, Debug)]
pub struct LayerWeights {
    /// Logits `α`, `[L]`.
    pub alpha: Param<Tensor<1>>,
}

impl LayerWeights {
    /// `n_layers` zero logits (uniform weights).
    pub fn new(n_layers: usize, device: &Device) -> Self {
        LayerWeights {
            alpha: Param::from_tensor(Tensor::zeros([n_layers], device)),
        }
    }

    /// The normalised weights `softmax(α)`.
    pub fn weights(&self) -> Tensor<1> {
        softmax(self.alpha.val(), 0)
    }

    /// `[B, L, T, D] → [B, T, D]`.
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<3>> {
        let [b, l, t, d] = x.dims();
        let n = self.alpha.dims()[0];
        if l != n {
            return Err(Error::Shape(format!(
                "layer weights: input has {l} layers, the head was built for {n}"
            )));
        }
        let w = self.weights().reshape([1, l, 1, 1]);
        Ok((x * w).sum_dim(1).reshape([b, t, d]))
    }
}

const EPS: f64 = 1e-5;

/// Statistics pooling `[B, T, D] → [B, 2D]`: mean and (population) std over time.
pub fn stats_pool(x: Tensor<3>) -> Tensor<2> {
    let [b, _, d] = x.dims();
    let mean = x.clone().mean_dim(1);
    let var = (x - mean.clone()).powi_scalar(2).mean_dim(1);
    let std = (var + EPS).sqrt();
    Tensor::cat(vec![mean.reshape([b, d]), std.reshape([b, d])], 1)
}

/// Attentive statistics pooling (see the module docs).
#[derive(Module, Debug)]
pub struct AttentiveStatsPool {
    hidden: Linear,
    score: Linear,
}

impl AttentiveStatsPool {
    /// `d` inputs, `attn` attention units.
    pub fn new(d: usize, attn: usize, device: &Device) -> Self {
        AttentiveStatsPool {
            hidden: LinearConfig::new(d, attn).init(device),
            score: LinearConfig::new(attn, 1).init(device),
        }
    }

    /// `[B, T, D] → [B, 2D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [b, _, d] = x.dims();
        let e = self.score.forward(self.hidden.forward(x.clone()).tanh());
        let a = softmax(e, 1);
        let mean = (x.clone() * a.clone()).sum_dim(1);
        let sq = (x.powi_scalar(2) * a).sum_dim(1);
        let std = (sq - mean.clone().powi_scalar(2))
            .clamp_min(0.0)
            .add_scalar(EPS)
            .sqrt();
        Tensor::cat(vec![mean.reshape([b, d]), std.reshape([b, d])], 1)
    }
}

/// What every head offers.
pub trait SpeakerHead: Module {
    /// Utterance embeddings `[B, E]` of `x: [B, L, T, D]`.
    fn embed(&self, x: Tensor<4>) -> Result<Tensor<2>>;
    /// The output the classifier sees in training (defaults to the embedding).
    fn train_output(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        self.embed(x)
    }
    /// The AM-softmax classifier.
    fn classifier(&self) -> &CosineClassifier;
    /// The layer weights.
    fn layer_weights(&self) -> &LayerWeights;
    /// Shortest usable input in frames.
    fn min_frames(&self) -> usize {
        1
    }
    /// Parameters of the head itself (layer weights included, classifier excluded).
    fn head_params(&self) -> usize {
        self.num_params() - self.classifier().num_params()
    }
    /// AM-softmax loss `CE(s·(cos θ − m·onehot(y)))` over the classifier's cosines.
    fn loss(&self, x: Tensor<4>, labels: Tensor<1, Int>, s: f64, m: f64) -> Result<Tensor<1>> {
        let out = self.train_output(x)?;
        am_softmax(self.classifier().forward(out), labels, s, m)
    }
}

fn check_input(x: &Tensor<4>, d_in: usize, min_t: usize, what: &str) -> Result<()> {
    let [b, _, t, d] = x.dims();
    if d != d_in {
        return Err(Error::Shape(format!(
            "{what}: feature width {d}, the head expects {d_in}"
        )));
    }
    if b == 0 || t < min_t {
        return Err(Error::Shape(format!(
            "{what}: need ≥ 1 utterance of ≥ {min_t} frames, got [{b}, {t}]"
        )));
    }
    Ok(())
}

/// Pooling of the simplified head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pooling {
    /// Mean ‖ std.
    Stats,
    /// Attentive statistics pooling with this many attention units.
    Attentive(usize),
}

/// Configuration of [`SimpleHead`].
#[derive(Config, Debug)]
pub struct SimpleHeadConfig {
    /// Number of input layers `L`.
    pub n_layers: usize,
    /// Feature width `D`.
    pub d_in: usize,
    /// Embedding size `E`.
    pub d_emb: usize,
    /// Training speakers.
    pub n_speakers: usize,
    /// Attention units for ASP; 0 = plain statistics pooling.
    #[config(default = 0)]
    pub asp_units: usize,
}

/// Weighted layer sum → statistics (or attentive statistics) pooling → one linear layer.
#[derive(Module, Debug)]
pub struct SimpleHead {
    weights: LayerWeights,
    asp: Option<AttentiveStatsPool>,
    proj: Linear,
    classifier: CosineClassifier,
    d_in: usize,
}

impl SimpleHeadConfig {
    /// Build on `device`.
    pub fn init(&self, device: &Device) -> SimpleHead {
        SimpleHead {
            weights: LayerWeights::new(self.n_layers, device),
            asp: (self.asp_units > 0)
                .then(|| AttentiveStatsPool::new(self.d_in, self.asp_units, device)),
            proj: LinearConfig::new(2 * self.d_in, self.d_emb).init(device),
            classifier: CosineClassifier::new(self.d_emb, self.n_speakers, device),
            d_in: self.d_in,
        }
    }
}

impl SpeakerHead for SimpleHead {
    fn embed(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        check_input(&x, self.d_in, 1, "simple head")?;
        let h = self.weights.forward(x)?;
        let u = match &self.asp {
            Some(p) => p.forward(h),
            None => stats_pool(h),
        };
        Ok(self.proj.forward(u))
    }
    fn classifier(&self) -> &CosineClassifier {
        &self.classifier
    }
    fn layer_weights(&self) -> &LayerWeights {
        &self.weights
    }
}

/// Configuration of [`XVectorHead`].
#[derive(Config, Debug)]
pub struct XVectorHeadConfig {
    /// Number of input layers `L`.
    pub n_layers: usize,
    /// Feature width `D`.
    pub d_in: usize,
    /// TDNN width `H` (SUPERB: 512).
    pub hidden: usize,
    /// Last TDNN width (SUPERB: 1500).
    pub aggregation: usize,
    /// Embedding size (SUPERB: 512).
    pub d_emb: usize,
    /// Training speakers.
    pub n_speakers: usize,
    /// TDNN layers used (≤ 5; fewer = the frame-level ablation).
    #[config(default = 5)]
    pub tdnn_layers: usize,
}

/// Context (kernel) and dilation of SUPERB's five TDNN layers.
pub const TDNN: [(usize, usize); 5] = [(5, 1), (3, 2), (3, 3), (1, 1), (1, 1)];

/// The SUPERB x-vector downstream (see the module docs).
#[derive(Module, Debug)]
pub struct XVectorHead {
    weights: LayerWeights,
    connector: Linear,
    tdnn: Vec<Conv1d>,
    fc1: Linear,
    fc2: Linear,
    classifier: CosineClassifier,
    d_in: usize,
    min_t: usize,
}

impl XVectorHeadConfig {
    /// Build on `device`.
    pub fn init(&self, device: &Device) -> XVectorHead {
        let n = self.tdnn_layers.min(5);
        let mut tdnn = Vec::new();
        let mut c_in = self.hidden;
        let mut shrink = 0;
        for (i, &(k, dil)) in TDNN.iter().take(n).enumerate() {
            let c_out = if i + 1 == n {
                self.aggregation
            } else {
                self.hidden
            };
            tdnn.push(
                Conv1dConfig::new(c_in, c_out, k)
                    .with_dilation(dil)
                    .init(device),
            );
            shrink += (k - 1) * dil;
            c_in = c_out;
        }
        XVectorHead {
            weights: LayerWeights::new(self.n_layers, device),
            connector: LinearConfig::new(self.d_in, self.hidden).init(device),
            tdnn,
            fc1: LinearConfig::new(2 * c_in, self.d_emb).init(device),
            fc2: LinearConfig::new(self.d_emb, self.d_emb).init(device),
            classifier: CosineClassifier::new(self.d_emb, self.n_speakers, device),
            d_in: self.d_in,
            min_t: shrink + 1,
        }
    }
}

impl XVectorHead {
    fn pooled_fc1(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        check_input(&x, self.d_in, self.min_t, "x-vector head")?;
        let h = self.connector.forward(self.weights.forward(x)?);
        let mut h = h.swap_dims(1, 2);
        for conv in &self.tdnn {
            h = relu(conv.forward(h));
        }
        Ok(relu(self.fc1.forward(stats_pool(h.swap_dims(1, 2)))))
    }
}

impl SpeakerHead for XVectorHead {
    fn embed(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        self.pooled_fc1(x)
    }
    fn train_output(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        Ok(relu(self.fc2.forward(self.pooled_fc1(x)?)))
    }
    fn classifier(&self) -> &CosineClassifier {
        &self.classifier
    }
    fn layer_weights(&self) -> &LayerWeights {
        &self.weights
    }
    fn min_frames(&self) -> usize {
        self.min_t
    }
}
