//! `NULLIF(a, b)` of two integers has `a`'s type in PostgreSQL (its `=`
//! has cross-width integer operators, so neither side is converted):
//! `NULLIF(-37, count(*))` is `integer`. DataFusion coerces both arguments
//! to a common type and answers `bigint`. Before type coercion, such a
//! call is cast to its first argument's type; the value cannot change (it
//! is `a` or NULL).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, cast};
use datafusion::optimizer::AnalyzerRule;

/// The analyzer rule; runs before DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct NullifType;

impl AnalyzerRule for NullifType {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, first_argument_type)
    }

    fn name(&self) -> &str {
        "brook_nullif_type"
    }
}

fn first_argument_type(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(call) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if call.func.name() != "nullif" {
        return Ok(Transformed::no(expr));
    }
    let [first, second] = call.args.as_slice() else {
        return Ok(Transformed::no(expr));
    };
    let (Ok(a), Ok(b)) = (first.get_type(schema), second.get_type(schema)) else {
        return Ok(Transformed::no(expr));
    };
    if a == b || !a.is_integer() || !b.is_integer() || a == DataType::Null {
        return Ok(Transformed::no(expr));
    }
    Ok(Transformed::yes(cast(expr, a)))
}
