//! `CREATE [OR REPLACE] VIEW`: DataFusion builds the view, Brook records its
//! SQL so that it survives a restart.

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;

use super::outcome::Outcome;
use crate::catalog::names::qualify;
use crate::catalog::pg_rewrites::repeated_column;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;

/// A `CREATE VIEW` as sqlparser parsed it, and its text as DataFusion and
/// the catalog take it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateView {
    pub view: Box<ast::CreateView>,
    pub sql: String,
}

impl CreateView {
    /// Create the view; inside `session`'s open transaction it is staged
    /// there (catalog::in_transaction) and exists for others from COMMIT on.
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let view = &self.view;
        if view.materialized {
            return Err(BrookError::Unsupported("CREATE MATERIALIZED VIEW".into()));
        }
        let name = qualify(&view.name)?;
        if engine.catalog.table_for(session, &name).is_some() {
            return Err(BrookError::DuplicateTable(name.name));
        }
        let is_view = engine.catalog.is_view_for(session, &name).await;
        if view.if_not_exists && is_view {
            return Ok(Outcome::done("CREATE VIEW"));
        }
        if session.is_some() && is_view && !view.or_replace {
            return Err(BrookError::DuplicateTable(name.name));
        }
        // DataFusion plans the view in the session (it sees the
        // transaction's tables).
        let LogicalPlan::Ddl(DdlStatement::CreateView(planned)) =
            ctx.state().create_logical_plan(&self.sql).await?
        else {
            return Err(BrookError::Internal(format!(
                "{} did not plan as a view",
                self.sql
            )));
        };
        if view.columns.is_empty()
            && let Some(column) = repeated_column(planned.input.schema().as_arrow())
        {
            return Err(BrookError::RepeatedColumn(column));
        }
        let owner = engine
            .catalog
            .new_relation_acl(
                session,
                super::authorize::identity(engine, ctx).oid(),
                &name.schema,
            )
            .await;
        if let Some(session) = session {
            // The catalog registers it at COMMIT.
            let provider = Arc::new(ViewTable::new(
                planned.input.as_ref().clone(),
                planned.definition.clone(),
            ));
            engine.catalog.stage_create_view(
                session,
                &name,
                self.sql,
                provider,
                view.or_replace,
                owner,
            )?;
            return Ok(Outcome::done("CREATE VIEW"));
        }
        engine.ctx.sql(&self.sql).await?.collect().await?;
        engine.catalog.record_view(&name, self.sql, owner).await?;
        Ok(Outcome::done("CREATE VIEW"))
    }
}
