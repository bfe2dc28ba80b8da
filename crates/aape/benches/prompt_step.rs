//! The hot path of prompt learning on flex, AAPE beside CoOp (its peer) on the same frozen
//! small CLIP, the same 32 cached image features and 20 classes: one training step
//! (forward, backward, AdamW update) of each, and inference per batch of 32 images (CoOp's
//! class weights computed once; AAPE's generator and combination run per image; CoCoOp's
//! text tower runs per image and class, for scale).
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use ember_aape::learners::init_context;
use ember_aape::{
    AapeConfig, AttrWorld, ClassTextSpec, ClassTexts, CoCoOp, CoOp, DualEncoder, SmallClipConfig,
    WorldConfig, cosine_logits,
};
use ember_core::loss::cross_entropy;

fn bench(c: &mut Criterion) {
    let dev = ember_core::backend::device_by_name("flex").unwrap();
    let ad = dev.clone().autodiff();
    let w = AttrWorld::new(WorldConfig::default(), 0).unwrap();
    let tok = w.tokenizer();
    let cfg = SmallClipConfig {
        vocab_size: tok.vocab_size(),
        embed_dim: 64,
        text_width: 64,
        text_layers: 1,
        max_tokens: 16,
        channels: vec![16, 32],
    };
    dev.seed(0);
    let clip = cfg.init(&dev).unwrap();
    let clip_ad = clip.clone().fork(&ad).freeze();
    let classes: Vec<usize> = (0..20).collect();
    let names: Vec<String> = classes.iter().map(|&c| AttrWorld::class_word(c)).collect();
    let templates: Vec<String> = classes.iter().map(|&c| AttrWorld::template(c)).collect();
    let d = w.descriptions(&mut ember_core::seed::Seed::new(1).rng());
    let descr: Vec<Vec<String>> = names.iter().map(|n| d[n].clone()).collect();
    let spec = ClassTextSpec {
        names: &names,
        templates: &templates,
        descriptions: &descr,
        n_ctx: 4,
    };
    let texts = ClassTexts::build(&clip, &tok, &spec, &dev).unwrap();
    let texts_ad = texts.to_device(&ad);
    let f = Tensor::<2>::random([32, 64], burn::tensor::Distribution::Normal(0.0, 1.0), &dev);
    let f_ad = f.clone().to_device(&ad).detach();
    let labels: Vec<usize> = (0..32).map(|i| i % 20).collect();
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(labels.iter().map(|&v| v as i64).collect(), [32]),
        &ad,
    );
    let scale = clip.logit_scale().unwrap();
    let mut c = c.benchmark_group("aape");
    c.sample_size(20)
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1));

    let ctx = init_context(&clip_ad, &tok, Some("a photo of a"), 4, &ad).unwrap();
    let mut coop = CoOp::new(ctx.clone(), None);
    let mut opt = AdamWConfig::new().init();
    c.bench_function("train_step/coop", |b| {
        b.iter(|| {
            let w = coop.class_weights(&clip_ad, &texts_ad).unwrap();
            let loss = cross_entropy(cosine_logits(f_ad.clone(), w, scale), y.clone()).unwrap();
            let g = GradientsParams::from_grads(loss.backward(), &coop);
            coop = opt.step(1e-3, coop.clone(), g);
        })
    });
    let mut aape = AapeConfig::default().init(64, &ad).unwrap();
    let mut opt = AdamWConfig::new().init();
    c.bench_function("train_step/aape", |b| {
        b.iter(|| {
            let l = aape
                .losses(f_ad.clone(), &labels, &texts_ad, scale, 0.07)
                .unwrap();
            let loss = l.task + l.distill + l.reward;
            let g = GradientsParams::from_grads(loss.backward(), &aape);
            aape = opt.step(1e-3, aape.clone(), g);
        })
    });
    let coop = coop.valid();
    let aape = aape.valid();
    let w_coop = coop.class_weights(&clip, &texts).unwrap();
    c.bench_function("inference_32/coop", |b| {
        b.iter(|| {
            ember_core::ops::to_host(cosine_logits(f.clone(), w_coop.clone(), scale)).unwrap()
        })
    });
    c.bench_function("inference_32/aape", |b| {
        b.iter(|| {
            ember_core::ops::to_host(aape.logits(f.clone(), texts.template.clone(), scale)).unwrap()
        })
    });
    c.bench_function("inference_32/aape_gen", |b| {
        b.iter(|| ember_core::ops::to_host(aape.generate(f.clone())).unwrap())
    });
    let cocoop = CoCoOp::new(
        init_context(&clip, &tok, Some("a photo of a"), 4, &dev).unwrap(),
        64,
        &dev,
    );
    c.bench_function("inference_32/cocoop", |b| {
        b.iter(|| {
            ember_core::ops::to_host(cocoop.logits(&clip, &texts, f.clone(), scale).unwrap())
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
