//! Feature functions for a model's SELECT: `ML_BUCKETIZE(x, ARRAY[edges])`
//! turns a number into a bucket name and `ML_FEATURE_CROSS(a, b, …)` joins
//! values into one categorical feature. Both give text, which the model's
//! preprocessing then one-hot encodes (or hashes, when the crossing makes
//! the vocabulary large) and stores with the model. They are pure functions,
//! so the same expression in PREDICT's arguments reproduces the feature.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq)]
struct Bucketize {
    signature: Signature,
}

impl Hash for Bucketize {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "ml_bucketize".hash(state);
    }
}

/// The sorted bucket edges of a constant array argument.
fn edges(value: &ColumnarValue) -> DfResult<Vec<f64>> {
    let ColumnarValue::Scalar(scalar) = value else {
        return exec_err!("ML_BUCKETIZE's edges must be a constant array, as ARRAY[0, 10, 20]");
    };
    let list: ArrayRef = match scalar {
        ScalarValue::List(list) if !list.is_empty() => list.value(0),
        ScalarValue::LargeList(list) if !list.is_empty() => list.value(0),
        ScalarValue::FixedSizeList(list) if !list.is_empty() => list.value(0),
        _ => {
            return exec_err!("ML_BUCKETIZE's edges must be a constant array, as ARRAY[0, 10, 20]");
        }
    };
    let floats = cast(&list, &DataType::Float64)?;
    let mut edges: Vec<f64> = floats
        .as_primitive::<Float64Type>()
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    Ok(edges)
}

impl ScalarUDFImpl for Bucketize {
    fn name(&self) -> &str {
        "ml_bucketize"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        if args.len() != 2 || !(args[0].is_numeric() || args[0] == DataType::Null) {
            return plan_err!(
                "ML_BUCKETIZE takes a number and an array of edges: ML_BUCKETIZE(x, ARRAY[0, 10, 20])"
            );
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let edges = edges(&args.args[1])?;
        let values = cast(
            &args.args[0].to_array(args.number_rows)?,
            &DataType::Float64,
        )?;
        let values = values.as_primitive::<Float64Type>();
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 5);
        for v in values.iter() {
            match v {
                Some(v) if !v.is_nan() => {
                    // bin_1 below the first edge, bin_{n+1} at or above the last.
                    out.append_value(format!("bin_{}", edges.partition_point(|e| *e <= v) + 1))
                }
                _ => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[derive(Debug, PartialEq, Eq)]
struct FeatureCross {
    signature: Signature,
}

impl Hash for FeatureCross {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "ml_feature_cross".hash(state);
    }
}

impl ScalarUDFImpl for FeatureCross {
    fn name(&self) -> &str {
        "ml_feature_cross"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        if args.len() < 2 {
            return plan_err!("ML_FEATURE_CROSS takes two or more values: ML_FEATURE_CROSS(a, b)");
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let parts = args
            .args
            .iter()
            .map(|a| Ok(cast(&a.to_array(rows)?, &DataType::Utf8)?))
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let parts: Vec<_> = parts.iter().map(|p| p.as_string::<i32>()).collect();
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        let mut cell = String::new();
        for row in 0..rows {
            if parts.iter().any(|p| p.is_null(row)) {
                out.append_null();
                continue;
            }
            cell.clear();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    cell.push('_');
                }
                cell.push_str(p.value(row));
            }
            out.append_value(&cell);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Bucketize {
            signature: Signature::any(2, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(FeatureCross {
            signature: Signature::variadic_any(Volatility::Immutable),
        }),
    ]
}
