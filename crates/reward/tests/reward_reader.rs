//! The preference JSONL reader on files the test writes: the standard and conversational
//! forms, the implicit-prompt (HH) form, and every malformed record as an error naming the
//! file and line; then tokenization.

use ember_core::data::tokenizer::{Tokenizer, TokenizerConfig};
use ember_core::pretrained::tokenizer::TextTokenizer;
use ember_reward::{TextPair, read_preferences, tokenize_pairs};
use std::path::PathBuf;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-reward-reader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn pair(p: &str, c: &str, r: &str) -> TextPair {
    TextPair {
        prompt: p.into(),
        chosen: c.into(),
        rejected: r.into(),
    }
}

#[test]
fn reads_standard_conversational_and_hh_forms() {
    let text = concat!(
        r#"{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5", "score": 1}"#,
        "\n",
        "\n",
        r#"{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}], "rejected": [{"role": "assistant", "content": "go away"}]}"#,
        "\n",
        r#"{"chosen": "\n\nHuman: name a fruit\n\nAssistant: an apple", "rejected": "\n\nHuman: name a fruit\n\nAssistant: a car"}"#,
        "\n",
        r#"{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "bad"}]}"#,
        "\n",
    );
    let pairs = read_preferences(write("ok.jsonl", text)).unwrap();
    assert_eq!(
        pairs,
        vec![
            pair("What is 2+2?", "4", "5"),
            pair("user: hi\n", "assistant: hello\n", "assistant: go away\n"),
            pair(
                "\n\nHuman: name a fruit\n\nAssistant:",
                " an apple",
                " a car"
            ),
            pair("user: q\n", "assistant: good\n", "assistant: bad\n"),
        ]
    );
}

#[test]
fn hh_strings_without_marker_split_at_a_word() {
    let text = r#"{"chosen": "the cat sat on the mat", "rejected": "the cat sat on a hat"}"#;
    let pairs = read_preferences(write("words.jsonl", text)).unwrap();
    assert_eq!(pairs, vec![pair("the cat sat on ", "the mat", "a hat")]);
}

#[test]
fn malformed_records_name_the_file_and_line() {
    let good = r#"{"prompt": "p", "chosen": "a", "rejected": "b"}"#;
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "empty"),
        ("blank", "\n\n  \n".into(), "empty"),
        ("json", format!("{good}\n{{not json"), "line 2: not valid JSON"),
        ("array", "[1, 2]".into(), "expected a JSON object, got a list"),
        ("missing", r#"{"prompt": "p", "chosen": "a"}"#.into(), "missing field `rejected`"),
        ("number", r#"{"prompt": "p", "chosen": 3, "rejected": "b"}"#.into(), "field `chosen` must be a string or a list of messages, got a number"),
        ("message", r#"{"prompt": "p", "chosen": [{"role": "a"}], "rejected": "b"}"#.into(), "`chosen`[0] is not a message"),
        ("empty-response", r#"{"prompt": "p", "chosen": "  ", "rejected": "b"}"#.into(), "empty `chosen` or `rejected`"),
        ("mixed", r#"{"chosen": "a", "rejected": [{"role": "u", "content": "b"}]}"#.into(), "must both be strings or both message lists"),
        ("no-prefix", r#"{"chosen": "abc", "rejected": "xyz"}"#.into(), "share no prefix"),
        ("prefix-conv", r#"{"chosen": [{"role": "u", "content": "q"}], "rejected": [{"role": "u", "content": "q"}, {"role": "a", "content": "x"}]}"#.into(), "one conversation is a prefix"),
        ("no-first", r#"{"chosen": [{"role": "u", "content": "q"}], "rejected": [{"role": "u", "content": "r"}]}"#.into(), "share no first message"),
    ];
    for (name, text, want) in cases {
        let path = write(&format!("{name}.jsonl"), &text);
        let err = read_preferences(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{name}: {err}");
        assert!(err.contains(want), "{name}: expected `{want}` in `{err}`");
    }
    let missing = std::env::temp_dir().join("ember-reward-no-such-file.jsonl");
    let err = read_preferences(&missing).unwrap_err().to_string();
    assert!(err.contains("ember-reward-no-such-file.jsonl"), "{err}");
}

#[test]
fn tokenizes_with_bos_eos_and_truncates_the_prompt() {
    let texts = [
        "say yes please",
        "yes",
        "no",
        "say no please",
        "maybe yes no",
    ];
    let tok = Tokenizer::fit(texts.iter().cycle().take(20), &TokenizerConfig::default()).unwrap();
    let pairs = vec![pair("say yes please say yes please", "yes", "no no")];
    let out = tokenize_pairs(&pairs, &tok, 64).unwrap();
    let p = &out[0];
    assert_eq!(p.prompt[0], tok.bos_token_id().unwrap());
    assert_eq!(*p.chosen.last().unwrap(), tok.eos_token_id().unwrap());
    assert_eq!(p.chosen.len(), 2, "yes + EOS");
    assert_eq!(p.rejected.len(), 3, "no no + EOS");
    assert_eq!(p.prompt.len(), 1 + 6);
    // Cut to 5 tokens: the longest response (3) plus the last 2 prompt tokens.
    let cut = tokenize_pairs(&pairs, &tok, 5).unwrap();
    assert_eq!(cut[0].prompt, p.prompt[p.prompt.len() - 2..].to_vec());
    assert_eq!(cut[0].rejected, p.rejected);
    // A response that cannot fit is an error naming the pair.
    let err = tokenize_pairs(&pairs, &tok, 3).unwrap_err().to_string();
    assert!(err.contains("pair 0") && err.contains("max_len 3"), "{err}");
    assert!(tokenize_pairs(&[], &tok, 8).is_err());
}
