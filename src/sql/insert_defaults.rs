//! `INSERT … VALUES (DEFAULT, …)`: PostgreSQL's way to ask for a column's
//! default in a row, which DataFusion's planner does not know (it reads
//! `DEFAULT` as a column name).
//!
//! The statement is rewritten before it is planned: a column that is
//! `DEFAULT` in every row leaves the column list (so the table fills it as
//! for an omitted column: an identity column's sequence included), and a
//! `DEFAULT` beside explicit values in other rows becomes the column's
//! DEFAULT expression (or NULL, for a column without one). A table whose
//! default expressions Brook cannot spell (a temporary table's) is left
//! as written for the second case, which then fails as before rather
//! than guessing.

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Insert, ObjectName, ObjectNamePart, Parens, SetExpr, Statement, TableObject, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use datafusion::prelude::SessionContext;

use crate::catalog::QualifiedName;
use crate::catalog::names::{normalize, qualify};
use crate::engine::Engine;
use crate::storage::temp_tables::{TEMP_SCHEMA, TempTables};
use crate::storage::transaction::SessionTransaction;

/// A column's default as the rewrite may spell it.
#[derive(Debug, Clone, PartialEq)]
pub enum Default {
    /// No DEFAULT: NULL.
    Null,
    /// The DEFAULT expression's SQL text.
    Sql(String),
    /// There is one, but not as SQL text.
    Unknown,
}

/// Whether `sql` may hold an INSERT with `DEFAULT` in its VALUES: a cheap
/// look at the bytes before anything is parsed.
pub fn may_apply(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mentions = |word: &[u8]| {
        bytes
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    mentions(b"insert") && mentions(b"default") && mentions(b"values")
}

/// The table `statement` inserts into if its VALUES hold a bare `DEFAULT`.
pub fn target(statement: &Statement) -> Option<QualifiedName> {
    let Statement::Insert(insert) = statement else {
        return None;
    };
    let TableObject::TableName(name) = &insert.table else {
        return None;
    };
    let SetExpr::Values(values) = insert.source.as_ref()?.body.as_ref() else {
        return None;
    };
    values
        .rows
        .iter()
        .flat_map(|row| row.content.iter())
        .any(is_default)
        .then(|| qualify(name).ok())
        .flatten()
}

fn is_default(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

/// Rewrite `statement` (an INSERT whose [`target`] has `columns`, in
/// order, with their defaults). `false` when it could not be (it is then
/// unchanged).
pub fn rewrite(statement: &mut Statement, columns: &[(String, Default)]) -> bool {
    let Statement::Insert(insert) = statement else {
        return false;
    };
    let targets: Vec<String> = if insert.columns.is_empty() {
        columns.iter().map(|(name, _)| name.clone()).collect()
    } else {
        insert.columns.iter().map(column_name).collect()
    };
    let Some(parens) = values_rows(insert) else {
        return false;
    };
    // The rows' expressions, put back into their parentheses at the end.
    let mut taken: Vec<Vec<Expr>> = parens
        .iter_mut()
        .map(|row| std::mem::take(&mut row.content))
        .collect();
    let done = rewrite_rows(&mut taken, &targets, columns);
    for (row, content) in parens.iter_mut().zip(taken) {
        row.content = content;
    }
    let Some(kept) = done else {
        return false;
    };
    if let Some(kept) = kept {
        insert.columns = kept
            .iter()
            .map(|i| {
                ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
                    '"',
                    targets[*i].clone(),
                ))])
            })
            .collect();
    }
    true
}

/// [`rewrite`] over the rows' expressions: `None` when it cannot be done,
/// else the positions of the columns that stay listed (`None`: all of them).
fn rewrite_rows(
    rows: &mut [Vec<Expr>],
    targets: &[String],
    columns: &[(String, Default)],
) -> Option<Option<Vec<usize>>> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width > targets.len() {
        return None;
    }
    let everywhere: Vec<bool> = (0..width)
        .map(|i| rows.iter().all(|row| row.get(i).is_some_and(is_default)))
        .collect();
    if !fill(rows, targets, columns) {
        return None;
    }
    // Every column DEFAULT in every row: nothing would be left to list, so
    // they were all filled in.
    if everywhere.iter().all(|d| *d) {
        return Some(None);
    }
    for row in rows.iter_mut() {
        let values = std::mem::take(row);
        *row = values
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !everywhere[*i])
            .map(|(_, v)| v)
            .collect();
    }
    Some(Some((0..width).filter(|i| !everywhere[*i]).collect()))
}

/// Each `DEFAULT` not in a column that is DEFAULT in every row becomes the
/// column's expression; `false` if one cannot be spelled.
fn fill(rows: &mut [Vec<Expr>], targets: &[String], columns: &[(String, Default)]) -> bool {
    let everywhere =
        |i: usize, rows: &[Vec<Expr>]| rows.iter().all(|row| row.get(i).is_some_and(is_default));
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let only_defaults = (0..width).all(|i| everywhere(i, rows));
    for (i, target) in targets.iter().enumerate().take(width) {
        if everywhere(i, rows) && !only_defaults {
            continue;
        }
        let default = columns
            .iter()
            .find(|(name, _)| name == target)
            .map(|(_, d)| d.clone());
        let replacement = match default {
            Some(Default::Null) => Expr::Value(Value::Null.into()),
            Some(Default::Sql(text)) => {
                match Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&text)
                    .and_then(|mut p| p.parse_expr())
                {
                    Ok(expr) => Expr::Nested(Box::new(expr)),
                    Err(_) => return false,
                }
            }
            Some(Default::Unknown) | None => {
                if rows.iter().any(|row| row.get(i).is_some_and(is_default)) {
                    return false;
                }
                continue;
            }
        };
        for row in rows.iter_mut() {
            if let Some(value) = row.get_mut(i)
                && is_default(value)
            {
                *value = replacement.clone();
            }
        }
    }
    true
}

fn values_rows(insert: &mut Insert) -> Option<&mut Vec<Parens<Vec<Expr>>>> {
    match insert.source.as_mut()?.body.as_mut() {
        SetExpr::Values(values) => Some(&mut values.rows),
        _ => None,
    }
}

fn column_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => normalize(ident),
        _ => name.to_string(),
    }
}

/// `sql` with the `DEFAULT`s of its VALUES rewritten for the session of
/// `ctx`, or `None` when it has none (or names no table Brook knows).
pub async fn apply(engine: &Engine, ctx: &SessionContext, sql: &str) -> Option<String> {
    if !may_apply(sql) {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let [statement] = statements.as_mut_slice() else {
        return None;
    };
    let table = target(statement)?;
    let columns = columns_of(engine, ctx, &table).await?;
    rewrite(statement, &columns).then(|| statement.to_string())
}

/// The columns of `table` as the session sees it, with their defaults.
async fn columns_of(
    engine: &Engine,
    ctx: &SessionContext,
    table: &QualifiedName,
) -> Option<Vec<(String, Default)>> {
    if table.schema == TEMP_SCHEMA {
        use datafusion::catalog::SchemaProvider;
        let provider = TempTables::of(ctx)?.table(&table.name).await.ok()??;
        return Some(
            provider
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    let default = match provider.get_column_default(f.name()) {
                        Some(_) => Default::Unknown,
                        None => Default::Null,
                    };
                    (f.name().clone(), default)
                })
                .collect(),
        );
    }
    let declared = match SessionTransaction::open_in(ctx) {
        Some(session) => {
            engine
                .catalog
                .declared_tables_in(&session)
                .await
                .into_iter()
                .find(|t| &t.name == table)?
                .columns
        }
        None => engine.catalog.columns(table).await?,
    };
    Some(
        declared
            .into_iter()
            .map(|c| {
                let default = c.default.map_or(Default::Null, Default::Sql);
                (c.name, default)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> Option<String> {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        target(&statement)?;
        let columns = vec![
            ("id".to_string(), Default::Sql("nextval('t_id_seq')".into())),
            ("a".to_string(), Default::Null),
            ("b".to_string(), Default::Sql("'x'".into())),
        ];
        rewrite(&mut statement, &columns).then(|| statement.to_string())
    }

    #[test]
    fn default_in_values_becomes_an_omitted_column_or_its_expression() {
        assert_eq!(
            rewritten("INSERT INTO t VALUES (DEFAULT, 1, 'y')").as_deref(),
            Some("INSERT INTO t (\"a\", \"b\") VALUES (1, 'y')")
        );
        assert_eq!(
            rewritten("INSERT INTO t (a, b) VALUES (1, DEFAULT), (2, 'z')").as_deref(),
            Some("INSERT INTO t (\"a\", \"b\") VALUES (1, ('x')), (2, 'z')")
        );
        assert_eq!(
            rewritten("INSERT INTO t VALUES (DEFAULT, DEFAULT, DEFAULT)").as_deref(),
            Some("INSERT INTO t VALUES ((nextval('t_id_seq')), NULL, ('x'))")
        );
        assert_eq!(rewritten("INSERT INTO t VALUES (1, 2, 'q')"), None);
    }
}
