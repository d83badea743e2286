//! Training from a model's source query (CREATE MODEL, REFRESH MODEL) and
//! the background task that keeps a `refresh = 'incremental'` model
//! following its table.
//!
//! Each tick the task reads the rows committed since it last looked (from
//! the Delta log of the source table), scores them with the current version
//! before learning them (progressive validation), and, when there were new
//! rows, trains the next version: logistic regression starts from the
//! current weights and keeps the current preprocessing, so a refresh moves
//! the model rather than replacing it; the other types retrain from scratch
//! on the whole source.

use std::sync::Arc;
use std::time::Duration;

use super::error::MlError;
use super::estimator::Scores;
use super::metrics::predicted_classes;
use super::model::{ModelVersion, Progressive};
use super::options::{ModelOptions, Refresh};
use super::source;
use super::train::{Progress, TrainRequest, train};
use super::{ModelContext, Models};
use crate::error::Result;

/// Train a version of `name` on `query`'s rows, fresh (no warm start).
/// The caller publishes it.
pub async fn train_from_query_unpublished(
    context: &ModelContext,
    name: &str,
    options: ModelOptions,
    query: &str,
    progress: Option<Progress>,
) -> Result<ModelVersion> {
    train_version(
        context,
        name,
        options,
        query,
        None,
        Progressive::default(),
        progress,
    )
    .await
}

/// Train a version of `name` on `query`'s rows, off the async runtime.
async fn train_version(
    context: &ModelContext,
    name: &str,
    options: ModelOptions,
    query: &str,
    warm: Option<Arc<ModelVersion>>,
    progressive: Progressive,
    progress: Option<Progress>,
) -> Result<ModelVersion> {
    let started = std::time::Instant::now();
    let (rows, lineage) = source::run(context, query).await?;
    if let Some(p) = &progress {
        p(format!(
            "read {} rows in {:.2} s",
            rows.num_rows(),
            started.elapsed().as_secs_f64()
        ));
    }
    let label = options
        .input_label_cols
        .first()
        .cloned()
        .unwrap_or_else(|| "label".into());
    let data = source::training_data(&rows, &label)?;
    let request_name = name.to_string();
    let query = query.to_string();
    let trained = tokio::task::spawn_blocking(move || {
        let request = TrainRequest {
            progress,
            name: request_name,
            options,
            source_query: Some(query),
            lineage,
            warm: warm.as_deref(),
            progressive,
        };
        train(request, data)
    })
    .await
    .map_err(|e| MlError::Training(format!("training stopped: {e}")))??;
    Ok(trained)
}

/// Score `rows` (the source query's shape) with `model` before they are learnt.
fn score_new_rows(
    model: &ModelVersion,
    rows: &datafusion::arrow::array::RecordBatch,
    progressive: &mut Progressive,
) -> Result<()> {
    let data = source::training_data(rows, &model.label)?;
    let ordered: Vec<_> = model
        .feature_names()
        .iter()
        .map(|n| {
            data.feature_names
                .iter()
                .position(|f| f == n)
                .map(|i| data.features[i].clone())
                .ok_or_else(|| MlError::Arguments(format!("source lost feature \"{n}\"")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match (model.scores(&ordered, rows.num_rows())?, &model.classes) {
        (Scores::Classes(p), Some(classes)) => {
            let actual = classes.codes(&data.label)?;
            for (predicted, actual) in predicted_classes(&p).into_iter().zip(actual) {
                if let Some(actual) = actual {
                    progressive.rows += 1;
                    progressive.total += f64::from(u8::from(predicted == actual as usize));
                }
            }
        }
        (Scores::Values(v), _) => {
            let actual = super::labels::numeric_label(&model.label, &data.label)?;
            for (p, a) in v.iter().zip(actual) {
                if let Some(a) = a {
                    progressive.rows += 1;
                    progressive.total += (p - a).abs();
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// What the refresh task remembers between ticks.
struct Follow {
    /// The source table version read up to.
    seen: Option<u64>,
    /// New source rows not yet learnt.
    pending: u64,
}

/// One tick: learn what arrived. Returns the new version, if one was published.
async fn tick(
    context: &ModelContext,
    name: &str,
    follow: &mut Follow,
) -> Result<Option<Arc<ModelVersion>>> {
    let current = context.registry.resolve(name)?;
    let Some(query) = current.source_query.clone() else {
        return Ok(None);
    };
    let plan =
        crate::query_text::plan_query(&context.ctx.state(), &query, "a model's source").await?;
    let tables = source::durable_tables(context, &plan);
    let mut progressive = current.progressive.clone();
    for (table_name, table) in &tables {
        let latest = table.version();
        let since = follow.seen.or_else(|| {
            current
                .lineage
                .tables
                .iter()
                .find(|(n, _)| *n == table_name.to_string())
                .and_then(|(_, v)| *v)
        });
        if latest == since {
            continue;
        }
        let new_rows = match (since, tables.len()) {
            (Some(since), 1) => {
                source::run_over_new_rows(context, &query, table_name, table, since).await?
            }
            _ => None,
        };
        match new_rows {
            Some((read_up_to, rows)) => {
                if rows.num_rows() > 0 {
                    score_new_rows(&current, &rows, &mut progressive)?;
                }
                follow.pending += rows.num_rows() as u64;
                follow.seen = Some(read_up_to);
            }
            None => {
                // Cannot tell which rows are new: retrain on everything.
                follow.pending += 1;
                follow.seen = latest;
            }
        }
    }
    if follow.pending == 0 {
        return Ok(None);
    }
    let warm = current.model_type().warm_starts().then(|| current.clone());
    let trained = train_version(
        context,
        name,
        current.options.clone(),
        &query,
        warm,
        progressive,
        None,
    )
    .await?;
    // The model may have been dropped or replaced while this one trained.
    let now = context.registry.resolve(name)?;
    if now.version != current.version {
        return Ok(None);
    }
    let published = context.registry.publish(trained)?;
    follow.pending = 0;
    Ok(Some(published))
}

/// Follow `name`'s source table until the model is dropped or stops being incremental.
pub fn spawn(context: ModelContext, name: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut follow = Follow {
            seen: None,
            pending: 0,
        };
        loop {
            let interval = match context.registry.resolve(&name) {
                Ok(m) if m.options.refresh == Refresh::Incremental => m.options.refresh_interval_ms,
                _ => return,
            };
            tokio::time::sleep(Duration::from_millis(interval)).await;
            match tick(&context, &name, &mut follow).await {
                Ok(Some(v)) => {
                    tracing::info!(model = %name, version = v.version, "incremental refresh")
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(model = %name, error = %e, "incremental refresh failed; retrying next interval")
                }
            }
        }
    })
}

/// Start the refresh task of every incremental model (at start-up).
pub fn resume(context: &ModelContext, models: &Models) {
    for (name, entry) in context.registry.snapshot() {
        if entry
            .current()
            .is_some_and(|m| m.options.refresh == Refresh::Incremental)
        {
            let task = spawn(context.clone(), name.clone());
            models.set_refresher(&name, Some(task));
        }
    }
}
