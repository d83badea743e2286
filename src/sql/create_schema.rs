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
    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
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
        engine
            .catalog
            .create_schema(&name, self.if_not_exists)
            .await?;
        Ok(Outcome::done("CREATE SCHEMA"))
    }
}
