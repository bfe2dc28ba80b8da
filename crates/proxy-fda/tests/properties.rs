//! Hand-worked examples, invariances and error handling of the Proxy-FDA library.

use burn::module::Module;
use burn::prelude::*;
use ember_proxy_fda::proxy::proxy_generator_loss;
use ember_proxy_fda::*;
use rand::SeedableRng;

static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn dev() -> Device {
    ember_core::backend::default_backend()
        .and_then(ember_core::backend::device)
        .unwrap()
}

fn mat(v: Vec<f32>, r: usize, c: usize, dev: &Device) -> Tensor<2> {
    Tensor::<1>::from_data(TensorData::new(v, [r * c]), dev).reshape([r, c])
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f64>()
}

fn sp(x: f64) -> f64 {
    (1.0 + x.exp()).ln()
}

fn randn(n: usize, seed: u64) -> Vec<f32> {
    use rand::RngExt;
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| r.random_range(-1.0f32..1.0)).collect()
}

#[test]
fn fda_hand_worked_three_points() {
    // pre = ft = [[1,0],[1,1],[0,1]]: ŝ01 = ŝ12 = 1/√2, ŝ02 = 0. K = 1: R_0 = {1},
    // R_1 = {0} (tie with 2 broken by the lower index), R_2 = {1}. τ = 1, b = 0, w⁻ = 1.
    let dev = dev();
    let x = mat(vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0], 3, 2, &dev);
    let g = KnnGraph::build(x.clone(), 1).unwrap();
    assert_eq!(g.neighbours, vec![vec![1], vec![0], vec![1]]);
    let cfg = FdaConfig {
        k: 1,
        tau: 1.0,
        bias: Bias::Fixed(0.0),
        neg_weight: NegWeight::Const(1.0),
    };
    let r = std::f64::consts::FRAC_1_SQRT_2;
    let l0 = 0.5 * (r * sp(-r) + sp(0.0));
    let l1 = 0.5 * (r * sp(-r) + sp(r));
    let l2 = 0.5 * (sp(0.0) + r * sp(-r));
    let want = (l0 + l1 + l2) / 3.0;
    let got = scalar(fda_loss(x, &g, &cfg).unwrap());
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    // Calibrated bias: b = −mean K-th neighbour cosine / τ = −1/√2.
    let cal = FdaConfig {
        bias: Bias::Calibrated,
        ..cfg
    };
    assert!((cal.bias_value(&g) + r).abs() < 1e-6);
}

#[test]
fn knn_graph_has_k_neighbours_and_no_self() {
    let dev = dev();
    let g = KnnGraph::build(mat(randn(16 * 5, 1), 16, 5, &dev), 6).unwrap();
    let pos = g.pos_mask();
    let neg = g.neg_mask();
    for i in 0..16 {
        assert_eq!(pos[i * 16..(i + 1) * 16].iter().sum::<f32>(), 6.0);
        assert_eq!(neg[i * 16..(i + 1) * 16].iter().sum::<f32>(), 9.0);
        assert_eq!(pos[i * 16 + i] + neg[i * 16 + i], 0.0);
        // Neighbours are the K most similar.
        let kth = g.sim[i * 16 + g.neighbours[i][5]];
        for j in 0..16 {
            if j != i && pos[i * 16 + j] == 0.0 {
                assert!(g.sim[i * 16 + j] <= kth);
            }
        }
    }
    assert!((g.jaccard(&g).unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn fda_is_invariant_to_rotation_and_scale_ldifs_is_not() {
    let dev = dev();
    let (b, d) = (12, 4);
    let pre = mat(randn(b * d, 2), b, d, &dev);
    let ft_v = randn(b * d, 3);
    let ft = mat(ft_v.clone(), b, d, &dev);
    // Rotation by 0.7 rad in the (0, 1) plane, reflection of dim 3, global scale 2.5.
    let (c, s) = (0.7f32.cos(), 0.7f32.sin());
    let rot: Vec<f32> = ft_v
        .chunks(d)
        .flat_map(|r| {
            [
                2.5 * (c * r[0] - s * r[1]),
                2.5 * (s * r[0] + c * r[1]),
                2.5 * r[2],
                -2.5 * r[3],
            ]
        })
        .collect();
    let ft_rot = mat(rot, b, d, &dev);
    let g = KnnGraph::build(pre.clone(), 4).unwrap();
    for neg in [
        NegWeight::Const(1.0),
        NegWeight::PreSim,
        NegWeight::OneMinusSim,
    ] {
        let cfg = FdaConfig {
            k: 4,
            tau: 0.2,
            bias: Bias::Calibrated,
            neg_weight: neg,
        };
        let a = scalar(fda_loss(ft.clone(), &g, &cfg).unwrap());
        let r = scalar(fda_loss(ft_rot.clone(), &g, &cfg).unwrap());
        assert!((a - r).abs() < 1e-5, "{a} vs {r}");
    }
    let a = scalar(ldifs_penalty(ft, pre.clone()).unwrap());
    let r = scalar(ldifs_penalty(ft_rot, pre).unwrap());
    assert!((a - r).abs() > 1e-2);
}

#[test]
fn fda_errors_are_clear() {
    let dev = dev();
    let x = mat(randn(6 * 3, 4), 6, 3, &dev);
    assert!(
        KnnGraph::build(x.clone(), 5)
            .unwrap_err()
            .to_string()
            .contains("K <= B - 2")
    );
    assert!(KnnGraph::build(x.clone(), 0).is_err());
    let mut nan = randn(18, 4);
    nan[7] = f32::NAN;
    assert!(
        KnnGraph::build(mat(nan, 6, 3, &dev), 2)
            .unwrap_err()
            .to_string()
            .contains("non-finite")
    );
    let g = KnnGraph::build(x, 2).unwrap();
    let other = mat(randn(5 * 3, 5), 5, 3, &dev);
    let err = fda_loss(
        other,
        &g,
        &FdaConfig {
            k: 2,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
    let bad = FdaConfig {
        tau: 0.0,
        ..Default::default()
    };
    assert!(fda_loss(mat(randn(18, 6), 6, 3, &dev), &g, &bad).is_err());
}

#[test]
fn proxies_are_convex_combinations_of_their_set() {
    let _g = lock();
    let dev = dev();
    dev.seed(3);
    let (b, d) = (10, 6);
    let gen_ = ProxyGeneratorConfig::new(d).with_n_p(3).init(&dev);
    let x = mat(randn(b * d, 6), b, d, &dev);
    let graph = KnnGraph::build(x.clone(), 3).unwrap();
    let p = gen_.forward(x, &graph).unwrap();
    for (a, mask) in [(p.pos, graph.pos_mask()), (p.neg, graph.neg_mask())] {
        let v = a.try_to_vec_as::<f32>().unwrap();
        for i in 0..b {
            for k in 0..3 {
                let row = &v[(i * 3 + k) * b..(i * 3 + k + 1) * b];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                for j in 0..b {
                    assert!(row[j] >= 0.0);
                    if mask[i * b + j] == 0.0 {
                        assert!(row[j] < 1e-6, "weight on a non-member");
                    }
                }
            }
        }
    }
}

/// Every float parameter's gradient (zeros where it got none), flattened, in visit order.
struct GradCollect<'a> {
    grads: &'a burn::tensor::Gradients,
    out: Vec<Vec<f32>>,
}

impl burn::module::ModuleVisitor for GradCollect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        let g = t
            .grad(self.grads)
            .map(|g| g.reshape([n]).try_to_vec_as::<f32>().unwrap())
            .unwrap_or_else(|| vec![0.0; n]);
        self.out.push(g);
    }
}

/// The gradient of every float parameter of `gen_` after back-propagating `loss`.
fn param_grads(gen_: &ProxyGenerator, loss: Tensor<1>) -> Vec<Vec<f32>> {
    let g = loss.backward();
    let mut c = GradCollect {
        grads: &g,
        out: Vec::new(),
    };
    gen_.visit(&mut c);
    c.out
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter().chain(b).all(|x| x.is_finite()),
        "non-finite values"
    );
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The fused single-pass `forward` (both sets at once, position-wise linears for the
/// kernel-1 convolutions) against the straightforward two-pass formula (`weights`, once per
/// set, through `Conv1d`): same pooling weights and same generator gradients.
#[test]
fn fused_generator_pass_equals_the_two_pass_reference() {
    let _g = lock();
    let ad = dev().autodiff();
    ad.seed(21);
    for (b, d, k, d_p, n_p) in [(12, 6, 3, 8, 3), (32, 16, 8, 32, 4), (9, 5, 7, 4, 2)] {
        let gen_ = ProxyGeneratorConfig::new(d)
            .with_d_p(d_p)
            .with_n_p(n_p)
            .init(&ad);
        let x = mat(randn(b * d, 31 + b as u64), b, d, &ad);
        let graph = KnnGraph::build(x.clone(), k).unwrap();
        let fused = gen_.forward(x.clone(), &graph).unwrap();
        let (pos, neg, _) = graph.tensors(&ad);
        let reference = Proxies {
            pos: gen_.weights(x.clone(), pos, ProxySet::Positive),
            neg: gen_.weights(x.clone(), neg, ProxySet::Negative),
        };
        let v = |t: &Tensor<3>| t.clone().inner().try_to_vec_as::<f32>().unwrap();
        for (a, r) in [(&fused.pos, &reference.pos), (&fused.neg, &reference.neg)] {
            assert_eq!(a.dims(), r.dims());
            let e = max_abs_diff(&v(a), &v(r));
            assert!(e <= 1e-5, "B={b}: weights differ by {e}");
        }
        // Gradients of the generator's parameters through its own loss (and a generic one).
        let fda = FdaConfig {
            k,
            ..Default::default()
        };
        let grads = |p: &Proxies| {
            let r = mat(randn(b * n_p * b, 5), b * n_p, b, &ad).reshape([b, n_p, b]);
            let l = proxy_generator_loss(x.clone(), &graph, p, &fda, &ProxyLossConfig::default())
                .unwrap()
                + (p.pos.clone() * r.clone()).sum()
                - (p.neg.clone() * r).sum();
            param_grads(&gen_, l)
        };
        let (ga, gr) = (grads(&fused), grads(&reference));
        assert_eq!(ga.len(), gr.len());
        let mut moved = 0.0f32;
        for (a, r) in ga.iter().zip(&gr) {
            let e = max_abs_diff(a, r);
            let scale = r.iter().fold(1.0f32, |m, x| m.max(x.abs()));
            assert!(
                e <= 1e-5 * scale,
                "B={b}: gradients differ by {e} (scale {scale})"
            );
            moved = moved.max(scale);
        }
        assert!(moved > 1.0 || gr.iter().flatten().any(|x| *x != 0.0));
    }
}

/// The fused host pass (`forward_with_loss`) against the tensor path (`forward` then
/// `proxy_generator_loss`): the same pooling weights, loss value and gradient of every
/// generator parameter, over sizes (including `d_p` not a multiple of the kernel's
/// 16-column blocks, and `K` < `n_p`), non-neighbour weight modes and biases.
#[test]
fn fused_host_pass_equals_the_tensor_path() {
    let _g = lock();
    let ad = dev().autodiff();
    ad.seed(33);
    let cases = [
        (32, 64, 8, 32, 4, NegWeight::Const(1.0), Bias::Calibrated),
        (12, 6, 3, 8, 3, NegWeight::PreSim, Bias::Fixed(0.3)),
        (9, 5, 2, 20, 5, NegWeight::OneMinusSim, Bias::Calibrated),
        (16, 10, 5, 48, 2, NegWeight::Const(0.5), Bias::Fixed(-2.0)),
    ];
    for (b, d, k, d_p, n_p, neg_weight, bias) in cases {
        let gen_ = ProxyGeneratorConfig::new(d)
            .with_d_p(d_p)
            .with_n_p(n_p)
            .init(&ad);
        let x = mat(randn(b * d, 41 + b as u64), b, d, &ad);
        let pre = mat(randn(b * d, 43 + b as u64), b, d, &ad);
        let graph = KnnGraph::build(pre.clone(), k).unwrap();
        let fda = FdaConfig {
            k,
            neg_weight,
            bias,
            ..Default::default()
        };
        // gamma large enough that the variance hinge is active for some dimensions
        let cfg = ProxyLossConfig {
            alpha: 0.7,
            gamma: 0.3,
        };
        let (fused, lf) = gen_
            .forward_with_loss(x.clone(), pre.clone(), &graph, &fda, &cfg)
            .unwrap();
        let reference = gen_.forward(x.clone(), &graph).unwrap();
        let lr = proxy_generator_loss(pre.clone(), &graph, &reference, &fda, &cfg).unwrap();
        let v = |t: &Tensor<3>| t.clone().inner().try_to_vec_as::<f32>().unwrap();
        for (a, r) in [(&fused.pos, &reference.pos), (&fused.neg, &reference.neg)] {
            assert_eq!(a.dims(), r.dims());
            let e = max_abs_diff(&v(a), &v(r));
            assert!(e <= 1e-5, "B={b}: weights differ by {e}");
        }
        let (vf, vr) = (scalar(lf.clone()), scalar(lr.clone()));
        assert!(
            (vf - vr).abs() <= 1e-5 * vr.abs().max(1.0),
            "B={b}: loss {vf} vs {vr}"
        );
        let (ga, gr) = (param_grads(&gen_, lf), param_grads(&gen_, lr));
        assert_eq!(ga.len(), gr.len());
        let mut nonzero = 0;
        for (a, r) in ga.iter().zip(&gr) {
            let e = max_abs_diff(a, r);
            let scale = r.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!(
                e <= 1e-4 * scale.max(1e-3),
                "B={b}: gradients differ by {e} (scale {scale})"
            );
            nonzero += usize::from(scale > 0.0);
        }
        // every parameter but the key bias (whose gradient is zero in exact arithmetic)
        assert!(nonzero + 1 >= gr.len(), "B={b}: {nonzero} of {}", gr.len());
    }
}

#[test]
fn fused_host_pass_rejects_bad_input() {
    let _g = lock();
    let ad = dev().autodiff();
    let (b, d) = (10, 6);
    let pre = mat(randn(b * d, 3), b, d, &ad);
    let graph = KnnGraph::build(pre.clone(), 3).unwrap();
    let fda = FdaConfig {
        k: 3,
        ..Default::default()
    };
    let cfg = ProxyLossConfig::default();
    let gen_ = ProxyGeneratorConfig::new(d).init(&ad);
    let short = mat(randn((b - 1) * d, 4), b - 1, d, &ad);
    let e = gen_.forward_with_loss(short, pre.clone(), &graph, &fda, &cfg);
    assert!(matches!(e, Err(ember_core::Error::Shape(_))), "{e:?}");
    let mut bad = randn(b * d, 5);
    bad[7] = f32::NAN;
    let nan = mat(bad, b, d, &ad);
    let e = gen_.forward_with_loss(pre.clone(), nan, &graph, &fda, &cfg);
    assert!(matches!(e, Err(ember_core::Error::NonFinite(_))), "{e:?}");
    let wide = mat(randn(b * (d + 2), 6), b, d + 2, &ad);
    let e = gen_.forward_with_loss(wide, pre.clone(), &graph, &fda, &cfg);
    assert!(matches!(e, Err(ember_core::Error::Shape(_))), "{e:?}");
    for corrupt in [
        |g: &mut KnnGraph| g.neighbours[2][0] = 99,
        |g: &mut KnnGraph| g.neighbours[4][1] = 4,
        |g: &mut KnnGraph| g.neighbours[1].pop().map(drop).unwrap_or(()),
        |g: &mut KnnGraph| g.neighbours[0][1] = g.neighbours[0][0],
    ] {
        let mut g = graph.clone();
        corrupt(&mut g);
        let e = gen_.forward_with_loss(pre.clone(), pre.clone(), &g, &fda, &cfg);
        assert!(
            matches!(e, Err(ember_core::Error::InvalidInput(_))),
            "{e:?}"
        );
    }
    let one = ProxyGeneratorConfig::new(d).with_n_p(1).init(&ad);
    let e = one.forward_with_loss(pre.clone(), pre, &graph, &fda, &cfg);
    assert!(
        matches!(e, Err(ember_core::Error::InvalidInput(_))),
        "{e:?}"
    );
}

/// The Proxy-FDA and generator losses written set by set, as before they were batched over
/// both sets: the reference for `batched_losses_equal_the_per_set_reference`.
mod reference {
    use burn::prelude::*;
    use burn::tensor::activation::softplus;
    use ember_core::loss::weighted_pairwise_sigmoid;
    use ember_core::ops::{cosine_matrix, l2_normalize};
    use ember_proxy_fda::*;

    fn neg_weights(mode: NegWeight, s: Tensor<2>) -> Tensor<2> {
        match mode {
            NegWeight::Const(c) => s.zeros_like() + c,
            NegWeight::PreSim => s.clamp_min(0.0),
            NegWeight::OneMinusSim => (s.neg() + 1.0).clamp(0.0, 2.0),
        }
    }

    fn anchor_proxy_cos(x: Tensor<2>, a: Tensor<3>) -> Tensor<2> {
        let [b, d] = x.dims();
        let [_, n_p, _] = a.dims();
        let p = l2_normalize(a.matmul(x.clone().unsqueeze_dim::<3>(0)), 2, 1e-12);
        let xn = l2_normalize(x, 1, 1e-12).reshape([b, 1, d]);
        (p * xn).sum_dim(2).reshape([b, n_p])
    }

    pub fn proxy_fda_loss(
        ft: Tensor<2>,
        pre: Tensor<2>,
        graph: &KnnGraph,
        proxies: &Proxies,
        cfg: &FdaConfig,
    ) -> Tensor<1> {
        let [b, _] = ft.dims();
        let device = ft.device();
        let n_p = proxies.n_p();
        let pre = pre.detach();
        let s = cosine_matrix(ft.clone(), ft.clone());
        let (pos, neg, sim) = graph.tensors(&device);
        let z = pos.clone() - neg.clone();
        let w = pos * sim.clone().clamp_min(0.0) + neg * neg_weights(cfg.neg_weight, sim);
        let (mut sims, mut zs, mut ws) = (vec![s], vec![z], vec![w]);
        for (a, positive) in [(&proxies.pos, true), (&proxies.neg, false)] {
            let a = a.clone().detach();
            let s_ft = anchor_proxy_cos(ft.clone(), a.clone());
            let s_pre = anchor_proxy_cos(pre.clone(), a);
            let (zz, ww) = if positive {
                (s_pre.ones_like(), s_pre.clamp_min(0.0))
            } else {
                (s_pre.ones_like().neg(), neg_weights(cfg.neg_weight, s_pre))
            };
            sims.push(s_ft);
            zs.push(zz);
            ws.push(ww);
        }
        let s = Tensor::cat(sims, 1);
        let z = Tensor::cat(zs, 1);
        let w = Tensor::cat(ws, 1) / (b - 1 + 2 * n_p) as f64;
        let t = Tensor::<1>::from_floats([(1.0 / cfg.tau) as f32], &device);
        let bias = Tensor::<1>::from_floats([cfg.bias_value(graph) as f32], &device);
        weighted_pairwise_sigmoid(s, z, w, t, bias).unwrap()
    }

    pub fn proxy_generator_loss(
        pre: Tensor<2>,
        graph: &KnnGraph,
        proxies: &Proxies,
        fda: &FdaConfig,
        cfg: &ProxyLossConfig,
    ) -> Tensor<1> {
        let [b, d] = pre.dims();
        let pre = pre.detach();
        let n_p = proxies.n_p();
        let bias = fda.bias_value(graph);
        let t = 1.0 / fda.tau;
        let xn = l2_normalize(pre.clone(), 1, 1e-12).reshape([b, 1, d]);
        let mut total = Tensor::<1>::zeros([1], &pre.device());
        for set in [ProxySet::Positive, ProxySet::Negative] {
            let p = l2_normalize(proxies.pool(set, pre.clone()), 2, 1e-12);
            let c = (p.clone() * xn.clone()).sum_dim(2).reshape([b, n_p]);
            let logit = c.clone() * t + bias;
            let (ll, w) = match set {
                ProxySet::Positive => (softplus(logit.neg(), 1.0), c.detach().clamp_min(0.0)),
                ProxySet::Negative => (
                    softplus(logit, 1.0),
                    neg_weights(fda.neg_weight, c.detach()),
                ),
            };
            let manifold = (ll * w).mean();
            let var = p.var(1).add_scalar(1e-4).sqrt();
            let var_loss = (var.neg() + cfg.gamma).clamp_min(0.0).mean();
            total = total + manifold + var_loss * cfg.alpha;
        }
        total
    }
}

/// `proxy_fda_loss` and `proxy_generator_loss` (both sets in one batched pass) against the
/// per-set reference: same values, same gradients (to the features and to the pooling
/// weights), for every non-neighbour weighting.
#[test]
fn batched_losses_equal_the_per_set_reference() {
    let _g = lock();
    let ad = dev().autodiff();
    ad.seed(22);
    let (b, d, k, n_p) = (14, 6, 4, 3);
    let pre = mat(randn(b * d, 41), b, d, &ad);
    let graph = KnnGraph::build(pre.clone(), k).unwrap();
    let gen_ = ProxyGeneratorConfig::new(d).with_n_p(n_p).init(&ad);
    let p0 = gen_
        .forward(mat(randn(b * d, 42), b, d, &ad), &graph)
        .unwrap();
    let v = |t: Tensor<2>| t.try_to_vec_as::<f32>().unwrap();
    let v3 = |t: Tensor<3>| t.try_to_vec_as::<f32>().unwrap();
    for neg_weight in [
        NegWeight::Const(0.7),
        NegWeight::PreSim,
        NegWeight::OneMinusSim,
    ] {
        let fda = FdaConfig {
            k,
            neg_weight,
            ..Default::default()
        };
        let leaf =
            |t: &Tensor<3>| Tensor::<3>::from_data(t.clone().into_data(), &ad).require_grad();
        let run = |batched: bool| {
            let ft = mat(randn(b * d, 43), b, d, &ad).require_grad();
            let (pos, neg) = (leaf(&p0.pos), leaf(&p0.neg));
            let p = Proxies {
                pos: pos.clone(),
                neg: neg.clone(),
            };
            let cfg = ProxyLossConfig::default();
            let (lp, lg) = if batched {
                (
                    proxy_fda_loss(ft.clone(), pre.clone(), &graph, &p, &fda).unwrap(),
                    proxy_generator_loss(pre.clone(), &graph, &p, &fda, &cfg).unwrap(),
                )
            } else {
                (
                    reference::proxy_fda_loss(ft.clone(), pre.clone(), &graph, &p, &fda),
                    reference::proxy_generator_loss(pre.clone(), &graph, &p, &fda, &cfg),
                )
            };
            let values = [scalar(lp.clone()) as f32, scalar(lg.clone()) as f32];
            let grads = (lp + lg * 0.5).backward();
            (
                values,
                v(ft.grad(&grads).unwrap()),
                v3(pos.grad(&grads).unwrap()),
                v3(neg.grad(&grads).unwrap()),
            )
        };
        let (got, want) = (run(true), run(false));
        // Relative to each quantity's scale (the generator loss is ~0.05).
        for (a, r) in got.0.iter().zip(&want.0) {
            let e = (a - r).abs() / r.abs();
            assert!(
                e <= 1e-5,
                "{neg_weight:?}: losses {:?} vs {:?}",
                got.0,
                want.0
            );
        }
        for (name, a, r) in [
            ("features", &got.1, &want.1),
            ("positive weights", &got.2, &want.2),
            ("negative weights", &got.3, &want.3),
        ] {
            let scale = r.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let e = max_abs_diff(a, r) / scale;
            assert!(scale > 1e-4, "{name}: vacuous gradient");
            assert!(
                e <= 1e-5,
                "{neg_weight:?}: gradient to the {name} differs by {e} (rel.)"
            );
        }
    }
}

#[test]
fn generator_has_about_22k_parameters_at_d512() {
    let dev = dev();
    let n = ProxyGeneratorConfig::new(512).init(&dev).num_params();
    assert!((20_000..26_000).contains(&n), "{n}");
}

#[test]
fn generator_learns_only_from_its_own_loss() {
    let _g = lock();
    let ad = dev().autodiff();
    ad.seed(5);
    let (b, d) = (10, 6);
    let gen_ = ProxyGeneratorConfig::new(d).with_n_p(2).init(&ad);
    let pre = mat(randn(b * d, 7), b, d, &ad);
    let ft = mat(randn(b * d, 8), b, d, &ad).require_grad();
    let graph = KnnGraph::build(pre.clone(), 3).unwrap();
    let fda = FdaConfig {
        k: 3,
        ..Default::default()
    };
    let p = gen_.forward(ft.clone(), &graph).unwrap();
    // Proxy-FDA: gradient to the features, none to the generator (pooling weights detached).
    let grads = proxy_fda_loss(ft.clone(), pre.clone(), &graph, &p, &fda)
        .unwrap()
        .backward();
    assert!(ft.grad(&grads).is_some());
    let gp = burn::optim::GradientsParams::from_grads(grads, &gen_);
    assert_eq!(gp.len(), 0);
    // Generator loss: gradients to the generator.
    let p = gen_.forward(ft.clone(), &graph).unwrap();
    let l = proxy_generator_loss(pre, &graph, &p, &fda, &ProxyLossConfig::default()).unwrap();
    assert!(scalar(l.clone()).is_finite());
    let gp = burn::optim::GradientsParams::from_grads(l.backward(), &gen_);
    assert!(!gp.is_empty());
}

#[test]
fn sampler_is_class_balanced_and_mines_hard_classes() {
    let labels: Vec<usize> = (0..60).map(|i| i % 6).collect();
    // Class centroids on a line: class c at position c, so neighbours of 0 are 1, 2, ...
    let feats: Vec<f32> = labels
        .iter()
        .flat_map(|&c| {
            let t = c as f32 * 0.3;
            [t.cos(), t.sin()]
        })
        .collect();
    let s = ClassBalancedSampler::new(&labels, 3, 4)
        .unwrap()
        .with_hard_mining(&feats, 2)
        .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for _ in 0..20 {
        let batch = s.sample(&mut rng);
        assert_eq!(batch.len(), 12);
        let mut cls: Vec<usize> = batch.iter().map(|&i| labels[i]).collect();
        for chunk in cls.chunks(4) {
            assert!(chunk.iter().all(|&c| c == chunk[0]));
        }
        cls.sort();
        cls.dedup();
        assert_eq!(cls.len(), 3);
        assert!(
            cls[2] - cls[0] == 2,
            "hard mining picks adjacent classes: {cls:?}"
        );
    }
    assert!(ClassBalancedSampler::new(&[], 2, 2).is_err());
    assert!(
        ClassBalancedSampler::new(&labels, 7, 2)
            .unwrap_err()
            .to_string()
            .contains("only 6")
    );
    assert!(
        ClassBalancedSampler::new(&[0, 2], 1, 1)
            .unwrap_err()
            .to_string()
            .contains("class 1")
    );
    assert!(
        ClassBalancedSampler::new(&labels, 3, 4)
            .unwrap()
            .with_hard_mining(&feats[..10], 2)
            .is_err()
    );
}

#[test]
fn wise_ft_endpoints_and_l2sp() {
    let _g = lock();
    let dev = dev();
    dev.seed(1);
    let cfg = ember_core::nn::CnnEncoderConfig::new(8).with_channels(vec![4]);
    let a = cfg.init(&dev);
    let b = cfg.init(&dev);
    let flat = |m: &ember_core::nn::CnnEncoder| -> Vec<f32> {
        collect_params(m)
            .into_iter()
            .flat_map(|(t, _)| t.try_to_vec_as::<f32>().unwrap())
            .collect()
    };
    assert_eq!(flat(&wise_ft(&a, &b, 0.0).unwrap()), flat(&a));
    let one = flat(&wise_ft(&a, &b, 1.0).unwrap());
    for (x, y) in one.iter().zip(flat(&b)) {
        assert!((x - y).abs() < 1e-6);
    }
    let half = flat(&wise_ft(&a, &b, 0.5).unwrap());
    for ((h, x), y) in half.iter().zip(flat(&a)).zip(flat(&b)) {
        assert!((h - 0.5 * (x + y)).abs() < 1e-6);
    }
    assert!(wise_ft(&a, &b, 1.5).is_err());
    // L2-SP on an autodiff copy: zero at θ0.
    let ad = dev.autodiff();
    let path = std::env::temp_dir().join(format!("pfda-l2sp-{}.bpk", std::process::id()));
    a.clone().save_file(&path).unwrap();
    let a_ad = cfg.init(&ad).load_file(&path);
    let refp = collect_params(&a);
    assert!(scalar(l2sp_penalty(&a_ad, &refp).unwrap()).abs() < 1e-10);
    let b_ref = collect_params(&b);
    let want: f64 = flat(&a)
        .iter()
        .zip(flat(&b))
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum();
    let got = scalar(l2sp_penalty(&a_ad, &b_ref).unwrap());
    // Running statistics are not trainable, so they do not count; the total is at most `want`.
    assert!(got > 0.0 && got <= want + 1e-3);
    assert!(l2sp_penalty(&a_ad, &b_ref[1..]).is_err());
}

#[test]
fn linear_probe_and_distances() {
    // Two separable blobs.
    let n = 40;
    let x: Vec<f32> = (0..n)
        .flat_map(|i| {
            let c = (i % 2) as f32 * 4.0 - 2.0;
            [c + 0.1 * (i as f32).sin(), 0.3 * (i as f32).cos()]
        })
        .collect();
    let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let acc = linear_probe_accuracy(
        &x[..40],
        &y[..20],
        &x[40..],
        &y[20..],
        2,
        &LinearProbeConfig::default(),
    )
    .unwrap();
    assert_eq!(acc, 1.0);
    assert!(linear_probe_accuracy(&x, &y[..10], &x, &y, 2, &Default::default()).is_err());
    assert!(
        linear_probe_accuracy(
            &x[..40],
            &[0; 20],
            &x[40..],
            &[0; 20],
            2,
            &Default::default()
        )
        .is_err()
    );
    // OT between a cloud and itself is ~0 (small ε); a shift by v costs ~‖v‖².
    let cfg = OtConfig {
        eps_rel: 0.01,
        iters: 500,
        label_cost: false,
    };
    let same = ot_distance(&x, &x, &y, 2, &cfg).unwrap();
    let moved: Vec<f32> = x.iter().map(|v| v + 1.0).collect(); // translation by (1, 1): W₂² = 2
    let shift = ot_distance(&x, &moved, &y, 2, &cfg).unwrap();
    assert!(same < 0.1 && (shift - 2.0).abs() < 0.15, "{same} {shift}");
    let shifted: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 2 == 1 { v + 0.5 } else { *v })
        .collect();
    assert!((mean_sq_l2(&x, &shifted, 2).unwrap() - 0.25).abs() < 1e-6);
    assert!(sinkhorn(&[0.0, 1.0], 1, 1, 0.1, 10).is_err());
    assert!(sinkhorn(&[f64::NAN], 1, 1, 0.1, 10).is_err());
    assert!(ot_distance(&x, &x[..10], &y, 2, &cfg).is_err());
    let mut bad = x.clone();
    bad[3] = f32::INFINITY;
    assert!(mean_sq_l2(&x, &bad, 2).is_err());
}
