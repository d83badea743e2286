//! `real` arithmetic with anything but another `real` is `double precision`
//! in PostgreSQL: for `real + integer` its operator resolution finds both
//! `float4 + float4` and `float4 + float8` and takes the one over float8,
//! the numeric category's preferred type. DataFusion answers `real`, which
//! both rounds the value to 24 bits and tells the client the other type.
//!
//! Division of `numeric` values: PostgreSQL keeps at least 16 significant
//! digits (`1 / 3.0` is `0.33333333333333333333`); DataFusion gives the
//! dividend's scale plus 4 (`0.3333`: a wrong value past the fourth
//! place). The dividend is widened to scale 16 (or its own, if larger),
//! which makes DataFusion's quotient carry 20 places, what PostgreSQL
//! gives a quotient below 1; the last one rounded as PostgreSQL rounds it.
//!
//! Dates and intervals: `date ± interval` is a `timestamp` in PostgreSQL
//! (DataFusion kept a date, dropping the hours: a wrong answer), and
//! `interval * number`, `interval / number` are planned by
//! [`interval_arithmetic`] (DataFusion cannot).
//!
//! The operands are widened while the SQL is planned (an [`ExprPlanner`]),
//! not by an analyzer rule, so that the plan's types are the ones its rows
//! will have.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::type_coercion::other::get_coerce_type_for_case_expression;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator, cast};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use super::interval_arithmetic;

/// The places DataFusion's decimal quotient adds to the dividend's scale.
const QUOTIENT_PLACES: i8 = 4;

/// `timestamp` (without time zone), what a date becomes beside an interval.
const NAIVE_TIMESTAMP: DataType =
    DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None);

/// The planner; registered ahead of DataFusion's own.
#[derive(Debug, Default)]
pub struct ArithmeticTypes;

impl ExprPlanner for ArithmeticTypes {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        if !matches!(
            expr.op,
            BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
        ) {
            return Ok(PlannerResult::Original(expr));
        }
        // An operand whose type cannot be told yet (a parameter) is left
        // to DataFusion's inference.
        let (Some(left), Some(right)) = (
            coerced_type(&expr.left, schema),
            coerced_type(&expr.right, schema),
        ) else {
            return Ok(PlannerResult::Original(expr));
        };
        let is_interval = |t: &DataType| matches!(t, DataType::Interval(_));
        let is_number = |t: &DataType| t.is_integer() || t.is_floating() || t.is_decimal();
        match (&expr.op, &left, &right) {
            // date ± interval is a timestamp: `date '2024-01-05' - interval
            // '1 hour'` is `2024-01-04 23:00:00`, not a date.
            (BinaryOperator::Plus | BinaryOperator::Minus, DataType::Date32, r)
                if is_interval(r) =>
            {
                return Ok(PlannerResult::Original(RawBinaryExpr {
                    op: expr.op,
                    left: cast(expr.left, NAIVE_TIMESTAMP),
                    right: expr.right,
                }));
            }
            (BinaryOperator::Plus, l, DataType::Date32) if is_interval(l) => {
                return Ok(PlannerResult::Original(RawBinaryExpr {
                    op: expr.op,
                    left: expr.left,
                    right: cast(expr.right, NAIVE_TIMESTAMP),
                }));
            }
            (BinaryOperator::Multiply, l, r) if is_interval(l) && is_number(r) => {
                return Ok(PlannerResult::Planned(interval_arithmetic::times(
                    expr.left,
                    cast(expr.right, DataType::Float64),
                )));
            }
            (BinaryOperator::Multiply, l, r) if is_number(l) && is_interval(r) => {
                return Ok(PlannerResult::Planned(interval_arithmetic::times(
                    expr.right,
                    cast(expr.left, DataType::Float64),
                )));
            }
            (BinaryOperator::Divide, l, r) if is_interval(l) && is_number(r) => {
                return Ok(PlannerResult::Planned(interval_arithmetic::divided(
                    expr.left,
                    cast(expr.right, DataType::Float64),
                )));
            }
            _ => {}
        }
        if matches!(expr.op, BinaryOperator::Divide)
            && let Some(scale) = dividend_scale(&left, &right)
        {
            // One place more than kept, then rounded to it (half away from
            // zero, as PostgreSQL rounds numeric): DataFusion's quotient
            // truncates, so `2 / 3.0` ended in …666 where PostgreSQL's
            // ends in …667.
            let quotient = Expr::BinaryExpr(BinaryExpr::new(
                Box::new(cast(expr.left, DataType::Decimal128(38, scale + 1))),
                Operator::Divide,
                Box::new(expr.right),
            ));
            return Ok(PlannerResult::Planned(cast(
                quotient,
                DataType::Decimal128(38, scale + QUOTIENT_PLACES),
            )));
        }
        if !widens(&left, &right) && !widens(&right, &left) {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Original(RawBinaryExpr {
            op: expr.op,
            left: cast(expr.left, DataType::Float64),
            right: cast(expr.right, DataType::Float64),
        }))
    }
}

/// The type `expr` will have once types are coerced. A CASE's is the
/// common type of its branches (DataFusion's `get_type` answers the first
/// branch's while planning: `CASE … THEN 53 ELSE CAST(NULL AS REAL) END`
/// looked like an integer, and its product with one stayed `real`).
fn coerced_type(expr: &Expr, schema: &DFSchema) -> Option<DataType> {
    if let Expr::Case(case) = expr {
        let branches = case
            .when_then_expr
            .iter()
            .map(|(_, then)| then.get_type(schema))
            .collect::<Result<Vec<_>>>()
            .ok()?;
        let otherwise = match &case.else_expr {
            Some(e) => Some(e.get_type(schema).ok()?),
            None => None,
        };
        return get_coerce_type_for_case_expression(&branches, otherwise.as_ref());
    }
    expr.get_type(schema).ok()
}

/// The scale a `numeric` division's dividend is widened to, if the
/// division is one of numerics (a decimal beside a decimal or an integer).
fn dividend_scale(left: &DataType, right: &DataType) -> Option<i8> {
    let exact = |t: &DataType| t.is_integer() || matches!(t, DataType::Decimal128(..));
    if !(exact(left) && exact(right)) {
        return None;
    }
    let scale = |t: &DataType| match t {
        DataType::Decimal128(_, s) => Some(*s),
        _ => None,
    };
    match (scale(left), scale(right)) {
        (None, None) => None,
        (l, r) => Some(l.unwrap_or(0).max(r.unwrap_or(0)).max(16)),
    }
}

/// Whether `real` beside `other` makes the arithmetic `double precision`.
fn widens(real: &DataType, other: &DataType) -> bool {
    matches!(real, DataType::Float32)
        && (other.is_integer() || other.is_floating() || other.is_decimal())
        && *other != DataType::Float32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_beside_another_number_is_double() {
        assert!(widens(&DataType::Float32, &DataType::Int32));
        assert!(widens(&DataType::Float32, &DataType::Decimal128(10, 2)));
        assert!(!widens(&DataType::Float32, &DataType::Float32));
        assert!(!widens(&DataType::Int32, &DataType::Float32));
        assert!(!widens(&DataType::Float32, &DataType::Utf8));
    }

    #[test]
    fn numeric_quotients_keep_sixteen_places_or_more() {
        let d = |p, s| DataType::Decimal128(p, s);
        assert_eq!(dividend_scale(&DataType::Int32, &d(2, 1)), Some(16));
        assert_eq!(dividend_scale(&d(30, 20), &DataType::Int64), Some(20));
        assert_eq!(dividend_scale(&DataType::Int32, &DataType::Int32), None);
        assert_eq!(dividend_scale(&DataType::Float64, &d(2, 1)), None);
    }
}
