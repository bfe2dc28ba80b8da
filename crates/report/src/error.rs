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
    Missing {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// Reading, writing, syncing or renaming a file failed.
    #[error("I/O error on {}: {cause}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying I/O error.
        cause: std::io::Error,
    },
    /// The file exists but is not a valid report.
    #[error("corrupt report {}: {cause}", path.display())]
    Corrupt {
        /// The file that failed to parse.
        path: PathBuf,
        /// The JSON parse or shape error.
        cause: serde_json::Error,
    },
    /// The report was written by a newer schema than this crate understands.
    #[error("{}: schema_version {found} is newer than the supported {supported}", path.display())]
    Schema {
        /// The report file.
        path: PathBuf,
        /// The `schema_version` stored in the file.
        found: u32,
        /// The newest version this crate reads ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
        supported: u32,
    },
    /// Serializing to JSON failed.
    #[error("cannot serialize to JSON: {0}")]
    Serialize(
        /// The serializer's error.
        serde_json::Error,
    ),
    /// The data handed to a plot cannot be drawn (empty, all-NaN, ragged, bad range, ...).
    #[error("cannot plot `{title}`: {reason}")]
    PlotData {
        /// The plot's title, to say which plot was rejected.
        title: String,
        /// What is wrong with the data.
        reason: String,
    },
    /// plotters failed while drawing or encoding the PNG.
    #[error("drawing {} failed: {message}", path.display())]
    Plot {
        /// The PNG that was being written.
        path: PathBuf,
        /// plotters' error message (or a note that it panicked).
        message: String,
    },
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
