//! Head training goes through ember-core's Trainer: a finished run restores from its
//! checkpoint on `resume`, and a NaN in the features stops training with a clear error.

use burn::module::Module;
use ember_spkver::LayerFeatures;
use ember_spkver::heads::{SimpleHeadConfig, SpeakerHead};
use ember_spkver::train::{HeadTrainConfig, embed_all, train_head};
use std::sync::Mutex;

static RNG: Mutex<()> = Mutex::new(());

fn feats(nan: bool) -> (Vec<LayerFeatures>, Vec<usize>) {
    let mut out = Vec::new();
    let mut labels = Vec::new();
    for u in 0..8 {
        let spk = u % 2;
        let mut data: Vec<f32> = (0..2 * 12 * 4)
            .map(|i| ((i * 31 + u * 7) % 13) as f32 * 0.1 + spk as f32)
            .collect();
        if nan && u == 3 {
            data.iter_mut().for_each(|v| *v = f32::NAN);
        }
        out.push(LayerFeatures {
            data,
            n_layers: 2,
            n_frames: 12,
            dim: 4,
        });
        labels.push(spk);
    }
    (out, labels)
}

fn cfg(dir: &std::path::Path, resume: bool) -> HeadTrainConfig {
    HeadTrainConfig {
        steps: 6,
        batch: 4,
        crop_frames: 8,
        lr: 1e-2,
        scale: 30.0,
        margin: 0.4,
        seed: 1,
        dir: Some(dir.to_path_buf()),
        resume,
        progress: false,
    }
}

#[test]
fn resume_restores_and_nan_stops() {
    let _g = RNG.lock().unwrap();
    let device = ember_core::backend::resolve_device(None).unwrap().1;
    let ad = device.clone().autodiff();
    let dir = std::env::temp_dir().join(format!("spkver-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, y) = feats(false);
    let all: Vec<usize> = (0..f.len()).collect();
    ad.seed(0);
    let (h1, curve) = train_head(
        SimpleHeadConfig::new(2, 4, 3, 2).init(&ad),
        &f,
        &y,
        &all,
        &cfg(&dir, false),
        &ad,
    )
    .unwrap();
    assert!(!curve.is_empty());
    let e1 = embed_all(&h1.valid(), &f, &device).unwrap();
    // A fresh head resumed from the finished run's checkpoint is the trained head.
    ad.seed(42);
    let (h2, _) = train_head(
        SimpleHeadConfig::new(2, 4, 3, 2).init(&ad),
        &f,
        &y,
        &all,
        &cfg(&dir, true),
        &ad,
    )
    .unwrap();
    let e2 = embed_all(&h2.valid(), &f, &device).unwrap();
    assert_eq!(e1, e2);
    assert!(h2.head_params() > 0);

    let dir2 = dir.join("nan");
    let (fnan, y) = feats(true);
    let only_nan = vec![3usize];
    let err = train_head(
        SimpleHeadConfig::new(2, 4, 3, 2).init(&ad),
        &fnan,
        &y,
        &only_nan,
        &cfg(&dir2, false),
        &ad,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("non-finite loss"), "{err}");
    // Mismatched labels and an unusable subset are errors too.
    assert!(
        train_head(
            SimpleHeadConfig::new(2, 4, 3, 2).init(&ad),
            &f,
            &y[..3],
            &all,
            &cfg(&dir2, false),
            &ad
        )
        .is_err()
    );
    let short = HeadTrainConfig {
        crop_frames: 50,
        ..cfg(&dir2, false)
    };
    assert!(
        train_head(
            SimpleHeadConfig::new(2, 4, 3, 2).init(&ad),
            &f,
            &y,
            &all,
            &short,
            &ad
        )
        .is_err()
    );
}
