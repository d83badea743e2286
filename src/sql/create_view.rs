//! `CREATE [OR REPLACE] VIEW`: DataFusion builds the view, Brook records its
//! SQL so that it survives a restart.

use datafusion::sql::sqlparser::ast;

use super::outcome::Outcome;
use crate::catalog::names::qualify;
use crate::engine::Engine;
use crate::error::{BrookError, Result};

/// A `CREATE VIEW` as sqlparser parsed it, and its text as DataFusion and
/// the catalog take it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateView {
    pub view: Box<ast::CreateView>,
    pub sql: String,
}

impl CreateView {
    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        let view = &self.view;
        if view.materialized {
            return Err(BrookError::Unsupported("CREATE MATERIALIZED VIEW".into()));
        }
        let name = qualify(&view.name)?;
        if engine.catalog.table(&name).is_some() {
            return Err(BrookError::DuplicateTable(name.name));
        }
        if view.if_not_exists && engine.catalog.is_view(&name).await {
            return Ok(Outcome::done("CREATE VIEW"));
        }
        engine.ctx.sql(&self.sql).await?.collect().await?;
        engine.catalog.record_view(&name, self.sql).await?;
        Ok(Outcome::done("CREATE VIEW"))
    }
}
