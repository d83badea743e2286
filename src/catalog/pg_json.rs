//! `json_build_object(key, value, …)`, which DataFusion lacks and
//! SQLAlchemy's column reflection calls (identity options, collations).
//! The answer is JSON text, as PostgreSQL's `json` type prints it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr_fn::SimpleScalarUDF;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, Volatility};
use datafusion::prelude::SessionContext;
use serde_json::{Map, Number, Value};

pub fn register(ctx: &SessionContext) {
    super::pg_functions::replace_udf(
        ctx,
        ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
            "json_build_object",
            Signature::variadic_any(Volatility::Immutable),
            DataType::Utf8,
            Arc::new(json_build_object),
        )),
    );
}

fn json_build_object(args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    if !args.len().is_multiple_of(2) {
        return Err(DataFusionError::Plan(
            "argument list must have even number of elements (json_build_object takes key, value pairs)"
                .to_string(),
        ));
    }
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let rows = arrays.first().map_or(1, |a| a.len());
    let objects = (0..rows)
        .map(|row| {
            let mut object = Map::new();
            for pair in arrays.chunks(2) {
                let key = ScalarValue::try_from_array(&pair[0], row)?;
                if key.is_null() {
                    return Err(DataFusionError::Execution(
                        "null value not allowed for object key".to_string(),
                    ));
                }
                let value = ScalarValue::try_from_array(&pair[1], row)?;
                object.insert(text(&key), json(&value));
            }
            Ok(Some(Value::Object(object).to_string()))
        })
        .collect::<DfResult<StringArray>>()?;
    Ok(ColumnarValue::Array(Arc::new(objects) as ArrayRef))
}

fn text(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

fn json(value: &ScalarValue) -> Value {
    if value.is_null() {
        return Value::Null;
    }
    match value {
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(Some(n)) => Value::from(*n),
        ScalarValue::Int16(Some(n)) => Value::from(*n),
        ScalarValue::Int32(Some(n)) => Value::from(*n),
        ScalarValue::Int64(Some(n)) => Value::from(*n),
        ScalarValue::UInt8(Some(n)) => Value::from(*n),
        ScalarValue::UInt16(Some(n)) => Value::from(*n),
        ScalarValue::UInt32(Some(n)) => Value::from(*n),
        ScalarValue::UInt64(Some(n)) => Value::from(*n),
        ScalarValue::Float32(Some(f)) => {
            Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number)
        }
        ScalarValue::Float64(Some(f)) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        other => Value::String(text(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_an_object_per_row() {
        let ctx = SessionContext::new();
        register(&ctx);
        let batches = ctx
            .sql("SELECT json_build_object('a', x, 'b', 'two', 'c', NULL) AS j FROM (VALUES (1), (2)) t(x)")
            .await
            .expect("plans")
            .collect()
            .await
            .expect("runs");
        let column = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("prints")
            .to_string();
        assert!(column.contains(r#"{"a":1,"b":"two","c":null}"#), "{column}");
        assert!(column.contains(r#"{"a":2,"b":"two","c":null}"#), "{column}");
        let odd = ctx.sql("SELECT json_build_object('a')").await;
        let odd = match odd {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(odd.is_err());
    }
}
