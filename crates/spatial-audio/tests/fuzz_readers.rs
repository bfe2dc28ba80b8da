//! Seeded property test of the FOA WAV and caption CSV readers: empty, truncated, random and
//! mutated files give an error or a well-formed result, never a panic, a hang or a huge
//! allocation.

use ember_core::testing::{Mutator, run_mutants};
use std::path::Path;
use std::time::Duration;

fn wav_bytes() -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 4,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
    for i in 0..64i16 {
        w.write_sample(i * 100).unwrap();
    }
    w.finalize().unwrap();
    cur.into_inner()
}

#[test]
fn foa_wav_never_panics() {
    let mut m = Mutator::new(vec![wav_bytes()], 23);
    let out = run_mutants(&mut m, 800, Duration::from_secs(5), |bytes| {
        match ember_spatial_audio::io::decode_foa_wav(bytes, Path::new("f.wav"), 16000) {
            Ok(ch) => {
                assert!(
                    ch.len() == 4 && ch.iter().all(|c| c.len() == ch[0].len() && !c.is_empty())
                );
                assert!(ch.iter().flatten().all(|v| v.is_finite()));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    });
    assert!(out.accepted > 0 && out.rejected > 0, "{out:?}");
}

#[test]
fn caption_csv_never_panics() {
    let seeds = vec![b"file,caption\na.wav,a dog barks\nb.wav,\"quoted, with comma\"\n".to_vec()];
    let mut m = Mutator::new(seeds, 29);
    let out = run_mutants(&mut m, 800, Duration::from_secs(5), |bytes| {
        match ember_spatial_audio::io::decode_captions(bytes, Path::new("c.csv")) {
            Ok(rows) => {
                assert!(rows.iter().all(|r| !r.caption.is_empty()));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    });
    assert!(out.accepted > 0 && out.rejected > 0, "{out:?}");
}
