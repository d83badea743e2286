//! Text read as a `timestamp`, `timestamptz` or `date` the way PostgreSQL
//! reads it where Arrow's parser does not: a time without seconds
//! (`'2024-01-01 12:00'`, `'2024-01-01 12:00+02'`), which every
//! PostgreSQL user writes and Arrow refused ("error parsing time") — in an
//! INSERT, a comparison, a cast. After type coercion, each cast from a
//! string to a date or time type reads the text through [`normalize`],
//! which spells such input as Arrow parses it (`12:00:00`); Arrow's cast
//! still does the parsing, so every form it knew keeps its meaning.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
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

/// The analyzer rule; runs after DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct TimestampInput;

impl AnalyzerRule for TimestampInput {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, read_as_postgres)
    }

    fn name(&self) -> &str {
        "brook_timestamp_input"
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    )
}

fn is_moment(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

fn read_as_postgres(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (inner, field, try_cast) = match &expr {
        Expr::Cast(Cast { expr, field }) => (expr, field, false),
        Expr::TryCast(TryCast { expr, field }) => (expr, field, true),
        _ => return Ok(Transformed::no(expr)),
    };
    if !is_moment(field.data_type()) {
        return Ok(Transformed::no(expr));
    }
    // Already read through `normalize` (the rule may see a plan twice).
    if let Expr::ScalarFunction(call) = inner.as_ref()
        && call.func.name() == UDF.name()
    {
        return Ok(Transformed::no(expr));
    }
    if !inner.get_type(schema).is_ok_and(|t| is_text(&t)) {
        return Ok(Transformed::no(expr));
    }
    let text = cast(inner.as_ref().clone(), DataType::Utf8);
    let normalized = Expr::ScalarFunction(ScalarFunction::new_udf(UDF.clone(), vec![text]));
    let field = field.clone();
    Ok(Transformed::yes(if try_cast {
        Expr::TryCast(TryCast::new_from_field(Box::new(normalized), field))
    } else {
        Expr::Cast(Cast::new_from_field(Box::new(normalized), field))
    }))
}

static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(
        SimpleScalarUDF::new_with_signature(
            "brook_timestamp_in",
            Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            DataType::Utf8,
            Arc::new(normalize_values),
        ),
    ))
});

fn normalize_values(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    match &args[0] {
        ColumnarValue::Scalar(ScalarValue::Utf8(text)) => Ok(ColumnarValue::Scalar(
            ScalarValue::Utf8(text.as_deref().map(normalize)),
        )),
        other => {
            let array = other.to_array(1)?;
            let texts = array
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal("timestamp input: not text".into())
                })?;
            let normalized: StringArray = texts.iter().map(|t| t.map(normalize)).collect();
            let array: ArrayRef = Arc::new(normalized);
            Ok(ColumnarValue::Array(array))
        }
    }
}

/// `text` as Arrow's parser reads what PostgreSQL reads: a time of day
/// given as hours and minutes gets `:00` seconds. Anything else is
/// returned as it is (Arrow's parser judges it).
pub fn normalize(text: &str) -> String {
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    // `YYYY-MM-DD` then a space or `T`, then `HH:MM`.
    let date_end = bytes
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'-')
        .count();
    if date_end < 8 || bytes.get(date_end).is_none_or(|b| *b != b' ' && *b != b'T') {
        return trimmed.to_string();
    }
    let time = &bytes[date_end + 1..];
    let hours = time.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&hours) || time.get(hours) != Some(&b':') {
        return trimmed.to_string();
    }
    let minutes = time[hours + 1..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if minutes != 2 {
        return trimmed.to_string();
    }
    let end = date_end + 1 + hours + 1 + minutes;
    match bytes.get(end) {
        // Seconds are there already.
        Some(b':') => trimmed.to_string(),
        _ => format!("{}:00{}", &trimmed[..end], &trimmed[end..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_without_seconds_get_them() {
        assert_eq!(normalize("2024-01-01 12:00"), "2024-01-01 12:00:00");
        assert_eq!(normalize(" 2024-01-01T09:30 "), "2024-01-01T09:30:00");
        assert_eq!(normalize("2024-01-01 12:00+02"), "2024-01-01 12:00:00+02");
        assert_eq!(normalize("2024-01-01 12:00 UTC"), "2024-01-01 12:00:00 UTC");
        assert_eq!(normalize("2024-01-01 12:00:05.5"), "2024-01-01 12:00:05.5");
        assert_eq!(normalize("2024-01-01"), "2024-01-01");
        assert_eq!(normalize("banana 12:00"), "banana 12:00");
    }
}
