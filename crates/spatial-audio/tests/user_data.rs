//! Acceptance F: `eval-spatial-audio --data DIR [--model DIR]` runs ELSA on a user's FOA WAV
//! folder and caption CSV, with ember's Transformer or the loaded `bert` fixture as the text
//! tower; bad input (a CSV row naming an absent file, a stereo WAV, too few files) gives a
//! clear error.

use ember_core::data::tokenizer::{Tokenizer, TokenizerConfig};
use ember_core::eval::{EvalArgs, EvalRun};
use ember_spatial_audio::experiment::user_data::{self, UserDataPlan};
use ember_spatial_audio::foa::{Direction, encode_signal};
use ember_spatial_audio::io::write_foa_wav;
use std::path::{Path, PathBuf};

const CAPTIONS: [&str; 3] = [
    "a high tone from the left",
    "a low hum from the right",
    "a noise burst in front",
];

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-sa-user-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Twelve 0.25 s FOA clips of three kinds at three directions, and their `captions.csv`.
fn user_folder(name: &str) -> PathBuf {
    let dir = tmp(name);
    std::fs::create_dir_all(dir.join("audio")).unwrap();
    let mut csv = String::from("file,caption\n");
    for i in 0..12 {
        let kind = i % 3;
        let s: Vec<f32> = (0..4000)
            .map(|t| {
                let x = t as f32 / 16000.0;
                match kind {
                    0 => (2.0 * std::f32::consts::PI * 2000.0 * x).sin() * 0.3,
                    1 => (2.0 * std::f32::consts::PI * 150.0 * x).sin() * 0.3,
                    _ => ((t * 7919 + i * 104729) % 1000) as f32 / 1000.0 - 0.5,
                }
            })
            .collect();
        let az = [90.0, -90.0, 0.0][kind] + i as f64;
        let foa = encode_signal(&s, Direction::new(az, 0.0));
        let file = format!("audio/clip{i:02}.wav");
        write_foa_wav(dir.join(&file), &foa, 16000).unwrap();
        csv.push_str(&format!("{file},{}\n", CAPTIONS[kind]));
    }
    std::fs::write(dir.join("captions.csv"), csv).unwrap();
    dir
}

fn tiny_args(out: &Path) -> EvalArgs {
    EvalArgs::new(out).with_device("flex").with_set([
        "steps=4",
        "batch=6",
        "clip_s=0.25",
        "d_text=8",
        "text_layers=1",
        "d_embed=8",
        "checkpoint_every=2",
        "heldout_fraction=0.34",
    ])
}

fn check_report(out: &Path) {
    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for k in ["a2t", "t2a"] {
        for r in [1, 5, 10] {
            let key = format!("user_{k}_r{r}");
            let x = v["metrics"][&key].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&x), "{key}: {x} in {text}");
        }
    }
}

#[test]
fn runs_on_user_folder_with_and_without_bert() {
    let data = user_folder("data");
    // ember's Transformer as the text tower.
    let out = tmp("out-ember");
    let args = tiny_args(&out);
    let (run, plan) = EvalRun::start::<UserDataPlan>(&args, "spatial-audio-user").unwrap();
    let report = user_data::run(&run, &plan, &data, None).unwrap();
    assert!(report.claims.iter().all(|c| c.ours.is_finite()));
    run.finish(report).unwrap();
    check_report(&out);
    assert!(out.join("user").is_dir(), "no checkpoint folder");

    // The loaded BERT fixture with an ember word tokenizer inside its vocabulary of 120.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf/bert");
    let model = tmp("bert");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture.join(f), model.join(f)).unwrap();
    }
    let cfg = TokenizerConfig {
        max_vocab: 100,
        ..TokenizerConfig::default()
    };
    Tokenizer::fit(CAPTIONS, &cfg)
        .unwrap()
        .save(model.join("tokenizer.json"))
        .unwrap();
    let out = tmp("out-bert");
    let args = tiny_args(&out);
    let (run, plan) = EvalRun::start::<UserDataPlan>(&args, "spatial-audio-user").unwrap();
    let report = user_data::run(&run, &plan, &data, Some(&model)).unwrap();
    run.finish(report).unwrap();
    check_report(&out);
    assert!(
        std::fs::read_to_string(out.join("report.json"))
            .unwrap()
            .contains("loaded checkpoint")
    );

    // Without tokenizer.json the error names it.
    std::fs::remove_file(model.join("tokenizer.json")).unwrap();
    let e = format!(
        "{:#}",
        user_data::run(&run, &plan, &data, Some(&model)).unwrap_err()
    );
    assert!(e.contains("tokenizer.json"), "{e}");
    for d in [data, model, out] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn bad_user_data_gives_clear_errors() {
    let plan = UserDataPlan {
        clip_s: 0.25,
        ..<UserDataPlan as ember_core::eval::Plan>::for_scale(ember_core::eval::Scale::Quick)
    };
    let seed = ember_core::seed::Seed::new(0);
    let err = |dir: &Path| format!("{:#}", user_data::load(dir, &plan, seed).unwrap_err());

    // A CSV row naming a file that is not there: the error names the line and the file.
    let dir = user_folder("bad-row");
    let mut csv = std::fs::read_to_string(dir.join("captions.csv")).unwrap();
    csv.push_str("audio/missing.wav,a ghost\n");
    std::fs::write(dir.join("captions.csv"), &csv).unwrap();
    let e = err(&dir);
    assert!(e.contains("line 14") && e.contains("missing.wav"), "{e}");

    // The binary reports it and exits non-zero, without a panic.
    let out = tmp("bad-row-out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_eval-spatial-audio"))
        .args(["--device", "flex", "--data"])
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains("missing.wav") && !stderr.contains("panicked"),
        "{stderr}"
    );

    // An empty-caption row.
    std::fs::write(
        dir.join("captions.csv"),
        "file,caption\naudio/clip00.wav,\n",
    )
    .unwrap();
    assert!(err(&dir).contains("empty file name or caption"));
    // A header-only CSV.
    std::fs::write(dir.join("captions.csv"), "file,caption\n").unwrap();
    assert!(err(&dir).contains("no caption rows"));
    // Too few files to split.
    std::fs::write(
        dir.join("captions.csv"),
        "file,caption\naudio/clip00.wav,a\naudio/clip01.wav,b\n",
    )
    .unwrap();
    assert!(err(&dir).contains("at least 4"), "{}", err(&dir));
    // A stereo WAV among the files: the error names it and the channel count.
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join("audio/clip03.wav"), spec).unwrap();
    for _ in 0..800 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let mut rows = String::from("file,caption\n");
    for i in 0..6 {
        rows.push_str(&format!("audio/clip{i:02}.wav,{}\n", CAPTIONS[i % 3]));
    }
    std::fs::write(dir.join("captions.csv"), rows).unwrap();
    let e = err(&dir);
    assert!(
        e.contains("clip03.wav") && e.contains("4 FOA channels"),
        "{e}"
    );
    // No caption file, and not a folder.
    std::fs::remove_file(dir.join("captions.csv")).unwrap();
    assert!(err(&dir).contains("captions.csv"));
    assert!(err(&dir.join("nope")).contains("not a folder"));
    for d in [dir, out] {
        let _ = std::fs::remove_dir_all(d);
    }
}
