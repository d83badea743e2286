//! The names PostgreSQL gives unnamed select items (its parser's
//! `FigureColname`): `count(*)` is `count`, `x::int` is `x`, `'a'::text`
//! is `text`, `CASE …` is `case`, `1 + 1` is `?column?`. DataFusion names
//! an item by its expression (`count(*)`, `Int64(1) + Int64(1)`), which is
//! what a client printed as a header, and what a driver keyed rows by
//! (`row["count"]` in psycopg's dict rows) missed. Each unnamed item that
//! is not a plain column gets PostgreSQL's name as an alias, before the
//! other rewrites change the expression (a `::regclass` becomes a lookup).
//!
//! Two items PostgreSQL would name alike (`SELECT count(a), count(b)`, or
//! `SELECT b, b::int`) cannot both carry the name in one DataFusion
//! schema: the second and later get `name_1`, `name_2`, ….

use std::collections::HashSet;

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Ident, Query, SelectItem, SetExpr, TrimWhereField,
};

/// PostgreSQL's name for an item nothing names.
const NO_NAME: &str = "?column?";

/// Name the unnamed items of `query`'s select lists; whether any was.
pub(super) fn name_items(query: &mut Query) -> bool {
    name_in(query.body.as_mut())
}

fn name_in(body: &mut SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => name_select_items(&mut select.projection),
        // The first branch names the columns of a set operation.
        SetExpr::SetOperation { left, .. } => name_in(left),
        SetExpr::Query(query) => name_items(query),
        _ => false,
    }
}

fn name_select_items(items: &mut [SelectItem]) -> bool {
    let mut taken: HashSet<String> = items
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(expr) => column_name(expr),
            _ => None,
        })
        .collect();
    let mut changed = false;
    for item in items.iter_mut() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        if column_name(expr).is_some() {
            continue;
        }
        let (name, _) = figure(expr);
        let name = name.unwrap_or_else(|| NO_NAME.to_string());
        let mut unique = name.clone();
        let mut n = 0;
        while taken.contains(&unique) {
            n += 1;
            unique = format!("{name}_{n}");
        }
        taken.insert(unique.clone());
        *item = SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: Ident::with_quote('"', unique),
        };
        changed = true;
    }
    changed
}

/// The name of a plain column reference, which DataFusion already gives.
fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        // A keyword PostgreSQL reads as a function call (see `pg_rewrites`).
        Expr::Identifier(ident) if super::is_current_role(ident) => None,
        other => super::column_of(other).map(normalized),
    }
}

fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// PostgreSQL's name for `expr` and how strongly it holds (2: a column
/// or field; 1: a function, type or keyword; 0: none), as `FigureColname`.
fn figure(expr: &Expr) -> (Option<String>, u8) {
    let named = |name: &str| (Some(name.to_string()), 1);
    match expr {
        Expr::Identifier(ident) if super::is_current_role(ident) => named("current_role"),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => (column_name(expr), 2),
        Expr::CompoundFieldAccess { root, access_chain } => match access_chain.last() {
            Some(datafusion::sql::sqlparser::ast::AccessExpr::Dot(Expr::Identifier(field))) => {
                (Some(normalized(field)), 2)
            }
            _ => figure(root),
        },
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(inner),
        Expr::Function(f) => match f.name.0.last() {
            Some(part) => (
                part.as_ident()
                    .map(normalized)
                    .or_else(|| Some(part.to_string().to_ascii_lowercase())),
                1,
            ),
            None => (None, 0),
        },
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => {
            let (name, strength) = figure(inner);
            if strength == 2 {
                (name, 2)
            } else {
                (Some(type_name(data_type)), 1)
            }
        }
        Expr::TypedString(typed) => (Some(type_name(&typed.data_type)), 1),
        Expr::Interval(_) => named("interval"),
        Expr::Case { .. } => named("case"),
        Expr::Array(_) => named("array"),
        Expr::Tuple(_) => named("row"),
        Expr::Exists { .. } => named("exists"),
        Expr::Extract { .. } => named("extract"),
        Expr::Substring { .. } => named("substring"),
        Expr::Position { .. } => named("position"),
        Expr::Overlay { .. } => named("overlay"),
        Expr::Trim { trim_where, .. } => match trim_where {
            Some(TrimWhereField::Leading) => named("ltrim"),
            Some(TrimWhereField::Trailing) => named("rtrim"),
            _ => named("btrim"),
        },
        Expr::Ceil { .. } => named("ceil"),
        Expr::Floor { .. } => named("floor"),
        Expr::AtTimeZone { .. } => named("timezone"),
        Expr::Subquery(query) => first_item_name(query),
        _ => (None, 0),
    }
}

/// A scalar subquery is named after its first item.
fn first_item_name(query: &Query) -> (Option<String>, u8) {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return (None, 0);
    };
    match select.projection.first() {
        Some(SelectItem::ExprWithAlias { alias, .. }) => (Some(alias.value.clone()), 2),
        Some(SelectItem::UnnamedExpr(expr)) => figure(expr),
        _ => (None, 0),
    }
}

/// PostgreSQL's internal name of a type as a column name (`integer` is
/// `int4`).
fn type_name(data_type: &DataType) -> String {
    let text = data_type.to_string().to_ascii_lowercase();
    let base = text.split('(').next().unwrap_or(&text).trim();
    let base = base.strip_prefix("pg_catalog.").unwrap_or(base);
    match base {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "real" | "float4" => "float4",
        "double precision" | "float" | "float8" | "double" => "float8",
        "boolean" | "bool" => "bool",
        "character varying" | "varchar" => "varchar",
        "character" | "char" | "bpchar" => "bpchar",
        "decimal" | "numeric" => "numeric",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "time with time zone" | "timetz" => "timetz",
        "time" | "time without time zone" => "time",
        other => return other.trim_matches('"').to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn named(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let datafusion::sql::sqlparser::ast::Statement::Query(query) = &mut statements[0] else {
            panic!("not a query");
        };
        name_items(query);
        query.to_string()
    }

    #[test]
    fn items_get_postgresql_names() {
        assert_eq!(
            named("SELECT count(*), a, t.b, a + 1, 'x'::text, b::int FROM t"),
            r#"SELECT count(*) AS "count", a, t.b, a + 1 AS "?column?", 'x'::TEXT AS "text", b::INT AS "b_1" FROM t"#
        );
        assert_eq!(
            named("SELECT CASE WHEN a THEN 1 END, sum(a), sum(b), (SELECT max(x) FROM u)"),
            r#"SELECT CASE WHEN a THEN 1 END AS "case", sum(a) AS "sum", sum(b) AS "sum_1", (SELECT max(x) FROM u) AS "max""#
        );
        assert_eq!(
            named("SELECT 1 AS one, 2"),
            r#"SELECT 1 AS one, 2 AS "?column?""#
        );
    }
}
