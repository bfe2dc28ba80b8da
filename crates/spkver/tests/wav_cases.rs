//! `read_wav` against soundfile (libsndfile) on the edge cases written by
//! `scripts/gen_wav_cases.py` into `tests/data/wav_cases/` (committed; CI needs no Python).
//!
//! Every case that ember accepts must decode to exactly the samples soundfile returns (as f32);
//! the cases ember refuses by design (stereo, a sample rate other than the one asked for) must
//! fail with a message naming the file and the reason.

use ember_spkver::read_wav;
use std::path::{Path, PathBuf};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wav_cases")
}

fn reference(name: &str) -> Vec<f64> {
    let bytes = std::fs::read(cases_dir().join(format!("{name}.ref.f64"))).unwrap();
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn read_wav_matches_soundfile_on_every_case() {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cases_dir().join("cases.json")).unwrap())
            .unwrap();
    let cases = manifest.as_object().unwrap();
    assert!(cases.len() >= 18, "cases.json lists {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, case) in cases {
        let path = cases_dir().join(format!("{name}.wav"));
        let expect = case["expect"].as_str().unwrap();
        let got = read_wav(&path, 16_000);
        match (expect.strip_prefix("error: "), got) {
            (None, Ok(samples)) => {
                let want = reference(name);
                let bad = samples.iter().zip(&want).position(|(&a, &b)| a != b as f32);
                if samples.len() != want.len() || bad.is_some() {
                    let i = bad.unwrap_or(0);
                    failures.push(format!(
                        "{name}: {} samples (want {}), first difference at {i}: {:?} vs {:?}",
                        samples.len(),
                        want.len(),
                        samples.get(i),
                        want.get(i)
                    ));
                }
            }
            (None, Err(e)) => failures.push(format!("{name}: refused: {e}")),
            (Some(_), Ok(_)) => failures.push(format!("{name}: accepted, want {expect:?}")),
            (Some(want), Err(e)) => {
                let e = e.to_string();
                if !e.contains(want) || !e.contains(&format!("{name}.wav")) {
                    failures.push(format!("{name}: error {e:?} does not say {want:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Floats are returned as stored (like soundfile), not clipped to [-1, 1].
#[test]
fn float_samples_outside_unit_range_are_returned_as_stored() {
    for name in ["wav_float", "wav_double", "wavex_float"] {
        let got = read_wav(cases_dir().join(format!("{name}.wav")), 16_000).unwrap();
        assert_eq!(got[11], 1000.0, "{name}");
        assert_eq!(got[7], -3.75, "{name}");
    }
}
