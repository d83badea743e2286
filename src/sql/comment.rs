//! `COMMENT ON { TABLE | VIEW | COLUMN | SCHEMA } name IS 'text' | NULL`:
//! checked here against what the session sees, kept by the catalog
//! (catalog::comments) and read back through `pg_description`.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{CommentObject, ObjectName};

use super::alter_table::in_transaction;
use super::outcome::Outcome;
use crate::catalog::comments::CommentTarget;
use crate::catalog::names::{normalize, qualify};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::temp_tables::TEMP_SCHEMA;
use crate::storage::transaction::SessionTransaction;

/// A `COMMENT ON` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub object_type: CommentObject,
    pub object_name: ObjectName,
    /// NULL (and, as in PostgreSQL, `''`) removes the comment.
    pub comment: Option<String>,
}

impl Comment {
    /// For a column, the name of its relation (the name's parts but the
    /// last), which the session's search path resolves.
    pub fn relation_name(&self) -> Option<ObjectName> {
        match self.object_type {
            CommentObject::Table | CommentObject::View => Some(self.object_name.clone()),
            CommentObject::Column if self.object_name.0.len() >= 2 => {
                let mut relation = self.object_name.clone();
                relation.0.pop();
                Some(relation)
            }
            _ => None,
        }
    }

    /// Put back the relation's name as the search path resolved it.
    pub fn set_relation_name(&mut self, relation: ObjectName) {
        match self.object_type {
            CommentObject::Column => {
                if let Some(column) = self.object_name.0.last().cloned() {
                    let mut name = relation;
                    name.0.push(column);
                    self.object_name = name;
                }
            }
            _ => self.object_name = relation,
        }
    }

    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let target = self.target(engine, session).await?;
        let text = self.comment.filter(|c| !c.is_empty());
        in_transaction(engine, ctx, session, |slot| async move {
            engine.catalog.stage_comment(&slot, target, text).await
        })
        .await?;
        Ok(Outcome::done("COMMENT"))
    }

    /// What the comment is on, checked to exist and to be of the kind named.
    async fn target(
        &self,
        engine: &Engine,
        session: Option<&SessionTransaction>,
    ) -> Result<CommentTarget> {
        let catalog = &engine.catalog;
        match self.object_type {
            CommentObject::Schema => {
                let [part] = self.object_name.0.as_slice() else {
                    return Err(BrookError::Syntax(format!(
                        "invalid schema name {}",
                        self.object_name
                    )));
                };
                let schema = part.as_ident().map(normalize).ok_or_else(|| {
                    BrookError::Syntax(format!("invalid schema name {}", self.object_name))
                })?;
                if !catalog.schema_exists_for(session, &schema).await {
                    return Err(BrookError::UndefinedSchema(schema));
                }
                Ok(CommentTarget::Schema { schema })
            }
            CommentObject::Table | CommentObject::View => {
                let relation = qualify(&self.object_name)?;
                refuse_temporary(&relation.schema)?;
                if !catalog.exists_for(session, &relation).await {
                    return Err(BrookError::UndefinedTable(relation.to_string()));
                }
                let is_view = catalog.is_view_for(session, &relation).await;
                match (self.object_type, is_view) {
                    (CommentObject::Table, true) => Err(BrookError::WrongObjectType(format!(
                        "\"{}\" is not a table",
                        relation.name
                    ))),
                    (CommentObject::View, false) => Err(BrookError::WrongObjectType(format!(
                        "\"{}\" is not a view",
                        relation.name
                    ))),
                    _ => Ok(CommentTarget::Relation { relation }),
                }
            }
            CommentObject::Column => {
                let mut parts = self.object_name.clone();
                let column = parts
                    .0
                    .pop()
                    .and_then(|p| p.as_ident().map(normalize))
                    .filter(|_| !parts.0.is_empty())
                    .ok_or_else(|| {
                        BrookError::Syntax(format!(
                            "column name must be qualified: {}",
                            self.object_name
                        ))
                    })?;
                let relation = qualify(&parts)?;
                refuse_temporary(&relation.schema)?;
                let Some(columns) = catalog.relation_columns(session, &relation).await else {
                    return Err(BrookError::UndefinedTable(relation.to_string()));
                };
                if !columns.contains(&column) {
                    return Err(BrookError::UndefinedColumn {
                        table: relation.name,
                        column,
                    });
                }
                Ok(CommentTarget::Column { relation, column })
            }
            other => Err(BrookError::Unsupported(format!(
                "COMMENT ON {other} (Brook keeps comments on tables, views, columns and schemas)"
            ))),
        }
    }
}

/// Temporary tables end with their session; Brook keeps no comments on them.
fn refuse_temporary(schema: &str) -> Result<()> {
    if schema == TEMP_SCHEMA {
        return Err(BrookError::Unsupported(
            "COMMENT ON a temporary table".into(),
        ));
    }
    Ok(())
}
