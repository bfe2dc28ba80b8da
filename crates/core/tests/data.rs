//! Integration tests for `ember_core::data`: synthetic languages, tokenizer, FLORES I/O.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use ember_core::Error;
use ember_core::data::flores::{
    FloresLayout, ParallelText, read_flores, read_flores_all, read_flores_with, write_parallel,
};
use ember_core::data::synthlang::{
    LanguageSpec, Marking, Role, Script, Sentence, SynthLang, SynthLangConfig, WordOrder,
};
use ember_core::data::tokenizer::{BatchOptions, PAD_ID, Tokenizer, TokenizerConfig};

fn tmpdir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = std::env::temp_dir().join(format!(
        "ember-data-test-{name}-{}-{nanos}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn types(s: &[Sentence]) -> HashSet<&String> {
    s.iter().flat_map(|s| &s.tokens).collect()
}

fn jaccard(a: &[Sentence], b: &[Sentence]) -> f64 {
    let (ta, tb) = (types(a), types(b));
    ta.intersection(&tb).count() as f64 / ta.union(&tb).count() as f64
}

fn plain(name: &str) -> LanguageSpec {
    LanguageSpec {
        name: name.into(),
        ..LanguageSpec::default()
    }
}

// ---------------------------------------------------------------- synthlang

#[test]
fn same_config_same_output_including_via_json() {
    let cfg = SynthLangConfig::graded(5, 42);
    let json = serde_json::to_string(&cfg).unwrap();
    let cfg2: SynthLangConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(cfg, cfg2);
    let (g1, g2) = (SynthLang::new(cfg).unwrap(), SynthLang::new(cfg2).unwrap());
    assert_eq!(g1.parallel(200, 9).unwrap(), g2.parallel(200, 9).unwrap());
    assert_eq!(
        g1.monolingual_corpora(&[100, 50, 25, 10, 5], 1, None)
            .unwrap(),
        g2.monolingual_corpora(&[100, 50, 25, 10, 5], 1, None)
            .unwrap()
    );
    // Partial JSON falls back to defaults.
    let partial: SynthLangConfig = serde_json::from_str(r#"{"seed": 3}"#).unwrap();
    assert_eq!(partial.languages.len(), 4);
    assert_eq!(partial.seed, 3);
}

#[test]
fn graded_languages_get_monotonically_farther() {
    let g = SynthLang::new(SynthLangConfig::graded(5, 1)).unwrap();
    let p = g.parallel(500, 0).unwrap();
    let ov: Vec<f64> = (1..5)
        .map(|l| jaccard(&p.sentences[0], &p.sentences[l]))
        .collect();
    assert!(ov.windows(2).all(|w| w[0] > w[1]), "overlap {ov:?}");
    let d: Vec<f64> = (1..5).map(|l| g.distance(0, l).unwrap().combined).collect();
    assert!(d.windows(2).all(|w| w[0] < w[1]), "combined distance {d:?}");
    let m = g.distance_matrix();
    assert_eq!(m.len(), 5);
    assert_eq!(m[0][0].combined, 0.0);
    assert_eq!(m[1][3], g.distance(1, 3).unwrap());
}

#[test]
fn measured_lexical_overlap_tracks_shared_fraction() {
    let mut cfg = SynthLangConfig::graded(1, 8);
    for (i, f) in [0.9, 0.6, 0.3, 0.0].into_iter().enumerate() {
        cfg.languages.push(LanguageSpec {
            shared_vocab_fraction: f,
            ..plain(&format!("s{i}"))
        });
    }
    let g = SynthLang::new(cfg).unwrap();
    for (l, f) in [(1, 0.9), (2, 0.6), (3, 0.3), (4, 0.0)] {
        let d = g.distance(0, l).unwrap();
        assert!((d.lexical_overlap - f).abs() < 0.01, "{l}: {d:?}");
    }
}

#[test]
fn word_order_moves_the_verb() {
    let mut cfg = SynthLangConfig::graded(1, 2);
    cfg.sampling.p_attribute = 0.0;
    cfg.sampling.p_plural = 0.0;
    for (name, order) in [
        ("sov", WordOrder::Sov),
        ("vso", WordOrder::Vso),
        ("osv", WordOrder::Osv),
    ] {
        cfg.languages.push(LanguageSpec {
            word_order: order,
            determiner: ember_core::data::synthlang::DetPosition::None,
            ..plain(name)
        });
    }
    let g = SynthLang::new(cfg).unwrap();
    let p = g.parallel(100, 0).unwrap();
    let roles = |s: &Sentence| -> Vec<Role> {
        s.info
            .iter()
            .map(|i| i.role)
            .filter(|r| matches!(r, Role::Agent | Role::Action | Role::Patient))
            .collect()
    };
    for i in 0..100 {
        assert_eq!(
            roles(&p.sentences[1][i]),
            [Role::Agent, Role::Patient, Role::Action]
        );
        assert_eq!(
            roles(&p.sentences[2][i]),
            [Role::Action, Role::Agent, Role::Patient]
        );
        assert_eq!(
            roles(&p.sentences[3][i]),
            [Role::Patient, Role::Agent, Role::Action]
        );
        // Same words, different order: l0 and sov share the whole lexicon.
        let mut a = p.sentences[1][i].tokens.clone();
        let mut b: Vec<String> = p.sentences[0][i]
            .tokens
            .iter()
            .zip(&p.sentences[0][i].info)
            .filter(|(_, inf)| inf.role != Role::Function)
            .map(|(t, _)| t.clone())
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}

#[test]
fn affix_style_changes_word_shape() {
    let mut cfg = SynthLangConfig::graded(1, 4);
    cfg.sampling.p_plural = 1.0;
    cfg.sampling.p_numeral = 0.0;
    cfg.sampling.p_name = 0.0;
    cfg.languages.push(LanguageSpec {
        plural_marking: Marking::Particle,
        tense_marking: Marking::Prefix,
        ..plain("pp")
    });
    let g = SynthLang::new(cfg).unwrap();
    let p = g.parallel(50, 0).unwrap();
    let plural = g
        .world()
        .function(ember_core::data::synthlang::FunctionWord::Plural);
    for i in 0..50 {
        let s0 = &p.sentences[0][i];
        let s1 = &p.sentences[1][i];
        // Suffix language: no separate plural token; particle language: one per noun phrase.
        assert!(s0.info.iter().all(|t| t.concept != Some(plural)));
        assert_eq!(
            s1.info.iter().filter(|t| t.concept == Some(plural)).count(),
            2
        );
        assert_eq!(s1.tokens.len(), s0.tokens.len() + 2);
    }
}

#[test]
fn script_shift_keeps_anchors() {
    let mut cfg = SynthLangConfig::graded(1, 6);
    cfg.sampling.p_name = 0.5;
    cfg.languages.push(LanguageSpec {
        script: Script::Greek,
        ..plain("gr")
    });
    let g = SynthLang::new(cfg.clone()).unwrap();
    let p = g.parallel(200, 0).unwrap();
    let mut anchors_seen = 0;
    for i in 0..200 {
        let (a, b) = (&p.sentences[0][i], &p.sentences[1][i]);
        assert_eq!(a.tokens.len(), b.tokens.len());
        for (k, inf) in b.info.iter().enumerate() {
            let c = inf.concept.unwrap();
            if g.is_anchor(c) {
                anchors_seen += 1;
                assert_eq!(a.tokens[k], b.tokens[k]);
            } else {
                assert!(!b.tokens[k].chars().any(|ch| ch.is_ascii_alphabetic()));
            }
        }
    }
    assert!(anchors_seen > 50);
    // Without anchors, names differ across languages too.
    cfg.anchor_fraction = 0.0;
    let g = SynthLang::new(cfg).unwrap();
    assert!(g.world().anchors.is_empty());
    let d = g.distance(0, 1).unwrap();
    assert_eq!(d.lexical_overlap, 0.0);
    assert!(d.script_differs && d.cognate_overlap > 0.99);
}

#[test]
fn code_switch_rate_matches_measurement() {
    let mut cfg = SynthLangConfig::graded(4, 3);
    cfg.code_switch_rate = 0.2;
    cfg.languages[3].code_switch_rate = Some(0.0);
    let g = SynthLang::new(cfg).unwrap();
    let m = g.monolingual(1, 4000, 0, None).unwrap();
    let r = g.code_switch_fraction(&m.sentences);
    assert!((r - 0.2).abs() < 0.02, "measured {r}");
    let m3 = g.monolingual(3, 500, 0, None).unwrap();
    assert_eq!(g.code_switch_fraction(&m3.sentences), 0.0);
    // Switched tokens really come from the other language's lexicon.
    let vocab: Vec<_> = (0..4).map(|l| g.token_concepts(l).unwrap()).collect();
    for s in &m.sentences {
        for (t, i) in s.tokens.iter().zip(&s.info) {
            let c = i.concept.unwrap();
            assert!(
                vocab[i.lang][t].contains(&c),
                "{t} not a form of {c} in {}",
                i.lang
            );
        }
    }
    // Parallel corpora are never code-switched.
    let p = g.parallel(200, 0).unwrap();
    for l in 0..4 {
        assert_eq!(g.code_switch_fraction(&p.sentences[l]), 0.0);
    }
}

#[test]
fn unbalanced_streams_exclude_held_out_meanings() {
    let g = SynthLang::new(SynthLangConfig::graded(3, 5)).unwrap();
    let splits = g.parallel_splits(&[100, 200], 7).unwrap();
    let (dev, test) = (&splits[0], &splits[1]);
    assert_eq!((dev.len(), test.len()), (100, 200));
    let a = dev.meaning_set();
    assert!(test.meanings.iter().all(|m| !a.contains(m)));
    let mut held = a.clone();
    held.extend(test.meaning_set());
    let mono = g
        .monolingual_corpora(&[3000, 300, 30], 0, Some(&held))
        .unwrap();
    assert_eq!(
        mono.iter().map(|m| m.sentences.len()).collect::<Vec<_>>(),
        [3000, 300, 30]
    );
    for m in &mono {
        for s in &m.sentences {
            assert_eq!(s.lang, m.lang);
            assert!(!held.contains(&s.meaning.unwrap()));
        }
    }
    assert!(g.monolingual_corpora(&[1, 2], 0, None).is_err());
    assert!(g.monolingual(9, 1, 0, None).is_err());
}

#[test]
fn concept_labels_and_hierarchy() {
    let mut cfg = SynthLangConfig::graded(2, 9);
    cfg.sampling.taxonomy_rate = 0.3;
    cfg.synonyms = 2;
    let g = SynthLang::new(cfg).unwrap();
    let w = g.world();
    let p = g.parallel(300, 0).unwrap();
    let mut isa = 0;
    for l in 0..2 {
        for s in &p.sentences[l] {
            for (t, i) in s.tokens.iter().zip(&s.info) {
                let c = i.concept.unwrap();
                assert!(g.concept_tokens(l, c).unwrap().contains(t));
            }
            if let Some(ember_core::data::synthlang::Meaning {
                predicate: ember_core::data::synthlang::Predicate::IsA { category },
                subject,
                ..
            }) = s.meaning
            {
                isa += 1;
                assert!(w.is_a(subject.head, category) && subject.head != category);
            }
        }
    }
    assert!(isa > 100);
    // Two synonyms per entity per language.
    assert!(
        w.entities
            .iter()
            .all(|&e| g.languages()[1].forms[e].len() == 2)
    );
    // Variants 0 and 1 are paraphrases: same meaning, different words iff an entity occurs.
    let m = p.meanings[0];
    let (a, b) = (
        g.render_variant(&m, 1, 0).unwrap(),
        g.render_variant(&m, 1, 1).unwrap(),
    );
    assert_eq!(a.meaning, b.meaning);
    let has_entity = m.concepts().iter().any(|c| w.entities.contains(c));
    assert_eq!(a.tokens != b.tokens, has_entity);
    assert_eq!(g.render(&m, 1).unwrap(), a);
}

#[test]
fn filler_sentences_have_no_meaning() {
    let mut cfg = SynthLangConfig::graded(2, 1);
    cfg.languages[1].filler_rate = Some(0.5);
    let g = SynthLang::new(cfg).unwrap();
    let m = g.monolingual(1, 2000, 0, None).unwrap();
    let fill = m.sentences.iter().filter(|s| s.meaning.is_none()).count();
    assert!((fill as f64 / 2000.0 - 0.5).abs() < 0.05);
    let m0 = g.monolingual(0, 200, 0, None).unwrap();
    assert!(m0.sentences.iter().all(|s| s.meaning.is_some()));
}

#[test]
fn generation_is_fast() {
    let g = SynthLang::new(SynthLangConfig::graded(5, 0)).unwrap();
    let t = std::time::Instant::now();
    let m = g.monolingual(2, 100_000, 0, None).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!("100k sentences in {secs:.3} s");
    assert_eq!(m.sentences.len(), 100_000);
    // Generous for unoptimised test builds on a loaded machine.
    assert!(secs < 30.0);
}

// ---------------------------------------------------------------- tokenizer

fn synth_texts() -> (SynthLang, Vec<String>) {
    let g = SynthLang::new(SynthLangConfig::graded(4, 2)).unwrap();
    let texts: Vec<String> = g
        .monolingual_corpora(&[500, 400, 300, 200], 0, None)
        .unwrap()
        .iter()
        .flat_map(|m| m.texts())
        .collect();
    (g, texts)
}

#[test]
fn tokenizer_round_trip_on_synthetic_text() {
    let (g, texts) = synth_texts();
    let cfg = TokenizerConfig {
        lang_tags: g.language_names(),
        min_freq: 1,
        ..TokenizerConfig::default()
    };
    let tok = Tokenizer::fit(&texts, &cfg).unwrap();
    assert!(tok.vocab_size() <= cfg.max_vocab);
    for t in &texts {
        let ids = tok.encode(t);
        assert!(!ids.contains(&tok.unk_id()));
        assert_eq!(&tok.decode(&ids), t);
    }
    // Held-out parallel text (some words unseen) still round-trips via pieces.
    let p = g.parallel(200, 5).unwrap();
    for l in 0..4 {
        for t in p.texts(l) {
            assert_eq!(tok.decode(&tok.encode(&t)), t);
        }
    }
    let ids = tok.encode_with_lang(&texts[0], "l0").unwrap();
    assert_eq!(ids[0], tok.lang_id("l0").unwrap());
    assert!(tok.is_special(ids[0]));
    assert_eq!(tok.decode_with(&ids, true), texts[0]);
    assert!(tok.encode_with_lang("x", "zz").is_err());
}

#[test]
fn tokenizer_save_load_and_corrupt_json() {
    let (_, texts) = synth_texts();
    let tok = Tokenizer::fit(&texts, &TokenizerConfig::default()).unwrap();
    let dir = tmpdir("tok");
    let path = dir.join("tok.json");
    tok.save(&path).unwrap();
    assert!(!dir.join(".tok.json.tmp").exists());
    let back = Tokenizer::load(&path).unwrap();
    assert_eq!(back.vocab(), tok.vocab());
    assert_eq!(back.config(), tok.config());
    for t in texts.iter().take(50) {
        assert_eq!(back.encode(t), tok.encode(t));
    }
    fs::write(&path, "{\"format\": \"ember-tokenizer\", \"vers").unwrap();
    assert!(matches!(Tokenizer::load(&path), Err(Error::Format { .. })));
    fs::write(
        &path,
        r#"{"format":"other","version":1,"config":{},"vocab":[]}"#,
    )
    .unwrap();
    assert!(matches!(Tokenizer::load(&path), Err(Error::Format { .. })));
    fs::write(
        &path,
        r#"{"format":"ember-tokenizer","version":1,"config":{},"vocab":["[PAD]","x"]}"#,
    )
    .unwrap();
    assert!(matches!(Tokenizer::load(&path), Err(Error::Format { .. })));
    fs::write(
        &path,
        r#"{"format":"ember-tokenizer","version":1,"config":{},
            "vocab":["[PAD]","[UNK]","[BOS]","[EOS]","[MASK]","[SEP]","a","a"]}"#,
    )
    .unwrap();
    assert!(matches!(Tokenizer::load(&path), Err(Error::Format { .. })));
    assert!(matches!(
        Tokenizer::load(dir.join("missing.json")),
        Err(Error::Io { .. })
    ));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_padding_and_truncation() {
    let tok = Tokenizer::fit(["a b c d e f", "a b"], &TokenizerConfig::default()).unwrap();
    let opts = BatchOptions {
        max_len: 5,
        ..BatchOptions::default()
    };
    let b = tok.encode_batch(&["a b c d e f", "a", ""], &opts).unwrap();
    assert_eq!(b.lengths, [5, 3, 2]);
    assert_eq!(b.n_truncated, 1);
    assert!(b.ids.iter().all(|r| r.len() == 5));
    assert_eq!(b.ids[0][0], tok.bos_id());
    assert_eq!(b.ids[0][4], tok.eos_id());
    assert_eq!(
        b.ids[1],
        [
            tok.bos_id(),
            tok.encode("a")[0],
            tok.eos_id(),
            PAD_ID,
            PAD_ID
        ]
    );
    assert_eq!(b.attention_mask[2], [true, true, false, false, false]);
    let wide = BatchOptions {
        max_len: 8,
        pad_to_max_len: true,
        add_bos: false,
        ..BatchOptions::default()
    };
    let b = tok.encode_batch(&["a"], &wide).unwrap();
    assert_eq!(b.ids[0].len(), 8);
    assert_eq!(b.lengths, [2]);
    let tiny = BatchOptions {
        max_len: 2,
        ..BatchOptions::default()
    };
    assert!(tok.encode_batch(&["a"], &tiny).is_err());
    assert!(
        tok.encode_batch_with_langs(&["a"], &["x", "y"], &opts)
            .is_err()
    );
}

// ---------------------------------------------------------------- flores

fn sample_text() -> ParallelText {
    ParallelText {
        langs: vec!["eng_Latn".into(), "fra_Latn".into()],
        lines: vec![
            vec!["Hello world.".into(), "Two".into(), "".into()],
            vec!["Bonjour le monde.".into(), "Deux".into(), "".into()],
        ],
    }
}

#[test]
fn flores_write_then_read() {
    let dir = tmpdir("flores-ok");
    let text = sample_text();
    write_parallel(&dir, &text, "{lang}.devtest").unwrap();
    let back = read_flores(&dir, &["eng_Latn", "fra_Latn"]).unwrap();
    assert_eq!(back, text);
    assert_eq!(back.get("fra_Latn").unwrap()[1], "Deux");
    let all = read_flores_all(&dir, &FloresLayout::default()).unwrap();
    assert_eq!(all, text);
    // Custom naming pattern; synthetic corpora export to the same format.
    let g = SynthLang::new(SynthLangConfig::graded(3, 0)).unwrap();
    let p = g.parallel(20, 0).unwrap();
    let pt = p.to_parallel_text(&g.language_names()).unwrap();
    let sub = dir.join("synth");
    write_parallel(&sub, &pt, "synth.{lang}.txt").unwrap();
    let layout = FloresLayout::single("synth.{lang}.txt");
    assert_eq!(read_flores_all(&sub, &layout).unwrap(), pt);
    assert_eq!(
        read_flores_with(&sub, &["l2"], &layout).unwrap().lines[0],
        p.texts(2)
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flores_errors() {
    let dir = tmpdir("flores-err");
    fs::write(dir.join("a.txt"), "x\ny\n").unwrap();
    fs::write(dir.join("b.txt"), "x\n").unwrap();
    fs::write(dir.join("c.txt"), "").unwrap();
    fs::write(dir.join("d.txt"), b"ok\n\xff\xfe\n").unwrap();
    fs::write(dir.join("e.txt"), "\n  \n").unwrap();
    let layout = FloresLayout::single("{lang}.txt");
    match read_flores_with(&dir, &["a", "missing"], &layout) {
        Err(Error::Io { path, source }) => {
            assert!(path.ends_with("missing.txt"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    match read_flores_with(&dir, &["a", "b"], &layout) {
        Err(Error::Shape(msg)) => {
            assert!(msg.contains("a.txt") && msg.contains("b.txt"), "{msg}");
            assert!(msg.contains('2') && msg.contains('1'), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    for bad in ["c", "e"] {
        match read_flores_with(&dir, &[bad], &layout) {
            Err(Error::Format { msg, .. }) => assert!(msg.contains("empty"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
    match read_flores_with(&dir, &["d"], &layout) {
        Err(Error::Format { path, msg }) => {
            assert!(path.ends_with("d.txt"));
            assert!(msg.contains("UTF-8"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_flores_with(&dir, &[], &layout),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        read_flores_with(&dir, &["a", "a"], &layout),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        read_flores_with(&dir, &["../a"], &layout),
        Err(Error::InvalidInput(_))
    ));
    assert!(read_flores_all(dir.join("nope"), &layout).is_err());
    assert!(read_flores_all(&dir, &FloresLayout::single("{lang}.zzz")).is_err());
    // Writer refuses misaligned or multi-line input.
    let mut t = sample_text();
    t.lines[1].pop();
    assert!(matches!(
        write_parallel(dir.join("w"), &t, "{lang}.txt"),
        Err(Error::Shape(_))
    ));
    let mut t = sample_text();
    t.lines[0][0] = "two\nlines".into();
    assert!(matches!(
        write_parallel(dir.join("w"), &t, "{lang}.txt"),
        Err(Error::InvalidInput(_))
    ));
    assert!(write_parallel(dir.join("w"), &sample_text(), "nolang").is_err());
    fs::remove_dir_all(&dir).unwrap();
}
