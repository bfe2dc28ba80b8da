//! The human-similarity reader (MEN / SimLex text format) and the FLORES-style parallel
//! reader on small files the test writes itself.

use ember_core::data::flores::{ParallelText, read_flores, write_parallel};
use ember_lang_experts::concepts::{read_similarity, strip_pos};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("le-reader-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn reads_men_and_simlex_layouts() {
    let d = tmp("sim");
    let men = d.join("MEN_dataset_lemma_form_full");
    std::fs::write(
        &men,
        "sun-n sunlight-n 50.000000\nautomobile-n car-n 50.000000\n\nriver-n water-n 49.000000\n",
    )
    .unwrap();
    let p = read_similarity(&men).unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(
        (strip_pos(&p[1].a), strip_pos(&p[1].b), p[1].score),
        ("automobile", "car", 50.0)
    );
    let simlex = d.join("simlex.txt");
    std::fs::write(
        &simlex,
        "# SimLex-999 subset\nword1\tword2\tSimLex999\nold\tnew\t1.58\nsmart\tintelligent\t9.2\n",
    )
    .unwrap();
    let p = read_similarity(&simlex).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[1].score, 9.2);
    assert_eq!(strip_pos("e-mail"), "e-mail");
}

#[test]
fn similarity_errors_name_file_and_line() {
    let d = tmp("bad");
    for (name, text, want) in [
        ("fields", "a b 1.0\nc d\n", "line 2"),
        ("score", "a b 1.0\nc d x\n", "line 2: score"),
        ("nan", "a b 1.0\nc d NaN\n", "not finite"),
        ("empty", "# nothing\n\n", "no rated pairs"),
    ] {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let e = read_similarity(&p).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(name), "{e}");
    }
    let e = read_similarity(d.join("missing")).unwrap_err().to_string();
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn flores_roundtrip_feeds_the_method() {
    let d = tmp("flores");
    let text = ParallelText {
        langs: vec!["eng_Latn".into(), "spa_Latn".into()],
        lines: vec![
            vec!["the dog runs".into(), "a cat sleeps".into()],
            vec!["el perro corre".into(), "un gato duerme".into()],
        ],
    };
    write_parallel(&d, &text, "{lang}.devtest").unwrap();
    let back = read_flores(&d, &["eng_Latn", "spa_Latn"]).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back.get("spa_Latn").unwrap()[1], "un gato duerme");
    // mismatched line counts are an error naming the file
    std::fs::write(d.join("spa_Latn.devtest"), "solo una\n").unwrap();
    assert!(read_flores(&d, &["eng_Latn", "spa_Latn"]).is_err());
}
