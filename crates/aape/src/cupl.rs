//! Reader and writer of CuPL class-description files: one JSON object mapping each class
//! name to a list of natural-language prompts, the format of CuPL's released GPT-3 prompts
//! (`sarahpratt/CuPL`, `all_prompts/*.json`):
//!
//! ```json
//! {"goldfish": ["A goldfish is a small orange fish.", "..."], "tench": ["..."]}
//! ```
//!
//! Errors name the file: not JSON, not an object, a class whose value is not a list of
//! strings, an empty list, an empty or whitespace-only prompt, a class given twice, no
//! classes at all. [`CuplPrompts::for_classes`] lines the prompts up with a dataset's class
//! names and names every class the file lacks.

use ember_core::{Error, Result};
use serde::de::{self, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Class name → prompts, as read from a CuPL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuplPrompts {
    /// The prompts of each class.
    pub classes: BTreeMap<String, Vec<String>>,
    /// Where they were read from (for error messages).
    pub path: PathBuf,
}

/// Largest file read (64 MiB; CuPL's ImageNet file is about 10 MiB).
pub const MAX_BYTES: u64 = 64 << 20;

struct Strict(BTreeMap<String, Vec<String>>);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Strict;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping class names to lists of prompts")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Strict, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = m.next_key::<String>()? {
                    let v: Vec<String> = m.next_value().map_err(|e| {
                        de::Error::custom(format!("class {k:?}: expected a list of strings ({e})"))
                    })?;
                    if out.insert(k.clone(), v).is_some() {
                        return Err(de::Error::custom(format!("class {k:?} appears twice")));
                    }
                }
                Ok(Strict(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse CuPL JSON text; `path` names the source in errors.
pub fn parse_cupl(text: &str, path: impl AsRef<Path>) -> Result<CuplPrompts> {
    let path = path.as_ref();
    let Strict(classes) = serde_json::from_str(text)
        .map_err(|e| Error::format(path, format!("not a CuPL prompt file: {e}")))?;
    if classes.is_empty() {
        return Err(Error::format(path, "no classes"));
    }
    for (k, v) in &classes {
        if k.trim().is_empty() {
            return Err(Error::format(path, "a class name is empty"));
        }
        if v.is_empty() {
            return Err(Error::format(path, format!("class {k:?} has no prompts")));
        }
        if let Some(i) = v.iter().position(|p| p.trim().is_empty()) {
            return Err(Error::format(
                path,
                format!("class {k:?}: prompt {i} is empty"),
            ));
        }
    }
    Ok(CuplPrompts {
        classes,
        path: path.to_path_buf(),
    })
}

/// Read a CuPL prompt file (at most [`MAX_BYTES`]).
pub fn read_cupl(path: impl AsRef<Path>) -> Result<CuplPrompts> {
    let path = path.as_ref();
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len > MAX_BYTES {
        return Err(Error::format(
            path,
            format!("{len} bytes, more than the {MAX_BYTES} a prompt file may have"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::format(path, "not UTF-8"))?;
    parse_cupl(&text, path)
}

/// Write `classes` as a CuPL prompt file (pretty JSON).
pub fn write_cupl(path: impl AsRef<Path>, classes: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let path = path.as_ref();
    let text = serde_json::to_string_pretty(classes)
        .map_err(|e| Error::InvalidInput(format!("serialising prompts: {e}")))?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

impl CuplPrompts {
    /// The prompts of each of `names`, in that order. Errors: classes missing from the file
    /// (all named).
    pub fn for_classes(&self, names: &[String]) -> Result<Vec<Vec<String>>> {
        let missing: Vec<&str> = names
            .iter()
            .filter(|n| !self.classes.contains_key(*n))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::format(
                &self.path,
                format!("no prompts for class(es) {}", missing.join(", ")),
            ));
        }
        Ok(names.iter().map(|n| self.classes[n].clone()).collect())
    }
}
