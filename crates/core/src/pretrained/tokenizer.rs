//! Tokenizers for pretrained checkpoints: Hugging Face `tokenizer.json` files and ember's own
//! word tokenizer behind one trait.
//!
//! A pretrained model is only usable with the exact ids it was trained on, so
//! [`HfTokenizer`] runs the reference implementation (the pure-Rust `tokenizers` crate that
//! also backs `transformers`' fast tokenizers) on the checkpoint's `tokenizer.json`, and turns
//! every failure into an [`Error`] that names the file. [`EncodedBatch`] bridges to Burn:
//! right-padded ids plus ember's pad mask (true at padding).
//!
//! Paper crates that should run on either a synthetic language (ember's [`Tokenizer`]) or a
//! real checkpoint take a [`TextTokenizer`]; [`AnyTokenizer::from_dir`] picks the right
//! implementation from what a directory holds.
//!
//! # How pad, BOS and EOS are found
//!
//! `tokenizer.json` only records roles for padding, so [`HfTokenizer`] resolves each of
//! pad / BOS / EOS at load time, taking the first source that gives an answer:
//!
//! 1. pad only: the `padding` section of `tokenizer.json` (its `pad_id`);
//! 2. `special_tokens_map.json`, then `tokenizer_config.json` (only with
//!    [`HfTokenizer::from_dir`]; `special_tokens_map.json` first because `transformers` lets it
//!    override the config): the `pad_token` / `bos_token` / `eos_token` entry, a string or
//!    `{"content": ...}`. An explicit `null` means "this tokenizer has none" and stops the
//!    search (Qwen2 declares `"bos_token": null`); a token that is not in the vocabulary is
//!    skipped;
//! 3. well-known token strings, in order: pad `<pad>`, `[PAD]`, `<|pad|>`;
//!    BOS `<s>`, `<|begin_of_text|>`, `[CLS]`, `<|startoftext|>`, `<|endoftext|>`, `<bos>`;
//!    EOS `</s>`, `<|end_of_text|>`, `[SEP]`, `<|endoftext|>`, `<eos>`.
//!
//! # Malformed files
//!
//! `tokenizers` 0.23.2 panics on some malformed files instead of returning an error (a
//! decoder section it cannot parse; a post-processor template naming an undefined special
//! token, which loads and then panics on every encode). [`HfTokenizer`] catches those panics
//! (at load, plus a probe encode, and around every encode/decode) and returns [`Error`]s;
//! the default panic hook still prints the upstream message to stderr. This relies on
//! `panic = "unwind"`, the default profile setting.

use std::any::Any;
use std::fmt;
use std::fs;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use tokenizers::TruncationDirection;

use crate::data::tokenizer::Tokenizer;
use crate::error::{Error, Result};

/// File name of a Hugging Face tokenizer (and of a saved ember tokenizer) in a directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Optional `transformers` file that names the special tokens.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// Optional `transformers` file that names the special tokens (overrides the config).
pub const SPECIAL_TOKENS_MAP_FILE: &str = "special_tokens_map.json";

const WELL_KNOWN_PAD: &[&str] = &["<pad>", "[PAD]", "<|pad|>"];
const WELL_KNOWN_BOS: &[&str] = &[
    "<s>",
    "<|begin_of_text|>",
    "[CLS]",
    "<|startoftext|>",
    "<|endoftext|>",
    "<bos>",
];
const WELL_KNOWN_EOS: &[&str] = &["</s>", "<|end_of_text|>", "[SEP]", "<|endoftext|>", "<eos>"];

/// A Hugging Face tokenizer (`tokenizer.json`) with its pad / BOS / EOS ids resolved.
///
/// Padding and truncation settings stored in the file are cleared at load, so
/// [`encode`](Self::encode) always returns a text's own ids; batching is done by
/// [`encode_batch`](Self::encode_batch) with explicit [`EncodeOptions`].
#[derive(Clone)]
pub struct HfTokenizer {
    // Boxed: the tokenizers struct is large and lives inside `AnyTokenizer`.
    inner: Box<tokenizers::Tokenizer>,
    path: PathBuf,
    vocab_size: usize,
    pad: Option<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
}

impl fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("path", &self.path)
            .field("vocab_size", &self.vocab_size)
            .field("pad", &self.pad)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

/// The message of a caught panic, for error messages.
fn panic_message(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "no message"
    }
}

/// What a `transformers` config file says about one special token.
enum Declared {
    Absent,
    Null,
    Token(String),
}

/// A parsed `special_tokens_map.json` or `tokenizer_config.json`.
struct SpecialsFile {
    path: PathBuf,
    map: Map<String, Value>,
}

impl SpecialsFile {
    /// Reads `path` if it exists; `None` when it does not.
    fn read_optional(path: PathBuf) -> Result<Option<SpecialsFile>> {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(&path, format!("invalid JSON: {e}")))?;
        match value {
            Value::Object(map) => Ok(Some(SpecialsFile { path, map })),
            _ => Err(Error::format(path, "expected a JSON object")),
        }
    }

    fn declared(&self, key: &str) -> Result<Declared> {
        match self.map.get(key) {
            None => Ok(Declared::Absent),
            Some(Value::Null) => Ok(Declared::Null),
            Some(Value::String(s)) => Ok(Declared::Token(s.clone())),
            Some(Value::Object(o)) => match o.get("content") {
                Some(Value::String(s)) => Ok(Declared::Token(s.clone())),
                _ => Err(Error::format(
                    &self.path,
                    format!("`{key}` is an object without a string \"content\""),
                )),
            },
            Some(_) => Err(Error::format(
                &self.path,
                format!("`{key}` is neither a string, null nor {{\"content\": ...}}"),
            )),
        }
    }
}

/// Fields that tell an ember tokenizer file from a Hugging Face one, without building either.
#[derive(Deserialize)]
struct Sniff {
    #[serde(default)]
    format: Option<IgnoredAny>,
    #[serde(default)]
    model: Option<IgnoredAny>,
}

impl HfTokenizer {
    /// Loads a `tokenizer.json`. Pad / BOS / EOS come from its padding section and
    /// well-known token strings (see the [module docs](self)); use
    /// [`from_dir`](Self::from_dir) to also read the `transformers` config files.
    pub fn from_file(path: impl AsRef<Path>) -> Result<HfTokenizer> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes_at(path, &bytes, &[])
    }

    /// Loads `dir/tokenizer.json`, resolving pad / BOS / EOS also from
    /// `dir/special_tokens_map.json` and `dir/tokenizer_config.json` when present, as
    /// `transformers`' `AutoTokenizer.from_pretrained(dir)` would.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<HfTokenizer> {
        let dir = dir.as_ref();
        let path = dir.join(TOKENIZER_FILE);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Self::from_dir_bytes(dir, &path, &bytes)
    }

    fn from_dir_bytes(dir: &Path, path: &Path, bytes: &[u8]) -> Result<HfTokenizer> {
        let mut specials = Vec::new();
        for name in [SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE] {
            if let Some(f) = SpecialsFile::read_optional(dir.join(name))? {
                specials.push(f);
            }
        }
        Self::from_bytes_at(path, bytes, &specials)
    }

    fn from_bytes_at(path: &Path, bytes: &[u8], specials: &[SpecialsFile]) -> Result<HfTokenizer> {
        let bad = |msg: String| Error::format(path, msg);
        // Syntax first (cheap, no allocation): a truncated or corrupt download gets a plain
        // JSON error and, mostly, never reaches the `expect`s inside the tokenizers
        // deserialisers (this pass does not check UTF-8 inside strings; the parse below does).
        serde_json::from_slice::<IgnoredAny>(bytes)
            .map_err(|e| bad(format!("invalid JSON: {e}")))?;
        // The tokenizers crate is third-party code running on untrusted input and some of its
        // deserialisers panic on malformed sections (0.23.2: `expect("Helper")` for decoders):
        // a panic while building becomes a format error instead of taking the caller down.
        let mut inner = match catch_unwind(|| tokenizers::Tokenizer::from_bytes(bytes)) {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Err(bad(format!("not a valid Hugging Face tokenizer.json: {e}"))),
            Err(p) => {
                return Err(bad(format!(
                    "not a valid Hugging Face tokenizer.json (the parser panicked: {})",
                    panic_message(&*p)
                )));
            }
        };
        let padding_pad = inner.get_padding().map(|p| p.pad_id);
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| bad(format!("cannot clear truncation: {e}")))?;

        let vocab = inner.get_vocab(true);
        let max_id = vocab.values().copied().max();
        let vocab_size = inner
            .get_vocab_size(true)
            .max(max_id.map_or(0, |m| m as usize + 1));

        let resolve = |key: &str, well_known: &[&str]| -> Result<Option<u32>> {
            for f in specials {
                match f.declared(key)? {
                    Declared::Absent => {}
                    Declared::Null => return Ok(None),
                    Declared::Token(t) => {
                        if let Some(id) = inner.token_to_id(&t) {
                            return Ok(Some(id));
                        }
                    }
                }
            }
            Ok(well_known.iter().find_map(|t| inner.token_to_id(t)))
        };
        let pad = match padding_pad {
            Some(id) => Some(id),
            None => resolve("pad_token", WELL_KNOWN_PAD)?,
        };
        let bos = resolve("bos_token", WELL_KNOWN_BOS)?;
        let eos = resolve("eos_token", WELL_KNOWN_EOS)?;

        // Deserialisation does not check that the parts agree (0.23.2: a template naming a
        // special token it does not define loads, then panics on every encode), so encode
        // and decode a probe once and reject the file if that panics. Errors are fine here
        // (a tokenizer without an unknown token cannot encode everything).
        let probe = catch_unwind(AssertUnwindSafe(|| {
            let ids = inner
                .encode("a", true)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_default();
            let _ = inner.decode(&ids, false);
        }));
        if let Err(p) = probe {
            return Err(bad(format!(
                "inconsistent tokenizer.json: encoding a probe text panicked: {}",
                panic_message(&*p)
            )));
        }

        Ok(HfTokenizer {
            inner: Box::new(inner),
            path: path.to_path_buf(),
            vocab_size,
            pad,
            bos,
            eos,
        })
    }

    /// The file it was loaded from (used in error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying `tokenizers` tokenizer, for anything this wrapper does not expose
    /// (offsets, pairs, decoding streams).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Runs `f` on the inner tokenizer, turning its errors and panics into
    /// [`Error::InvalidInput`] naming the file and what was being done. Panics are caught
    /// because the load-time probe cannot cover every input; the inner caches tolerate an
    /// interrupted call (they use `try_read`/`try_write`), so the tokenizer stays usable.
    fn guarded<T>(
        &self,
        what: &str,
        f: impl FnOnce(&tokenizers::Tokenizer) -> tokenizers::Result<T>,
    ) -> Result<T> {
        match catch_unwind(AssertUnwindSafe(|| f(&self.inner))) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::InvalidInput(format!(
                "{}: cannot {what}: {e}",
                self.path.display()
            ))),
            Err(p) => Err(Error::InvalidInput(format!(
                "{}: the tokenizer panicked trying to {what}: {}",
                self.path.display(),
                panic_message(&*p)
            ))),
        }
    }

    /// Ids of `text`; with `add_special_tokens` the post-processor's tokens are added
    /// (`[CLS]`/`[SEP]`, `<s>`/`</s>`, ...), exactly as `transformers`' `tokenizer(text)`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        self.guarded("encode", |t| {
            t.encode(text, add_special_tokens)
                .map(|e| e.get_ids().to_vec())
        })
    }

    /// Like [`encode`](Self::encode), keeping at most `max_len` ids. The text is cut before
    /// special tokens are added, so `[CLS] ... [SEP]` survive truncation (as in
    /// `transformers` with `truncation=True`).
    fn encode_truncated(
        &self,
        text: &str,
        add_special_tokens: bool,
        max_len: Option<usize>,
    ) -> Result<Vec<u32>> {
        let ids = self.encode(text, add_special_tokens)?;
        let Some(max_len) = max_len else {
            return Ok(ids);
        };
        if ids.len() <= max_len {
            return Ok(ids);
        }
        let n_added = match (add_special_tokens, self.inner.get_post_processor()) {
            (true, Some(p)) => tokenizers::PostProcessor::added_tokens(p, false),
            _ => 0,
        };
        if max_len < n_added {
            return Err(Error::InvalidInput(format!(
                "EncodeOptions: max_len {max_len} is smaller than the {n_added} special tokens \
                 {} adds",
                self.path.display()
            )));
        }
        let mut ids = self.guarded("encode", |t| {
            let mut enc = t.encode(text, false)?;
            enc.truncate(max_len - n_added, 0, TruncationDirection::Right);
            if add_special_tokens {
                enc = t.post_process(enc, None, true)?;
            }
            Ok(enc.get_ids().to_vec())
        })?;
        // Guard against a post-processor that adds more than it announced.
        ids.truncate(max_len);
        Ok(ids)
    }

    /// Text of `ids`; with `skip_special_tokens` special tokens are dropped. Ids outside the
    /// vocabulary are skipped, as in `transformers`.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.guarded("decode", |t| t.decode(ids, skip_special_tokens))
    }

    /// One more than the largest id (added tokens included), so every id indexes an
    /// embedding of this many rows. A checkpoint's `vocab_size` may be larger (padded).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Id of an exact token string (added tokens included).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Padding id, if the tokenizer has one (GPT-2 style tokenizers do not).
    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }

    /// Beginning-of-sequence id (`[CLS]` for BERT-style tokenizers), if any.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence id (`[SEP]` for BERT-style tokenizers), if any.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// The id used to fill padded positions: [`pad_id`](Self::pad_id), else
    /// [`eos_id`](Self::eos_id) (the usual choice for GPT-style models, whose padding is
    /// masked anyway), else 0.
    pub fn fill_id(&self) -> u32 {
        self.pad.or(self.eos).unwrap_or(0)
    }

    /// Encodes every text (sequentially), truncating to `opts.max_len`. Rows are kept
    /// unpadded; [`EncodedBatch::to_tensors`] pads them. Errors on an empty batch.
    pub fn encode_batch(&self, texts: &[&str], opts: &EncodeOptions) -> Result<EncodedBatch> {
        if texts.is_empty() {
            return Err(Error::InvalidInput("encode_batch: no texts".into()));
        }
        if opts.max_len == Some(0) {
            return Err(Error::InvalidInput(
                "EncodeOptions: max_len must be at least 1".into(),
            ));
        }
        let ids = texts
            .iter()
            .map(|t| self.encode_truncated(t, opts.add_special_tokens, opts.max_len))
            .collect::<Result<Vec<_>>>()?;
        let lengths = ids.iter().map(Vec::len).collect();
        Ok(EncodedBatch {
            ids,
            lengths,
            pad_id: opts.pad_id.unwrap_or_else(|| self.fill_id()),
        })
    }
}

/// How [`HfTokenizer::encode_batch`] encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Add the tokenizer's special tokens (`[CLS]`/`[SEP]`, `<s>`/`</s>`, ...). Default true.
    pub add_special_tokens: bool,
    /// Keep at most this many ids per text, special tokens included (they are kept; the
    /// text is cut). Default none.
    pub max_len: Option<usize>,
    /// Id for padded positions instead of [`HfTokenizer::fill_id`]. Default none.
    pub pad_id: Option<u32>,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            add_special_tokens: true,
            max_len: None,
            pad_id: None,
        }
    }
}

/// Encoded texts, unpadded, with what is needed to pad them into tensors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    /// Ids of each text, unpadded.
    pub ids: Vec<Vec<u32>>,
    /// `ids[i].len()`.
    pub lengths: Vec<usize>,
    /// Id written at padded positions.
    pub pad_id: u32,
}

impl EncodedBatch {
    /// Number of texts.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no texts (never true for a batch from
    /// [`HfTokenizer::encode_batch`]).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Padded width `T`: the longest row.
    pub fn width(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }

    /// Rows right-padded with [`pad_id`](Self::pad_id) to [`width`](Self::width).
    pub fn padded_ids(&self) -> Vec<Vec<u32>> {
        let t = self.width();
        self.ids
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.resize(t, self.pad_id);
                r
            })
            .collect()
    }

    /// `[B][T]` with 1 at real tokens and 0 at padding: the Hugging Face `attention_mask`
    /// convention (the opposite of ember's pad mask).
    pub fn attention_mask(&self) -> Vec<Vec<u8>> {
        let t = self.width();
        self.lengths
            .iter()
            .map(|&n| (0..t).map(|i| u8::from(i < n)).collect())
            .collect()
    }

    /// Right-padded ids `[B, T]` and ember's pad mask `[B, T]`, true at padding (what
    /// `ForwardOptions::pad_mask` expects). Errors on an empty batch, when every row is
    /// empty (`T` would be 0), or when `ids` and `lengths` disagree. A row of zero tokens in
    /// a wider batch is all padding; attention over it is undefined, so drop such texts
    /// before a forward pass.
    pub fn to_tensors(&self, device: &Device) -> Result<(Tensor<2, Int>, Tensor<2, Bool>)> {
        let b = self.ids.len();
        if b == 0 {
            return Err(Error::InvalidInput("EncodedBatch: no rows".into()));
        }
        if self.lengths.len() != b
            || self
                .ids
                .iter()
                .zip(&self.lengths)
                .any(|(r, &n)| r.len() != n)
        {
            return Err(Error::Shape(
                "EncodedBatch: lengths do not match the rows".into(),
            ));
        }
        let t = self.width();
        if t == 0 {
            return Err(Error::InvalidInput(
                "EncodedBatch: every text encoded to zero tokens".into(),
            ));
        }
        let mut ids = Vec::with_capacity(b * t);
        let mut pad = Vec::with_capacity(b * t);
        for r in &self.ids {
            ids.extend(r.iter().map(|&x| i64::from(x)));
            ids.extend(std::iter::repeat_n(i64::from(self.pad_id), t - r.len()));
            pad.extend(std::iter::repeat_n(false, r.len()));
            pad.extend(std::iter::repeat_n(true, t - r.len()));
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), device);
        let pad = Tensor::<2, Bool>::from_data(TensorData::new(pad, [b, t]), device);
        Ok((ids, pad))
    }
}

/// What a paper crate needs from a tokenizer, whether the text is synthetic (ember's word
/// tokenizer) or real (a Hugging Face checkpoint), so one code path serves both.
pub trait TextTokenizer {
    /// Ids of `text` with the tokenizer's default special tokens: for a Hugging Face
    /// tokenizer what `transformers`' `tokenizer(text)` returns (e.g. `[CLS] ... [SEP]`);
    /// ember's word tokenizer has no default and adds none (its LMs train on plain
    /// streams; see [`lm::windows`](crate::lm::windows)).
    fn encode_text(&self, text: &str) -> Result<Vec<u32>>;

    /// Text of `ids`, without special tokens.
    fn decode_text(&self, ids: &[u32]) -> Result<String>;

    /// Every id is below this (the embedding table size the tokenizer needs).
    fn vocab_size(&self) -> usize;

    /// Id to fill padded positions with (always defined; padded positions are masked).
    fn pad_token_id(&self) -> u32;

    /// Beginning-of-sequence id, if the tokenizer has one.
    fn bos_token_id(&self) -> Option<u32> {
        None
    }

    /// End-of-sequence id, if the tokenizer has one.
    fn eos_token_id(&self) -> Option<u32> {
        None
    }
}

impl TextTokenizer for HfTokenizer {
    fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        self.encode(text, true)
    }
    fn decode_text(&self, ids: &[u32]) -> Result<String> {
        self.decode(ids, true)
    }
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    /// [`HfTokenizer::fill_id`]: the pad id, else EOS, else 0.
    fn pad_token_id(&self) -> u32 {
        self.fill_id()
    }
    fn bos_token_id(&self) -> Option<u32> {
        self.bos
    }
    fn eos_token_id(&self) -> Option<u32> {
        self.eos
    }
}

impl TextTokenizer for Tokenizer {
    fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode(text))
    }
    fn decode_text(&self, ids: &[u32]) -> Result<String> {
        Ok(self.decode_with(ids, true))
    }
    fn vocab_size(&self) -> usize {
        Tokenizer::vocab_size(self)
    }
    fn pad_token_id(&self) -> u32 {
        self.pad_id()
    }
    fn bos_token_id(&self) -> Option<u32> {
        Some(self.bos_id())
    }
    fn eos_token_id(&self) -> Option<u32> {
        Some(self.eos_id())
    }
}

/// Either kind of tokenizer, chosen by what a directory holds, so a paper crate can load
/// "the tokenizer next to the model" without knowing where the model came from.
#[derive(Debug, Clone)]
pub enum AnyTokenizer {
    /// ember's word tokenizer (synthetic languages).
    Ember(Tokenizer),
    /// A Hugging Face `tokenizer.json`.
    Hf(HfTokenizer),
}

impl AnyTokenizer {
    /// Loads `dir/tokenizer.json`. Both Hugging Face and ember save under that name, so the
    /// content decides: `"format": ...` is ember's file
    /// ([`Tokenizer::save`](crate::data::tokenizer::Tokenizer::save)), `"model": ...` a
    /// Hugging Face one (read with [`HfTokenizer::from_dir`], config files included).
    /// Errors name the file: missing, unreadable, not JSON, or neither format.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<AnyTokenizer> {
        let dir = dir.as_ref();
        let path = dir.join(TOKENIZER_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let hint = if dir.join("tokenizer.model").exists() {
                    " (a SentencePiece tokenizer.model alone is not supported: save the \
                     tokenizer with transformers to get a tokenizer.json)"
                } else {
                    ""
                };
                return Err(Error::io(
                    &path,
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "no tokenizer here: expected a Hugging Face or ember \
                             {TOKENIZER_FILE}{hint}"
                        ),
                    ),
                ));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let sniff: Sniff = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(&path, format!("not a tokenizer JSON file: {e}")))?;
        match (sniff.format.is_some(), sniff.model.is_some()) {
            (true, false) => Ok(AnyTokenizer::Ember(Tokenizer::load(&path)?)),
            (false, true) => Ok(AnyTokenizer::Hf(HfTokenizer::from_dir_bytes(
                dir, &path, &bytes,
            )?)),
            (true, true) => Err(Error::format(
                &path,
                "has both \"format\" (ember) and \"model\" (Hugging Face): ambiguous",
            )),
            (false, false) => Err(Error::format(
                &path,
                "neither a Hugging Face tokenizer (no \"model\") nor an ember tokenizer \
                 (no \"format\")",
            )),
        }
    }
}

impl From<Tokenizer> for AnyTokenizer {
    fn from(t: Tokenizer) -> Self {
        AnyTokenizer::Ember(t)
    }
}

impl From<HfTokenizer> for AnyTokenizer {
    fn from(t: HfTokenizer) -> Self {
        AnyTokenizer::Hf(t)
    }
}

impl TextTokenizer for AnyTokenizer {
    fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            AnyTokenizer::Ember(t) => t.encode_text(text),
            AnyTokenizer::Hf(t) => t.encode_text(text),
        }
    }
    fn decode_text(&self, ids: &[u32]) -> Result<String> {
        match self {
            AnyTokenizer::Ember(t) => t.decode_text(ids),
            AnyTokenizer::Hf(t) => t.decode_text(ids),
        }
    }
    fn vocab_size(&self) -> usize {
        match self {
            AnyTokenizer::Ember(t) => TextTokenizer::vocab_size(t),
            AnyTokenizer::Hf(t) => TextTokenizer::vocab_size(t),
        }
    }
    fn pad_token_id(&self) -> u32 {
        match self {
            AnyTokenizer::Ember(t) => t.pad_token_id(),
            AnyTokenizer::Hf(t) => t.pad_token_id(),
        }
    }
    fn bos_token_id(&self) -> Option<u32> {
        match self {
            AnyTokenizer::Ember(t) => t.bos_token_id(),
            AnyTokenizer::Hf(t) => t.bos_token_id(),
        }
    }
    fn eos_token_id(&self) -> Option<u32> {
        match self {
            AnyTokenizer::Ember(t) => t.eos_token_id(),
            AnyTokenizer::Hf(t) => t.eos_token_id(),
        }
    }
}
