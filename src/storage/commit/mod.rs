//! The one commit protocol (docs/transactions.md): a commit is one record
//! in the write-ahead log, acknowledged once the record is durable, then
//! published to the tables' memtables; a background flusher later turns
//! memtables into Delta commits that remember the LSN they cover.
//!
//! This module owns the log handle and what the log may forget. It knows
//! nothing of tables: they call [`CommitLog::append`] and say which LSNs
//! they still hold only in memory, and `storage::recovery` replays the
//! records at start-up.

mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

pub use record::{CommitRecord, TableChange};

use super::wal::{Opened, Wal, WalError, WalOptions};
use crate::error::{BrookError, ErrorCode, SqlState};

/// The application id of the Delta `txn` action that records, in every
/// flush of a table, the highest LSN the table's Delta log holds. Replay
/// skips records at or below it: a table's Delta commit and the LSN it
/// covers are one atomic step, which is what makes replay idempotent.
pub const APPLIED_LSN_APP_ID: &str = "brook.wal";

/// Where the log lives below the data directory.
pub const WAL_DIR: &str = "wal";

#[derive(Debug, Error)]
pub enum CommitError {
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A record whose checksum is right but whose contents are not: written
    /// by a different Brook, or a bug. Start-up stops rather than guess.
    #[error("write-ahead log record {lsn} cannot be read: {reason}")]
    Record { lsn: u64, reason: String },
    #[error("a commit with more than 4 billion parts")]
    TooLarge,
    #[error("encoding a commit: {0}")]
    Encode(#[from] datafusion::arrow::error::ArrowError),
}

impl ErrorCode for CommitError {
    fn sqlstate(&self) -> SqlState {
        match self {
            CommitError::Wal(e) => e.sqlstate(),
            CommitError::Record { .. } => SqlState::DATA_CORRUPTED,
            CommitError::TooLarge => SqlState::PROGRAM_LIMIT_EXCEEDED,
            CommitError::Encode(_) => SqlState::INTERNAL_ERROR,
        }
    }
}

impl From<CommitError> for BrookError {
    fn from(e: CommitError) -> Self {
        BrookError::Module(Box::new(e))
    }
}

/// The server's write-ahead log as the tables use it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CommitLog {
    inner: std::sync::Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    wal: Wal,
    data_dir: PathBuf,
    in_flight: Mutex<BTreeMap<u64, u64>>,
    next_ticket: AtomicU64,
}

/// A commit that is durable but may not be published yet: while it lives,
/// the log keeps its record (see [`CommitLog::release_below`]). Drop it once
/// the commit is in its tables' memtables.
#[must_use]
pub struct Durable<'a> {
    pub lsn: u64,
    _ticket: Ticket<'a>,
}

struct Ticket<'a> {
    log: &'a Inner,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.log.in_flight.lock() {
            in_flight.remove(&self.id);
        }
    }
}

impl CommitLog {
    /// Open the log of `data_dir`. `floor` is the highest LSN any table
    /// already holds. Returns the log and the records to replay.
    pub fn open(data_dir: &Path, floor: u64) -> Result<(Self, Opened), CommitError> {
        let opened = Wal::open(&data_dir.join(WAL_DIR), floor, WalOptions::default())?;
        let log = Self {
            inner: std::sync::Arc::new(Inner {
                wal: opened.wal.clone(),
                data_dir: data_dir.to_path_buf(),
                in_flight: Mutex::new(BTreeMap::new()),
                next_ticket: AtomicU64::new(0),
            }),
        };
        Ok((log, opened))
    }

    /// The name a table's changes carry in records: its directory below the
    /// data directory.
    pub fn table_id(&self, dir: &Path) -> String {
        let relative = dir.strip_prefix(&self.inner.data_dir).unwrap_or(dir);
        relative.to_string_lossy().replace('\\', "/")
    }

    /// Make `record` durable. Many concurrent commits share one fsync.
    pub async fn append(&self, record: &CommitRecord) -> Result<Durable<'_>, CommitError> {
        let payload = record.encode()?;
        // Any record not yet durable gets an LSN above the durable one, so
        // this is a floor for the LSN this commit will get.
        let floor = self.inner.wal.durable_lsn() + 1;
        let id = self.inner.next_ticket.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut in_flight) = self.inner.in_flight.lock() {
            in_flight.insert(id, floor);
        }
        let ticket = Ticket {
            log: &self.inner,
            id,
        };
        let lsn = self.inner.wal.append(payload).await?;
        Ok(Durable {
            lsn,
            _ticket: ticket,
        })
    }

    /// The highest durable LSN.
    pub fn durable_lsn(&self) -> u64 {
        self.inner.wal.durable_lsn()
    }

    /// Let the log forget every record below `oldest_unflushed`, the lowest
    /// LSN the tables listed hold only in their memtables (`None`: none
    /// does), and at most up to `mark`, the durable LSN read before the
    /// tables were listed (a table created since can only hold later
    /// records). Commits still between the log and their memtables hold
    /// their records too.
    pub fn release_below(&self, oldest_unflushed: Option<u64>, mark: u64) {
        let in_flight = self
            .inner
            .in_flight
            .lock()
            .ok()
            .and_then(|f| f.values().min().copied());
        let keep_from = [oldest_unflushed, in_flight]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(mark + 1);
        if keep_from > 1 {
            self.inner.wal.release_through(keep_from - 1);
        }
    }

    /// How many fsyncs the log has made, for tests and metrics.
    pub fn syncs(&self) -> u64 {
        self.inner.wal.syncs()
    }
}
