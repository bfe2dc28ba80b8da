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

use std::time::Instant;

#[path = "../benches/step_common.rs"]
mod step_common;
use step_common::{Method, StepSetup};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let channels: Vec<usize> = args.get(1).map_or(vec![16, 32, 64], |s| {
        s.split(',').map(|x| x.parse().expect("channels")).collect()
    });
    let rounds: usize = args.get(2).map_or(25, |s| s.parse().expect("rounds"));
    let reps: usize = args.get(3).map_or(10, |s| s.parse().expect("reps"));
    let setup = StepSetup::new(channels.clone());
    let methods = [
        ("naive", Method::Naive),
        ("fda_cached", Method::Fda),
        ("proxy_fda_cached", Method::ProxyFda),
    ];
    let mut models: Vec<_> = methods.iter().map(|&(_, m)| Some(setup.model(m))).collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); methods.len()];
    // round 0 is a warm-up
    for round in 0..=rounds {
        for (k, &(_, m)) in methods.iter().enumerate() {
            let (mut model, mut optim) = models[k].take().unwrap();
            let start = Instant::now();
            for _ in 0..reps {
                model = setup.step(model, &mut optim, m, true);
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
