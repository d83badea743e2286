//! Start-up: open the write-ahead log above what the tables already hold
//! and put every logged commit a table's Delta log lacks back into its
//! memtable (docs/transactions.md, "Recovery").

use std::collections::HashMap;
use std::path::Path;

use tracing::info;

use super::DurableTable;
use super::commit::{CommitLog, CommitRecord};
use crate::error::Result;

/// Replay the log of `data_dir` into `tables` (every table the server has)
/// and attach them to it. Returns the log for tables created later.
pub async fn recover(data_dir: &Path, tables: &[DurableTable]) -> Result<CommitLog> {
    let (log, records) = open(data_dir, tables, 0).await?;
    replay(&log, &records, tables).await?;
    Ok(log)
}

/// Open the log of `data_dir` above the highest LSN `tables` or the
/// catalog (`catalog_lsn`) already hold, and read its records. Between
/// this and [`replay`], the catalog applies the schema changes records
/// carry that it lacks, so that the tables they create exist.
pub async fn open(
    data_dir: &Path,
    tables: &[DurableTable],
    catalog_lsn: u64,
) -> Result<(CommitLog, Vec<(u64, CommitRecord)>)> {
    let mut floor = catalog_lsn;
    for table in tables {
        floor = floor.max(table.applied_lsn().await?);
    }
    let (log, opened) = CommitLog::open(data_dir, floor)?;
    let records = opened
        .records
        .iter()
        .map(|r| Ok((r.lsn, CommitRecord::decode(r.lsn, &r.payload)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((log, records))
}

/// Put every record's changes a table's Delta log lacks back into its
/// memtable, and attach `tables` (every table the server has) to `log`.
pub async fn replay(
    log: &CommitLog,
    records: &[(u64, CommitRecord)],
    tables: &[DurableTable],
) -> Result<()> {
    let mut by_id: HashMap<String, (&DurableTable, u64)> = HashMap::with_capacity(tables.len());
    for table in tables {
        by_id.insert(table.log_id(log), (table, table.applied_lsn().await?));
    }
    let (mut replayed, mut skipped) = (0usize, 0usize);
    for (lsn, commit) in records {
        for change in &commit.changes {
            match by_id.get(&change.table) {
                Some((table, applied)) if lsn > applied => {
                    table.replay(*lsn, change.clone()).await?;
                    replayed += 1;
                }
                // Flushed already, or the table was dropped since.
                _ => skipped += 1,
            }
        }
    }
    for table in tables {
        table.attach(log);
    }
    info!(
        records = records.len(),
        replayed, skipped, "write-ahead log recovered"
    );
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::prelude::SessionContext;
    use deltalake::kernel::Transaction;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    fn rows(values: Vec<i64>) -> RecordBatch {
        RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(values))]).unwrap()
    }

    async fn open(data_dir: &Path, create: bool) -> (DurableTable, CommitLog) {
        let dir = data_dir.join("tables/000001_public_t");
        let table = if create {
            DurableTable::create(&dir, "t", schema(), HashMap::new(), Default::default()).await
        } else {
            DurableTable::open(&dir, "t", schema(), HashMap::new(), Default::default()).await
        }
        .unwrap();
        let log = recover(data_dir, std::slice::from_ref(&table))
            .await
            .unwrap();
        (table, log)
    }

    /// Column `n` of `table`, sorted (the storage tests' tables hold one).
    pub(in crate::storage) async fn values(table: &DurableTable) -> Vec<i64> {
        let ctx = SessionContext::new();
        let batches = ctx
            .read_table(Arc::new(table.clone()))
            .unwrap()
            .sort(vec![datafusion::prelude::col("n").sort(true, false)])
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn an_unflushed_commit_is_visible_at_once_and_replayed_after_a_crash() {
        let data = tempfile::tempdir().unwrap();
        let (table, log) = open(data.path(), true).await;
        table.append(vec![rows(vec![1, 2])], vec![]).await.unwrap();
        table
            .append(vec![rows(vec![3])], vec![Transaction::new("p", 7)])
            .await
            .unwrap();
        // Visible before any Delta commit holds it.
        assert_eq!(table.version(), Some(0));
        assert_eq!(values(&table).await, vec![1, 2, 3]);
        assert_eq!(table.progress("p").await.unwrap(), Some(7));
        // A crash: nothing flushed, the process's memory gone.
        drop((table, log));
        let (table, log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, vec![1, 2, 3]);
        assert_eq!(table.progress("p").await.unwrap(), Some(7));
        // Flushed: one Delta commit with both, and a restart replays nothing twice.
        assert_eq!(table.flush().await.unwrap(), 2);
        assert_eq!(table.version(), Some(1));
        assert_eq!(table.applied_lsn().await.unwrap(), 2);
        table.append(vec![rows(vec![4])], vec![]).await.unwrap();
        drop((table, log));
        let (table, _log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, vec![1, 2, 3, 4]);
        assert_eq!(table.progress("p").await.unwrap(), Some(7));
        assert_eq!(table.oldest_unflushed_lsn(), Some(3));
    }

    #[tokio::test]
    async fn a_rewrite_sees_and_keeps_unflushed_rows() {
        let data = tempfile::tempdir().unwrap();
        let (table, log) = open(data.path(), true).await;
        table
            .append(vec![rows(vec![1, 2, 3])], vec![])
            .await
            .unwrap();
        let deleted = table
            .delete_where(Some(
                datafusion::prelude::col("n").eq(datafusion::prelude::lit(2i64)),
            ))
            .await
            .unwrap();
        assert_eq!(deleted, 1);
        assert_eq!(values(&table).await, vec![1, 3]);
        drop((table, log));
        let (table, _log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, vec![1, 3]);
    }

    #[tokio::test]
    async fn rewrites_are_log_records_until_a_flush_makes_them_delta_commits() {
        use datafusion::prelude::{col, lit};
        let data = tempfile::tempdir().unwrap();
        let (table, log) = open(data.path(), true).await;
        table
            .append(vec![rows(vec![1, 2, 3])], vec![])
            .await
            .unwrap();
        table.flush().await.unwrap();
        table.append(vec![rows(vec![4, 5])], vec![]).await.unwrap();
        let delta_version = table.version();
        // One row of the Delta file, one of the unflushed commit.
        assert_eq!(
            table
                .delete_where(Some(col("n").eq(lit(2i64))))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            table
                .update_where(
                    vec![("n".into(), col("n") * lit(10i64))],
                    Some(col("n").eq(lit(4i64)))
                )
                .await
                .unwrap(),
            1
        );
        assert_eq!(values(&table).await, vec![1, 3, 5, 40]);
        assert_eq!(table.version(), delta_version, "a rewrite wrote to Delta");
        // A crash: the rewrites come back from the log.
        drop((table, log));
        let (table, log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, vec![1, 3, 5, 40]);
        // Flushed: the rewritten file is removed and its rows written again.
        table.flush().await.unwrap();
        assert_eq!(table.file_count(), 1);
        assert_eq!(table.oldest_unflushed_lsn(), None);
        drop((table, log));
        let (table, log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, vec![1, 3, 5, 40]);
        // TRUNCATE and DELETE without WHERE remove every unit.
        table.append(vec![rows(vec![6])], vec![]).await.unwrap();
        assert_eq!(table.delete_where(None).await.unwrap(), 5);
        assert_eq!(values(&table).await, Vec::<i64>::new());
        table.append(vec![rows(vec![7])], vec![]).await.unwrap();
        table.truncate().await.unwrap();
        table.append(vec![rows(vec![8])], vec![]).await.unwrap();
        drop((table, log));
        let (table, log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, vec![8]);
        table.flush().await.unwrap();
        drop((table, log));
        let (table, _log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, vec![8]);
        assert_eq!(table.file_count(), 1);
    }

    #[tokio::test]
    async fn an_update_that_breaks_a_rule_changes_nothing() {
        use datafusion::prelude::{col, lit};
        let data = tempfile::tempdir().unwrap();
        let (table, _log) = open(data.path(), true).await;
        table.append(vec![rows(vec![1, 2])], vec![]).await.unwrap();
        let err = table
            .update_where(
                vec![(
                    "n".into(),
                    lit(datafusion::common::ScalarValue::Int64(None)),
                )],
                Some(col("n").eq(lit(1i64))),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not-null"), "{err}");
        // A computed NULL is caught on the rewritten rows.
        let err = table
            .update_where(
                vec![(
                    "n".into(),
                    datafusion::logical_expr::when(col("n").eq(lit(2i64)), lit(0i64))
                        .end()
                        .unwrap(),
                )],
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not-null"), "{err}");
        assert_eq!(values(&table).await, vec![1, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_fsyncs_and_all_land_once() {
        let data = tempfile::tempdir().unwrap();
        let (table, log) = open(data.path(), true).await;
        let before = log.syncs();
        let tasks: Vec<_> = (0..200i64)
            .map(|i| {
                let table = table.clone();
                tokio::spawn(async move { table.append(vec![rows(vec![i])], vec![]).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert!(
            log.syncs() - before < 200,
            "{} fsyncs",
            log.syncs() - before
        );
        table.flush().await.unwrap();
        drop((table, log));
        let (table, _log) = open(data.path(), false).await;
        assert_eq!(values(&table).await, (0..200).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_full_memtable_is_flushed_by_the_next_append_without_the_flusher() {
        let data = tempfile::tempdir().unwrap();
        let (table, _log) = open(data.path(), true).await;
        // 1,000 rows of 8 bytes per append: past the test limit of 64 KiB.
        for i in 0..20i64 {
            table
                .append(vec![rows((i * 1000..(i + 1) * 1000).collect())], vec![])
                .await
                .unwrap();
        }
        assert!(table.version() > Some(0), "nothing was flushed");
        assert!(table.unflushed_bytes() < 64 << 10);
        assert_eq!(values(&table).await, (0..20_000).collect::<Vec<_>>());
    }
}
