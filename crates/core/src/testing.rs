//! Seeded property testing of readers: feed a reader empty, truncated, random and mutated
//! inputs and require a clear error or a correct result, never a panic or a hang.
//!
//! Every reader a user can point at their own files has such a test (`tests/fuzz_readers.rs`
//! in each crate). The mutations are the ones that found real bugs: length fields made huge,
//! single bytes flipped, chunks cut, duplicated or spliced. Cases are bounded and seeded so a
//! failure reproduces from the printed case number.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One generated input and how it was made (printed when the reader misbehaves).
#[derive(Debug, Clone)]
pub struct Mutant {
    /// Case number within the run (reproduces with the same seed).
    pub case: usize,
    /// Human-readable description of the mutation.
    pub how: String,
    /// The bytes to feed the reader.
    pub bytes: Vec<u8>,
}

/// Seeded generator of inputs derived from valid `seeds`.
///
/// The stream starts with the fixed edge cases (empty input, each seed cut to 1–8, 12, 16, 24,
/// 32, 48 and 64 bytes and to a quarter, half, three quarters and all but one byte, and each
/// seed with trailing bytes), then random byte strings, then random
/// mutations of the seeds: bit flips, bytes set to boundary values (0, 0x7f, 0x80, 0xff),
/// insertions, deletions, duplicated and swapped bytes, length-like fields made huge, splices
/// of two seeds, and digits or letters replaced (which keeps text formats well-formed).
pub struct Mutator {
    seeds: Vec<Vec<u8>>,
    rng: ChaCha8Rng,
    fixed: Vec<(String, Vec<u8>)>,
    case: usize,
}

impl Mutator {
    /// A mutator over valid example inputs (at least one, each non-empty).
    pub fn new(seeds: Vec<Vec<u8>>, seed: u64) -> Self {
        assert!(
            !seeds.is_empty() && seeds.iter().all(|s| !s.is_empty()),
            "Mutator needs at least one non-empty valid input"
        );
        let mut fixed = vec![("empty".to_string(), Vec::new())];
        for (k, s) in seeds.iter().enumerate() {
            let (n, mut cuts) = (
                s.len(),
                vec![1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48, 64],
            );
            cuts.extend([n / 4, n / 2, n * 3 / 4, n - 1]);
            cuts.dedup();
            for cut in cuts {
                if cut > 0 && cut < n {
                    fixed.push((
                        format!("seed {k} truncated to {cut} bytes"),
                        s[..cut].to_vec(),
                    ));
                }
            }
            let mut trailing = s.clone();
            trailing.extend_from_slice(b"\0trailing\xff");
            fixed.push((format!("seed {k} with trailing bytes"), trailing));
        }
        Self {
            seeds,
            rng: ChaCha8Rng::seed_from_u64(seed),
            fixed,
            case: 0,
        }
    }

    /// The next input: first the fixed edge cases, then random and mutated ones.
    pub fn next_mutant(&mut self) -> Mutant {
        let case = self.case;
        self.case += 1;
        if case < self.fixed.len() {
            let (how, bytes) = self.fixed[case].clone();
            return Mutant { case, how, bytes };
        }
        let roll = self.rng.random_range(0..10u32);
        let (how, bytes) = if roll == 0 {
            let n = self.rng.random_range(1..512usize);
            let bytes: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
            (format!("{n} random bytes"), bytes)
        } else {
            let k = self.rng.random_range(0..self.seeds.len());
            let mut bytes = self.seeds[k].clone();
            let n_edits = 1 + self.rng.random_range(0..3usize);
            let mut hows = Vec::new();
            for _ in 0..n_edits {
                hows.push(self.mutate(&mut bytes));
            }
            (format!("seed {k}: {}", hows.join(", ")), bytes)
        };
        Mutant { case, how, bytes }
    }

    fn mutate(&mut self, bytes: &mut Vec<u8>) -> String {
        if bytes.is_empty() {
            bytes.push(self.rng.random());
            return "byte added to empty".into();
        }
        let len = bytes.len();
        let at = self.rng.random_range(0..len);
        match self.rng.random_range(0..10u32) {
            0 => {
                let bit = self.rng.random_range(0..8u32);
                bytes[at] ^= 1 << bit;
                format!("bit {bit} of byte {at} flipped")
            }
            1 => {
                let v = [0u8, 0x7f, 0x80, 0xff][self.rng.random_range(0..4usize)];
                bytes[at] = v;
                format!("byte {at} set to {v:#04x}")
            }
            2 => {
                let v: u8 = self.rng.random();
                bytes.insert(at, v);
                format!("byte {v:#04x} inserted at {at}")
            }
            3 => {
                let n = self.rng.random_range(1..=(len - at).min(16));
                bytes.drain(at..at + n);
                format!("{n} bytes removed at {at}")
            }
            4 => {
                let n = self.rng.random_range(1..=(len - at).min(64));
                let chunk = bytes[at..at + n].to_vec();
                let to = self.rng.random_range(0..=bytes.len());
                bytes.splice(to..to, chunk);
                format!("{n} bytes from {at} duplicated at {to}")
            }
            5 => {
                // A length-like field made huge: four bytes of 0xff or a large little-endian value.
                let n = 4.min(len - at);
                let v: [u8; 4] = if self.rng.random() {
                    [0xff; 4]
                } else {
                    [0, 0, 0, 0x7f]
                };
                bytes[at..at + n].copy_from_slice(&v[..n]);
                format!("{n} bytes at {at} set to a huge value")
            }
            6 => {
                let b = self.rng.random_range(0..len);
                bytes.swap(at, b);
                format!("bytes {at} and {b} swapped")
            }
            7 => {
                let k = self.rng.random_range(0..self.seeds.len());
                let other = &self.seeds[k];
                let from = self.rng.random_range(0..other.len());
                let tail = other[from..].to_vec();
                bytes.truncate(at);
                bytes.extend_from_slice(&tail);
                format!("cut at {at}, spliced with seed {k} from {from}")
            }
            // Text-preserving edits: a digit or a letter replaced by another, which mostly
            // keeps JSON and CSV well-formed, so the reader's semantic checks are exercised.
            mode => {
                let (class, alphabet): (fn(&u8) -> bool, &[u8]) = if mode == 8 {
                    (u8::is_ascii_digit, b"0123456789")
                } else {
                    (
                        u8::is_ascii_alphabetic,
                        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                    )
                };
                let spots: Vec<usize> = (0..len).filter(|&i| class(&bytes[i])).collect();
                if spots.is_empty() {
                    bytes[at] ^= 0x20;
                    return format!("byte {at} case-flipped");
                }
                let at = spots[self.rng.random_range(0..spots.len())];
                let v = alphabet[self.rng.random_range(0..alphabet.len())];
                bytes[at] = v;
                format!("byte {at} set to {:?}", v as char)
            }
        }
    }
}

/// Runs `reader` on `cases` inputs from `mutator` and panics with the case description if the
/// reader panics or takes longer than `limit`. The reader returns `Err` or `Ok` as it sees fit;
/// use `check` inside it to assert properties of an `Ok` result.
///
/// Returns how many inputs were accepted and how many rejected, so a test can also assert that
/// the stream was not all rejected at the first byte.
pub fn run_mutants<F>(mutator: &mut Mutator, cases: usize, limit: Duration, reader: F) -> Outcome
where
    F: Fn(&[u8]) -> std::result::Result<(), String> + Send + Sync + Clone + 'static,
{
    let mut outcome = Outcome::default();
    for _ in 0..cases {
        let m = mutator.next_mutant();
        match run_bounded(&reader, m.bytes.clone(), limit) {
            Verdict::Accepted => outcome.accepted += 1,
            Verdict::Rejected => outcome.rejected += 1,
            Verdict::Panicked(msg) => {
                panic!("case {} ({}) panicked: {msg}", m.case, m.how)
            }
            Verdict::Hung => panic!("case {} ({}) took longer than {limit:?}", m.case, m.how),
        }
    }
    outcome
}

/// Counts of a mutation run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Inputs the reader returned `Ok` for.
    pub accepted: usize,
    /// Inputs the reader returned an error for.
    pub rejected: usize,
}

enum Verdict {
    Accepted,
    Rejected,
    Panicked(String),
    Hung,
}

fn run_bounded<F>(reader: &F, bytes: Vec<u8>, limit: Duration) -> Verdict
where
    F: Fn(&[u8]) -> std::result::Result<(), String> + Send + Sync + Clone + 'static,
{
    let (tx, rx) = mpsc::channel();
    let reader = reader.clone();
    // A detached thread: a hung reader is reported, and the test process ends with it.
    std::thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(|| reader(&bytes)));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(Ok(()))) => Verdict::Accepted,
        Ok(Ok(Err(_))) => Verdict::Rejected,
        Ok(Err(payload)) => Verdict::Panicked(panic_message(payload.as_ref())),
        Err(_) => Verdict::Hung,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

/// A global allocator for test binaries that records the largest single allocation of each
/// thread, so a test can assert that a reader did not allocate what a header *declares*
/// before checking it against the bytes present (with overcommit such an allocation can
/// succeed and go unnoticed). Install it in the test file, then measure with
/// [`largest_alloc`]:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOC: ember_core::testing::CountingAlloc = ember_core::testing::CountingAlloc;
/// let (result, bytes) = ember_core::testing::largest_alloc(|| parse(input));
/// ```
pub struct CountingAlloc;

thread_local! {
    static LARGEST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn note_alloc(size: usize) {
    // `try_with`: the slot is gone while a thread is being torn down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: forwards every call unchanged to the system allocator; only records sizes.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same layout contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same layout contract as the caller's.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through it).
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its result with the largest single allocation (bytes) it made on this
/// thread. Measures only where [`CountingAlloc`] is the global allocator (otherwise 0).
pub fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let r = f();
    (r, LARGEST.with(|l| l.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_seeded_and_start_with_edge_cases() {
        let mut a = Mutator::new(vec![b"hello world".to_vec()], 7);
        let mut b = Mutator::new(vec![b"hello world".to_vec()], 7);
        let first = a.next_mutant();
        assert!(first.bytes.is_empty());
        assert_eq!(b.next_mutant().bytes, first.bytes);
        for _ in 0..200 {
            assert_eq!(a.next_mutant().bytes, b.next_mutant().bytes);
        }
    }

    #[test]
    fn a_panicking_reader_is_reported_with_its_case() {
        let mut m = Mutator::new(vec![b"abc".to_vec()], 1);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run_mutants(&mut m, 3, Duration::from_secs(5), |b: &[u8]| {
                if b.is_empty() {
                    panic!("boom")
                }
                Ok(())
            })
        }));
        let msg = panic_message(r.unwrap_err().as_ref());
        assert!(msg.contains("case 0 (empty) panicked: boom"), "{msg}");
    }

    #[test]
    fn a_hanging_reader_is_reported() {
        let mut m = Mutator::new(vec![b"abc".to_vec()], 1);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run_mutants(&mut m, 1, Duration::from_millis(50), |_: &[u8]| {
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            })
        }));
        let msg = panic_message(r.unwrap_err().as_ref());
        assert!(msg.contains("took longer"), "{msg}");
    }
}
