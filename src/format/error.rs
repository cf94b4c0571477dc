//! The typed error of the format readers and writers: what went wrong, in which file, where.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The I/O error is shown in the message itself (not as a chained source), so the one
    /// error line the CLI prints says it once.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
}

impl FormatError {
    pub fn invalid(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        FormatError::Invalid {
            path: path.into(),
            msg: msg.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FormatError::Io {
            path: path.into(),
            err: source,
        }
    }
}

pub type Result<T> = std::result::Result<T, FormatError>;
