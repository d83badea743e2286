//! `CREATE [OR REPLACE] VIEW` and `CREATE SCHEMA`: DataFusion builds the view,
//! Brook records its SQL so that it survives a restart.

use datafusion::sql::sqlparser::ast::{CreateView, SchemaName, Statement};

use super::Outcome;
use crate::catalog::names::{normalize, qualify};
use crate::engine::Engine;
use crate::error::{BrookError, Result};

pub async fn create_view(engine: &Engine, stmt: &Statement, view: &CreateView) -> Result<Outcome> {
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
    let sql = stmt.to_string();
    engine.ctx.sql(&sql).await?.collect().await?;
    engine.catalog.record_view(&name, sql).await?;
    Ok(Outcome::done("CREATE VIEW"))
}

pub async fn create_schema(
    engine: &Engine,
    schema_name: &SchemaName,
    if_not_exists: bool,
) -> Result<Outcome> {
    let name = match schema_name {
        SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => {
            match name.0.as_slice() {
                [part] => part.as_ident().map(normalize),
                _ => None,
            }
        }
        SchemaName::UnnamedAuthorization(ident) => Some(normalize(ident)),
    }
    .ok_or_else(|| BrookError::Syntax(format!("invalid schema name {schema_name}")))?;
    engine.catalog.create_schema(&name, if_not_exists).await?;
    Ok(Outcome::done("CREATE SCHEMA"))
}
