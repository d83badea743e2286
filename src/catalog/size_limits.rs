//! `repeat`, `lpad` and `rpad` with PostgreSQL's limit on a value's size.
//!
//! DataFusion builds a function's whole result for a batch in memory, outside
//! the memory pool, in one kernel call that no cancel or statement_timeout
//! can interrupt: `repeat('x', 1e9)` took the server to 8.8 GB. PostgreSQL
//! refuses a value above 1 GB (`requested length too large`, 54000); Brook
//! refuses the same and, because a batch is built at once, a batch whose
//! results together pass that size (53200). The checks run before the
//! kernel from the arguments alone, so nothing is allocated for a refusal.
//! DataFusion's own functions do the work; these wrap them.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::error::BrookError;

/// PostgreSQL's largest value (`MaxAllocSize`, 1 GB − 1).
pub const MAX_VALUE_BYTES: u64 = 0x3fff_ffff;

/// The wrapped functions, to register over DataFusion's.
pub fn udfs() -> Vec<ScalarUDF> {
    use datafusion::functions::{string, unicode};
    vec![
        ScalarUDF::new_from_impl(SizeLimited {
            inner: string::repeat(),
            measure: Measure::Repeat,
        }),
        ScalarUDF::new_from_impl(SizeLimited {
            inner: unicode::lpad(),
            measure: Measure::Pad,
        }),
        ScalarUDF::new_from_impl(SizeLimited {
            inner: unicode::rpad(),
            measure: Measure::Pad,
        }),
    ]
}

/// How a function's result size follows from its arguments.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Measure {
    /// `repeat(s, n)`: bytes of `s` times `n`.
    Repeat,
    /// `lpad(s, n [, fill])`: `n` characters, up to 4 bytes each.
    Pad,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SizeLimited {
    inner: Arc<ScalarUDF>,
    measure: Measure,
}

fn refuse(error: BrookError) -> DataFusionError {
    crate::error::external(error)
}

impl SizeLimited {
    /// Refuse `args` whose results would be too large, per value or together.
    fn check(&self, args: &ScalarFunctionArgs) -> Result<()> {
        let (Some(text), Some(count)) = (args.args.first(), args.args.get(1)) else {
            return Ok(());
        };
        let rows = match (text, count) {
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => 1,
            _ => args.number_rows,
        };
        let counts = cast(&count.to_array(rows)?, &DataType::Int64)?;
        let counts = counts.as_primitive::<Int64Type>();
        let texts = cast(&text.to_array(rows)?, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let mut total: u64 = 0;
        for row in 0..rows {
            if counts.is_null(row) || texts.is_null(row) {
                continue;
            }
            let n = u64::try_from(counts.value(row)).unwrap_or(0);
            let bytes = match self.measure {
                Measure::Repeat => (texts.value(row).len() as u64).saturating_mul(n),
                Measure::Pad => n.saturating_mul(4),
            };
            if bytes > MAX_VALUE_BYTES {
                return Err(refuse(BrookError::ProgramLimit(
                    "requested length too large".into(),
                )));
            }
            total = total.saturating_add(bytes);
        }
        if total > MAX_VALUE_BYTES {
            return Err(refuse(BrookError::OutOfMemory(format!(
                "{} would build {total} bytes for {rows} rows at once; \
                 ask for fewer rows (LIMIT) or shorter values",
                self.inner.name()
            ))));
        }
        Ok(())
    }
}

impl ScalarUDFImpl for SizeLimited {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.check(&args)?;
        self.inner.invoke_with_args(args)
    }
}
