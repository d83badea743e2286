//! The table functions that look into a model: `EVALUATE`, `FEATURE_INFO`,
//! `MODEL_WEIGHTS`, `CONFUSION_MATRIX`, `ML_TRIALS` and `FEATURE_DRIFT`.
//! Each is a [`ModelFunction`] (its columns and its rows); [`ModelTable`]
//! resolves the model when the query is planned and again when it is
//! scanned, so a view over `EVALUATE('m')` always shows the current version.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue, plan_err};
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

/// What one model table function says about itself; [`ModelTable`] does the
/// rest (arguments, resolving the model when planned and again when
/// scanned, refusing a model that changed shape in between).
pub trait ModelFunction: Send + Sync + 'static {
    /// The name users write, for errors.
    const NAME: &'static str;
    /// How many string arguments it takes, the model's name first.
    const ARITY: (usize, usize);

    /// The columns for `model` (or a refusal naming why it cannot answer).
    /// Asked when the query is planned and again when it runs.
    fn schema(model: &ModelVersion, args: &[String]) -> DfResult<SchemaRef>;

    /// The columns' values, from the model as it stands when the query runs.
    fn rows(call: Call) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>>;
}

/// One scan of a model table function.
pub struct Call {
    pub model: Arc<ModelVersion>,
    pub args: Vec<String>,
    /// The caller's session, for the query argument of EVALUATE and the like.
    pub state: SessionState,
}

/// A model table function as DataFusion calls it.
pub struct ModelTable<F> {
    registry: Arc<Registry>,
    function: PhantomData<F>,
}

impl<F> ModelTable<F> {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            function: PhantomData,
        }
    }
}

impl<F: ModelFunction> fmt::Debug for ModelTable<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(F::NAME)
    }
}

impl<F: ModelFunction> TableFunctionImpl for ModelTable<F> {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let (min, max) = F::ARITY;
        let call = args;
        let config = call.session().config_options();
        let args = text_args(F::NAME, call.exprs(), min, max)?;
        let model = self
            .registry
            .resolve(&args[0])
            .map_err(DataFusionError::from)?;
        // The session's role needs USAGE on the model, as PREDICT does.
        self.registry
            .check_usage(config, &model.name)
            .map_err(crate::error::external)?;
        let schema = F::schema(&model, &args)?;
        let registry = self.registry.clone();
        let planned = schema.clone();
        let rows: Rows = Arc::new(move |state| {
            let (registry, args, schema) = (registry.clone(), args.clone(), planned.clone());
            Box::pin(async move {
                let model = registry.resolve(&args[0])?;
                if F::schema(&model, &args)?.fields() != schema.fields() {
                    return plan_err!(
                        "model \"{}\" changed since the query was planned; run the query again",
                        args[0]
                    );
                }
                let columns = F::rows(Call { model, args, state }).await?;
                batch(&schema, columns)
            })
        });
        Ok(Arc::new(LazyTable { schema, rows }))
    }
}

/// A result computed without awaiting anything.
fn ready(columns: Vec<ArrayRef>) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>> {
    Box::pin(async move { Ok(columns) })
}

/// `EVALUATE('m' [, 'SELECT …'])`: one row of metrics.
pub struct Evaluate;

impl Evaluate {
    /// A k-fold model's own metrics come with their spread over the folds.
    fn spread(model: &ModelVersion, args: &[String]) -> bool {
        args.len() == 1 && model.metrics.evaluated_on == "kfold"
    }

    fn spread_names(classifier: bool) -> impl Iterator<Item = &'static &'static str> {
        metric_names(classifier)
            .iter()
            .filter(|n| **n != "threshold")
    }
}

impl ModelFunction for Evaluate {
    const NAME: &'static str = "EVALUATE";
    const ARITY: (usize, usize) = (1, 2);

    fn schema(model: &ModelVersion, args: &[String]) -> DfResult<SchemaRef> {
        let classifier = model.classes.is_some();
        let mut fields = vec![
            Field::new("model_name", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            Field::new("evaluated_on", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
        ];
        fields.extend(metric_names(classifier).iter().map(|n| f64_field(n)));
        if Self::spread(model, args) {
            fields.extend(Self::spread_names(classifier).map(|n| f64_field(&format!("{n}_std"))));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    fn rows(call: Call) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>> {
        Box::pin(async move {
            let Call { model, args, state } = call;
            let classifier = model.classes.is_some();
            let m = match args.get(1) {
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
            if Self::spread(&model, &args) {
                for name in Self::spread_names(classifier) {
                    columns.push(Arc::new(Float64Array::from(vec![
                        m.get(&format!("{name}_std")),
                    ])));
                }
            }
            Ok(columns)
        })
    }
}

/// `CONFUSION_MATRIX('m' [, 'SELECT …'])`: one row per actual class, one
/// column per predicted class.
pub struct ConfusionMatrix;

impl ModelFunction for ConfusionMatrix {
    const NAME: &'static str = "CONFUSION_MATRIX";
    const ARITY: (usize, usize) = (1, 2);

    fn schema(model: &ModelVersion, _args: &[String]) -> DfResult<SchemaRef> {
        let Some(classes) = &model.classes else {
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
        Ok(Arc::new(Schema::new(fields)))
    }

    fn rows(call: Call) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>> {
        Box::pin(async move {
            let Call { model, args, state } = call;
            let names = model
                .classes
                .as_ref()
                .map(|c| c.names.clone())
                .unwrap_or_default();
            let m = match args.get(1) {
                None => model.metrics.clone(),
                Some(sql) => {
                    let rows = run_query(state, sql).await?;
                    evaluate_rows(&model, &rows)?
                }
            };
            let matrix = m.confusion.unwrap_or_default();
            if matrix.len() != names.len() {
                return plan_err!(
                    "model \"{}\" changed its classes; run the query again",
                    args[0]
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
            Ok(columns)
        })
    }
}

/// `FEATURE_INFO('m')`: each feature's training statistics and encoding.
pub struct FeatureInfo;

impl ModelFunction for FeatureInfo {
    const NAME: &'static str = "FEATURE_INFO";
    const ARITY: (usize, usize) = (1, 1);

    fn schema(_model: &ModelVersion, _args: &[String]) -> DfResult<SchemaRef> {
        Ok(Arc::new(Schema::new(vec![
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
        ])))
    }

    fn rows(call: Call) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>> {
        let f = &call.model.preprocessor.features;
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
        ready(vec![
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
        ])
    }
}

/// `MODEL_WEIGHTS('m')`: coefficients (linear models) or importances (trees)
/// per encoded input column.
pub struct ModelWeights;

impl ModelFunction for ModelWeights {
    const NAME: &'static str = "MODEL_WEIGHTS";
    const ARITY: (usize, usize) = (1, 1);

    fn schema(model: &ModelVersion, _args: &[String]) -> DfResult<SchemaRef> {
        if matches!(model.estimator, super::estimator::Estimator::NaiveBayes(_)) {
            return Err(MlError::Arguments(
                "MODEL_WEIGHTS is defined for linear models and trees; naive_bayes has per-class means and variances instead".into(),
            )
            .into());
        }
        Ok(Arc::new(Schema::new(vec![
            Field::new("processed_input", DataType::Utf8, false),
            Field::new("class", DataType::Utf8, false),
            Field::new("weight", DataType::Float64, false),
        ])))
    }

    fn rows(call: Call) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>> {
        let model = &call.model;
        let classes = model
            .classes
            .as_ref()
            .map(|c| c.names.clone())
            .unwrap_or_default();
        let weights = model
            .estimator
            .weights(&model.preprocessor.column_names(), &classes);
        ready(vec![
            Arc::new(StringArray::from_iter_values(
                weights.iter().map(|w| w.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                weights.iter().map(|w| w.1.as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(weights.iter().map(|w| w.2))),
        ])
    }
}

/// `ML_TRIALS('m')`: the hyper-parameter search behind the current version.
pub struct Trials;

impl ModelFunction for Trials {
    const NAME: &'static str = "ML_TRIALS";
    const ARITY: (usize, usize) = (1, 1);

    fn schema(_model: &ModelVersion, _args: &[String]) -> DfResult<SchemaRef> {
        Ok(Arc::new(Schema::new(vec![
            Field::new("trial_id", DataType::Int64, false),
            Field::new("hparams", DataType::Utf8, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
            Field::new("is_optimal", DataType::Boolean, false),
        ])))
    }

    fn rows(call: Call) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>> {
        let t = &call.model.trials;
        ready(vec![
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
        ])
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
pub struct FeatureDrift;

impl ModelFunction for FeatureDrift {
    const NAME: &'static str = "FEATURE_DRIFT";
    const ARITY: (usize, usize) = (2, 2);

    fn schema(_model: &ModelVersion, _args: &[String]) -> DfResult<SchemaRef> {
        Ok(Arc::new(Schema::new(vec![
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
        ])))
    }

    fn rows(call: Call) -> BoxFuture<'static, DfResult<Vec<ArrayRef>>> {
        Box::pin(async move {
            let Call { model, args, state } = call;
            let columns = model
                .feature_names()
                .iter()
                .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(", ");
            let table = &args[1];
            let rows = run_query(state, &format!("SELECT {columns} FROM {table}")).await?;
            drift(&model, &rows)
        })
    }
}

fn drift(model: &ModelVersion, rows: &RecordBatch) -> DfResult<Vec<ArrayRef>> {
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
    Ok(vec![
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
    ])
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, BooleanArray};
    use datafusion::arrow::datatypes::Float64Type;

    use super::*;
    use crate::ml::model::{Lineage, Progressive};
    use crate::ml::options::ModelOptions;
    use crate::ml::train::{TrainRequest, TrainingData, train};

    /// A model `m` of `model_type` on y = (x > 50), published in a fresh registry.
    fn publish(registry: &Registry, model_type: &str) {
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let (label, options): (ArrayRef, _) = if model_type == "linear_reg" {
            (
                Arc::new(Float64Array::from(x.clone())),
                r#"{"model_type": "linear_reg", "data_split_method": "no_split"}"#,
            )
        } else {
            (
                Arc::new(BooleanArray::from(
                    x.iter().map(|v| *v > 50.0).collect::<Vec<_>>(),
                )),
                r#"{"model_type": "logistic_reg", "data_split_method": "no_split"}"#,
            )
        };
        let request = TrainRequest {
            progress: None,
            name: "m".into(),
            options: ModelOptions::from_text(options).unwrap(),
            source_query: None,
            lineage: Lineage::default(),
            warm: None,
            progressive: Progressive::default(),
        };
        let data = TrainingData {
            label_name: "y".into(),
            label,
            feature_names: vec!["x".into()],
            features: vec![Arc::new(Float64Array::from(x))],
        };
        registry.publish(train(request, data).unwrap()).unwrap();
    }

    fn context(registry: &Arc<Registry>) -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_udtf(
            "evaluate",
            Arc::new(ModelTable::<Evaluate>::new(registry.clone())),
        );
        ctx.register_udtf(
            "feature_info",
            Arc::new(ModelTable::<FeatureInfo>::new(registry.clone())),
        );
        ctx.register_udtf(
            "confusion_matrix",
            Arc::new(ModelTable::<ConfusionMatrix>::new(registry.clone())),
        );
        ctx
    }

    #[tokio::test]
    async fn a_model_function_answers_from_the_model_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::open(dir.path()).unwrap());
        publish(&registry, "logistic_reg");
        let ctx = context(&registry);
        let rows = ctx
            .sql("SELECT model_name, version, accuracy FROM evaluate('m')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(rows[0].num_rows(), 1);
        assert_eq!(rows[0].column(0).as_string::<i32>().value(0), "m");
        let accuracy = rows[0].column(2).as_primitive::<Float64Type>().value(0);
        assert!(accuracy > 0.9, "{accuracy}");
        let features = ctx
            .sql("SELECT input FROM feature_info('m')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(features[0].column(0).as_string::<i32>().value(0), "x");
    }

    #[tokio::test]
    async fn arguments_and_model_kinds_are_checked_when_planned() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::open(dir.path()).unwrap());
        publish(&registry, "linear_reg");
        let ctx = context(&registry);
        let err = |sql: &'static str| {
            let ctx = ctx.clone();
            async move { ctx.sql(sql).await.unwrap_err().to_string() }
        };
        assert!(
            err("SELECT * FROM evaluate()")
                .await
                .contains("EVALUATE takes 1 to 2 string arguments, not 0")
        );
        assert!(
            err("SELECT * FROM evaluate(1)")
                .await
                .contains("EVALUATE's arguments must be string constants")
        );
        assert!(
            err("SELECT * FROM evaluate('nope')")
                .await
                .contains("model \"nope\" does not exist")
        );
        assert!(
            err("SELECT * FROM confusion_matrix('m')")
                .await
                .contains("CONFUSION_MATRIX needs a classifier")
        );
    }

    #[tokio::test]
    async fn a_model_that_changed_shape_after_planning_is_refused_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::open(dir.path()).unwrap());
        publish(&registry, "logistic_reg");
        let ctx = context(&registry);
        let planned = ctx.sql("SELECT * FROM evaluate('m')").await.unwrap();
        // Replaced by a regressor: other metrics, other columns.
        registry.drop_model("m", false).unwrap();
        publish(&registry, "linear_reg");
        let err = planned.collect().await.unwrap_err().to_string();
        assert!(
            err.contains("model \"m\" changed since the query was planned"),
            "{err}"
        );
    }

    #[test]
    fn psi_is_zero_for_equal_shares_and_grows_with_the_shift() {
        assert_eq!(psi(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        let small = psi(&[0.5, 0.5], &[0.45, 0.55]);
        let large = psi(&[0.5, 0.5], &[0.1, 0.9]);
        assert!(small > 0.0 && large > small);
    }
}
