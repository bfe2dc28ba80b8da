//! The FOA WAV and caption CSV readers on small files the test writes itself, and every bad
//! input a user can give them.

use ember_spatial_audio::io::{decode_captions, read_captions, read_foa_wav, write_foa_wav};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-sa-readers-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn clip() -> Vec<Vec<f32>> {
    (0..4)
        .map(|c| {
            (0..100)
                .map(|t| ((t * (c + 1)) as f32 * 0.01).sin() * 0.5)
                .collect()
        })
        .collect()
}

#[test]
fn foa_wav_round_trips() {
    let p = tmp("ok.wav");
    write_foa_wav(&p, &clip(), 16000).unwrap();
    let back = read_foa_wav(&p, 16000).unwrap();
    assert_eq!(back, clip());
}

#[test]
fn foa_wav_16_bit_pcm_is_scaled() {
    let p = tmp("pcm16.wav");
    let spec = hound::WavSpec {
        channels: 4,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    for v in [16384i16, -16384, 0, 32767] {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    let x = read_foa_wav(&p, 16000).unwrap();
    assert_eq!(x[0], vec![0.5]);
    assert_eq!(x[1], vec![-0.5]);
    assert_eq!(x[2], vec![0.0]);
}

#[test]
fn foa_wav_errors_are_clear() {
    // Wrong channel count.
    let p = tmp("stereo.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    for _ in 0..20 {
        w.write_sample(0.1f32).unwrap();
    }
    w.finalize().unwrap();
    let e = read_foa_wav(&p, 16000).unwrap_err().to_string();
    assert!(
        e.contains("expected 4 FOA channels") && e.contains("found 2") && e.contains("stereo.wav"),
        "{e}"
    );
    // Wrong rate.
    let p = tmp("rate.wav");
    write_foa_wav(&p, &clip(), 48000).unwrap();
    let e = read_foa_wav(&p, 16000).unwrap_err().to_string();
    assert!(e.contains("16000") && e.contains("48000"), "{e}");
    // Truncated.
    let p = tmp("ok2.wav");
    write_foa_wav(&p, &clip(), 16000).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let q = tmp("cut.wav");
    std::fs::write(&q, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_foa_wav(&q, 16000).unwrap_err().to_string();
    assert!(e.contains("cut.wav"), "{e}");
    // Not a WAV, missing file, NaN samples, mismatched channels on write.
    std::fs::write(tmp("junk.wav"), b"hello world, not a wav").unwrap();
    assert!(
        read_foa_wav(tmp("junk.wav"), 16000)
            .unwrap_err()
            .to_string()
            .contains("not a readable WAV")
    );
    assert!(read_foa_wav(tmp("missing.wav"), 16000).is_err());
    let mut bad = clip();
    bad[2][5] = f32::NAN;
    let p = tmp("nan.wav");
    let spec = hound::WavSpec {
        channels: 4,
        sample_rate: 16000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    for t in 0..100 {
        for ch in &bad {
            w.write_sample(ch[t]).unwrap();
        }
    }
    w.finalize().unwrap();
    assert!(
        read_foa_wav(&p, 16000)
            .unwrap_err()
            .to_string()
            .contains("not finite")
    );
    assert!(write_foa_wav(tmp("x.wav"), &bad[..3], 16000).is_err());
    assert!(write_foa_wav(tmp("y.wav"), &bad, 16000).is_err());
}

#[test]
fn caption_csv_reads_and_rejects() {
    let p = tmp("caps.csv");
    std::fs::write(
        &p,
        "file,caption,extra\na.wav,\"a dog barks, twice\",1\nsub/b.wav,a siren to the left,2\n",
    )
    .unwrap();
    let rows = read_captions(&p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].caption, "a dog barks, twice");
    assert_eq!(rows[1].file, p.parent().unwrap().join("sub/b.wav"));
    let bad = |text: &str| {
        decode_captions(text.as_bytes(), std::path::Path::new("c.csv"))
            .unwrap_err()
            .to_string()
    };
    assert!(bad("name,caption\na,b\n").contains("no `file` column"));
    assert!(bad("file,caption\n").contains("no caption rows"));
    assert!(bad("file,caption\na.wav,\n").contains("line 2: empty"));
    assert!(bad("file,caption\na.wav,x,y,z\n").contains("line 2"));
    assert!(bad("").contains("c.csv"));
}
