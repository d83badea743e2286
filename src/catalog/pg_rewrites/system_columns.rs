//! `tableoid`, the system column every PostgreSQL relation has: the OID of
//! the table a row comes from. pg_dump reads it from each catalog table it
//! lists (`SELECT c.tableoid, c.oid, … FROM pg_class c`) to name the
//! catalog an object lives in; DataFusion's tables have no system columns.
//! A row's `tableoid` is its FROM item's relation, so `alias.tableoid` (or
//! a bare `tableoid` with one relation in FROM) becomes that relation's
//! `::regclass`: the same OID `pg_class` lists for it.

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, Select, SelectItem, TableFactor, Value, VisitMut, VisitorMut,
};
use std::ops::ControlFlow;

const TABLEOID: &str = "tableoid";

/// Rewrite the `tableoid` references of `select` (its nested queries have
/// been rewritten before it, in their own scope); whether any was.
pub(super) fn rewrite_select(select: &mut Select) -> bool {
    let scope = relations_in(select);
    if scope.is_empty() {
        return false;
    }
    for item in &mut select.projection {
        // An unaliased `c.tableoid` keeps PostgreSQL's column name.
        if let SelectItem::UnnamedExpr(expr) = item
            && referenced(expr, &scope).is_some()
        {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::new(TABLEOID),
            };
        }
    }
    let mut changed = false;
    let mut replace = Replace {
        scope: &scope,
        changed: &mut changed,
    };
    let _ = select.projection.visit(&mut replace);
    let _ = select.selection.visit(&mut replace);
    let _ = select.from.visit(&mut replace);
    changed
}

/// The FROM items of `select` that are named relations: (alias or name,
/// relation as `regclass` reads it). Catalog tables are qualified, since
/// pg_dump runs with an empty search path.
fn relations_in(select: &Select) -> Vec<(String, String)> {
    let mut scope = Vec::new();
    let mut add = |factor: &TableFactor| {
        if let TableFactor::Table { name, alias, .. } = factor {
            let relation = qualified(name);
            let label = match alias {
                Some(alias) => alias.name.value.to_ascii_lowercase(),
                None => name
                    .0
                    .last()
                    .map(|p| p.to_string().to_ascii_lowercase())
                    .unwrap_or_default(),
            };
            scope.push((label, relation));
        }
    };
    for table in &select.from {
        add(&table.relation);
        for join in &table.joins {
            add(&join.relation);
        }
    }
    scope
}

fn qualified(name: &ObjectName) -> String {
    let text = name.to_string();
    if name.0.len() == 1 && text.to_ascii_lowercase().starts_with("pg_") {
        format!("pg_catalog.{text}")
    } else {
        text
    }
}

/// The relation `expr` reads `tableoid` of, if it is such a reference.
fn referenced(expr: &Expr, scope: &[(String, String)]) -> Option<String> {
    match expr {
        Expr::Identifier(column) if column.value.eq_ignore_ascii_case(TABLEOID) => match scope {
            [(_, relation)] => Some(relation.clone()),
            _ => None,
        },
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [qualifier, column] if column.value.eq_ignore_ascii_case(TABLEOID) => {
                let qualifier = qualifier.value.to_ascii_lowercase();
                scope
                    .iter()
                    .find(|(label, _)| *label == qualifier)
                    .map(|(_, relation)| relation.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

struct Replace<'a> {
    scope: &'a [(String, String)],
    changed: &'a mut bool,
}

impl VisitorMut for Replace<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(relation) = referenced(expr, self.scope) {
            *expr = super::call(
                crate::catalog::pg_overlay::REGCLASS_OF_NAME,
                vec![Expr::value(Value::SingleQuotedString(relation))],
            );
            *self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// `typname[0]`: PostgreSQL's `name` type is a fixed array of characters,
/// so pg_dump reads a catalog name's first character by subscript (from
/// 0); Brook holds names as text, where that is `substr(typname, 1, 1)`.
/// Only for catalog columns whose names end in `name` (`typname`,
/// `relname`, …): a subscript of any other column is an array's.
pub(super) fn name_subscript(expr: &Expr) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{AccessExpr, Subscript};
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return None;
    };
    let column = super::column_of(root)?;
    let lower = column.value.to_ascii_lowercase();
    if !(lower.ends_with("name")
        && lower.len() > 4
        && lower.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        return None;
    }
    let [AccessExpr::Subscript(Subscript::Index { index })] = access_chain.as_slice() else {
        return None;
    };
    let Expr::Value(v) = index else {
        return None;
    };
    let Value::Number(n, _) = &v.value else {
        return None;
    };
    let position: i64 = n.parse().ok()?;
    Some(super::call(
        "substr",
        vec![
            root.as_ref().clone(),
            super::number(&(position + 1).to_string()),
            super::number("1"),
        ],
    ))
}

/// In a query over one catalog table Brook never has a row in (no event
/// triggers, no publications; `pg_overlay`'s empty tables), select items
/// with subqueries become NULL: over no rows they are never computed, and
/// pg_dump's correlated `ARRAY(SELECT … FROM unnest(e.evttags))` and
/// `generate_series(0, array_upper(pr.prattrs, 1))` are forms DataFusion
/// cannot plan. The answer — no rows — is the same.
pub(super) fn skip_subqueries_over_empty(select: &mut Select) -> bool {
    let [from] = select.from.as_slice() else {
        return false;
    };
    let grouped = !matches!(
        &select.group_by,
        datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty()
    );
    // An aggregate over no rows still answers one row.
    if !from.joins.is_empty() || grouped || select.having.is_some() || aggregates(select) {
        return false;
    }
    let TableFactor::Table { name, .. } = &from.relation else {
        return false;
    };
    let parts: Vec<String> = name.0.iter().map(|p| p.to_string()).collect();
    let table = match parts.as_slice() {
        [table] => table,
        [schema, table] if schema.eq_ignore_ascii_case("pg_catalog") => table,
        _ => return false,
    };
    if !crate::catalog::pg_overlay::is_always_empty(&table.to_ascii_lowercase()) {
        return false;
    }
    let mut changed = false;
    for item in &mut select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => continue,
        };
        if !has_subquery(expr) {
            continue;
        }
        let alias = alias.unwrap_or_else(|| Ident::new("?column?"));
        *item = SelectItem::ExprWithAlias {
            expr: Expr::value(Value::Null),
            alias,
        };
        changed = true;
    }
    changed
}

/// Whether a select item without a subquery calls an aggregate or window
/// function (one with a subquery is judged by the subquery's own).
fn aggregates(select: &Select) -> bool {
    select.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
            !has_subquery(expr) && super::correlated::aggregates(expr)
        }
        _ => false,
    })
}

fn has_subquery(expr: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::{Query, Visit, Visitor};
    struct Finds(bool);
    impl Visitor for Finds {
        type Break = ();
        fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
            self.0 = true;
            ControlFlow::Break(())
        }
    }
    let mut finds = Finds(false);
    let _ = expr.visit(&mut finds);
    finds.0
}

/// `pg_index`'s and `pg_proc`'s `int2vector` and `oidvector` columns,
/// which PostgreSQL prints space-separated (`1 3`), not as arrays
/// (`{1,3}`): Brook holds them as arrays, which clients subscript, unnest
/// and cast (pgcli's `proargtypes::regtype[]`), and a select item that is
/// just such a column prints as PostgreSQL prints it. pg_dump parses
/// `i.indkey` and `p.proargtypes` so and refused `{1}`.
pub(super) fn vectors_as_text(select: &mut Select) -> bool {
    const VECTORS: &[(&str, &str)] = &[
        ("pg_catalog.pg_index", "indkey"),
        ("pg_catalog.pg_index", "indclass"),
        ("pg_catalog.pg_index", "indcollation"),
        ("pg_catalog.pg_index", "indoption"),
        ("pg_catalog.pg_proc", "proargtypes"),
    ];
    let read = relations_in(select);
    let vector = |column: &str| {
        VECTORS.iter().any(|(table, name)| {
            column.eq_ignore_ascii_case(name)
                && read
                    .iter()
                    .any(|(_, relation)| relation.eq_ignore_ascii_case(table))
        })
    };
    let mut changed = false;
    for item in &mut select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(expr) => (expr.clone(), None),
            SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
            _ => continue,
        };
        let Some(column) = super::column_of(&expr).cloned() else {
            continue;
        };
        if !vector(&column.value) {
            continue;
        }
        *item = SelectItem::ExprWithAlias {
            expr: super::call(
                "array_to_string",
                vec![expr, Expr::value(Value::SingleQuotedString(" ".into()))],
            ),
            alias: alias.unwrap_or(Ident::new(column.value.to_ascii_lowercase())),
        };
        changed = true;
    }
    changed
}
