//! Correlated scalar subqueries that return one row without saying so.
//!
//! PostgreSQL runs `(SELECT d.adbin FROM pg_attrdef d WHERE d.adrelid =
//! a.attrelid)` per outer row and errors only if it ever yields two rows.
//! DataFusion decorrelates such a subquery into a join and insists it be
//! aggregated; datafusion-pg-catalog, for the ones it sees in a select list,
//! replaces them with NULL (so psql's `\d` would show no defaults) and leaves
//! the rest (inside `CASE`, as SQLAlchemy writes them) to fail planning.
//!
//! Rewritten here: the one select item becomes `first_value(item)` (the same
//! answer for zero or one row) unless it is an aggregate already; conditions on outer columns alone
//! (`AND a.atthasdef`), which DataFusion cannot decorrelate, move out into
//! `CASE WHEN a.atthasdef THEN (subquery) END` (the same answer: no row is
//! NULL); and the subquery is kept in parentheses so that
//! datafusion-pg-catalog's rule, which looks for a bare subquery, lets it
//! through to DataFusion.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, GroupByExpr, JoinOperator, Query, Select, SelectItem, SetExpr,
    TableFactor, Value, Visit, Visitor,
};

/// Aggregates a subquery may already use (then it is left alone): the
/// PostgreSQL ones clients write in catalog queries, and DataFusion's.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "stddev",
    "variance",
    "median",
];

/// `expr` rewritten if it is a scalar subquery that needs it.
pub(super) fn rewrite(expr: &Expr) -> Option<Expr> {
    let Expr::Subquery(query) = expr else {
        return None;
    };
    let select = plain_select(query)?;
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let (inner, alias) = match item {
        SelectItem::UnnamedExpr(e) => (e, None),
        SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
        _ => return None,
    };
    let bound = bound_tables(select);
    if !correlated(query, &bound) {
        return None;
    }
    // (An aggregate over no rows is not NULL: count(*) is 0.)
    if !aggregates(inner) && reads_an_empty_table(select) {
        return Some(null_keeping_parameters(query));
    }
    let wrapped = if aggregates(inner) {
        inner.clone()
    } else {
        super::call("first_value", vec![inner.clone()])
    };
    let mut query = query.clone();
    let mut outer_only = Vec::new();
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection = vec![match alias {
            Some(alias) => SelectItem::ExprWithAlias {
                expr: wrapped,
                alias,
            },
            None => SelectItem::UnnamedExpr(wrapped),
        }];
        if let Some(selection) = select.selection.take() {
            let (outer, inner): (Vec<Expr>, Vec<Expr>) = conjuncts(selection)
                .into_iter()
                .partition(|c| only_outer(c, &bound));
            if !inner.iter().all(|c| decorrelatable(c, &bound)) {
                return None;
            }
            outer_only = outer;
            select.selection = inner.into_iter().reduce(and);
        }
    }
    let subquery = Expr::Nested(Box::new(Expr::Subquery(query)));
    Some(match outer_only.into_iter().reduce(and) {
        None => subquery,
        Some(condition) => Expr::Case {
            case_token: AttachedToken::empty(),
            end_token: AttachedToken::empty(),
            operand: None,
            conditions: vec![CaseWhen {
                condition,
                result: subquery,
            }],
            else_result: None,
        },
    })
}

fn and(left: Expr, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    }
}

/// `a AND (b AND c)` as `[a, b, c]`.
fn conjuncts(expr: Expr) -> Vec<Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut all = conjuncts(*left);
            all.extend(conjuncts(*right));
            all
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner)
        }
        other => vec![other],
    }
}

/// Whether DataFusion can turn condition `c` into a join: it names no outer
/// column, or it is `inner = outer` (a non-equality across the two, such
/// as psql's `a.attcollation <> t.typcollation`, it cannot plan; such
/// subqueries are left as they were).
fn decorrelatable(c: &Expr, bound: &HashSet<String>) -> bool {
    if references(c, bound).0 == 0 {
        return true;
    }
    match c {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            let sides = [references(left, bound), references(right, bound)];
            matches!(sides, [(0, true), (1.., false)] | [(1.., false), (0, true)])
        }
        _ => false,
    }
}

/// How many columns `expr` names through outer tables, and whether it names
/// anything else (an inner or unqualified column, a subquery).
fn references(expr: &Expr, bound: &HashSet<String>) -> (usize, bool) {
    struct Columns<'a> {
        bound: &'a HashSet<String>,
        outer: usize,
        other: bool,
    }
    impl Visitor for Columns<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let table = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if self.bound.contains(&table) {
                        self.other = true;
                    } else {
                        self.outer += 1;
                    }
                }
                Expr::Identifier(_)
                | Expr::CompoundIdentifier(_)
                | Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::InSubquery { .. } => self.other = true,
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut columns = Columns {
        bound,
        outer: 0,
        other: false,
    };
    let _ = expr.visit(&mut columns);
    (columns.outer, columns.other)
}

/// Whether every column `expr` names is qualified by a table outside the
/// subquery (and it names at least one, and holds no subquery).
fn only_outer(expr: &Expr, bound: &HashSet<String>) -> bool {
    matches!(references(expr, bound), (1.., false))
}

/// The query's SELECT if it is one with nothing that changes its row count
/// or order (so aggregating its single item changes nothing but the type).
fn plain_select(query: &Query) -> Option<&Select> {
    if query.with.is_some()
        || query.order_by.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
    {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let grouped = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
    };
    (!grouped && select.having.is_none() && select.distinct.is_none() && !select.from.is_empty())
        .then_some(select.as_ref())
}

/// Whether `expr` calls an aggregate or window function.
pub(super) fn aggregates(expr: &Expr) -> bool {
    struct Finder(bool);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr {
                let name = f.name.0.last().map(|p| p.to_string().to_ascii_lowercase());
                if f.over.is_some() || name.is_some_and(|n| AGGREGATES.contains(&n.as_str())) {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = expr.visit(&mut finder);
    finder.0
}

/// NULL, still mentioning the query parameters the subquery used (with
/// their casts), so that the statement's parameters keep their numbers and
/// types: `CASE WHEN $3::VARCHAR IS NULL THEN NULL END`.
fn null_keeping_parameters(query: &Query) -> Expr {
    struct Parameters(Vec<Expr>, HashSet<String>);
    impl Visitor for Parameters {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let name = match expr {
                Expr::Cast { expr: inner, .. } => match inner.as_ref() {
                    Expr::Value(v) => match &v.value {
                        Value::Placeholder(name) => Some(name),
                        _ => None,
                    },
                    _ => None,
                },
                Expr::Value(v) => match &v.value {
                    Value::Placeholder(name) => Some(name),
                    _ => None,
                },
                _ => None,
            };
            if let Some(name) = name
                && self.1.insert(name.clone())
            {
                self.0.push(expr.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let mut parameters = Parameters(Vec::new(), HashSet::new());
    let _ = query.visit(&mut parameters);
    let null = Expr::value(Value::Null);
    match parameters
        .0
        .into_iter()
        .map(|p| Expr::IsNull(Box::new(p)))
        .reduce(and)
    {
        None => null,
        Some(condition) => Expr::Case {
            case_token: AttachedToken::empty(),
            end_token: AttachedToken::empty(),
            operand: None,
            conditions: vec![CaseWhen {
                condition,
                result: null,
            }],
            else_result: None,
        },
    }
}

/// `pg_catalog` tables that are always empty in Brook (it has no sequences,
/// triggers, row policies, inheritance, partitions or publications).
const EMPTY_TABLES: &[&str] = &[
    "pg_sequence",
    "pg_trigger",
    "pg_policy",
    "pg_inherits",
    "pg_partitioned_table",
    "pg_publication_rel",
    "pg_statistic_ext",
    "pg_foreign_table",
];

/// Whether the subquery's rows come through (inner joins with) a table that
/// is always empty: then its answer is NULL, whatever it selects. That
/// answers SQLAlchemy's identity-column subquery, which selects outer
/// columns (something DataFusion cannot decorrelate).
fn reads_an_empty_table(select: &Select) -> bool {
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => name
            .0
            .last()
            .is_some_and(|n| EMPTY_TABLES.contains(&n.to_string().to_ascii_lowercase().as_str())),
        _ => false,
    };
    select.from.iter().any(|from| {
        empty(&from.relation)
            || from.joins.iter().any(|join| {
                matches!(
                    join.join_operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                ) && empty(&join.relation)
            })
    })
}

/// The names the subquery's FROM binds (aliases and bare table names).
fn bound_tables(select: &Select) -> HashSet<String> {
    let mut bound: HashSet<String> = HashSet::new();
    let mut bind = |factor: &TableFactor| match factor {
        TableFactor::Table { name, alias, .. } => {
            if let Some(alias) = alias {
                bound.insert(alias.name.value.to_ascii_lowercase());
            }
            if let Some(last) = name.0.last() {
                bound.insert(last.to_string().to_ascii_lowercase());
            }
        }
        TableFactor::Derived {
            alias: Some(alias), ..
        } => {
            bound.insert(alias.name.value.to_ascii_lowercase());
        }
        _ => {}
    };
    for from in &select.from {
        bind(&from.relation);
        for join in &from.joins {
            bind(&join.relation);
        }
    }
    bound
}

/// Whether the query names a column through a table its own FROM does not
/// bind (`pg_catalog.pg_attribute.attrelid` inside `FROM pg_attrdef`).
/// Unqualified outer columns are not seen: those subqueries stay as they are.
fn correlated(query: &Query, bound: &HashSet<String>) -> bool {
    struct Outer<'a>(&'a HashSet<String>, bool);
    impl Visitor for Outer<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = expr
                && parts.len() >= 2
            {
                let table = parts[parts.len() - 2].value.to_ascii_lowercase();
                if !self.0.contains(&table) {
                    self.1 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut outer = Outer(bound, false);
    let _ = query.visit(&mut outer);
    outer.1
}
