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

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use futures::StreamExt;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use crate::catalog::declared_types;
use crate::catalog::pg_rewrites::client_name;
use crate::storage::text_types::TextType;

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
    // The analyzed plan says where each column comes from (the optimizer
    // folds `'a'::varchar` into a plain literal); its schema is the
    // optimized plan's.
    let (optimized, declared) = match &plan {
        LogicalPlan::Explain(_) => (state.optimize(&plan).map_err(api)?, vec![]),
        _ => {
            let analyzed = state
                .analyzer()
                .execute_and_check(plan, state.config_options(), |_, _| {})
                .map_err(api)?;
            let declared = declared_types::text_types(&analyzed);
            let optimized = state
                .optimizer()
                .optimize(analyzed, &state, |_, _| {})
                .map_err(api)?;
            (optimized, declared)
        }
    };
    let fields: Arc<Vec<FieldInfo>> = Arc::new(pg_fields(
        optimized.schema().as_arrow(),
        &declared,
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
pub fn described_fields(
    state: &SessionState,
    plan: &LogicalPlan,
    format: &Format,
) -> PgWireResult<Vec<FieldInfo>> {
    let analyzed = state
        .analyzer()
        .execute_and_check(plan.clone(), state.config_options(), |_, _| {})
        .unwrap_or_else(|_| plan.clone());
    let declared = declared_types::text_types(&analyzed);
    pg_fields(analyzed.schema().as_arrow(), &declared, format, None)
}

/// The description of columns `schema`, naming the declared type of the
/// text columns that have one (`varchar`, `uuid`, `json`, `jsonb`).
fn pg_fields(
    schema: &Schema,
    declared: &[Option<TextType>],
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<Vec<FieldInfo>> {
    let fields = arrow_schema_to_pg_fields(schema, format, options)?;
    Ok(fields
        .into_iter()
        .zip(schema.fields())
        .enumerate()
        .map(|(i, (info, field))| {
            let text = matches!(
                field.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            );
            let datatype = match declared.get(i).copied().flatten() {
                Some(kind) if text => match kind {
                    TextType::Varchar => Type::VARCHAR,
                    TextType::Uuid => Type::UUID,
                    TextType::Json => Type::JSON,
                    TextType::Jsonb => Type::JSONB,
                },
                // PostgreSQL resolves an untyped NULL in a select list to
                // `text` (`SELECT a, NULL`), never `unknown` (705).
                _ if field.data_type() == &DataType::Null => Type::TEXT,
                _ => info.datatype().clone(),
            };
            let name = client_name(info.name());
            if name == info.name() && &datatype == info.datatype() {
                return info;
            }
            FieldInfo::new(
                name.to_string(),
                info.table_id(),
                info.column_id(),
                datatype,
                info.format(),
            )
            .with_format_options(info.format_options().clone())
        })
        .collect())
}
