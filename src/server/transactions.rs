//! `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints and `SET TRANSACTION` over
//! the session's transaction (`storage::transaction`), and the rule of a
//! failed transaction block: every statement but the ones that end it
//! answers 25P02 until it ends.
//!
//! The block's state (idle, open, failed) is the session transaction's;
//! `server::block_status` reports it to the client in each `ReadyForQuery`.
//! This hook runs before every other, so it sees each statement first.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Ident, Set, Statement, TransactionIsolationLevel, TransactionMode,
};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use pgwire::api::ClientInfo;
use pgwire::api::results::{Response, Tag};
use pgwire::error::PgWireResult;

use super::errors::{brook_to_pgwire, refuse};
use super::session_settings;
use crate::engine::Engine;
use crate::error::SqlState;
use crate::storage::temp_tables::TempTables;
use crate::storage::transaction::{BlockState, SessionTransaction};

pub struct Transactions {
    engine: Arc<Engine>,
}

impl Transactions {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

/// Whether the hook answers `statement` itself.
fn controls(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Set(Set::SetTransaction { .. })
    )
}

/// A savepoint's name as PostgreSQL folds it.
fn name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// SERIALIZABLE is refused rather than silently run as snapshot isolation.
fn refuse_serializable(modes: &[TransactionMode]) -> PgWireResult<()> {
    if modes.iter().any(|m| {
        matches!(
            m,
            TransactionMode::IsolationLevel(TransactionIsolationLevel::Serializable)
        )
    }) {
        return Err(refuse(
            SqlState::FEATURE_NOT_SUPPORTED,
            "SERIALIZABLE isolation is not supported: Brook runs every transaction at \
             REPEATABLE READ (snapshot isolation)",
        ));
    }
    Ok(())
}

pub fn aborted() -> pgwire::error::PgWireError {
    refuse(
        SqlState::IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn outside(what: &str) -> pgwire::error::PgWireError {
    refuse(
        SqlState::NO_ACTIVE_SQL_TRANSACTION,
        format!("{what} can only be used in transaction blocks"),
    )
}

/// The block ended (`committed` or not): its settings and the changes to
/// its temporary tables end with it.
async fn end(
    ctx: &SessionContext,
    client: &mut dyn HookClient,
    committed: bool,
) -> PgWireResult<()> {
    if let Some(temp) = TempTables::of(ctx) {
        temp.end(committed).await;
    }
    let before = session_settings::current(&*client);
    session_settings::end(client, committed);
    session_settings::publish(ctx, client, &before).await
}

impl Transactions {
    /// The session's slot, also kept where COPY's handler finds it.
    fn slot(ctx: &SessionContext, client: &dyn ClientInfo) -> Option<Arc<SessionTransaction>> {
        let slot = {
            let state = ctx.state_ref();
            let state = state.read();
            SessionTransaction::of(state.config())
        }?;
        if client
            .session_extensions()
            .get::<Arc<SessionTransaction>>()
            .is_none()
        {
            client.session_extensions().insert(slot.clone());
        }
        Some(slot)
    }

    async fn respond(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let slot = Self::slot(ctx, &*client)?;
        // The slot knows the block's state, also within a message
        // (`BEGIN; INSERT …; SAVEPOINT s`), where pgwire's status is the
        // one of the message before (server::block_status).
        let state = slot.state();
        let failed = state == BlockState::Failed;
        let open = state == BlockState::Open;
        let answer = match statement {
            Statement::StartTransaction { modes, .. } => {
                if let Err(e) = refuse_serializable(modes) {
                    return Some(Err(e));
                }
                if failed {
                    return Some(Err(aborted()));
                }
                if open {
                    // PostgreSQL warns and carries on in the open block.
                    Response::Execution(Tag::new("BEGIN"))
                } else {
                    slot.begin();
                    session_settings::begin(&*client);
                    if let Some(temp) = TempTables::of(ctx) {
                        temp.begin().await;
                    }
                    Response::TransactionStart(Tag::new("BEGIN"))
                }
            }
            Statement::Commit { .. } => {
                if failed || !open {
                    slot.abort();
                    let tag = if failed { "ROLLBACK" } else { "COMMIT" };
                    return Some(
                        end(ctx, client, !failed)
                            .await
                            .map(|()| Response::TransactionEnd(Tag::new(tag))),
                    );
                }
                let committed = self.engine.commit(&slot).await;
                if let Err(e) = end(ctx, client, committed.is_ok()).await {
                    return Some(Err(e));
                }
                if let Err(e) = committed {
                    return Some(Err(brook_to_pgwire(e)));
                }
                Response::TransactionEnd(Tag::new("COMMIT"))
            }
            Statement::Rollback {
                savepoint: None, ..
            } => {
                slot.abort();
                if let Err(e) = end(ctx, client, false).await {
                    return Some(Err(e));
                }
                Response::TransactionEnd(Tag::new("ROLLBACK"))
            }
            Statement::Rollback {
                savepoint: Some(savepoint),
                ..
            } => {
                if !open && !failed {
                    return Some(Err(outside("ROLLBACK TO SAVEPOINT")));
                }
                if let Err(e) = slot.rollback_to(&name(savepoint)) {
                    return Some(Err(brook_to_pgwire(e)));
                }
                if let Some(temp) = TempTables::of(ctx) {
                    temp.rollback_to(&name(savepoint)).await;
                }
                let before = session_settings::current(&*client);
                session_settings::rollback_to(client, &name(savepoint));
                if let Err(e) = session_settings::publish(ctx, client, &before).await {
                    return Some(Err(e));
                }
                Response::Execution(Tag::new("ROLLBACK"))
            }
            Statement::Savepoint { name: savepoint } => {
                if failed {
                    return Some(Err(aborted()));
                }
                if !open {
                    return Some(Err(outside("SAVEPOINT")));
                }
                if let Err(e) = slot.savepoint(&name(savepoint)) {
                    return Some(Err(brook_to_pgwire(e)));
                }
                session_settings::savepoint(&*client, &name(savepoint));
                if let Some(temp) = TempTables::of(ctx) {
                    temp.savepoint(&name(savepoint)).await;
                }
                Response::Execution(Tag::new("SAVEPOINT"))
            }
            Statement::ReleaseSavepoint { name: savepoint } => {
                if failed {
                    return Some(Err(aborted()));
                }
                if !open {
                    return Some(Err(outside("RELEASE SAVEPOINT")));
                }
                if let Err(e) = slot.release(&name(savepoint)) {
                    return Some(Err(brook_to_pgwire(e)));
                }
                session_settings::release(&*client, &name(savepoint));
                if let Some(temp) = TempTables::of(ctx) {
                    temp.release(&name(savepoint));
                }
                Response::Execution(Tag::new("RELEASE"))
            }
            Statement::Set(Set::SetTransaction { modes, .. }) => {
                if let Err(e) = refuse_serializable(modes) {
                    return Some(Err(e));
                }
                if failed {
                    return Some(Err(aborted()));
                }
                Response::Execution(Tag::new("SET"))
            }
            _ => {
                if failed {
                    return Some(Err(aborted()));
                }
                if open {
                    let catalog = self.engine.catalog.clone();
                    slot.start_statement(|| catalog.all_tables());
                }
                return None;
            }
        };
        Some(Ok(answer))
    }
}

#[async_trait]
impl QueryHook for Transactions {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.respond(statement, ctx, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        controls(statement).then(|| Ok(super::hooks::no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.respond(statement, ctx, client).await
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn serializable_is_refused_and_the_other_levels_are_not() {
        for sql in [
            "BEGIN ISOLATION LEVEL SERIALIZABLE",
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        ] {
            let modes = match parse(sql) {
                Statement::StartTransaction { modes, .. } => modes,
                Statement::Set(Set::SetTransaction { modes, .. }) => modes,
                other => panic!("{other}"),
            };
            assert!(refuse_serializable(&modes).is_err(), "{sql}");
        }
        let Statement::StartTransaction { modes, .. } =
            parse("BEGIN ISOLATION LEVEL REPEATABLE READ")
        else {
            panic!()
        };
        assert!(refuse_serializable(&modes).is_ok());
    }

    #[test]
    fn savepoint_names_fold_as_postgresql_folds_them() {
        let Statement::Savepoint { name: plain } = parse("SAVEPOINT Sp1") else {
            panic!()
        };
        let Statement::Savepoint { name: quoted } = parse("SAVEPOINT \"Sp1\"") else {
            panic!()
        };
        assert_eq!(name(&plain), "sp1");
        assert_eq!(name(&quoted), "Sp1");
    }
}
