//! flex, ndarray and wgpu (when compiled in) agree on this crate's models and losses: the
//! small CLIP's contrastive loss and gradient norm, CoOp's class weights and CoCoOp's logits
//! through its text tower, and AAPE's task, distillation and reward losses. Weights move
//! between backends through burnpack files; tolerance 2e-4 relative + absolute.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Tolerance;
use ember_aape::dual::DualEncoder;
use ember_aape::learners::init_context;
use ember_aape::{
    AapeConfig, AttrWorld, ClassTextSpec, ClassTexts, CoCoOp, CoOp, Domain, FramedPrompts,
    PromptTokenizer, SmallClip, SmallClipConfig, WorldConfig,
};
use ember_core::backend::parity_devices;
use ember_core::train::global_grad_norm;

fn tol() -> Tolerance<f32> {
    Tolerance::rel_abs(2e-4, 2e-4)
}

fn world() -> AttrWorld {
    AttrWorld::new(
        WorldConfig {
            classes: 6,
            attributes: 8,
            side: 8,
            under_represented: 2,
            prompts_per_class: 3,
            ..WorldConfig::default()
        },
        1,
    )
    .unwrap()
}

fn clip_cfg(w: &AttrWorld) -> SmallClipConfig {
    SmallClipConfig {
        vocab_size: w.tokenizer().vocab_size(),
        embed_dim: 16,
        text_width: 16,
        text_layers: 1,
        max_tokens: 16,
        channels: vec![4, 8],
    }
}

struct Outputs {
    clip_loss: Tensor<1>,
    grad_norm: f64,
    coop: Tensor<2>,
    cocoop: Tensor<2>,
    aape: [Tensor<1>; 3],
}

fn run(w: &AttrWorld, dir: &std::path::Path, dev: &Device) -> Outputs {
    let ad = dev.clone().autodiff();
    let tok = w.tokenizer();
    let clip: SmallClip = clip_cfg(w)
        .init(&ad)
        .unwrap()
        .load_file(dir.join("clip.bpk"));
    let mut rng = ember_core::seed::Seed::new(5).rng();
    let im = w.render(&[0, 1, 2], 2, Domain::InDistribution, &mut rng);
    let caps: Vec<String> = (0..im.len())
        .map(|i| {
            w.caption(
                im.labels[i],
                &im.present[i],
                &mut ember_core::seed::Seed::new(i as u64).rng(),
            )
        })
        .collect();
    let f = FramedPrompts::frame(&tok as &dyn PromptTokenizer, &caps, 0, 16).unwrap();
    let s = im.side;
    let x = Tensor::<1>::from_data(TensorData::new(im.pixels.clone(), [im.pixels.len()]), &ad)
        .reshape([im.len(), 3, s, s]);
    let loss = clip
        .contrastive_loss(x.clone(), f.tensor(&ad), &f.eot)
        .unwrap();
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &clip);
    let grad_norm = global_grad_norm(&clip, &grads);
    let clip = clip.valid();
    let x = x.to_device(dev).detach();
    let names: Vec<String> = (0..3).map(AttrWorld::class_word).collect();
    let templates: Vec<String> = (0..3).map(AttrWorld::template).collect();
    let descr = w.descriptions(&mut ember_core::seed::Seed::new(2).rng());
    let descriptions: Vec<Vec<String>> = names.iter().map(|n| descr[n].clone()).collect();
    let texts = ClassTexts::build(
        &clip,
        &tok,
        &ClassTextSpec {
            names: &names,
            templates: &templates,
            descriptions: &descriptions,
            n_ctx: 4,
        },
        dev,
    )
    .unwrap();
    let ctx = init_context(&clip, &tok, Some("a photo of a"), 4, dev).unwrap();
    let coop = CoOp::new(ctx.clone(), None)
        .class_weights(&clip, &texts)
        .unwrap();
    let feats = clip.image_features(x).unwrap();
    let cocoop: CoCoOp = CoCoOp::new(ctx, 16, dev).load_file(dir.join("cocoop.bpk"));
    let cocoop = cocoop.logits(&clip, &texts, feats.clone(), 20.0).unwrap();
    let aape = AapeConfig::default()
        .init(16, dev)
        .unwrap()
        .load_file(dir.join("aape.bpk"));
    let l = aape
        .losses(feats, &[0, 0, 1, 1, 2, 2], &texts, 20.0, 0.07)
        .unwrap();
    Outputs {
        clip_loss: loss.to_device(dev),
        grad_norm,
        coop,
        cocoop,
        aape: [l.task, l.distill, l.reward],
    }
}

#[test]
fn backends_agree() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let w = world();
    let dir = std::env::temp_dir().join(format!("ember-aape-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d0 = &devices[0].1;
    d0.seed(3);
    clip_cfg(&w)
        .init(d0)
        .unwrap()
        .save_file(dir.join("clip.bpk"))
        .unwrap();
    let ctx = Tensor::<2>::zeros([4, 16], d0);
    let mut cc = CoCoOp::new(ctx, 16, d0);
    // A non-zero meta-net output so the image conditioning is exercised.
    cc.meta2.bias = cc.meta2.bias.map(|b| b.map(|t| t.add_scalar(0.05)));
    cc.save_file(dir.join("cocoop.bpk")).unwrap();
    let mut a = AapeConfig::default().init(16, d0).unwrap();
    a.proj = a.proj.map(|p| p.add_scalar(0.01));
    a.save_file(dir.join("aape.bpk")).unwrap();
    let outs: Vec<(String, Outputs)> = devices
        .iter()
        .map(|(k, d)| (k.to_string(), run(&w, &dir, d)))
        .collect();
    let (k0, r) = &outs[0];
    for (k, o) in &outs[1..] {
        let host = |t: Tensor<1>| t.into_data();
        host(o.clip_loss.clone()).assert_approx_eq::<f32>(&host(r.clip_loss.clone()), tol());
        assert!(
            (o.grad_norm - r.grad_norm).abs() <= 2e-4 * (1.0 + r.grad_norm),
            "{k} vs {k0}: grad norm"
        );
        o.coop
            .clone()
            .into_data()
            .assert_approx_eq::<f32>(&r.coop.clone().into_data(), tol());
        o.cocoop
            .clone()
            .into_data()
            .assert_approx_eq::<f32>(&r.cocoop.clone().into_data(), tol());
        for (a, b) in o.aape.iter().zip(&r.aape) {
            host(a.clone()).assert_approx_eq::<f32>(&host(b.clone()), tol());
        }
    }
}
