//! The table functions that look into a model: `EVALUATE`, `FEATURE_INFO`,
//! `MODEL_WEIGHTS`, `CONFUSION_MATRIX` and `FEATURE_DRIFT`. Each resolves
//! its model when it is scanned, not when it is planned, so a view over
//! `EVALUATE('m')` always shows the current version.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result as DfResult, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::future::BoxFuture;

use super::error::MlError;
use super::estimator::Scores;
use super::metrics::{self, Metrics};
use super::model::ModelVersion;
use super::preprocess::{Encoding, bin_of};
use super::registry::Registry;

type Rows = Arc<dyn Fn(SessionState) -> BoxFuture<'static, DfResult<RecordBatch>> + Send + Sync>;

/// A table whose rows are computed (possibly by running a query) at scan time.
struct LazyTable {
    schema: SchemaRef,
    rows: Rows,
}

impl fmt::Debug for LazyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyTable")
            .field("schema", &self.schema)
            .finish()
    }
}

#[async_trait]
impl TableProvider for LazyTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let session = state
            .as_any()
            .downcast_ref::<SessionState>()
            .cloned()
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Internal("not a SessionState".into())
            })?;
        let batch = (self.rows)(session).await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}

/// The string constants a table function was called with.
fn text_args(function: &str, exprs: &[Expr], min: usize, max: usize) -> DfResult<Vec<String>> {
    if exprs.len() < min || exprs.len() > max {
        return plan_err!(
            "{function} takes {min} to {max} string arguments, not {}",
            exprs.len()
        );
    }
    exprs
        .iter()
        .map(|e| match e {
            Expr::Literal(ScalarValue::Utf8(Some(s)), _)
            | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _)
            | Expr::Literal(ScalarValue::Utf8View(Some(s)), _) => Ok(s.clone()),
            other => plan_err!("{function}'s arguments must be string constants, not {other}"),
        })
        .collect()
}

fn f64_field(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}

fn batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> DfResult<RecordBatch> {
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Run `sql`, which must be one query (`query_text`), in the caller's
/// session and gather its rows.
async fn run_query(state: SessionState, sql: &str) -> DfResult<RecordBatch> {
    let plan = crate::query_text::plan_query(&state, sql, "a model function's query").await?;
    let ctx = SessionContext::new_with_state(state);
    let df = ctx.execute_logical_plan(plan).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok(concat_batches(&schema, &batches)?)
}

/// The columns of `rows` the model needs, by name: its features and, when
/// `with_label`, its label.
fn named_columns(
    model: &ModelVersion,
    rows: &RecordBatch,
    with_label: bool,
) -> Result<(Vec<ArrayRef>, Option<ArrayRef>), MlError> {
    let find = |name: &str| {
        rows.schema()
            .index_of(name)
            .ok()
            .map(|i| rows.column(i).clone())
            .ok_or_else(|| {
                MlError::Arguments(format!(
                    "the query's rows have no column \"{name}\"; model \"{}\" needs {}{}",
                    model.name,
                    if with_label {
                        format!("its label \"{}\" and ", model.label)
                    } else {
                        String::new()
                    },
                    model.preprocessor.signature()
                ))
            })
    };
    let features = model
        .feature_names()
        .iter()
        .map(|n| find(n))
        .collect::<Result<Vec<_>, _>>()?;
    let label = if with_label {
        Some(find(&model.label)?)
    } else {
        None
    };
    Ok((features, label))
}

/// Metrics of `model` on the rows of a query.
fn evaluate_rows(model: &ModelVersion, rows: &RecordBatch) -> Result<Metrics, MlError> {
    let (features, label) = named_columns(model, rows, true)?;
    let label = label.ok_or_else(|| MlError::Arguments("no label".into()))?;
    let scores = model.scores(&features, rows.num_rows())?;
    match (scores, &model.classes) {
        (Scores::Classes(p), Some(classes)) => {
            let codes = classes.codes(&label)?;
            let keep: Vec<usize> = (0..codes.len()).filter(|i| codes[*i].is_some()).collect();
            let p = p.select(ndarray::Axis(0), &keep);
            let actual: Vec<usize> = keep
                .iter()
                .filter_map(|i| codes[*i].map(|c| c as usize))
                .collect();
            Ok(metrics::classification(&p, &actual, "query"))
        }
        (Scores::Values(v), _) => {
            let actual = super::labels::numeric_label(&model.label, &label)?;
            let keep: Vec<usize> = (0..actual.len()).filter(|i| actual[*i].is_some()).collect();
            let v = v.select(ndarray::Axis(0), &keep);
            let actual: Vec<f64> = actual.into_iter().flatten().collect();
            Ok(metrics::regression(&v, &actual, "query"))
        }
        (Scores::Classes(_), None) => Err(MlError::Training("model has no classes".into())),
    }
}

fn metric_names(classifier: bool) -> &'static [&'static str] {
    if classifier {
        &[
            "precision",
            "recall",
            "accuracy",
            "f1_score",
            "log_loss",
            "roc_auc",
            "threshold",
        ]
    } else {
        &[
            "mean_absolute_error",
            "mean_squared_error",
            "root_mean_squared_error",
            "r2_score",
        ]
    }
}

/// `EVALUATE('m' [, 'SELECT …'])`: one row of metrics.
#[derive(Debug)]
pub struct Evaluate(pub Arc<Registry>);

impl TableFunctionImpl for Evaluate {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let args = text_args("EVALUATE", args.exprs(), 1, 2)?;
        let model = self.0.resolve(&args[0])?;
        let classifier = model.classes.is_some();
        // A k-fold model's own metrics come with their spread over the folds.
        let spread = args.len() == 1 && model.metrics.evaluated_on == "kfold";
        let mut fields = vec![
            Field::new("model_name", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            Field::new("evaluated_on", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
        ];
        fields.extend(metric_names(classifier).iter().map(|n| f64_field(n)));
        if spread {
            fields.extend(
                metric_names(classifier)
                    .iter()
                    .filter(|n| **n != "threshold")
                    .map(|n| f64_field(&format!("{n}_std"))),
            );
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let registry = self.0.clone();
        let reference = args[0].clone();
        let query = args.get(1).cloned();
        let out_schema = schema.clone();
        let rows: Rows = Arc::new(move |state| {
            let registry = registry.clone();
            let reference = reference.clone();
            let query = query.clone();
            let schema = out_schema.clone();
            Box::pin(async move {
                let model = registry.resolve(&reference)?;
                if model.classes.is_some() != classifier {
                    return plan_err!("model \"{reference}\" changed type; run the query again");
                }
                let m = match &query {
                    None => model.metrics.clone(),
                    Some(sql) => {
                        let rows = run_query(state, sql).await?;
                        let model = model.clone();
                        tokio::task::spawn_blocking(move || evaluate_rows(&model, &rows))
                            .await
                            .map_err(|e| MlError::Training(e.to_string()))??
                    }
                };
                let mut columns: Vec<ArrayRef> = vec![
                    Arc::new(StringArray::from(vec![model.name.clone()])),
                    Arc::new(Int64Array::from(vec![model.version as i64])),
                    Arc::new(StringArray::from(vec![m.evaluated_on.clone()])),
                    Arc::new(Int64Array::from(vec![m.rows as i64])),
                ];
                for name in metric_names(classifier) {
                    columns.push(Arc::new(Float64Array::from(vec![m.get(name)])));
                }
                if spread {
                    for name in metric_names(classifier)
                        .iter()
                        .filter(|n| **n != "threshold")
                    {
                        columns.push(Arc::new(Float64Array::from(vec![
                            m.get(&format!("{name}_std")),
                        ])));
                    }
                }
                batch(&schema, columns)
            })
        });
        Ok(Arc::new(LazyTable { schema, rows }))
    }
}

/// `CONFUSION_MATRIX('m' [, 'SELECT …'])`: one row per actual class, one
/// column per predicted class.
#[derive(Debug)]
pub struct ConfusionMatrix(pub Arc<Registry>);

impl TableFunctionImpl for ConfusionMatrix {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let args = text_args("CONFUSION_MATRIX", args.exprs(), 1, 2)?;
        let model = self.0.resolve(&args[0])?;
        let Some(classes) = model.classes.clone() else {
            return Err(MlError::Arguments(format!(
                "CONFUSION_MATRIX needs a classifier; \"{}\" is a {}",
                model.name,
                model.model_type().name()
            ))
            .into());
        };
        let mut fields = vec![Field::new("expected_label", DataType::Utf8, false)];
        fields.extend(
            classes
                .names
                .iter()
                .map(|n| Field::new(n, DataType::Int64, false)),
        );
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let registry = self.0.clone();
        let reference = args[0].clone();
        let query = args.get(1).cloned();
        let out_schema = schema.clone();
        let rows: Rows = Arc::new(move |state| {
            let registry = registry.clone();
            let reference = reference.clone();
            let query = query.clone();
            let schema = out_schema.clone();
            let names = classes.names.clone();
            Box::pin(async move {
                let model = registry.resolve(&reference)?;
                let m = match &query {
                    None => model.metrics.clone(),
                    Some(sql) => {
                        let rows = run_query(state, sql).await?;
                        evaluate_rows(&model, &rows)?
                    }
                };
                let matrix = m.confusion.unwrap_or_default();
                if matrix.len() != names.len() {
                    return plan_err!(
                        "model \"{reference}\" changed its classes; run the query again"
                    );
                }
                let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(names.clone()))];
                for predicted in 0..names.len() {
                    columns.push(Arc::new(Int64Array::from(
                        matrix
                            .iter()
                            .map(|row| row[predicted] as i64)
                            .collect::<Vec<_>>(),
                    )));
                }
                batch(&schema, columns)
            })
        });
        Ok(Arc::new(LazyTable { schema, rows }))
    }
}

/// `FEATURE_INFO('m')`: each feature's training statistics and encoding.
#[derive(Debug)]
pub struct FeatureInfo(pub Arc<Registry>);

impl TableFunctionImpl for FeatureInfo {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let args = text_args("FEATURE_INFO", args.exprs(), 1, 1)?;
        self.0.resolve(&args[0])?;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("input", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("encoding", DataType::Utf8, false),
            Field::new("width", DataType::Int64, false),
            f64_field("min"),
            f64_field("max"),
            f64_field("mean"),
            f64_field("median"),
            f64_field("stddev"),
            Field::new("category_count", DataType::Int64, true),
            Field::new("null_count", DataType::Int64, false),
        ]));
        let registry = self.0.clone();
        let reference = args[0].clone();
        let out_schema = schema.clone();
        let rows: Rows = Arc::new(move |_state| {
            let result = registry
                .resolve(&reference)
                .map_err(Into::into)
                .and_then(|model| {
                    let f = &model.preprocessor.features;
                    let encoding = |e: &Encoding| match e {
                        Encoding::Numeric { .. } => "scaled",
                        Encoding::OneHot { .. } => "one_hot",
                        Encoding::Hashed { .. } => "hashed",
                    };
                    let stat = |g: &dyn Fn(&super::preprocess::FeatureStats) -> Option<f64>| {
                        Arc::new(Float64Array::from(
                            f.iter().map(|x| g(&x.stats)).collect::<Vec<_>>(),
                        )) as ArrayRef
                    };
                    batch(
                        &out_schema,
                        vec![
                            Arc::new(StringArray::from_iter_values(
                                f.iter().map(|x| x.name.as_str()),
                            )),
                            Arc::new(StringArray::from_iter_values(
                                f.iter().map(|x| x.sql_type.as_str()),
                            )),
                            Arc::new(StringArray::from_iter_values(
                                f.iter().map(|x| encoding(&x.encoding)),
                            )),
                            Arc::new(Int64Array::from_iter_values(
                                f.iter().map(|x| x.width() as i64),
                            )),
                            stat(&|s| s.min),
                            stat(&|s| s.max),
                            stat(&|s| s.mean),
                            stat(&|s| s.median),
                            stat(&|s| s.stddev),
                            Arc::new(Int64Array::from(
                                f.iter()
                                    .map(|x| match x.encoding {
                                        Encoding::Numeric { .. } => None,
                                        _ => Some(x.stats.distinct as i64),
                                    })
                                    .collect::<Vec<_>>(),
                            )),
                            Arc::new(Int64Array::from_iter_values(
                                f.iter().map(|x| x.stats.nulls as i64),
                            )),
                        ],
                    )
                });
            Box::pin(async move { result })
        });
        Ok(Arc::new(LazyTable { schema, rows }))
    }
}

/// `MODEL_WEIGHTS('m')`: coefficients (linear models) or importances (trees)
/// per encoded input column.
#[derive(Debug)]
pub struct ModelWeights(pub Arc<Registry>);

impl TableFunctionImpl for ModelWeights {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let args = text_args("MODEL_WEIGHTS", args.exprs(), 1, 1)?;
        let model = self.0.resolve(&args[0])?;
        if matches!(model.estimator, super::estimator::Estimator::NaiveBayes(_)) {
            return Err(MlError::Arguments(
                "MODEL_WEIGHTS is defined for linear models and trees; naive_bayes has per-class means and variances instead".into(),
            )
            .into());
        }
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("processed_input", DataType::Utf8, false),
            Field::new("class", DataType::Utf8, false),
            Field::new("weight", DataType::Float64, false),
        ]));
        let registry = self.0.clone();
        let reference = args[0].clone();
        let out_schema = schema.clone();
        let rows: Rows = Arc::new(move |_state| {
            let result = registry
                .resolve(&reference)
                .map_err(Into::into)
                .and_then(|model| {
                    let classes = model
                        .classes
                        .as_ref()
                        .map(|c| c.names.clone())
                        .unwrap_or_default();
                    let weights = model
                        .estimator
                        .weights(&model.preprocessor.column_names(), &classes);
                    batch(
                        &out_schema,
                        vec![
                            Arc::new(StringArray::from_iter_values(
                                weights.iter().map(|w| w.0.as_str()),
                            )),
                            Arc::new(StringArray::from_iter_values(
                                weights.iter().map(|w| w.1.as_str()),
                            )),
                            Arc::new(Float64Array::from_iter_values(weights.iter().map(|w| w.2))),
                        ],
                    )
                });
            Box::pin(async move { result })
        });
        Ok(Arc::new(LazyTable { schema, rows }))
    }
}

/// `ML_TRIALS('m')`: the hyper-parameter search behind the current version.
#[derive(Debug)]
pub struct Trials(pub Arc<Registry>);

impl TableFunctionImpl for Trials {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let args = text_args("ML_TRIALS", args.exprs(), 1, 1)?;
        self.0.resolve(&args[0])?;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("trial_id", DataType::Int64, false),
            Field::new("hparams", DataType::Utf8, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
            Field::new("is_optimal", DataType::Boolean, false),
        ]));
        let registry = self.0.clone();
        let reference = args[0].clone();
        let out_schema = schema.clone();
        let rows: Rows = Arc::new(move |_state| {
            let result = registry
                .resolve(&reference)
                .map_err(Into::into)
                .and_then(|model| {
                    let t = &model.trials;
                    batch(
                        &out_schema,
                        vec![
                            Arc::new(Int64Array::from_iter_values(1..=t.len() as i64)),
                            Arc::new(StringArray::from_iter_values(
                                t.iter().map(|x| x.params.as_str()),
                            )),
                            Arc::new(StringArray::from_iter_values(
                                t.iter().map(|x| x.metric.as_str()),
                            )),
                            Arc::new(Float64Array::from_iter_values(t.iter().map(|x| x.score))),
                            Arc::new(datafusion::arrow::array::BooleanArray::from(
                                t.iter().map(|x| x.best).collect::<Vec<_>>(),
                            )),
                        ],
                    )
                });
            Box::pin(async move { result })
        });
        Ok(Arc::new(LazyTable { schema, rows }))
    }
}

/// Population stability index of `actual` shares against `expected` shares.
fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    const FLOOR: f64 = 1e-4;
    expected
        .iter()
        .zip(actual)
        .map(|(e, a)| {
            let (e, a) = (e.max(FLOOR), a.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// `FEATURE_DRIFT('m', 'table')`: how each feature's distribution in a table
/// differs from the training rows.
#[derive(Debug)]
pub struct FeatureDrift(pub Arc<Registry>);

impl TableFunctionImpl for FeatureDrift {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let args = text_args("FEATURE_DRIFT", args.exprs(), 2, 2)?;
        self.0.resolve(&args[0])?;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("input", DataType::Utf8, false),
            Field::new("serving_rows", DataType::UInt64, false),
            f64_field("training_mean"),
            f64_field("serving_mean"),
            f64_field("mean_shift_stddevs"),
            f64_field("training_stddev"),
            f64_field("serving_stddev"),
            f64_field("psi"),
            Field::new("unseen_categories", DataType::UInt64, true),
            f64_field("unseen_fraction"),
        ]));
        let registry = self.0.clone();
        let reference = args[0].clone();
        let table = args[1].clone();
        let out_schema = schema.clone();
        let rows: Rows = Arc::new(move |state| {
            let registry = registry.clone();
            let reference = reference.clone();
            let table = table.clone();
            let schema = out_schema.clone();
            Box::pin(async move {
                let model = registry.resolve(&reference)?;
                let columns = model
                    .feature_names()
                    .iter()
                    .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rows = run_query(state, &format!("SELECT {columns} FROM {table}")).await?;
                drift(&model, &rows, &schema)
            })
        });
        Ok(Arc::new(LazyTable { schema, rows }))
    }
}

fn drift(model: &ModelVersion, rows: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::Float64Type;
    let (features, _) = named_columns(model, rows, false)?;
    let mut out: (Vec<String>, Vec<u64>) = (vec![], vec![]);
    let mut stats: Vec<[Option<f64>; 6]> = vec![];
    let mut unseen: Vec<Option<u64>> = vec![];
    let mut unseen_fraction: Vec<Option<f64>> = vec![];
    for (feature, column) in model.preprocessor.features.iter().zip(&features) {
        out.0.push(feature.name.clone());
        out.1.push(column.len() as u64);
        let s = &feature.stats;
        match feature.encoding {
            Encoding::Numeric { .. } => {
                let f = cast(column, &DataType::Float64)?;
                let values: Vec<f64> = f
                    .as_primitive::<Float64Type>()
                    .iter()
                    .flatten()
                    .filter(|v| v.is_finite())
                    .collect();
                let n = values.len() as f64;
                let (mean, std) = if values.is_empty() {
                    (None, None)
                } else {
                    let m = values.iter().sum::<f64>() / n;
                    let var = values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
                    (Some(m), Some(var.sqrt()))
                };
                let shift = match (mean, s.mean, s.stddev) {
                    (Some(m), Some(tm), Some(ts)) if ts > 0.0 => Some((m - tm) / ts),
                    (Some(m), Some(tm), _) => Some(m - tm),
                    _ => None,
                };
                let psi_value = (!values.is_empty() && !s.bin_edges.is_empty()).then(|| {
                    let mut counts = vec![0.0; s.bin_fractions.len()];
                    for v in &values {
                        counts[bin_of(&s.bin_edges, *v)] += 1.0;
                    }
                    let shares: Vec<f64> = counts.iter().map(|c| c / n).collect();
                    psi(&s.bin_fractions, &shares)
                });
                stats.push([s.mean, mean, shift, s.stddev, std, psi_value]);
                unseen.push(None);
                unseen_fraction.push(None);
            }
            _ => {
                let text = cast(column, &DataType::Utf8)?;
                let text = text.as_string::<i32>();
                let mut counts: std::collections::HashMap<&str, f64> = Default::default();
                let mut present: f64 = 0.0;
                for v in text.iter().flatten() {
                    *counts.entry(v).or_default() += 1.0;
                    present += 1.0;
                }
                let known: std::collections::HashMap<&str, f64> =
                    s.categories.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                let unseen_values: Vec<&str> = counts
                    .keys()
                    .filter(|k| !known.contains_key(*k))
                    .copied()
                    .collect();
                let unseen_rows: f64 = unseen_values.iter().map(|k| counts[k]).sum();
                let (expected, actual): (Vec<f64>, Vec<f64>) = s
                    .categories
                    .iter()
                    .map(|(k, e)| {
                        (
                            *e,
                            counts.get(k.as_str()).copied().unwrap_or(0.0) / present.max(1.0),
                        )
                    })
                    .chain(std::iter::once((0.0, unseen_rows / present.max(1.0))))
                    .unzip();
                let psi_value = (present > 0.0).then(|| psi(&expected, &actual));
                stats.push([None, None, None, None, None, psi_value]);
                unseen.push(Some(unseen_values.len() as u64));
                unseen_fraction.push(Some(unseen_rows / present.max(1.0)));
            }
        }
    }
    let col = |i: usize| -> ArrayRef {
        Arc::new(Float64Array::from(
            stats.iter().map(|s| s[i]).collect::<Vec<_>>(),
        ))
    };
    batch(
        schema,
        vec![
            Arc::new(StringArray::from(out.0)),
            Arc::new(UInt64Array::from(out.1)),
            col(0),
            col(1),
            col(2),
            col(3),
            col(4),
            col(5),
            Arc::new(UInt64Array::from(unseen)),
            Arc::new(Float64Array::from(unseen_fraction)),
        ],
    )
}
