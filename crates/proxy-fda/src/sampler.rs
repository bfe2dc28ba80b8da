//! Class-balanced batches of `m` classes × `n` samples with hard class mining (Proxy-FDA §3.3):
//! a seed class is drawn uniformly and completed with its `m − 1` nearest classes by the
//! cosine of class centroids in the pre-trained feature space, so that negatives are
//! semi-hard. Without mining the `m` classes are drawn uniformly.

use ember_core::{Error, Result};
use rand::RngExt;
use rand::seq::{IndexedRandom, SliceRandom};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct ClassBalancedSampler {
    m: usize,
    n: usize,
    by_class: Vec<Vec<usize>>,
    /// For each class, the other classes by decreasing centroid cosine (hard mining).
    nearest: Option<Vec<Vec<usize>>>,
}

impl ClassBalancedSampler {
    /// Sampler over `labels` (class ids `0..C`) drawing `m` classes × `n` samples.
    ///
    /// Errors: empty labels, `m` or `n` zero, `m` larger than the number of classes, or a class
    /// id in `0..max` with no sample.
    pub fn new(labels: &[usize], m: usize, n: usize) -> Result<Self> {
        if labels.is_empty() {
            return Err(Error::InvalidInput("no labels".into()));
        }
        if m == 0 || n == 0 {
            return Err(Error::InvalidInput(format!(
                "m and n must be >= 1 (m={m}, n={n})"
            )));
        }
        let c = labels.iter().max().map_or(0, |&x| x + 1);
        let mut by_class = vec![Vec::new(); c];
        for (i, &y) in labels.iter().enumerate() {
            by_class[y].push(i);
        }
        if let Some(e) = by_class.iter().position(Vec::is_empty) {
            return Err(Error::InvalidInput(format!("class {e} has no samples")));
        }
        if m > c {
            return Err(Error::InvalidInput(format!(
                "m = {m} classes but only {c} exist"
            )));
        }
        Ok(Self {
            m,
            n,
            by_class,
            nearest: None,
        })
    }

    /// Enable hard class mining from features `feats` (row-major `[N, d]`, same order as the
    /// labels) of the pre-trained model.
    pub fn with_hard_mining(mut self, feats: &[f32], d: usize) -> Result<Self> {
        let n_items: usize = self.by_class.iter().map(Vec::len).sum();
        if d == 0 || feats.len() != n_items * d {
            return Err(Error::Shape(format!(
                "features have {} values, expected {n_items} x {d}",
                feats.len()
            )));
        }
        crate::util::check_finite("features", feats)?;
        let cents: Vec<Vec<f64>> = self
            .by_class
            .iter()
            .map(|idx| {
                let mut c = vec![0.0f64; d];
                for &i in idx {
                    for (k, v) in c.iter_mut().enumerate() {
                        *v += feats[i * d + k] as f64;
                    }
                }
                let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
                c.iter().map(|x| x / norm).collect()
            })
            .collect();
        let nc = cents.len();
        let nearest = (0..nc)
            .map(|a| {
                let mut others: Vec<(usize, f64)> = (0..nc)
                    .filter(|&b| b != a)
                    .map(|b| (b, cents[a].iter().zip(&cents[b]).map(|(x, y)| x * y).sum()))
                    .collect();
                others.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
                others.into_iter().map(|(b, _)| b).collect()
            })
            .collect();
        self.nearest = Some(nearest);
        Ok(self)
    }

    /// Batch size `m · n`.
    pub fn batch_size(&self) -> usize {
        self.m * self.n
    }

    /// The classes of the next batch.
    pub fn sample_classes<R: rand::Rng>(&self, rng: &mut R) -> Vec<usize> {
        let c = self.by_class.len();
        match &self.nearest {
            Some(nearest) => {
                let seed = rng.random_range(0..c);
                let mut cls = vec![seed];
                cls.extend(nearest[seed].iter().take(self.m - 1));
                cls
            }
            None => {
                let mut all: Vec<usize> = (0..c).collect();
                all.shuffle(rng);
                all.truncate(self.m);
                all
            }
        }
    }

    /// Indices of the next batch: `n` per class, without replacement when the class has at
    /// least `n` samples, grouped by class.
    pub fn sample<R: rand::Rng>(&self, rng: &mut R) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.batch_size());
        for c in self.sample_classes(rng) {
            let pool = &self.by_class[c];
            if pool.len() >= self.n {
                out.extend(pool.sample(rng, self.n).copied());
            } else {
                out.extend((0..self.n).map(|_| pool[rng.random_range(0..pool.len())]));
            }
        }
        out
    }
}
