//! `CREATE TEMP TABLE`, `DROP TABLE` and `TRUNCATE` of a temporary table, answered in
//! the session's own `pg_temp` schema (storage::temp_tables), ahead of
//! Brook's durable catalog: a temporary table must never become a table
//! every session sees and a restart keeps.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    ColumnOption, ColumnOptionDef, Ident, ObjectName, ObjectNamePart, ObjectType, Statement,
};
use pgwire::api::results::{Response, Tag};
use pgwire::error::PgWireResult;

use crate::catalog::TableRules;
use crate::catalog::names::normalize;
use crate::error::BrookError;
use crate::error::SqlState;
use crate::server::errors::{brook_to_pgwire, classify, refuse, to_pgwire};
use crate::sql::create_table::temp_rules;
use crate::storage::constraints::{Check, UniqueKey};
use crate::storage::temp_constraints::ConstrainedTemp;
use crate::storage::temp_tables::{TEMP_SCHEMA, TempTables};

/// The bare name of `name` if it is, or may be, one of the session's
/// temporary tables: `pg_temp.t`, or `t` when the session has one.
fn temp_name(name: &ObjectName, temp: &TempTables) -> Option<String> {
    match name.0.as_slice() {
        [
            ObjectNamePart::Identifier(schema),
            ObjectNamePart::Identifier(table),
        ] if normalize(schema) == TEMP_SCHEMA => Some(normalize(table)),
        [ObjectNamePart::Identifier(table)] if temp.has(&normalize(table)) => {
            Some(normalize(table))
        }
        _ => None,
    }
}

/// The answer to `statement` when it creates or drops a temporary table.
pub async fn respond(
    statement: &Statement,
    ctx: &SessionContext,
) -> Option<PgWireResult<Response>> {
    match statement {
        Statement::CreateTable(create) if create.temporary => Some(create_temp(create, ctx).await),
        Statement::Drop {
            object_type: ObjectType::Table,
            names,
            if_exists,
            ..
        } => {
            let temp = TempTables::of(ctx)?;
            let temps: Vec<Option<String>> = names.iter().map(|n| temp_name(n, &temp)).collect();
            if temps.iter().all(Option::is_none) {
                return None;
            }
            if temps.iter().any(Option::is_none) {
                return Some(Err(refuse(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    "DROP TABLE of temporary and permanent tables in one statement is not \
                     supported; drop them separately",
                )));
            }
            for name in temps.into_iter().flatten() {
                if !temp.has(&name) && !*if_exists {
                    return Some(Err(refuse(
                        SqlState::UNDEFINED_TABLE,
                        format!("table \"{name}\" does not exist"),
                    )));
                }
                temp.drop_table(&name);
            }
            Some(Ok(Response::Execution(Tag::new("DROP TABLE"))))
        }
        Statement::Truncate(truncate) => {
            let temp = TempTables::of(ctx)?;
            let temps: Vec<Option<String>> = truncate
                .table_names
                .iter()
                .map(|t| temp_name(&t.name, &temp))
                .collect();
            if temps.iter().all(Option::is_none) {
                return None;
            }
            if temps.iter().any(Option::is_none) {
                return Some(Err(refuse(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    "TRUNCATE of temporary and permanent tables in one statement is not \
                     supported; truncate them separately",
                )));
            }
            // Every name first: TRUNCATE a, missing must not empty `a`.
            let mut names = Vec::with_capacity(temps.len());
            for name in temps.into_iter().flatten() {
                if temp.has(&name) {
                    names.push(name);
                } else if !truncate.if_exists {
                    return Some(Err(refuse(
                        SqlState::UNDEFINED_TABLE,
                        format!("relation \"{name}\" does not exist"),
                    )));
                }
            }
            for name in names {
                temp.truncate(&name).await;
            }
            Some(Ok(Response::Execution(Tag::new("TRUNCATE TABLE"))))
        }
        _ => None,
    }
}

async fn create_temp(
    create: &datafusion::sql::sqlparser::ast::CreateTable,
    ctx: &SessionContext,
) -> PgWireResult<Response> {
    let name = match create.name.0.as_slice() {
        [ObjectNamePart::Identifier(table)] => table.clone(),
        [
            ObjectNamePart::Identifier(schema),
            ObjectNamePart::Identifier(table),
        ] if normalize(schema) == TEMP_SCHEMA => table.clone(),
        _ => {
            return Err(refuse(
                SqlState::INVALID_TABLE_DEFINITION,
                "cannot create temporary relation in non-temporary schema",
            ));
        }
    };
    if create.on_commit.is_some() {
        return Err(refuse(
            SqlState::FEATURE_NOT_SUPPORTED,
            "ON COMMIT for temporary tables is not supported",
        ));
    }
    // DataFusion would accept an identity column and never fill it.
    if create.columns.iter().any(|c| {
        c.options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::Generated { .. }))
    }) {
        return Err(refuse(
            SqlState::FEATURE_NOT_SUPPORTED,
            "identity and generated columns in temporary tables are not supported",
        ));
    }
    // DataFusion's memory tables keep keys and checks as information only:
    // a constrained table is wrapped so that its writes keep them.
    let constrained = !create.constraints.is_empty()
        || create.columns.iter().any(|c| {
            c.options.iter().any(|o| {
                matches!(
                    o.option,
                    ColumnOption::PrimaryKey(_) | ColumnOption::Unique(_) | ColumnOption::Check(_)
                )
            })
        });
    let rules = if constrained {
        if create.query.is_some() {
            return Err(refuse(
                SqlState::FEATURE_NOT_SUPPORTED,
                "constraints in CREATE TEMP TABLE … AS SELECT (create the table, then INSERT)",
            ));
        }
        Some(temp_rules(create, &normalize(&name)).map_err(brook_to_pgwire)?)
    } else {
        None
    };
    let Some(temp) = TempTables::of(ctx) else {
        return Err(refuse(
            SqlState::FEATURE_NOT_SUPPORTED,
            "this session cannot have temporary tables",
        ));
    };
    let table = normalize(&name);
    if temp.has(&table) {
        if create.if_not_exists {
            return Ok(Response::Execution(Tag::new("CREATE TABLE")));
        }
        return Err(refuse(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{table}\" already exists"),
        ));
    }
    // DataFusion builds it (column types, defaults, CTAS rows) as a memory
    // table in the session's temporary schema.
    let mut plain = create.clone();
    plain.temporary = false;
    if let Some(rules) = &rules {
        // DataFusion makes the memory table; the constraints are Brook's.
        plain.constraints.clear();
        for column in &mut plain.columns {
            column.options.retain(|o| {
                !matches!(
                    o.option,
                    ColumnOption::PrimaryKey(_) | ColumnOption::Unique(_) | ColumnOption::Check(_)
                )
            });
            if rules.primary_key.contains(&normalize(&column.name))
                && !column
                    .options
                    .iter()
                    .any(|o| o.option == ColumnOption::NotNull)
            {
                column.options.push(ColumnOptionDef {
                    name: None,
                    option: ColumnOption::NotNull,
                });
            }
        }
    }
    plain.name = ObjectName(vec![
        ObjectNamePart::Identifier(Ident::new(TEMP_SCHEMA)),
        ObjectNamePart::Identifier(name),
    ]);
    let sql = Statement::CreateTable(plain).to_string();
    let created = async { ctx.sql(&sql).await?.collect().await };
    created.await.map_err(|e| to_pgwire(classify(&e)))?;
    if let Some(rules) = rules {
        let constrained = constrain(ctx, &temp, &table, rules);
        if let Err(e) = constrained {
            temp.drop_table(&table);
            return Err(brook_to_pgwire(e));
        }
    }
    if create.query.is_some() {
        let rows = temp.rows(&table).await;
        return Ok(Response::Execution(Tag::new("SELECT").with_rows(rows)));
    }
    Ok(Response::Execution(Tag::new("CREATE TABLE")))
}

/// Wrap the memory table `table` DataFusion just made so that its writes
/// keep `rules`.
fn constrain(
    ctx: &SessionContext,
    temp: &TempTables,
    table: &str,
    rules: TableRules,
) -> Result<(), BrookError> {
    let memory = temp
        .memory_table(table)
        .ok_or_else(|| BrookError::Internal(format!("temporary table {table} was not made")))?;
    let schema = datafusion::catalog::TableProvider::schema(memory.as_ref());
    let mut keys = Vec::new();
    if !rules.primary_key.is_empty() {
        keys.push(UniqueKey {
            name: format!("{table}_pkey"),
            columns: rules.primary_key.clone(),
            nulls_distinct: true,
        });
    }
    keys.extend(rules.unique.iter().map(|u| UniqueKey {
        name: u.name.clone(),
        columns: u.columns.clone(),
        nulls_distinct: u.nulls_distinct,
    }));
    let state = ctx.state();
    let checks = rules
        .checks
        .iter()
        .map(|c| Check::compile(&state, &schema, &c.name, &c.expr))
        .collect::<Result<Vec<_>, _>>()?;
    temp.constrain(table, ConstrainedTemp::new(memory, table, keys, checks));
    Ok(())
}
