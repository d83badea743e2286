//! `DROP TABLE | VIEW | SCHEMA` and `TRUNCATE`.

use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Truncate};

use super::Outcome;
use crate::catalog::names::{normalize, qualify};
use crate::engine::Engine;
use crate::error::{BrookError, Result};

pub async fn execute(
    engine: &Engine,
    object_type: ObjectType,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<Outcome> {
    for name in names {
        match object_type {
            ObjectType::Table => {
                let name = qualify(name)?;
                if engine.catalog.is_view(&name).await {
                    return Err(BrookError::Syntax(format!(
                        "\"{name}\" is not a table; use DROP VIEW"
                    )));
                }
                let readers = engine.pipelines.readers_of(&name.schema, &name.name).await;
                if let Some(pipeline) = readers.first() {
                    return Err(BrookError::PipelineDepends {
                        table: name.to_string(),
                        pipeline: pipeline.clone(),
                    });
                }
                engine.catalog.drop_table(&name, if_exists).await?;
            }
            ObjectType::View => {
                let name = qualify(name)?;
                engine.catalog.drop_view(&name, if_exists).await?;
            }
            ObjectType::Schema => {
                let schema = match name.0.as_slice() {
                    [part] => part.as_ident().map(normalize),
                    _ => None,
                }
                .ok_or_else(|| BrookError::Syntax(format!("invalid schema name {name}")))?;
                engine
                    .catalog
                    .drop_schema(&schema, if_exists, cascade)
                    .await?;
            }
            other => return Err(BrookError::Unsupported(format!("DROP {other}"))),
        }
    }
    Ok(Outcome::done(match object_type {
        ObjectType::View => "DROP VIEW",
        ObjectType::Schema => "DROP SCHEMA",
        _ => "DROP TABLE",
    }))
}

pub async fn truncate(engine: &Engine, truncate: &Truncate) -> Result<Outcome> {
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
