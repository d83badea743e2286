//! `CREATE SCHEMA [IF NOT EXISTS] name`: a namespace in Brook's catalog.

use datafusion::sql::sqlparser::ast::SchemaName;

use super::outcome::Outcome;
use crate::catalog::names::normalize;
use crate::engine::Engine;
use crate::error::{BrookError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct CreateSchema {
    pub name: SchemaName,
    pub if_not_exists: bool,
}

impl CreateSchema {
    /// `in_block`: inside a transaction, where only a schema that exists
    /// already (IF NOT EXISTS) is accepted: schemas do not take part in
    /// transactions yet.
    pub async fn execute(self, engine: &Engine, in_block: bool) -> Result<Outcome> {
        let name = match &self.name {
            SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => {
                match name.0.as_slice() {
                    [part] => part.as_ident().map(normalize),
                    _ => None,
                }
            }
            SchemaName::UnnamedAuthorization(ident) => Some(normalize(ident)),
        }
        .ok_or_else(|| BrookError::Syntax(format!("invalid schema name {}", self.name)))?;
        if in_block {
            if self.if_not_exists && engine.catalog.schema_exists(&name).await {
                return Ok(Outcome::done("CREATE SCHEMA"));
            }
            return Err(BrookError::InTransactionBlock("CREATE SCHEMA".into()));
        }
        engine
            .catalog
            .create_schema(&name, self.if_not_exists)
            .await?;
        Ok(Outcome::done("CREATE SCHEMA"))
    }
}
