//! Typed, validated reads of a Hugging Face `config.json`.
//!
//! Each architecture reads the fields it needs through [`HfConfig`], which turns a missing
//! key, a wrong type or a value out of range into an error that names the file and the key.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// A parsed `config.json` with checked accessors.
#[derive(Debug, Clone)]
pub struct HfConfig {
    path: PathBuf,
    value: Value,
}

/// Upper bound on any size field (layers, widths, vocabulary): a corrupt config must not
/// make the loader allocate terabytes.
const MAX_DIM: u64 = 1 << 24;

impl HfConfig {
    /// Read `dir/config.json`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Self::from_str(&text, path)
    }

    /// Parse `text` (as if read from `path`).
    pub fn from_str(text: &str, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::format(&path, format!("not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(Error::format(&path, "config is not a JSON object"));
        }
        Ok(Self { path, value })
    }

    /// The config as pretty-printed JSON (what `save_pretrained` writes).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.value).unwrap_or_else(|_| self.value.to_string())
    }

    /// The file this config came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `model_type`, the key that picks the architecture.
    pub fn model_type(&self) -> Result<String> {
        self.string("model_type")
    }

    fn err(&self, msg: String) -> Error {
        Error::format(&self.path, msg)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        // Dotted keys reach into nested objects ("rope_parameters.rope_theta").
        let mut v = &self.value;
        for part in key.split('.') {
            v = v.get(part)?;
        }
        (!v.is_null()).then_some(v)
    }

    /// Whether `key` is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A required string.
    pub fn string(&self, key: &str) -> Result<String> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.err(format!("{key:?} must be a string, got {other}"))),
            None => Err(self.err(format!("{key:?} is missing"))),
        }
    }

    /// An optional string.
    pub fn opt_string(&self, key: &str) -> Result<Option<String>> {
        self.has(key).then(|| self.string(key)).transpose()
    }

    /// A required size in `1..=2^24`.
    pub fn size(&self, key: &str) -> Result<usize> {
        let v = self
            .get(key)
            .ok_or_else(|| self.err(format!("{key:?} is missing")))?;
        match v.as_u64() {
            Some(n) if (1..=MAX_DIM).contains(&n) => Ok(n as usize),
            _ => Err(self.err(format!(
                "{key:?} must be an integer in 1..={MAX_DIM}, got {v}"
            ))),
        }
    }

    /// An optional size (see [`HfConfig::size`]).
    pub fn opt_size(&self, key: &str) -> Result<Option<usize>> {
        self.has(key).then(|| self.size(key)).transpose()
    }

    /// The first of `keys` that is present, as a size (configs name the same field
    /// differently: `n_embd` / `hidden_size`).
    pub fn size_any(&self, keys: &[&str]) -> Result<usize> {
        for k in keys {
            if self.has(k) {
                return self.size(k);
            }
        }
        Err(self.err(format!("none of {keys:?} is present")))
    }

    /// A required list of sizes (each in `1..=2^24`), e.g. a conv stack's `conv_kernel`.
    pub fn size_list(&self, key: &str) -> Result<Vec<usize>> {
        let v = self
            .get(key)
            .ok_or_else(|| self.err(format!("{key:?} is missing")))?;
        let bad = || {
            self.err(format!(
                "{key:?} must be a list of integers in 1..={MAX_DIM}, got {v}"
            ))
        };
        let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
        items
            .iter()
            .map(|x| match x.as_u64() {
                Some(n) if (1..=MAX_DIM).contains(&n) => Ok(n as usize),
                _ => Err(bad()),
            })
            .collect()
    }

    /// An optional list of `n` finite floats (e.g. an image processor's `image_mean`).
    pub fn opt_float_list(&self, key: &str, n: usize) -> Result<Option<Vec<f64>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let bad = || {
            self.err(format!(
                "{key:?} must be a list of {n} finite numbers, got {v}"
            ))
        };
        let items = v.as_array().filter(|a| a.len() == n).ok_or_else(bad)?;
        items
            .iter()
            .map(|x| x.as_f64().filter(|f| f.is_finite()).ok_or_else(bad))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// An integer that may be zero or negative (token ids such as `pad_token_id`).
    pub fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(format!("{key:?} must be an integer, got {v}"))),
        }
    }

    /// A finite float in `range` (given as text for the message), or `default` if absent.
    pub fn float_or(
        &self,
        key: &str,
        default: f64,
        ok: impl Fn(f64) -> bool,
        range: &str,
    ) -> Result<f64> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        match v.as_f64() {
            Some(x) if x.is_finite() && ok(x) => Ok(x),
            _ => Err(self.err(format!("{key:?} must be a number {range}, got {v}"))),
        }
    }

    /// A norm epsilon in `(0, 1)`, or `default` if absent.
    pub fn epsilon(&self, key: &str, default: f64) -> Result<f64> {
        self.float_or(key, default, |x| x > 0.0 && x < 1.0, "in (0, 1)")
    }

    /// A boolean, or `default` if absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(format!("{key:?} must be true or false, got {v}"))),
        }
    }

    /// Error unless `cond`, naming the config file.
    pub fn ensure(&self, cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
        if cond { Ok(()) } else { Err(self.err(msg())) }
    }
}
