//! Progress bars for long stages, drawn only where someone watches: on a terminal.
//!
//! Training loops, feature extraction, probes and analyses over many checkpoints all take
//! one from here, so they look alike and stay silent in CI logs and pipes.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A bar of `len` steps labelled `label`; hidden when `show` is false or stderr is not a
/// terminal.
pub fn bar(show: bool, len: u64, label: &str) -> ProgressBar {
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise}<{eta_precise} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    #[test]
    fn hidden_when_not_asked_for() {
        let b = super::bar(false, 10, "x");
        assert!(b.is_hidden());
        b.inc(3);
        assert_eq!(b.position(), 3, "a hidden bar still counts");
    }
}
