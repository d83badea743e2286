//! Casts to the types Brook keeps as text: `x::uuid`, `x::json`,
//! `x::jsonb`, `x::varchar(n)`.
//!
//! DataFusion has no uuid or json type (its SQL planner refuses the cast)
//! and plans `varchar` as `text`, so a client asking `SELECT $1::uuid` got
//! an error, and `SELECT 'a'::varchar` was described as `text`.
//! [`super::pg_rewrites`] turns each such cast into one of these functions
//! over the text: each checks and normalises the value as the type's input
//! function does (`'nope'::uuid` is 22P02, `'{"b":1,"a":2}'::jsonb` prints
//! `{"a": 2, "b": 1}`), and its name tells the result's description which
//! type the column is (`catalog::declared_types`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use crate::storage::text_types::TextType;

/// The function a cast to `kind` becomes.
pub fn function_name(kind: TextType) -> &'static str {
    match kind {
        TextType::Varchar => "brook_varchar",
        TextType::Uuid => "brook_uuid",
        TextType::Json => "brook_json",
        TextType::Jsonb => "brook_jsonb",
    }
}

/// The type a call of function `name` casts to, if it is one of these.
pub fn cast_type(name: &str) -> Option<TextType> {
    TextType::ALL
        .into_iter()
        .find(|kind| function_name(*kind) == name)
}

pub fn register(ctx: &SessionContext) {
    for kind in TextType::ALL {
        super::pg_functions::replace_udf(ctx, ScalarUDF::new_from_impl(TextCast::new(kind)));
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TextCast {
    kind: TextType,
    signature: Signature,
}

impl TextCast {
    fn new(kind: TextType) -> Self {
        // varchar takes its length: `brook_varchar(text, n)`.
        let signature = Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
            ],
            Volatility::Immutable,
        );
        Self { kind, signature }
    }
}

impl ScalarUDFImpl for TextCast {
    fn name(&self) -> &str {
        function_name(self.kind)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(texts) = arrays.first() else {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "{} takes the text to cast",
                self.name()
            )));
        };
        let texts = texts.as_string::<i32>();
        let lengths = arrays
            .get(1)
            .map(|a| a.as_primitive::<datafusion::arrow::datatypes::Int64Type>());
        let mut out = StringBuilder::with_capacity(texts.len(), texts.value_data().len());
        for row in 0..texts.len() {
            if texts.is_null(row) {
                out.append_null();
                continue;
            }
            let text = texts.value(row);
            match lengths {
                // An explicit cast to varchar(n) cuts to n characters
                // (PostgreSQL never fails it on length).
                Some(lengths) if lengths.is_valid(row) => {
                    let n = usize::try_from(lengths.value(row)).unwrap_or(0);
                    match text.char_indices().nth(n) {
                        Some((end, _)) => out.append_value(&text[..end]),
                        None => out.append_value(text),
                    }
                }
                _ => out.append_value(self.kind.canonical(text).map_err(crate::error::external)?),
            }
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}
