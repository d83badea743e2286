//! `DECLARE name CURSOR FOR query`, with the query's plan kept on the
//! cursor's portal so that a Describe of the portal answers its columns.
//! datafusion-postgres' own hook (which still runs FETCH and CLOSE) stores
//! the cursor without a plan, so Describe answers NoData; psycopg's named
//! (server-side) cursors describe the portal and then crash on rows they
//! were told not to expect.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Declare, DeclareType, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use pgwire::api::ClientInfo;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::{Response, Tag};
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::PortalStore;
use pgwire::error::PgWireResult;

use super::no_rows_plan;
use crate::error::SqlState;
use crate::server::errors::{brook_to_pgwire, refuse};

pub struct Cursors;

async fn declare(
    declares: &[Declare],
    ctx: &SessionContext,
    client: &dyn HookClient,
) -> PgWireResult<Response> {
    for declare in declares {
        if declare.declare_type != Some(DeclareType::Cursor) {
            return Err(syntax("DECLARE declares cursors only"));
        }
        let Some(name) = declare.names.first() else {
            return Err(syntax("DECLARE needs a cursor name"));
        };
        let Some(query) = &declare.for_query else {
            return Err(syntax("DECLARE … CURSOR needs FOR and a query"));
        };
        let sql = query.to_string();
        let plan = ctx
            .state()
            .create_logical_plan(&sql)
            .await
            .map_err(|e| brook_to_pgwire(e.into()))?;
        let frame = ctx
            .execute_logical_plan(plan.clone())
            .await
            .map_err(|e| brook_to_pgwire(e.into()))?;
        let rows = crate::server::results::encode(frame, &Format::UnifiedText, None).await?;
        let statement = Arc::new(StoredStatement::new(
            name.value.clone(),
            (sql, Some((Statement::Query(query.clone()), plan))),
            vec![],
        ));
        let portal = Portal::new_cursor(name.value.clone(), statement);
        portal.start(rows).await;
        client.portal_store().put_portal(Arc::new(portal));
    }
    Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
}

fn syntax(message: &str) -> pgwire::error::PgWireError {
    refuse(SqlState::SYNTAX_ERROR, message)
}

#[async_trait]
impl QueryHook for Cursors {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let Statement::Declare { stmts } = statement else {
            return None;
        };
        Some(declare(stmts, ctx, &*client).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        matches!(statement, Statement::Declare { .. }).then(|| Ok(no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let Statement::Declare { stmts } = statement else {
            return None;
        };
        Some(declare(stmts, ctx, &*client).await)
    }
}
