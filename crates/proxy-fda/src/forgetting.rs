//! Measuring concept forgetting (pure Rust on host slices, backend-free):
//!
//! * [`linear_probe_accuracy`]: multinomial logistic regression on frozen features; the
//!   forgetting metric is `Δ_LP(D) = LP(f_θ, D) − LP(f_θ0, D)` on held-out prior tasks `D`.
//! * [`sinkhorn`]: entropic optimal transport `min_P ⟨P, C⟩ − ε H(P)` with uniform marginals,
//!   log-domain iterations; returns `⟨P*, C⟩`.
//! * [`ot_distance`]: OTDD-lite between pre-trained and fine-tuned features of one dataset,
//!   ground cost `‖x − y‖² + W₂²(N_y, N_y')` with diagonal class Gaussians
//!   (`W₂² = ‖μ − μ'‖² + ‖σ − σ'‖²`), `ε` = `eps_rel` × median cost.
//! * [`mean_sq_l2`]: the point-wise `mean_i ‖x_i − y_i‖²` it is compared with.

use crate::util::check_finite;
use ember_core::{Error, Result};

fn check_matrix(what: &str, x: &[f32], n: usize, d: usize) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(Error::InvalidInput(format!("{what}: empty")));
    }
    if x.len() != n * d {
        return Err(Error::Shape(format!(
            "{what}: {} values, expected {n} x {d}",
            x.len()
        )));
    }
    check_finite(what, x)
}

/// Settings of [`linear_probe_accuracy`].
#[derive(Debug, Clone, Copy)]
pub struct LinearProbeConfig {
    /// Full-batch Adam steps.
    pub steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 penalty on the weights.
    pub l2: f64,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self {
            steps: 200,
            lr: 0.05,
            l2: 1e-3,
        }
    }
}

/// Rows of `x` (`[n, d]`, row-major) scaled to unit L2 norm (a zero row stays zero), the
/// features the L2 and OT forgetting distances compare.
pub fn normalize_rows(x: &[f32], d: usize) -> Vec<f32> {
    x.chunks(d)
        .flat_map(|r| {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(move |v| v / n)
        })
        .collect()
}

/// Train a linear softmax classifier on `train` (`[n_tr, d]`, standardised with the training
/// mean and standard deviation) and return its accuracy on `test`.
pub fn linear_probe_accuracy(
    train: &[f32],
    y_train: &[usize],
    test: &[f32],
    y_test: &[usize],
    d: usize,
    cfg: &LinearProbeConfig,
) -> Result<f64> {
    let (ntr, nte) = (y_train.len(), y_test.len());
    check_matrix("probe train features", train, ntr, d)?;
    check_matrix("probe test features", test, nte, d)?;
    let c = y_train.iter().chain(y_test).max().map_or(0, |&m| m + 1);
    if c < 2 {
        return Err(Error::InvalidInput(
            "linear probe needs at least 2 classes".into(),
        ));
    }
    let mut mean = vec![0.0f64; d];
    let mut sd = vec![0.0f64; d];
    for r in train.chunks(d) {
        for k in 0..d {
            mean[k] += r[k] as f64 / ntr as f64;
        }
    }
    for r in train.chunks(d) {
        for k in 0..d {
            sd[k] += (r[k] as f64 - mean[k]).powi(2) / ntr as f64;
        }
    }
    let sd: Vec<f64> = sd.iter().map(|v| v.sqrt().max(1e-6)).collect();
    let std = |x: &[f32]| -> Vec<f64> {
        x.chunks(d)
            .flat_map(|r| {
                (0..d)
                    .map(|k| (r[k] as f64 - mean[k]) / sd[k])
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (xtr, xte) = (std(train), std(test));
    let dp = d + 1; // bias column
    let mut w = vec![0.0f64; dp * c];
    let (mut m1, mut m2) = (vec![0.0f64; dp * c], vec![0.0f64; dp * c]);
    let (b1, b2) = (0.9f64, 0.999f64);
    let mut probs = vec![0.0f64; c];
    for step in 1..=cfg.steps {
        let mut g = vec![0.0f64; dp * c];
        for (i, &y) in y_train.iter().enumerate() {
            let x = &xtr[i * d..(i + 1) * d];
            let mut mx = f64::NEG_INFINITY;
            for (k, p) in probs.iter_mut().enumerate() {
                let mut z = w[d * c + k];
                for (j, xv) in x.iter().enumerate() {
                    z += xv * w[j * c + k];
                }
                *p = z;
                mx = mx.max(z);
            }
            let s: f64 = probs
                .iter_mut()
                .map(|p| {
                    *p = (*p - mx).exp();
                    *p
                })
                .sum();
            for (k, p) in probs.iter().enumerate() {
                let e = p / s - if k == y { 1.0 } else { 0.0 };
                for (j, xv) in x.iter().enumerate() {
                    g[j * c + k] += e * xv / ntr as f64;
                }
                g[d * c + k] += e / ntr as f64;
            }
        }
        for j in 0..d * c {
            g[j] += cfg.l2 * w[j];
        }
        for j in 0..dp * c {
            m1[j] = b1 * m1[j] + (1.0 - b1) * g[j];
            m2[j] = b2 * m2[j] + (1.0 - b2) * g[j] * g[j];
            let mh = m1[j] / (1.0 - b1.powi(step as i32));
            let vh = m2[j] / (1.0 - b2.powi(step as i32));
            w[j] -= cfg.lr * mh / (vh.sqrt() + 1e-8);
        }
    }
    let mut correct = 0usize;
    for (i, &y) in y_test.iter().enumerate() {
        let x = &xte[i * d..(i + 1) * d];
        let mut best = (f64::NEG_INFINITY, 0usize);
        for k in 0..c {
            let mut z = w[d * c + k];
            for (j, xv) in x.iter().enumerate() {
                z += xv * w[j * c + k];
            }
            if z > best.0 {
                best = (z, k);
            }
        }
        correct += usize::from(best.1 == y);
    }
    Ok(correct as f64 / nte as f64)
}

fn logsumexp(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Entropic OT with uniform marginals on a row-major cost `[n, m]`: `iters` log-domain
/// Sinkhorn iterations at regularisation `eps`; returns the transport cost `⟨P, C⟩`.
pub fn sinkhorn(cost: &[f64], n: usize, m: usize, eps: f64, iters: usize) -> Result<f64> {
    if n == 0 || m == 0 {
        return Err(Error::InvalidInput("sinkhorn: empty cost matrix".into()));
    }
    if cost.len() != n * m {
        return Err(Error::Shape(format!(
            "cost has {} values, expected {n} x {m}",
            cost.len()
        )));
    }
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::InvalidInput(format!(
            "sinkhorn: eps must be > 0, got {eps}"
        )));
    }
    if let Some(i) = cost.iter().position(|c| !c.is_finite()) {
        return Err(Error::NonFinite(format!("cost element {i}")));
    }
    let (la, lb) = (-(n as f64).ln(), -(m as f64).ln());
    let mut f = vec![0.0f64; n];
    let mut g = vec![0.0f64; m];
    for _ in 0..iters {
        for i in 0..n {
            f[i] = eps * la - eps * logsumexp((0..m).map(|j| (g[j] - cost[i * m + j]) / eps));
        }
        for j in 0..m {
            g[j] = eps * lb - eps * logsumexp((0..n).map(|i| (f[i] - cost[i * m + j]) / eps));
        }
    }
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..m {
            let c = cost[i * m + j];
            total += ((f[i] + g[j] - c) / eps).exp() * c;
        }
    }
    Ok(total)
}

/// Settings of [`ot_distance`].
#[derive(Debug, Clone, Copy)]
pub struct OtConfig {
    /// `ε` as a fraction of the median ground cost.
    pub eps_rel: f64,
    /// Sinkhorn iterations.
    pub iters: usize,
    /// Add the label term `W₂²(N_y, N_y')` to the ground cost (OTDD-lite); plain feature OT
    /// when false.
    pub label_cost: bool,
}

impl Default for OtConfig {
    fn default() -> Self {
        Self {
            eps_rel: 0.05,
            iters: 200,
            label_cost: true,
        }
    }
}

fn class_gaussians(x: &[f32], labels: &[usize], d: usize, c: usize) -> Vec<(Vec<f64>, Vec<f64>)> {
    (0..c)
        .map(|k| {
            let rows: Vec<&[f32]> = labels
                .iter()
                .enumerate()
                .filter(|(_, y)| **y == k)
                .map(|(i, _)| &x[i * d..(i + 1) * d])
                .collect();
            let n = rows.len().max(1) as f64;
            let mu: Vec<f64> = (0..d)
                .map(|j| rows.iter().map(|r| r[j] as f64).sum::<f64>() / n)
                .collect();
            let sd: Vec<f64> = (0..d)
                .map(|j| {
                    (rows
                        .iter()
                        .map(|r| (r[j] as f64 - mu[j]).powi(2))
                        .sum::<f64>()
                        / n)
                        .sqrt()
                })
                .collect();
            (mu, sd)
        })
        .collect()
}

/// OTDD-lite between the features `x` (pre-trained) and `y` (fine-tuned) of the same `n`
/// labelled samples (`[n, d]` each). See the module docs.
pub fn ot_distance(
    x: &[f32],
    y: &[f32],
    labels: &[usize],
    d: usize,
    cfg: &OtConfig,
) -> Result<f64> {
    let n = labels.len();
    check_matrix("pre-trained features", x, n, d)?;
    check_matrix("fine-tuned features", y, n, d)?;
    let c = labels.iter().max().map_or(0, |&m| m + 1);
    let label_w2 = if cfg.label_cost {
        let (gx, gy) = (
            class_gaussians(x, labels, d, c),
            class_gaussians(y, labels, d, c),
        );
        let mut w = vec![0.0f64; c * c];
        for a in 0..c {
            for b in 0..c {
                w[a * c + b] = (0..d)
                    .map(|j| (gx[a].0[j] - gy[b].0[j]).powi(2) + (gx[a].1[j] - gy[b].1[j]).powi(2))
                    .sum();
            }
        }
        Some(w)
    } else {
        None
    };
    let mut cost = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            let mut s: f64 = (0..d)
                .map(|k| (x[i * d + k] as f64 - y[j * d + k] as f64).powi(2))
                .sum();
            if let Some(w) = &label_w2 {
                s += w[labels[i] * c + labels[j]];
            }
            cost[i * n + j] = s;
        }
    }
    let mut sorted = cost.clone();
    sorted.sort_by(f64::total_cmp);
    let med = sorted[sorted.len() / 2].max(1e-12);
    sinkhorn(&cost, n, n, cfg.eps_rel * med, cfg.iters)
}

/// `mean_i ‖x_i − y_i‖²` over paired rows of `[n, d]` matrices.
pub fn mean_sq_l2(x: &[f32], y: &[f32], d: usize) -> Result<f64> {
    if d == 0 || x.is_empty() || !x.len().is_multiple_of(d) {
        return Err(Error::Shape(format!(
            "{} values is not a non-empty [n, {d}] matrix",
            x.len()
        )));
    }
    if x.len() != y.len() {
        return Err(Error::Shape(format!("{} vs {} values", x.len(), y.len())));
    }
    check_finite("x", x)?;
    check_finite("y", y)?;
    let n = x.len() / d;
    Ok(x.iter()
        .zip(y)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum::<f64>()
        / n as f64)
}
