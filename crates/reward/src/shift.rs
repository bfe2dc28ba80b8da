//! Distribution shifts a user can apply to their own preference text (read with
//! [`crate::data::read_preferences`]), mirroring the world's token-level and length shifts:
//! replace words of the responses by synonyms, or pad both responses with extra words.
//! (The prompt and response-generator shifts need new data, not a rewrite of old data.)

use crate::data::TextPair;
use ember_core::{Error, Result};
use std::collections::HashMap;

/// Replaces every whitespace-separated word of both responses found in `synonyms` (prompts
/// are unchanged); words keep their order, whitespace is normalised to single spaces.
///
/// Errors: an empty synonym table.
pub fn synonym_shift(
    pairs: &[TextPair],
    synonyms: &HashMap<String, String>,
) -> Result<Vec<TextPair>> {
    if synonyms.is_empty() {
        return Err(Error::InvalidInput(
            "synonym_shift: empty synonym table".into(),
        ));
    }
    let map = |s: &str| -> String {
        s.split_whitespace()
            .map(|w| synonyms.get(w).map_or(w, String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Ok(pairs
        .iter()
        .map(|p| TextPair {
            prompt: p.prompt.clone(),
            chosen: map(&p.chosen),
            rejected: map(&p.rejected),
        })
        .collect())
}

/// Appends `words` (cycled, `extra` of them) to both responses: a length shift that keeps
/// the responses' relative content.
///
/// Errors: no words to append.
pub fn length_shift(pairs: &[TextPair], words: &[&str], extra: usize) -> Result<Vec<TextPair>> {
    if words.is_empty() {
        return Err(Error::InvalidInput(
            "length_shift: no words to append".into(),
        ));
    }
    let tail: String = words
        .iter()
        .cycle()
        .take(extra)
        .map(|w| format!(" {w}"))
        .collect();
    Ok(pairs
        .iter()
        .map(|p| TextPair {
            prompt: p.prompt.clone(),
            chosen: format!("{}{tail}", p.chosen.trim_end()),
            rejected: format!("{}{tail}", p.rejected.trim_end()),
        })
        .collect())
}
