//! `avg` of integers and `sum` of `bigint` are `numeric` in PostgreSQL:
//! `avg(int)` of 1 and 2 is `1.5000000000000000`, exact, and `sum(bigint)`
//! cannot overflow. DataFusion answers `avg(int)` in `double precision`
//! (a client reading 1700 got 701, and `avg` of large integers lost digits)
//! and `sum(bigint)` in `bigint`. Before type coercion, such an aggregate's
//! argument is cast to a decimal, so that DataFusion's own decimal
//! accumulators (plain, DISTINCT, grouped and windowed alike) do the work:
//!
//! - `avg(integer)`: the argument as `numeric(38, 12)`, whose average
//!   DataFusion types `numeric(38, 16)` — the sixteen places PostgreSQL's
//!   numeric division gives a mean between 1 and 9999 (outside that range
//!   PostgreSQL writes more or fewer places of the same value).
//! - `sum(bigint)`: the argument as `numeric(38, 0)`, summed as
//!   `numeric(38, 0)`. `sum(integer)` stays `bigint`, as in PostgreSQL.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, WindowFunctionDefinition, cast};
use datafusion::optimizer::AnalyzerRule;
use datafusion::scalar::ScalarValue;

/// The scale `avg(integer)`'s argument is read at: DataFusion's average of
/// a decimal adds four places, giving PostgreSQL's sixteen.
const AVG_ARGUMENT_SCALE: i8 = 12;

/// The analyzer rule; runs before DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct AggregateTypes;

impl AnalyzerRule for AggregateTypes {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, numeric_argument)
    }

    fn name(&self) -> &str {
        "brook_aggregate_types"
    }
}

/// The decimal type `function`'s argument of type `argument` is read as,
/// if PostgreSQL answers that aggregate in `numeric`.
fn numeric_input(function: &str, argument: &DataType) -> Option<DataType> {
    match (function, argument) {
        ("avg" | "mean", t) if t.is_integer() => Some(DataType::Decimal128(38, AVG_ARGUMENT_SCALE)),
        ("sum", DataType::Int64 | DataType::UInt64) => Some(DataType::Decimal128(38, 0)),
        _ => None,
    }
}

fn numeric_argument(mut expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (function, args) = match &mut expr {
        Expr::AggregateFunction(call) => (call.func.name().to_string(), &mut call.params.args),
        Expr::WindowFunction(window) => match &window.fun {
            WindowFunctionDefinition::AggregateUDF(function) => {
                (function.name().to_string(), &mut window.params.args)
            }
            WindowFunctionDefinition::WindowUDF(_) => return Ok(Transformed::no(expr)),
        },
        _ => return Ok(Transformed::no(expr)),
    };
    let [argument] = args.as_mut_slice() else {
        return Ok(Transformed::no(expr));
    };
    let Some(decimal) = argument
        .get_type(schema)
        .ok()
        .and_then(|t| numeric_input(&function, &t))
    else {
        return Ok(Transformed::no(expr));
    };
    let plain = std::mem::replace(argument, Expr::Literal(ScalarValue::Null, None));
    *argument = cast(plain, decimal);
    Ok(Transformed::yes(expr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_means_and_bigint_sums_are_numeric() {
        assert_eq!(
            numeric_input("avg", &DataType::Int32),
            Some(DataType::Decimal128(38, 12))
        );
        assert_eq!(
            numeric_input("sum", &DataType::Int64),
            Some(DataType::Decimal128(38, 0))
        );
        assert_eq!(numeric_input("sum", &DataType::Int32), None);
        assert_eq!(numeric_input("avg", &DataType::Float64), None);
        assert_eq!(numeric_input("avg", &DataType::Decimal128(10, 2)), None);
    }
}
