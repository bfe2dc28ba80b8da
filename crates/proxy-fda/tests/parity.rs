//! Backend parity (flex vs ndarray, and wgpu when compiled in): the FDA and Proxy-FDA losses
//! with their gradients, and the proxy generator's forward and backward, on fixed inputs and
//! weights moved through a burnpack file. Tolerance 2e-4 relative + 2e-4 absolute.

use burn::module::Module;
use burn::prelude::*;
use burn::tensor::Tolerance;
use ember_core::backend::parity_devices;
use ember_proxy_fda::proxy::proxy_generator_loss;
use ember_proxy_fda::*;

fn tol() -> Tolerance<f32> {
    Tolerance::rel_abs(2e-4, 2e-4)
}

const B: usize = 12;
const D: usize = 8;

fn input(seed: u32, dev: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..B * D)
        .map(|i| (((i as u32 * 2654435761u32) ^ seed) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::<1>::from_data(TensorData::new(v, [B * D]), dev).reshape([B, D])
}

#[test]
fn fda_loss_and_gradient_agree() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let mut results: Vec<(String, TensorData, TensorData)> = Vec::new();
    for (k, d) in devices {
        let ad = d.autodiff();
        let pre = input(1, &ad);
        let ft = input(2, &ad).require_grad();
        let g = KnnGraph::build(pre, 4).unwrap();
        for neg in [NegWeight::Const(1.0), NegWeight::OneMinusSim] {
            let cfg = FdaConfig {
                k: 4,
                tau: 0.1,
                bias: Bias::Calibrated,
                neg_weight: neg,
            };
            let loss = fda_loss(ft.clone(), &g, &cfg).unwrap();
            let grads = loss.backward();
            let gx = ft.grad(&grads).unwrap();
            results.push((k.to_string(), loss.inner().into_data(), gx.into_data()));
        }
    }
    // Two configurations per backend, in the same order: compare each with the first backend's.
    for (j, (name, l, g)) in results.iter().enumerate().skip(2) {
        let (_, l0, g0) = &results[j % 2];
        println!("{name}: loss {:?}", l.as_slice::<f32>().ok());
        l.assert_approx_eq::<f32>(l0, tol());
        g.assert_approx_eq::<f32>(g0, tol());
    }
}

#[test]
fn proxy_generator_forward_backward_agree() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let path = std::env::temp_dir().join(format!("pfda-parity-{}.bpk", std::process::id()));
    let cfg = ProxyGeneratorConfig::new(D).with_d_p(16).with_n_p(3);
    devices[0].1.seed(11);
    cfg.init(&devices[0].1).save_file(&path).unwrap();
    let fda = FdaConfig {
        k: 4,
        ..Default::default()
    };
    let mut out: Vec<(TensorData, TensorData, TensorData, TensorData)> = Vec::new();
    for (_, d) in devices {
        let ad = d.autodiff();
        let gen_ = cfg.init(&ad).load_file(&path);
        let pre = input(3, &ad);
        let ft = input(4, &ad).require_grad();
        let g = KnnGraph::build(pre.clone(), 4).unwrap();
        let p = gen_.forward(ft.clone(), &g).unwrap();
        let weights = p.pos.clone().inner().into_data();
        let lp = proxy_fda_loss(ft.clone(), pre.clone(), &g, &p, &fda).unwrap();
        let lg = proxy_generator_loss(pre, &g, &p, &fda, &ProxyLossConfig::default()).unwrap();
        let total = lp.clone() + lg;
        let grads = total.backward();
        let gx = ft.grad(&grads).unwrap().into_data();
        let gp = burn::optim::GradientsParams::from_grads(grads, &gen_);
        let gnorm = ember_core::train::global_grad_norm(&gen_, &gp);
        out.push((
            weights,
            lp.inner().into_data(),
            gx,
            TensorData::from([gnorm as f32]),
        ));
    }
    let first = &out[0];
    for o in &out[1..] {
        o.0.assert_approx_eq::<f32>(&first.0, tol());
        o.1.assert_approx_eq::<f32>(&first.1, tol());
        o.2.assert_approx_eq::<f32>(&first.2, tol());
        o.3.assert_approx_eq::<f32>(&first.3, tol());
    }
}

/// The fused host pass (`forward_with_loss`) reads its inputs from and hands its gradient
/// back to each backend: the same weights, loss and generator gradient everywhere.
#[test]
fn fused_generator_pass_agrees() {
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let path = std::env::temp_dir().join(format!("pfda-parity-fused-{}.bpk", std::process::id()));
    let cfg = ProxyGeneratorConfig::new(D).with_d_p(16).with_n_p(3);
    devices[0].1.seed(12);
    cfg.init(&devices[0].1).save_file(&path).unwrap();
    let fda = FdaConfig {
        k: 4,
        ..Default::default()
    };
    let mut out: Vec<[TensorData; 3]> = Vec::new();
    for (_, d) in devices {
        let ad = d.autodiff();
        let gen_ = cfg.init(&ad).load_file(&path);
        let (pre, ft) = (input(5, &ad), input(6, &ad));
        let g = KnnGraph::build(pre.clone(), 4).unwrap();
        let (p, loss) = gen_
            .forward_with_loss(ft, pre, &g, &fda, &ProxyLossConfig::default())
            .unwrap();
        let gp = burn::optim::GradientsParams::from_grads(loss.clone().backward(), &gen_);
        let gnorm = ember_core::train::global_grad_norm(&gen_, &gp);
        out.push([
            p.neg.inner().into_data(),
            loss.inner().into_data(),
            TensorData::from([gnorm as f32]),
        ]);
    }
    for o in &out[1..] {
        for (a, b) in o.iter().zip(&out[0]) {
            a.assert_approx_eq::<f32>(b, tol());
        }
    }
}

/// One whole Proxy-FDA fine-tuning step (encoder, head and generator, same weights and the
/// same sampled batch) gives the same loss on every backend. On flex and ndarray the step
/// takes the fused host pass for the generator and its loss, on wgpu the tensor path
/// (`ember_core::backend::runs_on_host`), so with wgpu compiled in this also checks that the
/// two paths agree.
#[test]
fn proxy_fda_step_agrees_across_backends_and_paths() {
    use ember_core::nn::CnnEncoderConfig;
    use rand::SeedableRng;
    let devices = parity_devices();
    assert!(
        devices.len() >= 2,
        "parity needs two backends: build with --features ndarray"
    );
    let (n, side, d) = (24usize, 8usize, 8usize);
    let pixels: Vec<f32> = (0..n * 3 * side * side)
        .map(|i| (((i as u32).wrapping_mul(2654435761) >> 7) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let images = ImageFolder {
        classes: (0..4).map(|c| format!("c{c}")).collect(),
        paths: (0..n).map(|i| format!("{i}.png").into()).collect(),
        labels: (0..n).map(|i| i % 4).collect(),
        pixels,
        size: side,
    };
    let sampler = ClassBalancedSampler::new(&images.labels, 4, 3).unwrap();
    let fda = FdaConfig {
        k: 4,
        ..FdaConfig::default()
    };
    let path = std::env::temp_dir().join(format!("pfda-step-parity-{}.bpk", std::process::id()));
    let pre_path = path.with_extension("pre.bpk");
    let enc_cfg = CnnEncoderConfig::new(d).with_channels(vec![4]);
    devices[0].1.seed(5);
    let first = devices[0].1.clone().autodiff();
    FtModel {
        enc: enc_cfg.init(&first),
        head: burn::nn::LinearConfig::new(d, 4).init(&first),
        gen_: Some(ProxyGeneratorConfig::new(d).with_n_p(3).init(&first)),
    }
    .save_file(&path)
    .unwrap();
    enc_cfg.init(&devices[0].1).save_file(&pre_path).unwrap();
    let mut losses = Vec::new();
    for (kind, dev) in &devices {
        let ad = dev.clone().autodiff();
        let model = FtModel {
            enc: enc_cfg.init(&ad),
            head: burn::nn::LinearConfig::new(d, 4).init(&ad),
            gen_: Some(ProxyGeneratorConfig::new(d).with_n_p(3).init(&ad)),
        }
        .load_file(&path);
        let pre = enc_cfg.init(dev).load_file(&pre_path).valid();
        let data = FtData {
            images: &images,
            sampler: &sampler,
            pre: &pre,
            device: dev.clone(),
            ad: ad.clone(),
            pre_cache: None,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let out = proxy_fda_step(
            &model,
            &data,
            1.0,
            &fda,
            &ProxyLossConfig::default(),
            &mut rng,
        )
        .unwrap();
        let host = ember_core::backend::runs_on_host(&ad);
        println!("{kind}: fused host pass {host}");
        losses.push(out.loss.inner().into_data());
    }
    for l in &losses[1..] {
        l.assert_approx_eq::<f32>(&losses[0], tol());
    }
}
