//! PostgreSQL types an integer literal as `integer` when it fits 32 bits
//! (`bigint` above, `numeric` beyond); DataFusion types all of them as
//! `bigint`. The difference shows in arithmetic: `2147483647::int + 1` is
//! `integer + integer` in PostgreSQL and overflows (22003), while DataFusion
//! widens it to `bigint` and answers 2147483648. So the operands of
//! arithmetic that are integer literals are narrowed to `integer` before type
//! coercion; coercion widens them again wherever the other side is `bigint`.
//!
//! Only arithmetic operands are narrowed: elsewhere (LIMIT, function
//! arguments, a bare `SELECT 1`) the literal's width cannot change a value.
//! Each expression's result is cast back to the type DataFusion gave it, so
//! this rule never changes a column's type: the constants of a query get
//! PostgreSQL's type before planning (`catalog::pg_rewrites::result_types`);
//! what reaches this rule untyped (an `UPDATE … SET x = x + 1`, a
//! statement planned from text Brook did not rewrite) is only checked.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::{Alias, BinaryExpr};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Operator};
use datafusion::logical_expr::{ExprSchemable, cast};
use datafusion::optimizer::AnalyzerRule;

/// The analyzer rule; runs before DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            // A LIMIT's count must stay the bigint DataFusion expects.
            if matches!(plan, LogicalPlan::Limit(_)) {
                return Ok(Transformed::no(plan));
            }
            let names = NamePreserver::new(&plan);
            let schema = super::input_schema(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                let declared = expr.get_type(&schema).ok();
                expr.transform_up(narrow_operands).map(|t| {
                    t.update_data(|e| name.restore(keep_type(e, declared.as_ref(), &schema)))
                })
            })?
            .map_data(|plan| plan.recompute_schema())
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "brook_integer_literals"
    }
}

/// `expr` cast back to the type DataFusion gave it before narrowing: the
/// arithmetic inside is checked at PostgreSQL's width, but the result keeps
/// the type the plan had (a plan a hook stored unanalyzed may still be
/// described from that type, and rows encoded in binary must match it).
fn keep_type(expr: Expr, declared: Option<&DataType>, schema: &DFSchema) -> Expr {
    let Some(declared) = declared else {
        return expr;
    };
    if expr.get_type(schema).ok().as_ref() == Some(declared) {
        return expr;
    }
    match expr {
        Expr::Alias(Alias {
            expr,
            relation,
            name,
            metadata,
        }) => Expr::Alias(Alias {
            expr: Box::new(cast(*expr, declared.clone())),
            relation,
            name,
            metadata,
        }),
        other => cast(other, declared.clone()),
    }
}

fn is_arithmetic(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide | Operator::Modulo
    )
}

/// `Int64` literal `v` as PostgreSQL would type it, if that is `integer`.
fn narrowed(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::Literal(ScalarValue::Int64(Some(v)), metadata) => i32::try_from(*v)
            .ok()
            .map(|v| Expr::Literal(ScalarValue::Int32(Some(v)), metadata.clone())),
        _ => None,
    }
}

fn is_untyped_null(expr: &Expr) -> bool {
    matches!(expr, Expr::Literal(ScalarValue::Null, _))
}

fn ambiguous(operator: String) -> datafusion::error::DataFusionError {
    crate::error::external(super::error::SemanticsError::AmbiguousOperator(operator))
}

fn narrow_operands(expr: Expr) -> Result<Transformed<Expr>> {
    // PostgreSQL cannot choose an operator for untyped NULLs alone
    // (`- NULL`, `NULL + NULL`: 42725); DataFusion answered NULL.
    if let Expr::Negative(inner) = &expr
        && is_untyped_null(inner)
    {
        return Err(ambiguous("- unknown".into()));
    }
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return Ok(Transformed::no(expr));
    };
    if is_arithmetic(&op) && is_untyped_null(&left) && is_untyped_null(&right) {
        return Err(ambiguous(format!("unknown {op} unknown")));
    }
    if !is_arithmetic(&op) {
        return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
            left,
            op,
            right,
        })));
    }
    let new_left = narrowed(&left);
    let new_right = narrowed(&right);
    if new_left.is_none() && new_right.is_none() {
        return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
            left,
            op,
            right,
        })));
    }
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
        left: new_left.map(Box::new).unwrap_or(left),
        op,
        right: new_right.map(Box::new).unwrap_or(right),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn literals_that_fit_become_integer_and_others_stay_bigint() {
        let e = narrow_operands(col("a") + lit(1i64)).unwrap().data;
        assert_eq!(e, col("a") + lit(1i32));
        let big = narrow_operands(col("a") + lit(5_000_000_000i64)).unwrap();
        assert!(!big.transformed);
        // Comparisons keep their literal: its width cannot change the answer.
        let cmp = narrow_operands(col("a").eq(lit(1i64))).unwrap();
        assert!(!cmp.transformed);
    }
}
