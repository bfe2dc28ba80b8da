//! Babel (P3): a causal LM trained on ember-core's synthetic languages (unbalanced
//! monolingual streams plus a little incidental bitext); experts of one target language;
//! cross-lingual retrieval before and after forcing them, against random units.

use super::LangExpertsPlan;
use crate::analysis::{ParallelEmbeddings, embeddings, retrieval_top1};
use crate::capture::{CaptureConfig, collect};
use crate::expertise::{Expertise, Metric};
use crate::intervene::{force_experts, random_control};
use anyhow::Result;
use burn::prelude::*;
use ember_core::data::synthlang::{Sentence, SynthLang, SynthLangConfig};
use ember_core::nn::{Intervention, Transformer};
use ember_core::seed::Seed;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Sentence start id.
pub const BOS: u32 = 1;
/// Separator of a bitext line.
pub const SEP: u32 = 2;
/// Unknown word.
pub const UNK: u32 = 3;

/// A word-level vocabulary (`<pad>`, `<s>`, `<sep>`, `<unk>`, then words).
#[derive(Debug, Clone, Default)]
pub struct WordVocab {
    ids: HashMap<String, u32>,
    /// Size.
    pub len: usize,
}

impl WordVocab {
    fn new() -> Self {
        WordVocab {
            ids: HashMap::new(),
            len: 4,
        }
    }
    fn add(&mut self, w: &str) -> u32 {
        if let Some(&i) = self.ids.get(w) {
            return i;
        }
        let i = self.len as u32;
        self.ids.insert(w.to_string(), i);
        self.len += 1;
        i
    }
    /// `<s>` followed by the sentence's word ids.
    pub fn encode(&self, s: &Sentence) -> Vec<u32> {
        std::iter::once(BOS)
            .chain(s.tokens.iter().map(|w| *self.ids.get(w).unwrap_or(&UNK)))
            .collect()
    }
}

/// One language's paraphrase sentences: (variant 0, variant 1), row i a pair.
pub type ParaPair = (Vec<Vec<u32>>, Vec<Vec<u32>>);

/// Encoded data of the Babel world.
pub struct BabelData {
    /// Language names.
    pub names: Vec<String>,
    /// Vocabulary size.
    pub vocab: usize,
    /// Training stream.
    pub stream: Vec<u32>,
    /// Probe (expert-finding, k-selection) sentences per language, parallel.
    pub probe: Vec<Vec<Vec<u32>>>,
    /// Test sentences per language, parallel.
    pub test: Vec<Vec<Vec<u32>>>,
    /// Paraphrase pairs per language: (variant 0, variant 1).
    pub para: Vec<ParaPair>,
}

/// Builds the languages, corpora and vocabulary from the plan and the run seed.
pub fn prepare(plan: &LangExpertsPlan, seed: u64) -> Result<BabelData> {
    let root = Seed::new(seed).derive("babel");
    let mut cfg = SynthLangConfig::graded(plan.langs, root.value());
    cfg.synonyms = 2;
    // Babel-5 of the spec: every language has its own lexicon (only the anchors, names and
    // numerals, are shared); graded word order / morphology / script stay. With the graded
    // shared vocabulary (l1 shares 75 % of l0's words) the pilot found no l1-selective unit.
    // Code-switched content words (plan key `code_switch`, function words never switch) are
    // what gives the model some cross-lingual alignment before any intervention (README,
    // "Calibration"); shared vocabulary instead erased l1's units (l1 differs from l0 only
    // in its lexicon).
    for l in &mut cfg.languages {
        l.shared_vocab_fraction = plan.shared_vocab;
    }
    cfg.code_switch_rate = plan.code_switch;
    cfg.n_names = plan.n_names;
    cfg.sampling.p_name = plan.p_name;
    let lang = SynthLang::new(cfg)?;
    let names = lang.language_names();
    let split = lang.parallel_splits(&[plan.n_probe, plan.n_test], 11)?;
    let mut exclude = split[0].meaning_set();
    exclude.extend(split[1].meaning_set());
    // language shares 30/25/20/15/10 (geometric-like for other L)
    let weights: Vec<f64> = (0..plan.langs).map(|l| (plan.langs - l) as f64).collect();
    let wsum: f64 = weights.iter().sum();
    let sizes: Vec<usize> = weights
        .iter()
        .map(|w| ((plan.babel_sentences as f64) * w / wsum).round().max(1.0) as usize)
        .collect();
    let corpora = lang.monolingual_corpora(&sizes, 1, Some(&exclude))?;
    let n_bitext = (plan.babel_sentences as f64 * plan.bitext_rate).round() as usize;
    let bitext = lang.parallel(n_bitext.max(1), 3)?;
    let mut vocab = WordVocab::new();
    for c in &corpora {
        for s in &c.sentences {
            for w in &s.tokens {
                vocab.add(w);
            }
        }
    }
    for row in &bitext.sentences {
        for s in row {
            for w in &s.tokens {
                vocab.add(w);
            }
        }
    }
    let mut rng = root.derive("stream").rng();
    let mut lines: Vec<Vec<u32>> = corpora
        .iter()
        .flat_map(|c| c.sentences.iter().map(|s| vocab.encode(s)))
        .collect();
    if n_bitext > 0 {
        for i in 0..bitext.len().min(n_bitext) {
            if exclude.contains(&bitext.meanings[i]) {
                continue;
            }
            let a = rng.random_range(0..plan.langs);
            let mut b = rng.random_range(0..plan.langs - 1);
            if b >= a {
                b += 1;
            }
            let mut line = vocab.encode(&bitext.sentences[a][i]);
            line.push(SEP);
            line.extend(vocab.encode(&bitext.sentences[b][i]).into_iter().skip(1));
            lines.push(line);
        }
    }
    lines.shuffle(&mut rng);
    let stream: Vec<u32> = lines.into_iter().flatten().collect();
    let fits = |s: &Vec<u32>| s.len() <= plan.max_len;
    let enc = |pc: &ember_core::data::synthlang::ParallelCorpus| -> Vec<Vec<Vec<u32>>> {
        (0..plan.langs)
            .map(|l| pc.sentences[l].iter().map(|s| vocab.encode(s)).collect())
            .collect()
    };
    let mut probe = enc(&split[0]);
    let mut test = enc(&split[1]);
    // keep only meanings that fit the context in every language
    for set in [&mut probe, &mut test] {
        let keep: Vec<bool> = (0..set[0].len())
            .map(|i| set.iter().all(|l| fits(&l[i])))
            .collect();
        for l in set.iter_mut() {
            let mut k = keep.iter();
            l.retain(|_| *k.next().unwrap_or(&false));
        }
    }
    let para_m = &split[1].meanings[..split[1].len().min(plan.n_para)];
    let mut para = Vec::new();
    for l in 0..plan.langs {
        let (mut v0, mut v1) = (Vec::new(), Vec::new());
        for m in para_m {
            let a = vocab.encode(&lang.render_variant(m, l, 0)?);
            let b = vocab.encode(&lang.render_variant(m, l, 1)?);
            if fits(&a) && fits(&b) {
                v0.push(a);
                v1.push(b);
            }
        }
        para.push((v0, v1));
    }
    Ok(BabelData {
        names,
        vocab: vocab.len,
        stream,
        probe,
        test,
        para,
    })
}

/// Retrieval of one condition: the `L × L` top-1 matrix and the paraphrase top-1 per language.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Condition {
    /// Label.
    pub name: String,
    /// `L × L` top-1 (NaN diagonal).
    pub top1: Vec<Vec<f64>>,
    /// Same-language paraphrase top-1 per language.
    pub para: Vec<f64>,
    /// Mean pairwise cosine distance between language centroids.
    pub centroid_dist: f64,
}

/// Everything the Babel stage measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BabelResult {
    /// Language names.
    pub names: Vec<String>,
    /// Total captured units.
    pub n_units: usize,
    /// Per language: units with AUROC ≥ 0.9 (real labels).
    pub selective_real: Vec<usize>,
    /// Per language: units with AUROC ≥ 0.9 under shuffled labels.
    pub selective_shuffled: Vec<usize>,
    /// Sorted AUROCs of the target language (real) and shuffled, for the pilot figure.
    pub auroc_curves: (Vec<f64>, Vec<f64>),
    /// k values of the sweep.
    pub ks: Vec<usize>,
    /// Mean probe-set cross-lingual top-1 per k (experts), for choosing k.
    pub probe_top1: Vec<f64>,
    /// Median test per-pair Δtop-1 per k: (experts, random).
    pub sweep_delta: Vec<(f64, f64)>,
    /// The chosen k.
    pub k: usize,
    /// Mean AUROC of the chosen experts.
    pub expert_auroc: f64,
    /// Test conditions: pre, experts, random.
    pub pre: Condition,
    /// Under the target's experts.
    pub post: Condition,
    /// Under the random control.
    pub random: Condition,
    /// Paraphrase "mixed" top-1 per language (query pre, candidates post).
    pub para_mixed: Vec<f64>,
    /// Jaccard overlap of the top-k expert sets of every pair of languages (mean).
    pub expert_overlap: f64,
}

fn condition(
    name: &str,
    model: &Transformer,
    data: &BabelData,
    iv: Option<&Intervention>,
    plan: &LangExpertsPlan,
    device: &Device,
) -> Result<(Condition, Vec<Vec<f32>>)> {
    let last = model.n_layers();
    let d = plan.d_model;
    let mut langs = Vec::new();
    for s in &data.test {
        langs.push(embeddings(model, s, 0, &[last], iv, 128, device)?.remove(0));
    }
    let pe = ParallelEmbeddings::new(langs.clone(), d)?;
    let mut para = Vec::new();
    let mut para1 = Vec::new();
    for (v0, v1) in &data.para {
        let a = embeddings(model, v0, 0, &[last], iv, 128, device)?.remove(0);
        let b = embeddings(model, v1, 0, &[last], iv, 128, device)?.remove(0);
        para.push(retrieval_top1(&a, &b, d)?);
        para1.push(b);
    }
    Ok((
        Condition {
            name: name.into(),
            top1: pe.retrieval_matrix()?,
            para,
            centroid_dist: pe.mean_centroid_distance(),
        },
        para1,
    ))
}

/// Per ordered pair `(q, c)`, `q ≠ c`: `(pre, post)`.
pub fn pairs(pre: &Condition, post: &Condition) -> Vec<(f64, f64)> {
    let l = pre.top1.len();
    let mut v = Vec::new();
    for q in 0..l {
        for c in 0..l {
            if q != c {
                v.push((pre.top1[q][c], post.top1[q][c]));
            }
        }
    }
    v
}

/// Median of finite values (NaN if none).
pub fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the whole Babel analysis on a trained model.
pub fn analyse(
    model: &Transformer,
    data: &BabelData,
    plan: &LangExpertsPlan,
    seed: u64,
    device: &Device,
) -> Result<BabelResult> {
    let l = data.names.len();
    let n = data.probe[0].len();
    let all: Vec<Vec<u32>> = data.probe.iter().flatten().cloned().collect();
    let cap = CaptureConfig {
        sites: plan.sites.clone(),
        layers: None,
        pooling: plan.pooling,
        batch_size: 128,
    };
    let resp = collect(model, &all, 0, &cap, None, device)?;
    let n_units = resp.index.n_units();
    let mut rng = ChaCha8Rng::seed_from_u64(Seed::new(seed).derive("shuffle").value());
    let mut experts_per_lang = Vec::new();
    let (mut sel_real, mut sel_shuf) = (Vec::new(), Vec::new());
    let mut curves = (Vec::new(), Vec::new());
    let mut target_ex = None;
    for lang in 0..l {
        let labels: Vec<bool> = (0..l * n).map(|i| i / n == lang).collect();
        let ex = Expertise::compute(&resp, &labels)?;
        let mut sh = labels.clone();
        sh.shuffle(&mut rng);
        let exs = Expertise::compute(&resp, &sh)?;
        sel_real.push(ex.units.iter().filter(|u| u.auroc >= 0.9).count());
        sel_shuf.push(exs.units.iter().filter(|u| u.auroc >= 0.9).count());
        if lang == plan.target {
            let mut a: Vec<f64> = ex.units.iter().map(|u| u.auroc).collect();
            let mut b: Vec<f64> = exs.units.iter().map(|u| u.auroc).collect();
            a.sort_by(|x, y| y.total_cmp(x));
            b.sort_by(|x, y| y.total_cmp(x));
            curves = (a, b);
            target_ex = Some(ex.clone());
        }
        experts_per_lang.push(ex);
    }
    let ex = target_ex.expect("target < langs is validated");
    let ks: Vec<usize> = plan
        .k_fracs
        .iter()
        .map(|f| ((f * n_units as f64).round() as usize).clamp(1, n_units))
        .collect();
    // choose k on the probe set: mean cross-lingual top-1 under the experts
    let last = model.n_layers();
    let mut probe_top1 = Vec::new();
    for &k in &ks {
        let iv = force_experts(&ex, &ex.top_k(Metric::Auroc, k), plan.force)?;
        let mut langs = Vec::new();
        for s in &data.probe {
            langs.push(embeddings(model, s, 0, &[last], Some(&iv), 128, device)?.remove(0));
        }
        let m = ParallelEmbeddings::new(langs, plan.d_model)?.retrieval_matrix()?;
        let vals: Vec<f64> = m
            .iter()
            .flatten()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        probe_top1.push(vals.iter().sum::<f64>() / vals.len() as f64);
    }
    let best = (0..ks.len())
        .max_by(|&a, &b| probe_top1[a].total_cmp(&probe_top1[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    let k = ks[best];
    let (pre, para_pre_cands) = condition("pre", model, data, None, plan, device)?;
    let _ = para_pre_cands;
    let mut sweep_delta = Vec::new();
    let mut post = None;
    let mut random = None;
    let mut para_mixed = Vec::new();
    for (i, &kk) in ks.iter().enumerate() {
        let top = ex.top_k(Metric::Auroc, kk);
        let iv = force_experts(&ex, &top, plan.force)?;
        let rv = random_control(
            &ex,
            &top,
            plan.force,
            Seed::new(seed).derive("random").index(i as u64).value(),
        )?;
        let (cp, para_post_cands) = condition("experts", model, data, Some(&iv), plan, device)?;
        let (cr, _) = condition("random", model, data, Some(&rv), plan, device)?;
        let dp: Vec<f64> = pairs(&pre, &cp).iter().map(|(a, b)| b - a).collect();
        let dr: Vec<f64> = pairs(&pre, &cr).iter().map(|(a, b)| b - a).collect();
        sweep_delta.push((median(&dp), median(&dr)));
        if kk == k && post.is_none() {
            // mixed paraphrase: queries embedded by the original model, candidates by the intervened one
            for (lg, (v0, _)) in data.para.iter().enumerate() {
                let q = embeddings(model, v0, 0, &[last], None, 128, device)?.remove(0);
                para_mixed.push(retrieval_top1(&q, &para_post_cands[lg], plan.d_model)?);
            }
            post = Some(cp);
            random = Some(cr);
        }
    }
    let top = ex.top_k(Metric::Auroc, k);
    let expert_auroc = top.iter().map(|&i| ex.units[i].auroc).sum::<f64>() / top.len() as f64;
    let sets: Vec<crate::expertise::ExpertSet> = experts_per_lang
        .iter()
        .map(|e| crate::expertise::ExpertSet::from_ids(n_units, e.top_k(Metric::Auroc, k)))
        .collect();
    let jm = crate::expertise::jaccard_matrix(&sets)?;
    let mut ov = Vec::new();
    for i in 0..l {
        for j in i + 1..l {
            ov.push(jm[i * l + j]);
        }
    }
    Ok(BabelResult {
        names: data.names.clone(),
        n_units,
        selective_real: sel_real,
        selective_shuffled: sel_shuf,
        auroc_curves: curves,
        ks,
        probe_top1,
        sweep_delta,
        k,
        expert_auroc,
        pre,
        post: post.expect("k is one of ks"),
        random: random.expect("k is one of ks"),
        para_mixed,
        expert_overlap: ov.iter().sum::<f64>() / ov.len().max(1) as f64,
    })
}
