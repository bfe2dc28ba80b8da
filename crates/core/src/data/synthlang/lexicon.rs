//! Word forms for synthetic languages: syllable inventories, scripts and cognate edits.
//!
//! Kept apart from the meaning world so that the surface knobs (how words look) can change
//! without touching what sentences mean.

use std::collections::HashSet;

use rand::RngExt;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Consonants of the proto language; each language draws a subset.
const CONSONANTS: &[char] = &[
    'p', 't', 'k', 'b', 'd', 'g', 'm', 'n', 's', 'l', 'r', 'f', 'v', 'h', 'j', 'w', 'z', 'c',
];
/// Vowels of the proto language.
const VOWELS: &[char] = &['a', 'e', 'i', 'o', 'u'];

/// Writing system of a language. Every non-anchor word (and affix) of the language is passed
/// through a fixed letter mapping, so words shared with the proto language have identical
/// structure but no character overlap: the "script effect" of real multilingual corpora.
/// Anchors (numerals, names) keep the proto spelling, like digits and Latin names do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Script {
    /// Identity mapping (a–z).
    #[default]
    Latin,
    /// a–z mapped onto α.. (U+03B1..U+03CA).
    Greek,
    /// a–z mapped onto а.. (U+0430..U+0449).
    Cyrillic,
    /// a–z mapped onto ա.. (U+0561..U+057A).
    Armenian,
}

impl Script {
    fn base(self) -> Option<u32> {
        match self {
            Script::Latin => None,
            Script::Greek => Some(0x03B1),
            Script::Cyrillic => Some(0x0430),
            Script::Armenian => Some(0x0561),
        }
    }

    /// Maps a lowercase a–z word into this script; other characters pass through.
    pub fn apply(self, word: &str) -> String {
        match self.base() {
            None => word.to_string(),
            Some(base) => word
                .chars()
                .map(|c| {
                    if c.is_ascii_lowercase() {
                        char::from_u32(base + (c as u32 - 'a' as u32)).unwrap_or(c)
                    } else {
                        c
                    }
                })
                .collect(),
        }
    }
}

/// Upper-cases the first character (names).
pub(crate) fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A syllable inventory: CV syllables, closed to CVC with some probability.
#[derive(Debug, Clone)]
pub(crate) struct Phonology {
    consonants: Vec<char>,
    vowels: Vec<char>,
    closed_rate: f64,
}

impl Phonology {
    /// The full inventory used for proto (shared) words.
    pub(crate) fn proto() -> Self {
        Phonology {
            consonants: CONSONANTS.to_vec(),
            vowels: VOWELS.to_vec(),
            closed_rate: 0.25,
        }
    }

    /// A language-specific subset (10 consonants, 4 vowels), so fresh words of different
    /// languages also differ in their letter statistics.
    pub(crate) fn sample(rng: &mut ChaCha8Rng) -> Self {
        let mut consonants = CONSONANTS.to_vec();
        consonants.shuffle(rng);
        consonants.truncate(10);
        let mut vowels = VOWELS.to_vec();
        vowels.shuffle(rng);
        vowels.truncate(4);
        let closed_rate = rng.random_range(0.0..0.5);
        Phonology {
            consonants,
            vowels,
            closed_rate,
        }
    }

    fn word(&self, rng: &mut ChaCha8Rng, n_syllables: usize) -> String {
        let mut w = String::with_capacity(3 * n_syllables);
        for _ in 0..n_syllables {
            w.push(*self.consonants.choose(rng).unwrap_or(&'t'));
            w.push(*self.vowels.choose(rng).unwrap_or(&'a'));
            if rng.random_bool(self.closed_rate) {
                w.push(*self.consonants.choose(rng).unwrap_or(&'n'));
            }
        }
        w
    }

    /// A form not in `taken`, with `syllables.0..=syllables.1` syllables; lengthens the word
    /// after repeated collisions so small inventories still terminate.
    pub(crate) fn unique_word(
        &self,
        rng: &mut ChaCha8Rng,
        syllables: (usize, usize),
        taken: &HashSet<String>,
    ) -> Result<String> {
        let (lo, hi) = (syllables.0.max(1), syllables.1.max(syllables.0.max(1)));
        for attempt in 0..400 {
            let n = rng.random_range(lo..=hi) + attempt / 50;
            let w = self.word(rng, n);
            if !taken.contains(&w) {
                return Ok(w);
            }
        }
        Err(Error::InvalidInput(
            "synthlang: could not generate a unique word form; lower the lexicon size or raise syllables_per_word".into(),
        ))
    }

    /// A cognate: one vowel of `word` replaced by a different one.
    pub(crate) fn edit(&self, rng: &mut ChaCha8Rng, word: &str) -> String {
        let mut chars: Vec<char> = word.chars().collect();
        let vowel_pos: Vec<usize> = (0..chars.len())
            .filter(|&i| VOWELS.contains(&chars[i]))
            .collect();
        if let Some(&pos) = vowel_pos.choose(rng) {
            let options: Vec<char> = VOWELS
                .iter()
                .copied()
                .filter(|&v| v != chars[pos])
                .collect();
            if let Some(&v) = options.choose(rng) {
                chars[pos] = v;
            }
        }
        chars.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn scripts_are_bijective_on_lowercase() {
        for s in [Script::Greek, Script::Cyrillic, Script::Armenian] {
            let mapped: HashSet<String> = ('a'..='z').map(|c| s.apply(&c.to_string())).collect();
            assert_eq!(mapped.len(), 26);
            assert!(mapped.iter().all(|m| !m.chars().any(|c| c.is_ascii())));
        }
        assert_eq!(Script::Latin.apply("abc"), "abc");
    }

    #[test]
    fn unique_word_avoids_taken() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let p = Phonology::sample(&mut rng);
        let mut taken = HashSet::new();
        for _ in 0..500 {
            let w = p.unique_word(&mut rng, (1, 1), &taken).unwrap();
            assert!(taken.insert(w));
        }
    }
}
