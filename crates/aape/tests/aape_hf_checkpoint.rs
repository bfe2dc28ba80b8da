//! The prompt learners on a loaded Hugging Face CLIP (the tiny random fixture in
//! `tests/data/clip`): the dual-encoder contract reproduces the model's own text features,
//! and the `--model DIR` runner trains and scores zero-shot, CuPL, CoOp and AAPE on an
//! ImageFolder and a CuPL file the test writes itself; mismatched inputs are clear errors.

use burn::prelude::*;
use ember_aape::checkpoint::CheckpointAape;
use ember_aape::{DualEncoder, FramedPrompts, HfPromptTokenizer, l2n};
use ember_core::pretrained::Clip;
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/clip")
}

fn dev() -> Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aape-hf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn contract_reproduces_clip_text_features() {
    let dev = dev();
    let clip = Clip::from_dir(model_dir(), &dev).unwrap();
    let tok = HfPromptTokenizer::from_dir(model_dir(), &clip).unwrap();
    let texts = vec![
        "a photo of a red square .".to_string(),
        "a blue thing".to_string(),
    ];
    let f = FramedPrompts::frame(&tok, &texts, 0, clip.max_tokens()).unwrap();
    assert_eq!(f.ids[0], 98);
    assert_eq!(f.ids[f.eot[0]], 99);
    let ours = l2n(DualEncoder::text_features(&clip, f.tensor(&dev), &f.eot).unwrap());
    let pixels = Tensor::<4>::zeros([1, 3, 32, 32], &dev);
    let theirs = clip.forward(pixels, f.tensor(&dev)).unwrap().text_embeds;
    ours.into_data().assert_approx_eq::<f32>(
        &theirs.into_data(),
        burn::tensor::Tolerance::rel_abs(1e-5, 1e-5),
    );
    assert!(clip.logit_scale().unwrap() > 1.0);
    // Splicing context past the tower's 16 positions is refused.
    let e = FramedPrompts::frame(&tok, &texts, 12, clip.max_tokens()).unwrap_err();
    assert!(e.to_string().contains("text tower takes 16"), "{e}");
}

fn write_data(root: &Path) -> PathBuf {
    let colors = [
        ("blue", [20u8, 40, 230]),
        ("dark", [30, 30, 30]),
        ("green", [20, 200, 40]),
        ("red", [220, 30, 30]),
    ];
    for (k, (name, c)) in colors.iter().enumerate() {
        let d = root.join("images").join(name);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..4u8 {
            let img = RgbImage::from_fn(36, 32, |x, y| {
                let v = ((x + y + i as u32 * 3 + k as u32) % 7) as u8 * 4;
                Rgb([
                    c[0].saturating_add(v),
                    c[1].saturating_add(v),
                    c[2].saturating_add(v),
                ])
            });
            img.save(d.join(format!("{i}.png"))).unwrap();
        }
    }
    let p = root.join("prompts.json");
    std::fs::write(
        &p,
        r#"{"blue": ["a blue thing", "a photo of a blue square"],
            "dark": ["a dark thing with dark color"],
            "green": ["a green thing", "a green shape with stripes", "green dots"],
            "red": ["a red thing which is bright", "red"]}"#,
    )
    .unwrap();
    p
}

#[test]
fn runner_trains_and_scores_on_a_loaded_clip() {
    let root = tmp("run");
    let prompts = write_data(&root);
    let mut job = CheckpointAape::new(model_dir(), root.join("images"), &prompts);
    job.shots = 2;
    job.learn.steps = 3;
    job.learn.batch = 4;
    job.learn.checkpoint_every = 2;
    let r = job.run(&root.join("out"), &dev()).unwrap();
    assert_eq!(r.base_classes, vec!["blue", "dark"]);
    assert_eq!(r.novel_classes, vec!["green", "red"]);
    assert_eq!((r.train_images, r.test_images), (4, 12));
    assert_eq!(r.methods.len(), 4);
    for m in &r.methods {
        for a in [m.base, m.novel, m.hm] {
            assert!((0.0..=1.0).contains(&a), "{m:?}");
        }
    }
    let path = r.write_report(&root.join("out")).unwrap();
    assert!(path.is_file());
}

#[test]
fn mismatched_inputs_are_clear_errors() {
    let root = tmp("bad");
    let prompts = write_data(&root);
    std::fs::write(&prompts, r#"{"blue": ["a blue thing"], "red": ["red"]}"#).unwrap();
    let e = CheckpointAape::new(model_dir(), root.join("images"), &prompts)
        .run(&root.join("out"), &dev())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dark, green") && e.contains("prompts.json"),
        "{e}"
    );
    // A model folder without tokenizer.json.
    let m = root.join("model");
    std::fs::create_dir_all(&m).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(model_dir().join(f), m.join(f)).unwrap();
    }
    let e = CheckpointAape::new(&m, root.join("images"), &prompts)
        .run(&root.join("out"), &dev())
        .unwrap_err()
        .to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
    // Too many shots: no base image left to test on.
    let mut job = CheckpointAape::new(model_dir(), root.join("images"), root.join("prompts.json"));
    write_data(&root);
    job.shots = 4;
    let e = job.run(&root.join("out"), &dev()).unwrap_err().to_string();
    assert!(e.contains("no base-class images left"), "{e}");
}
