//! `CREATE TABLE name (col type [NOT NULL] [DEFAULT expr], …)` and
//! `CREATE TABLE name AS SELECT …`: a durable Delta table.

use datafusion::sql::sqlparser::ast::{self, ColumnOption, Query, TableConstraint};

use super::outcome::Outcome;
use crate::catalog::ColumnDef;
use crate::catalog::QualifiedName;
use crate::catalog::names::{normalize, qualify};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::types::{column_type, column_type_for_arrow};

/// A `CREATE TABLE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable(pub Box<ast::CreateTable>);

impl CreateTable {
    pub async fn execute(self, engine: &Engine) -> Result<Outcome> {
        let create = &self.0;
        if create.external {
            return Err(BrookError::Unsupported("CREATE EXTERNAL TABLE".into()));
        }
        let name = qualify(&create.name)?;
        if create.or_replace {
            engine.catalog.drop_table(&name, true).await?;
        }
        if let Some(query) = &create.query {
            return create_as(engine, &name, query, create.if_not_exists).await;
        }
        let (columns, primary_key) = declared_columns(create, &name)?;
        engine
            .catalog
            .create_table(&name, columns, primary_key, create.if_not_exists)
            .await?;
        Ok(Outcome::done("CREATE TABLE"))
    }
}

/// `CREATE TABLE name AS SELECT …`: the query's columns, nullable, and its rows in one commit.
async fn create_as(
    engine: &Engine,
    name: &QualifiedName,
    query: &Query,
    if_not_exists: bool,
) -> Result<Outcome> {
    if engine.catalog.relation_exists(name).await {
        return if if_not_exists {
            Ok(Outcome::done("CREATE TABLE AS"))
        } else {
            Err(BrookError::DuplicateTable(name.name.clone()))
        };
    }
    let df = engine.ctx.sql(&query.to_string()).await?;
    let columns = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            Ok(ColumnDef {
                name: f.name().clone(),
                pg_type: column_type_for_arrow(f.data_type())?.pg_name,
                nullable: true,
                default: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    engine
        .catalog
        .create_table(name, columns, vec![], false)
        .await?;
    let table = engine
        .catalog
        .table(name)
        .ok_or_else(|| BrookError::UndefinedTable(name.to_string()))?;
    let batches = df.collect().await?;
    let rows = table.append(batches, vec![]).await?;
    Ok(Outcome::Done {
        tag: "SELECT",
        rows: Some(rows as usize),
    })
}

/// The columns a `CREATE TABLE (…)` declares, and its primary key.
fn declared_columns(
    create: &ast::CreateTable,
    name: &QualifiedName,
) -> Result<(Vec<ColumnDef>, Vec<String>)> {
    let mut primary_key: Vec<String> = create
        .constraints
        .iter()
        .filter_map(|c| match c {
            TableConstraint::PrimaryKey(pk) => Some(
                pk.columns
                    .iter()
                    .map(|c| c.column.expr.to_string().to_lowercase())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();

    let mut columns = Vec::with_capacity(create.columns.len());
    for col in &create.columns {
        let col_name = normalize(&col.name);
        if columns.iter().any(|c: &ColumnDef| c.name == col_name) {
            return Err(BrookError::Syntax(format!(
                "column \"{col_name}\" specified more than once"
            )));
        }
        let ty = column_type(&col.data_type.to_string())?;
        if ty.pg_name.starts_with("character") && !ty.pg_name.starts_with("character varying") {
            // PostgreSQL pads character(n) with spaces and ignores them in
            // comparisons; stored as text, the same rows would compare and
            // measure differently: refused rather than answered wrongly.
            return Err(BrookError::Unsupported(format!(
                "column type {} (blank-padded character); use varchar(n) or text",
                ty.pg_name
            )));
        }
        let mut nullable = !primary_key.contains(&col_name);
        let mut default = None;
        for opt in &col.options {
            match &opt.option {
                ColumnOption::NotNull => nullable = false,
                ColumnOption::PrimaryKey(_) => {
                    nullable = false;
                    if !primary_key.contains(&col_name) {
                        primary_key.push(col_name.clone());
                    }
                }
                ColumnOption::Null => nullable = true,
                ColumnOption::Default(expr) => default = Some(expr.to_string()),
                ColumnOption::Unique(_) | ColumnOption::Comment(_) => {}
                other => {
                    return Err(BrookError::Unsupported(format!(
                        "column constraint {other}"
                    )));
                }
            }
        }
        columns.push(ColumnDef {
            name: col_name,
            pg_type: ty.pg_name,
            nullable,
            default,
        });
    }
    if let Some(missing) = primary_key
        .iter()
        .find(|k| !columns.iter().any(|c| &c.name == *k))
    {
        return Err(BrookError::UndefinedColumn {
            table: name.name.clone(),
            column: missing.clone(),
        });
    }
    Ok((columns, primary_key))
}
