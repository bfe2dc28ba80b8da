//! Per-step overhead of FDA and Proxy-FDA over naive fine-tuning, measured interleaved.
//!
//! The same step as `benches/fda_step.rs` (batch 32, cached pre-trained features, AdamW),
//! but the three methods take turns: each round runs `reps` steps of each, and the report
//! is the median (and minimum) over rounds of the mean step time. On a shared or noisy
//! machine this is steadier than running the methods one after the other.
//!
//! ```text
//! cargo test --workspace --release --features ndarray --no-run
//! target/release/examples/step_overhead [channels, default 16,32,64] [rounds, 25] [reps, 10]
//! ```

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use ember_core::loss::cross_entropy;
use ember_core::nn::{CnnEncoder, CnnEncoderConfig};
use ember_proxy_fda::proxy::proxy_generator_loss;
use ember_proxy_fda::*;
use std::time::Instant;

#[derive(Module, Debug)]
struct Ft {
    enc: CnnEncoder,
    head: Linear,
    gen_: Option<ProxyGenerator>,
}

#[derive(Clone, Copy, PartialEq)]
enum M {
    Naive,
    Fda,
    ProxyFda,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let channels: Vec<usize> = args.get(1).map_or(vec![16, 32, 64], |s| {
        s.split(',').map(|x| x.parse().expect("channels")).collect()
    });
    let rounds: usize = args.get(2).map_or(25, |s| s.parse().expect("rounds"));
    let reps: usize = args.get(3).map_or(10, |s| s.parse().expect("reps"));
    let device = ember_core::backend::default_backend()
        .and_then(ember_core::backend::device)
        .unwrap();
    let ad = device.clone().autodiff();
    ad.seed(0);
    let d = *channels.last().unwrap();
    let enc_cfg = CnnEncoderConfig::new(d).with_channels(channels.clone());
    let pre = enc_cfg.init(&device);
    let path = std::env::temp_dir().join(format!("pfda-overhead-pre-{d}.bpk"));
    pre.clone().save_file(&path).unwrap();
    let pre = pre.valid();
    let x_host = Tensor::<4>::random(
        [32, 3, 32, 32],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    )
    .into_data();
    let y: Vec<i64> = (0..32).map(|i| i / 4).collect();
    let fda = FdaConfig {
        k: 8,
        ..Default::default()
    };
    let p_cached = pre
        .forward(Tensor::<4>::from_data(x_host.clone(), &device))
        .into_data();
    let methods = [
        ("naive", M::Naive),
        ("fda_cached", M::Fda),
        ("proxy_fda_cached", M::ProxyFda),
    ];
    let mut models: Vec<Option<(Ft, ModuleOptimizer)>> = methods
        .iter()
        .map(|&(_, m)| {
            let gen_ = (m == M::ProxyFda).then(|| ProxyGeneratorConfig::new(d).init(&ad));
            let model = Ft {
                enc: enc_cfg.init(&ad).load_file(&path),
                head: LinearConfig::new(d, 8).init(&ad),
                gen_,
            };
            Some((model, AdamWConfig::new().init()))
        })
        .collect();
    let step = |model: Ft, optim: &mut ModuleOptimizer, m: M| -> Ft {
        let x = Tensor::<4>::from_data(x_host.clone(), &ad);
        let yt = Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [32]), &ad);
        let f = model.enc.forward(x);
        let mut loss = cross_entropy(model.head.forward(f.clone()), yt).unwrap();
        if m != M::Naive {
            let p = Tensor::<2>::from_data(p_cached.clone(), &ad);
            let g = KnnGraph::build(p.clone(), 8).unwrap();
            if m == M::Fda {
                loss = loss + fda_loss(f, &g, &fda).unwrap();
            } else {
                let pr = model.gen_.as_ref().unwrap().forward(f.clone(), &g).unwrap();
                let cfg = ProxyLossConfig::default();
                loss = loss
                    + proxy_fda_loss(f, p.clone(), &g, &pr, &fda).unwrap()
                    + proxy_generator_loss(p, &g, &pr, &fda, &cfg).unwrap();
            }
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    };
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); methods.len()];
    // round 0 is a warm-up
    for round in 0..=rounds {
        for (k, &(_, m)) in methods.iter().enumerate() {
            let (mut model, mut optim) = models[k].take().unwrap();
            let start = Instant::now();
            for _ in 0..reps {
                model = step(model, &mut optim, m);
            }
            if round > 0 {
                times[k].push(start.elapsed().as_secs_f64() * 1e3 / reps as f64);
            }
            models[k] = Some((model, optim));
        }
    }
    let stats = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0])
    };
    let (naive, naive_min) = stats(&times[0]);
    println!("channels {channels:?}, {rounds} rounds x {reps} steps, interleaved");
    for (k, (name, _)) in methods.iter().enumerate() {
        let (med, min) = stats(&times[k]);
        println!(
            "{name:<18} median {med:>7.2} ms ({:+4.0}%)   min {min:>7.2} ms ({:+4.0}%)",
            (med / naive - 1.0) * 100.0,
            (min / naive_min - 1.0) * 100.0
        );
    }
}
