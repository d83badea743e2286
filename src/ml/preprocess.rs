//! Feature preprocessing, learned once from the training rows and stored with
//! the model, so that PREDICT applies exactly the transform training saw:
//! numbers (and booleans) are imputed with the training mean and scaled;
//! text is one-hot encoded over the training vocabulary (an unseen value is
//! all zeros), or hashed into a fixed number of buckets when the vocabulary
//! is large. The encoded matrix is dense `f64`, the shape every linfa
//! estimator takes.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::error::{MlError, Result};
use super::options::Scaler;

/// How a feature becomes columns of the encoded matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Encoding {
    /// `(value - center) / scale`, a missing value taking `fill` first.
    Numeric { fill: f64, center: f64, scale: f64 },
    /// One column per training value, in sorted order.
    OneHot { vocabulary: Vec<String> },
    /// One column per bucket of a stable hash of the text.
    Hashed { buckets: usize },
}

impl Encoding {
    /// The encoded column (relative to the feature's first) a text value
    /// sets to 1: its vocabulary position or its hash bucket. `None` for an
    /// unseen value, and for numeric features.
    fn column_of(&self, value: &str) -> Option<usize> {
        match self {
            Encoding::Numeric { .. } => None,
            Encoding::OneHot { vocabulary } => {
                vocabulary.binary_search_by(|w| w.as_str().cmp(value)).ok()
            }
            Encoding::Hashed { buckets } => {
                Some((stable_hash(value.as_bytes()) % *buckets as u64) as usize)
            }
        }
    }
}

/// What the training rows looked like, for FEATURE_INFO and FEATURE_DRIFT.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeatureStats {
    pub rows: u64,
    pub nulls: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub stddev: Option<f64>,
    /// Decile edges of a numeric feature (9 inner edges) and the training
    /// fraction in each of the 10 bins: the reference for PSI.
    pub bin_edges: Vec<f64>,
    pub bin_fractions: Vec<f64>,
    /// Text: each training value's share, most frequent first (at most
    /// [`MAX_TRACKED_CATEGORIES`]).
    pub categories: Vec<(String, f64)>,
    pub distinct: u64,
}

const MAX_TRACKED_CATEGORIES: usize = 1000;
/// Quantiles are taken from at most this many values (evenly strided), so a
/// 1 M-row table costs one sort of 100 k numbers per feature.
const QUANTILE_SAMPLE: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    /// The SQL type training saw, for error messages.
    pub sql_type: String,
    pub encoding: Encoding,
    pub stats: FeatureStats,
}

/// Whether a column of this type trains as a number (booleans are 0/1).
pub fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric() || matches!(dt, DataType::Boolean | DataType::Null)
}

/// Whether a column of this type trains as text.
pub fn is_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// The Postgres name of a type, for messages a SQL user reads.
pub fn sql_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric".into(),
        DataType::Null => "unknown".into(),
        t if is_text(t) => "text".into(),
        other => other.to_string(),
    }
}

/// FNV-1a: a hash that never changes between builds or platforms, so a
/// hashed feature lands in the same bucket after an upgrade.
fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn as_f64(name: &str, array: &ArrayRef) -> Result<ArrayRef> {
    cast(array, &DataType::Float64).map_err(|e| {
        MlError::Arguments(format!(
            "feature \"{name}\" cannot be read as a number: {e}"
        ))
    })
}

fn as_text(name: &str, array: &ArrayRef) -> Result<ArrayRef> {
    cast(array, &DataType::Utf8)
        .map_err(|e| MlError::Arguments(format!("feature \"{name}\" cannot be read as text: {e}")))
}

fn sampled_sorted(values: &[f64]) -> Vec<f64> {
    let stride = values.len().div_ceil(QUANTILE_SAMPLE).max(1);
    let mut sample: Vec<f64> = values.iter().step_by(stride).copied().collect();
    sample.sort_by(f64::total_cmp);
    sample
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The bin of `v` among inner `edges` (bins are `[e_i, e_{i+1})`).
pub fn bin_of(edges: &[f64], v: f64) -> usize {
    edges.partition_point(|e| *e <= v)
}

impl Feature {
    /// Learn the encoding of one training column.
    pub fn fit(
        name: &str,
        array: &ArrayRef,
        scaler: Scaler,
        hash_buckets: usize,
    ) -> Result<Feature> {
        let dt = array.data_type();
        let sql_type = sql_type_name(dt);
        if is_numeric(dt) {
            let floats = as_f64(name, array)?;
            let floats = floats.as_primitive::<Float64Type>();
            let values: Vec<f64> = floats.iter().flatten().filter(|v| v.is_finite()).collect();
            let rows = array.len() as u64;
            let nulls = rows - values.len() as u64;
            let mut stats = FeatureStats {
                rows,
                nulls,
                ..Default::default()
            };
            let encoding = if values.is_empty() {
                Encoding::Numeric {
                    fill: 0.0,
                    center: 0.0,
                    scale: 1.0,
                }
            } else {
                let n = values.len() as f64;
                let mean = values.iter().sum::<f64>() / n;
                let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                let std = var.sqrt();
                let (min, max) = values
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(*v), hi.max(*v))
                    });
                let sorted = sampled_sorted(&values);
                let edges: Vec<f64> = (1..10)
                    .map(|i| quantile(&sorted, i as f64 / 10.0))
                    .collect();
                let mut counts = [0u64; 10];
                for v in &values {
                    counts[bin_of(&edges, *v)] += 1;
                }
                stats.min = Some(min);
                stats.max = Some(max);
                stats.mean = Some(mean);
                stats.median = Some(quantile(&sorted, 0.5));
                stats.stddev = Some(std);
                stats.bin_fractions = counts.iter().map(|c| *c as f64 / n).collect();
                stats.bin_edges = edges;
                let (center, scale) = match scaler {
                    Scaler::Standard => (mean, std),
                    Scaler::MinMax => (min, max - min),
                };
                Encoding::Numeric {
                    fill: mean,
                    center,
                    scale: if scale > 0.0 && scale.is_finite() {
                        scale
                    } else {
                        1.0
                    },
                }
            };
            return Ok(Feature {
                name: name.to_string(),
                sql_type,
                encoding,
                stats,
            });
        }
        if is_text(dt) {
            let text = as_text(name, array)?;
            let text = text.as_string::<i32>();
            let mut counts: std::collections::HashMap<&str, u64> = Default::default();
            for v in text.iter().flatten() {
                *counts.entry(v).or_default() += 1;
            }
            let rows = array.len() as u64;
            let present: u64 = counts.values().sum();
            let mut by_count: Vec<(&str, u64)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
            by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let stats = FeatureStats {
                rows,
                nulls: rows - present,
                distinct: counts.len() as u64,
                categories: by_count
                    .iter()
                    .take(MAX_TRACKED_CATEGORIES)
                    .map(|(k, c)| (k.to_string(), *c as f64 / present.max(1) as f64))
                    .collect(),
                ..Default::default()
            };
            let encoding = if counts.len() > hash_buckets {
                Encoding::Hashed {
                    buckets: hash_buckets,
                }
            } else {
                let mut vocabulary: Vec<String> = counts.keys().map(|k| k.to_string()).collect();
                vocabulary.sort();
                Encoding::OneHot { vocabulary }
            };
            return Ok(Feature {
                name: name.to_string(),
                sql_type,
                encoding,
                stats,
            });
        }
        Err(MlError::TrainingData(format!(
            "feature \"{name}\" has type {sql_type}; features must be numeric, boolean or text"
        )))
    }

    /// How many columns of the encoded matrix this feature fills.
    pub fn width(&self) -> usize {
        match &self.encoding {
            Encoding::Numeric { .. } => 1,
            Encoding::OneHot { vocabulary } => vocabulary.len(),
            Encoding::Hashed { buckets } => *buckets,
        }
    }

    /// The encoded columns' names (`age`, `field=law`, `field#17`).
    pub fn column_names(&self) -> Vec<String> {
        match &self.encoding {
            Encoding::Numeric { .. } => vec![self.name.clone()],
            Encoding::OneHot { vocabulary } => vocabulary
                .iter()
                .map(|v| format!("{}={v}", self.name))
                .collect(),
            Encoding::Hashed { buckets } => (0..*buckets)
                .map(|b| format!("{}#{b}", self.name))
                .collect(),
        }
    }

    /// Whether PREDICT can take a column of type `dt` for this feature.
    pub fn accepts(&self, dt: &DataType) -> bool {
        match self.encoding {
            Encoding::Numeric { .. } => is_numeric(dt),
            _ => is_text(dt) || is_numeric(dt),
        }
    }

    /// Write this feature's columns of `out`, starting at column `offset`.
    fn encode(&self, array: &ArrayRef, out: &mut Array2<f64>, offset: usize) -> Result<()> {
        match &self.encoding {
            Encoding::Numeric {
                fill,
                center,
                scale,
            } => {
                let floats = as_f64(&self.name, array)?;
                let floats = floats.as_primitive::<Float64Type>();
                let mut column = out.column_mut(offset);
                for (row, cell) in column.iter_mut().enumerate() {
                    let v = if floats.is_null(row) {
                        *fill
                    } else {
                        let v = floats.value(row);
                        if v.is_finite() { v } else { *fill }
                    };
                    *cell = (v - center) / scale;
                }
            }
            text_encoding => {
                let text = as_text(&self.name, array)?;
                for (row, v) in text.as_string::<i32>().iter().enumerate() {
                    if let Some(i) = v.and_then(|v| text_encoding.column_of(v)) {
                        out[[row, offset + i]] = 1.0;
                    }
                }
            }
        }
        Ok(())
    }
}

/// All of a model's features, in training order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub features: Vec<Feature>,
}

impl Preprocessor {
    pub fn fit(
        names: &[String],
        columns: &[ArrayRef],
        scaler: Scaler,
        hash_buckets: usize,
    ) -> Result<Self> {
        let features = names
            .iter()
            .zip(columns)
            .map(|(n, c)| Feature::fit(n, c, scaler, hash_buckets))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { features })
    }

    pub fn width(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    pub fn column_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(Feature::column_names)
            .collect()
    }

    /// One column per feature, or an error listing the features.
    fn check_arity(&self, columns: &[ArrayRef]) -> Result<()> {
        if columns.len() != self.features.len() {
            return Err(MlError::Arguments(format!(
                "the model takes {} features ({}), not {}",
                self.features.len(),
                self.signature(),
                columns.len()
            )));
        }
        Ok(())
    }

    /// Encode `columns` (one per feature, `rows` long) as the model's input matrix.
    pub fn transform(&self, columns: &[ArrayRef], rows: usize) -> Result<Array2<f64>> {
        self.check_arity(columns)?;
        let mut out = Array2::<f64>::zeros((rows, self.width()));
        let mut offset = 0;
        for (feature, column) in self.features.iter().zip(columns) {
            feature.encode(column, &mut out, offset)?;
            offset += feature.width();
        }
        Ok(out)
    }

    /// `intercept + Σ weights · encoded features` for each row, column by
    /// column, without building the encoded matrix: the serving path of the
    /// linear models (it streams each Arrow column once, in a loop the
    /// compiler vectorises, instead of filling and multiplying a dense matrix).
    pub fn linear_combination(
        &self,
        columns: &[ArrayRef],
        rows: usize,
        weights: &[f64],
        intercept: f64,
    ) -> Result<Vec<f64>> {
        if weights.len() != self.width() {
            return Err(MlError::Corrupt(format!(
                "the model has {} weights for {} encoded inputs",
                weights.len(),
                self.width()
            )));
        }
        self.check_arity(columns)?;
        let mut z = vec![intercept; rows];
        let mut offset = 0;
        for (feature, column) in self.features.iter().zip(columns) {
            match &feature.encoding {
                Encoding::Numeric {
                    fill,
                    center,
                    scale,
                } => {
                    let w = weights[offset] / scale;
                    let floats = as_f64(&feature.name, column)?;
                    let floats = floats.as_primitive::<Float64Type>();
                    let values = floats.values();
                    if floats.null_count() == 0 {
                        for (z, v) in z.iter_mut().zip(values.iter()) {
                            let v = if v.is_finite() { *v } else { *fill };
                            *z += (v - center) * w;
                        }
                    } else {
                        for (row, z) in z.iter_mut().enumerate() {
                            let v = values[row];
                            let v = if floats.is_null(row) || !v.is_finite() {
                                *fill
                            } else {
                                v
                            };
                            *z += (v - center) * w;
                        }
                    }
                }
                text_encoding => {
                    let text = as_text(&feature.name, column)?;
                    for (z, v) in z.iter_mut().zip(text.as_string::<i32>().iter()) {
                        if let Some(i) = v.and_then(|v| text_encoding.column_of(v)) {
                            *z += weights[offset + i];
                        }
                    }
                }
            }
            offset += feature.width();
        }
        Ok(z)
    }

    /// `age double precision, field text, …`: the features a caller must pass.
    pub fn signature(&self) -> String {
        self.features
            .iter()
            .map(|f| format!("{} {}", f.name, f.sql_type))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Keep only `rows` of each column (the rows of one split).
pub fn take_rows(columns: &[ArrayRef], rows: &[u32]) -> Result<Vec<ArrayRef>> {
    let indices = datafusion::arrow::array::UInt32Array::from(rows.to_vec());
    columns
        .iter()
        .map(|c| {
            datafusion::arrow::compute::take(c.as_ref(), &indices, None)
                .map_err(|e| MlError::Training(e.to_string()))
        })
        .collect()
}

/// A column of `rows` NULLs, for tests and for features a caller omits.
#[cfg(test)]
pub fn nulls(rows: usize) -> ArrayRef {
    std::sync::Arc::new(datafusion::arrow::array::Float64Array::from(vec![
        None::<f64>;
        rows
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn numbers_are_imputed_and_standardized() {
        let col: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)]));
        let p = Preprocessor::fit(
            &["x".into()],
            std::slice::from_ref(&col),
            Scaler::Standard,
            10,
        )
        .unwrap();
        let m = p.transform(&[col], 3).unwrap();
        assert_eq!(m.column(0).to_vec(), vec![-1.0, 0.0, 1.0]);
        let m = p.transform(&[nulls(2)], 2).unwrap();
        assert_eq!(m.column(0).to_vec(), vec![0.0, 0.0]);
    }

    #[test]
    fn unseen_text_encodes_as_zeros() {
        let col: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "b"]));
        let p = Preprocessor::fit(&["t".into()], &[col], Scaler::Standard, 10).unwrap();
        assert_eq!(p.column_names(), vec!["t=a", "t=b"]);
        let probe: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("zzz"), None]));
        let m = p.transform(&[probe], 3).unwrap();
        assert_eq!(m.row(0).to_vec(), vec![1.0, 0.0]);
        assert_eq!(m.row(1).to_vec(), vec![0.0, 0.0]);
        assert_eq!(m.row(2).to_vec(), vec![0.0, 0.0]);
    }

    #[test]
    fn linear_combination_matches_the_encoded_matrix() {
        let x: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            None,
            Some(4.0),
            Some(f64::NAN),
        ]));
        let t: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            Some("b"),
            None,
            Some("zz"),
        ]));
        let p = Preprocessor::fit(
            &["x".into(), "t".into()],
            &[x.clone(), t.clone()],
            Scaler::Standard,
            10,
        )
        .unwrap();
        let w = [0.5, -2.0, 3.0, 7.0];
        let fast = p
            .linear_combination(&[x.clone(), t.clone()], 4, &w, 0.25)
            .unwrap();
        let m = p.transform(&[x, t], 4).unwrap();
        for (row, z) in fast.iter().enumerate() {
            let slow: f64 = 0.25 + m.row(row).iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
            assert!((z - slow).abs() < 1e-12, "row {row}: {z} vs {slow}");
        }
    }

    #[test]
    fn large_vocabularies_are_hashed() {
        let values: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
        let col: ArrayRef = Arc::new(StringArray::from(values));
        let p = Preprocessor::fit(
            &["t".into()],
            std::slice::from_ref(&col),
            Scaler::Standard,
            8,
        )
        .unwrap();
        assert_eq!(p.width(), 8);
        let m = p.transform(&[col], 50).unwrap();
        assert!(m.rows().into_iter().all(|r| r.sum() == 1.0));
    }
}
