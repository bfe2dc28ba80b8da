//! Heads, pooling, scoring, k-means and the synthesiser against hand-worked values and
//! brute force; bad input gives clear errors.

use burn::prelude::*;
use ember_core::cluster::{KMeans, KMeansInit};
use ember_spkver::heads::{SimpleHeadConfig, SpeakerHead, XVectorHeadConfig, stats_pool};
use ember_spkver::scoring::{all_pairs_trials, cosine_scores, normalize};
use ember_spkver::synth::{
    CorpusConfig, SessionParams, SpeakerParams, generate_corpus, synthesize,
};
use rand::SeedableRng;

fn dev() -> Device {
    ember_core::backend::device_by_name("flex")
        .or_else(|_| ember_core::backend::device_by_name("ndarray"))
        .unwrap()
}

fn vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn parameter_counts_match_hand_computation() {
    let d = dev();
    // Spec §6.3: simplified head with 6 layer weights, D = 64, E = 64 → 8,262.
    assert_eq!(
        SimpleHeadConfig::new(6, 64, 64, 10).init(&d).head_params(),
        8_262
    );
    // Scaled SUPERB x-vector (D 64, H 128, agg 384, E 128) → 369,920 + layer weights.
    assert_eq!(
        XVectorHeadConfig::new(6, 64, 128, 384, 128, 10)
            .init(&d)
            .head_params(),
        369_920 + 6
    );
    // Full-size SUPERB downstream on a 768-d upstream: 6,110,172 (s3prl) + 13 layer weights.
    assert_eq!(
        XVectorHeadConfig::new(13, 768, 512, 1500, 512, 2)
            .init(&d)
            .head_params(),
        6_110_172 + 13
    );
}

#[test]
fn stats_pool_matches_brute_force() {
    let d = dev();
    let vals: Vec<f32> = (0..2 * 4 * 3)
        .map(|i| ((i * 37 % 11) as f32) * 0.3 - 1.0)
        .collect();
    let x = Tensor::<1>::from_data(TensorData::new(vals.clone(), [24]), &d).reshape([2, 4, 3]);
    let got = vec(stats_pool(x));
    for b in 0..2 {
        for j in 0..3 {
            let col: Vec<f64> = (0..4).map(|t| vals[b * 12 + t * 3 + j] as f64).collect();
            let m = col.iter().sum::<f64>() / 4.0;
            let v = col.iter().map(|c| (c - m).powi(2)).sum::<f64>() / 4.0;
            assert!((got[b * 6 + j] as f64 - m).abs() < 1e-5);
            assert!((got[b * 6 + 3 + j] as f64 - (v + 1e-5).sqrt()).abs() < 1e-5);
        }
    }
}

#[test]
fn uniform_layer_weights_average_layers() {
    let d = dev();
    let head = SimpleHeadConfig::new(3, 2, 4, 5).init(&d);
    let vals: Vec<f32> = (0..3 * 5 * 2).map(|i| i as f32 * 0.1).collect();
    let x = Tensor::<1>::from_data(TensorData::new(vals.clone(), [30]), &d).reshape([1, 3, 5, 2]);
    let h = head.layer_weights().forward(x).unwrap();
    let got = h.into_data().try_into_vec::<f32>().unwrap();
    for t in 0..5 {
        for j in 0..2 {
            let want: f32 = (0..3).map(|l| vals[l * 10 + t * 2 + j]).sum::<f32>() / 3.0;
            assert!((got[t * 2 + j] - want).abs() < 1e-5);
        }
    }
}

#[test]
fn heads_reject_bad_shapes() {
    let d = dev();
    let simple = SimpleHeadConfig::new(3, 8, 4, 5).init(&d);
    let e = simple
        .embed(Tensor::zeros([2, 3, 10, 7], &d))
        .unwrap_err()
        .to_string();
    assert!(e.contains("width 7"), "{e}");
    let e = simple
        .embed(Tensor::zeros([2, 4, 10, 8], &d))
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 layers"), "{e}");
    let xv = XVectorHeadConfig::new(3, 8, 16, 24, 8, 5).init(&d);
    assert_eq!(xv.min_frames(), 15);
    let e = xv
        .embed(Tensor::zeros([1, 3, 14, 8], &d))
        .unwrap_err()
        .to_string();
    assert!(e.contains("15 frames"), "{e}");
    assert_eq!(
        xv.embed(Tensor::zeros([2, 3, 15, 8], &d)).unwrap().dims(),
        [2, 8]
    );
    let asp = SimpleHeadConfig::new(3, 8, 4, 5).with_asp_units(6).init(&d);
    assert_eq!(
        asp.embed(Tensor::ones([2, 3, 9, 8], &d)).unwrap().dims(),
        [2, 4]
    );
    let labels = Tensor::<1, Int>::from_ints([0, 1, 2], &d);
    assert!(
        simple
            .loss(Tensor::zeros([2, 3, 10, 8], &d), labels, 30.0, 0.4)
            .is_err()
    );
}

#[test]
fn cosine_scoring_hand_worked() {
    let emb = vec![vec![3.0, 4.0], vec![4.0, 3.0], vec![-3.0, -4.0]];
    let s = cosine_scores(&emb, &[(0, 1), (0, 2), (1, 1)]).unwrap();
    assert!((s[0] - 0.96).abs() < 1e-6 && (s[1] + 1.0).abs() < 1e-6 && (s[2] - 1.0).abs() < 1e-6);
    assert!(
        cosine_scores(&emb, &[(0, 3)])
            .unwrap_err()
            .to_string()
            .contains("out of range")
    );
    assert!(normalize(&[]).is_err());
    assert!(
        normalize(&[vec![1.0], vec![1.0, 2.0]])
            .unwrap_err()
            .to_string()
            .contains("width")
    );
    assert_eq!(normalize(&[vec![0.0, 0.0]]).unwrap(), vec![vec![0.0, 0.0]]);
    assert!(normalize(&[vec![f32::NAN, 0.0]]).is_err());
    let (pairs, labels) = all_pairs_trials(&[0, 0, 1, 1, 1]);
    assert_eq!(pairs.len(), 10);
    assert_eq!(labels.iter().filter(|&&t| t).count(), 1 + 3);
}

#[test]
fn kmeans_recovers_separated_clusters() {
    let mut data = Vec::new();
    for i in 0..60 {
        let c = (i % 3) as f32 * 10.0;
        data.extend([c + (i as f32 * 0.01), -c]);
    }
    let km = KMeans::fit(&data, 2, 3, 10, KMeansInit::Random, 1).unwrap();
    let a = km.assign(&data).unwrap();
    for i in 3..60 {
        assert_eq!(a[i], a[i % 3]);
    }
    assert_ne!(a[0], a[1]);
    assert_ne!(a[1], a[2]);
    assert!(KMeans::fit(&data[..3], 2, 3, 10, KMeansInit::Random, 1).is_err());
    assert!(KMeans::fit(&data[..4], 2, 3, 10, KMeansInit::Random, 1).is_err());
    assert!(KMeans::fit(&[f32::NAN; 8], 2, 1, 1, KMeansInit::Random, 1).is_err());
}

#[test]
fn synthesiser_is_seeded_and_speaker_dependent() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let sp = SpeakerParams::sample(&mut rng);
    let ss = SessionParams::sample(&mut rng, (20.0, 20.0));
    let a = synthesize(&sp, &ss, 0.5, 16_000, 9).unwrap();
    let b = synthesize(&sp, &ss, 0.5, 16_000, 9).unwrap();
    let c = synthesize(&sp, &ss, 0.5, 16_000, 10).unwrap();
    assert_eq!(a.len(), 8000);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|v| v.is_finite()));
    let rms = (a.iter().map(|v| v * v).sum::<f32>() / a.len() as f32).sqrt();
    assert!((0.05..0.2).contains(&rms), "rms {rms}");
    assert!(synthesize(&sp, &ss, 0.01, 16_000, 1).is_err());
    assert!(synthesize(&sp, &ss, 1.0, 4_000, 1).is_err());
    let c = generate_corpus(&CorpusConfig {
        speakers: 3,
        utts_per_speaker: 2,
        duration_s: (0.3, 0.4),
        snr_db: (10.0, 30.0),
        sample_rate: 16_000,
        seed: 1,
    })
    .unwrap();
    assert_eq!(c.speakers, vec![0, 0, 1, 1, 2, 2]);
    assert!(
        generate_corpus(&CorpusConfig {
            speakers: 0,
            utts_per_speaker: 2,
            duration_s: (0.3, 0.4),
            snr_db: (10.0, 30.0),
            sample_rate: 16_000,
            seed: 1,
        })
        .is_err()
    );
}
