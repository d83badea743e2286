//! Prometheus metrics (SPEC §1): what a pipeline ingested, what a model
//! predicted, how many queries ran and how long they took. Recorded through
//! the `metrics` facade wherever the work happens (a no-op until a recorder
//! is installed, so `brook demo` and tests without `--metrics` pay nothing),
//! exported by `metrics-exporter-prometheus` and served by [`http`].

pub mod audit;
pub mod http;
pub mod redact;
pub mod sessions;

use std::time::Duration;

use metrics::{counter, gauge, histogram};

/// Query latency buckets, in seconds: a point lookup to a long report.
pub const QUERY_SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// What a finished pipeline batch did, as the metrics count it.
#[derive(Debug, Clone, Copy)]
pub struct BatchCounts {
    /// `Succeeded` or `Failed`, as `pipelines_batches_summary` shows it.
    pub status: &'static str,
    pub rows: u64,
    pub filtered: u64,
    pub errors: u64,
    pub bytes: u64,
}

/// A pipeline batch ended (committed or failed).
pub fn pipeline_batch(pipeline: &str, batch: BatchCounts) {
    let name = pipeline.to_string();
    let messages = batch.rows + batch.filtered + batch.errors;
    counter!("brook_pipeline_batches_total", "pipeline" => name.clone(), "status" => batch.status)
        .increment(1);
    if batch.status == "Succeeded" {
        counter!("brook_pipeline_messages_total", "pipeline" => name.clone()).increment(messages);
        counter!("brook_pipeline_rows_total", "pipeline" => name.clone()).increment(batch.rows);
        counter!("brook_pipeline_filtered_total", "pipeline" => name.clone())
            .increment(batch.filtered);
        counter!("brook_pipeline_bytes_total", "pipeline" => name.clone()).increment(batch.bytes);
    }
    counter!("brook_pipeline_errors_total", "pipeline" => name).increment(batch.errors);
}

/// A pipeline's state at the moment of a scrape: how far behind it is and
/// whether it runs.
pub fn pipeline_gauges(pipeline: &str, lag: i64, running: bool) {
    gauge!("brook_pipeline_lag_messages", "pipeline" => pipeline.to_string()).set(lag as f64);
    gauge!("brook_pipeline_running", "pipeline" => pipeline.to_string()).set(if running {
        1.0
    } else {
        0.0
    });
}

/// How many sessions are open, at the moment of a scrape.
pub fn sessions_gauge(open: usize) {
    gauge!("brook_sessions").set(open as f64);
}

/// PREDICT or PREDICT_PROBA scored `rows` rows with `model`.
pub fn predictions(model: &str, rows: usize) {
    counter!("brook_model_predictions_total", "model" => model.to_string()).increment(rows as u64);
}

/// A statement finished on `protocol` (`simple` or `extended`).
pub fn query(protocol: &'static str, ok: bool, took: Duration) {
    let outcome = if ok { "ok" } else { "error" };
    counter!("brook_queries_total", "protocol" => protocol, "outcome" => outcome).increment(1);
    histogram!("brook_query_duration_seconds", "protocol" => protocol).record(took.as_secs_f64());
}
