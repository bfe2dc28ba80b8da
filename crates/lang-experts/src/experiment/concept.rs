//! ConceptWorld (P4): a causal LM trained on the synthetic taxonomy; per leaf concept the
//! units with AP ≥ τ; expert-overlap similarity against simulated ratings and against the
//! input-embedding cosine; hierarchy recovery by average-linkage clustering.

use super::LangExpertsPlan;
use crate::capture::{CaptureConfig, collect};
use crate::concepts::{
    RatedPair, adjusted_rand_index, alignment, average_linkage, embedding_cosine,
};
use crate::expertise::{ExpertSet, Expertise, Metric, jaccard_matrix};
use crate::world::{ConceptWorld, ConceptWorldConfig, Ratings, calibrate_sigma};
use anyhow::Result;
use burn::prelude::*;
use ember_core::nn::Transformer;
use ember_core::seed::Seed;
use rand::seq::SliceRandom;

/// Everything the ConceptWorld stage measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConceptResult {
    /// Leaf concepts.
    pub n_concepts: usize,
    /// Rated pairs.
    pub n_pairs: usize,
    /// Rater noise σ and the split-half reliability it gives.
    pub sigma: f64,
    /// Split-half reliability (Spearman–Brown) of the simulated raters.
    pub reliability: f64,
    /// Spearman ρ of expert-overlap Jaccard with the mean rating.
    pub rho_experts: f64,
    /// Spearman ρ of the input-embedding cosine with the mean rating.
    pub rho_embedding: f64,
    /// Spearman ρ of the true feature similarity with the mean rating (ceiling check).
    pub rho_truth: f64,
    /// Mean expert-set size.
    pub mean_experts: f64,
    /// Mean number of units with AP ≥ τ under shuffled labels.
    pub mean_experts_shuffled: f64,
    /// Sorted APs (mean over concepts of the sorted curves): real and shuffled.
    pub ap_curves: (Vec<f64>, Vec<f64>),
    /// ARI of the expert-overlap clustering against the categories.
    pub ari: f64,
    /// ARI of the embedding-cosine clustering against the categories.
    pub ari_embedding: f64,
    /// 99th percentile of ARI over label permutations.
    pub ari_null_p99: f64,
    /// Mean Jaccard: same category, same domain (other category), other domain.
    pub jaccard_by_relation: [f64; 3],
    /// ρ per τ of the sweep.
    pub tau_sweep: Vec<(f64, f64, f64)>,
    /// Training stream length.
    pub train_tokens: usize,
}

/// The world, its training stream and the probe pool.
pub struct ConceptData {
    /// The world.
    pub world: ConceptWorld,
    /// Training stream.
    pub stream: Vec<u32>,
    /// Probe sentences with their mentioned leaves.
    pub pool: Vec<(Vec<u32>, Vec<usize>)>,
}

/// Builds the world and corpora.
pub fn prepare(plan: &LangExpertsPlan, seed: u64) -> Result<ConceptData> {
    let root = Seed::new(seed).derive("conceptworld");
    let cfg = ConceptWorldConfig {
        domains: plan.cw_domains,
        categories: plan.cw_categories,
        leaves: plan.cw_leaves,
        ..ConceptWorldConfig::default()
    };
    let world = ConceptWorld::new(cfg, root.value())?;
    let stream: Vec<u32> = world
        .corpus(plan.cw_sentences, root.derive("train").value())
        .into_iter()
        .flat_map(|(s, _)| s)
        .collect();
    let n_pool = plan.cw_pool;
    let pool = world.corpus(n_pool, root.derive("probe").value());
    Ok(ConceptData {
        world,
        stream,
        pool,
    })
}

/// Runs the concept analysis on a trained model.
pub fn analyse(
    model: &Transformer,
    data: &ConceptData,
    plan: &LangExpertsPlan,
    seed: u64,
    device: &Device,
) -> Result<ConceptResult> {
    let w = &data.world;
    let sents: Vec<Vec<u32>> = data.pool.iter().map(|(s, _)| s.clone()).collect();
    let cap = CaptureConfig {
        sites: plan.sites.clone(),
        layers: None,
        pooling: plan.pooling,
        batch_size: 256,
    };
    let resp = collect(model, &sents, crate::world::PAD, &cap, None, device)?;
    let n_units = resp.index.n_units();
    let n_leaf = w.leaves.len();
    let root = Seed::new(seed).derive("concept-analysis");
    let mut rng = root.rng();
    let mut aps: Vec<Vec<f64>> = Vec::with_capacity(n_leaf);
    let mut shuffled_counts = Vec::new();
    let mut curve_real = vec![0.0; n_units];
    let mut curve_shuf = vec![0.0; n_units];
    for c in 0..n_leaf {
        let mut pos: Vec<usize> = (0..sents.len())
            .filter(|&i| data.pool[i].1.contains(&c))
            .collect();
        let mut neg: Vec<usize> = (0..sents.len())
            .filter(|&i| !data.pool[i].1.contains(&c))
            .collect();
        anyhow::ensure!(
            pos.len() >= 5,
            "concept {} has only {} probe sentences: raise cw_pool",
            w.leaves[c],
            pos.len()
        );
        pos.truncate(plan.n_pos);
        neg.shuffle(&mut rng);
        neg.truncate(plan.n_neg);
        let cols: Vec<usize> = pos.iter().chain(&neg).copied().collect();
        let labels: Vec<bool> = (0..cols.len()).map(|i| i < pos.len()).collect();
        let sub = resp.select(&cols)?;
        let ex = Expertise::compute(&sub, &labels)?;
        let mut sh = labels.clone();
        sh.shuffle(&mut rng);
        let exs = Expertise::compute(&sub, &sh)?;
        shuffled_counts.push(exs.threshold(Metric::Ap, plan.tau).len() as f64);
        let mut a: Vec<f64> = ex.units.iter().map(|u| u.ap).collect();
        let mut b: Vec<f64> = exs.units.iter().map(|u| u.ap).collect();
        aps.push(a.clone());
        a.sort_by(|x, y| y.total_cmp(x));
        b.sort_by(|x, y| y.total_cmp(x));
        for i in 0..n_units {
            curve_real[i] += a[i] / n_leaf as f64;
            curve_shuf[i] += b[i] / n_leaf as f64;
        }
    }
    let sets_at = |tau: f64| -> Vec<ExpertSet> {
        aps.iter()
            .map(|a| ExpertSet::from_ids(n_units, (0..n_units).filter(|&i| a[i] >= tau)))
            .collect()
    };
    let sets = sets_at(plan.tau);
    let jac = jaccard_matrix(&sets)?;
    // simulated raters over all leaf pairs (or the first n_pairs of a shuffled list)
    let mut pairs: Vec<(usize, usize)> = (0..n_leaf)
        .flat_map(|i| (i + 1..n_leaf).map(move |j| (i, j)))
        .collect();
    pairs.shuffle(&mut root.derive("pairs").rng());
    pairs.truncate(plan.n_pairs);
    let (sigma, reliability) = calibrate_sigma(
        w,
        &pairs,
        plan.raters,
        plan.reliability,
        root.derive("raters").value(),
    )?;
    let ratings = Ratings::simulate(
        w,
        pairs.clone(),
        plan.raters,
        sigma,
        root.derive("raters").value(),
    )?;
    let mean = ratings.mean();
    let rated: Vec<RatedPair> = pairs
        .iter()
        .zip(&mean)
        .map(|(&(i, j), &s)| RatedPair {
            a: w.leaves[i].clone(),
            b: w.leaves[j].clone(),
            score: s,
        })
        .collect();
    let (rho_experts, n_pairs) = alignment(&jac, &w.leaves, &rated)?;
    let emb = model
        .token_embedding()
        .ok_or_else(|| anyhow::anyhow!("the model has no token embedding"))?;
    let d = emb.dims()[1];
    let emb = ember_core::host::to_host_finite(emb, "token embedding")?;
    let ids: Vec<usize> = (0..n_leaf).map(|l| w.leaf_id(l) as usize).collect();
    let ecos = embedding_cosine(&emb, d, &ids)?;
    let (rho_embedding, _) = alignment(&ecos, &w.leaves, &rated)?;
    let truth: Vec<f64> = (0..n_leaf * n_leaf)
        .map(|k| w.similarity(k / n_leaf, k % n_leaf))
        .collect();
    let (rho_truth, _) = alignment(&truth, &w.leaves, &rated)?;
    let tau_sweep = plan
        .tau_sweep
        .iter()
        .map(|&t| {
            let s = sets_at(t);
            let mean_size = s.iter().map(|x| x.len() as f64).sum::<f64>() / s.len() as f64;
            let rho = jaccard_matrix(&s)
                .ok()
                .and_then(|j| alignment(&j, &w.leaves, &rated).ok())
                .map_or(f64::NAN, |r| r.0);
            (t, rho, mean_size)
        })
        .collect();
    // hierarchy
    let n_cat = plan.cw_domains * plan.cw_categories;
    let dist: Vec<f64> = jac.iter().map(|j| 1.0 - j).collect();
    let labels = average_linkage(&dist, n_leaf, n_cat)?;
    let ari = adjusted_rand_index(&labels, &w.category)?;
    let edist: Vec<f64> = ecos.iter().map(|c| 1.0 - c).collect();
    let ari_embedding = adjusted_rand_index(&average_linkage(&edist, n_leaf, n_cat)?, &w.category)?;
    let mut null = Vec::new();
    let mut perm = w.category.clone();
    let mut prng = root.derive("perm").rng();
    for _ in 0..plan.permutations {
        perm.shuffle(&mut prng);
        null.push(adjusted_rand_index(&labels, &perm)?);
    }
    null.sort_by(f64::total_cmp);
    let ari_null_p99 = null[((null.len() as f64 * 0.99) as usize).min(null.len() - 1)];
    let mut rel = [(0.0, 0usize); 3];
    for i in 0..n_leaf {
        for j in i + 1..n_leaf {
            let r = if w.category[i] == w.category[j] {
                0
            } else if w.domain[i] == w.domain[j] {
                1
            } else {
                2
            };
            rel[r].0 += jac[i * n_leaf + j];
            rel[r].1 += 1;
        }
    }
    let jaccard_by_relation = rel.map(|(s, n)| if n == 0 { f64::NAN } else { s / n as f64 });
    Ok(ConceptResult {
        n_concepts: n_leaf,
        n_pairs,
        sigma,
        reliability,
        rho_experts,
        rho_embedding,
        rho_truth,
        mean_experts: sets.iter().map(|s| s.len() as f64).sum::<f64>() / n_leaf as f64,
        mean_experts_shuffled: shuffled_counts.iter().sum::<f64>() / n_leaf as f64,
        ap_curves: (curve_real, curve_shuf),
        ari,
        ari_embedding,
        ari_null_p99,
        jaccard_by_relation,
        tau_sweep,
        train_tokens: data.stream.len(),
    })
}
