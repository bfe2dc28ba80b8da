//! The CuPL prompt reader on files the test writes itself: a valid file, a round trip, and
//! every malformed input giving an error that names the file and the problem.

use ember_aape::{parse_cupl, read_cupl, write_cupl};
use std::collections::BTreeMap;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("aape-cupl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn reads_cupl_files_and_lines_classes_up() {
    let dir = tmp("ok");
    let p = dir.join("prompts.json");
    std::fs::write(
        &p,
        r#"{"tench": ["A tench is a fish.", "a photo of a tench"], "goldfish": ["A small orange fish."]}"#,
    )
    .unwrap();
    let c = read_cupl(&p).unwrap();
    assert_eq!(c.classes.len(), 2);
    assert_eq!(c.classes["tench"][1], "a photo of a tench");
    let lists = c
        .for_classes(&["goldfish".to_string(), "tench".to_string()])
        .unwrap();
    assert_eq!(lists[0], vec!["A small orange fish."]);
    assert_eq!(lists[1].len(), 2);
    let e = c
        .for_classes(&["tench".to_string(), "shark".into(), "eel".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shark, eel") && e.contains("prompts.json"),
        "{e}"
    );
    // Round trip.
    let mut m = BTreeMap::new();
    m.insert(
        "a b".to_string(),
        vec!["x".to_string(), "y \"quoted\"".to_string()],
    );
    let q = dir.join("out.json");
    write_cupl(&q, &m).unwrap();
    assert_eq!(read_cupl(&q).unwrap().classes, m);
}

#[test]
fn malformed_files_are_clear_errors() {
    let cases: [(&str, &str); 9] = [
        ("", "not a CuPL prompt file"),
        ("[1, 2]", "not a CuPL prompt file"),
        ("{}", "no classes"),
        (
            r#"{"a": "one string"}"#,
            "class \"a\": expected a list of strings",
        ),
        (r#"{"a": [1]}"#, "class \"a\": expected a list of strings"),
        (r#"{"a": []}"#, "class \"a\" has no prompts"),
        (r#"{"a": ["ok", "  "]}"#, "prompt 1 is empty"),
        (r#"{"a": ["x"], "a": ["y"]}"#, "appears twice"),
        (r#"{"a": ["x"]"#, "not a CuPL prompt file"),
    ];
    for (text, want) in cases {
        let e = parse_cupl(text, "p.json").unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("p.json"), "{text:?}: {e}");
    }
    let dir = tmp("bad");
    let e = read_cupl(dir.join("missing.json")).unwrap_err().to_string();
    assert!(e.contains("missing.json"), "{e}");
    std::fs::write(dir.join("bin.json"), [0xff, 0xfe, 0x00]).unwrap();
    let e = read_cupl(dir.join("bin.json")).unwrap_err().to_string();
    assert!(e.contains("UTF-8") && e.contains("bin.json"), "{e}");
}
