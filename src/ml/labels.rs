//! The label column: a classifier's classes (in sorted order, so the
//! "positive" class of a binary label is the larger one: `true`, `1`, `'yes'`)
//! and the way PREDICT turns a class index back into a value of the label's type.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use serde::{Deserialize, Serialize};

use super::error::{MlError, Result};
use super::preprocess::is_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelKind {
    Boolean,
    Integer,
    Float,
    Text,
}

/// A classifier's classes, sorted, all of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classes {
    pub kind: LabelKind,
    /// The values as text (`true`, `1`, `yes`), in class order.
    pub names: Vec<String>,
    bools: Vec<bool>,
    ints: Vec<i64>,
    floats: Vec<f64>,
}

impl Classes {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn data_type(&self) -> DataType {
        match self.kind {
            LabelKind::Boolean => DataType::Boolean,
            LabelKind::Integer => DataType::Int64,
            LabelKind::Float => DataType::Float64,
            LabelKind::Text => DataType::Utf8,
        }
    }

    /// Find the classes of `label` and each row's class (None: NULL label).
    pub fn fit(name: &str, label: &ArrayRef) -> Result<(Self, Vec<Option<u32>>)> {
        let dt = label.data_type();
        let mut classes = Classes {
            kind: LabelKind::Text,
            names: vec![],
            bools: vec![],
            ints: vec![],
            floats: vec![],
        };
        let codes: Vec<Option<u32>> = if matches!(dt, DataType::Boolean) {
            classes.kind = LabelKind::Boolean;
            let b = label.as_boolean();
            let present: Vec<bool> = [false, true]
                .into_iter()
                .filter(|v| b.iter().any(|x| x == Some(*v)))
                .collect();
            classes.names = present.iter().map(|v| v.to_string()).collect();
            let index = |v: bool| present.iter().position(|p| *p == v).map(|i| i as u32);
            classes.bools = present.clone();
            b.iter().map(|v| v.and_then(index)).collect()
        } else if dt.is_integer() {
            classes.kind = LabelKind::Integer;
            let ints =
                cast(label, &DataType::Int64).map_err(|e| MlError::Training(e.to_string()))?;
            let ints = ints.as_primitive::<Int64Type>();
            let mut values: Vec<i64> = ints.iter().flatten().collect();
            values.sort_unstable();
            values.dedup();
            classes.names = values.iter().map(|v| v.to_string()).collect();
            let codes = ints
                .iter()
                .map(|v| v.and_then(|v| values.binary_search(&v).ok().map(|i| i as u32)))
                .collect();
            classes.ints = values;
            codes
        } else if dt.is_floating() || matches!(dt, DataType::Decimal128(..)) {
            classes.kind = LabelKind::Float;
            let f =
                cast(label, &DataType::Float64).map_err(|e| MlError::Training(e.to_string()))?;
            let f = f.as_primitive::<Float64Type>();
            if f.iter().flatten().any(|v| !v.is_finite()) {
                return Err(MlError::TrainingData(format!(
                    "label \"{name}\" has NaN or infinite values; remove those rows or map them to a class"
                )));
            }
            let mut values: Vec<f64> = f.iter().flatten().collect();
            values.sort_by(f64::total_cmp);
            values.dedup();
            classes.names = values.iter().map(|v| v.to_string()).collect();
            let codes = f
                .iter()
                .map(|v| {
                    v.and_then(|v| {
                        values
                            .binary_search_by(|p| p.total_cmp(&v))
                            .ok()
                            .map(|i| i as u32)
                    })
                })
                .collect();
            classes.floats = values;
            codes
        } else if is_text(dt) {
            let t = cast(label, &DataType::Utf8).map_err(|e| MlError::Training(e.to_string()))?;
            let t = t.as_string::<i32>();
            let mut values: Vec<&str> = t.iter().flatten().collect();
            values.sort_unstable();
            values.dedup();
            classes.names = values.iter().map(|v| v.to_string()).collect();
            t.iter()
                .map(|v| v.and_then(|v| values.binary_search(&v).ok().map(|i| i as u32)))
                .collect()
        } else {
            return Err(MlError::TrainingData(format!(
                "label \"{name}\" has type {dt}; a classifier's label is boolean, integer or text"
            )));
        };
        Ok((classes, codes))
    }

    /// The label values of class indices `codes`, as PREDICT returns them.
    pub fn values(&self, codes: &[usize]) -> ArrayRef {
        match self.kind {
            LabelKind::Boolean => Arc::new(BooleanArray::from(
                codes.iter().map(|c| self.bools[*c]).collect::<Vec<_>>(),
            )),
            LabelKind::Integer => Arc::new(Int64Array::from(
                codes.iter().map(|c| self.ints[*c]).collect::<Vec<_>>(),
            )),
            LabelKind::Float => Arc::new(Float64Array::from(
                codes.iter().map(|c| self.floats[*c]).collect::<Vec<_>>(),
            )),
            LabelKind::Text => Arc::new(StringArray::from(
                codes
                    .iter()
                    .map(|c| self.names[*c].as_str())
                    .collect::<Vec<_>>(),
            )),
        }
    }

    /// Class codes of `label` under these classes (None: NULL or a value
    /// the model never saw), for evaluating on new rows.
    pub fn codes(&self, label: &ArrayRef) -> Result<Vec<Option<u32>>> {
        let err = |e: datafusion::arrow::error::ArrowError| MlError::Arguments(e.to_string());
        Ok(match self.kind {
            LabelKind::Boolean => {
                let b = cast(label, &DataType::Boolean).map_err(err)?;
                b.as_boolean()
                    .iter()
                    .map(|v| {
                        v.and_then(|v| self.bools.iter().position(|p| *p == v).map(|i| i as u32))
                    })
                    .collect()
            }
            LabelKind::Integer => {
                let i = cast(label, &DataType::Int64).map_err(err)?;
                i.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.and_then(|v| self.ints.binary_search(&v).ok().map(|i| i as u32)))
                    .collect()
            }
            LabelKind::Float => {
                let f = cast(label, &DataType::Float64).map_err(err)?;
                f.as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| {
                        v.and_then(|v| {
                            self.floats
                                .binary_search_by(|p| p.total_cmp(&v))
                                .ok()
                                .map(|i| i as u32)
                        })
                    })
                    .collect()
            }
            LabelKind::Text => {
                let t = cast(label, &DataType::Utf8).map_err(err)?;
                t.as_string::<i32>()
                    .iter()
                    .map(|v| {
                        v.and_then(|v| {
                            self.names
                                .binary_search_by(|p| p.as_str().cmp(v))
                                .ok()
                                .map(|i| i as u32)
                        })
                    })
                    .collect()
            }
        })
    }
}

/// A regressor's label as numbers (None: NULL).
pub fn numeric_label(name: &str, label: &ArrayRef) -> Result<Vec<Option<f64>>> {
    let dt = label.data_type();
    if !(dt.is_numeric() || matches!(dt, DataType::Boolean)) {
        return Err(MlError::TrainingData(format!(
            "label \"{name}\" has type {dt}; linear_reg predicts a number"
        )));
    }
    let f = cast(label, &DataType::Float64).map_err(|e| MlError::Training(e.to_string()))?;
    let f = f.as_primitive::<Float64Type>();
    if f.iter().flatten().any(|v| !v.is_finite()) {
        return Err(MlError::TrainingData(format!(
            "label \"{name}\" has NaN or infinite values; remove those rows before training"
        )));
    }
    Ok((0..f.len())
        .map(|i| (!f.is_null(i)).then(|| f.value(i)))
        .collect())
}
