//! Text read as `bytea` the way PostgreSQL's `byteain` reads it: `\x0aff`
//! is hex (two bytes), anything else is the escape format (`\\` a
//! backslash, `\377` an octal byte, other characters themselves). Arrow's
//! cast from a string to binary takes the string's own bytes, so
//! `'\x00ff'::bytea` was the six bytes `\x00ff` and an `INSERT` of a
//! driver's bytea parameter sent as text (psycopg2 sends every parameter
//! so) stored the text, not the bytes: a wrong value, read back as such.
//! After type coercion, every cast from a string to a binary type is done
//! by [`decode`] instead.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarUDF, Signature, SimpleScalarUDF,
    Volatility, cast,
};
use datafusion::optimizer::AnalyzerRule;

use super::error::SemanticsError;

/// The analyzer rule; runs after DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct ByteaText;

impl AnalyzerRule for ByteaText {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, as_bytea)
    }

    fn name(&self) -> &str {
        "brook_bytea_text"
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    )
}

fn is_binary(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::BinaryView | DataType::LargeBinary
    )
}

fn as_bytea(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (inner, target) = match &expr {
        Expr::Cast(Cast { expr: inner, field }) | Expr::TryCast(TryCast { expr: inner, field }) => {
            (inner, field.data_type().clone())
        }
        _ => return Ok(Transformed::no(expr)),
    };
    let from_text = inner.get_type(schema).is_ok_and(|t| is_text(&t));
    if !(from_text && is_binary(&target)) {
        return Ok(Transformed::no(expr));
    }
    let text = cast(inner.as_ref().clone(), DataType::Utf8);
    let bytes = Expr::ScalarFunction(ScalarFunction::new_udf(UDF.clone(), vec![text]));
    Ok(Transformed::yes(match target {
        DataType::Binary => bytes,
        other => cast(bytes, other),
    }))
}

static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(
        SimpleScalarUDF::new_with_signature(
            "brook_bytea_in",
            Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            DataType::Binary,
            Arc::new(decode_values),
        ),
    ))
});

fn decode_values(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let texts = arrays[0]
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("bytea input: not text".into())
        })?;
    let bytes: BinaryArray = (0..texts.len())
        .map(|i| {
            texts
                .is_valid(i)
                .then(|| decode(texts.value(i)))
                .transpose()
        })
        .collect::<std::result::Result<_, SemanticsError>>()
        .map_err(crate::error::external)?;
    let array: ArrayRef = Arc::new(bytes);
    Ok(match &args[0] {
        ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?),
        ColumnarValue::Array(_) => ColumnarValue::Array(array),
    })
}

/// PostgreSQL's `byteain`.
pub fn decode(text: &str) -> std::result::Result<Vec<u8>, SemanticsError> {
    match text.strip_prefix("\\x") {
        Some(hex) => decode_hex(hex),
        None => decode_escaped(text),
    }
}

fn decode_hex(hex: &str) -> std::result::Result<Vec<u8>, SemanticsError> {
    let digit = |c: u8| -> std::result::Result<u8, SemanticsError> {
        (c as char).to_digit(16).map(|d| d as u8).ok_or_else(|| {
            SemanticsError::InvalidInput(format!("invalid hexadecimal digit: \"{}\"", c as char))
        })
    };
    let mut out = Vec::with_capacity(hex.len() / 2);
    let mut digits = hex.bytes().filter(|c| !c.is_ascii_whitespace());
    while let Some(high) = digits.next() {
        let Some(low) = digits.next() else {
            return Err(SemanticsError::InvalidInput(
                "invalid hexadecimal data: odd number of digits".into(),
            ));
        };
        out.push(digit(high)? << 4 | digit(low)?);
    }
    Ok(out)
}

fn decode_escaped(text: &str) -> std::result::Result<Vec<u8>, SemanticsError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let invalid =
        || SemanticsError::InvalidInput("invalid input syntax for type bytea".to_string());
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1..i + 4) {
            Some([a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7']) => {
                out.push((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'));
                i += 4;
            }
            _ if bytes.get(i + 1) == Some(&b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each as PostgreSQL 15 reads it.
    #[test]
    fn text_reads_as_postgresql_reads_bytea() {
        assert_eq!(decode("\\x00ff5c").unwrap(), vec![0, 255, 92]);
        assert_eq!(decode("\\x00 FF").unwrap(), vec![0, 255]);
        assert_eq!(decode("\\x").unwrap(), Vec::<u8>::new());
        assert_eq!(decode("abc").unwrap(), b"abc".to_vec());
        assert_eq!(
            decode("a\\\\b\\000\\377").unwrap(),
            vec![b'a', b'\\', b'b', 0, 255]
        );
        assert!(decode("\\x0").is_err());
        assert!(decode("\\xzz").is_err());
        assert!(decode("a\\b").is_err());
    }
}
