//! # ember-report
//!
//! What an ember eval returns, with no dependency on Burn:
//!
//! * [`Report`]: one eval's claims ([`Claim`]), free-form metrics, [`Table`]s, [`Figure`]s and
//!   notes, written as `report.json` (atomically) and `report.md`, and loaded back with clear
//!   errors.
//! * [`plot`]: line plots (error bars, bands, line styles and markers), heatmaps and grouped
//!   bar charts (error bars, non-colliding value labels) for papers, each as PNG and SVG, with
//!   legends that never cover data and integer ticks for integer axes (plotters, embedded
//!   font).
//! * [`summary`]: the cross-eval [`Summary`] that `cargo xtask eval` writes as `summary.json`
//!   and `REPORT.md`.
//!
//! A report records claims; it never decides them. The eval computes `holds` itself and the
//! report only stores and renders it.
//!
//! ```
//! use ember_report::{row, Claim, Report, Table};
//!
//! let mut report = Report::new("core", "core", "Causal LM on synthlang")
//!     .with_device("flex")
//!     .with_scale("quick")
//!     .claim(
//!         Claim::new("C1", "Held-out loss beats unigram entropy", "held-out CE (nats/token)", 2.1, 2.1 < 3.4)
//!             .baseline(3.4, "unigram entropy"),
//!     )
//!     .metric("tokens_per_s", 12_345.0);
//! let mut table = Table::new("Loss by step", ["step", "loss"]);
//! table.add_row(row![100, 3.2]);
//! report.add_table(table);
//! assert!(report.to_markdown().contains("Held-out loss beats unigram entropy"));
//! ```

mod error;
mod fsutil;
#[cfg(feature = "plot")]
pub mod plot;
mod report;
pub mod summary;

pub use error::{Error, Result};
pub use report::{Cell, Claim, Figure, Provenance, Report, SCHEMA_VERSION, Table, fmt_num};
pub use summary::{ClaimRow, RunRecord, RunStatus, Summary};

/// Builds a table row (`Vec<Cell>`) from heterogeneous values: `row!["adam", 0.1, 3]`.
#[macro_export]
macro_rules! row {
    ($($cell:expr),* $(,)?) => {
        vec![$($crate::Cell::from($cell)),*]
    };
}
