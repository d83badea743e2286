//! Exactly once: a batch's rows and its end offsets are one Delta commit.
//!
//! Each partition's next offset is a Delta application transaction (`txn`,
//! app id = pipeline incarnation + partition, version = next offset) in the
//! same commit as the rows, so after any crash the table's log says exactly
//! which messages are in the table. Messages that failed go to the
//! `pipelines_errors` table *before* that commit, with their own per-partition
//! mark, so a batch replayed after a crash never records an error twice.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::logical_expr::{col, lit};
use deltalake::kernel::Transaction;

use super::error::PipelineError;
use crate::error::BrookError;
use crate::storage::DurableTable;

/// The app id of one partition's progress in the target table.
pub fn offsets_app_id(incarnation: &str, partition: i32) -> String {
    format!("brook.pipeline.{incarnation}.{partition}")
}

fn errors_app_id(incarnation: &str, partition: i32) -> String {
    format!("brook.errors.{incarnation}.{partition}")
}

fn storage(e: BrookError) -> PipelineError {
    PipelineError::Storage(e.to_string())
}

/// The committed next offset of each of `partitions` (absent: nothing committed yet).
pub async fn committed_offsets(
    table: &DurableTable,
    incarnation: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, PipelineError> {
    let mut out = BTreeMap::new();
    for p in partitions {
        if let Some(next) = table
            .progress(&offsets_app_id(incarnation, *p))
            .await
            .map_err(storage)?
        {
            out.insert(*p, next);
        }
    }
    Ok(out)
}

/// How a batch's rows meet the rows already stored.
#[derive(Debug, Clone)]
pub enum WriteMode {
    Append,
    /// `REPLACE`: a row replaces the stored row with the same primary key.
    Replace(Vec<String>),
    /// `IGNORE`: a row whose primary key is stored is dropped.
    Ignore(Vec<String>),
}

/// Commit `rows` together with the partitions' next offsets. Returns the
/// rows written and the rows dropped as duplicates (`IGNORE`, or repeats of
/// one key within the batch).
pub async fn commit_batch(
    table: &DurableTable,
    rows: RecordBatch,
    mode: &WriteMode,
    incarnation: &str,
    next_offsets: &BTreeMap<i32, i64>,
) -> Result<(u64, u64), PipelineError> {
    let progress = next_offsets
        .iter()
        .map(|(p, next)| Transaction::new(offsets_app_id(incarnation, *p), *next))
        .collect();
    write(table, rows, mode, progress).await
}

/// Write `rows` under `mode` with `progress` in the same commit.
pub async fn write(
    table: &DurableTable,
    rows: RecordBatch,
    mode: &WriteMode,
    progress: Vec<Transaction>,
) -> Result<(u64, u64), PipelineError> {
    match mode {
        WriteMode::Append => Ok((
            table.append(vec![rows], progress).await.map_err(storage)?,
            0,
        )),
        WriteMode::Replace(key) | WriteMode::Ignore(key) => {
            let replace = matches!(mode, WriteMode::Replace(_));
            let done = table
                .write_keyed(rows, key, replace, progress)
                .await
                .map_err(storage)?;
            Ok((done.written, done.skipped))
        }
    }
}

/// A message kept in `pipelines_errors`.
#[derive(Debug, Clone)]
pub struct KeptError {
    pub partition: i32,
    pub offset: i64,
    pub error: String,
    pub payload: Option<Vec<u8>>,
}

/// The `information_schema.pipelines_errors` table: a durable table of its own.
#[derive(Clone)]
pub struct ErrorLog {
    table: DurableTable,
}

impl ErrorLog {
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("pipeline_name", DataType::Utf8, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("topic", DataType::Utf8, false),
            Field::new("partition", DataType::Int32, false),
            Field::new("offset", DataType::Int64, false),
            Field::new("error", DataType::Utf8, false),
            Field::new("payload", DataType::Binary, true),
        ]))
    }

    /// Open the table under `dir`, creating it on first use.
    pub async fn open(dir: &Path) -> Result<Self, BrookError> {
        let name = "pipelines_errors";
        let table = if dir.join("_delta_log").exists() {
            DurableTable::open(
                dir,
                name,
                Self::schema(),
                HashMap::new(),
                Default::default(),
            )
            .await?
        } else {
            DurableTable::create(
                dir,
                name,
                Self::schema(),
                HashMap::new(),
                Default::default(),
            )
            .await?
        };
        Ok(Self { table })
    }

    pub fn table(&self) -> &DurableTable {
        &self.table
    }

    /// Record `errors` of one batch, skipping those a replayed batch already
    /// recorded. One commit.
    pub async fn record(
        &self,
        pipeline: &str,
        incarnation: &str,
        topic: &str,
        errors: &[KeptError],
    ) -> Result<(), PipelineError> {
        if errors.is_empty() {
            return Ok(());
        }
        let mut marks: BTreeMap<i32, Option<i64>> = BTreeMap::new();
        for e in errors {
            if let std::collections::btree_map::Entry::Vacant(v) = marks.entry(e.partition) {
                v.insert(
                    self.table
                        .progress(&errors_app_id(incarnation, e.partition))
                        .await
                        .map_err(storage)?,
                );
            }
        }
        let fresh: Vec<&KeptError> = errors
            .iter()
            .filter(|e| {
                marks
                    .get(&e.partition)
                    .copied()
                    .flatten()
                    .is_none_or(|m| e.offset >= m)
            })
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for e in &fresh {
            let n = next.entry(e.partition).or_insert(e.offset + 1);
            *n = (*n).max(e.offset + 1);
        }
        let rows: Vec<(&str, &KeptError)> = fresh.iter().map(|e| (topic, *e)).collect();
        let batch = errors_batch(pipeline, &rows)?;
        let progress = next
            .into_iter()
            .map(|(p, n)| Transaction::new(errors_app_id(incarnation, p), n))
            .collect();
        self.table
            .append(vec![batch], progress)
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// Replace the entries matching `predicate` with `rows` (which must
    /// match it too), with `progress`, in one commit.
    pub async fn replace(
        &self,
        predicate: datafusion::logical_expr::Expr,
        pipeline: &str,
        rows: &[(&str, &KeptError)],
        progress: Vec<Transaction>,
    ) -> Result<(), PipelineError> {
        let batch = errors_batch(pipeline, rows)?;
        self.table
            .replace_where(batch, predicate, progress)
            .await
            .map_err(storage)
    }

    /// Forget a dropped pipeline's errors.
    pub async fn forget(&self, pipeline: &str) -> Result<(), PipelineError> {
        self.table
            .delete_where(Some(col("pipeline_name").eq(lit(pipeline))))
            .await
            .map_err(storage)?;
        Ok(())
    }
}

/// Rows of `pipelines_errors`, stamped now.
fn errors_batch(pipeline: &str, rows: &[(&str, &KeptError)]) -> Result<RecordBatch, PipelineError> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let mut names = StringBuilder::new();
    let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut topics = StringBuilder::new();
    let mut partitions = Int32Builder::new();
    let mut offsets = Int64Builder::new();
    let mut reasons = StringBuilder::new();
    let mut payloads = BinaryBuilder::new();
    for (topic, e) in rows {
        names.append_value(pipeline);
        at.append_value(now);
        topics.append_value(topic);
        partitions.append_value(e.partition);
        offsets.append_value(e.offset);
        reasons.append_value(&e.error);
        payloads.append_option(e.payload.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(names.finish()),
        Arc::new(at.finish()),
        Arc::new(topics.finish()),
        Arc::new(partitions.finish()),
        Arc::new(offsets.finish()),
        Arc::new(reasons.finish()),
        Arc::new(payloads.finish()),
    ];
    RecordBatch::try_new(ErrorLog::schema(), columns)
        .map_err(|e| PipelineError::Storage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    async fn table(dir: &std::path::Path) -> DurableTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("city", DataType::Utf8, true),
        ]));
        DurableTable::create(dir, "t", schema, HashMap::new(), Default::default())
            .await
            .unwrap()
    }

    fn rows(table: &DurableTable, ids: &[i64], city: &str) -> RecordBatch {
        use datafusion::catalog::TableProvider;
        RecordBatch::try_new(
            table.schema(),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(vec![city; ids.len()])),
            ],
        )
        .unwrap()
    }

    async fn count(table: &DurableTable) -> usize {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.read_table(Arc::new(table.clone()))
            .unwrap()
            .count()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn rows_and_offsets_commit_together_per_incarnation() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(dir.path()).await;
        let next = BTreeMap::from([(0, 10), (1, 4)]);
        let (written, skipped) = commit_batch(
            &t,
            rows(&t, &[1, 2], "a"),
            &WriteMode::Append,
            "inc1",
            &next,
        )
        .await
        .unwrap();
        assert_eq!((written, skipped), (2, 0));
        assert_eq!(count(&t).await, 2);
        assert_eq!(
            committed_offsets(&t, "inc1", &[0, 1, 2]).await.unwrap(),
            next
        );
        // Another incarnation (after SET OFFSETS) starts afresh.
        assert!(
            committed_offsets(&t, "inc2", &[0, 1])
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn keyed_modes_replace_or_keep_the_stored_row() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(dir.path()).await;
        let key = vec!["id".to_string()];
        let next = BTreeMap::from([(0, 1)]);
        commit_batch(&t, rows(&t, &[1], "old"), &WriteMode::Append, "i", &next)
            .await
            .unwrap();
        let next = BTreeMap::from([(0, 2)]);
        let (written, skipped) = commit_batch(
            &t,
            rows(&t, &[1], "ignored"),
            &WriteMode::Ignore(key.clone()),
            "i",
            &next,
        )
        .await
        .unwrap();
        assert_eq!((written, skipped), (0, 1));
        let next = BTreeMap::from([(0, 3)]);
        let (written, _) = commit_batch(
            &t,
            rows(&t, &[1], "new"),
            &WriteMode::Replace(key),
            "i",
            &next,
        )
        .await
        .unwrap();
        assert_eq!(written, 1);
        assert_eq!(count(&t).await, 1);
        assert_eq!(
            committed_offsets(&t, "i", &[0]).await.unwrap(),
            BTreeMap::from([(0, 3)])
        );
        let ctx = datafusion::prelude::SessionContext::new();
        let city = ctx
            .read_table(Arc::new(t.clone()))
            .unwrap()
            .collect()
            .await
            .unwrap();
        let cities = city[0]
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(cities.value(0), "new");
    }
}
