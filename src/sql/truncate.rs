//! `TRUNCATE [TABLE] name, … [IF EXISTS]`: every named table emptied, or
//! none if one of them does not exist.

use datafusion::sql::sqlparser::ast;

use super::outcome::Outcome;
use crate::catalog::names::qualify;
use crate::engine::Engine;
use crate::error::{BrookError, Result};

/// A `TRUNCATE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Truncate(pub ast::Truncate);

impl Truncate {
    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        let truncate = &self.0;
        // Resolve every name first: TRUNCATE a, missing must not empty `a`.
        let mut tables = Vec::with_capacity(truncate.table_names.len());
        for target in &truncate.table_names {
            let name = qualify(&target.name)?;
            match engine.catalog.table(&name) {
                Some(table) => tables.push(table),
                None if truncate.if_exists => {}
                None => return Err(BrookError::UndefinedTable(name.to_string())),
            }
        }
        for table in tables {
            table.truncate().await?;
        }
        Ok(Outcome::done("TRUNCATE TABLE"))
    }
}
