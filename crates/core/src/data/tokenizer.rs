//! Word tokenizer with a greedy longest-match subword fallback.
//!
//! Synthetic languages have small closed vocabularies, so whole words are the natural unit
//! (one token per word keeps concept ↔ token alignment trivial). Unseen words, e.g. a new
//! inflection, fall back to pieces learned from frequent character n-grams (WordPiece-style:
//! a piece not at the start of a word carries the `##` prefix), and only characters never
//! seen in training become `[UNK]`.
//!
//! Ids: `[PAD]`=0, `[UNK]`=1, `[BOS]`=2, `[EOS]`=3, `[MASK]`=4, `[SEP]`=5, then language tags
//! `<xx>` in config order, then single characters, words and n-gram pieces.
//! Text is split on whitespace, and decoding joins words with one space, so
//! `decode(encode(t)) == t` for text whose words are separated by single spaces.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure};

/// Id of `[PAD]` (fixed at 0 so zero-initialised buffers are padding).
pub const PAD_ID: u32 = 0;
/// Id of `[UNK]`.
pub const UNK_ID: u32 = 1;
/// Id of `[BOS]`.
pub const BOS_ID: u32 = 2;
/// Id of `[EOS]`.
pub const EOS_ID: u32 = 3;
/// Id of `[MASK]`.
pub const MASK_ID: u32 = 4;
/// Id of `[SEP]`.
pub const SEP_ID: u32 = 5;
/// Special tokens in id order.
pub const SPECIALS: [&str; 6] = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]", "[SEP]"];
/// Prefix of word-internal pieces.
pub const CONTINUATION: &str = "##";

const FORMAT: &str = "ember-tokenizer";
const VERSION: u32 = 1;

/// How to fit a [`Tokenizer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenizerConfig {
    /// Upper bound on the vocabulary size, specials included. Default 1000.
    pub max_vocab: usize,
    /// Words seen fewer times are not whole-word tokens (they are split). Default 2.
    pub min_freq: usize,
    /// Share of the budget left after specials and characters reserved for n-gram pieces;
    /// budget one kind cannot use goes to the other. Default 0.2.
    pub subword_fraction: f64,
    /// Longest learned piece, in characters. Default 4.
    pub max_piece_len: usize,
    /// Language codes that get a tag token `<code>`. Default none.
    pub lang_tags: Vec<String>,
}

impl TokenizerConfig {
    /// Checks the settings `fit` relies on. Also applied to a loaded file, so a file can only
    /// hold a configuration that `fit` would accept.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.subword_fraction.is_finite() && (0.0..=1.0).contains(&self.subword_fraction),
            "tokenizer: subword_fraction must be in [0, 1], got {}",
            self.subword_fraction
        );
        ensure!(
            self.max_piece_len >= 2,
            "tokenizer: max_piece_len must be >= 2"
        );
        for t in &self.lang_tags {
            ensure!(
                !t.is_empty() && !t.chars().any(char::is_whitespace),
                "tokenizer: language tag {t:?} is empty or contains whitespace"
            );
        }
        let distinct: HashSet<&String> = self.lang_tags.iter().collect();
        ensure!(
            distinct.len() == self.lang_tags.len(),
            "tokenizer: duplicate language tags"
        );
        let n_special = SPECIALS.len() + self.lang_tags.len();
        ensure!(
            self.max_vocab >= n_special,
            "tokenizer: max_vocab {} is smaller than the {n_special} special and tag tokens",
            self.max_vocab
        );
        Ok(())
    }
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            max_vocab: 1000,
            min_freq: 2,
            subword_fraction: 0.2,
            max_piece_len: 4,
            lang_tags: vec![],
        }
    }
}

/// Options for [`Tokenizer::encode_batch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchOptions {
    /// Maximum sequence length including BOS/EOS/tag. Default 64.
    pub max_len: usize,
    /// Prepend `[BOS]`. Default true.
    pub add_bos: bool,
    /// Append `[EOS]` (kept even when the text is truncated). Default true.
    pub add_eos: bool,
    /// Pad every row to `max_len` instead of to the longest row. Default false.
    pub pad_to_max_len: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_len: 64,
            add_bos: true,
            add_eos: true,
            pad_to_max_len: false,
        }
    }
}

/// A padded batch: rows of equal length, `attention_mask` true on real tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Token ids, padded with [`PAD_ID`].
    pub ids: Vec<Vec<u32>>,
    /// True where `ids` is a real token.
    pub attention_mask: Vec<Vec<bool>>,
    /// Real length of each row.
    pub lengths: Vec<usize>,
    /// How many rows were truncated.
    pub n_truncated: usize,
}

#[derive(Serialize, Deserialize)]
struct TokenizerFile {
    format: String,
    version: u32,
    config: TokenizerConfig,
    vocab: Vec<String>,
}

/// A fitted tokenizer.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    config: TokenizerConfig,
    vocab: Vec<String>,
    index: HashMap<String, u32>,
    n_special: usize,
    max_token_chars: usize,
}

fn tag_token(code: &str) -> String {
    format!("<{code}>")
}

impl Tokenizer {
    /// Fits on `texts`. Fails if `max_vocab` cannot hold the specials and tags, or a tag is
    /// empty, duplicated or contains whitespace.
    pub fn fit<I, S>(texts: I, config: &TokenizerConfig) -> Result<Tokenizer>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        config.validate()?;
        let mut vocab: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        vocab.extend(config.lang_tags.iter().map(|t| tag_token(t)));

        let mut words: HashMap<String, usize> = HashMap::new();
        for t in texts {
            for w in t.as_ref().split_whitespace() {
                *words.entry(w.to_string()).or_insert(0) += 1;
            }
        }
        let mut chars: HashMap<String, usize> = HashMap::new();
        let mut pieces: HashMap<String, usize> = HashMap::new();
        for (w, &c) in &words {
            let cs: Vec<char> = w.chars().collect();
            for (i, ch) in cs.iter().enumerate() {
                let key = if i == 0 {
                    ch.to_string()
                } else {
                    format!("{CONTINUATION}{ch}")
                };
                *chars.entry(key).or_insert(0) += c;
                for n in 2..=config.max_piece_len {
                    if i + n > cs.len() || (i == 0 && n == cs.len()) {
                        break;
                    }
                    let s: String = cs[i..i + n].iter().collect();
                    let key = if i == 0 {
                        s
                    } else {
                        format!("{CONTINUATION}{s}")
                    };
                    *pieces.entry(key).or_insert(0) += c * (n - 1);
                }
            }
        }
        let ranked = |m: HashMap<String, usize>, min: usize| -> Vec<String> {
            let mut v: Vec<(String, usize)> = m.into_iter().filter(|(_, c)| *c >= min).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.into_iter().map(|(s, _)| s).collect()
        };
        let mut index: HashMap<String, u32> = HashMap::new();
        for (i, t) in vocab.iter().enumerate() {
            index.insert(t.clone(), i as u32);
        }
        let push = |tok: String, vocab: &mut Vec<String>, index: &mut HashMap<String, u32>| {
            if vocab.len() < config.max_vocab && !index.contains_key(&tok) {
                index.insert(tok.clone(), vocab.len() as u32);
                vocab.push(tok);
            }
        };
        // Every seen character in both positions, so any word over the seen alphabet
        // encodes without [UNK] (e.g. a letter seen only word-initially used word-internally).
        let mut alphabet: HashMap<String, usize> = HashMap::new();
        for (k, c) in chars {
            let ch = k.strip_prefix(CONTINUATION).unwrap_or(&k).to_string();
            *alphabet.entry(ch).or_insert(0) += c;
        }
        for ch in ranked(alphabet, 1) {
            push(format!("{CONTINUATION}{ch}"), &mut vocab, &mut index);
            push(ch, &mut vocab, &mut index);
        }
        let free = config.max_vocab - vocab.len();
        let word_c: Vec<String> = ranked(words, config.min_freq.max(1))
            .into_iter()
            .filter(|w| !index.contains_key(w))
            .collect();
        let word_set: HashSet<&String> = word_c.iter().collect();
        let piece_c: Vec<String> = ranked(pieces, 2)
            .into_iter()
            .filter(|p| !index.contains_key(p) && !word_set.contains(p))
            .collect();
        let np = piece_c
            .len()
            .min((free as f64 * config.subword_fraction) as usize);
        let nw = word_c.len().min(free - np);
        let np = piece_c.len().min(free - nw);
        for w in word_c.into_iter().take(nw) {
            push(w, &mut vocab, &mut index);
        }
        for p in piece_c.into_iter().take(np) {
            push(p, &mut vocab, &mut index);
        }
        Self::from_vocab(config.clone(), vocab, Path::new("<fit>"))
    }

    fn from_vocab(config: TokenizerConfig, vocab: Vec<String>, path: &Path) -> Result<Tokenizer> {
        let bad = |msg: String| Error::format(path, msg);
        config
            .validate()
            .map_err(|e| bad(format!("invalid config: {e}")))?;
        let n_special = SPECIALS.len() + config.lang_tags.len();
        if vocab.len() > config.max_vocab {
            return Err(bad(format!(
                "vocabulary has {} tokens, more than its max_vocab {}",
                vocab.len(),
                config.max_vocab
            )));
        }
        if vocab.len() < n_special {
            return Err(bad(format!(
                "vocabulary has {} tokens, fewer than the {n_special} specials and tags",
                vocab.len()
            )));
        }
        for (i, s) in SPECIALS.iter().enumerate() {
            if vocab[i] != *s {
                return Err(bad(format!("token {i} is {:?}, expected {s:?}", vocab[i])));
            }
        }
        for (k, t) in config.lang_tags.iter().enumerate() {
            let i = SPECIALS.len() + k;
            if vocab[i] != tag_token(t) {
                return Err(bad(format!(
                    "token {i} is {:?}, expected language tag {:?}",
                    vocab[i],
                    tag_token(t)
                )));
            }
        }
        if vocab.len() > u32::MAX as usize {
            return Err(bad("vocabulary too large".into()));
        }
        let mut index = HashMap::with_capacity(vocab.len());
        let mut max_token_chars = 1;
        for (i, t) in vocab.iter().enumerate() {
            if t.is_empty() || t.chars().any(char::is_whitespace) || t == CONTINUATION {
                return Err(bad(format!(
                    "token {i} ({t:?}) is empty or contains whitespace"
                )));
            }
            if index.insert(t.clone(), i as u32).is_some() {
                return Err(bad(format!("token {t:?} appears twice")));
            }
            if i >= n_special {
                let n = t.strip_prefix(CONTINUATION).unwrap_or(t).chars().count();
                max_token_chars = max_token_chars.max(n);
            }
        }
        Ok(Tokenizer {
            config,
            vocab,
            index,
            n_special,
            max_token_chars,
        })
    }

    /// The config it was fitted with.
    pub fn config(&self) -> &TokenizerConfig {
        &self.config
    }

    /// Number of ids (ids are `0..vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// Tokens in id order.
    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }

    /// `[PAD]` id (0).
    pub fn pad_id(&self) -> u32 {
        PAD_ID
    }
    /// `[UNK]` id.
    pub fn unk_id(&self) -> u32 {
        UNK_ID
    }
    /// `[BOS]` id.
    pub fn bos_id(&self) -> u32 {
        BOS_ID
    }
    /// `[EOS]` id.
    pub fn eos_id(&self) -> u32 {
        EOS_ID
    }
    /// `[MASK]` id.
    pub fn mask_id(&self) -> u32 {
        MASK_ID
    }
    /// `[SEP]` id.
    pub fn sep_id(&self) -> u32 {
        SEP_ID
    }

    /// Id of the tag for language `code` (`"en"` or `"<en>"`).
    pub fn lang_id(&self, code: &str) -> Option<u32> {
        let tok = if code.starts_with('<') && code.ends_with('>') {
            code.to_string()
        } else {
            tag_token(code)
        };
        self.index
            .get(&tok)
            .copied()
            .filter(|&i| (i as usize) < self.n_special)
    }

    /// Whether `id` is a special or tag token (never masked or predicted as text).
    pub fn is_special(&self, id: u32) -> bool {
        (id as usize) < self.n_special
    }

    /// Number of special and tag tokens (they occupy ids `0..n_special`).
    pub fn n_special(&self) -> usize {
        self.n_special
    }

    /// Id of an exact token string.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// Token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.vocab.get(id as usize).map(String::as_str)
    }

    fn encode_word(&self, w: &str, out: &mut Vec<u32>) {
        if let Some(&id) = self.index.get(w) {
            out.push(id);
            return;
        }
        let cs: Vec<char> = w.chars().collect();
        let mut pos = 0;
        let mut key = String::new();
        while pos < cs.len() {
            let hi = cs.len().min(pos + self.max_token_chars);
            let mut found = None;
            for end in (pos + 1..=hi).rev() {
                key.clear();
                if pos > 0 {
                    key.push_str(CONTINUATION);
                }
                key.extend(&cs[pos..end]);
                if let Some(&id) = self.index.get(&key)
                    && !self.is_special(id)
                {
                    found = Some((id, end));
                    break;
                }
            }
            match found {
                Some((id, end)) => {
                    out.push(id);
                    pos = end;
                }
                None => {
                    out.push(UNK_ID);
                    pos += 1;
                }
            }
        }
    }

    /// Ids of `text` (no BOS/EOS). Words that equal a special or tag token (`[SEP]`, `<en>`)
    /// map to it.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for w in text.split_whitespace() {
            self.encode_word(w, &mut out);
        }
        out
    }

    /// The tag of `lang` followed by [`encode`](Self::encode); an error for an unknown tag.
    pub fn encode_with_lang(&self, text: &str, lang: &str) -> Result<Vec<u32>> {
        let tag = self
            .lang_id(lang)
            .ok_or_else(|| Error::InvalidInput(format!("tokenizer: no language tag {lang:?}")))?;
        let mut out = vec![tag];
        out.extend(self.encode(text));
        Ok(out)
    }

    /// Text of `ids`, skipping `[PAD]`; unknown ids render as `[UNK]`.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.decode_with(ids, false)
    }

    /// Like [`decode`](Self::decode); with `skip_special` also drops specials and tags.
    pub fn decode_with(&self, ids: &[u32], skip_special: bool) -> String {
        let mut out = String::new();
        for &id in ids {
            if id == PAD_ID || (skip_special && self.is_special(id)) {
                continue;
            }
            let tok = self.id_to_token(id).unwrap_or(SPECIALS[UNK_ID as usize]);
            match tok.strip_prefix(CONTINUATION) {
                Some(rest) if !self.is_special(id) => out.push_str(rest),
                _ => {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(tok);
                }
            }
        }
        out
    }

    /// Encodes, adds BOS/EOS, truncates to `max_len` and pads.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S], opts: &BatchOptions) -> Result<Batch> {
        let seqs = texts.iter().map(|t| self.encode(t.as_ref())).collect();
        self.pad_batch(seqs, opts)
    }

    /// Like [`encode_batch`](Self::encode_batch) with the language tag of `langs[i]` after BOS.
    pub fn encode_batch_with_langs<S: AsRef<str>>(
        &self,
        texts: &[S],
        langs: &[&str],
        opts: &BatchOptions,
    ) -> Result<Batch> {
        ensure!(
            texts.len() == langs.len(),
            "encode_batch_with_langs: {} texts but {} languages",
            texts.len(),
            langs.len()
        );
        let seqs = texts
            .iter()
            .zip(langs)
            .map(|(t, l)| self.encode_with_lang(t.as_ref(), l))
            .collect::<Result<Vec<_>>>()?;
        self.pad_batch(seqs, opts)
    }

    /// Adds BOS/EOS to already-encoded rows, truncates to `max_len` and pads.
    pub fn pad_batch(&self, seqs: Vec<Vec<u32>>, opts: &BatchOptions) -> Result<Batch> {
        let extra = opts.add_bos as usize + opts.add_eos as usize;
        ensure!(
            opts.max_len > extra,
            "BatchOptions: max_len {} leaves no room for text after BOS/EOS",
            opts.max_len
        );
        let budget = opts.max_len - extra;
        let mut n_truncated = 0;
        let mut rows: Vec<Vec<u32>> = seqs
            .into_iter()
            .map(|mut s| {
                if s.len() > budget {
                    s.truncate(budget);
                    n_truncated += 1;
                }
                let mut r = Vec::with_capacity(s.len() + extra);
                if opts.add_bos {
                    r.push(BOS_ID);
                }
                r.extend(s);
                if opts.add_eos {
                    r.push(EOS_ID);
                }
                r
            })
            .collect();
        let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
        let width = if opts.pad_to_max_len {
            opts.max_len
        } else {
            lengths.iter().copied().max().unwrap_or(0)
        };
        let attention_mask = lengths
            .iter()
            .map(|&n| (0..width).map(|i| i < n).collect())
            .collect();
        for r in &mut rows {
            r.resize(width, PAD_ID);
        }
        Ok(Batch {
            ids: rows,
            attention_mask,
            lengths,
            n_truncated,
        })
    }

    /// Writes JSON atomically (temporary file in the same directory, then rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let file = TokenizerFile {
            format: FORMAT.into(),
            version: VERSION,
            config: self.config.clone(),
            vocab: self.vocab.clone(),
        };
        let json = serde_json::to_string(&file)
            .map_err(|e| Error::format(path, format!("cannot serialise: {e}")))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tokenizer.json".into());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Reads a file written by [`save`](Self::save); [`Error::Format`] if it is not one.
    pub fn load(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file: TokenizerFile = serde_json::from_str(&text)
            .map_err(|e| Error::format(path, format!("not a tokenizer JSON file: {e}")))?;
        if file.format != FORMAT {
            return Err(Error::format(
                path,
                format!("format is {:?}, expected {FORMAT:?}", file.format),
            ));
        }
        if file.version != VERSION {
            return Err(Error::format(
                path,
                format!(
                    "version {} is not supported (expected {VERSION})",
                    file.version
                ),
            ));
        }
        Self::from_vocab(file.config, file.vocab, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_fixed_and_fallback_pieces() {
        let corpus = ["kata mulo kata", "kata mulo", "mulo ren"];
        let cfg = TokenizerConfig {
            lang_tags: vec!["aa".into()],
            ..TokenizerConfig::default()
        };
        let t = Tokenizer::fit(corpus, &cfg).unwrap();
        assert_eq!(t.token_to_id("[PAD]"), Some(0));
        assert_eq!(t.lang_id("aa"), Some(6));
        assert_eq!(t.lang_id("<aa>"), Some(6));
        assert_eq!(t.lang_id("bb"), None);
        // "ren" is seen once (< min_freq) so it is split, but still decodes exactly.
        let ids = t.encode("ren katamulo");
        assert!(ids.len() > 2);
        assert!(!ids.contains(&UNK_ID));
        assert_eq!(t.decode(&ids), "ren katamulo");
        // Unseen character.
        assert!(t.encode("kaxa").contains(&UNK_ID));
        assert_eq!(t.decode(&[999_999]), "[UNK]");
    }

    #[test]
    fn max_vocab_respected() {
        let corpus: Vec<String> = (0..500).map(|i| format!("w{i} w{i}")).collect();
        let cfg = TokenizerConfig {
            max_vocab: 50,
            ..TokenizerConfig::default()
        };
        let t = Tokenizer::fit(&corpus, &cfg).unwrap();
        assert!(t.vocab_size() <= 50);
        assert_eq!(t.decode(&t.encode("w499 w3")), "w499 w3");
        let too_small = TokenizerConfig {
            max_vocab: 3,
            ..TokenizerConfig::default()
        };
        assert!(Tokenizer::fit(&corpus, &too_small).is_err());
    }
}
