//! Seeded property test of the preference JSONL reader: empty, truncated, random and
//! mutated files give an error or pairs with non-empty responses, never a panic or a hang.

use ember_core::testing::{Mutator, run_mutants};
use std::time::Duration;

#[test]
fn preference_jsonl_never_panics() {
    let seeds = vec![
        br#"{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}"#.to_vec(),
        br#"{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}], "rejected": [{"role": "assistant", "content": "no"}]}"#.to_vec(),
        b"{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: yes\", \"rejected\": \"\\n\\nHuman: q\\n\\nAssistant: no\"}\n{\"chosen\": \"a b c\", \"rejected\": \"a b d\"}".to_vec(),
    ];
    let mut m = Mutator::new(seeds, 17);
    let out = run_mutants(&mut m, 600, Duration::from_secs(5), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        match ember_reward::data::parse_preferences(&text) {
            Ok(pairs) => {
                // A wrong acceptance is a failure, not a rejection.
                assert!(
                    pairs
                        .iter()
                        .all(|p| !p.chosen.trim().is_empty() && !p.rejected.trim().is_empty()),
                    "accepted an empty response"
                );
                Ok(())
            }
            Err((_, msg)) => Err(msg),
        }
    });
    assert!(out.accepted > 0 && out.rejected > 0, "{out:?}");
}
