//! `CREATE [UNIQUE] INDEX` and `DROP INDEX`, as migrations and pg_dump
//! write them.
//!
//! A UNIQUE index is a promise about the rows, so it is kept as one: it
//! becomes a UNIQUE constraint under the index's name, checked on every
//! write like one declared in `CREATE TABLE`. Any other index is recorded
//! with its table and not built (a NOTICE says so): Brook's scans skip
//! files by their column statistics, and an index would have to be kept
//! in step with the write-ahead log and compaction to be worth its cost.
//! Recording it lets the migration that made it, and the one that drops
//! it, run unchanged. Both go through `ALTER TABLE`'s path
//! (`alter_table::change_table`), so they take part in transactions.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, ObjectName};

use super::alter_table::{Step, change_table};
use super::outcome::{Notices, Outcome};
use crate::catalog::names::{normalize, qualify};
use crate::catalog::{IndexDef, QualifiedName, UniqueDef};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;

/// A `CREATE INDEX` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateIndex(pub Box<ast::CreateIndex>);

/// The table `schema.index` is an index of (its UNIQUE constraints and the
/// indexes recorded with it), as `session` sees the tables.
pub(super) async fn owner_of(
    engine: &Engine,
    session: Option<&SessionTransaction>,
    schema: &str,
    index: &str,
) -> Option<(QualifiedName, bool)> {
    let tables = match session.filter(|s| s.is_open()) {
        Some(session) => engine.catalog.declared_tables_in(session).await,
        None => engine.catalog.declared_tables().await,
    };
    tables.into_iter().find_map(|t| {
        if t.name.schema != schema {
            return None;
        }
        let is_key = !t.primary_key.is_empty() && format!("{}_pkey", t.name.name) == index;
        let named =
            t.unique.iter().any(|u| u.name == index) || t.indexes.iter().any(|i| i.name == index);
        (is_key || named).then_some((t.name, is_key))
    })
}

impl CreateIndex {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        notices: &Notices,
    ) -> Result<Outcome> {
        let create = &self.0;
        let table = qualify(&create.table_name)?;
        let columns: Vec<String> = create
            .columns
            .iter()
            .map(|c| match &c.column.expr {
                ast::Expr::Identifier(ident) => normalize(ident),
                other => other.to_string(),
            })
            .collect();
        let plain = create
            .columns
            .iter()
            .all(|c| matches!(c.column.expr, ast::Expr::Identifier(_)));
        let name = match &create.name {
            Some(name) => qualify(name)?.name,
            None => format!("{}_{}_idx", table.name, columns.join("_")),
        };
        let relation = QualifiedName {
            schema: table.schema.clone(),
            name: name.clone(),
        };
        if engine.catalog.exists_for(session, &relation).await
            || owner_of(engine, session, &table.schema, &name)
                .await
                .is_some()
        {
            if create.if_not_exists {
                notices.send(format!("relation \"{name}\" already exists, skipping"));
                return Ok(Outcome::done("CREATE INDEX"));
            }
            return Err(BrookError::DuplicateTable(name));
        }
        let step = if create.unique {
            if !plain || create.predicate.is_some() || !create.include.is_empty() {
                return Err(BrookError::Unsupported(
                    "UNIQUE indexes over expressions, with WHERE or with INCLUDE".into(),
                ));
            }
            Step::AddUnique(UniqueDef {
                name,
                columns,
                nulls_distinct: create.nulls_distinct != Some(false),
            })
        } else {
            notices.send(format!(
                "index \"{name}\" is recorded, not built: Brook skips files by their column statistics"
            ));
            Step::AddIndex(IndexDef {
                name,
                columns: if plain { columns } else { vec![] },
            })
        };
        change_table(engine, ctx, session, notices, &table, false, vec![step]).await?;
        Ok(Outcome::done("CREATE INDEX"))
    }
}

/// `DROP INDEX [IF EXISTS] name, …`.
pub async fn drop_indexes(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    notices: &Notices,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<Outcome> {
    for name in names {
        let index = qualify(name)?;
        match owner_of(engine, session, &index.schema, &index.name).await {
            Some((table, true)) => {
                return Err(BrookError::ViewDepends {
                    message: format!(
                        "cannot drop index {} because constraint {} on table {} requires it",
                        index.name, index.name, table.name
                    ),
                    detail: format!(
                        "You can drop constraint {} on table {} instead.",
                        index.name, table.name
                    ),
                });
            }
            Some((table, false)) => {
                let step = Step::DropIndex(index.name.clone());
                change_table(engine, ctx, session, notices, &table, false, vec![step]).await?;
            }
            None if if_exists => {
                notices.send(format!("index \"{}\" does not exist, skipping", index.name));
            }
            None => {
                return Err(BrookError::UndefinedObject(format!(
                    "index \"{}\" does not exist",
                    index.name
                )));
            }
        }
    }
    Ok(Outcome::done("DROP INDEX"))
}
