//! Background compaction: each commit adds at least one Parquet file, so a
//! table fed by small INSERTs or short pipeline batches collects many small
//! files. Merging them keeps scans fast; readers of older snapshots are unaffected
//! (the replaced files stay until vacuumed). The same pass trims each
//! table's Delta log to what its latest checkpoint still needs.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};

use super::DurableTable;

/// A table is compacted once it has more data files than this.
pub const FILES_BEFORE_COMPACTION: usize = 32;

/// How long a log entry stays after a checkpoint covers it (Delta's own
/// default is 30 days, for time travel, which Brook does not offer).
pub const LOG_RETENTION: Duration = Duration::from_secs(60);

/// Run until `shutdown` turns true, compacting the tables `tables()` lists.
pub async fn run(
    tables: impl Fn() -> Vec<DurableTable> + Send + 'static,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        for table in tables() {
            if table.file_count() > FILES_BEFORE_COMPACTION {
                match table.compact().await {
                    Ok(removed) => debug!(table = table.name(), removed, "compacted"),
                    Err(e) => {
                        warn!(table = table.name(), error = %e, "compaction failed; will retry")
                    }
                }
            }
            match table.clean_log(LOG_RETENTION).await {
                Ok(0) => {}
                Ok(removed) => debug!(table = table.name(), removed, "log entries removed"),
                Err(e) => {
                    warn!(table = table.name(), error = %e, "log clean-up failed; will retry")
                }
            }
        }
    }
}
