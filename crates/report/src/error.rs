//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while writing, loading or plotting a report.
///
/// Messages are self-contained (they include the underlying cause), so printing an error with
/// `{}` is enough.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report file does not exist.
    #[error("no report at {} (did the eval run to completion?)", path.display())]
    Missing { path: PathBuf },
    /// Reading, writing, syncing or renaming a file failed.
    #[error("I/O error on {}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The file exists but is not a valid report.
    #[error("corrupt report {}: {cause}", path.display())]
    Corrupt {
        path: PathBuf,
        cause: serde_json::Error,
    },
    /// The report was written by a newer schema than this crate understands.
    #[error("{}: schema_version {found} is newer than the supported {supported}", path.display())]
    Schema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Serializing to JSON failed.
    #[error("cannot serialize to JSON: {0}")]
    Serialize(serde_json::Error),
    /// The data handed to a plot cannot be drawn (empty, all-NaN, ragged, bad range, ...).
    #[error("cannot plot `{title}`: {reason}")]
    PlotData { title: String, reason: String },
    /// plotters failed while drawing or encoding the PNG.
    #[error("drawing {} failed: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}
