//! Training: from the rows a query produced to a new [`ModelVersion`].
//! Rows are put in a canonical order first, so that the same rows and the same
//! `seed` give the same model whatever order the scan returned them in.

use std::time::Instant;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::{SortColumn, lexsort_to_indices};
use datafusion::arrow::datatypes::DataType;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::error::{MlError, Result};
use super::estimator::{Estimator, Scores, Target};
use super::labels::{Classes, numeric_label};
use super::metrics::{self, Metrics};
use super::model::{Lineage, ModelVersion, Progressive, Trial};
use super::options::{ModelOptions, SplitMethod};
use super::preprocess::{Preprocessor, take_rows};

/// The rows to train on: the label column and the feature columns, by name.
pub struct TrainingData {
    pub label_name: String,
    pub label: ArrayRef,
    pub feature_names: Vec<String>,
    pub features: Vec<ArrayRef>,
}

impl TrainingData {
    pub fn rows(&self) -> usize {
        self.label.len()
    }

    /// The same rows sorted by every column, so scan order cannot change the model.
    fn canonical(self) -> Result<Self> {
        if self.rows() < 2 {
            return Ok(self);
        }
        let columns: Vec<SortColumn> = std::iter::once(&self.label)
            .chain(&self.features)
            .filter(|c| !c.data_type().is_nested() && !matches!(c.data_type(), DataType::Null))
            .map(|c| SortColumn {
                values: c.clone(),
                options: None,
            })
            .collect();
        let order =
            lexsort_to_indices(&columns, None).map_err(|e| MlError::Training(e.to_string()))?;
        let order: Vec<u32> = order.values().to_vec();
        let mut all = take_rows(std::slice::from_ref(&self.label), &order)?;
        let label = all.remove(0);
        let features = take_rows(&self.features, &order)?;
        Ok(Self {
            label,
            features,
            ..self
        })
    }
}

/// Where training reports its progress (the client's NOTICE messages).
pub type Progress = std::sync::Arc<dyn Fn(String) + Send + Sync>;

/// What to train: a new model, or the next version of one (warm start).
pub struct TrainRequest<'a> {
    pub progress: Option<Progress>,
    pub name: String,
    pub options: ModelOptions,
    pub source_query: Option<String>,
    pub lineage: Lineage,
    /// The current version: its preprocessing is kept and, for logistic
    /// regression, its weights start the optimiser.
    pub warm: Option<&'a ModelVersion>,
    pub progressive: Progressive,
}

/// Row indices of the training and the held-out part.
fn split(
    options: &ModelOptions,
    classes: Option<(&[u32], usize)>,
    rows: usize,
) -> (Vec<u32>, Vec<u32>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
    let all: Vec<u32> = (0..rows as u32).collect();
    match (options.data_split_method, classes) {
        (SplitMethod::NoSplit, _) => (all, vec![]),
        (SplitMethod::Stratified, Some((codes, k))) => {
            let (mut train, mut test) = (vec![], vec![]);
            for class in 0..k as u32 {
                let mut members: Vec<u32> = all
                    .iter()
                    .copied()
                    .filter(|i| codes[*i as usize] == class)
                    .collect();
                members.shuffle(&mut rng);
                // Keep at least one row of each class for training.
                let n_test = ((members.len() as f64 * options.test_fraction).round() as usize)
                    .min(members.len().saturating_sub(1));
                test.extend_from_slice(&members[..n_test]);
                train.extend_from_slice(&members[n_test..]);
            }
            train.sort_unstable();
            test.sort_unstable();
            (train, test)
        }
        _ => {
            let mut shuffled = all;
            shuffled.shuffle(&mut rng);
            let n_test = ((rows as f64 * options.test_fraction).round() as usize)
                .min(rows.saturating_sub(1));
            let mut test = shuffled[..n_test].to_vec();
            let mut train = shuffled[n_test..].to_vec();
            train.sort_unstable();
            test.sort_unstable();
            (train, test)
        }
    }
}

/// Repeat rows of the smaller classes until each class carries the weight of
/// the largest: whole repetitions plus a seeded sample for the remainder.
/// This is how `class_weight = 'balanced'` and `oversample_minority` are
/// applied, because linfa's logistic regression takes no sample weights.
fn balance(rows: &[u32], codes: &[u32], k: usize, seed: u64) -> Vec<u32> {
    let mut by_class: Vec<Vec<u32>> = vec![vec![]; k];
    for r in rows {
        by_class[codes[*r as usize] as usize].push(*r);
    }
    let largest = by_class.iter().map(Vec::len).max().unwrap_or(0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed.wrapping_add(1));
    let mut out = Vec::with_capacity(largest * k);
    for members in by_class.iter().filter(|m| !m.is_empty()) {
        let whole = largest / members.len();
        for _ in 0..whole {
            out.extend_from_slice(members);
        }
        let rest = largest - whole * members.len();
        out.extend(members.choose_multiple(&mut rng, rest));
    }
    out.sort_unstable();
    out
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Train one version. Runs on the calling thread: callers keep it off the
/// async runtime (`spawn_blocking`, `block_in_place`).
pub fn train(request: TrainRequest, data: TrainingData) -> Result<ModelVersion> {
    let started = Instant::now();
    let options = &request.options;
    if data.features.is_empty() {
        return Err(MlError::TrainingData(
            "a model needs at least one feature column besides the label".into(),
        ));
    }
    let data = data.canonical()?;
    let label_name = data.label_name.clone();

    // The label: class codes or numbers; rows with a NULL label are left out.
    let (classes, codes, values, kept): (Option<Classes>, Vec<u32>, Vec<f64>, Vec<u32>) =
        if options.model_type.is_classifier() {
            let (mut classes, codes) = Classes::fit(&label_name, &data.label)?;
            if let Some(warm) = request.warm.and_then(|w| w.classes.as_ref()) {
                // Keep the class order of the running model (new classes need REFRESH).
                classes = warm.clone();
            }
            let codes = if request.warm.is_some() {
                classes.codes(&data.label)?
            } else {
                codes
            };
            let kept: Vec<u32> = (0..codes.len() as u32)
                .filter(|i| codes[*i as usize].is_some())
                .collect();
            let codes: Vec<u32> = codes.into_iter().flatten().collect();
            (Some(classes), codes, vec![], kept)
        } else {
            let values = numeric_label(&label_name, &data.label)?;
            let kept: Vec<u32> = (0..values.len() as u32)
                .filter(|i| values[*i as usize].is_some())
                .collect();
            (None, vec![], values.into_iter().flatten().collect(), kept)
        };
    if kept.is_empty() {
        return Err(MlError::TrainingData(format!(
            "the training set is empty: no row has a non-NULL \"{label_name}\""
        )));
    }
    let features = take_rows(&data.features, &kept)?;
    let k = classes.as_ref().map_or(0, Classes::len);
    if let Some(classes) = &classes {
        let present: std::collections::BTreeSet<u32> = codes.iter().copied().collect();
        if present.len() < 2 {
            let only = present
                .iter()
                .next()
                .map(|c| classes.names[*c as usize].clone())
                .unwrap_or_default();
            return Err(MlError::TrainingData(format!(
                "label \"{label_name}\" has only one value ({only}) in the training rows; \
                 a classifier needs at least two classes"
            )));
        }
    }

    let say = |text: String| {
        if let Some(p) = &request.progress {
            p(text)
        }
    };
    say(format!(
        "training {} {} on {} rows with {} features",
        options.model_type.name(),
        request.name,
        kept.len(),
        data.feature_names.len()
    ));
    let prepared = Prepared {
        names: &data.feature_names,
        features,
        codes,
        values,
        k,
        label_name: &label_name,
    };

    // Hyper-parameter search: every grid point scored by k-fold ROC AUC (R²
    // for regressors); the best point's options train the model.
    let mut options = options.clone();
    let mut trials = vec![];
    let grid = options.grid()?;
    if !grid.is_empty() {
        let mut best: Option<(f64, usize)> = None;
        for (i, point) in grid.iter().enumerate() {
            let point_options = options.with_overrides(point)?;
            let metrics = prepared.kfold(&point_options, request.warm)?;
            let score = metrics
                .get(if k > 0 { "roc_auc" } else { "r2_score" })
                .filter(|s| s.is_finite())
                .unwrap_or(f64::NEG_INFINITY);
            say(format!(
                "trial {}/{}: {} scored {score:.4}",
                i + 1,
                grid.len(),
                serde_json::Value::Object(point.clone())
            ));
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, i));
            }
            trials.push(Trial {
                params: serde_json::Value::Object(point.clone()).to_string(),
                score,
                metric: if k > 0 { "roc_auc" } else { "r2_score" }.to_string(),
                best: false,
            });
        }
        if let Some((_, i)) = best {
            trials[i].best = true;
            let hparams = options.hparam_tuning.clone();
            options = options.with_overrides(&grid[i])?;
            options.hparam_tuning = hparams;
        }
    }

    let all: Vec<u32> = (0..kept.len() as u32).collect();
    let (preprocessor, estimator, metrics, rows_trained) =
        if options.data_split_method == SplitMethod::KFold {
            let metrics = prepared.kfold(&options, request.warm)?;
            let (p, e, _) = prepared.fit_split(&options, &all, &[], request.warm)?;
            (p, e, metrics, all.len())
        } else {
            let (train_rows, test_rows) = split(
                &options,
                classes.as_ref().map(|_| (&prepared.codes[..], k)),
                kept.len(),
            );
            let (p, e, m) = prepared.fit_split(&options, &train_rows, &test_rows, request.warm)?;
            (p, e, m, train_rows.len())
        };
    let options = &options;

    Ok(ModelVersion {
        name: request.name,
        // Numbered by Registry::publish.
        version: 0,
        options: options.clone(),
        label: label_name,
        classes,
        preprocessor,
        estimator,
        metrics,
        rows_trained: rows_trained as u64,
        training_seconds: started.elapsed().as_secs_f64(),
        created_at: now_micros(),
        source_query: request.source_query,
        lineage: request.lineage,
        progressive: request.progressive,
        trials,
    })
}

/// The rows of one training, after the label was coded: everything a fit
/// on some subset of them needs.
struct Prepared<'a> {
    names: &'a [String],
    /// Feature columns of the rows with a label.
    features: Vec<ArrayRef>,
    /// Classifiers: each row's class; regressors: empty.
    codes: Vec<u32>,
    /// Regressors: each row's value; classifiers: empty.
    values: Vec<f64>,
    /// Number of classes (0 for a regressor).
    k: usize,
    label_name: &'a str,
}

impl Prepared<'_> {
    /// Fit preprocessing and estimator on `train_rows` and evaluate on
    /// `eval_rows` (on the training rows when there are none).
    fn fit_split(
        &self,
        options: &ModelOptions,
        train_rows: &[u32],
        eval_rows: &[u32],
        warm: Option<&ModelVersion>,
    ) -> Result<(Preprocessor, Estimator, Metrics)> {
        let (k, codes, values) = (self.k, &self.codes, &self.values);
        let train_features = take_rows(&self.features, train_rows)?;
        let preprocessor = match warm {
            Some(w) => w.preprocessor.clone(),
            None => Preprocessor::fit(
                self.names,
                &train_features,
                options.scaler,
                options.hash_buckets,
            )?,
        };
        let x_train = preprocessor.transform(&train_features, train_rows.len())?;
        let estimator = if k > 0 {
            let fit_rows: Vec<u32> = if options.balanced || options.oversample_minority {
                let local: Vec<u32> = (0..train_rows.len() as u32).collect();
                let local_codes: Vec<u32> = train_rows.iter().map(|r| codes[*r as usize]).collect();
                balance(&local, &local_codes, k, options.seed)
            } else {
                (0..train_rows.len() as u32).collect()
            };
            let x_fit = x_train.select(
                ndarray::Axis(0),
                &fit_rows.iter().map(|r| *r as usize).collect::<Vec<_>>(),
            );
            let y_fit: Vec<usize> = fit_rows
                .iter()
                .map(|r| codes[train_rows[*r as usize] as usize] as usize)
                .collect();
            let present: std::collections::BTreeSet<usize> = y_fit.iter().copied().collect();
            if present.len() < 2 {
                return Err(MlError::TrainingData(format!(
                    "the training split of \"{}\" has one class only; add rows or use data_split_method = 'no_split'",
                    self.label_name
                )));
            }
            Estimator::fit(
                options,
                x_fit.view(),
                Target::Classes {
                    codes: &y_fit,
                    count: k,
                },
                warm.map(|w| &w.estimator),
            )?
        } else {
            let y: Vec<f64> = train_rows.iter().map(|r| values[*r as usize]).collect();
            Estimator::fit(
                options,
                x_train.view(),
                Target::Values(&y),
                warm.map(|w| &w.estimator),
            )?
        };
        let (eval_rows, evaluated_on) = if eval_rows.is_empty() {
            (train_rows, "training")
        } else {
            (eval_rows, "holdout")
        };
        let eval_features = take_rows(&self.features, eval_rows)?;
        let x_eval = preprocessor.transform(&eval_features, eval_rows.len())?;
        let metrics = match estimator.scores(x_eval.view(), k) {
            Scores::Classes(p) => {
                let actual: Vec<usize> = eval_rows
                    .iter()
                    .map(|r| codes[*r as usize] as usize)
                    .collect();
                metrics::classification(&p, &actual, evaluated_on)
            }
            Scores::Values(v) => {
                let actual: Vec<f64> = eval_rows.iter().map(|r| values[*r as usize]).collect();
                metrics::regression(&v, &actual, evaluated_on)
            }
        };
        Ok((preprocessor, estimator, metrics))
    }

    /// Metrics as mean and standard deviation over `options.num_folds` folds.
    fn kfold(&self, options: &ModelOptions, warm: Option<&ModelVersion>) -> Result<Metrics> {
        let n = self.features.first().map_or(0, |c| c.len());
        let folds = options.num_folds.min(n);
        if folds < 2 {
            return Err(MlError::TrainingData(format!(
                "{n} rows cannot make {} folds",
                options.num_folds
            )));
        }
        let fold_of = assign_folds(
            options.seed,
            (self.k > 0).then_some((&self.codes[..], self.k)),
            n,
            folds,
        );
        let mut per_fold: Vec<Metrics> = vec![];
        for f in 0..folds {
            let (test, train): (Vec<u32>, Vec<u32>) =
                (0..n as u32).partition(|r| fold_of[*r as usize] == f);
            per_fold.push(self.fit_split(options, &train, &test, warm)?.2);
        }
        Ok(metrics::mean_over_folds(&per_fold))
    }
}

/// Each row's fold (stratified for classifiers: every class dealt round
/// the folds in a seeded order).
fn assign_folds(
    seed: u64,
    classes: Option<(&[u32], usize)>,
    rows: usize,
    folds: usize,
) -> Vec<usize> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut fold_of = vec![0usize; rows];
    let groups: Vec<Vec<u32>> = match classes {
        Some((codes, k)) => (0..k as u32)
            .map(|c| {
                (0..rows as u32)
                    .filter(|r| codes[*r as usize] == c)
                    .collect()
            })
            .collect(),
        None => vec![(0..rows as u32).collect()],
    };
    let mut next = 0;
    for mut group in groups {
        group.shuffle(&mut rng);
        for r in group {
            fold_of[r as usize] = next % folds;
            next += 1;
        }
    }
    fold_of
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::options::ModelOptions;

    #[test]
    fn stratified_split_keeps_the_class_ratio() {
        let o = ModelOptions::from_text(r#"{"model_type": "logistic_reg", "seed": 7}"#).unwrap();
        let codes: Vec<u32> = (0..1000).map(|i| u32::from(i % 10 == 0)).collect();
        let (train, test) = split(&o, Some((&codes, 2)), 1000);
        assert_eq!(train.len() + test.len(), 1000);
        let positives = |rows: &[u32]| rows.iter().filter(|r| codes[**r as usize] == 1).count();
        assert_eq!(positives(&test), 20);
        assert_eq!(positives(&train), 80);
        assert_eq!(test.len(), 200);
    }

    #[test]
    fn balancing_equalises_class_weight() {
        let codes: Vec<u32> = vec![0, 0, 0, 0, 0, 1, 1];
        let rows: Vec<u32> = (0..7).collect();
        let out = balance(&rows, &codes, 2, 0);
        let ones = out.iter().filter(|r| codes[**r as usize] == 1).count();
        assert_eq!(ones, 5);
        assert_eq!(out.len(), 10);
    }
}
