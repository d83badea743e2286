//! PostgreSQL functions clients and hand-written SQL call that DataFusion
//! lacks or names otherwise: `pg_typeof`, `sign`, `mod`,
//! `pg_is_other_temp_schema`, `set_config` (its planning side), and the
//! `variance` aggregate (DataFusion's `var_samp`, which is what
//! PostgreSQL's `variance` is).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::numeric::rem;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_float64_array;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use crate::storage::types::column_type_for_arrow;

/// Register them in `ctx`.
pub fn register(ctx: &SessionContext) {
    super::pg_functions::replace_udf(ctx, ScalarUDF::new_from_impl(PgTypeof::new()));
    super::pg_functions::replace_udf(ctx, ScalarUDF::new_from_impl(Sign::new()));
    super::pg_functions::replace_udf(ctx, ScalarUDF::new_from_impl(Mod::new()));
    super::pg_functions::replace_udf(ctx, ScalarUDF::new_from_impl(OtherTempSchema::new()));
    super::pg_functions::replace_udf(ctx, ScalarUDF::new_from_impl(SetConfig::new()));
    let variance = datafusion::functions_aggregate::variance::var_samp_udaf()
        .as_ref()
        .clone()
        .with_aliases(["variance"]);
    ctx.register_udaf(variance);
}

/// `pg_typeof(x)`: the PostgreSQL name of the type the argument has here.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

impl PgTypeof {
    fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// PostgreSQL's name of an Arrow type as `pg_typeof` prints it (no typmod).
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Interval(_) => return "interval".to_string(),
        DataType::Time32(_) | DataType::Time64(_) => {
            return "time without time zone".to_string();
        }
        _ => {}
    }
    let name = column_type_for_arrow(data_type)
        .map(|t| t.pg_name)
        .unwrap_or_else(|_| "unknown".to_string());
    let base = name.split('(').next().unwrap_or(&name).to_string();
    match base.as_str() {
        "timestamp" => "timestamp without time zone".to_string(),
        "timestamptz" => "timestamp with time zone".to_string(),
        _ => base,
    }
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let name = type_name(&args.arg_fields[0].data_type().clone());
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

/// `sign(x)`: -1, 0 or 1 in the argument's own type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Sign {
    signature: Signature,
}

impl Sign {
    fn new() -> Self {
        Self {
            signature: Signature::one_of(
                [DataType::Int64, DataType::Float64]
                    .into_iter()
                    .map(|t| TypeSignature::Exact(vec![t]))
                    .chain([TypeSignature::Numeric(1)])
                    .collect(),
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for Sign {
    fn name(&self) -> &str {
        "sign"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let wide = cast(&input, &DataType::Float64)?;
        let signs: Float64Array = as_float64_array(&wide)?
            .iter()
            .map(|v| {
                v.map(|v| {
                    if v.is_nan() || v == 0.0 {
                        v
                    } else {
                        v.signum()
                    }
                })
            })
            .collect();
        let out = cast(&(Arc::new(signs) as ArrayRef), input.data_type())?;
        Ok(ColumnarValue::Array(out))
    }
}

/// `mod(a, b)`: the remainder of integers, with the sign of `a`; a zero
/// divisor is PostgreSQL's 22012.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Mod {
    signature: Signature,
}

impl Mod {
    fn new() -> Self {
        Self {
            signature: Signature::uniform(
                2,
                vec![DataType::Int16, DataType::Int32, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for Mod {
    fn name(&self) -> &str {
        "mod"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        Ok(args[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let a = args.args[0].to_array(args.number_rows)?;
        let b = args.args[1].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(rem(&a, &b)?))
    }
}

/// `pg_is_other_temp_schema(oid)`: false — another session's temporary
/// schema never appears in this session's catalog.
#[derive(Debug, PartialEq, Eq, Hash)]
struct OtherTempSchema {
    signature: Signature,
}

impl OtherTempSchema {
    fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Int32]),
                    TypeSignature::Exact(vec![DataType::Int64]),
                ],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for OtherTempSchema {
    fn name(&self) -> &str {
        "pg_is_other_temp_schema"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let oids = args.args[0].to_array(args.number_rows)?;
        let answers: BooleanArray = (0..oids.len())
            .map(|i| (!oids.is_null(i)).then_some(false))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(answers)))
    }
}

/// `set_config(name, value, is_local)`. The protocol layer carries it out
/// where a client calls it, as a statement of its own
/// (`SELECT pg_catalog.set_config('search_path', '', false)`, pg_dump's
/// first statement; `server::hooks::set`): a function has no hold on the
/// session's settings. Registered so that such a statement plans (a
/// prepared one is described before it runs); anywhere else (per row, in
/// a larger query) it is refused rather than silently changing nothing.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SetConfig {
    signature: Signature,
}

impl SetConfig {
    fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
                Volatility::Volatile,
            ),
        }
    }
}

impl ScalarUDFImpl for SetConfig {
    fn name(&self) -> &str {
        "set_config"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(crate::error::external(
            crate::error::BrookError::Unsupported(
                "set_config() other than alone in a SELECT with constant arguments \
             (SELECT set_config('name', 'value', false))"
                    .into(),
            ),
        ))
    }
}
