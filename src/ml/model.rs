//! One version of a model: its preprocessing, estimator, evaluation and
//! lineage, stored together so that serving applies exactly what training learnt.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::error::{MlError, Result};
use super::estimator::{Estimator, Scores, sigmoid};
use super::labels::Classes;
use super::metrics::{Metrics, predicted_classes};
use super::options::{ModelOptions, ModelType};
use super::preprocess::Preprocessor;

/// Where a version's training rows came from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Lineage {
    /// Each durable table the source query read, with its table version.
    pub tables: Vec<(String, Option<u64>)>,
    /// Pipeline offsets committed to those tables at that version (`pipeline/partition` → next offset).
    pub offsets: Vec<(String, i64)>,
}

/// Progressive validation of an incrementally refreshed model: every new row
/// is scored by the version current when it arrived, before it is learnt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Progressive {
    pub rows: u64,
    /// Classifiers: rows predicted right; regressors: sum of absolute errors.
    pub total: f64,
}

impl Progressive {
    /// Accuracy (classifiers) or mean absolute error (regressors) so far.
    pub fn score(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.total / self.rows as f64)
    }
}

/// One point of a hyper-parameter search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The grid point's options, as JSON.
    pub params: String,
    /// Its mean k-fold score (`metric`).
    pub score: f64,
    pub metric: String,
    pub best: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: u64,
    pub options: ModelOptions,
    pub label: String,
    /// A classifier's classes; `None` for a regressor.
    pub classes: Option<Classes>,
    pub preprocessor: Preprocessor,
    pub estimator: Estimator,
    pub metrics: Metrics,
    pub rows_trained: u64,
    pub training_seconds: f64,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub source_query: Option<String>,
    pub lineage: Lineage,
    pub progressive: Progressive,
    /// The hyper-parameter search that chose this version's options.
    pub trials: Vec<Trial>,
}

impl ModelVersion {
    pub fn model_type(&self) -> ModelType {
        self.options.model_type
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.preprocessor
            .features
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    fn class_count(&self) -> usize {
        self.classes.as_ref().map_or(0, Classes::len)
    }

    /// Preprocess `features` and score them.
    pub fn scores(&self, features: &[ArrayRef], rows: usize) -> Result<Scores> {
        match &self.estimator {
            Estimator::Logistic { weights, intercept } => {
                let z = self
                    .preprocessor
                    .linear_combination(features, rows, weights, *intercept)?;
                let mut p = Array2::<f64>::zeros((rows, 2));
                for (i, z) in z.into_iter().enumerate() {
                    let pos = sigmoid(z);
                    p[[i, 0]] = 1.0 - pos;
                    p[[i, 1]] = pos;
                }
                Ok(Scores::Classes(p))
            }
            Estimator::Linear { weights, intercept } => Ok(Scores::Values(
                self.preprocessor
                    .linear_combination(features, rows, weights, *intercept)?
                    .into(),
            )),
            _ => {
                let x = self.preprocessor.transform(features, rows)?;
                Ok(self.scores_of(&x))
            }
        }
    }

    pub fn scores_of(&self, x: &Array2<f64>) -> Scores {
        self.estimator.scores(x.view(), self.class_count())
    }

    /// PREDICT: the class (as the label's type) or the predicted value.
    pub fn predict(&self, features: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        match (self.scores(features, rows)?, &self.classes) {
            (Scores::Classes(p), Some(classes)) => Ok(classes.values(&predicted_classes(&p))),
            (Scores::Values(v), _) => Ok(Arc::new(Float64Array::from(v.to_vec()))),
            (Scores::Classes(_), None) => Err(MlError::Training("model has no classes".into())),
        }
    }

    /// PREDICT_PROBA: the positive class's probability (two classes) or the
    /// predicted class's probability (more).
    pub fn predict_proba(&self, features: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        if let Estimator::Logistic { weights, intercept } = &self.estimator {
            let mut z = self
                .preprocessor
                .linear_combination(features, rows, weights, *intercept)?;
            z.iter_mut().for_each(|z| *z = sigmoid(*z));
            return Ok(Arc::new(Float64Array::from(z)));
        }
        match self.scores(features, rows)? {
            Scores::Classes(p) => {
                let out: Vec<f64> = if p.ncols() == 2 {
                    p.column(1).to_vec()
                } else {
                    p.rows()
                        .into_iter()
                        .map(|r| r.iter().copied().fold(0.0, f64::max))
                        .collect()
                };
                Ok(Arc::new(Float64Array::from(out)))
            }
            Scores::Values(_) => Err(MlError::Arguments(format!(
                "PREDICT_PROBA needs a classifier; model \"{}\" is a {} (use PREDICT)",
                self.name,
                self.model_type().name()
            ))),
        }
    }
}
