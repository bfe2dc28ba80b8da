//! `ember_core::metrics` against scikit-learn / SciPy / NumPy reference values in
//! `tests/fixtures/metrics.json` (regenerate with `scripts/gen_fixtures.py`; no Python needed
//! here). Inputs are the exact f32 values the reference saw, so ties match.
//!
//! Tolerance: every metric is computed in f64, so it must match to 1e-9 absolute (observed
//! differences are ~1e-15); thresholds and counts must match exactly.

use ember_core::Error;
use ember_core::metrics::*;
use serde::Deserialize;

const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixtures {
    accuracy: Vec<AccuracyCase>,
    ranking: Vec<RankingCase>,
    ranking_batch: Vec<RankingBatchCase>,
    verification: Vec<VerificationCase>,
    recall_at_k: Vec<RecallCase>,
    recall_diagonal: Vec<RecallDiagCase>,
    correlation: Vec<CorrelationCase>,
    angular: Vec<AngularCase>,
}

#[derive(Deserialize)]
struct AccuracyCase {
    name: String,
    pred: Vec<usize>,
    target: Vec<usize>,
    expected: f64,
}

#[derive(Deserialize)]
struct RankingCase {
    name: String,
    scores: Vec<f32>,
    labels: Vec<bool>,
    ap: f64,
    auroc: f64,
}

#[derive(Deserialize)]
struct RankingBatchCase {
    name: String,
    n_units: usize,
    scores: Vec<f32>,
    labels: Vec<bool>,
    ap: Vec<f64>,
    auroc: Vec<f64>,
}

#[derive(Deserialize)]
struct DcfCase {
    p_target: f64,
    c_miss: f64,
    c_fa: f64,
    min_dcf: f64,
    threshold: Option<f32>,
}

#[derive(Deserialize)]
struct VerificationCase {
    name: String,
    scores: Vec<f32>,
    labels: Vec<bool>,
    eer: f64,
    eer_threshold: f32,
    min_dcf: Vec<DcfCase>,
    eer_nearest: f64,
    eer_nearest_threshold: Option<f32>,
}

#[derive(Deserialize)]
struct RecallCase {
    name: String,
    n_rows: usize,
    n_cols: usize,
    sim: Vec<f32>,
    targets: Vec<usize>,
    k: usize,
    expected: f64,
}

#[derive(Deserialize)]
struct RecallDiagCase {
    name: String,
    n: usize,
    sim: Vec<f32>,
    k: usize,
    row_to_col: f64,
    col_to_row: f64,
}

#[derive(Deserialize)]
struct CorrelationCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    pearson: f64,
    spearman: f64,
    rank_x: Vec<f64>,
}

#[derive(Deserialize)]
struct AngularCase {
    name: String,
    dim: usize,
    pred: Vec<f32>,
    target: Vec<f32>,
    errors_deg: Vec<f64>,
    mean_deg: f64,
}

fn fixtures() -> Fixtures {
    serde_json::from_str(include_str!("fixtures/metrics.json")).expect("fixtures parse")
}

#[track_caller]
fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.17}, want {want:.17} (diff {:e})",
        (got - want).abs()
    );
}

#[test]
fn accuracy_matches_sklearn() {
    for c in fixtures().accuracy {
        close(
            accuracy(&c.pred, &c.target).unwrap(),
            c.expected,
            TOL,
            &c.name,
        );
    }
}

#[test]
fn ap_and_auroc_match_sklearn() {
    let f = fixtures();
    assert!(f.ranking.len() >= 8);
    for c in &f.ranking {
        let ap = average_precision(&c.scores, &c.labels).unwrap();
        let auc = roc_auc(&c.scores, &c.labels).unwrap();
        close(ap, c.ap, TOL, &format!("{} AP", c.name));
        close(auc, c.auroc, TOL, &format!("{} AUROC", c.name));
    }
}

#[test]
fn batched_ap_and_auroc_match_sklearn_per_unit() {
    for c in fixtures().ranking_batch {
        let ap = average_precision_batch(&c.scores, c.n_units, &c.labels).unwrap();
        let auc = roc_auc_batch(&c.scores, c.n_units, &c.labels).unwrap();
        assert_eq!(ap.len(), c.n_units);
        for u in 0..c.n_units {
            close(ap[u], c.ap[u], TOL, &format!("{} unit {u} AP", c.name));
            close(
                auc[u],
                c.auroc[u],
                TOL,
                &format!("{} unit {u} AUROC", c.name),
            );
        }
        // Batched == single, bit for bit.
        let n = c.labels.len();
        for u in 0..c.n_units {
            let row = &c.scores[u * n..(u + 1) * n];
            assert_eq!(ap[u], average_precision(row, &c.labels).unwrap());
            assert_eq!(auc[u], roc_auc(row, &c.labels).unwrap());
        }
    }
}

#[test]
fn eer_nearest_roc_point_matches_voxceleb_trainer() {
    let mut max_gap = 0.0f64;
    for c in fixtures().verification {
        let e = eer_with(&c.scores, &c.labels, EerConvention::NearestRocPoint).unwrap();
        // Same f64 operations as NumPy on the same counts: exact.
        assert_eq!(e.eer, c.eer_nearest, "{} nearest-point EER", c.name);
        assert_eq!(
            e.threshold,
            c.eer_nearest_threshold.unwrap_or(f32::INFINITY),
            "{} nearest-point threshold",
            c.name
        );
        let interp = eer_with(&c.scores, &c.labels, EerConvention::Interpolated).unwrap();
        assert_eq!(interp, eer(&c.scores, &c.labels).unwrap());
        max_gap = max_gap.max((interp.eer - e.eer).abs());
    }
    // The few-target cases make the two conventions visibly different.
    assert!(max_gap > 0.01, "conventions never differed: {max_gap}");
}

#[test]
fn eer_and_min_dcf_match_reference() {
    for c in fixtures().verification {
        let e = eer(&c.scores, &c.labels).unwrap();
        // brentq in the reference converges to 1e-14; 1e-9 leaves room.
        close(e.eer, c.eer, TOL, &format!("{} EER", c.name));
        assert_eq!(e.threshold, c.eer_threshold, "{} EER threshold", c.name);
        let params: Vec<DcfParams> = c
            .min_dcf
            .iter()
            .map(|d| DcfParams {
                p_target: d.p_target,
                c_miss: d.c_miss,
                c_fa: d.c_fa,
            })
            .collect();
        let all = verification_metrics(&c.scores, &c.labels, &params).unwrap();
        assert_eq!(all.eer, e);
        for (d, (p, got)) in c.min_dcf.iter().zip(params.iter().zip(&all.min_dcf)) {
            let what = format!("{} minDCF p={} c_miss={}", c.name, d.p_target, d.c_miss);
            close(got.min_dcf, d.min_dcf, TOL, &what);
            assert_eq!(
                got.threshold,
                d.threshold.unwrap_or(f32::INFINITY),
                "{what} threshold"
            );
            assert_eq!(*got, min_dcf(&c.scores, &c.labels, *p).unwrap(), "{what}");
        }
    }
}

#[test]
fn dcf_default_is_voxceleb() {
    assert_eq!(
        DcfParams::default(),
        DcfParams {
            p_target: 0.01,
            c_miss: 1.0,
            c_fa: 1.0
        }
    );
}

#[test]
fn recall_at_k_matches_numpy() {
    let f = fixtures();
    for c in &f.recall_at_k {
        let r = recall_at_k(&c.sim, c.n_rows, c.n_cols, &c.targets, c.k).unwrap();
        close(r, c.expected, TOL, &format!("{} k={}", c.name, c.k));
    }
    for c in &f.recall_diagonal {
        let r = recall_at_k_diagonal(&c.sim, c.n, c.k).unwrap();
        close(
            r.row_to_col,
            c.row_to_col,
            TOL,
            &format!("{} k={} r2c", c.name, c.k),
        );
        close(
            r.col_to_row,
            c.col_to_row,
            TOL,
            &format!("{} k={} c2r", c.name, c.k),
        );
        let targets: Vec<usize> = (0..c.n).collect();
        let direct = recall_at_k(&c.sim, c.n, c.n, &targets, c.k).unwrap();
        assert_eq!(direct, r.row_to_col);
    }
}

#[test]
fn correlations_match_scipy() {
    for c in fixtures().correlation {
        close(
            pearson(&c.x, &c.y).unwrap(),
            c.pearson,
            TOL,
            &format!("{} pearson", c.name),
        );
        close(
            spearman(&c.x, &c.y).unwrap(),
            c.spearman,
            TOL,
            &format!("{} spearman", c.name),
        );
        assert_eq!(rankdata(&c.x), c.rank_x, "{} rankdata", c.name);
    }
}

#[test]
fn angular_error_matches_numpy() {
    for c in fixtures().angular {
        let e = angular_error_deg(&c.pred, &c.target, c.dim).unwrap();
        assert_eq!(e.len(), c.errors_deg.len());
        for (i, (g, w)) in e.iter().zip(&c.errors_deg).enumerate() {
            close(*g, *w, TOL, &format!("{} row {i}", c.name));
        }
        assert_eq!(e[0], 0.0, "parallel vectors give exactly 0");
        close(e[1], 180.0, TOL, "antiparallel");
        let m = mean_angular_error_deg(&c.pred, &c.target, c.dim).unwrap();
        close(m, c.mean_deg, TOL, &format!("{} mean", c.name));
    }
}

// ---------------------------------------------------------------------------- edge cases

fn is_invalid<T: std::fmt::Debug>(r: ember_core::Result<T>) -> String {
    match r {
        Err(e @ Error::InvalidInput(_)) => e.to_string(),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}
fn is_shape<T: std::fmt::Debug>(r: ember_core::Result<T>) -> String {
    match r {
        Err(e @ Error::Shape(_)) => e.to_string(),
        other => panic!("expected Shape, got {other:?}"),
    }
}
fn is_non_finite<T: std::fmt::Debug>(r: ember_core::Result<T>) -> String {
    match r {
        Err(e @ Error::NonFinite(_)) => e.to_string(),
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn binary_metrics_reject_bad_input() {
    let s = [0.1f32, 0.5, 0.3];
    let l = [true, false, true];
    let one_class = [true; 3];
    let nan = [0.1f32, f32::NAN, 0.3];
    let inf = [0.1f32, f32::INFINITY, 0.3];
    type Binary = fn(&[f32], &[bool]) -> ember_core::Result<f64>;
    let fns: [(&str, Binary); 4] = [
        ("ap", average_precision),
        ("auroc", roc_auc),
        ("eer", |s, l| eer(s, l).map(|e| e.eer)),
        ("min_dcf", |s, l| {
            min_dcf(s, l, DcfParams::default()).map(|d| d.min_dcf)
        }),
    ];
    for (name, f) in fns {
        let msg = is_invalid(f(&[], &[]));
        assert!(msg.contains("empty"), "{name}: {msg}");
        let msg = is_invalid(f(&s, &one_class));
        assert!(msg.contains("single class"), "{name}: {msg}");
        is_invalid(f(&s, &[false; 3]));
        is_shape(f(&s, &l[..2]));
        let msg = is_non_finite(f(&nan, &l));
        assert!(msg.contains("[1]"), "{name}: {msg}");
        is_non_finite(f(&inf, &l));
    }
}

#[test]
fn batch_rejects_bad_input() {
    let l = [true, false, true];
    let s = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6];
    is_shape(average_precision_batch(&s[..5], 2, &l));
    is_invalid(roc_auc_batch(&s, 0, &l));
    is_invalid(roc_auc_batch(&s, 2, &[true; 3]));
    is_invalid(roc_auc_batch(&[], 1, &[]));
    let mut bad = s;
    bad[4] = f32::NAN;
    let msg = is_non_finite(average_precision_batch(&bad, 2, &l));
    assert!(msg.contains("unit 1") && msg.contains("sample 1"), "{msg}");
    let msg = is_non_finite(roc_auc_batch(&bad, 2, &l));
    assert!(msg.contains("unit 1"), "{msg}");
}

#[test]
fn dcf_params_validated() {
    let s = [0.1f32, 0.5];
    let l = [true, false];
    for p in [0.0, 1.0, f64::NAN] {
        let params = DcfParams {
            p_target: p,
            ..DcfParams::default()
        };
        is_invalid(min_dcf(&s, &l, params));
    }
    let params = DcfParams {
        c_fa: 0.0,
        ..DcfParams::default()
    };
    is_invalid(min_dcf(&s, &l, params));
}

#[test]
fn all_tied_scores() {
    let l = [true, false, false, true, false];
    let s = [0.7f32; 5];
    assert_eq!(roc_auc(&s, &l).unwrap(), 0.5);
    close(
        average_precision(&s, &l).unwrap(),
        0.4,
        1e-15,
        "AP = prevalence",
    );
    let e = eer(&s, &l).unwrap();
    close(e.eer, 0.5, 1e-15, "tied EER");
    assert_eq!(e.threshold, 0.7);
    let r = recall_at_k(&s, 1, 5, &[3], 1).unwrap();
    assert_eq!(r, 1.0, "ties resolve in the query's favour");
}

#[test]
fn other_metrics_reject_bad_input() {
    is_invalid(accuracy(&[], &[]));
    is_shape(accuracy(&[1, 2], &[1]));

    let sim = [0.1f32, 0.2, 0.3, 0.4];
    is_invalid(recall_at_k(&sim, 2, 2, &[0, 1], 0));
    is_invalid(recall_at_k(&[], 0, 2, &[], 1));
    is_shape(recall_at_k(&sim, 2, 3, &[0, 1], 1));
    is_shape(recall_at_k(&sim, 2, 2, &[0], 1));
    let msg = is_invalid(recall_at_k(&sim, 2, 2, &[0, 2], 1));
    assert!(msg.contains("targets[1]"), "{msg}");
    is_non_finite(recall_at_k(&[0.1, f32::NAN, 0.3, 0.4], 2, 2, &[0, 1], 1));
    is_shape(recall_at_k_diagonal(&sim, 3, 1));
    is_non_finite(recall_at_k_diagonal(
        &[0.1, 0.2, f32::NEG_INFINITY, 0.4],
        2,
        1,
    ));

    let x = [1.0, 2.0, 3.0];
    is_shape(pearson(&x, &x[..2]));
    is_invalid(pearson(&[], &[]));
    is_invalid(pearson(&[1.0], &[2.0]));
    let msg = is_invalid(pearson(&x, &[2.0; 3]));
    assert!(msg.contains("constant"), "{msg}");
    is_invalid(spearman(&[5.0; 3], &x));
    is_non_finite(spearman(&[1.0, f64::NAN, 2.0], &x));
    // Huge but finite values: scaled internally, so no overflow.
    close(
        pearson(&[1e200, -1e200, 0.0], &x).unwrap(),
        -0.5,
        1e-15,
        "huge",
    );
    is_non_finite(pearson(&[f64::MAX, f64::MAX, 0.0], &x));
    assert_eq!(rankdata(&[]), Vec::<f64>::new());
    assert_eq!(
        rankdata(&[2.0, f64::NAN, -0.0, 0.0]),
        vec![3.0, 4.0, 1.5, 1.5]
    );

    let v = [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0];
    is_invalid(angular_error_deg(&v, &v, 0));
    is_invalid(angular_error_deg(&[], &[], 3));
    is_shape(angular_error_deg(&v, &v[..3], 3));
    is_invalid(angular_error_deg(&v, &v, 4));
    let msg = is_invalid(angular_error_deg(&v, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], 3));
    assert!(msg.contains("target row 1"), "{msg}");
    is_non_finite(mean_angular_error_deg(&[f32::NAN, 0.0, 1.0], &v[..3], 3));
}
