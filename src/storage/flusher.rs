//! Background flushing: each table's memtable becomes one Delta commit once
//! it is old or large enough, and the write-ahead log then forgets what
//! every table holds in Delta.
//!
//! The age limit bounds how much the log must replay after a crash and how
//! long rows wait before compaction and model refresh see them as files; the
//! size limit bounds memory. Many small commits (single-row INSERTs, short
//! pipeline batches) thus become one Parquet file per table per interval.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};

use super::DurableTable;
use super::commit::CommitLog;

/// How often memtables are looked at.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// When a table's memtable is written to Delta (`flush_interval` and
/// `flush_size` in the settings).
#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    /// Once its oldest commit is this old. A second keeps a table fed one
    /// row at a time to one Parquet file a second, and a replay after a
    /// crash to about a second of commits.
    pub age: Duration,
    /// Once its rows take this much memory.
    pub bytes: usize,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        Self {
            age: Duration::from_secs(1),
            bytes: 32 << 20,
        }
    }
}

/// Run until `shutdown` turns true, flushing the tables `tables()` lists.
/// The server flushes everything once more after its sessions have ended
/// ([`flush_all`]).
pub async fn run(
    tables: impl Fn() -> Vec<DurableTable> + Send + 'static,
    log: CommitLog,
    policy: FlushPolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        // Read before listing: a table created after the listing can only
        // hold records above this mark.
        let mark = log.durable_lsn();
        let tables = tables();
        for table in &tables {
            if table.needs_flush(policy.age, policy.bytes) {
                match table.flush().await {
                    Ok(commits) => debug!(table = table.name(), commits, "flushed"),
                    Err(e) => warn!(table = table.name(), error = %e, "flush failed; will retry"),
                }
            }
        }
        log.release_below(oldest_unflushed(&tables), mark);
    }
}

/// Flush every table now (at shutdown, so that the next start replays
/// nothing), then let the log forget what they hold.
pub async fn flush_all(tables: Vec<DurableTable>, log: &CommitLog) {
    let mark = log.durable_lsn();
    for table in &tables {
        if let Err(e) = table.flush().await {
            warn!(table = table.name(), error = %e, "flush failed; the log keeps its commits");
        }
    }
    log.release_below(oldest_unflushed(&tables), mark);
}

fn oldest_unflushed(tables: &[DurableTable]) -> Option<u64> {
    tables
        .iter()
        .filter_map(DurableTable::oldest_unflushed_lsn)
        .min()
}
