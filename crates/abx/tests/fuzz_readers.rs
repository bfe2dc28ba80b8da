//! Seeded property tests of every reader a user can point at their own files (`.npy`,
//! ZeroSpeech item files, ZeroSpeech feature folders): empty, truncated, random and mutated
//! inputs give a clear error naming the file or a correct result, never a panic, a hang, or an
//! allocation of a declared size before it is checked against the bytes actually present.
//! Plus the regression tests of issue 20 ("Hardening").
//!
//! A counting global allocator records the largest single allocation of the reading thread,
//! so "allocates what the header declares" is caught even when the reader then fails cleanly.

use ember_abx::ParallelEmbeddings;
use ember_abx::npy::{parse_npy, read_npy, write_npy};
use ember_abx::{load_zerospeech, read_item_file};
mod common;

use common::{header, npy, write_items};
use ember_core::testing::{CountingAlloc, Mutator, Outcome, largest_alloc, run_mutants};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------------------------
// Helpers.

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-abx-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const LIMIT: Duration = Duration::from_secs(5);

fn report(name: &str, o: Outcome) {
    println!("{name}: {} accepted, {} rejected", o.accepted, o.rejected);
    assert!(
        o.accepted > 0,
        "{name}: nothing accepted, the seeds are not valid"
    );
    assert!(
        o.rejected > 0,
        "{name}: nothing rejected, the mutations did nothing"
    );
}

/// The error of a reader as the property test's `Err`, after checking it names `file`.
fn named_err(e: ember_core::Error, file: &str) -> String {
    let msg = e.to_string();
    assert!(msg.contains(file), "error does not name {file}: {msg}");
    msg
}

// ---------------------------------------------------------------------------------------------
// Regression tests of issue 20, point 1: unchecked size arithmetic.

#[test]
fn npy_huge_declared_shape_with_empty_body_is_an_error() {
    // 2^62 float32 values: 2^64 bytes wraps to 0 = the empty body.
    let bytes = npy(1, &header("<f4", false, "(4611686018427387904,)"), &[]);
    let e = parse_npy(&bytes, Path::new("huge.npy")).unwrap_err();
    assert!(e.to_string().contains("huge.npy"), "{e}");
    // 2^61 × 8 float64 values, the product wraps in i64 too.
    let bytes = npy(
        1,
        &header("<f8", false, "(2305843009213693952, 8)"),
        &[0u8; 16],
    );
    assert!(parse_npy(&bytes, Path::new("wrap.npy")).is_err());
}

#[test]
fn zerospeech_huge_declared_features_are_an_error_not_a_panic() {
    let dir = tmp("zs-huge");
    std::fs::write(
        dir.join("f.npy"),
        npy(1, &header("<f4", false, "(4611686018427387904, 1)"), &[]),
    )
    .unwrap();
    let items = write_items(&dir, &["f 0.0 0.02 a x y s"]);
    let e = load_zerospeech(&items, &dir, 100.0).unwrap_err();
    assert!(e.to_string().contains("f.npy"), "{e}");
}

#[test]
fn zerospeech_zero_width_features_are_an_error_not_a_panic() {
    let dir = tmp("zs-zero-width");
    write_npy(dir.join("f.npy"), &[10, 0], &[]).unwrap();
    let items = write_items(&dir, &["f 0.0 0.02 a x y s"]);
    let e = load_zerospeech(&items, &dir, 100.0).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("f.npy") && msg.contains("width"), "{msg}");
}

#[test]
fn parallel_embeddings_size_overflow_is_an_error() {
    // 2 × 2^62 × 4 = 2^65 wraps to 0, the length of the empty data.
    let e = ParallelEmbeddings::new(vec!["a".into(), "b".into()], 1 << 62, 4, Vec::new());
    assert!(e.is_err());
    let e = ParallelEmbeddings::new(vec!["a".into(), "b".into()], 2, usize::MAX, Vec::new());
    assert!(e.is_err());
}

// ---------------------------------------------------------------------------------------------
// Regression tests of issue 20, point 2: `.npy` header semantics as in NumPy (the full table is
// `tests/npy_cases.rs`, against files written by NumPy).

#[test]
fn npy_duplicate_key_takes_the_last_value_as_numpy_does() {
    let body: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let h = "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), 'descr': '<f4'}";
    let a = parse_npy(&npy(1, h, &body), Path::new("dup.npy")).unwrap();
    assert_eq!(a.data, vec![1.0, 2.0]);
}

#[test]
fn npy_big_endian_integers_f16_and_trailing_bytes_load_as_numpy_loads_them() {
    let p = Path::new("x.npy");
    let be: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let a = parse_npy(&npy(1, &header(">f4", false, "(2,)"), &be), p).unwrap();
    assert_eq!(a.data, vec![1.5, -2.0]);
    let i: Vec<u8> = [-3i16, 300].iter().flat_map(|v| v.to_be_bytes()).collect();
    let a = parse_npy(&npy(1, &header(">i2", false, "(2,)"), &i), p).unwrap();
    assert_eq!(a.data, vec![-3.0, 300.0]);
    let a = parse_npy(&npy(1, &header("|u1", false, "(2,)"), &[7, 255]), p).unwrap();
    assert_eq!(a.data, vec![7.0, 255.0]);
    // f16 1.0 = 0x3c00, -0.5 = 0xb800
    let a = parse_npy(
        &npy(1, &header("<f2", false, "(2,)"), &[0x00, 0x3c, 0x00, 0xb8]),
        p,
    )
    .unwrap();
    assert_eq!(a.data, vec![1.0, -0.5]);
    let a = parse_npy(&npy(1, &header("|b1", false, "(3,)"), &[0, 1, 2]), p).unwrap();
    assert_eq!(a.data, vec![0.0, 1.0, 1.0]);
    let mut trailing = npy(1, &header("<f4", false, "(1,)"), &4.0f32.to_le_bytes());
    trailing.extend_from_slice(b"\0trailing");
    assert_eq!(parse_npy(&trailing, p).unwrap().data, vec![4.0]);
    // Fortran order is transposed into C order.
    let f: Vec<u8> = [0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = parse_npy(&npy(1, &header("<f4", true, "(2, 3)"), &f), p).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

// ---------------------------------------------------------------------------------------------
// Property tests.

/// Valid `.npy` seeds covering every header form the reader supports.
fn npy_seeds() -> Vec<Vec<u8>> {
    let dir = tmp("npy-seeds");
    let p = dir.join("w.npy");
    write_npy(&p, &[3, 2], &[1.5, -2.0, 3.25, 0.0, 5.0, 6.0]).unwrap();
    let written = std::fs::read(&p).unwrap();
    let f8be: Vec<u8> = [0.5f64, -1e-3, 7.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let i2: Vec<u8> = [-3i16, 300, 7, 8]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    vec![
        written,
        npy(2, &header(">f8", false, "(3,)"), &f8be),
        npy(1, &header("<i2", true, "(2, 2)"), &i2),
        npy(1, &header("|u1", false, "(2, 1, 2)"), &[1, 2, 3, 4]),
        npy(1, &header("<f2", false, "()"), &[0x00, 0x3c]),
        npy(
            1,
            "{'shape': (2,), \"descr\": '|b1', 'fortran_order': False, 'shape': (3,)}",
            &[0, 1, 2],
        ),
    ]
}

#[test]
fn npy_reader_survives_mutations() {
    let mut m = Mutator::new(npy_seeds(), 20);
    let o = run_mutants(&mut m, 20_000, LIMIT, |bytes| {
        let (r, largest) = largest_alloc(|| parse_npy(bytes, Path::new("m.npy")));
        // The output is at most 4 bytes per input byte (u1 → f32); everything else is small.
        assert!(
            largest <= 4 * bytes.len() + 4096,
            "allocated {largest} bytes for a {}-byte input",
            bytes.len()
        );
        let a = r.map_err(|e| named_err(e, "m.npy"))?;
        let count: usize = a.shape.iter().product();
        assert_eq!(a.data.len(), count, "shape {:?}", a.shape);
        Ok(())
    });
    report("npy", o);
}

fn zs_item_seeds() -> Vec<Vec<u8>> {
    vec![
        b"#file onset offset #phone prev next speaker\nf 0.0 0.03 a x y s1\ng 0.01 0.05 b a x s2\n"
            .to_vec(),
        b"#file onset offset #phone prev next speaker\n\nf 0.02 0.09 b SIL a s1\nf 0.0 1e-2 a b SIL s1\n\ng 0 0.1 a a a s2\n"
            .to_vec(),
    ]
}

/// A feature folder with `f.npy` [10, 2] and `g.npy` [8, 2] at 100 Hz.
fn zs_features(dir: &Path) {
    let f: Vec<f32> = (0..20).map(|v| v as f32).collect();
    write_npy(dir.join("f.npy"), &[10, 2], &f).unwrap();
    write_npy(dir.join("g.npy"), &[8, 2], &f[..16]).unwrap();
}

static CASE: AtomicUsize = AtomicUsize::new(0);

/// A fresh sub-folder per case (cases run on their own threads).
fn case_dir(root: &Path) -> PathBuf {
    let d = root.join(CASE.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn zerospeech_item_file_reader_survives_mutations() {
    let root = tmp("zs-items");
    zs_features(&root);
    let mut m = Mutator::new(zs_item_seeds(), 21);
    let feats = root.clone();
    let o = run_mutants(&mut m, 3_000, LIMIT, move |bytes| {
        let d = case_dir(&feats);
        let items = d.join("m.item");
        std::fs::write(&items, bytes).unwrap();
        let lines = read_item_file(&items).map_err(|e| named_err(e, "m.item"))?;
        for l in &lines {
            assert!(l.onset >= 0.0 && l.offset > l.onset && l.offset.is_finite());
        }
        let (ds, largest) = largest_alloc(|| load_zerospeech(&items, &feats, 100.0));
        assert!(largest < 1 << 20, "allocated {largest} bytes");
        let ds = ds.map_err(|e| e.to_string())?;
        assert_eq!(ds.len(), lines.len());
        assert_eq!(ds.dim(), 2);
        for i in 0..ds.len() {
            assert!(ds.n_frames(i) >= 1 && ds.frames(i).len() == 2 * ds.n_frames(i));
        }
        let _ = std::fs::remove_dir_all(&d);
        Ok(())
    });
    report("zerospeech items", o);
}

#[test]
fn zerospeech_feature_folder_survives_mutations() {
    let root = tmp("zs-feats");
    let seeds_dir = root.join("seeds");
    std::fs::create_dir_all(&seeds_dir).unwrap();
    zs_features(&seeds_dir);
    let mut seeds = npy_seeds();
    seeds.push(std::fs::read(seeds_dir.join("f.npy")).unwrap());
    let mut m = Mutator::new(seeds, 22);
    let o = run_mutants(&mut m, 3_000, LIMIT, move |bytes| {
        let d = case_dir(&root);
        std::fs::write(d.join("f.npy"), bytes).unwrap();
        let items = write_items(&d, &["f 0.0 0.03 a x y s1", "f 0.01 0.02 b x y s1"]);
        let (ds, largest) = largest_alloc(|| load_zerospeech(&items, &d, 100.0));
        assert!(
            largest <= 4 * bytes.len() + (1 << 16),
            "allocated {largest} bytes for a {}-byte file",
            bytes.len()
        );
        let ds = ds.map_err(|e| e.to_string())?;
        assert_eq!(ds.len(), 2);
        let _ = std::fs::remove_dir_all(&d);
        Ok(())
    });
    report("zerospeech features", o);
}

#[test]
fn item_file_names_stay_inside_the_feature_folder() {
    let dir = tmp("zs-escape");
    zs_features(&dir);
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    for name in ["../f", "/etc/passwd", "sub/../../f"] {
        let items = write_items(&dir, &[&format!("{name} 0.0 0.02 a x y s")]);
        let e = load_zerospeech(&items, &sub, 100.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("items.item") && e.contains(name), "{e}");
    }
}

#[test]
fn features_that_are_not_regular_files_are_errors() {
    let dir = tmp("zs-notfile");
    std::fs::create_dir_all(dir.join("d.npy")).unwrap();
    let e = read_npy(dir.join("d.npy")).unwrap_err().to_string();
    assert!(e.contains("d.npy"), "{e}");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/dev/zero", dir.join("z.npy")).unwrap();
        let e = read_npy(dir.join("z.npy")).unwrap_err().to_string();
        assert!(e.contains("z.npy") && e.contains("regular file"), "{e}");
    }
}
