//! The names PostgreSQL gives unnamed select items (its parser's
//! `FigureColname`): `count(*)` is `count`, `x::int` is `x`, `'a'::text`
//! is `text`, `CASE …` is `case`, `1 + 1` is `?column?`. DataFusion names
//! an item by its expression (`count(*)`, `Int64(1) + Int64(1)`), which is
//! what a client printed as a header, and what a driver keyed rows by
//! (`row["count"]` in psycopg's dict rows) missed. Each unnamed item that
//! is not a plain column gets PostgreSQL's name as an alias, before the
//! other rewrites change the expression (a `::regclass` becomes a lookup).
//!
//! Two items PostgreSQL would name alike (`SELECT count(a), count(b)`,
//! `SELECT a, a`, `SELECT 41 AS c, min(c) AS c`) cannot both carry the
//! name in one DataFusion schema ("Projections require unique expression
//! names"), where PostgreSQL answers with both columns so named. In what a
//! client reads ([`Repeats::Marked`]: a query, the query of an INSERT or a
//! COPY) the second and later get the name, [`REPEAT_MARK`] and a number,
//! which the protocol edge takes off again ([`client_name`]); a view or a
//! CREATE TABLE AS with such a column is refused (42701), as in
//! PostgreSQL. Elsewhere (a subquery of an UPDATE) they get `name_1`,
//! `name_2`, …

use std::collections::{HashMap, HashSet};

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Ident, OrderByKind, Query, SelectItem, SetExpr, TrimWhereField,
};

/// PostgreSQL's name for an item nothing names.
const NO_NAME: &str = "?column?";

/// Separates a repeated result column's name from the number that keeps
/// it apart in DataFusion's schema: a private-use character, which no
/// client's column name holds.
pub const REPEAT_MARK: char = '\u{E000}';

/// The name a client is shown for result column `name`: a repeated name
/// without its [`REPEAT_MARK`] and number.
pub fn client_name(name: &str) -> &str {
    name.split(REPEAT_MARK).next().unwrap_or(name)
}

/// The first column of `schema` whose name another column has too (as
/// [`REPEAT_MARK`] shows): CREATE VIEW and CREATE TABLE AS refuse it.
pub fn repeated_column(schema: &datafusion::arrow::datatypes::Schema) -> Option<String> {
    schema
        .fields()
        .iter()
        .find(|f| f.name().contains(REPEAT_MARK))
        .map(|f| client_name(f.name()).to_string())
}

/// How items named alike are kept apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Repeats {
    /// `name_1`, `name_2`: the names become a table's or view's columns.
    Suffixed,
    /// `name` + [`REPEAT_MARK`] + number, shown to the client as `name`.
    Marked,
}

/// Name the unnamed items of `query`'s select lists, keeping repeated
/// names apart as `repeats` says; whether any item changed.
pub(super) fn name_items(query: &mut Query, repeats: Repeats) -> bool {
    // `ORDER BY c` where two items are named `c` is PostgreSQL's error
    // ("ORDER BY "c" is ambiguous"); marked, `c` would quietly be the first.
    let repeats = if repeats == Repeats::Marked && orders_by_a_repeat(query) {
        Repeats::Suffixed
    } else {
        repeats
    };
    name_in(query.body.as_mut(), repeats)
}

fn name_in(body: &mut SetExpr, repeats: Repeats) -> bool {
    match body {
        SetExpr::Select(select) => name_select_items(&mut select.projection, repeats),
        // The first branch names the columns of a set operation; the
        // others only need names DataFusion can hold.
        SetExpr::SetOperation { left, right, .. } => {
            let named = name_in(left, repeats);
            let kept_apart = repeats == Repeats::Marked && mark_repeats_in(right);
            named || kept_apart
        }
        SetExpr::Query(query) => name_items(query, repeats),
        _ => false,
    }
}

/// Mark the repeated names of a set operation's later branch.
fn mark_repeats_in(body: &mut SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => mark_repeats(&mut select.projection, false),
        SetExpr::SetOperation { left, right, .. } => {
            let left = mark_repeats_in(left);
            mark_repeats_in(right) || left
        }
        _ => false,
    }
}

fn name_select_items(items: &mut [SelectItem], repeats: Repeats) -> bool {
    match repeats {
        Repeats::Suffixed => suffix_repeats(items),
        Repeats::Marked => mark_repeats(items, true),
    }
}

/// The name PostgreSQL gives `item` (none for a wildcard).
fn item_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(normalized(alias)),
        SelectItem::UnnamedExpr(expr) => {
            Some(column_name(expr).unwrap_or_else(|| figured_name(expr)))
        }
        _ => None,
    }
}

fn figured_name(expr: &Expr) -> String {
    figure(expr).0.unwrap_or_else(|| NO_NAME.to_string())
}

/// Name every unnamed item (when `name_unnamed`) and mark each repeat.
fn mark_repeats(items: &mut [SelectItem], name_unnamed: bool) -> bool {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut changed = false;
    for item in items.iter_mut() {
        let Some(name) = item_name(item) else {
            continue;
        };
        let count = seen.entry(name.clone()).or_insert(0);
        let alias = if *count > 0 {
            Some(format!("{name}{REPEAT_MARK}{count}"))
        } else {
            match item {
                SelectItem::UnnamedExpr(expr) if name_unnamed && column_name(expr).is_none() => {
                    Some(name)
                }
                _ => None,
            }
        };
        *count += 1;
        let Some(alias) = alias else {
            continue;
        };
        let expr = match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
            _ => continue,
        };
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('"', alias),
        };
        changed = true;
    }
    changed
}

/// Name every unnamed item, a repeat as `name_1`, `name_2`, ….
fn suffix_repeats(items: &mut [SelectItem]) -> bool {
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
        let name = figured_name(expr);
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

/// Whether `query` orders by a bare name that two different items carry
/// (`SELECT a, a … ORDER BY a` is not ambiguous: both are `a`).
fn orders_by_a_repeat(query: &Query) -> bool {
    let Some(order_by) = &query.order_by else {
        return false;
    };
    let OrderByKind::Expressions(keys) = &order_by.kind else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let mut meanings: HashMap<String, HashSet<String>> = HashMap::new();
    for item in &select.projection {
        let expr = match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
            _ => continue,
        };
        if let Some(name) = item_name(item) {
            meanings.entry(name).or_default().insert(expr.to_string());
        }
    }
    keys.iter().any(|key| match &key.expr {
        Expr::Identifier(ident) => meanings
            .get(&normalized(ident))
            .is_some_and(|exprs| exprs.len() > 1),
        _ => false,
    })
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
        name_items(query, Repeats::Suffixed);
        query.to_string()
    }

    fn marked(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let datafusion::sql::sqlparser::ast::Statement::Query(query) = &mut statements[0] else {
            panic!("not a query");
        };
        name_items(query, Repeats::Marked);
        query.to_string().replace(REPEAT_MARK, "#")
    }

    #[test]
    fn repeats_shown_to_a_client_keep_their_name() {
        assert_eq!(
            marked("SELECT a, a, count(*), count(b), 41 AS c, min(c) AS C FROM t"),
            r#"SELECT a, a AS "a#1", count(*) AS "count", count(b) AS "count#1", 41 AS c, min(c) AS "c#1" FROM t"#
        );
        assert_eq!(
            marked("SELECT 1 AS x, 2 AS x UNION SELECT b, b FROM t"),
            r#"SELECT 1 AS x, 2 AS "x#1" UNION SELECT b, b AS "b#1" FROM t"#
        );
        // PostgreSQL: ORDER BY "c" is ambiguous; DataFusion refuses it too.
        assert_eq!(
            marked("SELECT 1 AS c, 2 AS c FROM t ORDER BY c"),
            "SELECT 1 AS c, 2 AS c FROM t ORDER BY c"
        );
        assert_eq!(client_name("count\u{E000}1"), "count");
        assert_eq!(client_name("count"), "count");
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
