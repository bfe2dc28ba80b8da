//! `ember_core::cluster::KMeans` against scikit-learn's Lloyd k-means from the same initial
//! centroids (fixtures: `scripts/gen_cluster_fixtures.py`).

use ember_core::cluster::KMeans;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    dim: usize,
    k: usize,
    data: Vec<f32>,
    init: Vec<f32>,
    centroids: Vec<f64>,
    labels: Vec<usize>,
    inertia: f64,
    histogram: Vec<f64>,
}

#[derive(Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[test]
fn lloyd_matches_scikit_learn() {
    let text = include_str!("fixtures/kmeans.json");
    let fx: Fixtures = serde_json::from_str(text).unwrap();
    assert!(fx.cases.len() >= 4);
    for c in &fx.cases {
        let km = KMeans::fit_from(&c.data, c.dim, c.init.clone(), 300).unwrap();
        assert_eq!(km.k, c.k);
        for (i, (a, b)) in km.centroids.iter().zip(&c.centroids).enumerate() {
            assert!(
                (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                "{} centroid value {i}: {a} vs {b}",
                c.name
            );
        }
        assert_eq!(km.assign(&c.data).unwrap(), c.labels, "{}", c.name);
        let inertia = km.inertia(&c.data).unwrap();
        assert!(
            (inertia - c.inertia).abs() < 1e-4 * c.inertia,
            "{}: {inertia} vs {}",
            c.name,
            c.inertia
        );
        let h = km.histogram(&c.data).unwrap();
        for (a, b) in h.iter().zip(&c.histogram) {
            assert!((a - b).abs() < 1e-12, "{}", c.name);
        }
    }
}
