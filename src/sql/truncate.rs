//! `TRUNCATE [TABLE] name, … [IF EXISTS]`: every named table emptied, or
//! none if one of them does not exist.

use datafusion::sql::sqlparser::ast;

use super::outcome::Outcome;
use crate::catalog::names::qualify;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::rewrite::Change;
use crate::storage::transaction::SessionTransaction;

/// A `TRUNCATE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Truncate(pub ast::Truncate);

impl Truncate {
    /// Empty the tables; inside `session`'s open transaction as a delete of
    /// every row in it, which a ROLLBACK undoes.
    pub async fn execute(
        self,
        engine: &Engine,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let truncate = &self.0;
        // Resolve every name first: TRUNCATE a, missing must not empty `a`.
        let mut tables = Vec::with_capacity(truncate.table_names.len());
        for target in &truncate.table_names {
            let name = qualify(&target.name)?;
            match engine.catalog.table_for(session, &name) {
                Some(table) => tables.push(table),
                None if truncate.if_exists => {}
                None => return Err(BrookError::UndefinedTable(name.to_string())),
            }
        }
        for table in tables {
            match session {
                Some(session) => {
                    table
                        .rewrite_in(Some(session), None, Change::Delete)
                        .await?;
                }
                None => table.truncate().await?,
            }
        }
        Ok(Outcome::done("TRUNCATE TABLE"))
    }
}
