//! `NULLIF(a, b)` has `a`'s type in PostgreSQL where its `=` takes `a` as
//! it is ([`keeps_first_type`]): `NULLIF(-37, count(*))` is `integer`,
//! `NULLIF(real_col, avg(i))` is `real`. DataFusion coerces both arguments
//! to a common type and answers `bigint`, `numeric`. The value is `a` or
//! NULL, so reading it back in `a`'s type is exact (the common type is
//! wider). Before type coercion, such a
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

/// Whether PostgreSQL's `a = b` takes `a` as it is, so that `NULLIF(a,
/// b)` has `a`'s type: integers beside integers (cross-width operators),
/// a float beside any number (the other side is read as a float), a
/// `numeric` beside an integer or a `numeric`. Otherwise `a` is converted
/// first (`NULLIF(int, 7.5)` is `numeric` there too) and DataFusion's
/// common type stands.
fn keeps_first_type(a: &DataType, b: &DataType) -> bool {
    let number = |t: &DataType| t.is_integer() || t.is_floating() || t.is_decimal();
    (a.is_integer() && b.is_integer())
        || (a.is_floating() && number(b))
        || (a.is_decimal() && (b.is_integer() || b.is_decimal()))
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
    // An integer beside a float is compared as `double precision` in
    // PostgreSQL, and that is NULLIF's type; DataFusion's common type of
    // `integer` and `real` is `real`, which would also round the integer.
    if a.is_integer() && b.is_floating() {
        let mut call = call.clone();
        call.args = vec![
            cast(first.clone(), DataType::Float64),
            cast(second.clone(), DataType::Float64),
        ];
        return Ok(Transformed::yes(Expr::ScalarFunction(call)));
    }
    if a == b || !keeps_first_type(&a, &b) {
        return Ok(Transformed::no(expr));
    }
    Ok(Transformed::yes(cast(expr, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each as `pg_typeof(NULLIF(a, b))` answers on PostgreSQL 15.
    #[test]
    fn the_first_type_stands_where_postgresql_compares_it_as_it_is() {
        assert!(keeps_first_type(&DataType::Int32, &DataType::Int64));
        assert!(keeps_first_type(
            &DataType::Float32,
            &DataType::Decimal128(38, 16)
        ));
        assert!(keeps_first_type(&DataType::Float32, &DataType::Int32));
        assert!(keeps_first_type(
            &DataType::Decimal128(10, 2),
            &DataType::Int64
        ));
        // NULLIF(i, 7.5) is numeric.
        assert!(!keeps_first_type(
            &DataType::Int32,
            &DataType::Decimal128(2, 1)
        ));
        assert!(!keeps_first_type(&DataType::Utf8, &DataType::Utf8View));
    }
}
