//! Seeded property tests of every reader a user can point at their own files: WAV, trial
//! lists and speaker trees. Inputs are empty, truncated, random and mutated versions of valid
//! files the test writes itself (`ember_core::testing`); a reader must return a clear error or
//! a correct result, never panic, hang or allocate a size a header declares before checking it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, recording the largest single request, so a reader that trusts a
/// declared length (`Vec::with_capacity(header.len)`) is caught even where the OS would
/// overcommit the memory.
struct Tracking;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// No single allocation in this test binary may exceed this (inputs are a few KiB).
const MAX_ALLOC: usize = 64 << 20;

fn assert_no_huge_allocation() {
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= MAX_ALLOC,
        "an allocation of {largest} bytes was made for inputs of a few KiB"
    );
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("spkver-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A RIFF chunk with its pad byte.
fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut c = id.to_vec();
    c.extend_from_slice(&(body.len() as u32).to_le_bytes());
    c.extend_from_slice(body);
    if body.len() % 2 == 1 {
        c.push(0);
    }
    c
}

fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = b"WAVE".iter().copied().chain(chunks.concat()).collect();
    let mut f = b"RIFF".to_vec();
    f.extend_from_slice(&(body.len() as u32).to_le_bytes());
    f.extend_from_slice(&body);
    f
}

/// A `fmt ` chunk: format tag, channels, rate, bits per sample (block = channels * bits / 8).
fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut b = Vec::new();
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * block as u32).to_le_bytes());
    b.extend_from_slice(&block.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    chunk(b"fmt ", &b)
}

/// A header declaring a 4 GiB data chunk in a 100-byte file must not allocate 4 GiB.
#[test]
fn wav_declaring_a_4_gib_data_chunk_does_not_allocate_it() {
    let mut bytes = riff(&[fmt(1, 1, 16_000, 16)]);
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    bytes.resize(100, 7);
    let p = tmp("huge-data.wav");
    std::fs::write(&p, &bytes).unwrap();
    let e = ember_spkver::read_wav(&p, 16_000).unwrap_err().to_string();
    assert!(e.contains("huge-data.wav"), "{e}");
    assert_no_huge_allocation();
}

// ---------------------------------------------------------------------------------------------
// WAV

use ember_core::testing::{Mutator, Outcome, run_mutants};
use ember_spkver::data::{ScanOptions, parse_trial_bytes, scan_speaker_tree_with};
use ember_spkver::wav::decode_wav;
use std::path::Path;
use std::time::Duration;

/// The error branch of a reader under test: the message must start with the file's name.
fn rejected(e: ember_core::Error, file: &str) -> Result<(), String> {
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{file}: ")) && msg.len() < 400,
        "{msg}"
    );
    Err(msg)
}

/// Prints the outcome and requires both accepted and rejected inputs (the stream was not
/// all rejected at the first byte), and no huge allocation.
fn report(what: &str, outcome: Outcome, min_accepted: usize, min_rejected: usize) {
    eprintln!("{what}: {outcome:?}");
    assert!(
        outcome.accepted >= min_accepted && outcome.rejected >= min_rejected,
        "{what}: {outcome:?}"
    );
    assert_no_huge_allocation();
}

fn pcm16(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Valid WAV files of every layout the reader accepts (40 samples each, so mutations hit the
/// headers often).
fn wav_seeds() -> Vec<Vec<u8>> {
    let x: Vec<f32> = (0..40).map(|i| 0.6 * (i as f32 * 0.3).sin()).collect();
    let p = tmp("seed16.wav");
    ember_spkver::write_wav(&p, &x, 16_000).unwrap();
    let q: Vec<i16> = x.iter().map(|v| (v * 32767.0) as i16).collect();
    // WAVE_FORMAT_EXTENSIBLE: 24 valid bits in a 32-bit container, PCM sub-format GUID.
    let mut ext_body = fmt(0xfffe, 1, 16_000, 32)[8..].to_vec();
    ext_body.extend_from_slice(&22u16.to_le_bytes());
    ext_body.extend_from_slice(&24u16.to_le_bytes());
    ext_body.extend_from_slice(&4u32.to_le_bytes());
    ext_body.extend_from_slice(&[
        1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71,
    ]);
    let i24_in_32: Vec<u8> = q
        .iter()
        .flat_map(|&s| ((s as i32) << 16).to_le_bytes())
        .collect();
    let f32s: Vec<u8> = x.iter().flat_map(|v| (v * 3.0).to_le_bytes()).collect();
    let f64s: Vec<u8> = x.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
    let u8s: Vec<u8> = x
        .iter()
        .take(39)
        .map(|v| (v * 127.0 + 128.0) as u8)
        .collect();
    let i24: Vec<u8> = q
        .iter()
        .flat_map(|&s| ((s as i32) << 8).to_le_bytes()[..3].to_vec())
        .collect();
    vec![
        std::fs::read(&p).unwrap(),
        riff(&[chunk(b"fmt ", &ext_body), chunk(b"data", &i24_in_32)]),
        riff(&[
            fmt(3, 1, 16_000, 32),
            chunk(b"fact", &[40, 0, 0, 0, 1, 2, 3, 4]),
            chunk(b"data", &f32s),
        ]),
        riff(&[fmt(3, 1, 16_000, 64), chunk(b"data", &f64s)]),
        riff(&[
            fmt(1, 1, 16_000, 8),
            chunk(b"abc ", b"odd"),
            chunk(b"data", &u8s),
            chunk(b"LIST", b"INFOjunk"),
        ]),
        riff(&[fmt(1, 1, 16_000, 24), chunk(b"data", &i24)]),
        riff(&[fmt(1, 1, 16_000, 16), chunk(b"data", &pcm16(&q))]),
    ]
}

#[test]
fn wav_reader_on_empty_truncated_random_and_mutated_files() {
    let seeds = wav_seeds();
    for s in &seeds {
        decode_wav(s, Path::new("seed.wav"), 16_000).expect("every seed is valid");
    }
    let mut m = Mutator::new(seeds, 20);
    let outcome = run_mutants(
        &mut m,
        4000,
        Duration::from_secs(5),
        |bytes: &[u8]| match decode_wav(bytes, Path::new("fuzz.wav"), 16_000) {
            Ok(s) => {
                assert!(
                    !s.is_empty() && s.len() <= bytes.len(),
                    "{} samples",
                    s.len()
                );
                assert!(s.iter().all(|v| v.is_finite()));
                Ok(())
            }
            Err(e) => rejected(e, "fuzz.wav"),
        },
    );
    report("wav", outcome, 200, 1000);
}

// ---------------------------------------------------------------------------------------------
// Trial lists

/// The trials an independent reading of the text expects: non-blank lines not starting with `#`.
fn expected_trial_count(text: &str) -> usize {
    text.trim_start_matches('\u{feff}')
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .count()
}

#[test]
fn trial_list_reader_on_empty_truncated_random_and_mutated_lists() {
    let seeds = vec![
        b"1 id1/a/1.wav id1/b/2.wav\n0 id1/a/1.wav id2/c/1.wav\n".to_vec(),
        b"# VoxCeleb1-O\r\n\r\ntarget  id1/a/1.wav\tid1/b/2.wav\r\nnontarget id2/x.wav id1/a/1.wav\r\n"
            .to_vec(),
        "\u{feff}1 sp\u{e9}aker/\u{e9}t\u{e9}.wav sp\u{e9}aker/2.wav\n   \n0 a b\n1 a a"
            .as_bytes()
            .to_vec(),
    ];
    let mut m = Mutator::new(seeds, 21);
    let path = Path::new("fuzz_trials.txt");
    let outcome = run_mutants(
        &mut m,
        4000,
        Duration::from_secs(5),
        move |bytes: &[u8]| {
            match parse_trial_bytes(bytes, path) {
                Ok(t) => {
                    let text = std::str::from_utf8(bytes).expect("accepted bytes are UTF-8");
                    assert_eq!(t.trials.len(), expected_trial_count(text));
                    assert_eq!(t.pairs.len(), t.trials.len());
                    for (tr, &(e, s)) in t.trials.iter().zip(&t.pairs) {
                        assert_eq!(t.utterances[e], tr.enroll);
                        assert_eq!(t.utterances[s], tr.test);
                    }
                    let unique: std::collections::HashSet<_> = t.utterances.iter().collect();
                    assert_eq!(unique.len(), t.utterances.len());
                    // Written back out, the list reads the same.
                    let out: String = t
                        .trials
                        .iter()
                        .map(|tr| format!("{} {} {}\n", u8::from(tr.target), tr.enroll, tr.test))
                        .collect();
                    assert_eq!(parse_trial_bytes(out.as_bytes(), path).unwrap(), t);
                    Ok(())
                }
                Err(e) => rejected(e, "fuzz_trials.txt"),
            }
        },
    );
    report("trial lists", outcome, 500, 500);
}

// ---------------------------------------------------------------------------------------------
// Speaker trees

/// A random tree built from a byte program, and what a correct scan returns for it.
#[cfg(unix)]
struct Tree {
    root: std::path::PathBuf,
    /// Utterance ids a scan without following links must return (real `.wav` files and links
    /// to files, outside hidden directories).
    ids: std::collections::BTreeSet<String>,
    /// Something that must make every scan fail: a top-level entry that is not a directory, a
    /// broken link, a non-UTF-8 name on the way to audio, a speaker without audio, no speaker.
    bad: Vec<String>,
}

/// Interprets `program` as (op, arg) byte pairs that create directories, `.wav` and other
/// files, links to ancestors (loops), dangling links, non-UTF-8 names, hidden directories,
/// links to files and links to a directory outside the tree (which links back and to itself).
#[cfg(unix)]
fn build_tree(program: &[u8], base: &Path) -> Tree {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let mut cwd: Vec<String> = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut real_wavs: Vec<std::path::PathBuf> = Vec::new();
    let mut bad = Vec::new();
    let mut speakers = std::collections::BTreeMap::<String, usize>::new();
    for op in program.chunks_exact(2) {
        let (op, arg) = (op[0] % 12, op[1]);
        let dir = cwd.iter().fold(root.clone(), |p, c| p.join(c));
        let top = cwd.is_empty();
        match op {
            0 | 1 if cwd.len() < 5 => {
                let name = format!("{}{}", if top { "s" } else { "d" }, arg % 4);
                std::fs::create_dir_all(dir.join(&name)).unwrap();
                if top {
                    speakers.entry(name.clone()).or_insert(0);
                }
                cwd.push(name);
            }
            2 => {
                cwd.pop();
            }
            3 | 4 => {
                let name = format!("u{}.wav", arg % 5);
                std::fs::write(dir.join(&name), b"RIFF").unwrap();
                real_wavs.push(dir.join(&name));
                record_wav(&cwd, &name, &mut ids, &mut speakers, &mut bad);
            }
            5 => {
                std::fs::write(dir.join(format!("n{}.txt", arg % 3)), b"x").unwrap();
                if top {
                    bad.push("top-level text file".into());
                }
            }
            6 => {
                // A loop: a link to `.`, `..`, ... (never above the root).
                let up = usize::from(arg) % (cwd.len() + 1);
                let target = if up == 0 {
                    ".".to_string()
                } else {
                    vec![".."; up].join("/")
                };
                if symlink(&target, dir.join(format!("l{}", arg % 3))).is_ok() && top {
                    bad.push("top-level link into the tree".into());
                }
            }
            7 => {
                let name = format!("x{}{}", arg % 3, if arg % 2 == 0 { ".wav" } else { "" });
                if symlink("/nonexistent/target", dir.join(name)).is_ok() {
                    bad.push("dangling link".into());
                }
            }
            8 => {
                let name: &[u8] = [&b"\xff.wav"[..], b"\xfedir", b"\xfd.txt"][usize::from(arg % 3)];
                let p = dir.join(OsStr::from_bytes(name));
                match arg % 3 {
                    0 => std::fs::write(p, b"RIFF").unwrap(),
                    1 => std::fs::create_dir_all(p).unwrap(),
                    _ => std::fs::write(p, b"x").unwrap(),
                }
                if top || arg % 3 != 2 {
                    bad.push("non-UTF-8 name".into());
                }
            }
            9 => {
                let h = dir.join(format!(".h{}", arg % 2));
                std::fs::create_dir_all(&h).unwrap();
                std::fs::write(h.join("hidden.wav"), b"RIFF").unwrap();
                let _ = symlink("/nonexistent", h.join("dangling.wav"));
            }
            10 if !real_wavs.is_empty() => {
                let target = &real_wavs[usize::from(arg) % real_wavs.len()];
                let name = format!("f{}.wav", arg % 3);
                if symlink(target, dir.join(&name)).is_ok() {
                    record_wav(&cwd, &name, &mut ids, &mut speakers, &mut bad);
                }
            }
            11 => {
                let o = outside.join(format!("o{}", arg % 2));
                if !o.exists() {
                    std::fs::create_dir_all(o.join("sub")).unwrap();
                    std::fs::write(o.join("sub").join("w.wav"), b"RIFF").unwrap();
                    symlink(&root, o.join("back")).unwrap();
                    symlink(&o, o.join("sub").join("again")).unwrap();
                }
                if symlink(&o, dir.join(format!("o{}", arg % 3))).is_ok() && top {
                    bad.push("top-level directory link (without following)".into());
                }
            }
            _ => {}
        }
    }
    if speakers.is_empty() {
        bad.push("no speakers".into());
    }
    for (s, n) in speakers {
        if n == 0 {
            bad.push(format!("speaker {s} without audio"));
        }
    }
    Tree { root, ids, bad }
}

/// Notes a `.wav` file (or link to one) created in `cwd`: an expected id, or a bad tree at the
/// top level.
#[cfg(unix)]
fn record_wav(
    cwd: &[String],
    name: &str,
    ids: &mut std::collections::BTreeSet<String>,
    speakers: &mut std::collections::BTreeMap<String, usize>,
    bad: &mut Vec<String>,
) {
    match cwd.first() {
        None => bad.push(format!("top-level file {name}")),
        Some(speaker) => {
            ids.insert(format!("{}/{name}", cwd.join("/")));
            *speakers.get_mut(speaker).unwrap() += 1;
        }
    }
}

#[cfg(unix)]
#[test]
fn speaker_tree_scan_on_random_trees_with_loops_and_bad_names() {
    use std::sync::atomic::AtomicUsize;
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir().join(format!("spkver-fuzz-trees-{}", std::process::id()));
    // Valid programs: two speakers with sessions and files, one with loops, hidden entries,
    // links to files and to a directory outside the tree.
    let seeds = vec![
        vec![0, 0, 0, 1, 3, 0, 3, 1, 2, 0, 2, 0, 0, 1, 3, 2],
        vec![
            0, 2, 3, 0, 6, 0, 6, 1, 0, 0, 3, 1, 6, 2, 9, 0, 5, 1, 10, 0, 11, 0,
        ],
        vec![
            0, 0, 3, 0, 0, 1, 8, 2, 3, 1, 11, 1, 11, 2, 10, 1, 2, 0, 2, 0, 0, 3, 3, 4,
        ],
    ];
    for (k, seed) in seeds.iter().enumerate() {
        let dir = base.join(format!("seed{k}"));
        let tree = build_tree(seed, &dir);
        assert!(tree.bad.is_empty(), "seed {k}: {:?}", tree.bad);
        let plain = scan_speaker_tree_with(&tree.root, ScanOptions::default());
        let follow = scan_speaker_tree_with(&tree.root, ScanOptions { follow_links: true });
        check_scans(&tree, plain, follow).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let mut m = Mutator::new(seeds, 22);
    let outcome = run_mutants(
        &mut m,
        600,
        Duration::from_secs(10),
        move |program: &[u8]| {
            let dir = base.join(CASE.fetch_add(1, Ordering::Relaxed).to_string());
            let tree = build_tree(program, &dir);
            let plain = scan_speaker_tree_with(&tree.root, ScanOptions::default());
            let follow = scan_speaker_tree_with(&tree.root, ScanOptions { follow_links: true });
            let result = check_scans(&tree, plain, follow);
            std::fs::remove_dir_all(&dir).unwrap();
            result
        },
    );
    report("speaker trees", outcome, 100, 100);
}

#[cfg(unix)]
fn check_scans(
    tree: &Tree,
    plain: ember_core::Result<Vec<ember_spkver::Utterance>>,
    follow: ember_core::Result<Vec<ember_spkver::Utterance>>,
) -> Result<(), String> {
    let root = tree.root.display().to_string();
    match (&plain, tree.bad.is_empty()) {
        (Ok(u), true) => {
            let got: std::collections::BTreeSet<_> = u.iter().map(|u| u.id.clone()).collect();
            assert_eq!(got.len(), u.len(), "an utterance listed twice");
            assert_eq!(got, tree.ids);
        }
        (Err(e), false) => assert!(e.to_string().contains(&root), "{e}"),
        (Ok(_), false) => panic!("accepted a tree with {:?}", tree.bad),
        (Err(e), true) => panic!("refused a valid tree: {e}"),
    }
    match &follow {
        Ok(u) => {
            let mut canonical = std::collections::HashSet::new();
            for (i, x) in u.iter().enumerate() {
                assert!(i == 0 || u[i - 1].id < x.id, "not sorted or listed twice");
                let rel = x.path.strip_prefix(&tree.root).unwrap();
                assert_eq!(rel.to_str().unwrap(), x.id);
                assert_eq!(x.id.split('/').next().unwrap(), x.speaker);
                let meta = std::fs::metadata(&x.path).unwrap();
                assert!(meta.is_file());
                // Apart from links to files, no file is reached twice.
                if !std::fs::symlink_metadata(&x.path).unwrap().is_symlink() {
                    let c = std::fs::canonicalize(&x.path).unwrap();
                    assert!(canonical.insert(c), "{} reached twice", x.id);
                }
                let through_link = x.id.split('/').any(|c| c.starts_with('o'));
                assert!(
                    tree.ids.contains(&x.id) || through_link,
                    "{} unexpected",
                    x.id
                );
            }
            if plain.is_ok() {
                let got: std::collections::BTreeSet<_> = u.iter().map(|u| u.id.clone()).collect();
                assert!(got.is_superset(&tree.ids));
            }
        }
        Err(e) => {
            assert!(plain.is_err(), "only the scan following links failed: {e}");
            assert!(e.to_string().contains(&root), "{e}");
        }
    }
    plain.map(|_| ()).map_err(|e| e.to_string())
}
