//! Integer `+`, `-` and `*` that fail with 22003 instead of wrapping, and
//! float-to-integer casts that round instead of truncating.
//!
//! DataFusion's physical `BinaryExpr` can check for overflow, but its planner
//! never asks it to, so `9223372036854775807 + 1` wraps to the most negative
//! bigint. After type coercion both operands of an integer operator have the
//! same type; this rule replaces such an operator by a function that runs
//! Arrow's checked kernel for that type. Arrow's cast from a float or a
//! decimal to an integer truncates (`2.5::int` is 2); PostgreSQL rounds a
//! numeric half away from zero (3) and a `double precision` value half to
//! even.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, ExprSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{BinaryExpr, Cast, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use super::error::SemanticsError;

/// The analyzer rule; runs after DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct CheckedArithmetic;

impl AnalyzerRule for CheckedArithmetic {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = super::input_schema(&plan);
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_up(|e| rewrite(e, &schema))
                    .map(|t| t.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "brook_checked_arithmetic"
    }
}

fn is_signed_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

/// The value of `expr` if it is a constant: a literal, maybe cast or
/// negated (`CAST(79 AS INT4)`, `-CAST(79 AS INT4)`: how
/// `catalog::pg_rewrites` types an integer constant).
fn constant(expr: &Expr) -> Option<ScalarValue> {
    match expr {
        Expr::Literal(v, _) if !v.is_null() => Some(v.clone()),
        // A cast that does not fit (NULL from a safe cast) is left to run.
        Expr::Cast(Cast { expr, field }) => constant(expr)?
            .cast_to(field.data_type())
            .ok()
            .filter(|v| !v.is_null()),
        Expr::Negative(inner) => constant(inner)?.arithmetic_negate().ok(),
        _ => None,
    }
}

fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Plus | Operator::Minus | Operator::Multiply) =>
        {
            let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            };
            if lt != rt || !is_signed_integer(&lt) {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            }
            // Constants are computed now, as PostgreSQL folds them while
            // planning: an overflow is an error even in a CASE branch that
            // no row takes.
            if let (Some(l), Some(r)) = (constant(&left), constant(&right)) {
                let result = checked_apply(&op, &l.to_array()?, &r.to_array()?)?;
                return Ok(Transformed::yes(Expr::Literal(
                    ScalarValue::try_from_array(&result, 0)?,
                    None,
                )));
            }
            let udf = match op {
                Operator::Plus => &*CHECKED_ADD,
                Operator::Minus => &*CHECKED_SUB,
                _ => &*CHECKED_MUL,
            };
            Ok(Transformed::yes(Expr::ScalarFunction(
                ScalarFunction::new_udf(udf.clone(), vec![*left, *right]),
            )))
        }
        Expr::Cast(Cast { expr, field }) if is_signed_integer(field.data_type()) => {
            let source = expr.get_type(schema).unwrap_or(DataType::Null);
            if let DataType::Decimal128(_, scale) | DataType::Decimal256(_, scale) = source
                && scale > 0
            {
                // numeric to an integer rounds half away from zero, which
                // is DataFusion's round of a decimal; Arrow's cast truncates.
                let rounded = Expr::ScalarFunction(ScalarFunction::new_udf(
                    datafusion::functions::math::round(),
                    vec![*expr],
                ));
                return Ok(Transformed::yes(Expr::Cast(Cast {
                    expr: Box::new(rounded),
                    field,
                })));
            }
            if !matches!(
                source,
                DataType::Float16 | DataType::Float32 | DataType::Float64
            ) {
                return Ok(Transformed::no(Expr::Cast(Cast { expr, field })));
            }
            let rounded = match *expr {
                // A literal with a fraction is a numeric in PostgreSQL:
                // half away from zero, as f64::round.
                Expr::Literal(ScalarValue::Float64(Some(v)), m) => {
                    Expr::Literal(ScalarValue::Float64(Some(v.round())), m)
                }
                Expr::Literal(ScalarValue::Float32(Some(v)), m) => {
                    Expr::Literal(ScalarValue::Float32(Some(v.round())), m)
                }
                other => Expr::ScalarFunction(ScalarFunction::new_udf(
                    RINT.clone(),
                    vec![other.cast_to(&DataType::Float64, schema)?],
                )),
            };
            Ok(Transformed::yes(Expr::Cast(Cast {
                expr: Box::new(rounded),
                field,
            })))
        }
        // round(double precision) rounds half to even in PostgreSQL (rint);
        // DataFusion's round goes half away from zero, which is PostgreSQL's
        // rule for numeric. A float computed from float columns alone is a
        // double in PostgreSQL too; anything with a literal fraction or an
        // integer in it would be numeric there, and keeps DataFusion's round.
        Expr::ScalarFunction(f)
            if f.func.name() == "round"
                && f.args.len() == 1
                && is_double_in_postgres(&f.args[0], schema) =>
        {
            let arg = f
                .args
                .into_iter()
                .next()
                .unwrap_or(Expr::Literal(ScalarValue::Null, None));
            let declared = arg.get_type(schema)?;
            let arg = arg.cast_to(&DataType::Float64, schema)?;
            let rounded = Expr::ScalarFunction(ScalarFunction::new_udf(RINT.clone(), vec![arg]));
            // round(real) stays real.
            Ok(Transformed::yes(rounded.cast_to(&declared, schema)?))
        }
        other => Ok(Transformed::no(other)),
    }
}

/// Whether PostgreSQL would type `expr` as a float: it reads only float
/// columns and holds no literal (which PostgreSQL would read as numeric).
fn is_double_in_postgres(expr: &Expr, schema: &DFSchema) -> bool {
    let columns = expr.column_refs();
    !columns.is_empty()
        && columns.iter().all(|c| {
            schema
                .field_from_column(c)
                .is_ok_and(|f| matches!(f.data_type(), DataType::Float32 | DataType::Float64))
        })
        && !expr
            .exists(|e| Ok(matches!(e, Expr::Literal(..))))
            .unwrap_or(true)
}

/// One of `+ - *` over two integers of the same type, checked.
#[derive(Debug, PartialEq, Eq)]
struct CheckedOperator {
    name: &'static str,
    op: Operator,
    signature: Signature,
}

impl Hash for CheckedOperator {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn checked(name: &'static str, op: Operator) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(CheckedOperator {
        name,
        op,
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

static CHECKED_ADD: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| checked("int_add", Operator::Plus));
static CHECKED_SUB: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| checked("int_sub", Operator::Minus));
static CHECKED_MUL: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| checked("int_mul", Operator::Multiply));
static RINT: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(Rint {
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    }))
});

/// `left op right` with Arrow's checked kernels; overflow is 22003.
fn checked_apply(op: &Operator, left: &ArrayRef, right: &ArrayRef) -> Result<ArrayRef> {
    let result: std::result::Result<ArrayRef, ArrowError> = match op {
        Operator::Plus => numeric::add(left, right),
        Operator::Minus => numeric::sub(left, right),
        _ => numeric::mul(left, right),
    };
    result.map_err(|e| match e {
        ArrowError::ArithmeticOverflow(_) => crate::error::external(SemanticsError::OutOfRange(
            format!("{} out of range", type_name(left.data_type())),
        )),
        other => DataFusionError::from(other),
    })
}

/// PostgreSQL's name for an integer type, for its "out of range" message.
fn type_name(t: &DataType) -> &'static str {
    match t {
        DataType::Int8 | DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        _ => "bigint",
    }
}

impl ScalarUDFImpl for CheckedOperator {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Int64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (Some(left), Some(right)) = (arrays.first(), arrays.get(1)) else {
            return Err(DataFusionError::Internal(format!(
                "{} takes two arguments",
                self.name
            )));
        };
        let result = checked_apply(&self.op, left, right)?;
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

/// Round half to even, as PostgreSQL's float-to-integer casts do (`rint`).
#[derive(Debug, PartialEq, Eq)]
struct Rint {
    signature: Signature,
}

impl Hash for Rint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "rint".hash(state);
    }
}

impl ScalarUDFImpl for Rint {
    fn name(&self) -> &str {
        "rint"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(value) = args.args.first() else {
            return Err(DataFusionError::Internal("rint takes one argument".into()));
        };
        match value {
            ColumnarValue::Scalar(ScalarValue::Float64(v)) => Ok(ColumnarValue::Scalar(
                ScalarValue::Float64(v.map(f64::round_ties_even)),
            )),
            other => {
                let array = other.to_array(args.number_rows)?;
                let floats = array.as_primitive::<Float64Type>();
                let rounded: ArrayRef =
                    Arc::new(floats.unary::<_, Float64Type>(f64::round_ties_even));
                debug_assert_eq!(rounded.len(), floats.len());
                Ok(ColumnarValue::Array(rounded))
            }
        }
    }
}
