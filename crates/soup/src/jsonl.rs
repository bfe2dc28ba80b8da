//! The real-data reader: one JSON object per line, `{"text": "...", "domain": "..."}` with
//! `domain` optional (the RedPajama / Pile JSONL convention, reduced to what the crate uses).
//! Blank lines are skipped; anything else that is not such an object is an error naming the
//! line.

use ember_core::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// One text document of a JSONL corpus (not the fact world's abstract
/// [`FactDocument`](crate::auxlang::FactDocument)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextDocument {
    /// The document text.
    pub text: String,
    /// Its source domain, when known (e.g. a Pile subset name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Read a JSONL file of [`TextDocument`]s.
///
/// Errors: unreadable file, a line that is not a JSON object with a string `text`, or a file
/// with no documents.
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<TextDocument>> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut docs = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: String| Error::Format {
            path: path.to_path_buf(),
            msg: format!(
                "line {}: not a {{\"text\", \"domain\"?}} object: {what}",
                i + 1
            ),
        };
        // Parsed as a value first: serde would otherwise accept a JSON array `["text"]` as
        // the struct's sequence form.
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if !value.is_object() {
            return Err(bad(format!("found a JSON {}", json_kind(&value))));
        }
        let doc: TextDocument = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        docs.push(doc);
    }
    if docs.is_empty() {
        return Err(Error::Format {
            path: path.to_path_buf(),
            msg: "no documents".into(),
        });
    }
    Ok(docs)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Write documents as JSONL (through a temporary file renamed into place).
pub fn write_jsonl(path: impl AsRef<Path>, docs: &[TextDocument]) -> Result<()> {
    let path = path.as_ref();
    let tmp = path.with_extension("jsonl.tmp");
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
    for d in docs {
        let line = serde_json::to_string(d).map_err(|e| Error::Format {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        writeln!(out, "{line}").map_err(|e| Error::io(&tmp, e))?;
    }
    out.flush().map_err(|e| Error::io(&tmp, e))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
