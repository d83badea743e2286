//! What can go wrong with the write-ahead log, and the SQLSTATE a client sees.

use std::path::PathBuf;

use thiserror::Error;

use crate::error::{BrookError, ErrorCode, SqlState, io_failure};

#[derive(Debug, Error)]
pub enum WalError {
    /// Reading or writing a segment failed; the commit was not made.
    #[error("could not write the write-ahead log {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A failed fsync leaves the file's state unknown (the kernel may have
    /// dropped the dirty pages), so no later commit may be acknowledged on
    /// top of it, as PostgreSQL also stops after a failed WAL fsync.
    #[error(
        "the write-ahead log stopped accepting commits after an earlier failure ({0}); restart the server"
    )]
    Stopped(String),
    /// A segment written by a newer Brook: refused rather than dropped.
    #[error(
        "write-ahead log segment {} has format version {version}, which this version of Brook cannot read",
        path.display()
    )]
    UnknownFormat { path: PathBuf, version: u32 },
    #[error("a commit of {0} bytes exceeds the write-ahead log's record limit")]
    TooLarge(usize),
    #[error("the write-ahead log has shut down")]
    Closed,
}

impl WalError {
    pub(super) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.into(),
            source,
        }
    }

    /// The same failure for another waiter of the same group commit
    /// (`std::io::Error` is not `Clone`).
    pub(super) fn duplicate(&self) -> Self {
        match self {
            WalError::Io { path, source } => WalError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            WalError::Stopped(m) => WalError::Stopped(m.clone()),
            WalError::UnknownFormat { path, version } => WalError::UnknownFormat {
                path: path.clone(),
                version: *version,
            },
            WalError::TooLarge(n) => WalError::TooLarge(*n),
            WalError::Closed => WalError::Closed,
        }
    }
}

impl ErrorCode for WalError {
    fn sqlstate(&self) -> SqlState {
        match self {
            WalError::Io { source, .. } => io_failure(source),
            WalError::Stopped(_) | WalError::Closed => SqlState::IO_ERROR,
            WalError::UnknownFormat { .. } => SqlState::DATA_CORRUPTED,
            WalError::TooLarge(_) => SqlState::PROGRAM_LIMIT_EXCEEDED,
        }
    }
}

impl From<WalError> for BrookError {
    fn from(e: WalError) -> Self {
        BrookError::Module(Box::new(e))
    }
}
