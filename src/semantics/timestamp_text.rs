//! A `timestamp` as text, as PostgreSQL writes it: `2024-01-01 12:00:00`,
//! fractional seconds only when there are any (`…:00.5`). Arrow's cast
//! writes ISO 8601 with a `T` (`2024-01-01T12:00:00`), so `CAST(ts AS
//! text)`, `ts::text` and the casts type coercion inserts (`ts || 'x'`)
//! gave other strings than PostgreSQL's. A `timestamptz` reads
//! `2024-01-01 07:00:00-05`: the time in the session's zone (whatever zone
//! the value was stored with), then the offset in hours, with minutes only when there are
//! any (Arrow: `2024-01-01T07:00:00-05:00`). After type coercion, each
//! cast of a timestamp to a string type is written by [`format`] instead.

use std::sync::{Arc, LazyLock};

use chrono::Offset;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarUDF, Signature, SimpleScalarUDF,
    Volatility, cast,
};
use datafusion::optimizer::AnalyzerRule;

/// The analyzer rule; runs after DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct TimestampText;

impl AnalyzerRule for TimestampText {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let zone = config
            .execution
            .time_zone
            .clone()
            .unwrap_or_else(|| "UTC".to_string());
        super::rewrite_expressions(plan, |expr, schema| as_postgres_text(expr, schema, &zone))
    }

    fn name(&self) -> &str {
        "brook_timestamp_text"
    }
}

fn as_postgres_text(expr: Expr, schema: &DFSchema, zone: &str) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr: inner, field }) = expr else {
        return Ok(Transformed::no(expr));
    };
    let data_type = field.data_type().clone();
    let to_text = matches!(
        data_type,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    );
    let source = inner.get_type(schema);
    let (from_timestamp, zoned) = match &source {
        Ok(DataType::Timestamp(_, zone)) => (true, zone.is_some()),
        _ => (false, false),
    };
    if !(to_text && from_timestamp) {
        return Ok(Transformed::no(Expr::Cast(Cast { expr: inner, field })));
    }
    // A timestamptz is written in the session's zone.
    let mut args = vec![*inner];
    if zoned {
        args.push(Expr::Literal(
            datafusion::common::ScalarValue::Utf8(Some(zone.to_string())),
            None,
        ));
    }
    let text = Expr::ScalarFunction(ScalarFunction::new_udf(UDF.clone(), args));
    Ok(Transformed::yes(match data_type {
        DataType::Utf8 => text,
        other => cast(text, other),
    }))
}

static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
    Arc::new(ScalarUDF::new_from_impl(
        SimpleScalarUDF::new_with_signature(
            "brook_timestamp_text",
            Signature::variadic_any(Volatility::Immutable),
            DataType::Utf8,
            Arc::new(format),
        ),
    ))
});

/// PostgreSQL's text of each timestamp.
fn format(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let zone = match args.get(1) {
        Some(ColumnarValue::Scalar(datafusion::common::ScalarValue::Utf8(Some(zone)))) => {
            Some(zone.parse::<Tz>()?)
        }
        _ => None,
    };
    let micros = datafusion::arrow::compute::cast(
        &arrays[0],
        &DataType::Timestamp(TimeUnit::Microsecond, None),
    )?;
    let micros = micros
        .as_any()
        .downcast_ref::<datafusion::arrow::array::TimestampMicrosecondArray>()
        .ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("timestamp text: not a timestamp".into())
        })?;
    let texts: StringArray = (0..micros.len())
        .map(|i| {
            micros.is_valid(i).then(|| match &zone {
                Some(zone) => zoned_text_of(micros.value(i), zone),
                None => text_of(micros.value(i)),
            })
        })
        .collect();
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let array: ArrayRef = Arc::new(texts);
    Ok(if scalar {
        ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&array, 0)?)
    } else {
        ColumnarValue::Array(array)
    })
}

/// `2024-01-01 12:00:00`, `…:00.5`, as PostgreSQL's timestamp_out.
fn text_of(micros: i64) -> String {
    let Some(moment) = chrono::DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let moment = moment.naive_utc();
    let mut text = moment.format("%Y-%m-%d %H:%M:%S").to_string();
    let fraction = micros.rem_euclid(1_000_000);
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text
}

/// `2024-01-01 07:00:00-05`, `…+05:30`, as PostgreSQL's timestamptz_out
/// writes the moment in `zone` (also for rows the server encodes,
/// `server::text_values`).
pub fn zoned_text_of(micros: i64, zone: &Tz) -> String {
    let Some(moment) = chrono::DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let local = moment.with_timezone(zone);
    let offset = local.offset().fix().local_minus_utc();
    let wall = micros + i64::from(offset) * 1_000_000;
    let mut text = text_of(wall);
    text.push(if offset < 0 { '-' } else { '+' });
    let offset = offset.unsigned_abs();
    text.push_str(&format!("{:02}", offset / 3600));
    if offset % 3600 != 0 {
        text.push_str(&format!(":{:02}", offset % 3600 / 60));
    }
    if offset % 60 != 0 {
        text.push_str(&format!(":{:02}", offset % 60));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_postgresql_writes_them() {
        assert_eq!(text_of(1_704_110_400_000_000), "2024-01-01 12:00:00");
        assert_eq!(text_of(1_704_110_400_500_000), "2024-01-01 12:00:00.5");
        assert_eq!(text_of(1_704_110_400_000_001), "2024-01-01 12:00:00.000001");
        assert_eq!(text_of(-1), "1969-12-31 23:59:59.999999");
    }

    #[test]
    fn zoned_timestamps_read_as_postgresql_writes_them() {
        let noon = 1_704_110_400_000_000;
        let zone = |z: &str| z.parse::<Tz>().expect("a zone");
        assert_eq!(
            zoned_text_of(noon, &zone("America/New_York")),
            "2024-01-01 07:00:00-05"
        );
        assert_eq!(
            zoned_text_of(noon, &zone("+00:00")),
            "2024-01-01 12:00:00+00"
        );
        assert_eq!(
            zoned_text_of(noon, &zone("Asia/Kolkata")),
            "2024-01-01 17:30:00+05:30"
        );
        assert_eq!(
            zoned_text_of(noon + 500_000, &zone("UTC")),
            "2024-01-01 12:00:00.5+00"
        );
    }
}
