//! `COMMENT ON TABLE | VIEW | COLUMN | SCHEMA … IS '…'`: descriptions that
//! documentation tools write (dbt's `persist_docs`, Alembic's `comment=`)
//! and that psql's `\d+`, pg_dump and BI schema browsers read back through
//! `pg_description`, `obj_description` and `col_description`.
//!
//! A comment lives in the catalog entry of what it describes (a table's in
//! its entry, a column's in its [`ColumnDef`](super::ColumnDef), a view's in
//! its [`ViewComments`]), so that it follows a rename and goes with a drop
//! without any bookkeeping of its own, as PostgreSQL's do. Setting one is a
//! schema change like any other (catalog::in_transaction): it takes part in
//! the transaction, and a ROLLBACK takes it back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::{DEFAULT_SCHEMA, QualifiedName};
use super::{Catalog, CatalogFile};
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;

/// What a `COMMENT ON` describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum CommentTarget {
    Schema {
        schema: String,
    },
    /// A table or a view.
    Relation {
        relation: QualifiedName,
    },
    Column {
        relation: QualifiedName,
        column: String,
    },
}

/// A view's comments: its own and its columns' by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewComments {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
}

impl ViewComments {
    pub fn is_empty(&self) -> bool {
        self.relation.is_none() && self.columns.is_empty()
    }
}

/// The comment `public` has in a fresh PostgreSQL 15 database (pg_dump
/// leaves that one out of a dump, and `\dn+` shows it).
pub fn initial_schema_comments() -> BTreeMap<String, String> {
    BTreeMap::from([(
        DEFAULT_SCHEMA.to_string(),
        "standard public schema".to_string(),
    )])
}

/// One comment as `pg_description` numbers it: the schema, the relation,
/// or the relation's column `attnum`.
#[derive(Debug, Clone, PartialEq)]
pub enum Described {
    Schema(String),
    Relation(QualifiedName),
    Column(QualifiedName, i16),
}

/// Set (or with `None`, remove) the comment on `target` in `file`; an
/// object that is not there answers as PostgreSQL does.
pub(super) fn apply(
    file: &mut CatalogFile,
    target: &CommentTarget,
    text: Option<&String>,
) -> Result<()> {
    let set = |slot: &mut Option<String>| *slot = text.cloned();
    match target {
        CommentTarget::Schema { schema } => {
            if !file.schemas.contains(schema) {
                return Err(BrookError::UndefinedSchema(schema.clone()));
            }
            match text {
                Some(text) => file.schema_comments.insert(schema.clone(), text.clone()),
                None => file.schema_comments.remove(schema),
            };
        }
        CommentTarget::Relation { relation } => {
            if let Some(table) = find_table(file, relation) {
                set(&mut table.comment);
            } else if let Some(view) = find_view(file, relation) {
                set(&mut view.comments.relation);
            } else {
                return Err(BrookError::UndefinedTable(relation.to_string()));
            }
        }
        CommentTarget::Column { relation, column } => {
            let missing = || BrookError::UndefinedColumn {
                table: relation.name.clone(),
                column: column.clone(),
            };
            if let Some(table) = find_table(file, relation) {
                let column = table
                    .columns
                    .iter_mut()
                    .find(|c| &c.name == column)
                    .ok_or_else(missing)?;
                set(&mut column.comment);
            } else if let Some(view) = find_view(file, relation) {
                // The view's columns were checked when the comment was
                // made; one a later CREATE OR REPLACE drops is not shown.
                match text {
                    Some(text) => view.comments.columns.insert(column.clone(), text.clone()),
                    None => view.comments.columns.remove(column),
                };
            } else {
                return Err(BrookError::UndefinedTable(relation.to_string()));
            }
        }
    }
    Ok(())
}

fn find_table<'a>(
    file: &'a mut CatalogFile,
    name: &QualifiedName,
) -> Option<&'a mut super::TableEntry> {
    file.tables
        .iter_mut()
        .find(|t| t.schema == name.schema && t.name == name.name)
}

fn find_view<'a>(
    file: &'a mut CatalogFile,
    name: &QualifiedName,
) -> Option<&'a mut super::ViewEntry> {
    file.views
        .iter_mut()
        .find(|v| v.schema == name.schema && v.name == name.name)
}

impl Catalog {
    /// Every comment as `session` sees them (its open transaction's
    /// comments and schema changes included), with the column numbers
    /// `pg_description` uses.
    pub async fn comments_in(
        &self,
        session: Option<&SessionTransaction>,
    ) -> Vec<(Described, String)> {
        let file = self.file_as_seen_by(session).await;
        let mut described = Vec::new();
        for (schema, text) in &file.schema_comments {
            described.push((Described::Schema(schema.clone()), text.clone()));
        }
        for table in &file.tables {
            let name = QualifiedName {
                schema: table.schema.clone(),
                name: table.name.clone(),
            };
            if let Some(text) = &table.comment {
                described.push((Described::Relation(name.clone()), text.clone()));
            }
            for (position, column) in table.columns.iter().enumerate() {
                if let (Some(text), Ok(attnum)) = (&column.comment, i16::try_from(position + 1)) {
                    described.push((Described::Column(name.clone(), attnum), text.clone()));
                }
            }
        }
        for view in &file.views {
            let name = QualifiedName {
                schema: view.schema.clone(),
                name: view.name.clone(),
            };
            if let Some(text) = &view.comments.relation {
                described.push((Described::Relation(name.clone()), text.clone()));
            }
            if view.comments.columns.is_empty() {
                continue;
            }
            let Some(columns) = self.relation_columns(session, &name).await else {
                continue;
            };
            for (column, text) in &view.comments.columns {
                let attnum = columns
                    .iter()
                    .position(|c| c == column)
                    .and_then(|p| i16::try_from(p + 1).ok());
                if let Some(attnum) = attnum {
                    described.push((Described::Column(name.clone(), attnum), text.clone()));
                }
            }
        }
        described
    }

    /// The column names of table or view `name` as `session` sees it.
    pub async fn relation_columns(
        &self,
        session: Option<&SessionTransaction>,
        name: &QualifiedName,
    ) -> Option<Vec<String>> {
        let staged = session
            .filter(|s| s.is_open())
            .and_then(|s| s.staged_relation(&name.schema, &name.name));
        let provider = match staged {
            Some(relation) => relation?,
            None => self
                .df_schema(&name.schema)
                .ok()?
                .table(&name.name)
                .await
                .ok()??,
        };
        Some(
            provider
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        )
    }
}
