//! VoxCeleb-style trial lists and speaker/utterance trees, on files the test writes.

use ember_spkver::data::parse_trials;
use ember_spkver::{read_trials, scan_speaker_tree, write_wav};
use std::path::Path;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("spkver-readers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn trial_list_indexes_unique_utterances() {
    let d = dir("trials");
    let p = d.join("trials.txt");
    std::fs::write(
        &p,
        "1 id1/a/1.wav id1/b/2.wav\n0 id1/a/1.wav id2/c/1.wav\n\n# comment\n1 id2/c/1.wav id2/c/2.wav\n",
    )
    .unwrap();
    let t = read_trials(&p).unwrap();
    assert_eq!(t.trials.len(), 3);
    assert_eq!(t.utterances.len(), 4);
    assert_eq!(t.pairs, vec![(0, 1), (0, 2), (2, 3)]);
    assert_eq!(t.labels(), vec![true, false, true]);
}

#[test]
fn trial_list_errors_are_clear() {
    let p = Path::new("t.txt");
    let e = parse_trials("1 a.wav\n", p).unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("2 fields"), "{e}");
    let e = parse_trials("1 a b\nyes a b\n", p).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("label"), "{e}");
    let e = parse_trials("\n# nothing\n", p).unwrap_err().to_string();
    assert!(e.contains("no trials"), "{e}");
    assert!(read_trials("/nonexistent/trials.txt").is_err());
}

#[test]
fn speaker_tree_scan() {
    let d = dir("tree");
    for (sp, sess, utt) in [("id2", "v1", "1"), ("id1", "v1", "2"), ("id1", "v2", "1")] {
        let p = d.join(sp).join(sess);
        std::fs::create_dir_all(&p).unwrap();
        write_wav(p.join(format!("{utt}.wav")), &[0.0; 32], 16_000).unwrap();
    }
    std::fs::write(d.join("id1").join("notes.txt"), "x").unwrap();
    let u = scan_speaker_tree(&d).unwrap();
    let ids: Vec<_> = u.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["id1/v1/2.wav", "id1/v2/1.wav", "id2/v1/1.wav"]);
    assert_eq!(u[2].speaker, "id2");

    // A speaker without audio, a stray file at the top, an empty root, a missing root.
    std::fs::create_dir_all(d.join("id3")).unwrap();
    let e = scan_speaker_tree(&d).unwrap_err().to_string();
    assert!(e.contains("id3") && e.contains("no .wav"), "{e}");
    std::fs::remove_dir(d.join("id3")).unwrap();
    std::fs::write(d.join("stray.wav"), "x").unwrap();
    assert!(
        scan_speaker_tree(&d)
            .unwrap_err()
            .to_string()
            .contains("speaker directory")
    );
    let e = scan_speaker_tree(dir("empty")).unwrap_err().to_string();
    assert!(e.contains("no speaker directories"), "{e}");
    assert!(scan_speaker_tree("/nonexistent/tree").is_err());
}

/// Runs `f` on a thread and fails the test if it does not finish within `secs`.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("did not finish within {secs} s"))
}

#[cfg(unix)]
fn tree_with_one_file(name: &str) -> std::path::PathBuf {
    let d = dir(name);
    std::fs::create_dir_all(d.join("id1").join("v1")).unwrap();
    write_wav(d.join("id1").join("v1").join("1.wav"), &[0.0; 32], 16_000).unwrap();
    d
}

#[cfg(unix)]
fn ids(u: &[ember_spkver::Utterance]) -> Vec<&str> {
    u.iter().map(|u| u.id.as_str()).collect()
}

/// Issue 20.3: one symlink loop listed the same file dozens of times; two made the walk
/// exponential (it never finished).
#[cfg(unix)]
#[test]
fn speaker_tree_with_symlink_loops_lists_each_file_once_and_finishes() {
    for (name, loops) in [
        ("loop1", &[("up", "..")][..]),
        ("loop2", &[("a", "."), ("b", "..")]),
    ] {
        let d = tree_with_one_file(name);
        for (link, target) in loops {
            std::os::unix::fs::symlink(target, d.join("id1").join("v1").join(link)).unwrap();
        }
        let u = within(30, move || scan_speaker_tree(&d).unwrap());
        assert_eq!(ids(&u), ["id1/v1/1.wav"], "{name}");
    }
}

/// Issue 20.3: a dangling link was listed as an utterance.
#[cfg(unix)]
#[test]
fn speaker_tree_with_a_dangling_link_is_an_error() {
    let d = tree_with_one_file("dangling");
    let link = d.join("id1").join("v1").join("2.wav");
    std::os::unix::fs::symlink("/nonexistent/2.wav", &link).unwrap();
    let e = within(30, move || scan_speaker_tree(&d))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2.wav") && e.contains("broken symbolic link"),
        "{e}"
    );
}

/// Issue 20.3: two non-UTF-8 names were mapped to the same utterance id.
#[cfg(unix)]
#[test]
fn speaker_tree_with_non_utf8_names_is_an_error() {
    use std::os::unix::ffi::OsStrExt;
    let d = tree_with_one_file("nonutf8");
    for name in [&b"\xff.wav"[..], b"\xfe.wav"] {
        let p = d.join("id1").join(std::ffi::OsStr::from_bytes(name));
        write_wav(p, &[0.0; 32], 16_000).unwrap();
    }
    let e = within(30, move || scan_speaker_tree(&d))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid UTF-8"), "{e}");
}

/// With `follow_links`, links leaving the tree are followed once each; links back into it,
/// above it, or to an outside directory already listed are not, so loops end.
#[cfg(unix)]
#[test]
fn speaker_tree_following_links_lists_outside_directories_once() {
    use ember_spkver::data::{ScanOptions, scan_speaker_tree_with};
    use std::os::unix::fs::symlink;
    let d = tree_with_one_file("follow");
    let out = dir("follow-outside");
    std::fs::create_dir_all(out.join("spk2").join("s")).unwrap();
    write_wav(out.join("spk2").join("s").join("9.wav"), &[0.0; 32], 16_000).unwrap();
    symlink(&d, out.join("spk2").join("s").join("back")).unwrap();
    symlink(out.join("spk2"), out.join("spk2").join("s").join("again")).unwrap();
    symlink("/", out.join("spk2").join("slash")).unwrap();
    std::fs::create_dir_all(out.join("extra")).unwrap();
    write_wav(out.join("extra").join("8.wav"), &[0.0; 32], 16_000).unwrap();
    symlink(out.join("extra"), out.join("extra").join("loop")).unwrap();
    symlink(out.join("spk2"), d.join("id2")).unwrap();
    symlink(out.join("extra"), d.join("id1").join("v1").join("ext")).unwrap();
    symlink(out.join("extra"), d.join("id1").join("v1").join("ext2")).unwrap();

    let e = scan_speaker_tree(&d).unwrap_err().to_string();
    assert!(e.contains("id2") && e.contains("follow_links"), "{e}");
    let follow = ScanOptions { follow_links: true };
    let u = within(30, move || scan_speaker_tree_with(&d, follow).unwrap());
    // `extra` is listed once, under the first link that reaches it.
    assert_eq!(ids(&u), ["id1/v1/1.wav", "id1/v1/ext/8.wav", "id2/s/9.wav"]);
}
