//! One error type for every fallible ember-core API.
//!
//! Library functions that take user data (tensors, score arrays, files) return
//! [`Result`] instead of panicking, so a researcher's script gets a message that says
//! what was wrong with the input.

use std::path::PathBuf;

/// Errors returned by ember-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input was well-formed but unusable: empty, wrong length, a single class, ...
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Two inputs that must agree in shape do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A NaN or infinite value where a finite one is required.
    #[error("non-finite value: {0}")]
    NonFinite(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not in the expected format.
    #[error("{path}: {msg}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What was wrong with it.
        msg: String,
    },
    /// A backend was requested that was not compiled in or could not start.
    #[error("backend: {0}")]
    Backend(String),
    /// A configuration or plan value is out of range, or names an unknown key.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Training stopped (non-finite loss, failed checkpoint, ...).
    #[error("training: {0}")]
    Training(String),
    /// Writing a report or plot failed.
    #[error(transparent)]
    Report(#[from] ember_report::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Returns [`Error::InvalidInput`] unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        // `match` rather than `if !cond`: keeps clippy's neg_cmp_op_on_partial_ord quiet
        // for float comparisons at call sites.
        match $cond {
            true => {}
            false => return Err($crate::error::Error::InvalidInput(format!($($arg)+))),
        }
    };
}
pub(crate) use ensure;
