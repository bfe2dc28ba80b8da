//! The prompt learners, on any [`DualEncoder`] (both towers frozen):
//!
//! - zero-shot: class weights `g("a photo of a [c]")` ([`ClassTexts::template`]);
//! - CuPL-style: the mean of the class's description embeddings ([`ClassTexts::cupl_weights`]),
//!   which needs the descriptions of every class at test time;
//! - [`CoOp`]: learned context vectors spliced in front of the class name, shared or
//!   class-specific;
//! - [`CoCoOp`]: CoOp plus a meta-net that shifts the context by an image-conditioned bias
//!   (the text tower runs per image and class);
//! - KgCoOp: CoOp trained with `CE + w (1 − mean_c cos(t_c, t_c^hand))` ([`kgcoop_penalty`]);
//! - [`Aape`]: an attention [`Aggregator`] (query = image feature, keys = projected prompt
//!   embeddings, values = the raw prompt embeddings) gives the summary `ρ(x)`, trained with
//!   the CLIP reward (InfoNCE between images and their summaries); a generator `h` gives
//!   `a(x) = h(f(x))`, trained with the task loss plus `λ ‖a(x) − sg(ρ(x))‖²`; the class
//!   weights are `w_c(x) = normalize(g_c + P[g_c; a(x)])`. At test time only `h` and `P` run.

use crate::dual::{DualEncoder, FramedPrompts, PromptTokenizer};
use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use ember_core::loss::cross_entropy;
use ember_core::{Error, Result};

/// L2-normalise rows (ε = 1e-12).
pub fn l2n(x: Tensor<2>) -> Tensor<2> {
    let n = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / n
}

fn l2n3(x: Tensor<3>) -> Tensor<3> {
    let n = x.clone().powi_scalar(2).sum_dim(2).sqrt().clamp_min(1e-12);
    x / n
}

/// The frozen text side of one class set: the name prompts CoOp splices context into, the
/// hand-crafted template features and the description (reference prompt) features.
#[derive(Debug, Clone)]
pub struct ClassTexts {
    /// Class names, in label order.
    pub names: Vec<String>,
    /// `[bos] [n_ctx slots] name [eot]` per class.
    pub name_prompts: FramedPrompts,
    /// Token embeddings of `name_prompts` `[C, T, D]` (constant).
    pub name_embeddings: Tensor<3>,
    /// Normalised hand-crafted template features `[C, E]`.
    pub template: Tensor<2>,
    /// Normalised description features `[C, M, E]` (rows past a class's count are zero).
    pub prompts: Tensor<3>,
    /// `[C, M]` 1.0 where a description exists, 0.0 for padding.
    pub prompt_mask: Tensor<2>,
}

/// How a [`ClassTexts`] is built.
#[derive(Debug, Clone)]
pub struct ClassTextSpec<'a> {
    /// Class names.
    pub names: &'a [String],
    /// The hand-crafted template per class (e.g. "a photo of a dog").
    pub templates: &'a [String],
    /// The descriptions of each class.
    pub descriptions: &'a [Vec<String>],
    /// Context slots before the name (CoOp's `n_ctx`).
    pub n_ctx: usize,
}

impl ClassTexts {
    /// Encode everything once with the frozen `model`. Errors: mismatched counts, a class
    /// without descriptions, prompts the tokenizer or the text tower cannot take.
    pub fn build<M: DualEncoder + ?Sized>(
        model: &M,
        tok: &dyn PromptTokenizer,
        spec: &ClassTextSpec,
        device: &Device,
    ) -> Result<Self> {
        let c = spec.names.len();
        if c == 0 {
            return Err(Error::InvalidInput("no classes".into()));
        }
        if spec.templates.len() != c || spec.descriptions.len() != c {
            return Err(Error::Shape(format!(
                "{c} classes, {} templates, {} description lists",
                spec.templates.len(),
                spec.descriptions.len()
            )));
        }
        if let Some(i) = spec.descriptions.iter().position(Vec::is_empty) {
            return Err(Error::InvalidInput(format!(
                "class {:?} has no descriptions",
                spec.names[i]
            )));
        }
        let name_prompts = FramedPrompts::frame(tok, spec.names, spec.n_ctx, model.max_tokens())?;
        let name_embeddings = model
            .token_embeddings(name_prompts.tensor(device))?
            .detach();
        let template = crate::dual::encode_texts(model, tok, spec.templates, 256, device)?.detach();
        let e = model.embed_dim();
        let m = spec.descriptions.iter().map(Vec::len).max().unwrap_or(1);
        let flat: Vec<String> = spec.descriptions.iter().flatten().cloned().collect();
        let feats =
            ember_core::ops::to_host(crate::dual::encode_texts(model, tok, &flat, 256, device)?)?;
        let mut prompts = vec![0.0f32; c * m * e];
        let mut mask = vec![0.0f32; c * m];
        let mut row = 0;
        for (ci, d) in spec.descriptions.iter().enumerate() {
            for j in 0..d.len() {
                prompts[(ci * m + j) * e..(ci * m + j + 1) * e]
                    .copy_from_slice(&feats[row * e..(row + 1) * e]);
                mask[ci * m + j] = 1.0;
                row += 1;
            }
        }
        Ok(Self {
            names: spec.names.to_vec(),
            name_prompts,
            name_embeddings,
            template,
            prompts: Tensor::<1>::from_data(TensorData::new(prompts, [c * m * e]), device)
                .reshape([c, m, e]),
            prompt_mask: Tensor::<1>::from_data(TensorData::new(mask, [c * m]), device)
                .reshape([c, m]),
        })
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The same texts on `device` (e.g. the autodiff device for training).
    pub fn to_device(&self, device: &Device) -> Self {
        Self {
            names: self.names.clone(),
            name_prompts: self.name_prompts.clone(),
            name_embeddings: self.name_embeddings.clone().to_device(device).detach(),
            template: self.template.clone().to_device(device).detach(),
            prompts: self.prompts.clone().to_device(device).detach(),
            prompt_mask: self.prompt_mask.clone().to_device(device).detach(),
        }
    }

    /// CuPL-style class weights: the normalised mean of each class's description features
    /// `[C, E]`.
    pub fn cupl_weights(&self) -> Tensor<2> {
        let [c, m, _] = self.prompts.dims();
        let w = self.prompt_mask.clone().reshape([c, m, 1]);
        let s = (self.prompts.clone() * w).sum_dim(1);
        l2n(s.squeeze_dim(1))
    }

    /// Description features and mask of the classes `labels` (one row per image): `[B, M, E]`
    /// and `[B, M]`.
    pub fn prompts_of(&self, labels: &[usize]) -> Result<(Tensor<3>, Tensor<2>)> {
        let c = self.len();
        if let Some(&y) = labels.iter().find(|&&y| y >= c) {
            return Err(Error::InvalidInput(format!(
                "label {y} out of range for {c} classes"
            )));
        }
        let device = self.prompts.device();
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(labels.iter().map(|&y| y as i64).collect(), [labels.len()]),
            &device,
        );
        Ok((
            self.prompts.clone().select(0, idx.clone()),
            self.prompt_mask.clone().select(0, idx),
        ))
    }
}

/// `scale · cos(f, w)` for normalised `f` `[B, E]` and class weights `w` `[C, E]`: `[B, C]`.
pub fn cosine_logits(f: Tensor<2>, w: Tensor<2>, scale: f64) -> Tensor<2> {
    l2n(f).matmul(l2n(w).transpose()) * scale
}

/// Splice context vectors `ctx` `[C, n_ctx, D]` into the name prompts' embeddings
/// `[C, T, D]` after the start token and run the text tower: normalised `[C, E]`.
pub fn text_with_context<M: DualEncoder + ?Sized>(
    model: &M,
    texts: &ClassTexts,
    ctx: Tensor<3>,
) -> Result<Tensor<2>> {
    let [c, t, d] = texts.name_embeddings.dims();
    let [cc, n, dd] = ctx.dims();
    if cc != c || dd != d || 1 + n >= t {
        return Err(Error::Shape(format!(
            "context {:?} for name prompts [{c}, {t}, {d}]",
            [cc, n, dd]
        )));
    }
    let e = texts.name_embeddings.clone();
    let x = Tensor::cat(
        vec![
            e.clone().slice([0..c, 0..1, 0..d]),
            ctx,
            e.slice([0..c, 1 + n..t, 0..d]),
        ],
        1,
    );
    Ok(l2n(model.text_features_from_embeddings(
        x,
        &texts.name_prompts.eot,
    )?))
}

/// Initial context: the token embeddings of `init` (CoOp/KgCoOp: "a photo of a") when it has
/// exactly `n_ctx` tokens, else `N(0, 0.02²)` vectors.
pub fn init_context<M: DualEncoder + ?Sized>(
    model: &M,
    tok: &dyn PromptTokenizer,
    init: Option<&str>,
    n_ctx: usize,
    device: &Device,
) -> Result<Tensor<2>> {
    let d = model.token_dim();
    if let Some(text) = init {
        let ids = tok.encode_words(text)?;
        if ids.len() == n_ctx {
            let t = Tensor::<1, Int>::from_data(TensorData::new(ids, [n_ctx]), device)
                .reshape([1, n_ctx]);
            return Ok(model.token_embeddings(t)?.reshape([n_ctx, d]).detach());
        }
    }
    Ok(Tensor::random(
        [n_ctx, d],
        burn::tensor::Distribution::Normal(0.0, 0.02),
        device,
    ))
}

/// CoOp: context vectors `[G, n_ctx, D]`, `G = 1` (shared, transfers to new classes) or one
/// per class (class-specific; only for the classes it was trained on).
#[derive(Module, Debug)]
pub struct CoOp {
    /// The learned context.
    pub ctx: Param<Tensor<3>>,
}

impl CoOp {
    /// Context initialised from `init` `[n_ctx, D]`, shared or repeated for `classes`.
    pub fn new(init: Tensor<2>, class_specific: Option<usize>) -> Self {
        let [n, d] = init.dims();
        let g = class_specific.unwrap_or(1);
        let ctx = init.reshape([1, n, d]).repeat_dim(0, g);
        Self {
            ctx: Param::from_tensor(ctx),
        }
    }

    /// Whether the context is per class.
    pub fn class_specific(&self) -> bool {
        self.ctx.dims()[0] > 1
    }

    /// Class weights `[C, E]` (normalised). Errors: class-specific context asked for a
    /// different number of classes.
    pub fn class_weights<M: DualEncoder + ?Sized>(
        &self,
        model: &M,
        texts: &ClassTexts,
    ) -> Result<Tensor<2>> {
        let [g, n, d] = self.ctx.dims();
        let c = texts.len();
        let ctx = if g == 1 {
            self.ctx.val().expand([c, n, d])
        } else if g == c {
            self.ctx.val()
        } else {
            return Err(Error::InvalidInput(format!(
                "class-specific context for {g} classes cannot classify {c} classes"
            )));
        };
        text_with_context(model, texts, ctx)
    }
}

/// KgCoOp's penalty `1 − mean_c cos(t_c, t_c^hand)` between learned and hand-crafted class
/// features (both `[C, E]`).
pub fn kgcoop_penalty(learned: Tensor<2>, hand: Tensor<2>) -> Tensor<1> {
    let cos = (l2n(learned) * l2n(hand)).sum_dim(1).mean();
    cos.neg().add_scalar(1.0).reshape([1])
}

/// CoCoOp: shared context plus the meta-net's image-conditioned shift `π(x)`:
/// `Linear(E, E/16) → ReLU → Linear(E/16, D)`.
#[derive(Module, Debug)]
pub struct CoCoOp {
    /// The learned context `[1, n_ctx, D]`.
    pub ctx: Param<Tensor<3>>,
    /// Meta-net, first layer.
    pub meta1: Linear,
    /// Meta-net, second layer.
    pub meta2: Linear,
}

impl CoCoOp {
    /// Context from `init` `[n_ctx, D]`; meta-net for image features of width `e`.
    pub fn new(init: Tensor<2>, e: usize, device: &Device) -> Self {
        let [n, d] = init.dims();
        let h = (e / 16).max(1);
        Self {
            ctx: Param::from_tensor(init.reshape([1, n, d])),
            meta1: LinearConfig::new(e, h).init(device),
            meta2: LinearConfig::new(h, d).init(device),
        }
    }

    /// Logits `[B, C]` of image features `f` `[B, E]`: the text tower runs on `B · C`
    /// prompts.
    pub fn logits<M: DualEncoder + ?Sized>(
        &self,
        model: &M,
        texts: &ClassTexts,
        f: Tensor<2>,
        scale: f64,
    ) -> Result<Tensor<2>> {
        let [b, e] = f.dims();
        let [_, n, d] = self.ctx.dims();
        let c = texts.len();
        let pi = self.meta2.forward(relu(self.meta1.forward(l2n(f.clone())))); // [B, D]
        let ctx = self.ctx.val().reshape([1, 1, n, d]) + pi.reshape([b, 1, 1, d]);
        let ctx = ctx.expand([b, c, n, d]).reshape([b * c, n, d]);
        let [_, t, _] = texts.name_embeddings.dims();
        let names = texts
            .name_embeddings
            .clone()
            .reshape([1, c, t, d])
            .expand([b, c, t, d])
            .reshape([b * c, t, d]);
        let x = Tensor::cat(
            vec![
                names.clone().slice([0..b * c, 0..1, 0..d]),
                ctx,
                names.slice([0..b * c, 1 + n..t, 0..d]),
            ],
            1,
        );
        let eot: Vec<usize> = (0..b)
            .flat_map(|_| texts.name_prompts.eot.iter().copied())
            .collect();
        let w = l2n(model.text_features_from_embeddings(x, &eot)?).reshape([b, c, e]);
        let f = l2n(f).reshape([b, 1, e]);
        Ok((w * f).sum_dim(2).reshape([b, c]) * scale)
    }
}

/// How the aggregator weighs the reference prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Multi-head attention, query = image feature (the paper's default).
    Attention,
    /// Plain average of the prompts (the ablation).
    Mean,
}

/// How the AAPE is combined with the class template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combiner {
    /// `w_c = normalize(g_c + P[g_c; a(x)])`, `P` shared and initialised at zero.
    ResidualConcatProj,
    /// `w_c = normalize(g_c + a(x))`.
    Additive,
}

/// Settings of an [`Aape`] model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AapeConfig {
    /// Attention heads of the aggregator.
    pub heads: usize,
    /// Key width per head.
    pub d_k: usize,
    /// Aggregation rule.
    pub aggregation: Aggregation,
    /// Temperature of the aggregator's InfoNCE reward.
    pub reward_temperature: f64,
    /// Hidden width of the generator MLP.
    pub gen_hidden: usize,
    /// Weight λ of the distillation term.
    pub lambda: f64,
    /// Combination with the class template.
    pub combiner: Combiner,
}

impl Default for AapeConfig {
    fn default() -> Self {
        Self {
            heads: 4,
            d_k: 16,
            aggregation: Aggregation::Attention,
            reward_temperature: 0.07,
            gen_hidden: 16,
            lambda: 1.0,
            combiner: Combiner::ResidualConcatProj,
        }
    }
}

impl AapeConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("AapeConfig: {m}")));
        if self.heads == 0 || self.d_k == 0 || self.gen_hidden == 0 {
            return bad("heads, d_k and gen_hidden must be ≥ 1".into());
        }
        if !(self.reward_temperature.is_finite() && self.reward_temperature > 0.0) {
            return bad(format!(
                "reward_temperature must be positive, got {}",
                self.reward_temperature
            ));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad(format!("lambda must be ≥ 0, got {}", self.lambda));
        }
        Ok(())
    }

    /// Build the model for features of width `e` on `device`.
    pub fn init(&self, e: usize, device: &Device) -> Result<Aape> {
        self.validate()?;
        let hd = self.heads * self.d_k;
        Ok(Aape {
            agg: Aggregator {
                wq: LinearConfig::new(e, hd).with_bias(false).init(device),
                wk: LinearConfig::new(e, hd).with_bias(false).init(device),
                heads: self.heads,
                d_k: self.d_k,
                mean: self.aggregation == Aggregation::Mean,
            },
            gen1: LinearConfig::new(e, self.gen_hidden).init(device),
            gen2: LinearConfig::new(self.gen_hidden, e).init(device),
            proj: Param::from_tensor(Tensor::zeros([2 * e, e], device)),
            additive: self.combiner == Combiner::Additive,
        })
    }
}

/// The input-adapted prompt aggregator: `α = mean_heads softmax_m(q·k_m / √d_k)` with
/// `q = W_q f(x)`, `k_m = W_k e_m`, and `ρ(x) = normalize(Σ_m α_m e_m)`: values are the raw
/// prompt embeddings, so `ρ` stays a convex combination of real prompts.
#[derive(Module, Debug)]
pub struct Aggregator {
    /// Query projection.
    pub wq: Linear,
    /// Key projection.
    pub wk: Linear,
    /// Heads.
    pub heads: usize,
    /// Key width per head.
    pub d_k: usize,
    /// Average the prompts instead of attending (the ablation).
    pub mean: bool,
}

impl Aggregator {
    /// Weights `α` `[B, M]` (rows sum to 1 over the unmasked prompts) and the summary
    /// `ρ` `[B, E]` of image features `f` `[B, E]` over prompts `e` `[B, M, E]` with `mask`
    /// `[B, M]` (1 = present).
    pub fn forward(&self, f: Tensor<2>, e: Tensor<3>, mask: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let [b, m, d] = e.dims();
        let alpha = if self.mean {
            let cnt = mask.clone().sum_dim(1).clamp_min(1.0);
            mask / cnt
        } else {
            let (h, dk) = (self.heads, self.d_k);
            let q = self.wq.forward(l2n(f)).reshape([b, h, 1, dk]);
            let k = self
                .wk
                .forward(e.clone().reshape([b * m, d]))
                .reshape([b, m, h, dk])
                .swap_dims(1, 2); // [B, H, M, dk]
            let s = q.matmul(k.swap_dims(2, 3)).reshape([b, h, m]) / (dk as f64).sqrt();
            let blocked = mask.clone().neg().add_scalar(1.0).reshape([b, 1, m]) * 1e9;
            softmax(s - blocked, 2).mean_dim(1).reshape([b, m])
        };
        let rho = alpha.clone().reshape([b, 1, m]).matmul(e).reshape([b, d]);
        (alpha, l2n(rho))
    }
}

/// AAPE: aggregator (training only), prompt generator `h` and the shared combination `P`.
#[derive(Module, Debug)]
pub struct Aape {
    /// The prompt aggregator.
    pub agg: Aggregator,
    /// Generator, first layer.
    pub gen1: Linear,
    /// Generator, second layer.
    pub gen2: Linear,
    /// Combination `P` `[2E, E]` (rows: template part, then AAPE part), zero at start.
    pub proj: Param<Tensor<2>>,
    /// Additive combination instead of `P`.
    pub additive: bool,
}

/// The losses of one AAPE training step.
#[derive(Debug, Clone)]
pub struct AapeLosses {
    /// Cross-entropy on the base classes.
    pub task: Tensor<1>,
    /// `mean_b ‖a(x_b) − sg(ρ(x_b))‖²`.
    pub distill: Tensor<1>,
    /// The aggregator's CLIP reward loss (InfoNCE between images and summaries).
    pub reward: Tensor<1>,
}

impl Aape {
    /// The AAPE `a(x) = h(f(x))` `[B, E]` of image features `[B, E]`.
    pub fn generate(&self, f: Tensor<2>) -> Tensor<2> {
        self.gen2.forward(relu(self.gen1.forward(l2n(f))))
    }

    /// Logits `[B, C]` from image features `[B, E]` and template features `g` `[C, E]`:
    /// `scale · cos(f, normalize(g_c + P[g_c; a(x)]))`, `P = [P₁; P₂]` factored as
    /// `g P₁ + a P₂` so the cost is `O(C·E² + B·E² + B·C·E)`.
    pub fn logits(&self, f: Tensor<2>, g: Tensor<2>, scale: f64) -> Tensor<2> {
        let [b, e] = f.dims();
        let c = g.dims()[0];
        let a = self.generate(f.clone());
        let (u, v) = if self.additive {
            (g, a)
        } else {
            let p = self.proj.val();
            let p1 = p.clone().slice([0..e, 0..e]);
            let p2 = p.slice([e..2 * e, 0..e]);
            (g.clone() + g.matmul(p1), a.matmul(p2))
        };
        let w = u.reshape([1, c, e]) + v.reshape([b, 1, e]); // [B, C, E]
        let w = l2n3(w);
        let f = l2n(f).reshape([b, 1, e]);
        (w * f).sum_dim(2).reshape([b, c]) * scale
    }

    /// The three losses on a batch: features `f` `[B, E]`, labels into `texts`' classes.
    pub fn losses(
        &self,
        f: Tensor<2>,
        labels: &[usize],
        texts: &ClassTexts,
        scale: f64,
        reward_temperature: f64,
    ) -> Result<AapeLosses> {
        let [b, _] = f.dims();
        if labels.len() != b {
            return Err(Error::Shape(format!(
                "{b} features, {} labels",
                labels.len()
            )));
        }
        let device = f.device();
        let (e, mask) = texts.prompts_of(labels)?;
        let (_, rho) = self.agg.forward(f.clone(), e, mask);
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new(labels.iter().map(|&y| y as i64).collect(), [b]),
            &device,
        );
        let task = cross_entropy(
            self.logits(f.clone(), texts.template.clone(), scale),
            targets,
        )?;
        let a = self.generate(f.clone());
        let distill = (a - rho.clone().detach())
            .powi_scalar(2)
            .sum_dim(1)
            .mean()
            .reshape([1]);
        // CLIP reward: the aggregator's summaries should pick their own image out of the
        // batch (image features are constants here).
        let t = Tensor::<1>::from_floats([(1.0 / reward_temperature).ln() as f32], &device);
        let reward = ember_core::loss::info_nce(f.detach(), rho, t)?;
        Ok(AapeLosses {
            task,
            distill,
            reward,
        })
    }
}
