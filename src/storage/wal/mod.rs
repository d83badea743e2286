//! The write-ahead log: where a commit becomes durable before any table file
//! is written.
//!
//! A commit, whether it touches one table or several, is one record; it is
//! acknowledged once that record is fsynced, and many concurrent commits
//! share one fsync ([`writer`]). At start-up the records are read back
//! ([`recovery`]) and whatever the tables do not hold yet is applied again,
//! so a record is the single point at which a multi-table transaction
//! happens or does not (docs/transactions.md).
//!
//! Brook writes its own segmented log rather than using a log crate: the
//! candidates (okaywal, raft-engine's log) bring their own checkpoint and
//! recovery protocols, whereas Brook's tables already remember the last LSN
//! they hold (a Delta `txn` action), which makes replay idempotent without a
//! second mechanism; and a sealed segment here is an immutable file with a
//! self-describing name, which is what shipping the log to an S3-compatible
//! store (several nodes sharing data) needs. The format is in [`format`].

mod error;
mod format;
mod recovery;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

pub use error::WalError;
pub use format::{MAX_PAYLOAD, Record};
pub use recovery::Dropped;
use writer::{Request, Shared, Writer};

/// How the log is kept.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// A segment is closed and the next one started past this size.
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
        }
    }
}

/// A handle to the log; clones share the one writer thread.
#[derive(Clone)]
pub struct Wal {
    requests: mpsc::UnboundedSender<Request>,
    shared: Arc<Shared>,
    dir: PathBuf,
}

/// The log, opened: the handle, every record to replay, and what recovery
/// had to set aside (it is logged here as well).
pub struct Opened {
    pub wal: Wal,
    pub records: Vec<Record>,
    pub dropped: Option<Dropped>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).finish()
    }
}

impl Wal {
    /// Open (or create) the log in `dir`. `floor` is the highest LSN any
    /// table already holds, so that numbering continues above it.
    pub fn open(dir: &Path, floor: u64, options: WalOptions) -> Result<Opened, WalError> {
        std::fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let recovered = recovery::recover(dir, floor)?;
        if let Some(d) = &recovered.dropped {
            tracing::error!(
                after_lsn = d.after_lsn,
                segment = %d.segment.display(),
                offset = d.offset,
                bytes = d.bytes,
                kept_in = %d.kept_in.display(),
                "write-ahead log: {}; recovered every commit up to LSN {} and set the remaining {} bytes aside",
                d.reason,
                d.after_lsn,
                d.bytes
            );
        }
        let shared = Arc::new(Shared::default());
        let writer = Writer::start(
            dir,
            recovered.segments,
            recovered.next_lsn,
            options.segment_bytes.max(1),
            shared.clone(),
        )?;
        let (requests, receiver) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("brook-wal".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| WalError::io(dir, e))?;
        Ok(Opened {
            wal: Wal {
                requests,
                shared,
                dir: dir.to_path_buf(),
            },
            records: recovered.records,
            dropped: recovered.dropped,
        })
    }

    /// Log `payload` as one record; returns its LSN once it is durable.
    pub async fn append(&self, payload: Vec<u8>) -> Result<u64, WalError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(WalError::TooLarge(payload.len()));
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Append { payload, reply })
            .map_err(|_| WalError::Closed)?;
        answer.await.map_err(|_| WalError::Closed)?
    }

    /// Every record up to `lsn` is held by the tables it names: the log may
    /// forget it (whole segments are removed, never the one being written).
    pub fn release_through(&self, lsn: u64) {
        let _ = self.requests.send(Request::Release { through: lsn });
    }

    /// How many fsyncs the log has made (fewer than commits under load).
    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// The highest LSN that is durable.
    pub fn durable_lsn(&self) -> u64 {
        self.shared.durable_lsn.load(Ordering::Acquire)
    }

    /// Where the segments are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests;
