//! Bad input gets a clear error, never a panic.

use ember_core::backend::device_by_name as device;
use ember_core::nn::intervention::Site;
use ember_core::nn::{Intervention, TransformerConfig, UnitEdit};
use ember_lang_experts::analysis::{ParallelEmbeddings, cosine_matrix, retrieval_top1};
use ember_lang_experts::capture::{CaptureConfig, collect};
use ember_lang_experts::concepts::{
    adjusted_rand_index, alignment, average_linkage, embedding_cosine,
};
use ember_lang_experts::expertise::{Expertise, score_block};
use ember_lang_experts::intervene::{SampleOptions, sample};

fn err<T: std::fmt::Debug>(r: ember_core::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn capture_rejects_bad_sentences_and_layers() {
    let dev = device("flex").unwrap();
    let m = TransformerConfig::new(20, 8, 2, 2, 16, 6)
        .with_causal(true)
        .init(&dev);
    let cfg = CaptureConfig::default();
    assert!(err(collect(&m, &[], 0, &cfg, None, &dev)).contains("no sentences"));
    assert!(
        err(collect(&m, &[vec![1, 2], vec![]], 0, &cfg, None, &dev))
            .contains("sentence 1 has no tokens")
    );
    assert!(err(collect(&m, &[vec![1; 9]], 0, &cfg, None, &dev)).contains("at most 6"));
    assert!(err(collect(&m, &[vec![1, 99]], 0, &cfg, None, &dev)).contains("99"));
    let bad = CaptureConfig {
        layers: Some(vec![5]),
        ..CaptureConfig::default()
    };
    assert!(err(collect(&m, &[vec![1, 2]], 0, &bad, None, &dev)).contains("layer 5"));
    let bad = CaptureConfig {
        sites: vec![],
        ..CaptureConfig::default()
    };
    assert!(err(collect(&m, &[vec![1, 2]], 0, &bad, None, &dev)).contains("no sites"));
    // interventions out of range, per site
    let iv = Intervention::new().with_at(Site::MlpOut, 0, 8, UnitEdit::Set(1.0));
    assert!(err(collect(&m, &[vec![1, 2]], 0, &cfg, Some(&iv), &dev)).contains("d_model"));
    let iv = Intervention::new().with_at(Site::MlpPre, 0, 3, UnitEdit::Set(f32::NAN));
    assert!(err(collect(&m, &[vec![1, 2]], 0, &cfg, Some(&iv), &dev)).contains("non-finite"));
    // sampling needs a causal model and sane settings
    let enc = TransformerConfig::new(20, 8, 2, 2, 16, 6).init(&dev);
    assert!(
        err(sample(
            &enc,
            &[vec![1]],
            None,
            &SampleOptions::default(),
            0,
            &dev
        ))
        .contains("not causal")
    );
    let o = SampleOptions {
        top_p: 0.0,
        ..SampleOptions::default()
    };
    assert!(err(sample(&m, &[vec![1]], None, &o, 0, &dev)).contains("top_p"));
    assert!(
        err(sample(
            &m,
            &[vec![]],
            None,
            &SampleOptions::default(),
            0,
            &dev
        ))
        .contains("prompt 0")
    );
}

#[test]
fn expertise_rejects_bad_labels_and_values() {
    let s = [0.1f32, 0.2, 0.3, 0.4];
    assert!(err(score_block(&s, 2, &[true, true])).contains("single class"));
    assert!(err(score_block(&s, 3, &[true, false])).contains("expected"));
    assert!(err(score_block(&[0.1, f32::NAN, 0.3, 0.4], 2, &[true, false])).contains("unit 0"));
    let dev = device("flex").unwrap();
    let m = TransformerConfig::new(20, 8, 2, 1, 16, 6)
        .with_causal(true)
        .init(&dev);
    let r = collect(
        &m,
        &[vec![1, 2], vec![1, 3]],
        0,
        &CaptureConfig::default(),
        None,
        &dev,
    )
    .unwrap();
    assert!(err(Expertise::compute(&r, &[true])).contains("1 labels for 2 sentences"));
    assert!(err(Expertise::compute(&r, &[false, false])).contains("positive and negative"));
    assert!(err(r.select(&[0, 5])).contains("sentence 5"));
}

#[test]
fn analysis_and_concepts_reject_bad_shapes() {
    assert!(err(cosine_matrix(&[1.0, 2.0, 3.0], &[1.0, 2.0], 2)).contains("multiples"));
    assert!(err(cosine_matrix(&[1.0, f32::NAN], &[1.0, 2.0], 2)).contains("non-finite"));
    assert!(err(retrieval_top1(&[1.0, 2.0], &[1.0, 2.0, 3.0, 4.0], 2)).contains("query values"));
    assert!(err(ParallelEmbeddings::new(vec![vec![1.0; 4], vec![1.0; 6]], 2)).contains("n x d"));
    assert!(
        err(alignment(&[0.0; 3], &["a".into(), "b".into()], &[])).contains("3 similarities for 2")
    );
    let names: Vec<String> = vec!["a".into(), "b".into()];
    assert!(err(alignment(&[0.0; 4], &names, &[])).contains("only 0 rated pairs"));
    assert!(err(average_linkage(&[0.0; 4], 2, 3)).contains("k = 3"));
    assert!(err(average_linkage(&[0.0, f64::NAN, f64::NAN, 0.0], 2, 1)).contains("non-finite"));
    assert!(err(adjusted_rand_index(&[0, 1], &[0])).contains("labelings"));
    assert!(err(embedding_cosine(&[0.0; 8], 4, &[0, 2])).contains("token 2"));
}
