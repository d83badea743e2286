//! The fitted estimators, trained by linfa and stored as plain parameters so
//! that a reloaded model predicts bit-for-bit what it predicted before.

use linfa::prelude::*;
use linfa_bayes::{GaussianNb, NaiveBayes};
use linfa_linear::LinearRegression;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::error::{MlError, Result};
use super::options::{ModelOptions, ModelType};
use super::tree::FlatTree;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Estimator {
    /// Binary logistic regression: P(class 1) = σ(x·w + b).
    Logistic {
        weights: Vec<f64>,
        intercept: f64,
    },
    /// Multinomial logistic regression: softmax over `x·W + b` (W: features × classes).
    Softmax {
        weights: Array2<f64>,
        intercepts: Vec<f64>,
    },
    Linear {
        weights: Vec<f64>,
        intercept: f64,
    },
    Tree(FlatTree),
    Forest {
        trees: Vec<FlatTree>,
        /// The input columns each tree was fitted on.
        columns: Vec<Vec<usize>>,
    },
    NaiveBayes(GaussianNb<f64, usize>),
}

/// What an estimator says about a batch of rows.
pub enum Scores {
    /// Per row, the probability of each class (rows × classes).
    Classes(Array2<f64>),
    Values(Array1<f64>),
}

/// The training target.
pub enum Target<'a> {
    Classes { codes: &'a [usize], count: usize },
    Values(&'a [f64]),
}

/// The logistic function, without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// L-BFGS stops when the gradient's norm falls below this. linfa's loss is a
/// sum over rows, so its default (1e-4, absolute) asks a large training set
/// for a precision no one needs and runs every iteration; scikit-learn
/// applies its 1e-4 to the mean loss. Scaling by the row count asks the same
/// of the sum.
fn gradient_tolerance(rows: usize) -> f64 {
    1e-4 * rows.max(1) as f64
}

/// The class linfa's binary logistic regression treats as positive: the
/// more frequent one, or the first seen when both are as frequent.
fn linfa_positive_class(codes: &[usize]) -> usize {
    let first = codes.first().copied().unwrap_or(0);
    let first_count = codes.iter().filter(|c| **c == first).count();
    let other = 1 - first.min(1);
    if first_count < codes.len() - first_count {
        other
    } else {
        first
    }
}

fn failed(e: impl std::fmt::Display) -> MlError {
    MlError::Training(e.to_string())
}

impl Estimator {
    /// Fit `model_type` on `x`. `warm` is the previous version's estimator,
    /// whose weights start the optimiser (logistic regression).
    pub fn fit(
        options: &ModelOptions,
        x: ArrayView2<f64>,
        target: Target,
        warm: Option<&Estimator>,
    ) -> Result<Estimator> {
        let x_owned = x.to_owned();
        match (options.model_type, target) {
            (ModelType::LogisticReg, Target::Classes { codes, count: 2 }) => {
                // linfa makes the more frequent class its positive one (the
                // first seen on a tie); Brook's positive class is class 1.
                let linfa_positive = linfa_positive_class(codes);
                let sign = if linfa_positive == 1 { 1.0 } else { -1.0 };
                let y = Array1::from(codes.to_vec());
                let data = Dataset::new(x_owned, y);
                let mut params = LogisticRegression::default()
                    .alpha(options.l2_reg)
                    .max_iterations(options.max_iterations)
                    .gradient_tolerance(gradient_tolerance(x.nrows()));
                if let Some(Estimator::Logistic { weights, intercept }) = warm
                    && weights.len() == x.ncols()
                {
                    let mut init: Vec<f64> = weights.iter().map(|w| w * sign).collect();
                    init.push(intercept * sign);
                    params = params.initial_params(Array1::from(init));
                }
                let fitted = params.fit(&data).map_err(failed)?;
                Ok(Estimator::Logistic {
                    weights: fitted.params().iter().map(|w| w * sign).collect(),
                    intercept: fitted.intercept() * sign,
                })
            }
            (ModelType::LogisticReg, Target::Classes { codes, count }) => {
                let y = Array1::from(codes.to_vec());
                let data = Dataset::new(x_owned, y);
                let fitted = MultiLogisticRegression::default()
                    .alpha(options.l2_reg)
                    .max_iterations(options.max_iterations)
                    .gradient_tolerance(gradient_tolerance(x.nrows()))
                    .fit(&data)
                    .map_err(failed)?;
                // Put linfa's columns in Brook's class order (class k in column k).
                let mut weights = Array2::<f64>::zeros((x.ncols(), count));
                let mut intercepts = vec![0.0; count];
                for (column, class) in fitted.classes().iter().enumerate() {
                    weights
                        .column_mut(*class)
                        .assign(&fitted.params().column(column));
                    intercepts[*class] = fitted.intercept()[column];
                }
                Ok(Estimator::Softmax {
                    weights,
                    intercepts,
                })
            }
            (ModelType::LinearReg, Target::Values(y)) => {
                let data = Dataset::new(x_owned, Array1::from(y.to_vec()));
                let fitted = LinearRegression::new().fit(&data).map_err(failed)?;
                Ok(Estimator::Linear {
                    weights: fitted.params().to_vec(),
                    intercept: fitted.intercept(),
                })
            }
            (ModelType::DecisionTree, Target::Classes { codes, count }) => {
                let data = Dataset::new(x_owned, Array1::from(codes.to_vec()));
                let tree = DecisionTree::params()
                    .max_depth(Some(options.max_depth))
                    .fit(&data)
                    .map_err(failed)?;
                Ok(Estimator::Tree(FlatTree::from_linfa(
                    &tree, x, codes, count,
                )))
            }
            (ModelType::RandomForest, Target::Classes { codes, count }) => {
                let data = Dataset::new(x_owned, Array1::from(codes.to_vec()));
                let rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
                let feature_share = (0.6f64).max(1.0 / x.ncols().max(1) as f64);
                let forest = linfa_ensemble::EnsembleLearnerParams::new_fixed_rng(
                    DecisionTree::params().max_depth(Some(options.max_depth)),
                    rng,
                )
                .ensemble_size(options.num_trees)
                .bootstrap_proportion(1.0)
                .feature_proportion(feature_share)
                .fit(&data)
                .map_err(failed)?;
                let trees = forest
                    .models
                    .iter()
                    .zip(&forest.model_features)
                    .map(|(tree, cols)| {
                        let sub = x.select(Axis(1), cols);
                        FlatTree::from_linfa(tree, sub.view(), codes, count)
                    })
                    .collect();
                Ok(Estimator::Forest {
                    trees,
                    columns: forest.model_features,
                })
            }
            (ModelType::NaiveBayes, Target::Classes { codes, .. }) => {
                let data = Dataset::new(x_owned, Array1::from(codes.to_vec()));
                let nb = GaussianNb::params().fit(&data).map_err(failed)?;
                Ok(Estimator::NaiveBayes(nb))
            }
            (t, _) => Err(MlError::Training(format!(
                "{} cannot train on this label",
                t.name()
            ))),
        }
    }

    /// Score the rows of `x` (already preprocessed).
    pub fn scores(&self, x: ArrayView2<f64>, classes: usize) -> Scores {
        match self {
            Estimator::Logistic { weights, intercept } => {
                let w = ndarray::ArrayView1::from(weights.as_slice());
                let z = x.dot(&w);
                let mut p = Array2::<f64>::zeros((x.nrows(), 2));
                for (i, z) in z.iter().enumerate() {
                    let pos = sigmoid(z + intercept);
                    p[[i, 0]] = 1.0 - pos;
                    p[[i, 1]] = pos;
                }
                Scores::Classes(p)
            }
            Estimator::Softmax {
                weights,
                intercepts,
            } => {
                let mut z = x.dot(weights);
                for mut row in z.rows_mut() {
                    for (v, b) in row.iter_mut().zip(intercepts) {
                        *v += b;
                    }
                    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    row.mapv_inplace(|v| (v - max).exp());
                    let sum = row.sum();
                    row.mapv_inplace(|v| v / sum);
                }
                Scores::Classes(z)
            }
            Estimator::Linear { weights, intercept } => {
                let w = ndarray::ArrayView1::from(weights.as_slice());
                Scores::Values(x.dot(&w) + *intercept)
            }
            Estimator::Tree(tree) => {
                let mut p = Array2::<f64>::zeros((x.nrows(), classes));
                for (i, row) in x.rows().into_iter().enumerate() {
                    for (c, v) in tree.proba(row).iter().enumerate() {
                        p[[i, c]] = *v;
                    }
                }
                Scores::Classes(p)
            }
            Estimator::Forest { trees, columns } => {
                let mut p = Array2::<f64>::zeros((x.nrows(), classes));
                for (tree, cols) in trees.iter().zip(columns) {
                    let sub = x.select(Axis(1), cols);
                    for (i, row) in sub.rows().into_iter().enumerate() {
                        for (c, v) in tree.proba(row).iter().enumerate() {
                            p[[i, c]] += *v;
                        }
                    }
                }
                p /= trees.len().max(1) as f64;
                Scores::Classes(p)
            }
            Estimator::NaiveBayes(nb) => {
                let (proba, order) = nb.predict_proba(x);
                // Columns come in the model's class order; place each at its class.
                let mut p = Array2::<f64>::zeros((x.nrows(), classes));
                for (col, class) in order.iter().enumerate() {
                    p.column_mut(**class).assign(&proba.column(col));
                }
                Scores::Classes(p)
            }
        }
    }

    /// Named weights for MODEL_WEIGHTS: coefficients of linear models, impurity
    /// importance of trees (averaged over a forest). `(column, class, weight)`.
    pub fn weights(&self, columns: &[String], classes: &[String]) -> Vec<(String, String, f64)> {
        let mut out = vec![];
        match self {
            Estimator::Logistic { weights, intercept }
            | Estimator::Linear { weights, intercept } => {
                let class = classes.last().cloned().unwrap_or_default();
                for (c, w) in columns.iter().zip(weights) {
                    out.push((c.clone(), class.clone(), *w));
                }
                out.push(("__intercept__".into(), class, *intercept));
            }
            Estimator::Softmax {
                weights,
                intercepts,
            } => {
                for (k, class) in classes.iter().enumerate() {
                    for (c, column) in columns.iter().enumerate() {
                        out.push((column.clone(), class.clone(), weights[[c, k]]));
                    }
                    out.push(("__intercept__".into(), class.clone(), intercepts[k]));
                }
            }
            Estimator::Tree(tree) => {
                for (c, w) in columns.iter().zip(&tree.importance) {
                    out.push((c.clone(), String::new(), *w));
                }
            }
            Estimator::Forest {
                trees,
                columns: cols,
            } => {
                let mut total = vec![0.0; columns.len()];
                for (tree, cols) in trees.iter().zip(cols) {
                    for (i, w) in cols.iter().zip(&tree.importance) {
                        total[*i] += w / trees.len() as f64;
                    }
                }
                for (c, w) in columns.iter().zip(total) {
                    out.push((c.clone(), String::new(), w));
                }
            }
            Estimator::NaiveBayes(_) => {}
        }
        out
    }
}
