//! Ids and class labels outside their table are errors, not backend panics (CPU) or silent
//! out-of-bounds reads (GPU): every public entry that gathers by user-supplied ids checks them.

use burn::prelude::*;
use ember_core::data::{Tokenizer, TokenizerConfig};
use ember_core::lm::sequence_logprobs;
use ember_core::loss::{aam_softmax, am_softmax, cross_entropy, masked_cross_entropy_seq};
use ember_core::nn::TransformerConfig;

fn ids(v: &[i64], shape: [usize; 2], d: &Device) -> Tensor<2, Int> {
    Tensor::<1, Int>::from_data(TensorData::new(v.to_vec(), [v.len()]), d).reshape(shape)
}

#[test]
fn token_ids_outside_the_vocabulary_are_errors() {
    let d = Device::flex();
    let m = TransformerConfig::new(17, 16, 2, 2, 32, 8)
        .with_causal(true)
        .init(&d);
    for (bad, shown) in [(17, "17"), (i32::MAX as i64, "2147483647"), (-1, "-1")] {
        let err = m
            .logits(ids(&[0, 3, bad, 5], [2, 2], &d), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("token id {shown} outside 0..17")),
            "{err}"
        );
    }
    assert!(m.logits(ids(&[0, 3, 16, 5], [2, 2], &d), None).is_ok());

    // The last token of a scored sequence is only a target: checked too.
    let err = sequence_logprobs(&m, &[vec![1, 2, 17]], &[1], 4, &d)
        .unwrap_err()
        .to_string();
    assert!(err.contains("token id 17 outside 0..17"), "{err}");
}

#[test]
fn class_labels_outside_the_classes_are_errors() {
    let d = Device::flex();
    let logits = Tensor::<2>::zeros([3, 4], &d);
    let labels = |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v, [3]), &d);
    let err = cross_entropy(logits.clone(), labels(vec![0, 4, 1]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("target class 4 outside 0..4"), "{err}");
    let err = am_softmax(logits.clone(), labels(vec![0, -2, 1]), 30.0, 0.2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("class label -2 outside 0..4"), "{err}");
    let err = aam_softmax(logits.clone(), labels(vec![9, 0, 1]), 30.0, 0.2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("class label 9 outside 0..4"), "{err}");
    assert!(cross_entropy(logits, labels(vec![0, 3, 1])).is_ok());

    let logits = Tensor::<3>::zeros([1, 2, 5], &d);
    let keep = Tensor::<2, Bool>::from_data(TensorData::new(vec![true, false], [1, 2]), &d);
    // Masked-out positions must hold valid ids too (the gather runs over all of them).
    let err = masked_cross_entropy_seq(logits, ids(&[1, 5], [1, 2], &d), keep)
        .unwrap_err()
        .to_string();
    assert!(err.contains("target id 5 outside 0..5"), "{err}");
}

#[test]
fn a_tokenizer_file_holds_only_configurations_fit_accepts() {
    let dir = std::env::temp_dir().join(format!("ember-bad-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tok = Tokenizer::fit(["a b c a b"], &TokenizerConfig::default()).unwrap();
    let path = dir.join("tok.json");
    tok.save(&path).unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    assert!(Tokenizer::load(&path).is_ok());
    for (from, to, why) in [
        (
            "\"max_piece_len\":4",
            "\"max_piece_len\":1",
            "max_piece_len",
        ),
        (
            "\"subword_fraction\":0.2",
            "\"subword_fraction\":7.0",
            "subword_fraction",
        ),
        ("\"max_vocab\":1000", "\"max_vocab\":3", "max_vocab"),
    ] {
        assert!(good.contains(from), "{from} not in {good}");
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        let err = Tokenizer::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(why) && err.contains("tok.json"),
            "{from}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
