//! ember-aape's math against NumPy (`scripts/gen_aape_fixtures.py` wrote
//! `tests/data/aape_fixtures.json`): the attention and mean aggregators, the generator, the
//! residual concat-projection classifier, the cross-entropy and distillation terms of
//! `Aape::losses`, KgCoOp's penalty, and the harmonic mean of CoOp's published figures.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use ember_aape::checkpoint::harmonic_mean;
use ember_aape::{AapeConfig, Aggregation, ClassTexts, FramedPrompts, kgcoop_penalty};
use serde_json::Value;

const TOL: f32 = 1e-4;

fn fx() -> Value {
    serde_json::from_str(include_str!("data/aape_fixtures.json")).unwrap()
}

fn v(x: &Value, k: &str) -> Vec<f32> {
    x[k].as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_f64().unwrap() as f32)
        .collect()
}

fn d(x: &Value, k: &str) -> usize {
    x["dims"][k].as_u64().unwrap() as usize
}

fn t2(x: Vec<f32>, s: [usize; 2], dev: &Device) -> Tensor<2> {
    Tensor::<1>::from_data(TensorData::new(x, [s[0] * s[1]]), dev).reshape(s)
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    ember_core::ops::to_host(t).unwrap()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= TOL * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn linear(w: Vec<f32>, b: Option<Vec<f32>>, s: [usize; 2], dev: &Device) -> Linear {
    Linear {
        weight: Param::from_tensor(t2(w, s, dev)),
        bias: b.map(|b| {
            Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(b.clone(), [b.len()]),
                dev,
            ))
        }),
    }
}

fn dev() -> Device {
    ember_core::backend::device_by_name("flex").unwrap()
}

#[test]
fn aggregators_match_numpy() {
    let (x, dev) = (fx(), dev());
    let (b, m, e, h, dk) = (d(&x, "B"), d(&x, "M"), d(&x, "E"), d(&x, "H"), d(&x, "DK"));
    let cfg = AapeConfig {
        heads: h,
        d_k: dk,
        ..AapeConfig::default()
    };
    let mut model = cfg.init(e, &dev).unwrap();
    model.agg.wq = linear(v(&x, "wq"), None, [e, h * dk], &dev);
    model.agg.wk = linear(v(&x, "wk"), None, [e, h * dk], &dev);
    let f = t2(v(&x, "f"), [b, e], &dev);
    let pe = t2(v(&x, "e"), [b * m, e], &dev).reshape([b, m, e]);
    let mask = t2(v(&x, "mask"), [b, m], &dev);
    let (alpha, rho) = model.agg.forward(f.clone(), pe.clone(), mask.clone());
    close(&host(alpha), &v(&x, "alpha"), "alpha");
    close(&host(rho), &v(&x, "rho"), "rho");
    let mean = AapeConfig {
        aggregation: Aggregation::Mean,
        ..cfg
    }
    .init(e, &dev)
    .unwrap();
    let (alpha, rho) = mean.agg.forward(f, pe, mask);
    close(&host(alpha), &v(&x, "alpha_mean"), "alpha_mean");
    close(&host(rho), &v(&x, "rho_mean"), "rho_mean");
}

#[test]
fn classifier_and_losses_match_numpy() {
    let (x, dev) = (fx(), dev());
    let (b, m, e, h, dk, hid, c) = (
        d(&x, "B"),
        d(&x, "M"),
        d(&x, "E"),
        d(&x, "H"),
        d(&x, "DK"),
        d(&x, "HID"),
        d(&x, "C"),
    );
    let scale = x["dims"]["scale"].as_f64().unwrap();
    let mut model = AapeConfig {
        heads: h,
        d_k: dk,
        gen_hidden: hid,
        ..AapeConfig::default()
    }
    .init(e, &dev)
    .unwrap();
    model.agg.wq = linear(v(&x, "wq"), None, [e, h * dk], &dev);
    model.agg.wk = linear(v(&x, "wk"), None, [e, h * dk], &dev);
    model.gen1 = linear(v(&x, "w1"), Some(v(&x, "b1")), [e, hid], &dev);
    model.gen2 = linear(v(&x, "w2"), Some(v(&x, "b2")), [hid, e], &dev);
    model.proj = Param::from_tensor(t2(v(&x, "p"), [2 * e, e], &dev));
    let f = t2(v(&x, "f"), [b, e], &dev);
    let g = t2(v(&x, "g"), [c, e], &dev);
    close(&host(model.generate(f.clone())), &v(&x, "aape"), "aape");
    close(
        &host(model.logits(f.clone(), g.clone(), scale)),
        &v(&x, "logits"),
        "logits",
    );

    // Losses: class y of image i holds image i's prompts.
    let labels: Vec<usize> = x["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap() as usize)
        .collect();
    let (pe, pm) = (v(&x, "e"), v(&x, "mask"));
    let mut prompts = vec![0.1f32; c * m * e];
    let mut mask = vec![1.0f32; c * m];
    for (i, &y) in labels.iter().enumerate() {
        prompts[y * m * e..(y + 1) * m * e].copy_from_slice(&pe[i * m * e..(i + 1) * m * e]);
        mask[y * m..(y + 1) * m].copy_from_slice(&pm[i * m..(i + 1) * m]);
    }
    let texts = ClassTexts {
        names: (0..c).map(|i| format!("c{i}")).collect(),
        name_prompts: FramedPrompts {
            ids: vec![1, 2],
            rows: 1,
            width: 2,
            eot: vec![1],
        },
        name_embeddings: Tensor::zeros([c, 3, 4], &dev),
        template: g,
        prompts: t2(prompts, [c * m, e], &dev).reshape([c, m, e]),
        prompt_mask: t2(mask, [c, m], &dev),
    };
    let l = model.losses(f, &labels, &texts, scale, 0.07).unwrap();
    close(
        &host(l.task),
        &[x["ce"].as_f64().unwrap() as f32],
        "cross-entropy",
    );
    close(
        &host(l.distill),
        &[x["distill"].as_f64().unwrap() as f32],
        "distill",
    );
    assert!(host(l.reward)[0].is_finite());
}

#[test]
fn kgcoop_penalty_and_harmonic_mean_match_numpy() {
    let (x, dev) = (fx(), dev());
    let (c, e) = (d(&x, "C"), d(&x, "E"));
    let p = kgcoop_penalty(
        t2(v(&x, "kg_t"), [c, e], &dev),
        t2(v(&x, "kg_h"), [c, e], &dev),
    );
    close(&host(p), &[x["kg"].as_f64().unwrap() as f32], "kgcoop");
    // CoOp's published base/novel give its published HM (71.66) to ±0.01.
    let hm = harmonic_mean(82.69, 63.22);
    assert!((hm - x["coop_hm"].as_f64().unwrap()).abs() < 1e-9);
    assert!((hm - 71.66).abs() < 0.01, "{hm}");
    assert_eq!(harmonic_mean(0.0, 0.0), 0.0);
}
