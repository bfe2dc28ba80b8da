//! The JSONL document reader on files the test writes itself.

use ember_soup::{TextDocument, read_jsonl, write_jsonl};

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("soup-jsonl-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn round_trip_and_optional_domain() {
    let p = dir().join("docs.jsonl");
    let docs = vec![
        TextDocument {
            text: "the cat sat".into(),
            domain: Some("pg19".into()),
        },
        TextDocument {
            text: "ünïcode \"quoted\"\nnewline".into(),
            domain: None,
        },
    ];
    write_jsonl(&p, &docs).unwrap();
    assert_eq!(read_jsonl(&p).unwrap(), docs);
    // Hand-written file: extra fields ignored, blank lines skipped, domain optional.
    std::fs::write(
        &p,
        "{\"text\": \"a b\", \"domain\": \"arxiv\", \"meta\": {\"x\": 1}}\n\n{\"text\": \"c\"}\n",
    )
    .unwrap();
    let read = read_jsonl(&p).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].domain.as_deref(), Some("arxiv"));
    assert_eq!(read[1].domain, None);
}

#[test]
fn corrupt_files_are_errors_naming_the_line() {
    let d = dir();
    let p = d.join("bad.jsonl");
    std::fs::write(&p, "{\"text\": \"ok\"}\n{\"text\": 3}\n").unwrap();
    let err = read_jsonl(&p).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
    std::fs::write(&p, "{\"text\": \"ok\"}\nnot json\n").unwrap();
    assert!(read_jsonl(&p).unwrap_err().to_string().contains("line 2"));
    std::fs::write(&p, "{\"domain\": \"x\"}\n").unwrap();
    assert!(read_jsonl(&p).unwrap_err().to_string().contains("line 1"));
    std::fs::write(&p, "\n\n").unwrap();
    assert!(
        read_jsonl(&p)
            .unwrap_err()
            .to_string()
            .contains("no documents")
    );
    assert!(read_jsonl(d.join("missing.jsonl")).is_err());
}

#[test]
fn a_json_array_line_is_not_a_document() {
    // serde accepts a struct's sequence form; the reader must not.
    let p = dir().join("array.jsonl");
    std::fs::write(
        &p,
        "{\"text\": \"ok\"}\n[\"text as an array\", \"domain\"]\n",
    )
    .unwrap();
    let err = read_jsonl(&p).unwrap_err().to_string();
    assert!(
        err.contains("line 2") && err.contains("found a JSON array"),
        "{err}"
    );
    std::fs::write(&p, "\"just a string\"\n").unwrap();
    let err = read_jsonl(&p).unwrap_err().to_string();
    assert!(
        err.contains("line 1") && err.contains("found a JSON string"),
        "{err}"
    );
}
