//! Model options, as `CREATE MODEL … OPTIONS (…)` and `TRAIN`'s JSON take them.
//! Names follow BigQuery ML where it has one (`model_type`, `input_label_cols`,
//! `data_split_method`, `l2_reg`, `max_iterations`); an unknown name is an
//! error that names it, so a typo never silently trains with a default.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{MlError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelType {
    LogisticReg,
    LinearReg,
    DecisionTree,
    RandomForest,
    NaiveBayes,
}

impl ModelType {
    pub fn name(self) -> &'static str {
        match self {
            ModelType::LogisticReg => "logistic_reg",
            ModelType::LinearReg => "linear_reg",
            ModelType::DecisionTree => "decision_tree",
            ModelType::RandomForest => "random_forest",
            ModelType::NaiveBayes => "naive_bayes",
        }
    }

    /// Classifiers predict a label; the only regressor predicts a number.
    pub fn is_classifier(self) -> bool {
        !matches!(self, ModelType::LinearReg)
    }

    /// Whether an incremental refresh can start from the current weights.
    pub fn warm_starts(self) -> bool {
        matches!(self, ModelType::LogisticReg | ModelType::LinearReg)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitMethod {
    Random,
    Stratified,
    NoSplit,
    /// k folds: each metric is the mean (and `_std`) over the folds; the
    /// model is then fitted on all rows.
    KFold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refresh {
    Manual,
    Incremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scaler {
    Standard,
    MinMax,
}

/// Every option a model takes, with its default filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelOptions {
    pub model_type: ModelType,
    /// The label column of `CREATE MODEL`'s query (the rest are features).
    pub input_label_cols: Vec<String>,
    pub data_split_method: SplitMethod,
    pub test_fraction: f64,
    /// Give every class the same total weight (`class_weight = 'balanced'`).
    pub balanced: bool,
    pub oversample_minority: bool,
    pub max_iterations: u64,
    pub l2_reg: f64,
    pub seed: u64,
    pub refresh: Refresh,
    pub refresh_interval_ms: u64,
    /// Text features with more distinct training values than this are hashed
    /// into this many buckets instead of one-hot encoded.
    pub hash_buckets: usize,
    pub max_depth: usize,
    pub num_trees: usize,
    pub scaler: Scaler,
    pub num_folds: usize,
    /// The grid to search (`{"l2_reg": [0, 0.1]}`), as JSON text.
    pub hparam_tuning: Option<String>,
    /// The options as given (JSON text), for deriving a grid point's options.
    pub given: String,
}

/// Largest number of grid points `hparam_tuning` may ask for.
const MAX_TRIALS: usize = 64;

/// The option names accepted, for the error message that lists them.
const KNOWN: &[&str] = &[
    "model_type",
    "input_label_cols",
    "data_split_method",
    "test_fraction",
    "class_weight",
    "oversample_minority",
    "max_iterations",
    "l2_reg",
    "seed",
    "refresh",
    "refresh_interval_ms",
    "hash_buckets",
    "max_depth",
    "num_trees",
    "scaler",
    "num_folds",
    "hparam_tuning",
];

fn invalid(key: &str, expected: &str, got: &Value) -> MlError {
    MlError::InvalidOption(format!(
        "model option \"{key}\" must be {expected}, not {got}"
    ))
}

fn text<'a>(key: &str, v: &'a Value) -> Result<&'a str> {
    v.as_str().ok_or_else(|| invalid(key, "a string", v))
}

fn count(key: &str, v: &Value, min: u64) -> Result<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| *n >= min)
        .ok_or_else(|| invalid(key, &format!("an integer ≥ {min}"), v))
}

fn number(key: &str, v: &Value) -> Result<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| n.is_finite())
        .ok_or_else(|| invalid(key, "a number", v))
}

fn flag(key: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(key, "true or false", v)),
    }
}

fn one_of<T: Copy>(key: &str, v: &Value, choices: &[(&str, T)]) -> Result<T> {
    let s = text(key, v)?;
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("'{n}'")).collect();
            invalid(key, &format!("one of {}", names.join(", ")), v)
        })
}

impl ModelOptions {
    /// Read options from a JSON object (TRAIN's second argument, or the
    /// OPTIONS list of CREATE MODEL turned into one).
    pub fn from_json(map: &Map<String, Value>) -> Result<Self> {
        let model_type = match map.get("model_type") {
            Some(v) => one_of(
                "model_type",
                v,
                &[
                    ("logistic_reg", ModelType::LogisticReg),
                    ("linear_reg", ModelType::LinearReg),
                    ("decision_tree", ModelType::DecisionTree),
                    ("random_forest", ModelType::RandomForest),
                    ("naive_bayes", ModelType::NaiveBayes),
                ],
            )?,
            None => {
                return Err(MlError::InvalidOption(
                    "model option \"model_type\" is required: 'logistic_reg', 'linear_reg', \
                     'decision_tree', 'random_forest' or 'naive_bayes'"
                        .into(),
                ));
            }
        };
        let mut o = ModelOptions {
            model_type,
            input_label_cols: vec!["label".into()],
            data_split_method: if model_type.is_classifier() {
                SplitMethod::Stratified
            } else {
                SplitMethod::Random
            },
            test_fraction: 0.2,
            balanced: false,
            oversample_minority: false,
            max_iterations: 100,
            l2_reg: 0.0,
            seed: 0,
            refresh: Refresh::Manual,
            refresh_interval_ms: 5000,
            hash_buckets: 1000,
            max_depth: 8,
            num_trees: 50,
            scaler: Scaler::Standard,
            num_folds: 5,
            hparam_tuning: None,
            given: Value::Object(map.clone()).to_string(),
        };
        for (key, v) in map {
            match key.as_str() {
                "model_type" => {}
                "input_label_cols" => {
                    o.input_label_cols = match v {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(items) if items.len() == 1 => {
                            vec![text(key, &items[0])?.to_string()]
                        }
                        _ => return Err(invalid(key, "one column name, as ['col']", v)),
                    }
                }
                "data_split_method" => {
                    o.data_split_method = one_of(
                        key,
                        v,
                        &[
                            ("random", SplitMethod::Random),
                            ("stratified", SplitMethod::Stratified),
                            ("no_split", SplitMethod::NoSplit),
                            ("kfold", SplitMethod::KFold),
                        ],
                    )?
                }
                "test_fraction" => {
                    let f = number(key, v)?;
                    if !(0.0..1.0).contains(&f) || f == 0.0 {
                        return Err(invalid(key, "a fraction between 0 and 1", v));
                    }
                    o.test_fraction = f;
                }
                "class_weight" => {
                    o.balanced = one_of(key, v, &[("balanced", true), ("none", false)])?;
                }
                "oversample_minority" => o.oversample_minority = flag(key, v)?,
                "max_iterations" => o.max_iterations = count(key, v, 1)?,
                "l2_reg" => {
                    let f = number(key, v)?;
                    if f < 0.0 {
                        return Err(invalid(key, "a number ≥ 0", v));
                    }
                    o.l2_reg = f;
                }
                "seed" => o.seed = count(key, v, 0)?,
                "refresh" => {
                    o.refresh = one_of(
                        key,
                        v,
                        &[
                            ("manual", Refresh::Manual),
                            ("incremental", Refresh::Incremental),
                        ],
                    )?
                }
                "refresh_interval_ms" => o.refresh_interval_ms = count(key, v, 10)?,
                "hash_buckets" => o.hash_buckets = count(key, v, 2)? as usize,
                "max_depth" => o.max_depth = count(key, v, 1)? as usize,
                "num_trees" => o.num_trees = count(key, v, 1)? as usize,
                "scaler" => {
                    o.scaler = one_of(
                        key,
                        v,
                        &[("standard", Scaler::Standard), ("minmax", Scaler::MinMax)],
                    )?
                }
                "num_folds" => o.num_folds = count(key, v, 2)? as usize,
                "hparam_tuning" => {
                    let grid = match v {
                        Value::String(text) => serde_json::from_str::<Value>(text)
                            .map_err(|_| invalid(key, "a JSON object of option lists", v))?,
                        other => other.clone(),
                    };
                    let points = grid_points(&grid)?;
                    if points.len() > MAX_TRIALS {
                        return Err(MlError::InvalidOption(format!(
                            "hparam_tuning asks for {} trials; at most {MAX_TRIALS}",
                            points.len()
                        )));
                    }
                    // Every point must itself be valid options.
                    for point in &points {
                        let mut m = map.clone();
                        m.remove("hparam_tuning");
                        m.extend(point.clone());
                        ModelOptions::from_json(&m)?;
                    }
                    o.hparam_tuning = Some(grid.to_string());
                }
                unknown => {
                    return Err(MlError::InvalidOption(format!(
                        "unknown model option \"{unknown}\"; the options are {}",
                        KNOWN.join(", ")
                    )));
                }
            }
        }
        if o.balanced && !model_type.is_classifier() {
            return Err(MlError::InvalidOption(
                "class_weight applies to classifiers only".into(),
            ));
        }
        if o.data_split_method == SplitMethod::Stratified && !model_type.is_classifier() {
            return Err(MlError::InvalidOption(
                "data_split_method 'stratified' needs a classifier: linear_reg has no classes"
                    .into(),
            ));
        }
        Ok(o)
    }

    /// These options with `point`'s values instead (one grid point of
    /// `hparam_tuning`, which the result no longer carries).
    pub fn with_overrides(&self, point: &Map<String, Value>) -> Result<Self> {
        let mut map = match serde_json::from_str::<Value>(&self.given) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        map.remove("hparam_tuning");
        map.extend(point.clone());
        Self::from_json(&map)
    }

    /// The grid points of `hparam_tuning`, if any.
    pub fn grid(&self) -> Result<Vec<Map<String, Value>>> {
        match &self.hparam_tuning {
            None => Ok(vec![]),
            Some(text) => grid_points(
                &serde_json::from_str(text)
                    .map_err(|e| MlError::InvalidOption(format!("hparam_tuning: {e}")))?,
            ),
        }
    }

    /// Parse TRAIN's option text.
    pub fn from_text(json: &str) -> Result<Self> {
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => Self::from_json(&map),
            Ok(_) => Err(MlError::InvalidOption(
                "model options must be a JSON object, as '{\"model_type\": \"logistic_reg\"}'"
                    .into(),
            )),
            Err(e) => Err(MlError::InvalidOption(format!(
                "model options are not valid JSON: {e}"
            ))),
        }
    }
}

/// The cartesian product of a `{"option": [values…]}` grid.
fn grid_points(grid: &Value) -> Result<Vec<Map<String, Value>>> {
    let Value::Object(axes) = grid else {
        return Err(MlError::InvalidOption(
            "hparam_tuning must be a JSON object of option lists, as '{\"l2_reg\": [0, 0.1]}'"
                .into(),
        ));
    };
    let mut points = vec![Map::new()];
    for (key, values) in axes {
        if matches!(
            key.as_str(),
            "hparam_tuning" | "model_type" | "input_label_cols" | "refresh"
        ) {
            return Err(MlError::InvalidOption(format!(
                "hparam_tuning cannot vary \"{key}\""
            )));
        }
        let Value::Array(values) = values else {
            return Err(MlError::InvalidOption(format!(
                "hparam_tuning: \"{key}\" must list its values, as [1, 2]"
            )));
        };
        let mut next = vec![];
        for point in &points {
            for v in values {
                let mut p = point.clone();
                p.insert(key.clone(), v.clone());
                next.push(p);
            }
        }
        points = next;
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_model_type() {
        let o = ModelOptions::from_text(r#"{"model_type": "logistic_reg"}"#).unwrap();
        assert_eq!(o.data_split_method, SplitMethod::Stratified);
        let o = ModelOptions::from_text(r#"{"model_type": "linear_reg"}"#).unwrap();
        assert_eq!(o.data_split_method, SplitMethod::Random);
    }

    #[test]
    fn unknown_option_is_named() {
        let e = ModelOptions::from_text(r#"{"model_type": "logistic_reg", "learn_rat": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"learn_rat\""), "{e}");
    }

    #[test]
    fn grid_is_a_cartesian_product_of_valid_options() {
        let o = ModelOptions::from_text(
            r#"{"model_type": "decision_tree", "hparam_tuning": "{\"max_depth\": [2, 4], \"seed\": [1, 2, 3]}"}"#,
        )
        .unwrap();
        let grid = o.grid().unwrap();
        assert_eq!(grid.len(), 6);
        let point = o.with_overrides(&grid[5]).unwrap();
        assert_eq!((point.max_depth, point.seed), (4, 3));
        assert_eq!(point.hparam_tuning, None);
        let e = ModelOptions::from_text(
            r#"{"model_type": "decision_tree", "hparam_tuning": {"max_depth": [0]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("max_depth"), "{e}");
    }

    #[test]
    fn bad_values_say_what_was_expected() {
        let e = ModelOptions::from_text(r#"{"model_type": "svm"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'logistic_reg'"), "{e}");
        let e = ModelOptions::from_text(r#"{"model_type": "logistic_reg", "test_fraction": 2}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("test_fraction"), "{e}");
    }
}
