//! Every loss against NumPy/SciPy reference values (`scripts/gen_fixtures.py` writes
//! `fixtures/losses.json`), on flex. Values are f32 on our side: tolerance 1e-5 relative +
//! 1e-5 absolute; the masked cross-entropy gradient is checked too.

use burn::prelude::*;
use burn::tensor::Tolerance;
use ember_core::loss;
use serde_json::Value;

fn fixtures() -> Value {
    serde_json::from_str(include_str!("fixtures/losses.json")).expect("losses.json parses")
}

fn dev() -> Device {
    Device::flex()
}

fn mat(v: &Value, d: &Device) -> Tensor<2> {
    let rows = v.as_array().unwrap();
    let r = rows.len();
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect();
    let c = flat.len() / r;
    Tensor::<1>::from_data(TensorData::new(flat, [r * c]), d).reshape([r, c])
}

fn vecf(v: &Value, d: &Device) -> Tensor<1> {
    let flat: Vec<f32> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let n = flat.len();
    Tensor::from_data(TensorData::new(flat, [n]), d)
}

fn veci(v: &Value, d: &Device) -> Tensor<1, Int> {
    let flat: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let n = flat.len();
    Tensor::from_data(TensorData::new(flat, [n]), d)
}

fn scalar(v: &Value, d: &Device) -> Tensor<1> {
    Tensor::from_floats([v.as_f64().unwrap() as f32], d)
}

fn check(name: &str, got: Tensor<1>, want: &Value) {
    let got = got.into_scalar::<f64>();
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-5 + 1e-5 * want.abs(),
        "{name}: ours {got}, reference {want}"
    );
}

fn cases<'a>(f: &'a Value, key: &str) -> &'a Vec<Value> {
    let c = f[key]
        .as_array()
        .unwrap_or_else(|| panic!("fixture {key} missing"));
    assert!(!c.is_empty(), "no {key} cases");
    c
}

#[test]
fn masked_cross_entropy_value_and_gradient() {
    let f = fixtures();
    let d = dev().autodiff();
    for c in cases(&f, "masked_cross_entropy") {
        let logits = mat(&c["logits"], &d).require_grad();
        let l = loss::masked_cross_entropy(
            logits.clone(),
            veci(&c["targets"], &d),
            vecf(&c["mask"], &d),
        )
        .unwrap();
        check(c["name"].as_str().unwrap(), l.clone(), &c["loss"]);
        let g = logits.grad(&l.backward()).unwrap();
        g.to_data().assert_approx_eq::<f32>(
            &mat(&c["grad_logits"], &dev()).to_data(),
            Tolerance::rel_abs(1e-5, 1e-6),
        );
    }
}

#[test]
fn info_nce_matches_reference() {
    let f = fixtures();
    let d = dev();
    for c in cases(&f, "info_nce") {
        let l = loss::info_nce(
            mat(&c["a"], &d),
            mat(&c["b"], &d),
            scalar(&c["logit_scale"], &d),
        )
        .unwrap();
        check(c["name"].as_str().unwrap(), l, &c["loss"]);
    }
}

#[test]
fn weighted_pairwise_sigmoid_matches_reference() {
    let f = fixtures();
    let d = dev();
    for c in cases(&f, "weighted_pairwise_sigmoid") {
        let l = loss::weighted_pairwise_sigmoid(
            mat(&c["sim"], &d),
            mat(&c["z"], &d),
            mat(&c["w"], &d),
            scalar(&c["t"], &d),
            scalar(&c["b"], &d),
        )
        .unwrap();
        check(c["name"].as_str().unwrap(), l, &c["loss"]);
    }
}

#[test]
fn margin_softmaxes_match_reference() {
    let f = fixtures();
    let d = dev();
    for (key, func) in [
        (
            "am_softmax",
            loss::am_softmax
                as fn(Tensor<2>, Tensor<1, Int>, f64, f64) -> ember_core::Result<Tensor<1>>,
        ),
        ("aam_softmax", loss::aam_softmax),
    ] {
        for c in cases(&f, key) {
            let l = func(
                mat(&c["cos"], &d),
                veci(&c["labels"], &d),
                c["s"].as_f64().unwrap(),
                c["m"].as_f64().unwrap(),
            )
            .unwrap();
            check(
                &format!("{key}/{}", c["name"].as_str().unwrap()),
                l,
                &c["loss"],
            );
        }
    }
}

#[test]
fn bradley_terry_matches_reference() {
    let f = fixtures();
    let d = dev();
    for c in cases(&f, "bradley_terry") {
        let l = loss::bradley_terry(
            vecf(&c["r_chosen"], &d),
            vecf(&c["r_rejected"], &d),
            c["beta"].as_f64().unwrap(),
        )
        .unwrap();
        check(c["name"].as_str().unwrap(), l, &c["loss"]);
    }
}

#[test]
fn shape_mismatches_are_errors() {
    let d = dev();
    let logits = Tensor::<2>::zeros([4, 3], &d);
    let err = loss::masked_cross_entropy(
        logits.clone(),
        Tensor::zeros([5], &d),
        Tensor::ones([4], &d),
    )
    .unwrap_err();
    assert!(err.to_string().contains("targets"), "{err}");
    let err = loss::info_nce(
        logits.clone(),
        Tensor::zeros([4, 2], &d),
        Tensor::zeros([1], &d),
    )
    .unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
    let err = loss::bradley_terry(Tensor::zeros([3], &d), Tensor::zeros([2], &d), 1.0).unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");
    let err = loss::am_softmax(logits, Tensor::zeros([2], &d), 30.0, 0.4).unwrap_err();
    assert!(err.to_string().contains("labels"), "{err}");
}
