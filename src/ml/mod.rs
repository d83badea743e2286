//! In-SQL machine learning: where a row becomes a prediction.
//!
//! `train` fits a model version (preprocessing learnt from the rows, then a
//! linfa estimator), `registry` stores versions durably, `predict` serves
//! them as vectorised scalar functions, `table_functions` evaluates and
//! explains them, and `refresh` keeps incremental models following their
//! source table.

pub mod error;
pub mod estimator;
pub mod feature_functions;
pub mod labels;
pub mod metrics;
pub mod model;
pub mod options;
pub mod predict;
pub mod preprocess;
pub mod refresh;
pub mod registry;
pub mod source;
pub mod system_table;
pub mod table_functions;
pub mod train;
pub mod train_aggregate;
pub mod tree;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::prelude::SessionContext;

use crate::catalog::{Catalog, QualifiedName};
pub use error::MlError;
use model::ModelVersion;
pub use registry::Registry;

/// What training from a query and refreshing a model need of the server,
/// handed down by the engine that owns the models: the session context that
/// runs source queries, the catalog that finds the durable tables they read
/// (for lineage and for reading only new rows), the registry that publishes
/// versions, and where the pipelines loading a table stand.
#[derive(Clone)]
pub struct ModelContext {
    pub ctx: Arc<SessionContext>,
    pub catalog: Arc<Catalog>,
    pub registry: Arc<Registry>,
    pub offsets: Arc<dyn PipelineOffsets>,
}

/// The committed positions of the pipelines that load some tables: a model
/// version's lineage names the last message it can have seen. Answered by the
/// engine from the pipelines' status, so that models need not know pipelines.
pub trait PipelineOffsets: Send + Sync {
    /// `pipeline/partition` → next offset, for each pipeline loading any of `tables`.
    fn offsets_into(&self, tables: &[&QualifiedName]) -> Vec<(String, i64)>;
}

/// The server's models: the registry plus the background refresh tasks.
pub struct Models {
    pub registry: Arc<Registry>,
    refreshers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl Models {
    pub fn open(data_dir: &Path) -> error::Result<Self> {
        Ok(Self {
            registry: Arc::new(Registry::open(data_dir)?),
            refreshers: Mutex::new(HashMap::new()),
        })
    }

    /// Make TRAIN, PREDICT, PREDICT_PROBA, MODEL_VERSION and the table
    /// functions callable from SQL.
    pub fn register(&self, ctx: &SessionContext) {
        for f in predict::functions(&self.registry)
            .into_iter()
            .chain(feature_functions::functions())
        {
            ctx.register_udf(f);
        }
        ctx.register_udaf(train_aggregate::aggregate(&self.registry));
        use table_functions::{
            ConfusionMatrix, Evaluate, FeatureDrift, FeatureInfo, ModelTable, ModelWeights, Trials,
        };
        let r = &self.registry;
        let tables: Vec<(&str, Arc<dyn datafusion::catalog::TableFunctionImpl>)> = vec![
            ("evaluate", Arc::new(ModelTable::<Evaluate>::new(r.clone()))),
            (
                "confusion_matrix",
                Arc::new(ModelTable::<ConfusionMatrix>::new(r.clone())),
            ),
            (
                "feature_info",
                Arc::new(ModelTable::<FeatureInfo>::new(r.clone())),
            ),
            (
                "model_weights",
                Arc::new(ModelTable::<ModelWeights>::new(r.clone())),
            ),
            (
                "feature_drift",
                Arc::new(ModelTable::<FeatureDrift>::new(r.clone())),
            ),
            ("ml_trials", Arc::new(ModelTable::<Trials>::new(r.clone()))),
        ];
        for (name, function) in tables {
            // DataFusion looks table functions up by the name as written
            // (no identifier folding), so register the spellings people use.
            let title = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
            for spelling in [name.to_string(), name.to_uppercase(), title] {
                ctx.register_udtf(&spelling, function.clone());
            }
        }
    }

    /// Run `task` as `name`'s refresher, replacing (aborting) any previous one.
    pub fn set_refresher(&self, name: &str, task: Option<tokio::task::JoinHandle<()>>) {
        let mut refreshers = self.refreshers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = refreshers.remove(name) {
            old.abort();
        }
        if let Some(task) = task {
            refreshers.insert(name.to_string(), task);
        }
    }
}

/// TRAIN's answer and CREATE MODEL's notice: one line of JSON.
pub fn summary(m: &ModelVersion) -> String {
    let metrics: serde_json::Value =
        serde_json::from_str(&m.metrics.to_json()).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "model": m.name,
        "version": m.version,
        "model_type": m.model_type().name(),
        "rows": m.rows_trained,
        "training_seconds": (m.training_seconds * 1000.0).round() / 1000.0,
        "metrics": metrics,
    })
    .to_string()
}

/// The NOTICE a client sees when a model version is published.
pub fn report(m: &ModelVersion) -> String {
    let shown: Vec<String> = m
        .metrics
        .values
        .iter()
        .filter(|(k, _)| !k.ends_with("_std") && k != "threshold")
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect();
    format!(
        "model {} version {}: trained on {} rows in {:.2} s; on {} ({} rows): {}",
        m.name,
        m.version,
        m.rows_trained,
        m.training_seconds,
        m.metrics.evaluated_on,
        m.metrics.rows,
        shown.join(", ")
    )
}
