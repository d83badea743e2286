//! `PREPARE`, `DEALLOCATE [PREPARE] name | ALL` and `DISCARD …` over the wire protocol's
//! prepared statements, which live in the session's portal store, not in
//! DataFusion (which would answer `Prepared statement 'all' does not
//! exist`). `DISCARD ALL` also resets the session's settings, as the
//! pooler that sends it between clients relies on. psycopg sends `DEALLOCATE ALL` after any `DROP`, `ALTER` or
//! `ROLLBACK` once it has prepared statements (pandas' `to_sql` with
//! `if_exists="replace"`), and connection pools send `DISCARD ALL`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::{LogicalPlan, Prepare, Statement as PlanStatement};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{DiscardObject, Statement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use pgwire::api::ClientInfo;
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::error::PgWireResult;

use super::no_rows_plan;
use crate::catalog::sequences::SessionSequences;
use crate::error::SqlState;
use crate::server::errors::{classify, refuse, to_pgwire};
use crate::server::session_settings;
use crate::storage::temp_tables::TempTables;
use crate::storage::transaction::{BlockState, SessionTransaction};

pub struct PreparedStatements;

impl PreparedStatements {
    /// The tag this hook answers `statement` with, if it is one of its own.
    /// `DEALLOCATE name` for a name the session never prepared on the wire
    /// is left to DataFusion (SQL-level `PREPARE`).
    fn tag(statement: &Statement, client: &dyn HookClient) -> Option<&'static str> {
        match statement {
            Statement::Deallocate { name, .. } if name.value.eq_ignore_ascii_case("all") => {
                Some("DEALLOCATE ALL")
            }
            Statement::Deallocate { name, .. }
                if client.portal_store().get_statement(&name.value).is_some() =>
            {
                Some("DEALLOCATE")
            }
            Statement::Discard { object_type } => Some(match object_type {
                DiscardObject::ALL => "DISCARD ALL",
                DiscardObject::PLANS => "DISCARD PLANS",
                DiscardObject::SEQUENCES => "DISCARD SEQUENCES",
                DiscardObject::TEMP => "DISCARD TEMP",
            }),
            _ => None,
        }
    }

    async fn respond(
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // SQL-level PREPARE and DEALLOCATE: DataFusion keeps the plans in
        // the session's context; the answer is PostgreSQL's tag, not an
        // empty result.
        let sql_level = match statement {
            Statement::Prepare { .. } => Some("PREPARE"),
            Statement::Deallocate { .. } if Self::tag(statement, client).is_none() => {
                Some("DEALLOCATE")
            }
            _ => None,
        };
        if let Some(tag) = sql_level {
            let run = async {
                let plan = match statement {
                    Statement::Prepare { .. } => analyzed_prepare(ctx, statement).await?,
                    _ => {
                        ctx.state()
                            .create_logical_plan(&statement.to_string())
                            .await?
                    }
                };
                ctx.execute_logical_plan(plan).await?.collect().await
            };
            return Some(
                run.await
                    .map(|_| Response::Execution(Tag::new(tag)))
                    .map_err(|e| to_pgwire(classify(&e))),
            );
        }
        let tag = Self::tag(statement, client)?;
        let store = client.portal_store();
        match statement {
            // pgwire's store cannot list its statements: those prepared
            // before stay until the session ends (each a parsed plan, and a
            // driver that deallocates all never names them again).
            Statement::Deallocate { name, .. } if tag == "DEALLOCATE" => {
                store.rm_statement(&name.value)
            }
            Statement::Discard { object_type } => {
                if *object_type == DiscardObject::ALL {
                    let open = SessionTransaction::of(ctx.state_ref().read().config())
                        .is_some_and(|t| t.state() != BlockState::Idle);
                    if open {
                        return Some(Err(refuse(
                            SqlState::ACTIVE_SQL_TRANSACTION,
                            "DISCARD ALL cannot run inside a transaction block",
                        )));
                    }
                }
                store.clear_portals();
                if matches!(object_type, DiscardObject::ALL | DiscardObject::TEMP)
                    && let Some(temp) = TempTables::of(ctx)
                {
                    temp.clear();
                }
                if matches!(object_type, DiscardObject::ALL | DiscardObject::SEQUENCES)
                    && let Some(sequences) = ctx
                        .state_ref()
                        .read()
                        .config()
                        .options()
                        .extensions
                        .get::<SessionSequences>()
                {
                    sequences.forget();
                }
                if *object_type == DiscardObject::ALL {
                    // What a pooled connection's next user must not inherit.
                    let before = session_settings::current(&*client);
                    session_settings::reset_all(client);
                    if let Err(e) = session_settings::publish(ctx, client, &before).await {
                        return Some(Err(e));
                    }
                }
            }
            _ => {}
        }
        Some(Ok(Response::Execution(Tag::new(tag))))
    }
}

/// The plan of a SQL-level `PREPARE`, its statement analyzed (types
/// coerced, Brook's rules applied) before DataFusion stores it. DataFusion
/// 55 runs only its optimizer over a PREPARE's statement, so the constant
/// folder met uncoerced arguments (`parse_ident('x'::TEXT)` from a
/// `'x'::regclass` cast, which pg_dump sends) and a function panicked on
/// the unexpected string type. EXECUTE analyzes the stored plan again;
/// analysis of an analyzed plan changes nothing.
async fn analyzed_prepare(
    ctx: &SessionContext,
    statement: &Statement,
) -> datafusion::error::Result<LogicalPlan> {
    let state = ctx.state();
    let plan = state.create_logical_plan(&statement.to_string()).await?;
    let LogicalPlan::Statement(PlanStatement::Prepare(Prepare {
        name,
        fields,
        input,
    })) = plan
    else {
        return Ok(plan);
    };
    let input = state.analyzer().execute_and_check(
        Arc::unwrap_or_clone(input),
        state.config_options(),
        |_, _| {},
    )?;
    Ok(LogicalPlan::Statement(PlanStatement::Prepare(Prepare {
        name,
        fields,
        input: Arc::new(input),
    })))
}

#[async_trait]
impl QueryHook for PreparedStatements {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::respond(statement, ctx, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        matches!(
            statement,
            Statement::Deallocate { .. } | Statement::Discard { .. } | Statement::Prepare { .. }
        )
        .then(|| Ok(no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::respond(statement, ctx, client).await
    }
}
