//! Preference data: the JSONL reader (TRL / Anthropic-HH style, plain-text and conversational
//! message lists) and tokenized preference pairs.
//!
//! Accepted records, one JSON object per line (blank lines are skipped):
//!
//! - standard: `{"prompt": "...", "chosen": "...", "rejected": "..."}`;
//! - conversational: `{"prompt": [{"role": "user", "content": "..."}], "chosen": [{"role":
//!   "assistant", "content": "..."}], "rejected": [...]}`;
//! - implicit prompt (HH): `{"chosen": ..., "rejected": ...}` without `prompt`, both strings
//!   or both message lists; the prompt is their longest common prefix (whole messages for
//!   lists; for strings, up to the last `"\n\nAssistant:"` marker they share, else up to the
//!   last common whitespace).
//!
//! Message lists are rendered as `"{role}: {content}\n"` per message; extra keys (`score`,
//! `id`, ...) are ignored.

use ember_core::pretrained::tokenizer::TextTokenizer;
use ember_core::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// One preference example as text: the prompt and the preferred / dispreferred responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPair {
    /// The prompt (context) shared by both responses.
    pub prompt: String,
    /// The preferred response.
    pub chosen: String,
    /// The dispreferred response.
    pub rejected: String,
}

/// One preference example as token ids: `prompt ++ chosen` and `prompt ++ rejected` are the
/// two sequences scored; only the response tokens count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferencePair {
    /// Prompt ids (at least one: the first token has no context and is never scored).
    pub prompt: Vec<u32>,
    /// Preferred response ids (at least one).
    pub chosen: Vec<u32>,
    /// Dispreferred response ids (at least one).
    pub rejected: Vec<u32>,
}

impl PreferencePair {
    /// Checks the shape rules of the fields: a non-empty prompt and non-empty responses.
    pub fn validate(&self) -> Result<()> {
        if self.prompt.is_empty() {
            return Err(Error::InvalidInput(
                "preference pair has an empty prompt (the first token cannot be scored)".into(),
            ));
        }
        if self.chosen.is_empty() || self.rejected.is_empty() {
            return Err(Error::InvalidInput(
                "preference pair has an empty chosen or rejected response".into(),
            ));
        }
        Ok(())
    }

    /// Length of the longer of the two full sequences.
    pub fn max_len(&self) -> usize {
        self.prompt.len() + self.chosen.len().max(self.rejected.len())
    }
}

/// Reads a preference JSONL file (see the module docs for the accepted forms).
///
/// Errors name the file and the 1-based line: unreadable file, invalid JSON, a missing or
/// mistyped field, a message without `role` / `content`, an empty response, no records.
pub fn read_preferences(path: impl AsRef<Path>) -> Result<Vec<TextPair>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_preferences(&text).map_err(|(line, msg)| {
        Error::format(
            path,
            if line == 0 {
                msg
            } else {
                format!("line {line}: {msg}")
            },
        )
    })
}

/// [`read_preferences`] on text already in memory; errors carry the 1-based line (0: the
/// whole input).
pub fn parse_preferences(text: &str) -> std::result::Result<Vec<TextPair>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| (line_no, format!("not valid JSON: {e}")))?;
        out.push(parse_record(&value).map_err(|m| (line_no, m))?);
    }
    if out.is_empty() {
        return Err((0, "no preference records (the file is empty)".into()));
    }
    Ok(out)
}

/// A text field: a string, or a list of messages rendered as `role: content` lines.
#[derive(Debug, Clone)]
enum Field {
    Text(String),
    Messages(Vec<(String, String)>),
}

fn field(obj: &serde_json::Map<String, Value>, key: &str) -> std::result::Result<Field, String> {
    match obj.get(key) {
        None => Err(format!("missing field `{key}`")),
        Some(Value::String(s)) => Ok(Field::Text(s.clone())),
        Some(Value::Array(items)) => {
            let mut msgs = Vec::with_capacity(items.len());
            for (j, m) in items.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str);
                let content = m.get("content").and_then(Value::as_str);
                match (role, content) {
                    (Some(r), Some(c)) => msgs.push((r.to_string(), c.to_string())),
                    _ => {
                        return Err(format!(
                            "`{key}`[{j}] is not a message {{\"role\": string, \"content\": string}}"
                        ));
                    }
                }
            }
            Ok(Field::Messages(msgs))
        }
        Some(other) => Err(format!(
            "field `{key}` must be a string or a list of messages, got {}",
            kind(other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn render(msgs: &[(String, String)]) -> String {
    msgs.iter().map(|(r, c)| format!("{r}: {c}\n")).collect()
}

/// The HH separator before each assistant turn.
const HH_ASSISTANT: &str = "\n\nAssistant:";

/// Longest common prefix of two strings, cut back to the last shared assistant marker (HH)
/// or else to the last whitespace, so the responses start at a word.
fn split_common_prefix(a: &str, b: &str) -> usize {
    let mut n = a
        .char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .last()
        .map_or(0, |((i, c), _)| i + c.len_utf8());
    if n == a.len() || n == b.len() {
        // One response would be empty: leave at least the last word to each.
        n = a[..n].trim_end().rfind(char::is_whitespace).unwrap_or(0);
    }
    let common = &a[..n];
    if let Some(p) = common.rfind(HH_ASSISTANT) {
        return p + HH_ASSISTANT.len();
    }
    common.rfind(char::is_whitespace).map_or(0, |p| p + 1)
}

fn parse_record(value: &Value) -> std::result::Result<TextPair, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("expected a JSON object, got {}", kind(value)))?;
    let chosen = field(obj, "chosen")?;
    let rejected = field(obj, "rejected")?;
    let pair = if obj.contains_key("prompt") {
        let prompt = match field(obj, "prompt")? {
            Field::Text(s) => s,
            Field::Messages(m) => render(&m),
        };
        let text = |f: Field| match f {
            Field::Text(s) => s,
            Field::Messages(m) => render(&m),
        };
        TextPair {
            prompt,
            chosen: text(chosen),
            rejected: text(rejected),
        }
    } else {
        match (chosen, rejected) {
            (Field::Messages(c), Field::Messages(r)) => {
                let k = c.iter().zip(&r).take_while(|(x, y)| x == y).count();
                if k == 0 {
                    return Err(
                        "no `prompt` and the two conversations share no first message".into(),
                    );
                }
                if k == c.len() || k == r.len() {
                    return Err(
                        "no `prompt`, and one conversation is a prefix of the other (an empty response)".into(),
                    );
                }
                TextPair {
                    prompt: render(&c[..k]),
                    chosen: render(&c[k..]),
                    rejected: render(&r[k..]),
                }
            }
            (Field::Text(c), Field::Text(r)) => {
                let k = split_common_prefix(&c, &r);
                if k == 0 {
                    return Err("no `prompt` and `chosen` / `rejected` share no prefix".into());
                }
                TextPair {
                    prompt: c[..k].to_string(),
                    chosen: c[k..].to_string(),
                    rejected: r[k..].to_string(),
                }
            }
            _ => {
                return Err(
                    "`chosen` and `rejected` must both be strings or both message lists".into(),
                );
            }
        }
    };
    if pair.chosen.trim().is_empty() || pair.rejected.trim().is_empty() {
        return Err("empty `chosen` or `rejected` response".into());
    }
    Ok(pair)
}

/// Tokenizes text pairs: prompt with the tokenizer's BOS (if it has one and does not add it
/// itself), responses followed by EOS (if any), each sequence cut to `max_len` tokens by
/// dropping the oldest prompt tokens (a response that does not fit is an error naming the
/// example).
pub fn tokenize_pairs(
    pairs: &[TextPair],
    tok: &impl TextTokenizer,
    max_len: usize,
) -> Result<Vec<PreferencePair>> {
    if pairs.is_empty() {
        return Err(Error::InvalidInput(
            "no preference pairs to tokenize".into(),
        ));
    }
    let bos = tok.bos_token_id();
    let eos = tok.eos_token_id();
    let strip = |ids: Vec<u32>| -> Vec<u32> {
        // Response text is a continuation: drop specials the tokenizer adds around it.
        ids.into_iter()
            .filter(|&id| Some(id) != bos && Some(id) != eos)
            .collect()
    };
    let mut out = Vec::with_capacity(pairs.len());
    for (i, p) in pairs.iter().enumerate() {
        let mut prompt = tok.encode_text(&p.prompt)?;
        if let Some(b) = bos
            && prompt.first() != Some(&b)
        {
            prompt.insert(0, b);
        }
        if let Some(e) = eos
            && prompt.last() == Some(&e)
        {
            prompt.pop();
        }
        let mut chosen = strip(tok.encode_text(&p.chosen)?);
        let mut rejected = strip(tok.encode_text(&p.rejected)?);
        if chosen.is_empty() || rejected.is_empty() {
            return Err(Error::InvalidInput(format!(
                "pair {i}: a response tokenizes to nothing"
            )));
        }
        if let Some(e) = eos {
            chosen.push(e);
            rejected.push(e);
        }
        let longest = chosen.len().max(rejected.len());
        if longest + 1 > max_len {
            return Err(Error::InvalidInput(format!(
                "pair {i}: a response has {longest} tokens, more than max_len {max_len} leaves after a one-token prompt"
            )));
        }
        if prompt.len() + longest > max_len {
            let keep = max_len - longest;
            prompt.drain(..prompt.len() - keep);
        }
        if prompt.is_empty() {
            prompt.push(bos.unwrap_or_else(|| tok.pad_token_id()));
        }
        out.push(PreferencePair {
            prompt,
            chosen,
            rejected,
        });
    }
    Ok(out)
}
