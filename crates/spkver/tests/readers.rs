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
