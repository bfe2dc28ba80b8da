//! Log-mel front end against the NumPy reference (`scripts/gen_spkver_fixtures.py`), and WAV
//! input on files the test writes itself.

use ember_spkver::fbank::{Fbank, FbankConfig, hz_to_mel, mel_filters, mel_to_hz};
use ember_spkver::{read_wav, write_wav};
use serde_json::Value;

fn fixtures() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fbank.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn mel_scale_is_htk() {
    assert!((hz_to_mel(700.0) - 2595.0 * 2f64.log10()).abs() < 1e-9);
    assert!((hz_to_mel(1000.0) - 999.985_6).abs() < 1e-3);
    for f in [0.0, 123.0, 4000.0, 7999.0] {
        assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9);
    }
}

#[test]
fn filters_and_log_mel_match_numpy() {
    let fx = fixtures();
    for case in fx["cases"].as_array().unwrap() {
        let cfg: FbankConfig = serde_json::from_value(case["config"].clone()).unwrap();
        let filters = mel_filters(&cfg).unwrap();
        let want_f = case["filters"].as_array().unwrap();
        assert_eq!(filters.len(), want_f.len());
        for (got, want) in filters.iter().zip(want_f) {
            for (g, w) in got.iter().zip(f32s(want)) {
                assert!((g - w).abs() < 1e-5, "filter {g} vs {w}");
            }
        }
        let fb = Fbank::new(cfg).unwrap();
        let out = fb.compute(&f32s(&case["signal"])).unwrap();
        let want = case["log_mel"].as_array().unwrap();
        assert_eq!(out.n_frames, want.len());
        let mut worst = 0f32;
        for (t, row) in want.iter().enumerate() {
            for (g, w) in out.frame(t).iter().zip(f32s(row)) {
                worst = worst.max((g - w).abs() / (1.0 + w.abs()));
            }
        }
        assert!(worst < 1e-4, "worst relative log-mel error {worst}");
    }
}

#[test]
fn fbank_rejects_bad_input() {
    let fb = Fbank::new(FbankConfig::default()).unwrap();
    let err = fb.compute(&[0.0; 100]).unwrap_err().to_string();
    assert!(err.contains("shorter than one"), "{err}");
    let mut x = vec![0.1f32; 1000];
    x[7] = f32::NAN;
    assert!(fb.compute(&x).unwrap_err().to_string().contains("sample 7"));
    let bad = FbankConfig {
        f_max: 9000.0,
        ..FbankConfig::default()
    };
    assert!(Fbank::new(bad).is_err());
    let bad = FbankConfig {
        hop: 0,
        ..FbankConfig::default()
    };
    assert!(Fbank::new(bad).is_err());
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("spkver-frontend-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn wav_roundtrip_and_errors() {
    let x: Vec<f32> = (0..1600).map(|i| 0.5 * (i as f32 * 0.05).sin()).collect();
    let p = tmp("ok.wav");
    write_wav(&p, &x, 16_000).unwrap();
    let y = read_wav(&p, 16_000).unwrap();
    assert_eq!(y.len(), x.len());
    assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-4));

    let err = read_wav(&p, 8_000).unwrap_err().to_string();
    assert!(err.contains("16000 Hz") && err.contains("8000"), "{err}");

    // Stereo file.
    let p2 = tmp("stereo.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&p2, spec).unwrap();
    for _ in 0..200 {
        w.write_sample(100i16).unwrap();
    }
    w.finalize().unwrap();
    let err = read_wav(&p2, 16_000).unwrap_err().to_string();
    assert!(err.contains("2 channels"), "{err}");

    // 32-bit float mono is accepted.
    let p3 = tmp("float.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&p3, spec).unwrap();
    for v in [0.25f32, -0.5] {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(read_wav(&p3, 16_000).unwrap(), vec![0.25, -0.5]);

    // Corrupt and missing files.
    let p4 = tmp("corrupt.wav");
    std::fs::write(&p4, b"RIFF\x00\x00\x00\x00WAVEjunkjunk").unwrap();
    let err = read_wav(&p4, 16_000).unwrap_err().to_string();
    assert!(err.contains("corrupt.wav"), "{err}");
    assert!(read_wav(tmp("missing.wav"), 16_000).is_err());

    // Empty (header only).
    let p5 = tmp("empty.wav");
    write_wav(&p5, &[], 16_000).unwrap();
    assert!(
        read_wav(&p5, 16_000)
            .unwrap_err()
            .to_string()
            .contains("no samples")
    );
}
