//! `real` arithmetic with anything but another `real` is `double precision`
//! in PostgreSQL: for `real + integer` its operator resolution finds both
//! `float4 + float4` and `float4 + float8` and takes the one over float8,
//! the numeric category's preferred type. DataFusion answers `real`, which
//! both rounds the value to 24 bits and tells the client the other type.
//!
//! The operands are widened while the SQL is planned (an [`ExprPlanner`]),
//! not by an analyzer rule, because a statement's result types are
//! described to the client from the plan before analysis.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{ExprSchemable, cast};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// The planner; registered ahead of DataFusion's own.
#[derive(Debug, Default)]
pub struct FloatWidening;

impl ExprPlanner for FloatWidening {
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
        let (Ok(left), Ok(right)) = (expr.left.get_type(schema), expr.right.get_type(schema))
        else {
            return Ok(PlannerResult::Original(expr));
        };
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
}
