//! Result types as PostgreSQL gives them, where DataFusion's planner picks
//! another one before any rule of Brook's could change it.
//!
//! PostgreSQL types an integer constant that fits 32 bits as `integer`
//! (`bigint` above that, `numeric` beyond); DataFusion types every one as
//! `bigint`. The type is what a client is told: `SELECT a * 2` over an
//! `integer` column is `integer` in PostgreSQL (a driver hands back an
//! `int`, psql aligns it so) and was `bigint` in Brook, as were `SELECT 1`,
//! `CASE … THEN 111 … END` and `VALUES (1)`. The differential run against
//! PostgreSQL found more than half of its queries answered with the right
//! values under the wrong type, nearly all for this reason.
//!
//! The constant has to carry its type before DataFusion plans the statement,
//! because a statement is described to the client from that plan (an
//! analyzer rule comes too late: see `semantics::IntegerLiterals`, which
//! narrows arithmetic operands for the overflow check but must keep the
//! described type). So each such constant inside a query is written as
//! `CAST(n AS INT4)`, which DataFusion plans as an `integer` value.
//!
//! Except where the constant is not a value: `ORDER BY 1`, `GROUP BY 1` and
//! `DISTINCT ON (1)` name a select item by position (hidden from the typing
//! while the query is visited, then put back), and `LIMIT`, `OFFSET`,
//! `FETCH`, interval quantities and table functions' arguments
//! (`generate_series(1, 3)` in FROM) take DataFusion's `bigint` as they did.
//!
//! Window ranks: `row_number()`, `rank()` and `dense_rank()` are `bigint`
//! and `ntile(n)` is `integer` in PostgreSQL; DataFusion's are unsigned
//! 64-bit, which the wire can only call `numeric`. Each is cast to
//! PostgreSQL's type (its name stays: items are named first).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Distinct, Expr, FunctionArg, FunctionArgExpr, GroupByExpr, LimitClause,
    OrderByKind, Query, SetExpr, TableFactor, Value, ValueWithSpan, visit_expressions_mut,
};

/// Marks a position constant while its query is visited.
const POSITION: &str = "\u{1}brook_position:";

/// Whether `expr` is an integer constant PostgreSQL types as `integer`.
fn small_integer(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::Number(n, false),
            ..
        }) if n.parse::<i32>().is_ok() => Some(n),
        _ => None,
    }
}

/// `expr` as PostgreSQL types it, if it is a constant that fits `integer`.
pub(super) fn type_constant(expr: &mut Expr) -> bool {
    if small_integer(expr).is_none() {
        return false;
    }
    let constant = std::mem::replace(expr, Expr::value(Value::Null));
    *expr = super::cast(constant, DataType::Int4(None));
    true
}

/// The constant inside a cast [`type_constant`] wrote.
fn typed_constant(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::Cast {
            kind: CastKind::Cast,
            expr: inner,
            data_type: DataType::Int4(None),
            array: false,
            format: None,
        } if small_integer(inner).is_some() => Some(inner),
        _ => None,
    }
}

/// Every constant under `node` back to the untyped one DataFusion reads as
/// `bigint`.
fn untype<N: datafusion::sql::sqlparser::ast::VisitMut>(node: &mut N) {
    let _ = visit_expressions_mut(node, |expr| {
        if let Some(inner) = typed_constant(expr) {
            *expr = inner.clone();
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `position` replaced by a marker no rewrite touches, if it is a bare
/// position constant.
fn hide(position: &mut Expr) {
    if let Some(n) = small_integer(position) {
        *position = Expr::value(Value::Placeholder(format!("{POSITION}{n}")));
    }
}

/// The position constant [`hide`] replaced.
fn show(position: &mut Expr) {
    if let Expr::Value(ValueWithSpan {
        value: Value::Placeholder(marker),
        ..
    }) = position
        && let Some(n) = marker.strip_prefix(POSITION)
    {
        *position = super::number(n);
    }
}

/// The expressions of `query` (its own, not its subqueries') where a bare
/// constant is a select item's position.
fn positions(query: &mut Query, each: &mut impl FnMut(&mut Expr)) {
    if let Some(order_by) = &mut query.order_by
        && let OrderByKind::Expressions(items) = &mut order_by.kind
    {
        for item in items {
            each(&mut item.expr);
        }
    }
    select_positions(query.body.as_mut(), each);
}

fn select_positions(body: &mut SetExpr, each: &mut impl FnMut(&mut Expr)) {
    match body {
        SetExpr::Select(select) => {
            if let GroupByExpr::Expressions(items, _) = &mut select.group_by {
                items.iter_mut().for_each(&mut *each);
            }
            if let Some(Distinct::On(items)) = &mut select.distinct {
                items.iter_mut().for_each(each);
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            select_positions(left, each);
            select_positions(right, each);
        }
        _ => {}
    }
}

/// Before `query`'s parts are visited: its position constants hidden.
pub(super) fn enter_query(query: &mut Query) {
    positions(query, &mut hide);
}

/// After: the positions back, and the counts (`LIMIT`, `OFFSET`, `FETCH`)
/// untyped.
pub(super) fn leave_query(query: &mut Query) {
    positions(query, &mut show);
    match &mut query.limit_clause {
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if let Some(limit) = limit {
                untype(limit);
            }
            if let Some(offset) = offset {
                untype(&mut offset.value);
            }
            limit_by.iter_mut().for_each(untype);
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
            untype(offset);
            untype(limit);
        }
        None => {}
    }
    if let Some(quantity) = query.fetch.as_mut().and_then(|f| f.quantity.as_mut()) {
        untype(quantity);
    }
}

/// A table function's arguments untyped (DataFusion's `generate_series`
/// and `range` in FROM take `bigint` constants only).
pub(super) fn leave_table_factor(factor: &mut TableFactor) {
    match factor {
        TableFactor::Table {
            args: Some(args), ..
        } => args.args.iter_mut().for_each(untype_argument),
        TableFactor::Function { args, .. } => args.iter_mut().for_each(untype_argument),
        TableFactor::TableFunction { expr, .. } => untype(expr),
        _ => {}
    }
}

fn untype_argument(argument: &mut FunctionArg) {
    let (FunctionArg::Named { arg, .. }
    | FunctionArg::ExprNamed { arg, .. }
    | FunctionArg::Unnamed(arg)) = argument;
    if let FunctionArgExpr::Expr(expr) = arg {
        untype(expr);
    }
}

/// A window rank function cast to PostgreSQL's type for it.
pub(super) fn type_rank(expr: &mut Expr) -> bool {
    let Expr::Function(function) = expr else {
        return false;
    };
    if function.over.is_none() {
        return false;
    }
    let name = function
        .name
        .0
        .last()
        .map(|n| n.to_string().to_ascii_lowercase());
    let data_type = match name.as_deref() {
        Some("row_number" | "rank" | "dense_rank") => DataType::BigInt(None),
        Some("ntile") => DataType::Int4(None),
        _ => return false,
    };
    let call = std::mem::replace(expr, Expr::value(Value::Null));
    *expr = super::cast(call, data_type);
    true
}

/// An interval's quantity untyped (`INTERVAL 3 DAY` reads a constant).
pub(super) fn leave_interval(expr: &mut Expr) {
    if let Expr::Interval(interval) = expr {
        untype(interval.value.as_mut());
    }
}

/// A number constant with an exponent (`1e3`, `1.5E-3`) as PostgreSQL
/// reads it, a `numeric`: in plain notation, which DataFusion reads as a
/// decimal (it read `1e3` as a decimal of negative scale, which no client
/// can be sent). One too long for a decimal stays `double precision`.
pub(super) fn plain_constant(expr: &mut Expr) -> bool {
    let Expr::Value(ValueWithSpan {
        value: Value::Number(n, false),
        ..
    }) = expr
    else {
        return false;
    };
    if !n.contains(['e', 'E']) {
        return false;
    }
    let replacement = match plain_number(n) {
        Some(plain) if plain.bytes().filter(u8::is_ascii_digit).count() <= 38 => {
            super::number(&plain)
        }
        _ => super::cast(super::string(n), DataType::DoublePrecision),
    };
    *expr = replacement;
    true
}

/// `text` in plain notation if it is a number with an exponent
/// (`-1.5E-3` → `-0.0015`, `2E+2` → `200`); `None` otherwise.
pub fn plain_number(text: &str) -> Option<String> {
    let text = text.trim();
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent: i64 = exponent.parse().ok()?;
    let (sign, mantissa) = match mantissa.as_bytes().first()? {
        b'-' => ("-", &mantissa[1..]),
        b'+' => ("", &mantissa[1..]),
        _ => ("", mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || exponent.unsigned_abs() > 1000
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    // Where the point falls in `digits` once the exponent is applied.
    let point = whole.len() as i64 + exponent;
    let (int_part, frac_part) = if point <= 0 {
        (
            "0".to_string(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let int_part = match int_part.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    Some(if frac_part.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac_part}")
    })
}

#[cfg(test)]
mod tests {
    use super::super::rewrite;
    use super::plain_number;

    /// Each as Python's `Decimal` and PostgreSQL's `numeric_in` read it.
    #[test]
    fn numbers_with_exponents_become_plain_notation() {
        assert_eq!(plain_number("-1E-10").as_deref(), Some("-0.0000000001"));
        assert_eq!(plain_number("1.5E+3").as_deref(), Some("1500"));
        assert_eq!(plain_number("1.2345E2").as_deref(), Some("123.45"));
        assert_eq!(plain_number("0E-12").as_deref(), Some("0.000000000000"));
        assert_eq!(plain_number("12.5e-1").as_deref(), Some("1.25"));
        assert_eq!(plain_number("7E0").as_deref(), Some("7"));
        assert_eq!(plain_number("12.34"), None);
        assert_eq!(plain_number("NaN"), None);
        assert_eq!(plain_number("1E5x"), None);
        assert_eq!(plain_number("abcE5"), None);
        assert_eq!(
            rewrite("SELECT 1e3 AS a, 1.5e-3 AS b"),
            "SELECT 1000 AS a, 0.0015 AS b"
        );
        assert_eq!(
            rewrite("SELECT 1e300 AS a"),
            "SELECT CAST('1e300' AS DOUBLE PRECISION) AS a"
        );
    }

    fn typed(sql: &str) -> String {
        rewrite(sql).into_owned()
    }

    #[test]
    fn ranks_are_bigint() {
        assert_eq!(
            typed("SELECT rank() OVER (ORDER BY a) FROM t"),
            "SELECT CAST(rank() OVER (ORDER BY a) AS BIGINT) AS \"rank\" FROM t"
        );
    }

    #[test]
    fn values_are_integer_and_positions_and_counts_are_not() {
        assert_eq!(
            typed("SELECT a * 2 AS x FROM t ORDER BY 1 LIMIT 5"),
            "SELECT a * CAST(2 AS INT4) AS x FROM t ORDER BY 1 LIMIT 5"
        );
        assert_eq!(
            typed("SELECT a, count(*) AS n FROM t GROUP BY 1 HAVING count(*) > 1"),
            "SELECT a, count(*) AS n FROM t GROUP BY 1 HAVING count(*) > CAST(1 AS INT4)"
        );
        // Too wide for integer: bigint, as DataFusion reads it.
        assert_eq!(
            typed("SELECT 3000000000 AS x, 1.5 AS y"),
            "SELECT 3000000000 AS x, 1.5 AS y"
        );
        assert_eq!(
            typed("SELECT * FROM generate_series(1, 3) AS g"),
            "SELECT * FROM generate_series(1, 3) AS g (g)"
        );
        // A subquery's ORDER BY is its own.
        assert_eq!(
            typed("SELECT x FROM (SELECT a AS x FROM t ORDER BY 1 OFFSET 2) AS s ORDER BY 1"),
            "SELECT x FROM (SELECT a AS x FROM t ORDER BY 1 OFFSET 2) AS s ORDER BY 1"
        );
        // Outside a query (a column default) the constant is left alone.
        assert_eq!(
            typed("CREATE TABLE t (a INT DEFAULT 1); SELECT 1 AS one"),
            "CREATE TABLE t (a INT DEFAULT 1); SELECT CAST(1 AS INT4) AS one"
        );
    }
}
