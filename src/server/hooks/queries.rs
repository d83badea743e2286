//! Queries on the simple protocol, answered with the types their rows have
//! (see `server::results`). The last hook: every other one has had its
//! chance at the statement first.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::Response;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;

use crate::server::results;

pub struct Queries;

#[async_trait]
impl QueryHook for Queries {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let Statement::Query(_) = statement else {
            return None;
        };
        let run = async {
            // Planned from its text, as datafusion-postgres would have.
            let frame = ctx
                .sql(&statement.to_string())
                .await
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            results::encode(frame, &Format::UnifiedText, Some(options)).await
        };
        Some(run.await.map(Response::Query))
    }

    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        None
    }

    /// A bound query, answered as on the simple protocol in the formats its
    /// portal asked for: described (at Describe) and encoded (here) from the
    /// same analysis, so a `uuid` column the client was told of is sent
    /// as a uuid's bytes in binary.
    async fn handle_extended_query(
        &self,
        statement: &Statement,
        plan: &LogicalPlan,
        params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let Statement::Query(_) = statement else {
            return None;
        };
        let format = client
            .session_extensions()
            .get::<crate::server::cancel::ResultFormat>()
            .map(|f| f.0.clone())
            .unwrap_or_default();
        let run = async {
            let bound = plan
                .clone()
                .replace_params_with_values(params)
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            let frame = DataFrame::new(ctx.state(), bound);
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            results::encode(frame, &format, Some(options)).await
        };
        Some(run.await.map(Response::Query))
    }
}
