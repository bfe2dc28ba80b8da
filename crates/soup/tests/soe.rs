//! Soup-of-Experts: instantiation algebra, gradient identities against autodiff, export,
//! frozen bank, sampling, meta-distribution, bad input, resume, and a smoke training run.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use ember_core::lm::{mean_loss, next_token_loss, token_batch};
use ember_core::nn::TransformerConfig;
use ember_core::train::{TrainConfig, Trainer};
use ember_soup::train::soup_step;
use ember_soup::{
    AliasTable, AlphaNorm, FrozenSoup, MarkovCorpus, MarkovCorpusConfig, MetaDistribution,
    MixtureSampler, SoupConfig, SoupOfExperts,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

/// Burn's backend RNG is process-global: tests that seed it run one at a time.
static RNG_LOCK: Mutex<()> = Mutex::new(());

fn base() -> TransformerConfig {
    TransformerConfig::new(16, 8, 2, 1, 16, 6).with_causal(true)
}

fn soup(device: &Device, norm: AlphaNorm) -> SoupOfExperts {
    SoupConfig::new(base(), 3, 4)
        .with_router_hidden(vec![8])
        .with_alpha_norm(norm)
        .with_expert_init_std(0.05)
        .init(device)
        .unwrap()
}

fn windows(device: &Device) -> Tensor<2, Int> {
    let rows: Vec<Vec<u32>> = (0..3)
        .map(|r| (0..7).map(|t| ((r * 5 + t * 3) % 16) as u32).collect())
        .collect();
    token_batch(&rows, device).unwrap()
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// Every float parameter (and its gradient, when given grads), flattened, in visiting order.
struct Collect<'a> {
    grads: Option<&'a burn::tensor::Gradients>,
    values: Vec<Vec<f32>>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let v = match self.grads {
            Some(g) => t.grad(g).map(to_vec).unwrap_or_default(),
            None => to_vec(t),
        };
        self.values.push(v);
    }
}

fn params(m: &impl Module) -> Vec<Vec<f32>> {
    let mut c = Collect {
        grads: None,
        values: Vec::new(),
    };
    m.visit(&mut c);
    c.values
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs()),
            "index {i}: {x} vs {y}"
        );
    }
}

#[test]
fn instantiation_is_shared_plus_weighted_experts() {
    let _g = RNG_LOCK.lock().unwrap();
    let device = Device::flex();
    device.seed(1);
    for norm in [AlphaNorm::None, AlphaNorm::Softmax, AlphaNorm::L1] {
        let s = soup(&device, norm);
        let h = [0.2, 0.5, 0.3];
        let alpha = to_vec(s.coefficients(&h).unwrap());
        match norm {
            AlphaNorm::Softmax => {
                assert!((alpha.iter().sum::<f32>() - 1.0).abs() < 1e-6);
                assert!(alpha.iter().all(|a| *a > 0.0));
            }
            AlphaNorm::L1 => {
                assert!((alpha.iter().map(|a| a.abs()).sum::<f32>() - 1.0).abs() < 1e-5)
            }
            AlphaNorm::None => {}
        }
        // By hand: Θ_i = S_i + Σ_j α_j E_i[j, :].
        let shared = params(s.shared());
        let exported = params(&s.export(&h).unwrap());
        assert_eq!(shared.len(), s.n_tensors());
        for (i, (sv, ev)) in shared.iter().zip(&exported).enumerate() {
            let e = to_vec(s.expert_tensor(i).unwrap());
            let want: Vec<f32> = (0..sv.len())
                .map(|q| sv[q] + (0..4).map(|j| alpha[j] * e[j * sv.len() + q]).sum::<f32>())
                .collect();
            close(ev, &want, 1e-6);
        }
        // The frozen host bank computes the same vector.
        let frozen = FrozenSoup::new(&s).unwrap();
        let flat = frozen.instantiate(&h).unwrap();
        close(&flat, &exported.concat(), 1e-6);
        assert_eq!(frozen.n_params(), s.base_params());
        assert_eq!(
            s.bank_params(),
            5 * s.base_params() + (3 * 8 + 8) + (8 * 4 + 4)
        );
    }
}

#[test]
fn exported_specialist_matches_the_soup_forward() {
    let _g = RNG_LOCK.lock().unwrap();
    let device = Device::flex();
    device.seed(2);
    let s = soup(&device, AlphaNorm::None);
    let h = [0.0, 1.0, 0.0];
    let x = windows(&device);
    let in_soup = next_token_loss(&s.instantiate(&h).unwrap(), x.clone()).unwrap();
    let exported = s.export(&h).unwrap();
    let standalone = next_token_loss(&exported, x.clone()).unwrap();
    assert_eq!(to_vec(in_soup), to_vec(standalone.clone()));
    // Through the frozen bank and a save/load round trip too.
    let frozen = FrozenSoup::new(&s).unwrap();
    let via_bank = frozen.export(&h, &device).unwrap();
    let bank_loss = next_token_loss(&via_bank, x.clone())
        .unwrap()
        .into_scalar::<f32>();
    assert!((bank_loss - standalone.clone().into_scalar::<f32>()).abs() < 1e-6);
    let path = std::env::temp_dir().join(format!("soup-export-{}.bpk", std::process::id()));
    exported.clone().save_file(&path).unwrap();
    let loaded = base().init(&device).load_file(&path);
    let loaded_loss = next_token_loss(&loaded, x).unwrap();
    assert_eq!(to_vec(loaded_loss), to_vec(standalone));
    std::fs::remove_file(path).ok();
}

/// ∂L/∂S = ∂L/∂Θ, ∂L/∂E_j = α_j ∂L/∂Θ and ∂L/∂α_j = Σ_tensors ⟨E_j, ∂L/∂Θ⟩, where ∂L/∂Θ comes
/// from autodiff on the exported (standalone) model.
#[test]
fn gradients_follow_the_chain_rule_identities() {
    let _g = RNG_LOCK.lock().unwrap();
    let device = Device::flex().autodiff();
    device.seed(3);
    let s = soup(&device, AlphaNorm::None);
    let h = [0.3, 0.3, 0.4];
    let x = windows(&device);

    let theta = s.export(&h).unwrap();
    let grads_theta = next_token_loss(&theta, x.clone()).unwrap().backward();
    let mut c = Collect {
        grads: Some(&grads_theta),
        values: Vec::new(),
    };
    theta.visit(&mut c);
    let g_theta = c.values;

    let alpha_leaf = s.coefficients(&h).unwrap().detach().require_grad();
    let model = s.instantiate_alpha(alpha_leaf.clone()).unwrap();
    let grads = next_token_loss(&model, x).unwrap().backward();
    let mut c = Collect {
        grads: Some(&grads),
        values: Vec::new(),
    };
    s.shared().visit(&mut c);
    let g_shared = c.values;
    let alpha = to_vec(alpha_leaf.clone().inner());
    let g_alpha = to_vec(alpha_leaf.grad(&grads).unwrap());

    let mut want_alpha = vec![0f32; 4];
    for i in 0..s.n_tensors() {
        close(&g_shared[i], &g_theta[i], 1e-5);
        let e_param = s.expert_tensor(i).unwrap();
        let g_e = to_vec(e_param.grad(&grads).unwrap());
        let e = to_vec(e_param.inner());
        let numel = g_theta[i].len();
        for j in 0..4 {
            let want: Vec<f32> = g_theta[i].iter().map(|g| alpha[j] * g).collect();
            close(&g_e[j * numel..(j + 1) * numel], &want, 1e-5);
            want_alpha[j] += (0..numel)
                .map(|q| e[j * numel + q] * g_theta[i][q])
                .sum::<f32>();
        }
    }
    close(&g_alpha, &want_alpha, 1e-4);
}

#[test]
fn mixture_sampler_matches_weights() {
    let h = [0.5, 0.0, 0.2, 0.3];
    let table = AliasTable::new(&h).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let n = 40_000;
    let mut counts = [0usize; 4];
    for _ in 0..n {
        counts[table.sample(&mut rng)] += 1;
    }
    // χ² with 2 dof (the zero cell must be empty): 13.8 is the 0.1% critical value.
    assert_eq!(counts[1], 0);
    let chi2: f64 = [0, 2, 3]
        .iter()
        .map(|&i| {
            let e = h[i] * n as f64;
            (counts[i] as f64 - e).powi(2) / e
        })
        .sum();
    assert!(chi2 < 13.8, "χ² = {chi2}, counts {counts:?}");

    let domains = vec![
        vec![vec![0u32, 1]],
        vec![],
        vec![vec![4, 5]],
        vec![vec![6, 7]],
    ];
    let sampler = MixtureSampler::new(domains).unwrap();
    let (rows, which) = sampler.sample(&h, 100, &mut rng).unwrap();
    for (r, d) in rows.iter().zip(&which) {
        assert_eq!(r[0] as usize, 2 * d);
    }
    assert!(sampler.sample(&[0.0, 1.0, 0.0, 0.0], 1, &mut rng).is_err());
    assert!(sampler.sample(&[0.5, 0.5], 1, &mut rng).is_err());
    assert!(sampler.sample(&[0.6, 0.0, 0.6, 0.0], 1, &mut rng).is_err());
    assert!(AliasTable::new(&[0.0, 0.0]).is_err());
    assert!(AliasTable::new(&[1.0, f64::NAN]).is_err());
    assert!(MixtureSampler::new(vec![vec![], vec![]]).is_err());
}

#[test]
fn meta_distribution_draws_lie_on_the_simplex_with_the_support_size() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let meta = MetaDistribution::sparse(10, &[1, 3], 1.0).unwrap();
    let mut sizes = [0usize; 11];
    for _ in 0..2000 {
        let h = meta.sample(&mut rng);
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(h.iter().all(|v| *v >= 0.0));
        sizes[h.iter().filter(|v| **v > 0.0).count()] += 1;
    }
    assert_eq!(sizes[1] + sizes[3], 2000, "{sizes:?}");
    assert!(sizes[1] > 850 && sizes[3] > 850, "{sizes:?}");
    // Dense draws are centred on the base mixture.
    let base: Vec<f64> = (0..10).map(|i| (i + 1) as f64 / 55.0).collect();
    let dense = MetaDistribution::sparse(10, &[1], 1.0)
        .unwrap()
        .with_dense(1.0, 5.0, &base)
        .unwrap();
    let mut mean = [0.0; 10];
    for _ in 0..4000 {
        for (m, v) in mean.iter_mut().zip(dense.sample(&mut rng)) {
            *m += v / 4000.0;
        }
    }
    for (m, b) in mean.iter().zip(&base) {
        assert!((m - b).abs() < 0.01, "{m} vs {b}");
    }
    assert!(MetaDistribution::sparse(10, &[11], 1.0).is_err());
    assert!(MetaDistribution::sparse(10, &[1], 0.0).is_err());
    assert!(MetaDistribution::sparse(0, &[1], 1.0).is_err());
    let bad_base = [0.5; 10];
    assert!(
        MetaDistribution::sparse(10, &[1], 1.0)
            .unwrap()
            .with_dense(0.5, 1.0, &bad_base)
            .is_err()
    );
}

#[test]
fn bad_domain_weights_and_configs_are_errors() {
    let _g = RNG_LOCK.lock().unwrap();
    let device = Device::flex();
    let s = soup(&device, AlphaNorm::None);
    for h in [
        vec![0.5, 0.5],
        vec![0.5, 0.5, 0.5],
        vec![f64::NAN, 0.5, 0.5],
        vec![-0.5, 1.0, 0.5],
    ] {
        let err = s.export(&h).unwrap_err().to_string();
        assert!(!err.is_empty());
    }
    assert!(
        s.instantiate_alpha(Tensor::<1>::zeros([3], &device))
            .is_err()
    );
    assert!(SoupConfig::new(base(), 0, 4).init(&device).is_err());
    assert!(SoupConfig::new(base(), 3, 0).init(&device).is_err());
    let frozen = FrozenSoup::new(&s).unwrap();
    let mut out = vec![0.0; frozen.n_params()];
    assert!(frozen.instantiate_into(&[1.0; 3], &mut out).is_err());
    assert!(frozen.instantiate_into(&[f32::NAN; 4], &mut out).is_err());
    assert!(frozen.to_transformer(&[0.0; 3], &device).is_err());
}

/// Three one-leaf domains of a corpus with tables from `seed`, documents from `doc_seed`.
fn tiny_corpus_sampler(seed: u64, doc_seed: u64) -> (MarkovCorpus, MixtureSampler) {
    let mut c = MarkovCorpusConfig::new(16, 7);
    c.topics = 3;
    c.leaves_per_topic = 1;
    c.topic_successors = 2;
    c.leaf_successors = 2;
    c.seed = seed;
    let corpus = MarkovCorpus::new(c).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(doc_seed);
    let domains = (0..3)
        .map(|leaf| {
            let mut w = vec![0.0; 3];
            w[leaf] = 1.0;
            corpus
                .sample_docs(&w, 200, &mut rng)
                .unwrap()
                .into_iter()
                .map(|d| d.1)
                .collect()
        })
        .collect();
    (corpus, MixtureSampler::new(domains).unwrap())
}

/// A soup interrupted after 6 steps and resumed from its step-6 checkpoint ends identical to
/// an uninterrupted 10-step run.
#[test]
fn soup_training_resumes_exactly() {
    let _g = RNG_LOCK.lock().unwrap();
    let device = Device::flex().autodiff();
    let (_, sampler) = tiny_corpus_sampler(6, 6);
    let meta = MetaDistribution::sparse(3, &[1, 2], 1.0).unwrap();
    let cfg = || {
        TrainConfig::new(10, 1e-2)
            .with_checkpoint_every(Some(3))
            .with_seed(6)
            .with_progress(false)
    };
    let run = |dir: &std::path::Path, interrupt: bool| {
        device.seed(6);
        let s = soup(&device, AlphaNorm::None);
        let mut t = Trainer::new(s, cfg(), &device).with_dir(dir).unwrap();
        if interrupt {
            t.run_steps(6, |m, rng, _| {
                soup_step(m, &sampler, &meta, 4, rng, &device)
            })
            .unwrap();
            drop(t);
            device.seed(99); // a fresh process would not share the RNG state
            let s = soup(&device, AlphaNorm::None);
            t = Trainer::new(s, cfg(), &device).with_dir(dir).unwrap();
            assert_eq!(t.resume().unwrap(), 6);
        }
        t.run(|m, rng, _| soup_step(m, &sampler, &meta, 4, rng, &device))
            .unwrap();
        params(&t.into_model())
    };
    let root = std::env::temp_dir().join(format!("soup-resume-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    let a = run(&root.join("a"), false);
    let b = run(&root.join("b"), true);
    for (x, y) in a.iter().zip(&b) {
        close(x, y, 1e-6);
    }
    std::fs::remove_dir_all(&root).ok();
}

/// After a short run, the soup specialises: at a one-hot `h` on domain c it has lower loss on
/// domain c than at the uniform `h`, on average over the domains.
#[test]
fn trained_soup_specialises_to_one_hot_domains() {
    let _g = RNG_LOCK.lock().unwrap();
    let device = Device::flex().autodiff();
    device.seed(7);
    let (_, sampler) = tiny_corpus_sampler(7, 7);
    let meta = MetaDistribution::sparse(3, &[1], 1.0).unwrap();
    let s = SoupConfig::new(
        TransformerConfig::new(16, 16, 2, 1, 32, 6).with_causal(true),
        3,
        3,
    )
    .init(&device)
    .unwrap();
    let (s, _) = ember_soup::train::train_soup(
        s,
        &sampler,
        &meta,
        16,
        TrainConfig::new(200, 1e-2)
            .with_seed(7)
            .with_progress(false),
        &device,
        None,
    )
    .unwrap();
    let s = s.valid();
    let plain = Device::flex();
    let (_, eval) = tiny_corpus_sampler(7, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let (mut one_hot, mut uniform) = (0.0, 0.0);
    for c in 0..3 {
        let mut h = vec![0.0; 3];
        h[c] = 1.0;
        let (docs, _) = eval.sample(&h, 100, &mut rng).unwrap();
        one_hot += mean_loss(&s.export(&h).unwrap(), &docs, 50, &plain).unwrap();
        uniform += mean_loss(&s.export(&[1.0 / 3.0; 3]).unwrap(), &docs, 50, &plain).unwrap();
    }
    assert!(one_hot < uniform, "one-hot {one_hot} vs uniform {uniform}");
}

#[test]
fn empirical_component_and_coherent_samples() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let bank = vec![vec![0.5, 0.5, 0.0], vec![0.0, 0.25, 0.75]];
    let meta = MetaDistribution::sparse(3, &[1], 1.0)
        .unwrap()
        .with_empirical(1.0, bank.clone())
        .unwrap();
    let mut seen = [0usize; 2];
    for _ in 0..200 {
        let h = meta.sample(&mut rng);
        let i = bank.iter().position(|b| *b == h).expect("a bank member");
        seen[i] += 1;
    }
    assert!(seen[0] > 60 && seen[1] > 60, "{seen:?}");
    let base = MetaDistribution::sparse(3, &[1], 1.0).unwrap();
    assert!(base.clone().with_empirical(0.5, vec![]).is_err());
    assert!(
        base.clone()
            .with_empirical(0.5, vec![vec![1.0, 0.0]])
            .is_err()
    );
    assert!(base.with_empirical(1.5, bank).is_err());

    // Two tight groups of documents in feature space, one domain each: a coherent sample of
    // the group's size around any anchor is one-hot on the anchor's domain.
    let mut feats = Vec::new();
    let mut assign = Vec::new();
    for i in 0..20 {
        let g = i % 2;
        let jitter = 0.01 * (i as f32);
        feats.extend(if g == 0 { [1.0, jitter] } else { [jitter, 1.0] });
        assign.push(g);
    }
    let hs =
        ember_soup::domains::coherent_sample_histograms(&feats, 2, &assign, 2, 16, 10, 3).unwrap();
    assert_eq!(hs.len(), 16);
    for h in &hs {
        assert!(*h == vec![1.0, 0.0] || *h == vec![0.0, 1.0], "{h:?}");
    }
    assert!(
        ember_soup::domains::coherent_sample_histograms(&feats, 2, &assign, 2, 4, 30, 0).is_err()
    );
    assert!(
        ember_soup::domains::coherent_sample_histograms(&feats[..3], 2, &assign, 2, 4, 5, 0)
            .is_err()
    );
}
