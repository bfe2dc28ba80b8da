//! Bad input gets a clear error (empty or untokenisable prompts, too-long prompts, mismatched
//! class lists, pixel counts, labels, class-specific context on other classes, NaN images),
//! and prompt learning checkpoints and resumes through ember-core's `Trainer`.

use burn::prelude::*;
use ember_aape::{
    AapeConfig, AttrWorld, ClassTextSpec, ClassTexts, CoOp, Domain, Features, FramedPrompts,
    LearnConfig, LearnInputs, Learned, Method, SmallClip, SmallClipConfig, WorldConfig, train,
};

fn dev() -> Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

fn setup() -> (AttrWorld, SmallClip, ClassTexts, Features) {
    let dev = dev();
    let w = AttrWorld::new(
        WorldConfig {
            classes: 4,
            attributes: 6,
            side: 8,
            under_represented: 0,
            prompts_per_class: 3,
            ..WorldConfig::default()
        },
        3,
    )
    .unwrap();
    let tok = w.tokenizer();
    dev.seed(1);
    let clip = SmallClipConfig {
        vocab_size: tok.vocab_size(),
        embed_dim: 8,
        text_width: 8,
        text_layers: 1,
        max_tokens: 16,
        channels: vec![4],
    }
    .init(&dev)
    .unwrap();
    let names: Vec<String> = (0..2).map(AttrWorld::class_word).collect();
    let templates: Vec<String> = (0..2).map(AttrWorld::template).collect();
    let d = w.descriptions(&mut ember_core::seed::Seed::new(1).rng());
    let descriptions: Vec<Vec<String>> = names.iter().map(|n| d[n].clone()).collect();
    let spec = ClassTextSpec {
        names: &names,
        templates: &templates,
        descriptions: &descriptions,
        n_ctx: 4,
    };
    let texts = ClassTexts::build(&clip, &tok, &spec, &dev).unwrap();
    let im = w.render(
        &[0, 1],
        3,
        Domain::InDistribution,
        &mut ember_core::seed::Seed::new(2).rng(),
    );
    let f = Features::encode(&clip, &im.pixels, im.side, im.labels.clone(), 4, &dev).unwrap();
    (w, clip, texts, f)
}

fn learn(steps: usize) -> LearnConfig {
    LearnConfig {
        steps,
        batch: 4,
        lr: 1e-2,
        seed: 0,
        n_ctx: 4,
        ctx_init: Some("a photo of a".into()),
        checkpoint_every: 2,
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dev = dev();
    let (w, clip, texts, f) = setup();
    let tok = w.tokenizer();
    let e = FramedPrompts::frame(&tok, &[], 0, 16).unwrap_err();
    assert!(e.to_string().contains("no prompts"), "{e}");
    let e = FramedPrompts::frame(&tok, &["a photo of a zebra".into()], 0, 16).unwrap_err();
    assert!(e.to_string().contains("\"zebra\""), "{e}");
    let e = FramedPrompts::frame(&tok, &["  ".into()], 0, 16).unwrap_err();
    assert!(e.to_string().contains("no tokens"), "{e}");
    let long = vec!["a photo of a thing with attr01 and attr02 and attr03 and attr04".to_string()];
    let e = FramedPrompts::frame(&tok, &long, 4, 16).unwrap_err();
    assert!(e.to_string().contains("text tower takes 16"), "{e}");
    // Mismatched class lists and empty description lists.
    let names = vec!["cls00".to_string()];
    let e = ClassTexts::build(
        &clip,
        &tok,
        &ClassTextSpec {
            names: &names,
            templates: &[],
            descriptions: &[vec!["a photo".into()]],
            n_ctx: 4,
        },
        &dev,
    )
    .unwrap_err();
    assert!(e.to_string().contains("1 classes, 0 templates"), "{e}");
    let e = ClassTexts::build(
        &clip,
        &tok,
        &ClassTextSpec {
            names: &names,
            templates: &["a photo of a cls00".into()],
            descriptions: &[vec![]],
            n_ctx: 4,
        },
        &dev,
    )
    .unwrap_err();
    assert!(e.to_string().contains("has no descriptions"), "{e}");
    // Pixels that are not a whole number of images; NaN images.
    let e = Features::encode(&clip, &[0.0; 100], 8, vec![0], 4, &dev).unwrap_err();
    assert!(e.to_string().contains("100 pixel values"), "{e}");
    let e = Features::encode(&clip, &[f32::NAN; 192], 8, vec![0], 4, &dev).unwrap_err();
    assert!(e.to_string().contains("image features"), "{e}");
    // Labels outside the training classes; an empty training set.
    let ad = dev.clone().autodiff();
    let clip_ad = burn::module::Module::fork(clip.clone(), &ad);
    let texts_ad = texts.to_device(&ad);
    let mut bad = f.clone();
    bad.labels[0] = 5;
    let inputs = LearnInputs {
        model: &clip_ad,
        tok: &tok,
        texts: &texts_ad,
        data: &bad,
        scale: 10.0,
    };
    let m = Method::Aape(AapeConfig::default());
    let e = train(&m, &inputs, &learn(2), None, &ad).unwrap_err();
    assert!(e.to_string().contains("label 5 out of range"), "{e}");
    let empty = f.filter(&vec![false; f.len()]);
    let inputs = LearnInputs {
        data: &empty,
        ..inputs
    };
    let e = train(&m, &inputs, &learn(2), None, &ad).unwrap_err();
    assert!(e.to_string().contains("no training images"), "{e}");
    let e = train(
        &m,
        &inputs,
        &LearnConfig {
            lr: f64::NAN,
            ..learn(2)
        },
        None,
        &ad,
    )
    .unwrap_err();
    assert!(e.to_string().contains("lr"), "{e}");
    // Class-specific context cannot classify another number of classes.
    let ctx = Tensor::<2>::zeros([4, 8], &dev);
    let cs = CoOp::new(ctx, Some(3));
    let e = cs.class_weights(&clip, &texts).unwrap_err();
    assert!(e.to_string().contains("3 classes cannot classify 2"), "{e}");
    // A bad AAPE configuration.
    let e = AapeConfig {
        lambda: -1.0,
        ..AapeConfig::default()
    }
    .validate()
    .unwrap_err();
    assert!(e.to_string().contains("lambda"), "{e}");
}

#[test]
fn prompt_learning_checkpoints_and_resumes() {
    let dev = dev();
    let (w, clip, texts, f) = setup();
    let tok = w.tokenizer();
    let ad = dev.clone().autodiff();
    let clip_ad = burn::module::Module::fork(clip.clone(), &ad);
    let texts_ad = texts.to_device(&ad);
    let inputs = LearnInputs {
        model: &clip_ad,
        tok: &tok,
        texts: &texts_ad,
        data: &f,
        scale: 10.0,
    };
    let dir = std::env::temp_dir().join(format!("aape-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let m = Method::CoOp {
        class_specific: false,
    };
    let ctx = |l: &Learned| match l {
        Learned::CoOp(c) => ember_core::ops::to_host(c.ctx.val()).unwrap(),
        _ => unreachable!(),
    };
    // A 4-step run checkpoints at steps 2 and 4; rolling LATEST back to step 2 simulates an
    // interruption there, and the resumed run must end where an uninterrupted one does.
    let straight = train(&m, &inputs, &learn(4), Some(&dir), &ad).unwrap();
    assert!(dir.join("ckpt-00000002").is_dir() && dir.join("ckpt-00000004").is_dir());
    std::fs::remove_dir_all(dir.join("ckpt-00000004")).unwrap();
    std::fs::write(dir.join("LATEST"), "ckpt-00000002").unwrap();
    // A random initial context: only a run that really resumes ends at `straight`.
    let resumed_cfg = LearnConfig {
        ctx_init: None,
        ..learn(4)
    };
    let resumed = train(&m, &inputs, &resumed_cfg, Some(&dir), &ad).unwrap();
    let fresh = train(&m, &inputs, &learn(2), None, &ad).unwrap();
    assert_ne!(ctx(&fresh), ctx(&straight));
    let (a, b) = (ctx(&resumed), ctx(&straight));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
