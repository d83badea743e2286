//! `interval * number` and `interval / number`, which DataFusion 55 cannot
//! plan ("Invalid interval arithmetic operation") and PostgreSQL computes
//! field by field, cascading fractions down: `'1 day' * 1.5` is
//! `1 day 12:00:00` (a fraction of a month is 30 days, of a day 24 hours),
//! `'1 hour' / 4` is `00:15:00`. [`times`] and [`divided`] follow
//! PostgreSQL 15's `interval_mul` and `interval_div` step for step
//! (microsecond rounding included), so that the result's fields, which
//! decide how it prints and how it adds to a date, are PostgreSQL's.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, IntervalMonthDayNanoArray};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarUDF, Signature, SimpleScalarUDF, Volatility,
};

use super::error::SemanticsError;

const DAYS_PER_MONTH: f64 = 30.0;
const SECS_PER_DAY: f64 = 86_400.0;
const USECS_PER_SEC: f64 = 1_000_000.0;

/// `interval * factor` as PostgreSQL plans it (`factor` any number).
pub fn times(interval: Expr, factor: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        TIMES.clone(),
        vec![interval, factor],
    ))
}

/// `interval / divisor` as PostgreSQL plans it.
pub fn divided(interval: Expr, divisor: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        DIVIDED.clone(),
        vec![interval, divisor],
    ))
}

fn udf(
    name: &str,
    op: fn(IntervalMonthDayNano, f64) -> Result<IntervalMonthDayNano>,
) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(
        SimpleScalarUDF::new_with_signature(
            name,
            Signature::exact(
                vec![
                    DataType::Interval(IntervalUnit::MonthDayNano),
                    DataType::Float64,
                ],
                Volatility::Immutable,
            ),
            DataType::Interval(IntervalUnit::MonthDayNano),
            Arc::new(move |args: &[ColumnarValue]| apply(args, op)),
        ),
    ))
}

static TIMES: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| udf("brook_interval_mul", interval_mul));
static DIVIDED: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| udf("brook_interval_div", interval_div));

fn apply(
    args: &[ColumnarValue],
    op: fn(IntervalMonthDayNano, f64) -> Result<IntervalMonthDayNano>,
) -> Result<ColumnarValue> {
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let internal = |what: &str| DataFusionError::Internal(format!("interval arithmetic: {what}"));
    let intervals = arrays[0]
        .as_any()
        .downcast_ref::<IntervalMonthDayNanoArray>()
        .ok_or_else(|| internal("not an interval"))?;
    let factors = arrays[1]
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| internal("not a double"))?;
    let values = (0..intervals.len())
        .map(|i| {
            if intervals.is_null(i) || factors.is_null(i) {
                Ok(None)
            } else {
                op(intervals.value(i), factors.value(i)).map(Some)
            }
        })
        .collect::<Result<IntervalMonthDayNanoArray>>()?;
    let array: ArrayRef = Arc::new(values);
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
    } else {
        ColumnarValue::Array(array)
    })
}

/// PostgreSQL's `TSROUND`: to the microsecond.
fn ts_round(seconds: f64) -> f64 {
    (seconds * USECS_PER_SEC).round_ties_even() / USECS_PER_SEC
}

fn out_of_range() -> DataFusionError {
    crate::error::external(SemanticsError::OutOfRange("interval out of range".into()))
}

/// The fields of a result whose month and day parts are
/// `months_exact` and `days_exact` before truncation and whose time part
/// is `micros` (PostgreSQL's cascade: a month's fraction becomes days, a
/// day's fraction seconds).
fn cascade(
    months_exact: f64,
    days_exact: f64,
    micros: impl Fn(f64) -> f64,
) -> Result<IntervalMonthDayNano> {
    if !months_exact.is_finite() || !days_exact.is_finite() {
        return Err(out_of_range());
    }
    let months = months_exact.trunc();
    let mut days = days_exact.trunc();
    let month_remainder_days = ts_round((months_exact - months) * DAYS_PER_MONTH);
    let mut sec_remainder = ts_round(
        (days_exact - days + month_remainder_days - month_remainder_days.trunc()) * SECS_PER_DAY,
    );
    if sec_remainder.abs() >= SECS_PER_DAY {
        let whole_days = (sec_remainder / SECS_PER_DAY).trunc();
        days += whole_days;
        sec_remainder -= whole_days * SECS_PER_DAY;
    }
    days += month_remainder_days.trunc();
    let time = micros(sec_remainder * USECS_PER_SEC).round_ties_even();
    let fits_i32 = |v: f64| v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX);
    if !fits_i32(months) || !fits_i32(days) || !time.is_finite() || time.abs() >= 9.2e18 / 1000.0 {
        return Err(out_of_range());
    }
    // The casts are exact: each value was checked to fit above.
    Ok(IntervalMonthDayNano::new(
        months as i32,
        days as i32,
        time as i64 * 1000,
    ))
}

fn micros_of(interval: IntervalMonthDayNano) -> f64 {
    (interval.nanoseconds / 1000) as f64
}

fn interval_mul(interval: IntervalMonthDayNano, factor: f64) -> Result<IntervalMonthDayNano> {
    let time = micros_of(interval);
    cascade(
        f64::from(interval.months) * factor,
        f64::from(interval.days) * factor,
        |remainder| time * factor + remainder,
    )
}

fn interval_div(interval: IntervalMonthDayNano, divisor: f64) -> Result<IntervalMonthDayNano> {
    if divisor == 0.0 {
        return Err(crate::error::external(SemanticsError::DivisionByZero));
    }
    let time = micros_of(interval);
    cascade(
        f64::from(interval.months) / divisor,
        f64::from(interval.days) / divisor,
        |remainder| time / divisor + remainder,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(months: i32, days: i32, seconds: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(months, days, seconds * 1_000_000_000)
    }

    /// Each expectation is PostgreSQL 15's answer.
    #[test]
    fn fields_cascade_as_in_postgresql() {
        // '1 day' * 1.5 = 1 day 12:00:00
        assert_eq!(interval_mul(iv(0, 1, 0), 1.5).unwrap(), iv(0, 1, 43_200));
        // '1 hour' * 3 = 03:00:00
        assert_eq!(interval_mul(iv(0, 0, 3600), 3.0).unwrap(), iv(0, 0, 10_800));
        // '1 month' * 0.5 = 15 days
        assert_eq!(interval_mul(iv(1, 0, 0), 0.5).unwrap(), iv(0, 15, 0));
        // '1 mon 1 day' / 2 = 15 days 12:00:00
        assert_eq!(interval_div(iv(1, 1, 0), 2.0).unwrap(), iv(0, 15, 43_200));
        // '1 hour' / 4 = 00:15:00
        assert_eq!(interval_div(iv(0, 0, 3600), 4.0).unwrap(), iv(0, 0, 900));
        // '-1 day' * 2.5 = -2 days -12:00:00
        assert_eq!(interval_mul(iv(0, -1, 0), 2.5).unwrap(), iv(0, -2, -43_200));
        assert!(interval_div(iv(0, 1, 0), 0.0).is_err());
        assert!(interval_mul(iv(i32::MAX, 0, 0), 2.0).is_err());
    }
}
