//! Seeded property test of the CuPL prompt reader (the reader of this crate a user points at
//! their own files): empty, truncated, random and mutated JSON gives a clear error naming the
//! file, or prompt lists that satisfy the reader's promises, never a panic or a hang.

use ember_aape::read_cupl;
use ember_core::testing::{Mutator, run_mutants};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static CASE: AtomicUsize = AtomicUsize::new(0);

#[test]
fn cupl_reader_survives_mutations() {
    let dir = std::env::temp_dir().join(format!("aape-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = vec![
        br#"{"tench": ["A tench is a freshwater fish.", "a photo of a tench"], "goldfish": ["small and orange"]}"#.to_vec(),
        "{\"caf\u{e9}\": [\"une photo \\\"d'un\\\" caf\u{e9}\", \"x\"]}".as_bytes().to_vec(),
    ];
    let mut m = Mutator::new(seeds, 11);
    let o = run_mutants(&mut m, 1_500, Duration::from_secs(5), move |bytes| {
        let p = dir.join(format!("{}.json", CASE.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&p, bytes).unwrap();
        let r = read_cupl(&p);
        let _ = std::fs::remove_file(&p);
        let c = r.map_err(|e| {
            let msg = e.to_string();
            assert!(msg.contains(".json"), "error does not name the file: {msg}");
            msg
        })?;
        assert!(!c.classes.is_empty());
        for (k, v) in &c.classes {
            assert!(!k.trim().is_empty() && !v.is_empty());
            assert!(v.iter().all(|p| !p.trim().is_empty()));
        }
        Ok(())
    });
    println!("cupl: {} accepted, {} rejected", o.accepted, o.rejected);
    assert!(o.accepted > 0 && o.rejected > 0, "{o:?}");
}
