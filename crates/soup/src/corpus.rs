//! A synthetic multi-domain "web corpus" with a known generating process (spec §5.1), so
//! that specialist losses can be compared with the exact Bayes floor.
//!
//! `topics × leaves_per_topic` leaf domains, each a first-order Markov source over `vocab`
//! tokens with transition matrix
//!
//! ```text
//! T_d = normalise((1 − λ) · P_topic(d) + λ · Q_d)
//! ```
//!
//! where `P_topic` has sparse rows (`topic_successors` successors, Dirichlet(0.5)
//! probabilities, successors drawn mostly from the topic's own vocabulary) and `Q_d` is a
//! leaf-specific sparse table (`leaf_successors` successors). A document starts from the
//! topic's start distribution (concentrated on its topical vocabulary) and has a fixed
//! length, so one document is one LM window. The natural mixture over leaves is Zipfian.
//!
//! [`MarkovCorpus::bayes_loss`] is the exact expected next-token loss floor of a task: the
//! predictive `p*(x_t | x_<t) = Σ_d π_t(d) T_d[x_{t−1}, x_t]` with the posterior
//! `π_t(d) ∝ w_d · start_d(x_1) · Π_{s<t} T_d[x_{s−1}, x_s]`.

use ember_core::{Error, Result};
use rand::seq::index::sample;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

/// Knobs of the generator (defaults: the spec's repro profile scaled to `vocab`).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkovCorpusConfig {
    /// Vocabulary size.
    pub vocab: usize,
    /// Number of topics.
    pub topics: usize,
    /// Leaves per topic.
    pub leaves_per_topic: usize,
    /// Successors per row of a topic table.
    pub topic_successors: usize,
    /// Successors per row of a leaf table.
    pub leaf_successors: usize,
    /// Leaf weight `λ` in `T_d = (1 − λ) P_topic + λ Q_d`.
    pub lambda: f64,
    /// Fraction of a topic table's successors drawn from the topic's own vocabulary.
    pub topical_bias: f64,
    /// Tokens per document (one LM window is `seq + 1` tokens).
    pub doc_len: usize,
    /// Zipf exponent of the natural mixture over leaves.
    pub zipf_s: f64,
    /// Seed of the tables.
    pub seed: u64,
}

impl MarkovCorpusConfig {
    /// Defaults for `vocab` tokens and documents of `doc_len` tokens.
    pub fn new(vocab: usize, doc_len: usize) -> Self {
        Self {
            vocab,
            topics: 8,
            leaves_per_topic: 8,
            topic_successors: 8,
            leaf_successors: 4,
            lambda: 0.3,
            topical_bias: 0.8,
            doc_len,
            zipf_s: 1.1,
            seed: 0,
        }
    }
}

/// One leaf's Markov source.
#[derive(Debug, Clone)]
struct Leaf {
    topic: usize,
    /// Row-major `[vocab, vocab]`.
    trans: Vec<f64>,
    start: Vec<f64>,
}

/// The generator: leaf tables, start distributions and the natural mixture.
#[derive(Debug, Clone)]
pub struct MarkovCorpus {
    cfg: MarkovCorpusConfig,
    topic_tables: Vec<Vec<f64>>,
    topic_starts: Vec<Vec<f64>>,
    leaves: Vec<Leaf>,
    natural: Vec<f64>,
}

fn sparse_row(
    vocab: usize,
    succ: usize,
    pool: &[usize],
    bias: f64,
    rng: &mut impl Rng,
) -> Vec<f64> {
    let mut row = vec![0.0; vocab];
    let gamma = Gamma::new(0.5, 1.0).expect("valid gamma");
    let mut picked = 0;
    while picked < succ {
        let t = if !pool.is_empty() && rng.random::<f64>() < bias {
            pool[rng.random_range(0..pool.len())]
        } else {
            rng.random_range(0..vocab)
        };
        if row[t] == 0.0 {
            let g: f64 = gamma.sample(rng);
            row[t] = g.max(1e-6);
            picked += 1;
        }
    }
    let s: f64 = row.iter().sum();
    row.iter_mut().for_each(|v| *v /= s);
    row
}

fn draw(p: &[f64], rng: &mut impl Rng) -> usize {
    let mut u = rng.random::<f64>();
    for (i, &w) in p.iter().enumerate() {
        if u < w {
            return i;
        }
        u -= w;
    }
    p.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

impl MarkovCorpus {
    /// Build the tables.
    ///
    /// Errors: sizes of zero, more successors than tokens, `λ` outside `[0, 1]`, documents
    /// shorter than 2 tokens.
    pub fn new(cfg: MarkovCorpusConfig) -> Result<Self> {
        let c = &cfg;
        if c.vocab < 2 || c.topics == 0 || c.leaves_per_topic == 0 || c.doc_len < 2 {
            return Err(Error::InvalidInput(format!(
                "markov corpus: need vocab >= 2, topics and leaves >= 1, doc_len >= 2 (got {c:?})"
            )));
        }
        if c.topic_successors == 0
            || c.leaf_successors == 0
            || c.topic_successors > c.vocab
            || c.leaf_successors > c.vocab
        {
            return Err(Error::InvalidInput(format!(
                "markov corpus: successors must be in 1..={}",
                c.vocab
            )));
        }
        if !(0.0..=1.0).contains(&c.lambda) || !(0.0..=1.0).contains(&c.topical_bias) {
            return Err(Error::InvalidInput(
                "markov corpus: λ and topical_bias must be in [0, 1]".into(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let v = c.vocab;
        let per_topic = (v / c.topics).max(1);
        let pools: Vec<Vec<usize>> = (0..c.topics)
            .map(|t| (t * per_topic..((t + 1) * per_topic).min(v)).collect())
            .collect();
        let mut topic_tables = Vec::new();
        let mut topic_starts = Vec::new();
        for pool in &pools {
            let mut table = Vec::with_capacity(v * v);
            for _ in 0..v {
                table.extend(sparse_row(
                    v,
                    c.topic_successors,
                    pool,
                    c.topical_bias,
                    &mut rng,
                ));
            }
            topic_tables.push(table);
            let mut start = vec![0.0; v];
            for &t in pool {
                start[t] = 1.0 / pool.len() as f64;
            }
            topic_starts.push(start);
        }
        let mut leaves = Vec::new();
        for (t, table) in topic_tables.iter().enumerate() {
            for _ in 0..c.leaves_per_topic {
                leaves.push(Self::make_leaf(c, t, table, &topic_starts[t], &mut rng));
            }
        }
        // Zipf over a random permutation of the leaves, so big leaves are spread over topics.
        let n = leaves.len();
        let order = sample(&mut rng, n, n);
        let mut natural = vec![0.0; n];
        for (rank, leaf) in order.iter().enumerate() {
            natural[leaf] = 1.0 / ((rank + 1) as f64).powf(c.zipf_s);
        }
        let s: f64 = natural.iter().sum();
        natural.iter_mut().for_each(|w| *w /= s);
        Ok(Self {
            cfg,
            topic_tables,
            topic_starts,
            leaves,
            natural,
        })
    }

    fn make_leaf(
        c: &MarkovCorpusConfig,
        topic: usize,
        table: &[f64],
        start: &[f64],
        rng: &mut impl Rng,
    ) -> Leaf {
        let v = c.vocab;
        let mut trans = Vec::with_capacity(v * v);
        for r in 0..v {
            let q = sparse_row(v, c.leaf_successors, &[], 0.0, rng);
            trans.extend(
                table[r * v..(r + 1) * v]
                    .iter()
                    .zip(&q)
                    .map(|(p, q)| (1.0 - c.lambda) * p + c.lambda * q),
            );
        }
        Leaf {
            topic,
            trans,
            start: start.to_vec(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MarkovCorpusConfig {
        &self.cfg
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.leaves.len()
    }

    /// Topic of each leaf.
    pub fn leaf_topic(&self, leaf: usize) -> usize {
        self.leaves[leaf].topic
    }

    /// The natural (Zipfian) mixture over leaves.
    pub fn natural_weights(&self) -> &[f64] {
        &self.natural
    }

    /// A fresh leaf of `topic` that pretraining never saw (new `Q′`), appended to the corpus;
    /// returns its index. It gets zero natural weight.
    pub fn add_novel_leaf(&mut self, topic: usize, seed: u64) -> Result<usize> {
        if topic >= self.topic_tables.len() {
            return Err(Error::InvalidInput(format!("no topic {topic}")));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let leaf = Self::make_leaf(
            &self.cfg,
            topic,
            &self.topic_tables[topic],
            &self.topic_starts[topic],
            &mut rng,
        );
        self.leaves.push(leaf);
        self.natural.push(0.0);
        Ok(self.leaves.len() - 1)
    }

    fn check_weights(&self, w: &[f64]) -> Result<()> {
        if w.len() != self.leaves.len() {
            return Err(Error::Shape(format!(
                "leaf weights have {} entries, corpus has {} leaves",
                w.len(),
                self.leaves.len()
            )));
        }
        crate::meta::check_simplex(w, "leaf weights")
    }

    /// `n` documents from the mixture `w` over leaves, with their leaf labels.
    pub fn sample_docs(
        &self,
        w: &[f64],
        n: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<(usize, Vec<u32>)>> {
        self.check_weights(w)?;
        let table = crate::mixture::AliasTable::new(w)?;
        let v = self.cfg.vocab;
        Ok((0..n)
            .map(|_| {
                let d = table.sample(rng);
                let leaf = &self.leaves[d];
                let mut doc = Vec::with_capacity(self.cfg.doc_len);
                let mut x = draw(&leaf.start, rng);
                doc.push(x as u32);
                for _ in 1..self.cfg.doc_len {
                    x = draw(&leaf.trans[x * v..(x + 1) * v], rng);
                    doc.push(x as u32);
                }
                (d, doc)
            })
            .collect())
    }

    /// Exact next-token cross-entropy (nats/token) of the Bayes predictor for mixture `w`
    /// on `docs`, averaged over every predicted position (tokens `1..len` of each doc), the
    /// same positions an LM's loss averages over.
    pub fn bayes_loss(&self, w: &[f64], docs: &[Vec<u32>]) -> Result<f64> {
        self.check_weights(w)?;
        if docs.is_empty() {
            return Err(Error::InvalidInput("bayes_loss: no documents".into()));
        }
        let v = self.cfg.vocab;
        let active: Vec<usize> = (0..self.leaves.len()).filter(|&d| w[d] > 0.0).collect();
        let mut total = 0.0;
        let mut count = 0usize;
        for doc in docs {
            if doc.len() < 2 || doc.iter().any(|&t| t as usize >= v) {
                return Err(Error::InvalidInput(format!(
                    "bayes_loss: documents need >= 2 tokens below {v}"
                )));
            }
            let x0 = doc[0] as usize;
            let mut post: Vec<f64> = active
                .iter()
                .map(|&d| w[d] * self.leaves[d].start[x0])
                .collect();
            for pair in doc.windows(2) {
                let (a, b) = (pair[0] as usize, pair[1] as usize);
                let z: f64 = post.iter().sum();
                let mut p = 0.0;
                for (j, &d) in active.iter().enumerate() {
                    let t = self.leaves[d].trans[a * v + b];
                    p += post[j] / z * t;
                    post[j] = post[j] / z * t;
                }
                total -= p.max(1e-300).ln();
                count += 1;
            }
        }
        Ok(total / count as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> MarkovCorpus {
        let mut c = MarkovCorpusConfig::new(32, 12);
        c.topics = 2;
        c.leaves_per_topic = 2;
        c.topic_successors = 3;
        c.leaf_successors = 2;
        MarkovCorpus::new(c).unwrap()
    }

    #[test]
    fn rows_are_distributions_and_natural_is_zipf() {
        let c = small();
        let v = c.cfg.vocab;
        for leaf in &c.leaves {
            for r in 0..v {
                let s: f64 = leaf.trans[r * v..(r + 1) * v].iter().sum();
                assert!((s - 1.0).abs() < 1e-9);
            }
        }
        let mut w = c.natural.clone();
        w.sort_by(|a, b| b.total_cmp(a));
        assert!((w[0] / w[1] - 2f64.powf(1.1)).abs() < 1e-9);
    }

    /// The Bayes loss is the empirical cross-entropy of the true process, which a brute-force
    /// check confirms: for a one-leaf task it is the mean −log T[x_{t−1}, x_t].
    #[test]
    fn bayes_loss_matches_brute_force_for_one_leaf() {
        let c = small();
        let mut w = vec![0.0; c.n_leaves()];
        w[1] = 1.0;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let docs: Vec<Vec<u32>> = c
            .sample_docs(&w, 50, &mut rng)
            .unwrap()
            .into_iter()
            .map(|d| d.1)
            .collect();
        let v = c.cfg.vocab;
        let mut brute = 0.0;
        let mut n = 0.0;
        for d in &docs {
            for p in d.windows(2) {
                brute -= c.leaves[1].trans[p[0] as usize * v + p[1] as usize].ln();
                n += 1.0;
            }
        }
        let bayes = c.bayes_loss(&w, &docs).unwrap();
        assert!((bayes - brute / n).abs() < 1e-9, "{bayes} vs {}", brute / n);
        // A mixture can only be harder to predict than the true leaf.
        let mix = vec![0.25; 4];
        assert!(c.bayes_loss(&mix, &docs).unwrap() > bayes);
    }

    #[test]
    fn bad_input_is_an_error() {
        let c = small();
        assert!(c.bayes_loss(&[1.0], &[vec![0, 1]]).is_err());
        assert!(c.bayes_loss(&[0.25; 4], &[]).is_err());
        assert!(c.bayes_loss(&[0.25; 4], &[vec![0, 99]]).is_err());
        let mut cfg = MarkovCorpusConfig::new(4, 8);
        cfg.topic_successors = 9;
        assert!(MarkovCorpus::new(cfg).is_err());
    }
}
