//! `ALTER PIPELINE name RETRY ERRORS [WHERE expr]`: the payloads kept in
//! `pipelines_errors` go through the pipeline's current definition again,
//! after a user fixed the table or the mapping.
//!
//! Two tables change, the target and `pipelines_errors`, and a Delta commit
//! covers one table. The order of the steps makes a retry crash-safe:
//!
//! 1. a pending file names the retry and the kept messages it resolves;
//! 2. the rows that now load commit to the target table with the application
//!    transaction `brook.retry.<incarnation>` = the retry's id;
//! 3. one replace-where commit to `pipelines_errors` removes the resolved
//!    messages and rewrites those still failing with their new reason,
//!    carrying the same transaction;
//! 4. the pending file goes.
//!
//! After a crash between 2 and 3, [`recover`] finds the target's transaction
//! without the errors table's and finishes step 3 (so no message is both in
//! the table and still kept as an error, and none loads twice); a crash
//! before 2 leaves the retry undone and the errors as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};
use datafusion::logical_expr::{Expr, col, lit};
use deltalake::kernel::Transaction;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::PipelineContext;
use super::commit::{ErrorLog, KeptError, write};
use super::error::PipelineError;
use super::runner::Job;
use super::source::MessageBatch;
use crate::catalog::QualifiedName;
use crate::durable_file::write_json_atomically;
use crate::error::{BrookError, Result};

/// What one `RETRY ERRORS` did, returned to the client as a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// Kept messages sent through the definition again.
    pub retried: u64,
    /// Rows now in the table.
    pub loaded: u64,
    /// Messages the WHERE clause (or IGNORE) dropped: no longer errors.
    pub filtered: u64,
    /// Messages that still fail; they stay, with their new reason.
    pub failed: u64,
}

/// A kept message's identity in `pipelines_errors`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct KeptKey {
    topic: String,
    partition: i32,
    offset: i64,
}

/// Step 1's record: enough to finish step 3 after a crash.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    pipeline: String,
    table_schema: String,
    table_name: String,
    app_id: String,
    retry_id: i64,
    resolved: Vec<KeptKey>,
}

fn pending_file(dir: &Path, app_id: &str) -> PathBuf {
    dir.join(format!("retry-{app_id}.json"))
}

fn app_id(incarnation: &str) -> String {
    format!("brook.retry.{incarnation}")
}

fn storage(e: impl std::fmt::Display) -> BrookError {
    PipelineError::Storage(e.to_string()).into()
}

/// `pipeline_name = p AND (topic, partition, offset) ∈ keys`, grouped by
/// topic and partition into IN lists so the expression stays small.
fn keys_predicate(pipeline: &str, keys: &[KeptKey]) -> Expr {
    let mut groups: BTreeMap<(&str, i32), Vec<Expr>> = BTreeMap::new();
    for k in keys {
        groups
            .entry((k.topic.as_str(), k.partition))
            .or_default()
            .push(lit(k.offset));
    }
    let any = groups
        .into_iter()
        .map(|((topic, partition), offsets)| {
            col("topic")
                .eq(lit(topic))
                .and(col("partition").eq(lit(partition)))
                .and(col("offset").in_list(offsets, false))
        })
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false));
    col("pipeline_name").eq(lit(pipeline)).and(any)
}

/// Finish any retry a crash interrupted (step 3 of the module docs).
pub async fn recover(context: &PipelineContext, errors: &ErrorLog, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_pending = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("retry-") && n.ends_with(".json"));
        if !is_pending {
            continue;
        }
        if let Err(e) = finish(context, errors, &path).await {
            warn!(file = %path.display(), error = %e, "could not finish an interrupted RETRY ERRORS");
        }
    }
}

async fn finish(context: &PipelineContext, errors: &ErrorLog, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path)?;
    let pending: Pending = serde_json::from_slice(&bytes)
        .map_err(|e| BrookError::CatalogCorrupt(format!("{}: {e}", path.display())))?;
    let table = context.catalog.table(&QualifiedName {
        schema: pending.table_schema.clone(),
        name: pending.table_name.clone(),
    });
    let loaded = match &table {
        Some(t) => t.progress(&pending.app_id).await? == Some(pending.retry_id),
        None => false,
    };
    let cleared = errors.table().progress(&pending.app_id).await? == Some(pending.retry_id);
    if loaded && !cleared {
        info!(pipeline = %pending.pipeline, "finishing an interrupted RETRY ERRORS");
        errors
            .replace(
                keys_predicate(&pending.pipeline, &pending.resolved),
                &pending.pipeline,
                &[],
                vec![Transaction::new(&pending.app_id, pending.retry_id)],
            )
            .await?;
    }
    std::fs::remove_file(path)?;
    Ok(())
}

/// Send the kept payloads of `job`'s pipeline (those matching `filter`, SQL
/// over the columns of `pipelines_errors`) through its definition.
pub async fn retry(job: &Job, filter: Option<&str>, dir: &Path) -> Result<RetryReport> {
    let context = &job.context;
    let pipeline = job.def.name.as_str();
    recover(context, &job.errors, dir).await;

    let mut kept = context
        .ctx
        .read_table(Arc::new(job.errors.table().clone()))?
        .filter(col("pipeline_name").eq(lit(pipeline)))?;
    if let Some(sql) = filter {
        let condition = kept.parse_sql_expr(sql).map_err(|e| {
            PipelineError::Definition(format!(
                "RETRY ERRORS WHERE `{sql}`: {}",
                e.strip_backtrace()
            ))
        })?;
        kept = kept.filter(condition)?;
    }
    let batches = kept
        .select_columns(&["topic", "partition", "offset", "payload"])?
        .sort(vec![
            col("partition").sort(true, false),
            col("offset").sort(true, false),
        ])?
        .collect()
        .await?;
    let (keys, payloads) = kept_messages(&batches)?;
    if keys.is_empty() {
        return Ok(RetryReport::default());
    }
    let messages = MessageBatch::of_payloads(
        keys.iter()
            .zip(&payloads)
            .map(|(k, p)| (k.partition, k.offset, p.as_deref())),
    );
    let transformed = job.transform.apply(&context.ctx, &messages)?;
    let mut failing: BTreeMap<usize, String> = BTreeMap::new();
    for e in &transformed.errors {
        failing.insert(e.entry, e.reason.clone());
    }
    let resolved: Vec<KeptKey> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| !failing.contains_key(i))
        .map(|(_, k)| k.clone())
        .collect();

    let app = app_id(&job.incarnation);
    let retry_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(1);
    let pending = Pending {
        pipeline: pipeline.to_string(),
        table_schema: job.def.table_schema.clone(),
        table_name: job.def.table_name.clone(),
        app_id: app.clone(),
        retry_id,
        resolved,
    };
    let file = pending_file(dir, &app);
    std::fs::create_dir_all(dir)?;
    write_json_atomically(&file, &pending)?;

    let (loaded, duplicates) = write(
        &job.table,
        transformed.batch,
        &job.mode,
        vec![Transaction::new(&app, retry_id)],
    )
    .await?;

    let still: Vec<KeptError> = failing
        .iter()
        .map(|(i, reason)| KeptError {
            partition: keys[*i].partition,
            offset: keys[*i].offset,
            error: reason.clone(),
            payload: payloads[*i].clone(),
        })
        .collect();
    let rows: Vec<(&str, &KeptError)> = failing
        .keys()
        .zip(&still)
        .map(|(i, e)| (keys[*i].topic.as_str(), e))
        .collect();
    job.errors
        .replace(
            keys_predicate(pipeline, &keys),
            pipeline,
            &rows,
            vec![Transaction::new(&app, retry_id)],
        )
        .await?;
    std::fs::remove_file(&file)?;

    let report = RetryReport {
        retried: keys.len() as u64,
        loaded,
        filtered: transformed.filtered + duplicates,
        failed: still.len() as u64,
    };
    info!(pipeline, ?report, "RETRY ERRORS");
    Ok(report)
}

type Kept = (Vec<KeptKey>, Vec<Option<Vec<u8>>>);

fn kept_messages(batches: &[RecordBatch]) -> Result<Kept> {
    let mut keys = Vec::new();
    let mut payloads = Vec::new();
    for b in batches {
        // Scans may hand out view types; these casts are free when they do not.
        let as_type = |i: usize, t: &DataType| cast(b.column(i), t).map_err(storage);
        let topics = as_type(0, &DataType::Utf8)?;
        let partitions = as_type(1, &DataType::Int32)?;
        let offsets = as_type(2, &DataType::Int64)?;
        let data = as_type(3, &DataType::Binary)?;
        let topics = topics
            .as_string_opt::<i32>()
            .ok_or_else(|| storage("topic"))?;
        let partitions = partitions
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| storage("partition"))?;
        let offsets = offsets
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| storage("offset"))?;
        let data = data
            .as_binary_opt::<i32>()
            .ok_or_else(|| storage("payload"))?;
        for i in 0..b.num_rows() {
            keys.push(KeptKey {
                topic: topics.value(i).to_string(),
                partition: partitions.value(i),
                offset: offsets.value(i),
            });
            payloads.push((!data.is_null(i)).then(|| data.value(i).to_vec()));
        }
    }
    Ok((keys, payloads))
}
