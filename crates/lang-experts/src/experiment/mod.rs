//! The experiment behind `cargo xtask eval lang-experts`: Babel (P3) and ConceptWorld (P4).
//!
//! Claim rules, fixed before the first run:
//! - P0 (premise): for the target language, units with AUROC ≥ 0.9 exceed 10× the count under
//!   shuffled labels (and at least 1 % of units); for concepts, the mean number of units with
//!   AP ≥ τ exceeds 10× the shuffled-label count.
//! - C1: the median over the `L(L−1)` ordered pairs of post/pre top-1 (pairs with pre > 0) at
//!   the k chosen on the probe set is ≥ 1.2 (the spec's acceptance (d)); max ratio reported.
//! - C2: the random control's median per-pair Δtop-1 ≤ max(0, ¼ · the experts' median Δ).
//! - C3: |post − pre| same-language paraphrase top-1 (mean over languages) ≤ 0.05.
//! - C4: Spearman ρ(expert Jaccard, mean rating) > ρ(input-embedding cosine, mean rating),
//!   and > 0.
//! - C5: ARI of average-linkage clustering on 1 − Jaccard against the categories ≥ 0.3 and
//!   above the 99th percentile of 200 label permutations.

pub mod babel;
pub mod concept;
pub mod lm;
mod report;

use crate::capture::Pooling;
use crate::intervene::ForceValue;
use anyhow::Result;
use ember_core::eval::{EvalRun, Plan, Scale, check};
use ember_core::nn::intervention::Site;
use ember_core::report::Report;
use serde::{Deserialize, Serialize};

/// Sizes and hyper-parameters of the `lang-experts` eval; defaults per scale, overridable
/// with `--config` / `--set`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LangExpertsPlan {
    /// Model width (d_ff = 4 · d_model).
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Blocks.
    pub n_layers: usize,
    /// Context length of the model (probe sentences longer than this are dropped).
    pub max_len: usize,
    /// Training window length.
    pub seq: usize,
    /// Windows per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Checkpoint both LMs every this many steps (and at the end); `--resume` continues from
    /// the latest one.
    pub checkpoint_every: usize,
    /// Babel: number of languages (ember-core's graded synthlang).
    pub langs: usize,
    /// Babel: monolingual training sentences over all languages (shares L, L−1, ..., 1).
    pub babel_sentences: usize,
    /// Babel: share of each language's vocabulary taken from the proto language (0: disjoint
    /// lexicons apart from the shared anchors, the spec's Babel-5).
    pub shared_vocab: f64,
    /// Babel: incidental bitext lines as a fraction of `babel_sentences`.
    pub bitext_rate: f64,
    /// Babel: per content word of the monolingual training streams, the probability that
    /// another language's word for the same concept is used (code-switching; the held-out
    /// probe, test and paraphrase sets are never code-switched). The calibration knob that
    /// gives the pre-intervention model partial cross-lingual alignment (README, "Calibration").
    pub code_switch: f64,
    /// Babel: proper names in the world (anchors, written identically in every language).
    pub n_names: usize,
    /// Babel: probability that a noun phrase is a proper name (an anchor token).
    pub p_name: f64,
    /// Babel: training steps.
    pub babel_steps: usize,
    /// Babel: target language whose experts are forced (the paper's Spanish).
    pub target: usize,
    /// Babel: parallel probe meanings (expert finding and choice of k).
    pub n_probe: usize,
    /// Babel: parallel test meanings (retrieval).
    pub n_test: usize,
    /// Babel: paraphrase pairs per language (from the test meanings).
    pub n_para: usize,
    /// Babel: k as fractions of all captured units; the best on the probe set is used.
    pub k_fracs: Vec<f64>,
    /// Forcing value of the experts.
    pub force: ForceValue,
    /// Token pooling of the responses.
    pub pooling: Pooling,
    /// MLP sites whose units are candidates.
    pub sites: Vec<Site>,
    /// ConceptWorld: domains.
    pub cw_domains: usize,
    /// ConceptWorld: categories per domain.
    pub cw_categories: usize,
    /// ConceptWorld: leaves per category.
    pub cw_leaves: usize,
    /// ConceptWorld: training sentences.
    pub cw_sentences: usize,
    /// ConceptWorld: training steps.
    pub cw_steps: usize,
    /// ConceptWorld: probe pool sentences (one forward pass, reused per concept).
    pub cw_pool: usize,
    /// ConceptWorld: positive sentences per concept (at most).
    pub n_pos: usize,
    /// ConceptWorld: negative sentences per concept.
    pub n_neg: usize,
    /// ConceptWorld: AP threshold τ of an expert.
    pub tau: f64,
    /// ConceptWorld: τ values of the sweep.
    pub tau_sweep: Vec<f64>,
    /// ConceptWorld: simulated raters.
    pub raters: usize,
    /// ConceptWorld: target split-half reliability of the raters (the paper's human–human 0.84).
    pub reliability: f64,
    /// ConceptWorld: rated leaf pairs (at most; all pairs if larger).
    pub n_pairs: usize,
    /// Label permutations of the ARI null.
    pub permutations: usize,
}

impl Plan for LangExpertsPlan {
    fn for_scale(scale: Scale) -> Self {
        let quick = LangExpertsPlan {
            d_model: 64,
            heads: 4,
            n_layers: 2,
            max_len: 32,
            seq: 24,
            batch: 32,
            lr: 3e-3,
            checkpoint_every: 100,
            langs: 5,
            babel_sentences: 20_000,
            shared_vocab: 0.0,
            bitext_rate: 0.02,
            code_switch: 0.5,
            n_names: 8,
            p_name: 0.15,
            babel_steps: 1500,
            target: 1,
            n_probe: 120,
            n_test: 200,
            n_para: 150,
            k_fracs: vec![0.01, 0.03, 0.1],
            force: ForceValue::Mean,
            pooling: Pooling::Max,
            sites: vec![Site::MlpPre, Site::MlpOut],
            cw_domains: 4,
            cw_categories: 4,
            cw_leaves: 5,
            cw_sentences: 30_000,
            cw_steps: 1500,
            cw_pool: 6000,
            n_pos: 60,
            n_neg: 180,
            tau: 0.5,
            tau_sweep: vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
            raters: 40,
            reliability: 0.84,
            n_pairs: 3160,
            permutations: 200,
        };
        match scale {
            Scale::Quick => quick,
            Scale::Full => LangExpertsPlan {
                d_model: 96,
                n_layers: 4,
                babel_sentences: 150_000,
                babel_steps: 6000,
                n_probe: 400,
                n_test: 800,
                n_para: 400,
                k_fracs: vec![0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
                cw_sentences: 200_000,
                cw_steps: 6000,
                cw_pool: 20_000,
                n_pos: 200,
                n_neg: 600,
                ..quick
            },
        }
    }

    fn validate(&self) -> ember_core::Result<()> {
        check(self.d_model >= 4, "d_model", "must be at least 4")?;
        check(
            self.heads >= 1 && self.d_model.is_multiple_of(self.heads),
            "heads",
            "must be >= 1 and divide d_model",
        )?;
        check(self.n_layers >= 1, "n_layers", "must be at least 1")?;
        check(self.max_len >= 8, "max_len", "must be at least 8")?;
        check(
            self.seq >= 2 && self.seq <= self.max_len,
            "seq",
            "must be in 2..=max_len",
        )?;
        check(self.batch >= 1, "batch", "must be at least 1")?;
        check(self.lr > 0.0 && self.lr.is_finite(), "lr", "must be > 0")?;
        check(
            self.checkpoint_every >= 1,
            "checkpoint_every",
            "must be at least 1",
        )?;
        check(self.langs >= 2, "langs", "needs at least 2 languages")?;
        check(
            self.babel_sentences >= 100,
            "babel_sentences",
            "must be at least 100",
        )?;
        check(
            (0.0..=1.0).contains(&self.shared_vocab),
            "shared_vocab",
            "must be in [0, 1]",
        )?;
        check(
            (0.0..=1.0).contains(&self.bitext_rate),
            "bitext_rate",
            "must be in [0, 1]",
        )?;
        check(
            (0.0..=1.0).contains(&self.code_switch),
            "code_switch",
            "must be in [0, 1]",
        )?;
        check(self.n_names >= 1, "n_names", "must be at least 1")?;
        check(
            (0.0..=1.0).contains(&self.p_name),
            "p_name",
            "must be in [0, 1]",
        )?;
        check(self.babel_steps >= 1, "babel_steps", "must be at least 1")?;
        check(
            self.target < self.langs,
            "target",
            "must be a language index < langs",
        )?;
        check(self.n_probe >= 10, "n_probe", "must be at least 10")?;
        check(self.n_test >= 10, "n_test", "must be at least 10")?;
        check(self.n_para >= 10, "n_para", "must be at least 10")?;
        check(
            !self.k_fracs.is_empty() && self.k_fracs.iter().all(|f| *f > 0.0 && *f <= 1.0),
            "k_fracs",
            "must be a non-empty list of fractions in (0, 1]",
        )?;
        check(
            !self.sites.is_empty(),
            "sites",
            "must name at least one site",
        )?;
        check(
            self.cw_domains >= 1 && self.cw_categories >= 2 && self.cw_leaves >= 2,
            "cw_categories",
            "ConceptWorld needs >= 1 domain, >= 2 categories and >= 2 leaves",
        )?;
        check(
            self.cw_sentences >= 100,
            "cw_sentences",
            "must be at least 100",
        )?;
        check(self.cw_steps >= 1, "cw_steps", "must be at least 1")?;
        check(self.cw_pool >= 100, "cw_pool", "must be at least 100")?;
        check(self.n_pos >= 5, "n_pos", "must be at least 5")?;
        check(self.n_neg >= 5, "n_neg", "must be at least 5")?;
        check(
            self.tau > 0.0 && self.tau <= 1.0,
            "tau",
            "must be in (0, 1]",
        )?;
        check(
            self.tau_sweep.iter().all(|t| *t > 0.0 && *t <= 1.0),
            "tau_sweep",
            "values must be in (0, 1]",
        )?;
        check(self.raters >= 4, "raters", "must be at least 4")?;
        check(
            self.reliability > 0.0 && self.reliability < 1.0,
            "reliability",
            "must be in (0, 1)",
        )?;
        check(self.n_pairs >= 3, "n_pairs", "must be at least 3")?;
        check(
            self.permutations >= 10,
            "permutations",
            "must be at least 10",
        )
    }
}

/// Runs the eval with `plan`; [`EvalRun::finish`] writes the report.
pub fn run(run: &EvalRun, plan: &LangExpertsPlan) -> Result<Report> {
    let t0 = std::time::Instant::now();
    let bdata = babel::prepare(plan, run.seed())?;
    let blm = lm::train(
        run,
        plan,
        "babel",
        bdata.vocab,
        &bdata.stream,
        plan.babel_steps,
    )?;
    let t_babel_train = t0.elapsed().as_secs_f64();
    let bres = babel::analyse(&blm.model, &bdata, plan, run.seed(), &run.device)?;
    let t_babel = t0.elapsed().as_secs_f64();
    let cdata = concept::prepare(plan, run.seed())?;
    let clm = lm::train(
        run,
        plan,
        "conceptworld",
        cdata.world.vocab.len(),
        &cdata.stream,
        plan.cw_steps,
    )?;
    let t_cw_train = t0.elapsed().as_secs_f64() - t_babel;
    let cres = concept::analyse(&clm.model, &cdata, plan, run.seed(), &run.device)?;
    let t_cw = t0.elapsed().as_secs_f64() - t_babel;
    let timings = report::Timings {
        babel_train_s: t_babel_train,
        babel_total_s: t_babel,
        cw_train_s: t_cw_train,
        cw_total_s: t_cw,
    };
    report::build(run, plan, &bres, &cres, &blm, &clm, &timings)
}
