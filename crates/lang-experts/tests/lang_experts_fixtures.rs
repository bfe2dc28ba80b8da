//! Expertise and concept metrics against scikit-learn / SciPy / NumPy
//! (`scripts/gen_lang_experts_fixtures.py`), and the spec's hand-worked AP/AUROC cases.

use ember_lang_experts::concepts::{adjusted_rand_index, average_linkage};
use ember_lang_experts::expertise::score_block;
use serde_json::Value;

fn fixtures() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/lang_experts_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn unit_stats_match_sklearn_and_numpy() {
    let fx = fixtures();
    for b in fx["blocks"].as_array().unwrap() {
        let units = b["units"].as_u64().unwrap() as usize;
        let labels: Vec<bool> = b["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_bool().unwrap())
            .collect();
        let scores: Vec<f32> = f64s(&b["scores"]).iter().map(|&x| x as f32).collect();
        let st = score_block(&scores, units, &labels).unwrap();
        for (u, s) in st.iter().enumerate() {
            assert!((s.ap - f64s(&b["ap"])[u]).abs() < 1e-12, "AP unit {u}");
            assert!(
                (s.auroc - f64s(&b["auroc"])[u]).abs() < 1e-12,
                "AUROC unit {u}"
            );
            assert!(
                (s.pos_median as f64 - f64s(&b["pos_median"])[u]).abs() < 1e-5,
                "median unit {u}"
            );
            assert!(
                (s.pos_mean as f64 - f64s(&b["pos_mean"])[u]).abs() < 1e-5,
                "mean unit {u}"
            );
            assert!(
                (s.neg_mean as f64 - f64s(&b["neg_mean"])[u]).abs() < 1e-5,
                "neg mean unit {u}"
            );
        }
    }
}

#[test]
fn spec_hand_worked_cases() {
    // lang-experts.md §7.1, F1-F4 (checked there against sklearn's _binary_clf_curve).
    let cases: [(&[f32], &[bool], f64, f64); 4] = [
        (
            &[0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            &[true, false, true, true, false, false],
            29.0 / 36.0,
            0.777_777_777_8,
        ),
        (
            &[1.0, 1.0, 0.0, 0.0, 0.5],
            &[true, false, true, false, true],
            0.588_888_888_9,
            0.5,
        ),
        (&[0.3, 0.3, 0.3, 0.3], &[true, false, false, true], 0.5, 0.5),
        (
            &[0.0, 0.0, 0.0, 2.0, 0.1, 0.0],
            &[true, false, false, true, false, true],
            0.666_666_666_7,
            0.555_555_555_6,
        ),
    ];
    for (i, (s, l, ap, auc)) in cases.iter().enumerate() {
        let st = score_block(s, 1, l).unwrap()[0];
        assert!((st.ap - ap).abs() < 1e-9, "F{} AP {}", i + 1, st.ap);
        assert!(
            (st.auroc - auc).abs() < 1e-9,
            "F{} AUROC {}",
            i + 1,
            st.auroc
        );
    }
}

#[test]
fn ari_matches_sklearn() {
    for c in fixtures()["ari"].as_array().unwrap() {
        let got = adjusted_rand_index(&usizes(&c["a"]), &usizes(&c["b"])).unwrap();
        assert!((got - c["ari"].as_f64().unwrap()).abs() < 1e-12, "{got}");
    }
}

#[test]
fn average_linkage_matches_scipy_partition() {
    for c in fixtures()["linkage"].as_array().unwrap() {
        let n = c["n"].as_u64().unwrap() as usize;
        let k = c["k"].as_u64().unwrap() as usize;
        let got = average_linkage(&f64s(&c["dist"]), n, k).unwrap();
        let want = usizes(&c["labels"]);
        assert_eq!(
            adjusted_rand_index(&got, &want).unwrap(),
            1.0,
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn spearman_with_ties_matches_scipy() {
    let s = &fixtures()["spearman"];
    let rho = ember_core::metrics::spearman(&f64s(&s["x"]), &f64s(&s["y"])).unwrap();
    assert!((rho - s["rho"].as_f64().unwrap()).abs() < 1e-12);
}
