//! The FDA / Proxy-FDA losses, the kNN graph, Sinkhorn and OTDD-lite against independent
//! NumPy implementations (`scripts/gen_proxy_fda_fixtures.py` -> `fixtures/fda.json`).

use burn::prelude::*;
use ember_proxy_fda::*;
use serde_json::Value;

fn fixtures() -> Value {
    serde_json::from_str(include_str!("fixtures/fda.json")).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn mat(v: &Value, r: usize, c: usize, dev: &Device) -> Tensor<2> {
    Tensor::<1>::from_data(TensorData::new(f32s(v), [r * c]), dev).reshape([r, c])
}

fn mode(v: &Value) -> NegWeight {
    let a = v.as_array().unwrap();
    match a[0].as_str().unwrap() {
        "const" => NegWeight::Const(a[1].as_f64().unwrap()),
        "presim" => NegWeight::PreSim,
        _ => NegWeight::OneMinusSim,
    }
}

fn dev() -> Device {
    ember_core::backend::default_backend()
        .and_then(ember_core::backend::device)
        .unwrap()
}

#[test]
fn fda_loss_and_graph_match_numpy() {
    let dev = dev();
    for c in fixtures()["fda"].as_array().unwrap() {
        let (b, d, k) = (
            c["b"].as_u64().unwrap() as usize,
            c["d"].as_u64().unwrap() as usize,
            c["k"].as_u64().unwrap() as usize,
        );
        let pre = mat(&c["pre"], b, d, &dev);
        let ft = mat(&c["ft"], b, d, &dev);
        let g = KnnGraph::build(pre, k).unwrap();
        let want: Vec<Vec<usize>> = serde_json::from_value(c["neighbours"].clone()).unwrap();
        assert_eq!(g.neighbours, want);
        let cfg = FdaConfig {
            k,
            tau: c["tau"].as_f64().unwrap(),
            bias: c["bias"].as_f64().map_or(Bias::Calibrated, Bias::Fixed),
            neg_weight: mode(&c["mode"]),
        };
        assert!((cfg.bias_value(&g) - c["bias_value"].as_f64().unwrap()).abs() < 1e-4);
        let got = fda_loss(ft, &g, &cfg).unwrap().into_scalar::<f64>();
        let want = c["loss"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-4 * want.abs().max(1.0),
            "{got} vs {want} ({cfg:?})"
        );
    }
}

#[test]
fn proxy_fda_loss_matches_numpy() {
    let dev = dev();
    for c in fixtures()["proxy_fda"].as_array().unwrap() {
        let g = |k: &str| c[k].as_u64().unwrap() as usize;
        let (b, d, k, n_p) = (g("b"), g("d"), g("k"), g("n_p"));
        let pre = mat(&c["pre"], b, d, &dev);
        let ft = mat(&c["ft"], b, d, &dev);
        let a = |key: &str| {
            Tensor::<1>::from_data(TensorData::new(f32s(&c[key]), [b * n_p * b]), &dev)
                .reshape([b, n_p, b])
        };
        let proxies = Proxies {
            pos: a("a_pos"),
            neg: a("a_neg"),
        };
        let graph = KnnGraph::build(pre.clone(), k).unwrap();
        let cfg = FdaConfig {
            k,
            tau: c["tau"].as_f64().unwrap(),
            bias: Bias::Calibrated,
            neg_weight: mode(&c["mode"]),
        };
        let got = proxy_fda_loss(ft, pre, &graph, &proxies, &cfg)
            .unwrap()
            .into_scalar::<f64>();
        let want = c["loss"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-4 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}

#[test]
fn sinkhorn_and_otdd_match_numpy() {
    let fx = fixtures();
    for c in fx["sinkhorn"].as_array().unwrap() {
        let (n, m) = (
            c["n"].as_u64().unwrap() as usize,
            c["m"].as_u64().unwrap() as usize,
        );
        let cost: Vec<f64> = c["cost"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let got = sinkhorn(&cost, n, m, c["eps"].as_f64().unwrap(), 300).unwrap();
        let want = c["value"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-8, "{got} vs {want}");
    }
    for c in fx["otdd"].as_array().unwrap() {
        let (n, d) = (
            c["n"].as_u64().unwrap() as usize,
            c["d"].as_u64().unwrap() as usize,
        );
        let labels: Vec<usize> = serde_json::from_value(c["labels"].clone()).unwrap();
        let cfg = OtConfig {
            eps_rel: 0.05,
            iters: 300,
            label_cost: true,
        };
        let got = ot_distance(&f32s(&c["x"]), &f32s(&c["y"]), &labels, d, &cfg).unwrap();
        let want = c["value"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-5 * want.max(1.0),
            "{got} vs {want} (n={n})"
        );
    }
}
