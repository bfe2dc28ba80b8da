//! Mechanics of the auxiliary-language (P6) pipeline: world and corpora, language operators,
//! translation noise, the fixed-ratio sampler, and multiple-choice QA scoring.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use ember_core::nn::TransformerConfig;
use ember_soup::auxlang::{
    BilingualPair, Closeness, CorpusConfig, DOT, EOS, Fact, FactSentence, FactSet, FactWorld,
    FactWorldConfig, MixSampler, MixSource, NoisyTranslator, QaItem, Symbol, TokenLanguageConfig,
    WordOrder, accuracy_from_scores, argmax, qa_items, score_items,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

fn small_world(seed: u64) -> FactWorld {
    FactWorld::new(FactWorldConfig {
        n_topics: 4,
        entities_per_topic: 10,
        n_relations: 4,
        values_per_relation: 10,
        n_function_words: 12,
        filler_branching: 3,
        filler_len: (2, 5),
        doc_sentences: (4, 8),
        seed,
    })
    .unwrap()
}

#[test]
fn world_and_corpus_are_deterministic_under_a_seed() {
    let (w1, w2, w3) = (small_world(3), small_world(3), small_world(4));
    assert_eq!(w1, w2);
    assert_ne!(w1, w3, "another seed gives other fact values");
    let all = FactSet::all(&w1);
    let cfg = CorpusConfig::new(0.5, 5_000, 9);
    let d1 = w1.documents(&cfg, &all).unwrap();
    let d2 = w2.documents(&cfg, &all).unwrap();
    assert_eq!(d1, d2);
    let d3 = w1
        .documents(&CorpusConfig::new(0.5, 5_000, 10), &all)
        .unwrap();
    assert_ne!(d1, d3, "another corpus seed gives other documents");
    let total: usize = d1.iter().map(|d| d.symbols()).sum();
    assert!(total >= 5_000);
    let pair = BilingualPair::new(&w1, &Closeness::C1.config(), 5).unwrap();
    let again = BilingualPair::new(&w2, &Closeness::C1.config(), 5).unwrap();
    assert_eq!(pair, again);
    assert_eq!(pair.target().stream(&d1), again.target().stream(&d2));
}

#[test]
fn documents_state_true_topic_coherent_facts_at_the_quality_knob() {
    let w = small_world(1);
    let facts = FactSet::stratified(&w, 0.25, 2).unwrap();
    // Stratified: exactly one relation (0.25 x 4) per entity.
    assert_eq!(facts.len(), w.n_entities());
    for e in 0..w.n_entities() {
        assert_eq!((0..4).filter(|&r| facts.contains(e, r)).count(), 1);
    }
    let only_aux = facts.complement();
    assert_eq!(only_aux.len() + facts.len(), w.n_facts());
    assert!(facts.pairs().iter().all(|&(e, r)| !only_aux.contains(e, r)));
    for q in [0.2, 0.8] {
        let docs = w
            .documents(&CorpusConfig::new(q, 60_000, 7), &facts)
            .unwrap();
        let (mut filler, mut n) = (0usize, 0usize);
        for d in &docs {
            for s in &d.sentences {
                n += 1;
                match s {
                    FactSentence::Filler(words) => {
                        filler += 1;
                        assert!((2..=5).contains(&words.len()));
                    }
                    FactSentence::Fact(f) => {
                        assert!(facts.contains(f.entity, f.relation), "fact outside the set");
                        assert_eq!(f.value, w.value(f.entity, f.relation).unwrap());
                        assert_eq!(w.topic_of(f.entity), d.topic, "topic-coherent");
                    }
                }
            }
        }
        let share = filler as f64 / n as f64;
        let se = (q * (1.0 - q) / n as f64).sqrt();
        assert!(
            (share - q).abs() < 4.0 * se,
            "filler share {share} vs q {q}"
        );
    }
    // Filler follows the chain: every transition has positive probability.
    let docs = w
        .documents(&CorpusConfig::new(1.0, 5_000, 8), &facts)
        .unwrap();
    for d in &docs {
        for s in &d.sentences {
            let FactSentence::Filler(words) = s else {
                panic!("q = 1 gives only filler")
            };
            for pair in words.windows(2) {
                let succ = w.filler_successors(pair[0]);
                assert!(succ.iter().any(|&(s, p)| s == pair[1] && p > 0.0));
            }
        }
    }
}

#[test]
fn lexical_overlap_matches_the_operator() {
    let w = small_world(0);
    for (level, o) in [
        (Closeness::C0, 0.9),
        (Closeness::C1, 0.3),
        (Closeness::C2, 0.0),
    ] {
        let pair = BilingualPair::new(&w, &level.config(), 11).unwrap();
        let m = pair.measured_overlap();
        // Per class round(o * n): off by at most 0.5 symbol per class (4 classes).
        assert!((m - o).abs() <= 2.0 / 40.0, "{level:?}: overlap {m} vs {o}");
        // Shared symbols have identical ids; fresh ones ids A never uses.
        let a_ids: HashSet<u32> = pair.aux().token_ids().into_iter().collect();
        for e in 0..w.n_entities() {
            let (a, t) = (
                pair.aux().ids(Symbol::Entity(e)),
                pair.target().ids(Symbol::Entity(e)),
            );
            assert_eq!(t.len(), 1);
            assert!(a == t || !a_ids.contains(&t[0]));
        }
    }
    let identical = BilingualPair::new(&w, &TokenLanguageConfig::identical(), 1).unwrap();
    assert_eq!(identical.measured_overlap(), 1.0);
    assert_eq!(identical.shared_token_fraction(), 1.0);
}

#[test]
fn far_language_reverses_the_order_and_splits_entities() {
    let w = small_world(0);
    let pair = BilingualPair::new(&w, &Closeness::C3.config(), 4).unwrap();
    assert_eq!(pair.target().order(), WordOrder::Ovs);
    let (a, t) = (pair.aux(), pair.target());
    let a_ids: HashSet<u32> = a.token_ids().into_iter().collect();
    let mut seen = HashSet::new();
    for e in 0..w.n_entities() {
        let ids = t.ids(Symbol::Entity(e));
        assert_eq!(ids.len(), 2, "entity {e} is split in 2 sub-tokens");
        assert!(ids.iter().all(|i| !a_ids.contains(i)));
        assert!(seen.insert(ids.to_vec()), "two entities share a spelling");
    }
    // Sub-tokens are shared pieces: fewer distinct pieces than entities.
    let pieces: HashSet<u32> = (0..w.n_entities())
        .flat_map(|e| t.ids(Symbol::Entity(e)).to_vec())
        .collect();
    assert!(pieces.len() < w.n_entities());
    let fact = w.fact(13, 2).unwrap();
    let s = FactSentence::Fact(fact);
    let ra = a.render_sentence(&s);
    let rt = t.render_sentence(&s);
    assert_eq!(
        ra,
        [
            a.ids(Symbol::Entity(13))[0],
            a.ids(Symbol::Relation(2))[0],
            a.ids(Symbol::Value(2, fact.value))[0],
            DOT
        ]
    );
    let mut expect = vec![
        t.ids(Symbol::Value(2, fact.value))[0],
        t.ids(Symbol::Relation(2))[0],
    ];
    expect.extend_from_slice(t.ids(Symbol::Entity(13)));
    expect.push(DOT);
    assert_eq!(rt, expect);
    // Filler keeps its order; anchors are shared.
    let filler = FactSentence::Filler(vec![3, 1, 4]);
    let rf = t.render_sentence(&filler);
    assert_eq!(rf.len(), 4);
    assert_eq!(rf[0], t.ids(Symbol::Func(3))[0]);
    let docs = w
        .documents(&CorpusConfig::new(0.5, 500, 1), &FactSet::all(&w))
        .unwrap();
    let (sa, st) = (a.stream(&docs), t.stream(&docs));
    let count = |s: &[u32], x: u32| s.iter().filter(|&&i| i == x).count();
    assert_eq!(count(&sa, EOS), docs.len());
    assert_eq!(count(&st, EOS), docs.len());
    assert_eq!(count(&sa, DOT), count(&st, DOT));
    assert!(pair.vocab_size() > *st.iter().max().unwrap() as usize);
    assert!(pair.decode(&rt).starts_with("T.v2_"));
}

#[test]
fn translation_noise_rate_matches_epsilon() {
    let w = small_world(2);
    let pair = BilingualPair::new(&w, &Closeness::C1.config(), 3).unwrap();
    let docs = w
        .documents(&CorpusConfig::new(0.5, 80_000, 5), &FactSet::all(&w))
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let clean = NoisyTranslator::new(0.0).unwrap();
    let (out, stats) = clean.translate(&w, pair.target(), &docs, &mut rng).unwrap();
    assert_eq!(
        out,
        pair.target().stream(&docs),
        "ε = 0 is the exact rendering"
    );
    assert_eq!(stats.corruption_rate(), 0.0);
    for eps in [0.02, 0.1, 0.3] {
        let t = NoisyTranslator::new(eps).unwrap();
        let (out, s) = t.translate(&w, pair.target(), &docs, &mut rng).unwrap();
        let n = s.symbols as f64;
        let se = (eps * (1.0 - eps) / n).sqrt();
        assert!(
            (s.corruption_rate() - eps).abs() < 4.0 * se,
            "ε {eps}: measured {}",
            s.corruption_rate()
        );
        let drop_share = s.dropped as f64 / (s.dropped + s.substituted) as f64;
        assert!((drop_share - 0.5).abs() < 0.05, "drop share {drop_share}");
        // Drops shorten the stream by exactly the dropped symbols (no split entities at C1).
        assert_eq!(out.len(), pair.target().stream(&docs).len() - s.dropped);
    }
}

#[test]
fn mixture_sampler_keeps_the_ratio_and_counts_passes() {
    let (na, nt, ratio) = (1000usize, 40usize, 0.05);
    let mut s = MixSampler::with_target_ratio(na, nt, ratio, 7).unwrap();
    let mut seen_t = vec![0usize; nt];
    for k in 1..=16_000u64 {
        let (src, i) = s.next_draw();
        if src == 1 {
            seen_t[i] += 1;
        }
        // Smooth round-robin: never more than one draw from the exact quota.
        let dt = s.draws()[1] as f64;
        assert!(
            (dt - k as f64 * ratio).abs() <= 1.0,
            "draw {k}: {dt} target draws"
        );
    }
    let usage = s.usage();
    assert_eq!(usage[1].draws, 800);
    assert!((usage[1].share - 0.05).abs() < 1e-9);
    assert!(
        (usage[1].epochs - 20.0).abs() < 1e-9,
        "800 draws over 40 windows"
    );
    assert!((usage[0].epochs - 15.2).abs() < 1e-9);
    // 20 full passes, each a permutation: every target window drawn exactly 20 times.
    assert!(seen_t.iter().all(|&c| c == 20), "{seen_t:?}");
    // Deterministic, and skip() resumes the same stream.
    let mut a = MixSampler::with_target_ratio(na, nt, ratio, 7).unwrap();
    let mut b = MixSampler::with_target_ratio(na, nt, ratio, 7).unwrap();
    let first = a.batch(500);
    b.skip(300);
    assert_eq!(b.batch(200), first[300..].to_vec());
    let mut c = MixSampler::with_target_ratio(na, nt, ratio, 8).unwrap();
    assert_ne!(c.batch(500), first, "another seed, another order");
    // Target-only never touches the auxiliary source; three sources keep their weights.
    let mut t_only = MixSampler::with_target_ratio(na, nt, 1.0, 0).unwrap();
    assert!(t_only.batch(300).iter().all(|&(src, _)| src == 1));
    let mut three = MixSampler::new(
        vec![
            MixSource::new("a", 10, 1.0),
            MixSource::new("b", 10, 2.0),
            MixSource::new("c", 10, 5.0),
        ],
        1,
    )
    .unwrap();
    three.skip(8000);
    assert_eq!(three.draws(), &[1000, 2000, 5000]);
}

#[test]
fn qa_items_cover_every_value_as_a_full_sentence() {
    let w = small_world(6);
    let pair = BilingualPair::new(&w, &Closeness::C3.config(), 1).unwrap();
    let facts = FactSet::stratified(&w, 0.25, 3).unwrap().complement();
    let items = qa_items(&w, pair.target(), &facts, None, 0).unwrap();
    assert_eq!(items.len(), facts.len());
    let sub = qa_items(&w, pair.target(), &facts, Some(17), 0).unwrap();
    assert_eq!(sub.len(), 17);
    for it in &items {
        assert!(
            !FactSet::stratified(&w, 0.25, 3)
                .unwrap()
                .contains(it.fact.entity, it.fact.relation)
        );
        assert_eq!(it.candidates.len(), 10);
        assert_eq!(
            it.correct,
            w.value(it.fact.entity, it.fact.relation).unwrap()
        );
        for (v, c) in it.candidates.iter().enumerate() {
            let s = pair.target().render_sentence(&FactSentence::Fact(Fact {
                value: v,
                ..it.fact
            }));
            assert_eq!(c[0], EOS);
            assert_eq!(&c[1..], s.as_slice());
        }
    }
}

#[test]
fn qa_scoring_matches_a_hand_computation() {
    let device = Device::flex();
    device.seed(5);
    let model = TransformerConfig::new(12, 16, 2, 1, 32, 8)
        .with_causal(true)
        .init(&device);
    let items = vec![
        QaItem {
            fact: Fact {
                entity: 0,
                relation: 0,
                value: 1,
            },
            candidates: vec![
                vec![0, 3, 4, 5, 1],
                vec![0, 3, 4, 6, 1],
                vec![0, 3, 4, 7, 1],
            ],
            correct: 1,
        },
        QaItem {
            fact: Fact {
                entity: 1,
                relation: 0,
                value: 0,
            },
            // Candidates of different lengths: normalisation matters.
            candidates: vec![vec![0, 8, 9, 1], vec![0, 8, 9, 10, 11, 1]],
            correct: 0,
        },
    ];
    let scores = score_items(&model, &items, 3, &device).unwrap();
    for (it, row) in items.iter().zip(&scores) {
        for (seq, &got) in it.candidates.iter().zip(row) {
            let t = seq.len() - 1;
            let x = Tensor::<1, Int>::from_data(
                TensorData::new(seq[..t].iter().map(|&i| i as i64).collect(), [t]),
                &device,
            )
            .reshape([1, t]);
            let lp: Vec<f32> = log_softmax(model.logits(x, None).unwrap(), 2)
                .into_data()
                .try_to_vec_as::<f32>()
                .unwrap();
            let v = 12;
            let sum: f64 = (0..t).map(|p| lp[p * v + seq[p + 1] as usize] as f64).sum();
            let want = sum / t as f64;
            assert!((got - want).abs() < 1e-4, "score {got} vs hand {want}");
        }
    }
    // Accuracy is the argmax against the correct index.
    let acc = accuracy_from_scores(&items, &scores).unwrap();
    let expect = items
        .iter()
        .zip(&scores)
        .filter(|(it, s)| argmax(s) == Some(it.correct))
        .count() as f64
        / 2.0;
    assert_eq!(acc.accuracy, expect);
    assert!((acc.chance - (1.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
    let hand = vec![vec![-3.0, -1.0, -2.0], vec![-0.5, -0.7]];
    let r = accuracy_from_scores(&items, &hand).unwrap();
    assert_eq!(r.accuracy, 1.0);
    let wrong = vec![vec![-1.0, -3.0, -2.0], vec![-0.5, -0.7]];
    assert_eq!(accuracy_from_scores(&items, &wrong).unwrap().accuracy, 0.5);
    assert_eq!(argmax(&[1.0, f64::NAN, 3.0, 3.0]), Some(2));
    assert_eq!(argmax(&[]), None);
}

#[test]
fn bad_configs_are_errors() {
    let ok = FactWorldConfig::default();
    assert!(FactWorld::new(ok.clone()).is_ok());
    for bad in [
        FactWorldConfig {
            n_topics: 0,
            ..ok.clone()
        },
        FactWorldConfig {
            values_per_relation: 1,
            ..ok.clone()
        },
        FactWorldConfig {
            filler_branching: 40,
            ..ok.clone()
        },
        FactWorldConfig {
            filler_len: (5, 2),
            ..ok.clone()
        },
    ] {
        assert!(FactWorld::new(bad).is_err());
    }
    let w = small_world(0);
    assert!(FactSet::stratified(&w, 1.5, 0).is_err());
    let all = FactSet::all(&w);
    assert!(w.documents(&CorpusConfig::new(-0.1, 10, 0), &all).is_err());
    let none = all.complement();
    assert!(w.documents(&CorpusConfig::new(0.5, 10, 0), &none).is_err());
    let other = FactSet::all(&FactWorld::new(FactWorldConfig::default()).unwrap());
    assert!(w.documents(&CorpusConfig::new(0.5, 10, 0), &other).is_err());
    assert!(w.value(1000, 0).is_err());
    let bad_lang = TokenLanguageConfig {
        overlap: 1.5,
        ..TokenLanguageConfig::identical()
    };
    assert!(BilingualPair::new(&w, &bad_lang, 0).is_err());
    assert!(Closeness::parse("C9").is_err());
    assert_eq!(Closeness::parse("c2").unwrap(), Closeness::C2);
    assert!(MixSampler::with_target_ratio(10, 10, 1.5, 0).is_err());
    assert!(MixSampler::with_target_ratio(10, 0, 0.05, 0).is_err());
    assert!(MixSampler::new(vec![], 0).is_err());
    assert!(MixSampler::new(vec![MixSource::new("a", 3, 0.0)], 0).is_err());
    assert!(MixSampler::new(vec![MixSource::new("a", 3, f64::NAN)], 0).is_err());
    assert!(NoisyTranslator::new(1.2).is_err());
    assert!(
        qa_items(
            &w,
            BilingualPair::new(&w, &Closeness::C0.config(), 0)
                .unwrap()
                .aux(),
            &none,
            None,
            0
        )
        .is_err()
    );
    // A QA sequence longer than the model's context is an error, not a panic.
    let device = Device::flex();
    let model = TransformerConfig::new(12, 16, 2, 1, 32, 3)
        .with_causal(true)
        .init(&device);
    let long = vec![QaItem {
        fact: Fact {
            entity: 0,
            relation: 0,
            value: 0,
        },
        candidates: vec![vec![0, 1, 2, 3, 4, 5]],
        correct: 0,
    }];
    assert!(score_items(&model, &long, 4, &device).is_err());
    assert!(accuracy_from_scores(&long, &[]).is_err());
}

/// Two topics with disjoint vocabularies; a probe from topic 1 only makes the upsampler draw
/// topic-1 documents, and the importance weights are `P(c|probe) / P(c|aux)`.
#[test]
fn cluster_upsampling_follows_the_probe() {
    use ember_soup::auxlang::ClusterUpsampler;
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let doc = |topic: u32, rng: &mut rand_chacha::ChaCha8Rng| -> Vec<u32> {
        (0..12)
            .map(|_| topic * 10 + rng.random_range(0..10))
            .collect()
    };
    // 300 topic-0 documents, 100 topic-1 documents.
    let aux: Vec<Vec<u32>> = (0..400)
        .map(|i| doc(u32::from(i >= 300), &mut rng))
        .collect();
    let probe: Vec<Vec<u32>> = (0..30).map(|_| doc(1, &mut rng)).collect();
    let up = ClusterUpsampler::new(&aux, &probe, 20, 2, 3).unwrap();
    let c1 = up.cluster_of(&probe[0]).unwrap();
    assert!((up.probe_weights()[c1] - 1.0).abs() < 1e-12);
    assert!((up.aux_weights()[c1] - 0.25).abs() < 1e-12);
    assert!((up.importance_weights()[c1] - 4.0).abs() < 1e-9);
    let drawn = up.sample(200, &mut rng).unwrap();
    assert!(drawn.iter().all(|d| d.iter().all(|&t| t >= 10)));
    assert!(ClusterUpsampler::new(&aux, &[], 20, 2, 3).is_err());
    assert!(ClusterUpsampler::new(&aux[..1], &probe, 20, 2, 3).is_err());
    assert!(ClusterUpsampler::new(&aux, &[vec![99]], 20, 2, 3).is_err());
}
