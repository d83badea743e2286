//! `information_schema.pipelines`, `pipelines_cursors` and
//! `pipelines_batches_summary`: the live status of every pipeline, computed
//! when queried. (`pipelines_errors` is a durable table, see `commit`.)

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use datafusion::arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result as DfResult;

use super::definition::PipelineDef;
use super::status::Status;
use crate::catalog::privileges::Privileges;
use crate::catalog::system_table::{SystemTable, ViewerRowSource, micros, timestamp_type};

/// What the system tables read: each pipeline's definition and status.
pub type Listing = Arc<RwLock<BTreeMap<String, (Arc<PipelineDef>, Arc<Status>)>>>;

/// The pipelines `viewer` may see: those its role owns (or is a member
/// of the owner of); a superuser sees all.
fn entries(
    listing: &Listing,
    privileges: &Privileges,
    viewer: &str,
) -> Vec<(Arc<PipelineDef>, Arc<Status>)> {
    let who = privileges.identity(viewer);
    let all: Vec<_> = match listing.read() {
        Ok(map) => map.values().cloned().collect(),
        Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
    };
    all.into_iter()
        .filter(|(def, _)| who.superuser || who.oids.contains(&def.owner))
        .collect()
}

fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> DfResult<RecordBatch> {
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `pipelines (pipeline_name, state, source, table_name, batch_interval_ms, config, last_error)`.
pub fn pipelines(listing: Listing, privileges: Privileges) -> SystemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("pipeline_name", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("batch_interval_ms", DataType::Int64, false),
        Field::new("config", DataType::Utf8, false),
        Field::new("last_error", DataType::Utf8, true),
    ]));
    let s = schema.clone();
    let rows: ViewerRowSource = Arc::new(move |viewer: &str| {
        let mut name = StringBuilder::new();
        let mut state = StringBuilder::new();
        let mut source = StringBuilder::new();
        let mut table = StringBuilder::new();
        let mut interval = Int64Builder::new();
        let mut config = StringBuilder::new();
        let mut error = StringBuilder::new();
        for (def, status) in entries(&listing, &privileges, viewer) {
            let snap = status.snapshot();
            name.append_value(&def.name);
            state.append_value(snap.state.as_str());
            source.append_value(def.source());
            table.append_value(def.table());
            interval.append_value(def.batch_interval_ms as i64);
            config.append_value(def.config_json());
            error.append_option(snap.last_error);
        }
        batch(
            &s,
            vec![
                Arc::new(name.finish()),
                Arc::new(state.finish()),
                Arc::new(source.finish()),
                Arc::new(table.finish()),
                Arc::new(interval.finish()),
                Arc::new(config.finish()),
                Arc::new(error.finish()),
            ],
        )
    });
    SystemTable::for_viewer(schema, rows)
}

/// `pipelines_cursors (pipeline_name, topic, partition, committed_offset,
/// high_watermark, lag, last_batch_at)`.
pub fn cursors(listing: Listing, privileges: Privileges) -> SystemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("pipeline_name", DataType::Utf8, false),
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("committed_offset", DataType::Int64, true),
        Field::new("high_watermark", DataType::Int64, true),
        Field::new("lag", DataType::Int64, true),
        Field::new("last_batch_at", timestamp_type(), true),
    ]));
    let s = schema.clone();
    let rows: ViewerRowSource = Arc::new(move |viewer: &str| {
        let mut name = StringBuilder::new();
        let mut topic = StringBuilder::new();
        let mut partition = Int32Builder::new();
        let mut committed = Int64Builder::new();
        let mut high = Int64Builder::new();
        let mut lag = Int64Builder::new();
        let mut last = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        for (def, status) in entries(&listing, &privileges, viewer) {
            for (p, c) in status.snapshot().cursors {
                name.append_value(&def.name);
                topic.append_value(&def.topic);
                partition.append_value(p);
                committed.append_option(c.committed_offset);
                high.append_option(c.high_watermark);
                lag.append_option(c.lag());
                last.append_option(c.last_batch_at.map(micros));
            }
        }
        batch(
            &s,
            vec![
                Arc::new(name.finish()),
                Arc::new(topic.finish()),
                Arc::new(partition.finish()),
                Arc::new(committed.finish()),
                Arc::new(high.finish()),
                Arc::new(lag.finish()),
                Arc::new(last.finish()),
            ],
        )
    });
    SystemTable::for_viewer(schema, rows)
}

/// `pipelines_batches_summary (pipeline_name, batch_id, rows, filtered,
/// errors, bytes, started_at, duration_ms, status)`: the recent batches.
pub fn batches(listing: Listing, privileges: Privileges) -> SystemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("pipeline_name", DataType::Utf8, false),
        Field::new("batch_id", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("filtered", DataType::Int64, false),
        Field::new("errors", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("started_at", timestamp_type(), false),
        Field::new("duration_ms", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
    ]));
    let s = schema.clone();
    let rows: ViewerRowSource = Arc::new(move |viewer: &str| {
        let mut name = StringBuilder::new();
        let mut id = Int64Builder::new();
        let mut rows = Int64Builder::new();
        let mut filtered = Int64Builder::new();
        let mut errors = Int64Builder::new();
        let mut bytes = Int64Builder::new();
        let mut started = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut duration = Int64Builder::new();
        let mut status_col = StringBuilder::new();
        for (def, status) in entries(&listing, &privileges, viewer) {
            for b in status.snapshot().batches {
                name.append_value(&def.name);
                id.append_value(b.batch_id as i64);
                rows.append_value(b.rows as i64);
                filtered.append_value(b.filtered as i64);
                errors.append_value(b.errors as i64);
                bytes.append_value(b.bytes as i64);
                started.append_value(micros(b.started_at));
                duration.append_value(b.duration_ms as i64);
                status_col.append_value(b.status);
            }
        }
        batch(
            &s,
            vec![
                Arc::new(name.finish()),
                Arc::new(id.finish()),
                Arc::new(rows.finish()),
                Arc::new(filtered.finish()),
                Arc::new(errors.finish()),
                Arc::new(bytes.finish()),
                Arc::new(started.finish()),
                Arc::new(duration.finish()),
                Arc::new(status_col.finish()),
            ],
        )
    });
    SystemTable::for_viewer(schema, rows)
}
