//! `GENERATED ALWAYS AS IDENTITY`: only the column's sequence writes it.
//! An INSERT that gives such a column a value of its own, or an UPDATE
//! (or `ON CONFLICT DO UPDATE`) that sets it to anything but `DEFAULT`, is
//! refused with PostgreSQL's 428C9 before anything runs. `COPY` may load
//! it, as in PostgreSQL (a dump restores its values so).
//!
//! Checked on the statement as written, because by the time DataFusion
//! plans the write, a `DEFAULT` and an explicit value look the same.

use datafusion::sql::sqlparser::ast::{
    Assignment, AssignmentTarget, Expr, Insert, ObjectName, ObjectNamePart, OnConflictAction,
    OnInsert, SetExpr, Statement,
};

use crate::catalog::QualifiedName;
use crate::catalog::names::{normalize, qualify};
use crate::error::{BrookError, Result};

/// The table a statement writes, if it is an INSERT or UPDATE of one.
pub fn written_table(statement: &Statement) -> Option<QualifiedName> {
    use datafusion::sql::sqlparser::ast::{TableFactor, TableObject};
    match statement {
        Statement::Insert(Insert {
            table: TableObject::TableName(name),
            ..
        }) => qualify(name).ok(),
        Statement::Update(update) => match &update.table.relation {
            TableFactor::Table { name, .. } => qualify(name).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Refuse `statement` if it writes one of `always` (the table's
/// GENERATED ALWAYS columns; `columns` are all of the table's, in order).
pub fn check(statement: &Statement, columns: &[String], always: &[String]) -> Result<()> {
    if always.is_empty() {
        return Ok(());
    }
    match statement {
        Statement::Insert(insert) => {
            check_insert(insert, columns, always)?;
            if let Some(OnInsert::OnConflict(conflict)) = &insert.on
                && let OnConflictAction::DoUpdate(update) = &conflict.action
            {
                check_assignments(&update.assignments, always)?;
            }
            Ok(())
        }
        Statement::Update(update) => check_assignments(&update.assignments, always),
        _ => Ok(()),
    }
}

fn is_default(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

fn check_insert(insert: &Insert, columns: &[String], always: &[String]) -> Result<()> {
    let targets: Vec<String> = if insert.columns.is_empty() {
        columns.to_vec()
    } else {
        insert.columns.iter().map(column_name).collect()
    };
    let Some(source) = &insert.source else {
        return Ok(());
    };
    for (position, target) in targets.iter().enumerate() {
        if !always.contains(target) {
            continue;
        }
        let given = match source.body.as_ref() {
            // VALUES: a value of its own in any row (DEFAULT is the sequence's).
            SetExpr::Values(values) => values
                .rows
                .iter()
                .any(|row| row.get(position).is_some_and(|e| !is_default(e))),
            // A query: every row it returns gives the column a value.
            _ => true,
        };
        if given {
            return Err(generated_always(
                format!("cannot insert a non-DEFAULT value into column \"{target}\""),
                target,
            ));
        }
    }
    Ok(())
}

fn check_assignments(assignments: &[Assignment], always: &[String]) -> Result<()> {
    for assignment in assignments {
        let names: Vec<String> = match &assignment.target {
            AssignmentTarget::ColumnName(name) => vec![column_name(name)],
            AssignmentTarget::Tuple(names) => names.iter().map(column_name).collect(),
        };
        for column in names {
            if always.contains(&column) && !is_default(&assignment.value) {
                return Err(generated_always(
                    format!("column \"{column}\" can only be updated to DEFAULT"),
                    &column,
                ));
            }
        }
    }
    Ok(())
}

/// A column named `name` (`id`, `"Id"`, `t.id`) as PostgreSQL folds it,
/// without a table prefix.
fn column_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => normalize(ident),
        _ => name.to_string(),
    }
}

fn generated_always(message: String, column: &str) -> BrookError {
    BrookError::GeneratedAlways {
        message,
        detail: format!("Column \"{column}\" is an identity column defined as GENERATED ALWAYS."),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;
    use crate::error::ErrorCode;

    fn checked(sql: &str) -> Result<()> {
        let statement = &Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap()[0];
        let columns = ["id".to_string(), "v".to_string()];
        check(statement, &columns, &columns[..1])
    }

    #[test]
    fn only_the_sequence_writes_an_always_identity_column() {
        assert!(checked("INSERT INTO t (v) VALUES (1)").is_ok());
        assert!(checked("INSERT INTO t VALUES (DEFAULT, 1), (default, 2)").is_ok());
        assert!(checked("INSERT INTO t VALUES (DEFAULT)").is_ok());
        assert!(checked("UPDATE t SET v = 2, id = DEFAULT").is_ok());
        for refused in [
            "INSERT INTO t VALUES (7, 1)",
            "INSERT INTO t VALUES (DEFAULT, 1), (7, 2)",
            "INSERT INTO t (v, \"id\") VALUES (1, 7)",
            "INSERT INTO t SELECT 7, 1",
            "UPDATE t SET id = 7",
            "INSERT INTO t (v) VALUES (1) ON CONFLICT (v) DO UPDATE SET id = 9",
        ] {
            let err = checked(refused).unwrap_err();
            assert_eq!(err.sqlstate().code(), "428C9", "{refused}");
            assert!(
                err.detail().unwrap().contains("GENERATED ALWAYS"),
                "{refused}"
            );
        }
    }
}
