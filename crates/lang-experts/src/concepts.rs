//! Paper 2 (ExpertLens): concept similarity as the overlap of expert sets, its agreement with
//! human similarity ratings, the word-embedding baseline, and hierarchy recovery.
//!
//! - `J(i, j) = |E_i ∩ E_j| / |E_i ∪ E_j|` ([`crate::expertise::jaccard_matrix`]);
//! - alignment = Spearman ρ between a model similarity and the human score over the rated
//!   pairs ([`alignment`]);
//! - hierarchy: average-linkage clustering on `1 − J` ([`average_linkage`]), cut into the
//!   true number of groups and scored by the adjusted Rand index ([`adjusted_rand_index`]).

use ember_core::metrics::spearman;
use ember_core::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// One rated word pair.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedPair {
    /// First word.
    pub a: String,
    /// Second word.
    pub b: String,
    /// Human similarity (any scale).
    pub score: f64,
}

/// Reads a human similarity file in the MEN / SimLex text format: one pair per line,
/// `word1 word2 score` separated by spaces or tabs. Blank lines and lines starting with `#`
/// are skipped; a first line whose score is not a number is taken as a header. MEN's
/// part-of-speech suffixes (`cat-n`) are kept as written; see [`strip_pos`].
///
/// Errors (naming the file and line): an unreadable file, a line without exactly three
/// fields, a non-numeric or non-finite score after the header, no pairs at all.
pub fn read_similarity(path: impl AsRef<Path>) -> Result<Vec<RatedPair>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_similarity(&text).map_err(|msg| Error::Format {
        path: path.to_path_buf(),
        msg,
    })
}

/// [`read_similarity`] on text already in memory; the error is the message alone.
pub fn parse_similarity(text: &str) -> std::result::Result<Vec<RatedPair>, String> {
    let mut out = Vec::new();
    let mut seen_content = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 {
            return Err(format!(
                "line {}: expected `word1 word2 score`, found {} fields",
                i + 1,
                f.len()
            ));
        }
        let first = !seen_content;
        seen_content = true;
        let score: f64 = match f[2].parse() {
            Ok(s) => s,
            Err(_) if first => continue, // header
            Err(_) => return Err(format!("line {}: score {:?} is not a number", i + 1, f[2])),
        };
        if !score.is_finite() {
            return Err(format!("line {}: score {score} is not finite", i + 1));
        }
        out.push(RatedPair {
            a: f[0].to_string(),
            b: f[1].to_string(),
            score,
        });
    }
    if out.is_empty() {
        return Err("no rated pairs".into());
    }
    Ok(out)
}

/// Removes a MEN-style part-of-speech suffix (`cat-n` → `cat`).
pub fn strip_pos(w: &str) -> &str {
    match w.rsplit_once('-') {
        Some((s, pos)) if pos.len() == 1 && !s.is_empty() => s,
        _ => w,
    }
}

/// Spearman ρ between `sim(i, j)` of a `C × C` row-major matrix and the human scores of
/// `pairs`, over the pairs whose both words are in `names`. Returns `(ρ, pairs used)`.
///
/// Errors: a matrix of the wrong size, a non-finite similarity, fewer than 3 covered pairs.
pub fn alignment(sim: &[f64], names: &[String], pairs: &[RatedPair]) -> Result<(f64, usize)> {
    let c = names.len();
    if sim.len() != c * c {
        return Err(Error::Shape(format!(
            "alignment: {} similarities for {c} concepts",
            sim.len()
        )));
    }
    let idx: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for p in pairs {
        if let (Some(&i), Some(&j)) = (idx.get(p.a.as_str()), idx.get(p.b.as_str())) {
            let s = sim[i * c + j];
            if !s.is_finite() {
                return Err(Error::NonFinite(format!(
                    "alignment: similarity of {} / {}",
                    p.a, p.b
                )));
            }
            x.push(s);
            y.push(p.score);
        }
    }
    if x.len() < 3 {
        return Err(Error::InvalidInput(format!(
            "alignment: only {} rated pairs have both words among the concepts",
            x.len()
        )));
    }
    Ok((spearman(&x, &y)?, x.len()))
}

/// Cosine similarity matrix `C × C` of the rows `ids` of an embedding matrix `[V, d]` (the
/// word-embedding baseline: the model's input embeddings of the concept tokens).
pub fn embedding_cosine(emb: &[f32], d: usize, ids: &[usize]) -> Result<Vec<f64>> {
    let v = emb.len() / d.max(1);
    if let Some(&bad) = ids.iter().find(|&&i| i >= v) {
        return Err(Error::InvalidInput(format!(
            "embedding_cosine: token {bad} outside the vocabulary 0..{v}"
        )));
    }
    let c = ids.len();
    let mut m = vec![0.0; c * c];
    for i in 0..c {
        for j in 0..c {
            let a = &emb[ids[i] * d..(ids[i] + 1) * d];
            let b = &emb[ids[j] * d..(ids[j] + 1) * d];
            m[i * c + j] = 1.0 - crate::analysis::cosine_distance(a, b);
        }
    }
    Ok(m)
}

/// Average-linkage (UPGMA) agglomerative clustering of a symmetric `n × n` distance matrix,
/// cut when `k` clusters remain. Returns a cluster label per item (labels `0..k`, in order
/// of first appearance). Ties merge the lowest-index pair first (as SciPy's naive order).
pub fn average_linkage(dist: &[f64], n: usize, k: usize) -> Result<Vec<usize>> {
    if n == 0 || dist.len() != n * n {
        return Err(Error::Shape(format!(
            "average_linkage: {} distances for {n} items",
            dist.len()
        )));
    }
    if k == 0 || k > n {
        return Err(Error::InvalidInput(format!(
            "average_linkage: k = {k} clusters for {n} items"
        )));
    }
    ember_core::host::check_finite("average_linkage distances", dist)?;
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let mut d = dist.to_vec(); // cluster distances, indexed by representative slots
    let mut alive: Vec<bool> = vec![true; n];
    let mut count = n;
    while count > k {
        let mut best = (f64::INFINITY, 0, 0);
        for i in 0..n {
            if !alive[i] {
                continue;
            }
            for j in i + 1..n {
                if alive[j] && d[i * n + j] < best.0 {
                    best = (d[i * n + j], i, j);
                }
            }
        }
        let (_, a, b) = best;
        let (na, nb) = (members[a].len() as f64, members[b].len() as f64);
        for x in 0..n {
            if alive[x] && x != a && x != b {
                let v = (na * d[a * n + x] + nb * d[b * n + x]) / (na + nb);
                d[a * n + x] = v;
                d[x * n + a] = v;
            }
        }
        let mb = std::mem::take(&mut members[b]);
        members[a].extend(mb);
        alive[b] = false;
        count -= 1;
    }
    let mut labels = vec![0; n];
    let mut next = 0;
    let mut seen = vec![usize::MAX; n];
    for (i, label) in labels.iter_mut().enumerate() {
        let rep = (0..n)
            .find(|&r| alive[r] && members[r].contains(&i))
            .unwrap_or(i);
        if seen[rep] == usize::MAX {
            seen[rep] = next;
            next += 1;
        }
        *label = seen[rep];
    }
    Ok(labels)
}

/// Adjusted Rand index between two labelings (Hubert & Arabie; scikit-learn's
/// `adjusted_rand_score`): 1 for identical partitions, about 0 for random ones.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> Result<f64> {
    if a.len() != b.len() || a.is_empty() {
        return Err(Error::Shape(format!(
            "adjusted_rand_index: labelings of {} and {} items",
            a.len(),
            b.len()
        )));
    }
    let mut table: HashMap<(usize, usize), u64> = HashMap::new();
    let mut ra: HashMap<usize, u64> = HashMap::new();
    let mut rb: HashMap<usize, u64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *ra.entry(x).or_default() += 1;
        *rb.entry(y).or_default() += 1;
    }
    let c2 = |n: u64| (n * n.saturating_sub(1)) as f64 / 2.0;
    let index: f64 = table.values().map(|&v| c2(v)).sum();
    let sa: f64 = ra.values().map(|&v| c2(v)).sum();
    let sb: f64 = rb.values().map(|&v| c2(v)).sum();
    let total = c2(a.len() as u64);
    let expected = sa * sb / total;
    let max = (sa + sb) / 2.0;
    if max == expected {
        return Ok(1.0); // both partitions trivial and equal (as scikit-learn)
    }
    Ok((index - expected) / (max - expected))
}
