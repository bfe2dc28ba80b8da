//! The synthetic "AttrCLIP" world of the reproduction: classes defined by visual attributes,
//! procedurally rendered images, pre-training captions and noisy natural-language class
//! descriptions (the stand-in for CuPL's GPT-3 prompts).
//!
//! - `C` classes; each has a signature of 4–6 of `A` binary attributes and a name word.
//! - An image is `3 × S × S` pixels: every present attribute adds its fixed pattern (a
//!   coloured oriented grating), the class adds a weak pattern of its own, plus noise. Each
//!   instance drops 0–2 of its class's attributes (non-canonical views).
//! - The shifted (OOD) test set uses other noise, a colour cast, lower contrast and
//!   perturbed attribute patterns: the stand-in for ImageNet-V2/Sketch.
//! - Captions for pre-training: "a photo of a NAME with A1 and A2" and variants. The names of
//!   under-represented classes appear in a small fraction of their captions ("thing"
//!   otherwise), so the text tower aligns those names poorly but their attributes well.
//! - Descriptions: per class `M` sentences naming 1–3 true attributes; a fraction hallucinate
//!   one wrong attribute, a fraction are irrelevant filler, some are duplicates.

use ember_core::{Error, Result};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Padding token id of [`WorldTokenizer`].
pub const PAD: i64 = 0;
/// Start-of-text token id.
pub const BOS: i64 = 1;
/// End-of-text token id (the text tower pools here).
pub const EOT: i64 = 2;

const FILLER: [&str; 12] = [
    "a", "photo", "of", "with", "and", "which", "has", "thing", "the", "nice", "picture", "looks",
];

/// Settings of an [`AttrWorld`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WorldConfig {
    /// Number of classes `C` (the first half are base classes, the rest novel).
    pub classes: usize,
    /// Number of binary attributes `A`.
    pub attributes: usize,
    /// Image side `S`.
    pub side: usize,
    /// Classes whose names are rare in the captions, taken evenly from base and novel.
    pub under_represented: usize,
    /// Fraction of an under-represented class's captions that name it.
    pub rare_name_rate: f64,
    /// Descriptions per class `M`.
    pub prompts_per_class: usize,
    /// Fraction of descriptions with one wrong (hallucinated) attribute.
    pub hallucination_rate: f64,
    /// Fraction of descriptions that are filler with no attribute.
    pub irrelevant_rate: f64,
    /// Pixel noise standard deviation (in distribution).
    pub noise: f32,
    /// Strength of the class's own pattern relative to an attribute's.
    pub class_pattern: f32,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            classes: 40,
            attributes: 16,
            side: 12,
            under_represented: 10,
            rare_name_rate: 0.01,
            prompts_per_class: 20,
            hallucination_rate: 0.2,
            irrelevant_rate: 0.1,
            noise: 0.3,
            class_pattern: 0.3,
        }
    }
}

impl WorldConfig {
    /// Checks every field: at least 4 classes (two base, two novel), 6 attributes, a side of
    /// 4 or more, rates in `[0, 1]` with hallucination + irrelevant ≤ 1, finite noise.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("WorldConfig: {m}")));
        if self.classes < 4 || !self.classes.is_multiple_of(2) {
            return bad(format!(
                "classes must be even and ≥ 4, got {}",
                self.classes
            ));
        }
        if self.attributes < 6 {
            return bad(format!("attributes must be ≥ 6, got {}", self.attributes));
        }
        if self.side < 4 {
            return bad(format!("side must be ≥ 4, got {}", self.side));
        }
        if self.under_represented > self.classes {
            return bad(format!(
                "under_represented {} > classes {}",
                self.under_represented, self.classes
            ));
        }
        for (k, v) in [
            ("rare_name_rate", self.rare_name_rate),
            ("hallucination_rate", self.hallucination_rate),
            ("irrelevant_rate", self.irrelevant_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{k} must be in [0, 1], got {v}"));
            }
        }
        if self.hallucination_rate + self.irrelevant_rate > 1.0 {
            return bad("hallucination_rate + irrelevant_rate must be ≤ 1".into());
        }
        if self.prompts_per_class == 0 {
            return bad("prompts_per_class must be ≥ 1".into());
        }
        let ok = |v: f32| v.is_finite() && v >= 0.0;
        if !ok(self.noise) || !ok(self.class_pattern) {
            return bad("noise and class_pattern must be finite and ≥ 0".into());
        }
        Ok(())
    }
}

/// Which distribution images are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// The pre-training / training / in-distribution test distribution.
    InDistribution,
    /// The shifted test set (other noise, colour cast, contrast, perturbed patterns).
    Shifted,
}

/// A batch of rendered images with their labels.
#[derive(Debug, Clone)]
pub struct Images {
    /// `[N, 3, S, S]` row-major pixels.
    pub pixels: Vec<f32>,
    /// Class per image.
    pub labels: Vec<usize>,
    /// Attributes present per image (the class's minus the dropped ones).
    pub present: Vec<Vec<usize>>,
    /// Whether the instance dropped any of its class's attributes.
    pub non_canonical: Vec<bool>,
    /// Side `S`.
    pub side: usize,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The seeded world: class signatures, names, attribute patterns, vocabulary.
#[derive(Debug, Clone)]
pub struct AttrWorld {
    cfg: WorldConfig,
    /// Attributes of each class.
    pub signatures: Vec<Vec<usize>>,
    /// Whether each class's name is rare in the captions.
    pub rare: Vec<bool>,
    patterns: Vec<Vec<f32>>,
    shifted_patterns: Vec<Vec<f32>>,
    class_patterns: Vec<Vec<f32>>,
    vocab: Vec<String>,
}

fn grating(side: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let theta: f32 = rng.random_range(0.0..std::f32::consts::PI);
    let freq: f32 = rng.random_range(0.6..2.2);
    let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let color: [f32; 3] = [
        rng.random_range(-1.0..1.0),
        rng.random_range(-1.0..1.0),
        rng.random_range(-1.0..1.0),
    ];
    let mut v = vec![0.0; 3 * side * side];
    for (c, &col) in color.iter().enumerate() {
        for y in 0..side {
            for x in 0..side {
                let u = x as f32 * theta.cos() + y as f32 * theta.sin();
                v[(c * side + y) * side + x] = col * (0.5 + 0.5 * (freq * u + phase).sin());
            }
        }
    }
    v
}

impl AttrWorld {
    /// The world of `seed` (validated configuration).
    pub fn new(cfg: WorldConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = ember_core::seed::Seed::new(seed).derive("world").rng();
        let a = cfg.attributes;
        let mut signatures: Vec<Vec<usize>> = Vec::with_capacity(cfg.classes);
        while signatures.len() < cfg.classes {
            let k = rng.random_range(4..=6usize.min(a));
            let mut all: Vec<usize> = (0..a).collect();
            all.shuffle(&mut rng);
            let mut s = all[..k].to_vec();
            s.sort_unstable();
            if !signatures.contains(&s) {
                signatures.push(s);
            }
        }
        // Under-represented classes: the last ones of the base half and of the novel half.
        let half = cfg.classes / 2;
        let (nb, nn) = (
            cfg.under_represented / 2,
            cfg.under_represented - cfg.under_represented / 2,
        );
        let rare = (0..cfg.classes)
            .map(|c| {
                if c < half {
                    c >= half - nb.min(half)
                } else {
                    c >= cfg.classes - nn.min(half)
                }
            })
            .collect();
        let s = cfg.side;
        let patterns: Vec<Vec<f32>> = (0..a).map(|_| grating(s, &mut rng)).collect();
        let shifted_patterns = patterns
            .iter()
            .map(|p| {
                let d = grating(s, &mut rng);
                p.iter().zip(&d).map(|(x, y)| x + 0.35 * y).collect()
            })
            .collect();
        let class_patterns = (0..cfg.classes).map(|_| grating(s, &mut rng)).collect();
        let mut vocab: Vec<String> = vec!["<pad>".into(), "<bos>".into(), "<eot>".into()];
        vocab.extend(FILLER.iter().map(|w| w.to_string()));
        vocab.extend((0..a).map(Self::attr_word));
        vocab.extend((0..cfg.classes).map(Self::class_word));
        Ok(Self {
            cfg,
            signatures,
            rare,
            patterns,
            shifted_patterns,
            class_patterns,
            vocab,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &WorldConfig {
        &self.cfg
    }

    /// The word of attribute `a` (e.g. `attr07`).
    pub fn attr_word(a: usize) -> String {
        format!("attr{a:02}")
    }

    /// The name of class `c` (e.g. `cls12`).
    pub fn class_word(c: usize) -> String {
        format!("cls{c:02}")
    }

    /// Class names, in label order.
    pub fn class_names(&self) -> Vec<String> {
        (0..self.cfg.classes).map(Self::class_word).collect()
    }

    /// Base classes (the first half).
    pub fn base(&self) -> Vec<usize> {
        (0..self.cfg.classes / 2).collect()
    }

    /// Novel classes (the second half).
    pub fn novel(&self) -> Vec<usize> {
        (self.cfg.classes / 2..self.cfg.classes).collect()
    }

    /// The word-level tokenizer of this world's vocabulary.
    pub fn tokenizer(&self) -> WorldTokenizer {
        WorldTokenizer {
            ids: self
                .vocab
                .iter()
                .enumerate()
                .map(|(i, w)| (w.clone(), i as i64))
                .collect(),
            vocab_size: self.vocab.len(),
        }
    }

    /// Render `n_per_class` images of each class in `classes`.
    pub fn render(
        &self,
        classes: &[usize],
        n_per_class: usize,
        domain: Domain,
        rng: &mut ChaCha8Rng,
    ) -> Images {
        let s = self.cfg.side;
        let per = 3 * s * s;
        let mut out = Images {
            pixels: Vec::with_capacity(classes.len() * n_per_class * per),
            labels: Vec::new(),
            present: Vec::new(),
            non_canonical: Vec::new(),
            side: s,
        };
        let (patterns, noise, contrast) = match domain {
            Domain::InDistribution => (&self.patterns, self.cfg.noise, 1.0f32),
            Domain::Shifted => (&self.shifted_patterns, self.cfg.noise * 1.6, 0.75f32),
        };
        for &c in classes {
            for _ in 0..n_per_class {
                let sig = &self.signatures[c];
                let drop = rng.random_range(0..=2usize.min(sig.len() - 2));
                let mut present = sig.clone();
                present.shuffle(rng);
                present.truncate(sig.len() - drop);
                present.sort_unstable();
                let cast: [f32; 3] = match domain {
                    Domain::InDistribution => [0.0; 3],
                    Domain::Shifted => [
                        rng.random_range(-0.4..0.4),
                        rng.random_range(-0.4..0.4),
                        rng.random_range(-0.4..0.4),
                    ],
                };
                let mut img = vec![0.0f32; per];
                for &a in &present {
                    let w: f32 = rng.random_range(0.8..1.2);
                    for (v, p) in img.iter_mut().zip(&patterns[a]) {
                        *v += w * p;
                    }
                }
                for (v, p) in img.iter_mut().zip(&self.class_patterns[c]) {
                    *v += self.cfg.class_pattern * p;
                }
                for (i, v) in img.iter_mut().enumerate() {
                    let g = gauss(rng);
                    *v = contrast * *v + cast[i / (s * s)] + noise * g;
                }
                out.pixels.extend(img);
                out.labels.push(c);
                out.non_canonical.push(drop > 0);
                out.present.push(present);
            }
        }
        out
    }

    /// A pre-training caption for an image of class `c` showing `present`.
    pub fn caption(&self, c: usize, present: &[usize], rng: &mut ChaCha8Rng) -> String {
        let name = if self.rare[c] && !rng.random_bool(self.cfg.rare_name_rate) {
            "thing".to_string()
        } else {
            Self::class_word(c)
        };
        let mut attrs = present.to_vec();
        attrs.shuffle(rng);
        let k = rng.random_range(1..=3usize.min(attrs.len()));
        let words: Vec<String> = attrs[..k].iter().map(|&a| Self::attr_word(a)).collect();
        match rng.random_range(0..4) {
            0 => format!("a photo of a {name}"),
            1 => format!("a photo of a {name} with {}", join_and(&words)),
            2 => format!("a {name} which has {}", join_and(&words)),
            _ => format!("a picture of the {name} with {}", join_and(&words)),
        }
    }

    /// The hand-crafted template prompt of class `c` ("a photo of a NAME").
    pub fn template(c: usize) -> String {
        format!("a photo of a {}", Self::class_word(c))
    }

    /// `M` noisy descriptions of every class: the CuPL-style prompt table (class name →
    /// descriptions), in the JSON shape [`crate::cupl::read_cupl`] reads.
    pub fn descriptions(&self, rng: &mut ChaCha8Rng) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let a = self.cfg.attributes;
        for c in 0..self.cfg.classes {
            let sig = &self.signatures[c];
            let name = Self::class_word(c);
            let mut list: Vec<String> = Vec::with_capacity(self.cfg.prompts_per_class);
            while list.len() < self.cfg.prompts_per_class {
                if !list.is_empty() && rng.random_bool(0.1) {
                    // Redundancy: repeat an earlier description.
                    let i = rng.random_range(0..list.len());
                    list.push(list[i].clone());
                    continue;
                }
                let u: f64 = rng.random();
                if u < self.cfg.irrelevant_rate {
                    let f = [
                        "a nice photo of a thing",
                        "the picture of a thing",
                        "a photo",
                    ];
                    list.push(f[rng.random_range(0..f.len())].to_string());
                    continue;
                }
                let mut attrs = sig.clone();
                attrs.shuffle(rng);
                let k = rng.random_range(1..=3usize.min(attrs.len()));
                let mut words: Vec<usize> = attrs[..k].to_vec();
                if u < self.cfg.irrelevant_rate + self.cfg.hallucination_rate {
                    // A class holding every attribute has none to hallucinate.
                    let wrong: Vec<usize> = (0..a).filter(|x| !sig.contains(x)).collect();
                    if !wrong.is_empty() {
                        let w = wrong[rng.random_range(0..wrong.len())];
                        let i = rng.random_range(0..words.len());
                        words[i] = w;
                    }
                }
                let words: Vec<String> = words.iter().map(|&x| Self::attr_word(x)).collect();
                list.push(match rng.random_range(0..3) {
                    0 => format!("a photo of a {name} with {}", join_and(&words)),
                    1 => format!("a {name} which has {}", join_and(&words)),
                    _ => format!("a picture of the {name} with {}", join_and(&words)),
                });
            }
            out.insert(name, list);
        }
        out
    }
}

fn join_and(words: &[String]) -> String {
    match words.len() {
        0 => String::new(),
        1 => words[0].clone(),
        n => format!("{} and {}", words[..n - 1].join(" "), words[n - 1]),
    }
}

/// Standard normal draw (Box–Muller).
pub(crate) fn gauss(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Word-level tokenizer of an [`AttrWorld`]'s vocabulary (whitespace split, no unknowns).
#[derive(Debug, Clone)]
pub struct WorldTokenizer {
    ids: BTreeMap<String, i64>,
    vocab_size: usize,
}

impl WorldTokenizer {
    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }
}

impl crate::dual::PromptTokenizer for WorldTokenizer {
    fn encode_words(&self, text: &str) -> Result<Vec<i64>> {
        text.split_whitespace()
            .map(|w| {
                self.ids.get(w).copied().ok_or_else(|| {
                    Error::InvalidInput(format!("word {w:?} is not in the vocabulary"))
                })
            })
            .collect()
    }
    fn bos(&self) -> i64 {
        BOS
    }
    fn eot(&self) -> i64 {
        EOT
    }
    fn pad(&self) -> i64 {
        PAD
    }
}
