//! `DROP TABLE | VIEW | SCHEMA name, … [IF EXISTS] [CASCADE]`.

use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType};

use super::outcome::Outcome;
use crate::catalog::names::{normalize, qualify};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;

/// The objects one `DROP` names, all of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct DropObjects {
    pub object_type: ObjectType,
    pub names: Vec<ObjectName>,
    pub if_exists: bool,
    pub cascade: bool,
}

impl DropObjects {
    /// The kinds of object Brook keeps in its catalog.
    pub fn is_brooks(object_type: ObjectType) -> bool {
        matches!(
            object_type,
            ObjectType::Table
                | ObjectType::View
                | ObjectType::Schema
                | ObjectType::Sequence
                | ObjectType::Index
        )
    }

    /// Drop the objects; tables and views inside `session`'s open
    /// transaction are dropped at its COMMIT (catalog::in_transaction).
    pub async fn execute(
        self,
        engine: &Engine,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let Self {
            object_type,
            names,
            if_exists,
            cascade,
        } = self;
        for name in &names {
            match session {
                Some(session) => drop_in(engine, session, object_type, name, if_exists).await?,
                None => drop_one(engine, object_type, name, if_exists, cascade).await?,
            }
        }
        Ok(Outcome::done(match object_type {
            ObjectType::View => "DROP VIEW",
            ObjectType::Sequence => "DROP SEQUENCE",
            ObjectType::Schema => "DROP SCHEMA",
            _ => "DROP TABLE",
        }))
    }
}

/// Drop a table or view in `session`'s open transaction.
async fn drop_in(
    engine: &Engine,
    session: &SessionTransaction,
    object_type: ObjectType,
    name: &ObjectName,
    if_exists: bool,
) -> Result<()> {
    let name = qualify(name)?;
    let is_view = engine.catalog.is_view_for(Some(session), &name).await;
    let exists = engine.catalog.exists_for(Some(session), &name).await;
    match object_type {
        ObjectType::Table if is_view => Err(BrookError::Syntax(format!(
            "\"{name}\" is not a table; use DROP VIEW"
        ))),
        ObjectType::View if exists && !is_view => Err(BrookError::Syntax(format!(
            "\"{name}\" is not a view; use DROP TABLE"
        ))),
        _ if !exists && if_exists => Ok(()),
        _ if !exists => Err(BrookError::UndefinedTable(name.to_string())),
        ObjectType::Table => {
            let readers = engine.pipelines.readers_of(&name.schema, &name.name).await;
            if let Some(pipeline) = readers.first() {
                return Err(BrookError::PipelineDepends {
                    table: name.to_string(),
                    pipeline: pipeline.clone(),
                });
            }
            engine.catalog.stage_drop_table(session, &name).await?;
            Ok(())
        }
        _ => engine.catalog.stage_drop_view(session, &name),
    }
}

async fn drop_one(
    engine: &Engine,
    object_type: ObjectType,
    name: &ObjectName,
    if_exists: bool,
    cascade: bool,
) -> Result<()> {
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
            // Its serial and identity columns' sequences go with it.
            engine.sequences.drop_owned_by(&name)?;
        }
        ObjectType::Sequence => {
            let name = qualify(name)?;
            if !engine.sequences.remove(&name)? && !if_exists {
                return Err(BrookError::UndefinedObject(format!(
                    "sequence \"{name}\" does not exist"
                )));
            }
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
    Ok(())
}
