//! Property test: the similarity parser never panics or hangs on mutated files, and what it
//! accepts is finite.

use ember_core::testing::{Mutator, run_mutants};
use ember_lang_experts::concepts::parse_similarity;
use std::time::Duration;

#[test]
fn similarity_reader_survives_mutants() {
    let seeds = vec![
        b"sun-n sunlight-n 50.000000\nautomobile-n car-n 50.000000\n".to_vec(),
        b"word1\tword2\tSimLex999\nold\tnew\t1.58\nsmart\tintelligent\t9.2\n".to_vec(),
    ];
    let mut m = Mutator::new(seeds, 16);
    let outcome = run_mutants(&mut m, 400, Duration::from_secs(5), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let pairs = parse_similarity(&text)?;
        assert!(!pairs.is_empty() && pairs.iter().all(|p| p.score.is_finite()));
        Ok(())
    });
    assert!(outcome.accepted > 0 && outcome.rejected > 0, "{outcome:?}");
}
