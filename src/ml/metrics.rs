//! Evaluation metrics, named as BigQuery ML names them. Binary classifiers
//! score the positive (larger) class; with more classes precision, recall,
//! F1 and ROC AUC are macro averages over one-vs-rest.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// The probability at or above which a binary classifier says "positive".
pub const THRESHOLD: f64 = 0.5;
const EPS: f64 = 1e-15;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// `holdout` (the split's test rows), `training` (no split) or `query`.
    pub evaluated_on: String,
    pub rows: u64,
    /// Metric name and value, in display order.
    pub values: Vec<(String, f64)>,
    /// Classifiers: counts of (actual, predicted) class pairs.
    pub confusion: Option<Vec<Vec<u64>>>,
}

impl Metrics {
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The metrics as one JSON object, for `information_schema.models`.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("evaluated_on".into(), self.evaluated_on.clone().into());
        map.insert("rows".into(), self.rows.into());
        for (name, v) in &self.values {
            map.insert(
                name.clone(),
                serde_json::Number::from_f64(*v)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
            );
        }
        serde_json::Value::Object(map).to_string()
    }
}

/// The predicted class of each row: the positive class at or above
/// [`THRESHOLD`] for two classes, the most probable class otherwise.
pub fn predicted_classes(proba: &Array2<f64>) -> Vec<usize> {
    proba
        .rows()
        .into_iter()
        .map(|row| {
            if row.len() == 2 {
                usize::from(row[1] >= THRESHOLD)
            } else {
                row.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (i, p)| {
                        if *p > best.1 { (i, *p) } else { best }
                    })
                    .0
            }
        })
        .collect()
}

/// ROC AUC of `scores` for `positive` (rank statistic; ties share ranks).
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let pos = positive.iter().filter(|p| **p).count();
    let neg = positive.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            if positive[order[k]] {
                rank_sum += rank;
            }
        }
        i = j + 1;
    }
    let (pos, neg) = (pos as f64, neg as f64);
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// One class against the rest: precision, recall, F1 and ROC AUC.
type ClassScores = (f64, f64, f64, Option<f64>);

/// Classifier metrics of class probabilities `proba` against `actual` classes.
pub fn classification(proba: &Array2<f64>, actual: &[usize], evaluated_on: &str) -> Metrics {
    let k = proba.ncols();
    let predicted = predicted_classes(proba);
    let mut confusion = vec![vec![0u64; k]; k];
    for (a, p) in actual.iter().zip(&predicted) {
        confusion[*a][*p] += 1;
    }
    let n = actual.len() as u64;
    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    let per_class = |c: usize| {
        let tp = confusion[c][c];
        let predicted_c: u64 = (0..k).map(|a| confusion[a][c]).sum();
        let actual_c: u64 = confusion[c].iter().sum();
        let precision = ratio(tp, predicted_c);
        let recall = ratio(tp, actual_c);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        let scores: Vec<f64> = proba.column(c).to_vec();
        let positive: Vec<bool> = actual.iter().map(|a| *a == c).collect();
        (precision, recall, f1, roc_auc(&scores, &positive))
    };
    let (precision, recall, f1, auc) = if k == 2 {
        per_class(1)
    } else {
        let all: Vec<_> = (0..k).map(per_class).collect();
        let mean = |f: fn(&ClassScores) -> f64| all.iter().map(f).sum::<f64>() / k as f64;
        let aucs: Vec<f64> = all.iter().filter_map(|c| c.3).collect();
        (
            mean(|c| c.0),
            mean(|c| c.1),
            mean(|c| c.2),
            (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64),
        )
    };
    let log_loss = actual
        .iter()
        .enumerate()
        .map(|(i, a)| -proba[[i, *a]].clamp(EPS, 1.0 - EPS).ln())
        .sum::<f64>()
        / n.max(1) as f64;
    let mut values = vec![
        ("precision".to_string(), precision),
        ("recall".to_string(), recall),
        ("accuracy".to_string(), ratio(correct, n)),
        ("f1_score".to_string(), f1),
        ("log_loss".to_string(), log_loss),
    ];
    if let Some(auc) = auc {
        values.push(("roc_auc".to_string(), auc));
    }
    values.push(("threshold".to_string(), THRESHOLD));
    Metrics {
        evaluated_on: evaluated_on.to_string(),
        rows: n,
        values,
        confusion: Some(confusion),
    }
}

/// Regressor metrics of `predicted` against `actual`.
pub fn regression(predicted: &Array1<f64>, actual: &[f64], evaluated_on: &str) -> Metrics {
    let n = actual.len().max(1) as f64;
    let mean = actual.iter().sum::<f64>() / n;
    let (mut abs, mut sq, mut total) = (0.0, 0.0, 0.0);
    for (p, a) in predicted.iter().zip(actual) {
        abs += (p - a).abs();
        sq += (p - a) * (p - a);
        total += (a - mean) * (a - mean);
    }
    let mse = sq / n;
    let r2 = if total > 0.0 { 1.0 - sq / total } else { 0.0 };
    Metrics {
        evaluated_on: evaluated_on.to_string(),
        rows: actual.len() as u64,
        values: vec![
            ("mean_absolute_error".into(), abs / n),
            ("mean_squared_error".into(), mse),
            ("root_mean_squared_error".into(), mse.sqrt()),
            ("r2_score".into(), r2),
        ],
        confusion: None,
    }
}

/// k-fold metrics: each metric's mean over the folds, followed by its
/// standard deviation as `<name>_std`; confusion counts are summed.
pub fn mean_over_folds(folds: &[Metrics]) -> Metrics {
    let n = folds.len().max(1) as f64;
    let names: Vec<String> = folds
        .first()
        .map(|m| m.values.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut values = vec![];
    let mut stds = vec![];
    for name in names {
        let xs: Vec<f64> = folds.iter().filter_map(|m| m.get(&name)).collect();
        let mean = xs.iter().sum::<f64>() / n;
        let std = (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        values.push((name.clone(), mean));
        if name != "threshold" {
            stds.push((format!("{name}_std"), std));
        }
    }
    values.extend(stds);
    let confusion = folds
        .first()
        .and_then(|m| m.confusion.clone())
        .map(|mut total| {
            for m in &folds[1..] {
                if let Some(c) = &m.confusion {
                    for (row, other) in total.iter_mut().zip(c) {
                        for (cell, o) in row.iter_mut().zip(other) {
                            *cell += o;
                        }
                    }
                }
            }
            total
        });
    Metrics {
        evaluated_on: "kfold".into(),
        rows: folds.iter().map(|m| m.rows).sum(),
        values,
        confusion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn auc_by_hand() {
        // Positives at 0.8 and 0.4, negatives at 0.6 and 0.2: 3 of 4 pairs ordered.
        let auc = roc_auc(&[0.8, 0.6, 0.4, 0.2], &[true, false, true, false]).unwrap();
        assert!((auc - 0.75).abs() < 1e-12);
        // A tie between a positive and a negative counts half.
        let auc = roc_auc(&[0.5, 0.5], &[true, false]).unwrap();
        assert!((auc - 0.5).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.1], &[true]), None);
    }

    #[test]
    fn binary_metrics_by_hand() {
        let proba = array![[0.1, 0.9], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]];
        // actual 1, 1, 0, 0 → predicted 1, 0, 1, 0: tp 1, fn 1, fp 1, tn 1.
        let m = classification(&proba, &[1, 1, 0, 0], "query");
        assert_eq!(m.get("precision"), Some(0.5));
        assert_eq!(m.get("recall"), Some(0.5));
        assert_eq!(m.get("accuracy"), Some(0.5));
        assert_eq!(m.get("f1_score"), Some(0.5));
        let ll = -(0.9f64.ln() + 0.4f64.ln() + 0.3f64.ln() + 0.8f64.ln()) / 4.0;
        assert!((m.get("log_loss").unwrap() - ll).abs() < 1e-12);
        assert_eq!(m.confusion, Some(vec![vec![1, 1], vec![1, 1]]));
    }

    #[test]
    fn regression_by_hand() {
        let m = regression(&array![1.0, 2.0, 4.0], &[1.0, 3.0, 3.0], "query");
        assert!((m.get("mean_absolute_error").unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.get("mean_squared_error").unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // mean 7/3; total = 16/9 + 4/9 + 4/9 = 24/9; r2 = 1 - 2 / (24/9) = 0.25
        assert!((m.get("r2_score").unwrap() - 0.25).abs() < 1e-12);
    }
}
