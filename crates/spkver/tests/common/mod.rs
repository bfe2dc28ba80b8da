//! Test data shared by spkver's integration tests: a speaker tree of synthetic WAVs and its
//! trial list, written into a folder the test owns.

use std::path::{Path, PathBuf};

use ember_spkver::synth::{CorpusConfig, generate_corpus};
use ember_spkver::wav::write_wav;

/// `speakers` synthetic speakers × `utts` utterances of 0.4 s at 16 kHz as
/// `root/spk{s}/sess/{u}.wav`; the first `test_speakers` speakers form the trial list
/// (every pair of their utterances). Returns (wav root, trial list path).
pub fn write_data(
    dir: &Path,
    speakers: usize,
    utts: usize,
    test_speakers: usize,
) -> (PathBuf, PathBuf) {
    let corpus = generate_corpus(&CorpusConfig {
        speakers,
        utts_per_speaker: utts,
        duration_s: (0.4, 0.4),
        snr_db: (20.0, 30.0),
        sample_rate: 16_000,
        seed: 7,
    })
    .unwrap();
    let root = dir.join("wav");
    let mut ids = Vec::new();
    let mut count = vec![0usize; speakers];
    for (a, &s) in corpus.audio.iter().zip(&corpus.speakers) {
        let id = format!("spk{s}/sess/{:02}.wav", count[s]);
        count[s] += 1;
        let p = root.join(&id);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_wav(&p, a, 16_000).unwrap();
        if s < test_speakers {
            ids.push((s, id));
        }
    }
    let mut lines = String::from("# label enroll test\n");
    for i in 0..ids.len() {
        for j in i + 1..ids.len() {
            let t = u8::from(ids[i].0 == ids[j].0);
            lines.push_str(&format!("{t} {} {}\n", ids[i].1, ids[j].1));
        }
    }
    let trials = dir.join("trials.txt");
    std::fs::write(&trials, lines).unwrap();
    (root, trials)
}
