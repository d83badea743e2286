//! `CREATE TABLE name (col type [NOT NULL] [DEFAULT expr], …)` and
//! `CREATE TABLE name AS SELECT …`: a durable Delta table.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, ColumnOption, GeneratedAs, Query, TableConstraint};

use super::create_sequence;
use super::outcome::Outcome;
use crate::catalog::QualifiedName;
use crate::catalog::declared_types;
use crate::catalog::names::{normalize, qualify};
use crate::catalog::pg_format::quote_ident;
use crate::catalog::pg_rewrites::repeated_column;
use crate::catalog::sequences::{SequenceOptions, Sequences};
use crate::catalog::{CheckDef, ColumnDef, TableRules, UniqueDef};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;
use crate::storage::types::{column_type, column_type_for_arrow};

/// A `CREATE TABLE` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable(pub Box<ast::CreateTable>);

impl CreateTable {
    /// Create the table; inside `session`'s open transaction it is staged
    /// there (catalog::in_transaction) and exists for others from COMMIT on.
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let create = &self.0;
        if create.external {
            return Err(BrookError::Unsupported("CREATE EXTERNAL TABLE".into()));
        }
        let name = qualify(&create.name)?;
        if create.or_replace {
            match session {
                Some(s) => {
                    engine.catalog.stage_drop_table(s, &name).await?;
                }
                None => engine.catalog.drop_table(&name, true).await?,
            }
        }
        if let Some(query) = &create.query {
            return create_as(engine, ctx, session, &name, query, create.if_not_exists).await;
        }
        let Declared {
            columns,
            rules,
            sequences,
        } = declared_columns(create, &name)?;
        if create.if_not_exists && engine.catalog.exists_for(session, &name).await {
            return Ok(Outcome::done("CREATE TABLE"));
        }
        // The sequences first: the columns' defaults name them.
        let mut created = Vec::new();
        let creator = super::authorize::identity(engine, ctx).oid();
        for s in &sequences {
            let owner = Some((name.clone(), s.column.clone()));
            match engine
                .sequences
                .create(&s.name, &s.options, s.max, owner, creator, false)
            {
                Ok(_) => created.push(s.name.clone()),
                Err(e) => {
                    forget(&engine.sequences, &created);
                    return Err(e);
                }
            }
        }
        let made = match session {
            Some(session) => {
                // A transaction that does not commit takes them back.
                let undo = (!created.is_empty()).then(|| {
                    let (all, created) = (engine.sequences.clone(), created.clone());
                    Arc::new(move || forget(&all, &created)) as Arc<dyn Fn() + Send + Sync>
                });
                engine
                    .catalog
                    .stage_create_table(
                        session,
                        &name,
                        columns,
                        owned(rules, engine, ctx, Some(session), &name).await,
                        undo,
                    )
                    .await
                    .map(|_| ())
            }
            None => engine
                .catalog
                .create_table(
                    &name,
                    columns,
                    owned(rules, engine, ctx, None, &name).await,
                    create.if_not_exists,
                )
                .await
                .map(|_| ()),
        };
        if let Err(e) = made {
            forget(&engine.sequences, &created);
            return Err(e);
        }
        Ok(Outcome::done("CREATE TABLE"))
    }
}

/// Remove the sequences made for a table that was then not created.
/// `rules` with the session's role as the table's owner, and the grants
/// its default privileges give a new table in `name`'s schema.
async fn owned(
    rules: TableRules,
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    name: &QualifiedName,
) -> TableRules {
    let owner = super::authorize::identity(engine, ctx).oid();
    TableRules {
        acl: engine
            .catalog
            .new_relation_acl(session, owner, &name.schema)
            .await,
        ..rules
    }
}

fn forget(all: &Sequences, sequences: &[QualifiedName]) {
    for s in sequences {
        if let Err(e) = all.remove(s) {
            tracing::warn!(sequence = %s, error = %e, "a sequence of a table not created stays");
        }
    }
}

/// `CREATE TABLE name AS SELECT …`: the query's columns, nullable, and its
/// rows in one commit (the session's transaction's, if one is open).
async fn create_as(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    name: &QualifiedName,
    query: &Query,
    if_not_exists: bool,
) -> Result<Outcome> {
    if engine.catalog.exists_for(session, name).await {
        return if if_not_exists {
            Ok(Outcome::done("CREATE TABLE AS"))
        } else {
            Err(BrookError::DuplicateTable(name.name.clone()))
        };
    }
    // In the session: its transaction's rows and tables, its temporary tables.
    let df = ctx.sql(&query.to_string()).await?;
    if let Some(column) = repeated_column(df.schema().as_arrow()) {
        return Err(BrookError::RepeatedColumn(column));
    }
    // A column read from a `uuid`, `json`, `jsonb` or `varchar` column (or
    // cast to one) keeps that type, as in PostgreSQL; Arrow says text.
    let state = ctx.state();
    let declared = state
        .analyzer()
        .execute_and_check(df.logical_plan().clone(), state.config_options(), |_, _| {})
        .map(|analyzed| declared_types::text_types(&analyzed))
        .unwrap_or_default();
    let columns = df
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let arrow_type = column_type_for_arrow(f.data_type())?;
            let pg_type = match declared.get(i).copied().flatten() {
                Some(text_type) if arrow_type.arrow == DataType::Utf8 => {
                    text_type.pg_name().to_string()
                }
                _ => arrow_type.pg_name,
            };
            Ok(ColumnDef {
                name: f.name().clone(),
                pg_type,
                nullable: true,
                default: None,
                always_identity: false,
                comment: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let table = match session {
        Some(session) => {
            engine
                .catalog
                .stage_create_table(
                    session,
                    name,
                    columns,
                    owned(TableRules::default(), engine, ctx, Some(session), name).await,
                    None,
                )
                .await?
        }
        None => {
            engine
                .catalog
                .create_table(
                    name,
                    columns,
                    owned(TableRules::default(), engine, ctx, None, name).await,
                    false,
                )
                .await?;
            engine
                .catalog
                .table(name)
                .ok_or_else(|| BrookError::UndefinedTable(name.to_string()))?
        }
    };
    let batches = df.collect().await?;
    let rows = table.append_in(session, batches).await?;
    Ok(Outcome::Done {
        tag: "SELECT",
        rows: Some(rows as usize),
    })
}

/// A sequence a `serial` or identity column owns.
struct OwnedSequence {
    name: QualifiedName,
    options: SequenceOptions,
    max: i64,
    column: String,
}

/// What a `CREATE TABLE (…)` declares.
struct Declared {
    columns: Vec<ColumnDef>,
    rules: TableRules,
    /// The sequences its serial and identity columns own.
    sequences: Vec<OwnedSequence>,
}

/// A CHECK constraint's name: the one given, else PostgreSQL's
/// `<table>_<column>_check` (the one column it names) or `<table>_check`,
/// numbered when taken.
fn check_name(
    given: Option<&ast::Ident>,
    table: &str,
    expr: &ast::Expr,
    columns: &[String],
    taken: &[CheckDef],
) -> String {
    if let Some(given) = given {
        return normalize(given);
    }
    // The columns the condition names (not words in its string literals).
    let mut referenced: Vec<String> = Vec::new();
    let _ = ast::visit_expressions(expr, |e| {
        if let ast::Expr::Identifier(ident) = e {
            referenced.push(normalize(ident));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    let named: Vec<&String> = columns.iter().filter(|c| referenced.contains(c)).collect();
    let base = match named.as_slice() {
        [one] => format!("{table}_{one}_check"),
        _ => format!("{table}_check"),
    };
    let mut name = base.clone();
    let mut n = 0;
    while taken.iter().any(|c| c.name == name) {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// A UNIQUE constraint over `columns` as the catalog keeps it, named as
/// given or as PostgreSQL names it: `<table>_<columns>_key`, numbered when
/// taken.
fn unique_key(
    constraint: &ast::UniqueConstraint,
    table: &str,
    columns: Vec<String>,
    taken: &[UniqueDef],
) -> Result<UniqueDef> {
    if constraint
        .characteristics
        .as_ref()
        .is_some_and(|c| c.deferrable == Some(true) || c.enforced == Some(false))
    {
        return Err(BrookError::Unsupported(
            "DEFERRABLE or NOT ENFORCED UNIQUE constraints".into(),
        ));
    }
    let name = match &constraint.name {
        Some(given) => normalize(given),
        None => {
            let base = format!("{table}_{}_key", columns.join("_"));
            let mut name = base.clone();
            let mut n = 0;
            while name == format!("{table}_pkey") || taken.iter().any(|u| u.name == name) {
                n += 1;
                name = format!("{base}{n}");
            }
            name
        }
    };
    if taken.iter().any(|u| u.name == name) {
        return Err(BrookError::DuplicateTable(name));
    }
    Ok(UniqueDef {
        name,
        columns,
        nulls_distinct: constraint.nulls_distinct != ast::NullsDistinctOption::NotDistinct,
    })
}

/// A CHECK constraint as the catalog keeps it.
fn check(
    constraint: &ast::CheckConstraint,
    table: &str,
    column: Option<&str>,
    columns: &[String],
    taken: &[CheckDef],
) -> Result<CheckDef> {
    if constraint.enforced == Some(false) {
        return Err(BrookError::Unsupported("NOT ENFORCED constraints".into()));
    }
    let scope: Vec<String> = match column {
        Some(c) => vec![c.to_string()],
        None => columns.to_vec(),
    };
    Ok(CheckDef {
        name: check_name(
            constraint.name.as_ref(),
            table,
            &constraint.expr,
            &scope,
            taken,
        ),
        expr: constraint.expr.to_string(),
    })
}

/// The keys and checks a `CREATE TEMP TABLE t (…)` declares, named as a
/// permanent table's would be (a temporary table's rows and column types
/// are DataFusion's memory table's: storage::temp_constraints).
pub fn temp_rules(create: &ast::CreateTable, table: &str) -> Result<TableRules> {
    let name = QualifiedName {
        schema: crate::storage::temp_tables::TEMP_SCHEMA.to_string(),
        name: table.to_string(),
    };
    let declared = declared_columns(create, &name)?;
    if !declared.sequences.is_empty() {
        return Err(BrookError::Unsupported(
            "serial and identity columns in temporary tables".into(),
        ));
    }
    Ok(declared.rules)
}

/// PostgreSQL pads character(n) with spaces and ignores them in
/// comparisons; stored as text, the same rows would compare and measure
/// differently: refused rather than answered wrongly.
pub(super) fn refuse_blank_padded(pg_type: &str) -> Result<()> {
    if pg_type.starts_with("character") && !pg_type.starts_with("character varying") {
        return Err(BrookError::Unsupported(format!(
            "column type {pg_type} (blank-padded character); use varchar(n) or text"
        )));
    }
    Ok(())
}

/// The column `ALTER TABLE … ADD COLUMN` declares, with the keys and
/// checks written on it, read as `CREATE TABLE` reads a column.
pub(super) fn declare_added_column(
    column: &ast::ColumnDef,
    table: &QualifiedName,
) -> Result<(ColumnDef, TableRules)> {
    let create =
        ast::helpers::stmt_create_table::CreateTableBuilder::new(ast::ObjectName::from(vec![
            ast::Ident::with_quote('"', &table.name),
        ]))
        .columns(vec![column.clone()])
        .build();
    let Declared {
        mut columns,
        rules,
        sequences,
    } = declared_columns(&create, table)?;
    if !sequences.is_empty() {
        return Err(BrookError::Unsupported(
            "serial and identity columns in ADD COLUMN".into(),
        ));
    }
    let column = columns
        .pop()
        .ok_or_else(|| BrookError::Internal("ADD COLUMN declared no column".into()))?;
    Ok((column, rules))
}

/// The key or check `ALTER TABLE … ADD CONSTRAINT` declares over a table
/// with `columns` and the rules `existing` (whose names it must not take).
pub(super) fn declare_constraint(
    constraint: &TableConstraint,
    table: &QualifiedName,
    columns: &[String],
    existing: &TableRules,
) -> Result<TableRules> {
    let key_columns = |named: Vec<String>| -> Result<Vec<String>> {
        match named.iter().find(|k| !columns.contains(k)) {
            Some(missing) => Err(BrookError::UndefinedColumn {
                table: table.name.clone(),
                column: missing.clone(),
            }),
            None => Ok(named),
        }
    };
    let mut rules = TableRules::default();
    match constraint {
        TableConstraint::PrimaryKey(pk) => {
            rules.primary_key = key_columns(
                pk.columns
                    .iter()
                    .map(|c| c.column.expr.to_string().to_lowercase())
                    .collect(),
            )?;
        }
        TableConstraint::Unique(unique) => {
            let key = key_columns(
                unique
                    .columns
                    .iter()
                    .map(|c| c.column.expr.to_string().to_lowercase())
                    .collect(),
            )?;
            rules
                .unique
                .push(unique_key(unique, &table.name, key, &existing.unique)?);
        }
        TableConstraint::Check(c) => {
            rules
                .checks
                .push(check(c, &table.name, None, columns, &existing.checks)?);
        }
        other => {
            return Err(BrookError::Unsupported(format!(
                "table constraint {other} (only PRIMARY KEY, UNIQUE and CHECK constraints are enforced)"
            )));
        }
    }
    Ok(rules)
}

/// The columns, keys, checks and owned sequences a `CREATE TABLE (…)` declares.
fn declared_columns(create: &ast::CreateTable, name: &QualifiedName) -> Result<Declared> {
    let mut sequences = Vec::new();
    let mut checks: Vec<CheckDef> = Vec::new();
    let mut unique: Vec<UniqueDef> = Vec::new();
    if let Some(other) = create.constraints.iter().find(|c| {
        !matches!(
            c,
            TableConstraint::PrimaryKey(_) | TableConstraint::Check(_) | TableConstraint::Unique(_)
        )
    }) {
        return Err(BrookError::Unsupported(format!(
            "table constraint {other} (only PRIMARY KEY, UNIQUE and CHECK constraints are enforced)"
        )));
    }
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
            return Err(BrookError::RepeatedColumn(col_name));
        }
        let spelled = col.data_type.to_string().to_ascii_lowercase();
        // serial: an integer column whose DEFAULT takes the next value of a
        // sequence it owns.
        let serial = match spelled.as_str() {
            "smallserial" | "serial2" => Some("smallint"),
            "serial" | "serial4" => Some("integer"),
            "bigserial" | "serial8" => Some("bigint"),
            _ => None,
        };
        let ty = column_type(serial.unwrap_or(&spelled))?;
        let mut generated = serial.map(|_| SequenceOptions::default());
        refuse_blank_padded(&ty.pg_name)?;
        let mut nullable = !primary_key.contains(&col_name);
        let mut default = None;
        let mut always_identity = false;
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
                ColumnOption::Generated {
                    generated_as: generated_as @ (GeneratedAs::ByDefault | GeneratedAs::Always),
                    sequence_options,
                    generation_expr: None,
                    ..
                } => {
                    generated = Some(create_sequence::options(
                        sequence_options.as_deref().unwrap_or_default(),
                    )?);
                    always_identity = matches!(generated_as, GeneratedAs::Always);
                }
                ColumnOption::Comment(_) => {}
                ColumnOption::Check(constraint) => {
                    // `CONSTRAINT n CHECK (…)` on a column: the name is the option's.
                    let mut constraint = constraint.clone();
                    constraint.name = constraint.name.or_else(|| opt.name.clone());
                    let made = check(&constraint, &name.name, Some(&col_name), &[], &checks)?;
                    checks.push(made);
                }
                ColumnOption::Unique(constraint) => {
                    let mut constraint = constraint.clone();
                    constraint.name = constraint.name.or_else(|| opt.name.clone());
                    let made =
                        unique_key(&constraint, &name.name, vec![col_name.clone()], &unique)?;
                    unique.push(made);
                }
                other => {
                    return Err(BrookError::Unsupported(format!(
                        "column constraint {other}"
                    )));
                }
            }
        }
        if let Some(options) = generated {
            if default.is_some() {
                return Err(BrookError::Syntax(format!(
                    "multiple default values specified for column \"{col_name}\" of table \"{}\"",
                    name.name
                )));
            }
            let sequence = QualifiedName {
                schema: name.schema.clone(),
                name: format!("{}_{col_name}_seq", name.name),
            };
            default = Some(format!(
                "nextval('{}.{}')",
                quote_ident(&sequence.schema).replace('\'', "''"),
                quote_ident(&sequence.name).replace('\'', "''")
            ));
            nullable = false;
            let max = create_sequence::max_of(Some(&ty.pg_name))?;
            sequences.push(OwnedSequence {
                name: sequence,
                options,
                max,
                column: col_name.clone(),
            });
        }
        columns.push(ColumnDef {
            name: col_name,
            pg_type: ty.pg_name,
            nullable,
            default,
            always_identity,
            comment: None,
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
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::Check(constraint) => {
                let made = check(constraint, &name.name, None, &names, &checks)?;
                checks.push(made);
            }
            TableConstraint::Unique(constraint) => {
                let key: Vec<String> = constraint
                    .columns
                    .iter()
                    .map(|c| c.column.expr.to_string().to_lowercase())
                    .collect();
                if let Some(missing) = key.iter().find(|k| !names.contains(k)) {
                    return Err(BrookError::UndefinedColumn {
                        table: name.name.clone(),
                        column: missing.clone(),
                    });
                }
                let made = unique_key(constraint, &name.name, key, &unique)?;
                unique.push(made);
            }
            _ => {}
        }
    }
    Ok(Declared {
        columns,
        rules: TableRules {
            primary_key,
            unique,
            checks,
            indexes: vec![],
            comment: None,
            acl: Default::default(),
            row_security: Default::default(),
        },
        sequences,
    })
}
