//! `ember_core::pretrained::tokenizer` against the reference ids that `tokenizers` 0.23.2 (the
//! Python build) produced for three tiny tokenizers (byte-level BPE, WordPiece, Unigram with
//! Metaspace): `tests/data/hf/tokenizers/expected.json`, copied from the shared HF fixtures.
//! Also batching into Burn tensors, the ember/HF dispatch, and malformed files.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use ember_core::Error;
use ember_core::data::tokenizer::{Tokenizer, TokenizerConfig};
use ember_core::pretrained::tokenizer::{
    AnyTokenizer, EncodeOptions, EncodedBatch, HfTokenizer, TextTokenizer,
};
use ember_core::testing::Mutator;
use serde_json::Value;

const KINDS: [&str; 3] = ["bpe_bytelevel", "wordpiece", "unigram_metaspace"];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/tokenizers")
}

fn fixture(kind: &str) -> PathBuf {
    data_dir().join(format!("{kind}.json"))
}

struct Expected {
    texts: Vec<String>,
    ids: Value,
}

impl Expected {
    fn load() -> Expected {
        let v: Value =
            serde_json::from_str(&fs::read_to_string(data_dir().join("expected.json")).unwrap())
                .unwrap();
        let texts = v["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        Expected {
            texts,
            ids: v["ids"].clone(),
        }
    }

    fn ids(&self, kind: &str) -> Vec<Vec<u32>> {
        self.ids[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect()
    }

    fn text_refs(&self) -> Vec<&str> {
        self.texts.iter().map(String::as_str).collect()
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!(
        "ember-hf-tokenizer-test-{name}-{}-{nanos}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A directory holding `kind`'s fixture as `tokenizer.json`.
fn hf_dir(name: &str, kind: &str) -> PathBuf {
    let d = tmpdir(name);
    fs::copy(fixture(kind), d.join("tokenizer.json")).unwrap();
    d
}

fn load(kind: &str) -> HfTokenizer {
    HfTokenizer::from_file(fixture(kind)).unwrap()
}

/// The error's message, checked to name `file`.
fn assert_names<T: std::fmt::Debug>(r: Result<T, Error>, file: &str) -> Error {
    let e = r.expect_err("expected an error");
    let msg = e.to_string();
    assert!(msg.contains(file), "message {msg:?} does not name {file}");
    e
}

#[test]
fn encode_matches_reference_ids() {
    let exp = Expected::load();
    for kind in KINDS {
        let tok = load(kind);
        let want = exp.ids(kind);
        assert_eq!(want.len(), exp.texts.len());
        for (text, ids) in exp.texts.iter().zip(&want) {
            assert_eq!(&tok.encode(text, true).unwrap(), ids, "{kind}: {text:?}");
        }
        // The same through a directory and through the trait.
        let from_dir = HfTokenizer::from_dir(hf_dir("ref", kind)).unwrap();
        for (text, ids) in exp.texts.iter().zip(&want) {
            assert_eq!(
                &from_dir.encode(text, true).unwrap(),
                ids,
                "{kind} dir: {text:?}"
            );
            assert_eq!(&from_dir.encode_text(text).unwrap(), ids, "{kind} trait");
        }
    }
}

#[test]
fn special_tokens_only_where_the_post_processor_adds_them() {
    let exp = Expected::load();
    // WordPiece's template adds [CLS]=2 ... [SEP]=3; the others have no post-processor.
    let wp = load("wordpiece");
    for (text, ids) in exp.texts.iter().zip(exp.ids("wordpiece")) {
        assert_eq!((ids[0], *ids.last().unwrap()), (2, 3));
        assert_eq!(wp.encode(text, false).unwrap(), ids[1..ids.len() - 1]);
    }
    for kind in ["bpe_bytelevel", "unigram_metaspace"] {
        let tok = load(kind);
        for text in &exp.texts {
            assert_eq!(
                tok.encode(text, false).unwrap(),
                tok.encode(text, true).unwrap()
            );
        }
    }
}

#[test]
fn pad_bos_eos_and_vocab() {
    let bpe = load("bpe_bytelevel");
    assert_eq!(bpe.vocab_size(), 300);
    assert_eq!(bpe.token_to_id("<|endoftext|>"), Some(0));
    assert_eq!(bpe.pad_id(), None, "GPT-2 style: no pad token");
    assert_eq!((bpe.bos_id(), bpe.eos_id()), (Some(0), Some(0)));
    assert_eq!(bpe.fill_id(), 0, "falls back to EOS");

    let wp = load("wordpiece");
    assert_eq!(wp.vocab_size(), 200);
    assert_eq!(
        (wp.pad_id(), wp.bos_id(), wp.eos_id()),
        (Some(0), Some(2), Some(3))
    );
    assert_eq!(wp.id_to_token(4).as_deref(), Some("[MASK]"));
    assert_eq!(wp.token_to_id("no-such-token"), None);

    let uni = load("unigram_metaspace");
    assert_eq!(uni.vocab_size(), 104);
    assert_eq!(
        (uni.pad_id(), uni.bos_id(), uni.eos_id()),
        (Some(1), Some(0), Some(2))
    );
    assert_eq!(TextTokenizer::pad_token_id(&uni), 1);
}

#[test]
fn config_files_name_special_tokens() {
    let d = hf_dir("cfg", "wordpiece");
    fs::write(
        d.join("tokenizer_config.json"),
        r#"{"pad_token": "[MASK]", "bos_token": null,
            "eos_token": {"content": "[SEP]", "lstrip": false, "__type": "AddedToken"},
            "model_max_length": 512}"#,
    )
    .unwrap();
    // special_tokens_map.json wins over tokenizer_config.json, as in transformers; a token
    // that is not in the vocabulary is skipped.
    fs::write(
        d.join("special_tokens_map.json"),
        r#"{"pad_token": "[UNK]", "eos_token": "<not-in-vocab>"}"#,
    )
    .unwrap();
    let t = HfTokenizer::from_dir(&d).unwrap();
    assert_eq!(t.pad_id(), Some(1));
    assert_eq!(t.bos_id(), None, "explicit null means none");
    assert_eq!(t.eos_id(), Some(3));
    // from_file ignores the config files.
    let f = HfTokenizer::from_file(d.join("tokenizer.json")).unwrap();
    assert_eq!((f.pad_id(), f.bos_id()), (Some(0), Some(2)));

    // A padding section in tokenizer.json names the pad id, and padding is not applied to
    // single encodings.
    let mut v: Value =
        serde_json::from_str(&fs::read_to_string(fixture("bpe_bytelevel")).unwrap()).unwrap();
    v["padding"] = serde_json::json!({
        "strategy": {"Fixed": 64}, "direction": "Right", "pad_to_multiple_of": null,
        "pad_id": 7, "pad_type_id": 0, "pad_token": "x"
    });
    v["truncation"] = serde_json::json!({
        "direction": "Right", "max_length": 3, "strategy": "LongestFirst", "stride": 0
    });
    let d2 = tmpdir("padding");
    fs::write(d2.join("tokenizer.json"), v.to_string()).unwrap();
    let p = HfTokenizer::from_dir(&d2).unwrap();
    assert_eq!(p.pad_id(), Some(7));
    let exp = Expected::load();
    assert_eq!(
        p.encode(&exp.texts[0], true).unwrap(),
        exp.ids("bpe_bytelevel")[0]
    );

    // Broken config files are errors that name them.
    fs::write(d.join("tokenizer_config.json"), "{\"pad_token\": ").unwrap();
    assert_names(HfTokenizer::from_dir(&d), "tokenizer_config.json");
    fs::write(d.join("tokenizer_config.json"), "[1, 2]").unwrap();
    assert_names(HfTokenizer::from_dir(&d), "tokenizer_config.json");
    fs::write(d.join("tokenizer_config.json"), "{}").unwrap();
    fs::write(d.join("special_tokens_map.json"), r#"{"pad_token": 5}"#).unwrap();
    assert_names(HfTokenizer::from_dir(&d), "special_tokens_map.json");
    fs::write(
        d.join("special_tokens_map.json"),
        r#"{"eos_token": {"id": 5}}"#,
    )
    .unwrap();
    assert_names(HfTokenizer::from_dir(&d), "special_tokens_map.json");
}

fn ints(t: Tensor<2, Int>) -> Vec<i64> {
    t.try_to_vec_as::<i64>().unwrap()
}

fn bools(t: Tensor<2, Bool>) -> Vec<bool> {
    t.try_to_vec_as::<bool>().unwrap()
}

#[test]
fn batch_ids_padding_masks_and_tensors() {
    let exp = Expected::load();
    let device = Device::flex();
    for kind in KINDS {
        let tok = load(kind);
        let want = exp.ids(kind);
        let b = tok
            .encode_batch(&exp.text_refs(), &EncodeOptions::default())
            .unwrap();
        assert_eq!(b.ids, want, "{kind}");
        assert_eq!(b.len(), 5);
        assert!(!b.is_empty());
        let lengths: Vec<usize> = want.iter().map(Vec::len).collect();
        assert_eq!(b.lengths, lengths);
        assert_eq!(b.pad_id, tok.fill_id());
        let t = *lengths.iter().max().unwrap();
        assert_eq!(b.width(), t);

        let mask = b.attention_mask();
        let padded = b.padded_ids();
        for (i, row) in want.iter().enumerate() {
            assert_eq!(mask[i].len(), t);
            assert_eq!(padded[i].len(), t);
            for j in 0..t {
                assert_eq!(mask[i][j], u8::from(j < row.len()));
                let id = if j < row.len() { row[j] } else { b.pad_id };
                assert_eq!(padded[i][j], id);
            }
        }

        let (ids, pad) = b.to_tensors(&device).unwrap();
        assert_eq!(ids.dims(), [5, t]);
        assert_eq!(pad.dims(), [5, t]);
        let flat_ids: Vec<i64> = padded.iter().flatten().map(|&x| x as i64).collect();
        assert_eq!(ints(ids), flat_ids, "{kind}");
        let flat_pad: Vec<bool> = mask.iter().flatten().map(|&m| m == 0).collect();
        assert_eq!(bools(pad), flat_pad, "{kind}: pad mask is true at padding");
    }
}

#[test]
fn batch_options_truncate_and_override_pad() {
    let exp = Expected::load();
    let texts = exp.text_refs();
    let wp = load("wordpiece");
    let full = exp.ids("wordpiece");
    let opts = EncodeOptions {
        max_len: Some(4),
        pad_id: Some(99),
        ..EncodeOptions::default()
    };
    let b = wp.encode_batch(&texts, &opts).unwrap();
    assert_eq!(b.pad_id, 99);
    for (row, f) in b.ids.iter().zip(&full) {
        // [CLS] a b [SEP]: the text is cut, the special tokens stay.
        assert_eq!(row, &vec![2, f[1], f[2], 3]);
    }
    let (ids, _) = b.to_tensors(&Device::flex()).unwrap();
    assert_eq!(ids.dims(), [5, 4]);

    // Exactly the special tokens, and a limit longer than every text.
    let b2 = wp
        .encode_batch(
            &texts,
            &EncodeOptions {
                max_len: Some(2),
                ..EncodeOptions::default()
            },
        )
        .unwrap();
    assert!(b2.ids.iter().all(|r| r == &vec![2, 3]));
    let b3 = wp
        .encode_batch(
            &texts,
            &EncodeOptions {
                max_len: Some(1000),
                ..EncodeOptions::default()
            },
        )
        .unwrap();
    assert_eq!(b3.ids, full);

    // Without special tokens; and BPE (no post-processor) keeps the first ids.
    let plain = wp
        .encode_batch(
            &texts,
            &EncodeOptions {
                add_special_tokens: false,
                max_len: Some(3),
                pad_id: None,
            },
        )
        .unwrap();
    for (row, f) in plain.ids.iter().zip(&full) {
        assert_eq!(row[..], f[1..4]);
    }
    let bpe = load("bpe_bytelevel");
    let bb = bpe
        .encode_batch(
            &texts,
            &EncodeOptions {
                max_len: Some(5),
                ..EncodeOptions::default()
            },
        )
        .unwrap();
    for (row, f) in bb.ids.iter().zip(exp.ids("bpe_bytelevel")) {
        assert_eq!(row[..], f[..5]);
    }

    // Bad options and batches.
    let too_short = EncodeOptions {
        max_len: Some(1),
        ..EncodeOptions::default()
    };
    assert!(matches!(
        wp.encode_batch(&texts, &too_short),
        Err(Error::InvalidInput(_))
    ));
    let zero = EncodeOptions {
        max_len: Some(0),
        ..EncodeOptions::default()
    };
    assert!(matches!(
        bpe.encode_batch(&texts, &zero),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        bpe.encode_batch(&[], &EncodeOptions::default()),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn empty_texts_in_a_batch() {
    let bpe = load("bpe_bytelevel");
    let b = bpe
        .encode_batch(&["", "The dog"], &EncodeOptions::default())
        .unwrap();
    assert_eq!(b.lengths[0], 0);
    assert!(b.lengths[1] > 0);
    let (ids, pad) = b.to_tensors(&Device::flex()).unwrap();
    assert_eq!(ids.dims(), [2, b.lengths[1]]);
    assert!(bools(pad)[..b.lengths[1]].iter().all(|&p| p));
    assert_eq!(b.attention_mask()[0], vec![0; b.lengths[1]]);

    // All-empty: no width to build tensors from.
    let e = bpe
        .encode_batch(&["", ""], &EncodeOptions::default())
        .unwrap();
    assert_eq!(e.width(), 0);
    assert!(matches!(
        e.to_tensors(&Device::flex()),
        Err(Error::InvalidInput(_))
    ));
    // A hand-built batch whose lengths disagree with its rows.
    let bad = EncodedBatch {
        ids: vec![vec![1, 2]],
        lengths: vec![3],
        pad_id: 0,
    };
    assert!(bad.to_tensors(&Device::flex()).is_err());
}

#[test]
fn decode_round_trips() {
    let exp = Expected::load();
    // Byte-level BPE is lossless.
    let bpe = load("bpe_bytelevel");
    for (text, ids) in exp.texts.iter().zip(exp.ids("bpe_bytelevel")) {
        assert_eq!(&bpe.decode(&ids, false).unwrap(), text);
        assert_eq!(&bpe.decode_text(&ids).unwrap(), text);
    }
    // Unigram/Metaspace restores texts it has no <unk> for (single spaces, no leading space).
    let uni = load("unigram_metaspace");
    let unk = uni.token_to_id("<unk>").unwrap();
    for (text, ids) in exp.texts.iter().zip(exp.ids("unigram_metaspace")) {
        if !ids.contains(&unk) && !text.contains("  ") && !text.starts_with(' ') {
            assert_eq!(&uni.decode(&ids, true).unwrap(), text);
        }
    }
    assert_eq!(
        uni.decode(&exp.ids("unigram_metaspace")[0], true).unwrap(),
        exp.texts[0]
    );
    // WordPiece has no decoder (tokens joined by spaces): specials are dropped on request.
    let wp = load("wordpiece");
    let ids = &exp.ids("wordpiece")[0];
    let with = wp.decode(ids, false).unwrap();
    let without = wp.decode(ids, true).unwrap();
    assert!(
        with.starts_with("[CLS]") && with.ends_with("[SEP]"),
        "{with}"
    );
    assert!(!without.contains("[CLS]") && !without.contains("[SEP]"));
    assert!(without.starts_with("the"), "{without}");
    // Ids outside the vocabulary are skipped, as in transformers.
    assert_eq!(bpe.decode(&[1_000_000], false).unwrap(), "");
}

fn ember_tokenizer() -> Tokenizer {
    let corpus = ["kata mulo kata", "kata mulo", "mulo ren"];
    Tokenizer::fit(corpus, &TokenizerConfig::default()).unwrap()
}

/// A generic consumer, as a paper crate would write it.
fn summary(t: &dyn TextTokenizer, text: &str) -> (Vec<u32>, usize, u32) {
    (
        t.encode_text(text).unwrap(),
        t.vocab_size(),
        t.pad_token_id(),
    )
}

#[test]
fn any_tokenizer_picks_the_format() {
    let exp = Expected::load();
    for kind in KINDS {
        let any = AnyTokenizer::from_dir(hf_dir("any", kind)).unwrap();
        assert!(matches!(any, AnyTokenizer::Hf(_)));
        let (ids, vocab, _) = summary(&any, &exp.texts[1]);
        assert_eq!(ids, exp.ids(kind)[1]);
        assert_eq!(vocab, load(kind).vocab_size());
    }

    // Config files are read through AnyTokenizer too.
    let d = hf_dir("any-cfg", "bpe_bytelevel");
    fs::write(
        d.join("tokenizer_config.json"),
        r#"{"pad_token": "<|endoftext|>"}"#,
    )
    .unwrap();
    let AnyTokenizer::Hf(h) = AnyTokenizer::from_dir(&d).unwrap() else {
        panic!("expected the Hugging Face tokenizer")
    };
    assert_eq!(h.pad_id(), Some(0));

    let tok = ember_tokenizer();
    let d = tmpdir("ember");
    tok.save(d.join("tokenizer.json")).unwrap();
    let any = AnyTokenizer::from_dir(&d).unwrap();
    assert!(matches!(any, AnyTokenizer::Ember(_)));
    let (ids, vocab, pad) = summary(&any, "kata mulo ren");
    assert_eq!(ids, tok.encode("kata mulo ren"));
    assert_eq!((vocab, pad), (tok.vocab_size(), 0));
    assert_eq!(any.bos_token_id(), Some(tok.bos_id()));
    assert_eq!(any.eos_token_id(), Some(tok.eos_id()));
    assert_eq!(any.decode_text(&ids).unwrap(), "kata mulo ren");
    assert_eq!(summary(&tok, "kata").0, tok.encode("kata"));

    let hf: AnyTokenizer = load("wordpiece").into();
    assert_eq!(hf.bos_token_id(), Some(2));
    assert_eq!(hf.eos_token_id(), Some(3));
    assert_eq!(hf.pad_token_id(), 0);
    let em: AnyTokenizer = tok.into();
    assert!(matches!(em, AnyTokenizer::Ember(_)));
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let d = tmpdir("bad");

    // Missing file / directory without a tokenizer.
    let e = assert_names(HfTokenizer::from_file(d.join("absent.json")), "absent.json");
    assert!(matches!(e, Error::Io { .. }));
    assert_names(HfTokenizer::from_dir(&d), "tokenizer.json");
    let e = assert_names(AnyTokenizer::from_dir(&d), "tokenizer.json");
    assert!(e.to_string().contains("Hugging Face or ember"), "{e}");
    fs::write(d.join("tokenizer.model"), b"spm").unwrap();
    let e = assert_names(AnyTokenizer::from_dir(&d), "tokenizer.json");
    assert!(e.to_string().contains("SentencePiece"), "{e}");

    let original = fs::read(fixture("wordpiece")).unwrap();
    // Fixed pseudo-random bytes (a multiplicative hash of the index).
    let random: Vec<u8> = (0u32..512)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.json", vec![]),
        ("truncated.json", original[..original.len() / 2].to_vec()),
        ("random.json", random),
        ("not_a_tokenizer.json", br#"{"hello": [1, 2, 3]}"#.to_vec()),
        ("array.json", b"[1, 2, 3]".to_vec()),
        (
            "bad_model.json",
            br#"{"version": "1.0", "model": {"type": "NoSuchModel"}}"#.to_vec(),
        ),
    ];
    for (name, bytes) in &cases {
        let p = d.join(name);
        fs::write(&p, bytes).unwrap();
        let e = assert_names(HfTokenizer::from_file(&p), name);
        assert!(matches!(e, Error::Format { .. }), "{name}: {e:?}");
        // The same content as a directory's tokenizer.json.
        let sub = d.join(format!("dir-{name}"));
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join("tokenizer.json"), bytes).unwrap();
        assert_names(HfTokenizer::from_dir(&sub), "tokenizer.json");
        assert_names(AnyTokenizer::from_dir(&sub), "tokenizer.json");
    }

    // An ember tokenizer file is not a Hugging Face one, and vice versa.
    let ember = d.join("ember.json");
    ember_tokenizer().save(&ember).unwrap();
    assert_names(HfTokenizer::from_file(&ember), "ember.json");
    assert_names(Tokenizer::load(fixture("wordpiece")), "wordpiece.json");
    // A corrupt ember file found by AnyTokenizer reports ember's own error.
    let sub = d.join("bad-ember");
    fs::create_dir_all(&sub).unwrap();
    fs::write(
        sub.join("tokenizer.json"),
        r#"{"format": "ember-tokenizer"}"#,
    )
    .unwrap();
    assert_names(AnyTokenizer::from_dir(&sub), "tokenizer.json");
    fs::write(
        sub.join("tokenizer.json"),
        r#"{"format": "x", "model": {}}"#,
    )
    .unwrap();
    assert_names(AnyTokenizer::from_dir(&sub), "tokenizer.json");
}

/// Files on which `tokenizers` 0.23.2 itself panics (while parsing, or on every encode) are
/// format errors at load.
#[test]
fn upstream_panics_become_errors() {
    let d = tmpdir("upstream");
    // Invalid UTF-8 inside the decoder section: valid JSON structure, and the decoder's
    // deserialiser `expect`s instead of returning the error.
    let text = fs::read_to_string(fixture("bpe_bytelevel")).unwrap();
    let at = text.find("\"decoder\"").unwrap();
    let mut bytes = text.into_bytes();
    let ty = at
        + bytes[at..]
            .windows(9)
            .position(|w| w == b"ByteLevel")
            .unwrap();
    bytes[ty + 1] = 0xff;
    let p = d.join("bad_decoder.json");
    fs::write(&p, &bytes).unwrap();
    let e = assert_names(HfTokenizer::from_file(&p), "bad_decoder.json");
    assert!(matches!(e, Error::Format { .. }), "{e:?}");

    // A template that names a special token it does not define loads upstream, then panics
    // on every encode with special tokens.
    let mut v: Value =
        serde_json::from_str(&fs::read_to_string(fixture("wordpiece")).unwrap()).unwrap();
    v["post_processor"]["single"][0]["SpecialToken"]["id"] = Value::from("[NOPE]");
    let p = d.join("bad_template.json");
    fs::write(&p, v.to_string()).unwrap();
    let e = assert_names(HfTokenizer::from_file(&p), "bad_template.json");
    assert!(e.to_string().contains("panicked"), "{e}");
}

/// Mutated fixtures (truncated, bytes flipped, both, digits or letters changed) load or fail with an error that names
/// the file, and whatever loads encodes and decodes without panicking.
#[test]
fn mutated_fixtures_never_panic() {
    let exp = Expected::load();
    let d = tmpdir("fuzz");
    let seeds = KINDS
        .iter()
        .map(|k| fs::read(fixture(k)).unwrap())
        .collect();
    let mut mutator = Mutator::new(seeds, 0x5eed);
    let (mut ok, mut err) = (0, 0);
    for i in 0..210 {
        let bytes = mutator.next_mutant().bytes;
        let p = d.join(format!("mutant-{i}.json"));
        fs::write(&p, &bytes).unwrap();
        match HfTokenizer::from_file(&p) {
            Ok(t) => {
                ok += 1;
                for text in &exp.texts {
                    if let Ok(ids) = t.encode(text, true) {
                        let _ = t.decode(&ids, false);
                    }
                }
                let opts = EncodeOptions {
                    max_len: Some(3),
                    ..EncodeOptions::default()
                };
                let _ = t.encode_batch(&exp.text_refs(), &opts);
            }
            Err(e) => {
                err += 1;
                assert!(e.to_string().contains(&format!("mutant-{i}.json")), "{e}");
            }
        }
        let _ = fs::remove_file(&p);
    }
    eprintln!("mutated fixtures: {ok} loaded, {err} rejected");
    assert_eq!(ok + err, 210);
    assert!(
        ok > 0,
        "some mutants should load, so encoding them is exercised too"
    );
    assert!(
        err > 50,
        "most truncated or bit-flipped mutants should be rejected"
    );
}
