//! Evaluation metrics in plain Rust (no Burn): they run on scores already pulled off the
//! device, in `f64`, and match the scikit-learn / SciPy reference implementations that the
//! papers used. Every function validates its input and returns [`Err`](crate::Error) instead
//! of panicking: empty input, length mismatch, NaN/inf, or a single class.
//!
//! The expected values in `tests/fixtures/metrics.json` come from `scripts/gen_fixtures.py`.
//!
//! | file | what |
//! |---|---|
//! | [`classification`] | accuracy |
//! | [`ranking`] | average precision, ROC AUC (single and batched over units) |
//! | [`verification`] | EER and minDCF for speaker verification |
//! | [`retrieval`] | recall@k on a similarity matrix |
//! | [`correlation`] | Pearson, Spearman, average ranks |
//! | [`angular`] | angular error between direction vectors (gaze, pose) |

pub mod angular;
pub mod classification;
pub mod correlation;
pub mod ranking;
pub mod retrieval;
mod sweep;
pub mod verification;

pub use angular::{angular_error_deg, mean_angular_error_deg};
pub use classification::accuracy;
pub use correlation::{pearson, rankdata, spearman};
pub use ranking::{average_precision, average_precision_batch, roc_auc, roc_auc_batch};
pub use retrieval::{RecallPair, recall_at_k, recall_at_k_diagonal};
pub use sweep::{for_each_threshold, pack_score, unpack_score};
pub use verification::{
    DcfParams, Eer, EerConvention, MinDcf, VerificationMetrics, eer, eer_with, min_dcf,
    verification_metrics,
};

use crate::error::{Error, Result};

/// `Err(Shape)` unless two inputs that must be paired have the same length.
pub(crate) fn check_same_len(what: &str, a: usize, b: usize) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::Shape(format!("{what}: lengths differ ({a} vs {b})")))
    }
}

/// `Err(NonFinite)` naming the first NaN/inf position, if any.
pub(crate) fn check_finite_f32(what: &str, xs: &[f32]) -> Result<()> {
    crate::host::check_finite(what, xs)
}

/// `Err(NonFinite)` naming the first NaN/inf position, if any.
pub(crate) fn check_finite_f64(what: &str, xs: &[f64]) -> Result<()> {
    crate::host::check_finite(what, xs)
}
