//! `ARRAY(SELECT …)`, PostgreSQL's array constructor over a subquery.
//!
//! - Uncorrelated, it becomes `(SELECT array_agg(item) FROM …)`, the same
//!   array (NULL rather than `{}` for no rows, which clients print alike).
//! - psql's `\d+` builds a table's storage options as `c.reloptions ||
//!   ARRAY(SELECT 'toast.' || x FROM unnest(tc.reloptions) x)` where `tc` is
//!   the table's TOAST relation; Brook has none, so that array is always
//!   NULL and is written so.
//! - pg_dump lists a column's, wrapper's or server's foreign-data options as
//!   `ARRAY(SELECT … FROM pg_options_to_table(attfdwoptions) …)`. Brook has
//!   no foreign data: every options column is NULL, which
//!   `pg_options_to_table` turns into no rows, so that array is `{}`.

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, FunctionArguments, Query, Select, SelectItem, SetExpr, TableFactor,
    Value,
};

/// `expr` rewritten if it is an `ARRAY(subquery)` Brook can answer.
pub(super) fn rewrite(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case("array") {
        return None;
    }
    let FunctionArguments::Subquery(query) = &f.args else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if unnests_toast_options(select) {
        return Some(text_array(Expr::value(Value::Null)));
    }
    if lists_foreign_options(select) {
        return Some(text_array(Expr::Array(
            datafusion::sql::sqlparser::ast::Array {
                elem: vec![],
                named: true,
            },
        )));
    }
    aggregated(query, select)
}

/// `expr::text[]`.
fn text_array(expr: Expr) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(expr),
        data_type: DataType::Array(
            datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(
                Box::new(DataType::Text),
                None,
            ),
        ),
        array: false,
        format: None,
    }
}

/// `FROM [pg_catalog.]pg_options_to_table(…)`.
fn lists_foreign_options(select: &Select) -> bool {
    let [from] = select.from.as_slice() else {
        return false;
    };
    let name = match &from.relation {
        TableFactor::Function { name, .. } | TableFactor::Table { name, .. } => name,
        _ => return false,
    };
    name.0
        .last()
        .is_some_and(|part| part.to_string().eq_ignore_ascii_case("pg_options_to_table"))
}

/// `FROM unnest(<alias>.reloptions)` where the alias is not the subquery's.
fn unnests_toast_options(select: &Select) -> bool {
    let [from] = select.from.as_slice() else {
        return false;
    };
    let (name, args): (String, Vec<String>) = match &from.relation {
        TableFactor::Function { name, args, .. } => (
            name.to_string(),
            args.iter().map(ToString::to_string).collect(),
        ),
        TableFactor::Table {
            name,
            args: Some(table_args),
            ..
        } => (
            name.to_string(),
            table_args.args.iter().map(ToString::to_string).collect(),
        ),
        _ => return false,
    };
    name.to_ascii_lowercase().ends_with("unnest")
        && args
            .iter()
            .any(|a| a.to_ascii_lowercase().ends_with(".reloptions"))
}

/// `(SELECT array_agg(item) …)` for a one-item select without ORDER BY,
/// LIMIT or grouping.
fn aggregated(query: &Query, select: &Select) -> Option<Expr> {
    if query.order_by.is_some() || query.limit_clause.is_some() || select.having.is_some() {
        return None;
    }
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let inner = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
        _ => return None,
    };
    let mut query = query.clone();
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection = vec![SelectItem::UnnamedExpr(super::call(
            "array_agg",
            vec![inner],
        ))];
    }
    Some(Expr::Subquery(Box::new(query)))
}
