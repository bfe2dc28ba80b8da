//! `ember_spkver::checkpoint` end to end on the tiny random WavLM fixture
//! (`tests/data/wavlm`, a copy of ember-core's) with a synthetic wav tree and trial list the
//! test writes, and the bad inputs a user can give it. The fixture is random: this checks
//! the plumbing and the report, not speaker verification quality.

mod common;

use common::write_data;
use ember_spkver::wav::write_wav;
use std::path::{Path, PathBuf};

use ember_spkver::checkpoint::{CheckpointSv, HeadTraining, load_encoder, report_header};

fn device() -> burn::prelude::Device {
    ember_core::backend::resolve_device(None).expect("device").1
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wavlm")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ember-spkver-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tiny_heads() -> HeadTraining {
    HeadTraining {
        steps: 6,
        batch: 4,
        crop_frames: 40,
        keep_frames: 80,
        max_train_utterances: 100,
        lr: 1e-3,
        simple_emb: 8,
        xvector: (16, 24, 8),
    }
}

#[test]
fn end_to_end_report_on_the_tiny_wavlm_fixture() {
    let dir = tmp("e2e");
    let (wavs, trials) = write_data(&dir, 5, 3, 3);
    let mut job = CheckpointSv::new(fixture(), &wavs, &trials);
    job.heads = Some(tiny_heads());
    job.batch = 4;
    let inputs = job.read_inputs().unwrap();
    assert_eq!(inputs.trials.utterances.len(), 9);
    assert_eq!(inputs.trials.trials.len(), 36);
    assert_eq!(inputs.n_test_speakers, 3);
    assert_eq!((inputs.train.len(), inputs.n_train_speakers), (6, 2));
    assert!(
        inputs
            .train
            .iter()
            .all(|u| u.speaker == "spk3" || u.speaker == "spk4")
    );

    let res = job.run(&device()).unwrap();
    assert_eq!(res.model_type, "wavlm");
    assert_eq!(res.sample_rate, 16_000);
    assert_eq!(res.layers.len(), res.n_layers + 1);
    assert_eq!((res.n_trials, res.n_target), (36, 9));
    for l in &res.layers {
        assert!((0.0..=1.0).contains(&l.eer), "{l:?}");
        assert!(l.min_dcf_01.is_finite() && l.min_dcf_01 >= 0.0, "{l:?}");
        assert!(l.min_dcf_05.is_finite() && l.min_dcf_05 >= 0.0, "{l:?}");
    }
    assert!(
        res.layers
            .iter()
            .all(|l| l.eer >= res.layers[res.best_layer].eer)
    );
    assert_eq!(res.heads.len(), 2, "{:?}", res.heads_skipped);
    for h in &res.heads {
        assert!((0.0..=1.0).contains(&h.eer), "{h:?}");
        assert!(h.final_loss.is_finite() && h.params > 0, "{h:?}");
        assert_eq!(h.layer_weights.len(), res.n_layers + 1);
        assert!((h.layer_weights.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    }
    assert!(res.heads[0].params < res.heads[1].params);

    let out = dir.join("out");
    let path = res
        .write_report(report_header("test").with_seed(0), &out)
        .unwrap();
    assert!(out.join("report.md").is_file());
    assert!(out.join("sv_layers.png").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(json["eval"], "spkver-checkpoint");
    let metrics = &json["metrics"];
    for k in [
        "best_layer_eer",
        "eer_simple",
        "eer_xvector",
        "trials",
        "train_speakers",
    ] {
        assert!(
            metrics[k].as_f64().is_some_and(f64::is_finite),
            "metric {k} in {metrics}"
        );
    }
    assert_eq!(metrics["trials"].as_f64(), Some(36.0));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Zero-shot speaker verification per hidden state"));
    assert!(md.contains("baseline x-vector"));

    // Zero-shot only, capped: the first 4 utterances are all of speaker 0 and 1.
    let mut job = CheckpointSv::new(fixture(), &wavs, &trials);
    job.max_utterances = Some(4);
    let res = job.run(&device()).unwrap();
    assert_eq!(res.n_test_utterances, 4);
    assert_eq!(res.n_trials, 6);
    assert_eq!(res.dropped_trials, 30);
    assert!(res.heads.is_empty() && res.heads_skipped.is_some());
    std::fs::remove_dir_all(&dir).ok();
}

fn err_of(job: &CheckpointSv) -> String {
    match job.run(&device()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_audio_is_an_error_naming_the_file() {
    let dir = tmp("audio");
    let (wavs, trials) = write_data(&dir, 2, 2, 2);
    let bad = wavs.join("spk1/sess/01.wav");

    // Wrong sample rate.
    write_wav(&bad, &vec![0.1f32; 8_000], 8_000).unwrap();
    let e = err_of(&CheckpointSv::new(fixture(), &wavs, &trials));
    assert!(
        e.contains(&bad.display().to_string()) && e.contains("8000 Hz"),
        "{e}"
    );

    // Stereo.
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&bad, spec).unwrap();
    for _ in 0..8_000 {
        w.write_sample(100i16).unwrap();
    }
    w.finalize().unwrap();
    let e = err_of(&CheckpointSv::new(fixture(), &wavs, &trials));
    assert!(
        e.contains(&bad.display().to_string()) && e.contains("2 channels"),
        "{e}"
    );

    // Shorter than the receptive field.
    write_wav(&bad, &[0.1f32; 10], 16_000).unwrap();
    let e = err_of(&CheckpointSv::new(fixture(), &wavs, &trials));
    assert!(
        e.contains(&bad.display().to_string()) && e.contains("receptive field"),
        "{e}"
    );

    // A model whose preprocessor asks for another rate.
    let model = dir.join("model8k");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture().join(f), model.join(f)).unwrap();
    }
    std::fs::write(
        model.join("preprocessor_config.json"),
        r#"{"do_normalize": true, "sampling_rate": 8000}"#,
    )
    .unwrap();
    assert_eq!(load_encoder(&model, &device()).unwrap().1, 8_000);
    write_wav(&bad, &vec![0.1f32; 8_000], 16_000).unwrap();
    let e = err_of(&CheckpointSv::new(&model, &wavs, &trials));
    assert!(
        e.contains("8000 Hz") && e.contains("16000 Hz") && e.contains("wav"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_trials_and_models_are_errors_naming_the_file() {
    let dir = tmp("inputs");
    let (wavs, trials) = write_data(&dir, 2, 2, 2);

    // A trial naming an utterance that is not in the tree.
    let missing = dir.join("missing.txt");
    std::fs::write(
        &missing,
        "1 spk0/sess/00.wav spk0/sess/01.wav\n0 spk0/sess/00.wav spk9/nope.wav\n",
    )
    .unwrap();
    let e = err_of(&CheckpointSv::new(fixture(), &wavs, &missing));
    assert!(
        e.contains(&missing.display().to_string()) && e.contains("spk9/nope.wav"),
        "{e}"
    );

    // Only target trials: no EER.
    let same = dir.join("same.txt");
    std::fs::write(&same, "1 spk0/sess/00.wav spk0/sess/01.wav\n").unwrap();
    let e = err_of(&CheckpointSv::new(fixture(), &wavs, &same));
    assert!(
        e.contains(&same.display().to_string()) && e.contains("non-target"),
        "{e}"
    );

    // A language-model folder.
    let lm = dir.join("bert");
    std::fs::create_dir_all(&lm).unwrap();
    std::fs::write(
        lm.join("config.json"),
        r#"{"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2}"#,
    )
    .unwrap();
    let e = err_of(&CheckpointSv::new(&lm, &wavs, &trials));
    let cfg = lm.join("config.json");
    assert!(
        e.contains(&cfg.display().to_string()) && e.contains("language model"),
        "{e}"
    );

    // Not a model folder at all.
    let e = err_of(&CheckpointSv::new(dir.join("nothing"), &wavs, &trials));
    assert!(e.contains("config.json") && e.contains("nothing"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
