//! Seeded property test of the JSONL document reader (see `ember_core::testing`): empty,
//! truncated, random and mutated files give a clear error or documents, never a panic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ember_core::testing::{Mutator, run_mutants};
use ember_soup::{TextDocument, read_jsonl, write_jsonl};

#[test]
fn jsonl_files() {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!("soup-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let docs = vec![
        TextDocument {
            text: "the cat sat".into(),
            domain: Some("pg19".into()),
        },
        TextDocument {
            text: "ünïcode \"quoted\"\nnewline".into(),
            domain: None,
        },
        TextDocument {
            text: "x".repeat(40),
            domain: Some("arxiv".into()),
        },
    ];
    let seed_path = d.join("seed.jsonl");
    write_jsonl(&seed_path, &docs).unwrap();
    let seed = std::fs::read(&seed_path).unwrap();
    let mut m = Mutator::new(vec![seed], 9);
    let dir = d.clone();
    let o = run_mutants(&mut m, 400, Duration::from_secs(10), move |bytes| {
        let p = dir.join(format!("m{}.jsonl", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&p, bytes).unwrap();
        let r = read_jsonl(&p);
        let _ = std::fs::remove_file(&p);
        let docs = r.map_err(|e| {
            let msg = e.to_string();
            assert!(
                msg.contains(".jsonl"),
                "error does not name the file: {msg}"
            );
            msg
        })?;
        // Whatever is read is a non-empty list of documents, each one line of the file.
        assert!(!docs.is_empty());
        assert!(docs.len() <= bytes.split(|&b| b == b'\n').count());
        Ok(())
    });
    eprintln!("jsonl: {} accepted, {} rejected", o.accepted, o.rejected);
    assert!(o.accepted > 0 && o.rejected > 0, "{o:?}");
    let _ = std::fs::remove_dir_all(&d);
}
