//! The `.npy` reader and the ZeroSpeech item-file loader on files the test writes itself,
//! including corrupt and mismatched inputs.

mod common;

use common::{header, npy, write_items};
use ember_abx::engine::Subsample;
use ember_abx::npy::{parse_npy, read_npy, write_npy};
use ember_abx::zerospeech::frame_range;
use ember_abx::{Distance, load_zerospeech, read_item_file, score, zerospeech_task};
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-abx-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A `.npy` file written byte by byte the way NumPy does (`np.save`), version `major`.
fn npy_bytes(major: u8, descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
    npy(major, &header(descr, false, shape), body)
}

#[test]
fn npy_versions_and_dtypes() {
    let p = Path::new("x.npy");
    let f32s: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = parse_npy(&npy_bytes(1, "<f4", "(3, 2)", &f32s), p).unwrap();
    assert_eq!(a.shape, vec![3, 2]);
    assert_eq!(a.data, vec![1.5, -2.0, 3.25, 0.0, 5.0, 6.0]);
    let f64s: Vec<u8> = [0.5f64, 1e-3]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let b = parse_npy(&npy_bytes(2, "<f8", "(2,)", &f64s), p).unwrap();
    assert_eq!(b.shape, vec![2]);
    assert_eq!(b.data, vec![0.5, 1e-3f64 as f32]);
    // round trip through our writer
    let dir = tmp("npy");
    write_npy(dir.join("r.npy"), &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let r = read_npy(dir.join("r.npy")).unwrap();
    assert_eq!(
        (r.shape, r.data),
        (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert!(write_npy(dir.join("bad.npy"), &[2, 2], &[1.0]).is_err());
}

#[test]
fn npy_corrupt_files_are_clear_errors() {
    let p = Path::new("c.npy");
    let body: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let msg = |b: &[u8]| parse_npy(b, p).unwrap_err().to_string();
    assert!(msg(b"not numpy at all").contains("magic"));
    assert!(msg(&npy_bytes(1, "<f4", "(3,)", &body)).contains("bytes"));
    assert!(msg(&npy_bytes(1, "<c8", "(1,)", &body)).contains("dtype"));
    assert!(msg(&npy_bytes(1, "<f3", "(1,)", &body)).contains("dtype"));
    // Big-endian, integer and Fortran-order files are read as NumPy reads them
    // (tests/npy_cases.rs checks them against NumPy).
    let be: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(
        parse_npy(&npy_bytes(1, ">f4", "(2,)", &be), p)
            .unwrap()
            .data,
        vec![1.0, 2.0]
    );
    let mut fortran = npy_bytes(1, "<f4", "(2,)", &body);
    let at = fortran.windows(5).position(|w| w == b"False").unwrap();
    fortran[at..at + 5].copy_from_slice(b"True ");
    let f = parse_npy(&fortran, p).unwrap();
    assert_eq!((f.shape, f.data), (vec![2], vec![1.0, 2.0]));
    let mut truncated = npy_bytes(1, "<f4", "(2,)", &body);
    truncated.truncate(20);
    assert!(msg(&truncated).contains("truncated"));
    let mut v9 = npy_bytes(1, "<f4", "(2,)", &body);
    v9[6] = 9;
    assert!(msg(&v9).contains("version"));
    assert!(read_npy("/nonexistent/x.npy").is_err());
}

#[test]
fn item_file_and_features_give_a_dataset() {
    let dir = tmp("zs");
    // two files at 100 Hz, 2-dim features: frame t of file f = [f, t]
    for (f, name) in ["s1_a", "s2_b"].iter().enumerate() {
        let data: Vec<f32> = (0..50).flat_map(|t| [f as f32 + 1.0, t as f32]).collect();
        write_npy(dir.join(format!("{name}.npy")), &[50, 2], &data).unwrap();
    }
    let mut lines = Vec::new();
    let mut owned = Vec::new();
    for (k, (file, spk)) in [("s1_a", "spk1"), ("s2_b", "spk2")].iter().enumerate() {
        for i in 0..8 {
            let phone = if i % 2 == 0 { "a" } else { "b" };
            let on = 0.05 * i as f64;
            owned.push(format!(
                "{file} {on:.3} {:.3} {phone} x y {spk}",
                on + 0.03 + 0.001 * k as f64
            ));
        }
    }
    lines.extend(owned.iter().map(String::as_str));
    let items = write_items(&dir, &lines);
    let parsed = read_item_file(&items).unwrap();
    assert_eq!(parsed.len(), 16);
    assert_eq!(parsed[1].phone, "b");
    let ds = load_zerospeech(&items, &dir, 100.0).unwrap();
    assert_eq!(ds.len(), 16);
    // item 0: 0.000–0.030 s -> frames 0..3
    assert_eq!(ds.n_frames(0), 3);
    assert_eq!(ds.frames(0), &[1.0, 0.0, 1.0, 1.0, 1.0, 2.0]);
    assert_eq!(frame_range(0.05, 0.08, 100.0, 50), (5, 8));
    assert_eq!(frame_range(0.055, 0.081, 100.0, 50), (5, 9));
    for across in [false, true] {
        let (task, levels) = zerospeech_task(across, Subsample::zerospeech(0));
        let s = score(&ds, &task, Distance::Euclidean).unwrap();
        let lv: Vec<&[&str]> = levels.iter().map(|v| v.as_slice()).collect();
        let e = s.collapse(&lv).unwrap();
        assert!((0.0..=1.0).contains(&e));
    }
}

#[test]
fn bad_zerospeech_inputs() {
    let dir = tmp("zs-bad");
    write_npy(dir.join("f.npy"), &[10, 2], &[0.5; 20]).unwrap();
    write_npy(dir.join("g.npy"), &[10, 3], &[0.5; 30]).unwrap();
    let err = |lines: &[&str]| {
        load_zerospeech(write_items(&dir, lines), &dir, 100.0)
            .unwrap_err()
            .to_string()
    };
    assert!(load_zerospeech(write_items(&dir, &["f 0.0 0.02 a x y s"]), &dir, 100.0).is_ok());
    assert!(err(&["f 0.0 0.02 a x y"]).contains("7 fields"));
    assert!(err(&["f zero 0.02 a x y s"]).contains("not a number"));
    assert!(err(&["f 0.05 0.02 a x y s"]).contains("onset"));
    assert!(err(&["missing 0.0 0.02 a x y s"]).contains("missing.npy"));
    assert!(err(&["f 0.0 0.02 a x y s", "g 0.0 0.02 b x y s"]).contains("width"));
    assert!(err(&["f 0.5 0.6 a x y s"]).contains("no frame"));
    std::fs::write(dir.join("noheader.item"), "f 0 0.02 a x y s\n").unwrap();
    assert!(
        read_item_file(dir.join("noheader.item"))
            .unwrap_err()
            .to_string()
            .contains("header")
    );
    std::fs::write(dir.join("h.npy"), b"\x93NUMPY garbage").unwrap();
    assert!(err(&["h 0.0 0.02 a x y s"]).contains("h.npy"));
    assert!(load_zerospeech(write_items(&dir, &["f 0.0 0.02 a x y s"]), &dir, 0.0).is_err());
}
