//! A query's rows, described with the types they are sent in.
//!
//! DataFusion's plan for a statement carries the types its planner guessed
//! before type coercion: `CASE WHEN … THEN a ELSE big END` is typed by its
//! first branch (`integer`), `SELECT a UNION SELECT big` by its first query;
//! coercion then makes both `bigint`. datafusion-postgres described a
//! result with the first types and encoded the rows with the second: the
//! client was told `integer` and, in binary, read the first four of eight
//! bytes (every value came back 0). Here the description is taken from the
//! plan after analysis, where the types are the ones the rows have.

use std::sync::Arc;

use datafusion::common::DFSchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use futures::StreamExt;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

fn api(e: datafusion::error::DataFusionError) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

/// `frame`'s rows as a response whose columns have the types of the rows:
/// the plan is optimized once, its schema describes the columns, and the
/// same plan runs.
pub async fn encode(
    frame: DataFrame,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<QueryResponse> {
    let task = Arc::new(frame.task_ctx());
    let (state, plan) = frame.into_parts();
    let optimized = state.optimize(&plan).map_err(api)?;
    let fields: Arc<Vec<FieldInfo>> = Arc::new(arrow_schema_to_pg_fields(
        optimized.schema().as_arrow(),
        format,
        options,
    )?);
    let physical = state
        .query_planner()
        .create_physical_plan(&optimized, &state)
        .await
        .map_err(api)?;
    let batches = execute_stream(physical, task).map_err(api)?;
    let encoding = fields.clone();
    let rows = batches
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => encode_recordbatch(encoding.clone(), batch),
                Err(e) => Box::new(std::iter::once(Err(api(e)))),
            };
            rows
        })
        .flat_map(futures::stream::iter);
    Ok(QueryResponse::new(fields, rows))
}

/// The columns a prepared statement's `plan` will answer with, as they will
/// be typed when it runs: its schema after analysis. A plan that cannot be
/// analyzed before its parameters are bound keeps the planner's types.
pub fn described_schema(state: &SessionState, plan: &LogicalPlan) -> DFSchemaRef {
    state
        .analyzer()
        .execute_and_check(plan.clone(), state.config_options(), |_, _| {})
        .map(|analyzed| analyzed.schema().clone())
        .unwrap_or_else(|_| plan.schema().clone())
}
