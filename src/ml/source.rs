//! A model's source query: running it for training rows, recording which
//! durable tables (and which of their versions) it read, and running it over
//! only the rows a table gained since a version, for incremental refresh.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::logical_expr::LogicalPlan;

use super::ModelContext;
use super::error::MlError;
use super::model::Lineage;
use super::train::TrainingData;
use crate::catalog::{DEFAULT_SCHEMA, QualifiedName};
use crate::error::Result;
use crate::storage::table::DurableTable;

fn qualified(reference: &TableReference) -> QualifiedName {
    QualifiedName {
        schema: reference.schema().unwrap_or(DEFAULT_SCHEMA).to_string(),
        name: reference.table().to_string(),
    }
}

/// The durable tables a plan scans.
pub fn durable_tables(
    context: &ModelContext,
    plan: &LogicalPlan,
) -> Vec<(QualifiedName, DurableTable)> {
    let mut out: Vec<(QualifiedName, DurableTable)> = vec![];
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = qualified(&scan.table_name);
            if let Some(table) = context.catalog.table(&name)
                && !out.iter().any(|(n, _)| *n == name)
            {
                out.push((name, table));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// The committed positions (`pipeline/partition` → next offset) of the
/// pipelines that load `tables`, as they stand when the rows are read. A
/// pipeline commits its rows and offsets together, so these name the last
/// message a model version can have seen.
fn pipeline_offsets(
    context: &ModelContext,
    tables: &[(QualifiedName, DurableTable)],
) -> Vec<(String, i64)> {
    let names: Vec<&QualifiedName> = tables.iter().map(|(t, _)| t).collect();
    context.offsets.offsets_into(&names)
}

/// Split a query's rows into label and features (every other column).
pub fn training_data(batch: &RecordBatch, label: &str) -> Result<TrainingData> {
    let schema = batch.schema();
    let index = schema.index_of(label).map_err(|_| {
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        MlError::InvalidOption(format!(
            "the label column \"{label}\" is not among the query's columns ({}); name it with input_label_cols = ['col']",
            columns.join(", ")
        ))
    })?;
    let mut feature_names = vec![];
    let mut features: Vec<ArrayRef> = vec![];
    for (i, field) in schema.fields().iter().enumerate() {
        if i != index {
            feature_names.push(field.name().clone());
            features.push(batch.column(i).clone());
        }
    }
    Ok(TrainingData {
        label_name: label.to_string(),
        label: batch.column(index).clone(),
        feature_names,
        features,
    })
}

async fn collect(context: &ModelContext, plan: LogicalPlan) -> Result<RecordBatch> {
    let df = context.ctx.execute_logical_plan(plan).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok(concat_batches(&schema, &batches)?)
}

/// Run `query` and return its rows with the lineage of what it read.
pub async fn run(context: &ModelContext, query: &str) -> Result<(RecordBatch, Lineage)> {
    let plan =
        crate::query_text::plan_query(&context.ctx.state(), query, "a model's source").await?;
    let tables = durable_tables(context, &plan);
    // The lineage names Delta versions, which hold only flushed commits: a
    // refresh must not count rows the model was trained on as new.
    for (_, table) in &tables {
        table.flush().await?;
    }
    let lineage = Lineage {
        tables: tables
            .iter()
            .map(|(n, t)| (n.to_string(), t.version()))
            .collect(),
        offsets: pipeline_offsets(context, &tables),
    };
    let rows = collect(context, plan).await?;
    Ok((rows, lineage))
}

/// Run `query` over only the rows `table` gained after `since`, with the
/// table version read up to. `None` when that cannot be known (the log of
/// those versions was cleaned up, or rows were rewritten rather than added).
pub async fn run_over_new_rows(
    context: &ModelContext,
    query: &str,
    table_name: &QualifiedName,
    table: &DurableTable,
    since: u64,
) -> Result<Option<(u64, RecordBatch)>> {
    let Some((latest, new_rows)) = table.rows_added_since(since).await? else {
        return Ok(None);
    };
    let schema = datafusion::catalog::TableProvider::schema(table);
    let source = provider_as_source(Arc::new(MemTable::try_new(schema, vec![vec![new_rows]])?));
    let plan =
        crate::query_text::plan_query(&context.ctx.state(), query, "a model's source").await?;
    let plan = plan
        .transform_up(|node| match node {
            LogicalPlan::TableScan(mut scan) if qualified(&scan.table_name) == *table_name => {
                scan.source = source.clone();
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    Ok(Some((latest, collect(context, plan).await?)))
}
