//! Kafka pipelines: where a Kafka message becomes a row.
//!
//! The data path reads top to bottom: [`source`] (Kafka consumer, one bounded
//! batch of messages) → [`decode`] (bytes → typed Arrow columns) →
//! [`transform`] (SET/WHERE by DataFusion, defaults, NOT NULL) → [`commit`]
//! (rows and offsets in one Delta commit). [`runner`] drives that loop and its
//! states; this module keeps the registry of pipelines, their persisted
//! definitions (`pipelines.json`) and their background tasks.

pub mod client_settings;
pub mod commit;
pub mod decode;
pub mod definition;
pub mod error;
pub mod retry;
pub mod runner;
pub mod source;
pub mod status;
pub mod system_tables;
pub mod transform;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use datafusion::arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info};

use datafusion::prelude::SessionContext;

use crate::catalog::Catalog;
use crate::durable_file::write_json_atomically;
use crate::error::{BrookError, Result};
use crate::observability::redact::is_secret_setting;
use commit::ErrorLog;
pub use definition::{PipelineDef, StartOffsets};
pub use error::PipelineError;
use runner::{BatchOutcome, Job, RunEnd};
use status::{State, Status};
use system_tables::Listing;

const PIPELINES_FILE: &str = "pipelines.json";
const ERRORS_DIR: &str = "system/pipelines_errors";
/// Where an unfinished `RETRY ERRORS` leaves its note (see [`retry`]).
const SYSTEM_DIR: &str = "system";

/// What the user last asked of a pipeline, persisted so that a restart
/// resumes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Desired {
    Stopped,
    Running,
    /// Stopped by an error it may not skip; `START` tries again.
    Failed(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    def: PipelineDef,
    /// Names this pipeline's offsets in the table's log; a new one (after
    /// `SET OFFSETS`, or a replace that changes topic or table) starts afresh.
    incarnation: String,
    start: StartOffsets,
    desired: Desired,
    /// `def.credentials`, sealed (crate::secrets): the file never holds
    /// them in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_credentials: Option<String>,
}

/// What a pipeline's sealed value holds: its CREDENTIALS, and the secret
/// settings of its CONFIG (`sasl.password`, …).
#[derive(Debug, Default, Serialize, Deserialize)]
struct SealedSettings {
    #[serde(default)]
    credentials: BTreeMap<String, String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PipelinesFile {
    pipelines: Vec<Record>,
}

struct Runner {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Registry {
    records: BTreeMap<String, Record>,
    runners: HashMap<String, Runner>,
}

impl Registry {
    /// Has `name` a background runner that has not ended?
    fn running(&self, name: &str) -> bool {
        self.runners
            .get(name)
            .is_some_and(|r| !r.task.is_finished())
    }
}

/// What pipelines need of the server, handed down by the engine that owns
/// them: the session context that plans SET/WHERE (PREDICT included), the
/// catalog that resolves target tables, and the server's `--kafka`.
#[derive(Clone)]
pub struct PipelineContext {
    pub ctx: Arc<SessionContext>,
    pub catalog: Arc<Catalog>,
    /// The brokers of pipelines that name none.
    pub default_brokers: Option<String>,
    /// What seals the pipelines' CREDENTIALS in `pipelines.json`.
    pub secrets: Arc<crate::secrets::SecretsKey>,
}

/// All pipelines of a server.
pub struct Pipelines {
    file: PathBuf,
    system_dir: PathBuf,
    context: PipelineContext,
    /// Pipeline DDL queues here; runners never take it.
    registry: tokio::sync::Mutex<Registry>,
    listing: Listing,
    errors: ErrorLog,
}

fn new_incarnation() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

fn undefined(name: &str) -> BrookError {
    PipelineError::Undefined(name.to_string()).into()
}

impl Pipelines {
    /// Load the pipeline definitions from `data_dir` (none are started here;
    /// see [`Pipelines::resume`]).
    pub async fn open(data_dir: &Path, context: PipelineContext) -> Result<Self> {
        let file = data_dir.join(PIPELINES_FILE);
        let stored: PipelinesFile = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| BrookError::CatalogCorrupt(format!("{}: {e}", file.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PipelinesFile::default(),
            Err(e) => return Err(e.into()),
        };
        let errors = ErrorLog::open(&data_dir.join(ERRORS_DIR)).await?;
        let mut registry = Registry::default();
        let mut listing = BTreeMap::new();
        // Credentials kept in the clear by an older Brook, or sealed by a
        // previous key, are sealed (again) with the current key below.
        let mut reseal = false;
        for mut record in stored.pipelines {
            if let Some(sealed) = record.sealed_credentials.take() {
                let (plain, old_key) = context.secrets.open(&sealed)?;
                let secrets: SealedSettings = serde_json::from_slice(&plain)
                    .map_err(|e| BrookError::CatalogCorrupt(format!("sealed credentials: {e}")))?;
                record.def.credentials = secrets.credentials;
                record.def.config.extend(secrets.config);
                reseal |= old_key;
            } else {
                reseal |= !record.def.credentials.is_empty()
                    || record.def.config.keys().any(|k| is_secret_setting(k));
            }
            let status = match &record.desired {
                Desired::Failed(message) => Status::new(State::Error, Some(message.clone())),
                _ => Status::new(State::Stopped, None),
            };
            listing.insert(
                record.def.name.clone(),
                (Arc::new(record.def.clone()), Arc::new(status)),
            );
            registry.records.insert(record.def.name.clone(), record);
        }
        let pipelines = Self {
            file,
            system_dir: data_dir.join(SYSTEM_DIR),
            context,
            registry: tokio::sync::Mutex::new(registry),
            listing: Arc::new(RwLock::new(listing)),
            errors,
        };
        if reseal {
            pipelines.save(&*pipelines.registry.lock().await)?;
        }
        pipelines.publish_owners();
        Ok(pipelines)
    }

    /// The owner of pipeline `name`, and the table it loads (`None`: no
    /// such pipeline).
    pub async fn owner_of(&self, name: &str) -> Option<(i32, String, String)> {
        let registry = self.registry.lock().await;
        let def = &registry.records.get(name)?.def;
        Some((def.owner, def.table_schema.clone(), def.table_name.clone()))
    }

    /// What the system tables read.
    pub fn listing(&self) -> Listing {
        self.listing.clone()
    }

    pub fn error_log(&self) -> &ErrorLog {
        &self.errors
    }

    fn status(&self, name: &str) -> Option<Arc<Status>> {
        let listing = self.listing.read().ok()?;
        listing.get(name).map(|(_, s)| s.clone())
    }

    fn publish(&self, def: &PipelineDef, status: Arc<Status>) {
        if let Ok(mut listing) = self.listing.write() {
            listing.insert(def.name.clone(), (Arc::new(def.clone()), status));
        }
        self.publish_owners();
    }

    fn unpublish(&self, name: &str) {
        if let Ok(mut listing) = self.listing.write() {
            listing.remove(name);
        }
        self.publish_owners();
    }

    /// Tell the privilege checks who owns which pipeline (whose set-aside
    /// messages a role may read).
    fn publish_owners(&self) {
        let owners = match self.listing.read() {
            Ok(listing) => listing
                .iter()
                .map(|(name, (def, _))| (name.clone(), def.owner))
                .collect(),
            Err(_) => return,
        };
        self.context.catalog.privileges().publish_pipelines(owners);
    }

    /// Write the definitions down, each one's credentials sealed.
    fn save(&self, registry: &Registry) -> Result<()> {
        let pipelines = registry
            .records
            .values()
            .map(|record| {
                let mut stored = record.clone();
                // CREDENTIALS, and a password put in CONFIG, go sealed.
                let (config_secrets, config): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    std::mem::take(&mut stored.def.config)
                        .into_iter()
                        .partition(|(k, _)| is_secret_setting(k));
                stored.def.config = config;
                let secrets = SealedSettings {
                    credentials: std::mem::take(&mut stored.def.credentials),
                    config: config_secrets,
                };
                if !secrets.credentials.is_empty() || !secrets.config.is_empty() {
                    let plain = serde_json::to_vec(&secrets)
                        .map_err(|e| BrookError::Internal(e.to_string()))?;
                    stored.sealed_credentials = Some(self.context.secrets.seal(&plain)?);
                }
                Ok(stored)
            })
            .collect::<Result<Vec<_>>>()?;
        write_json_atomically(&self.file, &PipelinesFile { pipelines })
    }

    async fn job(&self, record: &Record, status: Arc<Status>) -> Result<Job> {
        Ok(Job::prepare(
            self.context.clone(),
            Arc::new(record.def.clone()),
            record.incarnation.clone(),
            record.start.clone(),
            status,
            self.errors.clone(),
        )
        .await?)
    }

    /// `CREATE [OR REPLACE] PIPELINE`. The definition is checked against the
    /// table and the broker (reachable, topic present, credentials accepted)
    /// before it is stored, so mistakes surface here rather than later.
    pub async fn create(
        self: &Arc<Self>,
        mut def: PipelineDef,
        or_replace: bool,
        if_not_exists: bool,
    ) -> Result<()> {
        client_settings::check("CONFIG", def.config.keys())?;
        client_settings::check("CREDENTIALS", def.credentials.keys())?;
        // The broker probe below can take seconds against an unresponsive
        // broker: it runs without the registry lock, so that other sessions'
        // pipeline statements are not held up; the record is re-read after.
        let existing = self.registry.lock().await.records.get(&def.name).cloned();
        if existing.is_some() && !or_replace {
            if if_not_exists {
                return Ok(());
            }
            return Err(PipelineError::Duplicate(def.name.clone()).into());
        }
        // A replaced pipeline keeps its owner, as a replaced view does.
        if let Some(old) = &existing {
            def.owner = old.def.owner;
        }
        let keeps_offsets = existing.as_ref().is_some_and(|old| {
            old.def.topic == def.topic
                && old.def.table_schema == def.table_schema
                && old.def.table_name == def.table_name
        });
        let record = Record {
            incarnation: match (&existing, keeps_offsets) {
                (Some(old), true) => old.incarnation.clone(),
                _ => new_incarnation(),
            },
            start: match (&existing, keeps_offsets) {
                (Some(old), true) => old.start.clone(),
                _ => StartOffsets::Earliest,
            },
            desired: Desired::Stopped,
            sealed_credentials: None,
            def,
        };
        let probe = Arc::new(Status::new(State::Stopped, None));
        let job = self.job(&record, probe).await?;
        drop(job.connect().await?);

        let mut registry = self.registry.lock().await;
        let now = registry.records.get(&record.def.name);
        if now.map(|r| &r.incarnation) != existing.as_ref().map(|r| &r.incarnation) {
            // Another session created, replaced or dropped it meanwhile.
            return Err(PipelineError::Concurrent(record.def.name.clone()).into());
        }
        let was_running = self.halt(&mut registry, &record.def.name).await;
        let name = record.def.name.clone();
        let status = Arc::new(Status::new(State::Stopped, None));
        registry.records.insert(name.clone(), record.clone());
        self.save(&registry)?;
        self.publish(&record.def, status);
        info!(pipeline = %name, "pipeline created");
        if was_running {
            self.launch(&mut registry, &name).await?;
        }
        Ok(())
    }

    /// Stop the runner of `name` if it has one, waiting for its last batch.
    /// Returns whether one was running.
    async fn halt(&self, registry: &mut Registry, name: &str) -> bool {
        let Some(runner) = registry.runners.remove(name) else {
            return false;
        };
        let _ = runner.stop.send(true);
        let was_running = !runner.task.is_finished();
        let _ = runner.task.await;
        was_running
    }

    /// Spawn the background runner of `name` (which must be stopped).
    async fn launch(self: &Arc<Self>, registry: &mut Registry, name: &str) -> Result<()> {
        let record = registry
            .records
            .get(name)
            .cloned()
            .ok_or_else(|| undefined(name))?;
        let status = self
            .status(name)
            .unwrap_or_else(|| Arc::new(Status::new(State::Stopped, None)));
        status.clear_error();
        status.set_state(State::Running, None);
        let job = match self.job(&record, status.clone()).await {
            Ok(job) => job,
            Err(e) => {
                status.set_state(State::Error, Some(e.to_string()));
                return Err(e);
            }
        };
        let (stop, stop_rx) = watch::channel(false);
        let pipelines = self.clone();
        let task_name = name.to_string();
        let incarnation = record.incarnation.clone();
        let task = tokio::spawn(async move {
            let end = runner::run(job, stop_rx).await;
            match end {
                RunEnd::Stopped => status.set_state(State::Stopped, None),
                RunEnd::Failed(message) => {
                    error!(pipeline = %task_name, error = %message, "pipeline stopped in Error");
                    status.set_state(State::Error, Some(message.clone()));
                    // Persist from a separate task: DDL holding the registry
                    // lock may be waiting for this one to end.
                    tokio::spawn(async move {
                        pipelines
                            .record_failure(&task_name, &incarnation, message)
                            .await;
                    });
                }
            }
        });
        registry
            .runners
            .insert(name.to_string(), Runner { stop, task });
        Ok(())
    }

    async fn record_failure(&self, name: &str, incarnation: &str, message: String) {
        let mut registry = self.registry.lock().await;
        if registry.running(name) {
            return; // restarted meanwhile
        }
        let Some(record) = registry.records.get_mut(name) else {
            return;
        };
        if record.incarnation != incarnation || record.desired != Desired::Running {
            return;
        }
        record.desired = Desired::Failed(message);
        if let Err(e) = self.save(&registry) {
            error!(pipeline = %name, error = %e, "could not record the pipeline's failure");
        }
    }

    /// `START PIPELINE name`: run in the background, across restarts, until STOP.
    pub async fn start(self: &Arc<Self>, name: &str) -> Result<()> {
        let mut registry = self.registry.lock().await;
        if !registry.records.contains_key(name) {
            return Err(undefined(name));
        }
        if registry.running(name) {
            return Ok(());
        }
        self.halt(&mut registry, name).await;
        self.launch(&mut registry, name).await?;
        if let Some(record) = registry.records.get_mut(name) {
            record.desired = Desired::Running;
        }
        self.save(&registry)
    }

    /// `START PIPELINE name FOREGROUND [LIMIT n BATCHES]`: run in this
    /// session until caught up (or n batches); errors come to the client.
    pub async fn run_foreground(&self, name: &str, limit: Option<u64>) -> Result<u64> {
        let registry = self.registry.lock().await;
        let record = registry
            .records
            .get(name)
            .cloned()
            .ok_or_else(|| undefined(name))?;
        if registry.running(name) {
            return Err(PipelineError::Running(name.to_string()).into());
        }
        let status = self
            .status(name)
            .unwrap_or_else(|| Arc::new(Status::new(State::Stopped, None)));
        let job = self.job(&record, status).await?;
        let mut conn = job.connect().await?;
        let (_stop_tx, mut stop) = watch::channel(false);
        let mut rows = 0;
        let mut batches = 0;
        // The registry stays locked: no START or ALTER may interleave.
        loop {
            match job.run_batch(&mut conn, &mut stop).await? {
                BatchOutcome::Idle => break,
                BatchOutcome::Committed { rows: r } | BatchOutcome::Stopping { rows: r } => {
                    rows += r;
                    batches += 1;
                }
            }
            if limit.is_some_and(|n| batches >= n) {
                break;
            }
        }
        drop(registry);
        Ok(rows)
    }

    /// `STOP PIPELINE name`: the current batch commits, then the runner exits.
    pub async fn stop(&self, name: &str) -> Result<()> {
        let mut registry = self.registry.lock().await;
        if !registry.records.contains_key(name) {
            return Err(undefined(name));
        }
        self.halt(&mut registry, name).await;
        if let Some(record) = registry.records.get_mut(name) {
            record.desired = Desired::Stopped;
        }
        if let Some(status) = self.status(name) {
            status.set_state(State::Stopped, None);
        }
        self.save(&registry)
    }

    /// `ALTER PIPELINE name SET OFFSETS …`: the pipeline must be stopped; it
    /// starts a new incarnation reading from the given positions.
    pub async fn set_offsets(&self, name: &str, offsets: StartOffsets) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let record = registry
            .records
            .get(name)
            .cloned()
            .ok_or_else(|| undefined(name))?;
        if registry.running(name) {
            return Err(PipelineError::Running(name.to_string()).into());
        }
        // LATEST means "now": resolved to numbers here, so that a restart
        // before the first batch does not skip what arrived meanwhile.
        let offsets = match offsets {
            StartOffsets::Latest => {
                let probe = Arc::new(Status::new(State::Stopped, None));
                let job = self.job(&record, probe).await?;
                StartOffsets::Explicit(job.high_watermarks().await?)
            }
            other => other,
        };
        let status = self.status(name);
        let Some(record) = registry.records.get_mut(name) else {
            return Err(undefined(name));
        };
        record.incarnation = new_incarnation();
        record.start = offsets;
        if let Some(status) = status {
            let fresh = Arc::new(Status::new(status.state(), None));
            self.publish(&record.def, fresh);
        }
        self.save(&registry)
    }

    /// `DROP PIPELINE name`: stops it and forgets it and its kept errors.
    pub async fn drop_pipeline(&self, name: &str, if_exists: bool) -> Result<bool> {
        let mut registry = self.registry.lock().await;
        if !registry.records.contains_key(name) {
            return if if_exists {
                Ok(false)
            } else {
                Err(undefined(name))
            };
        }
        self.halt(&mut registry, name).await;
        registry.records.remove(name);
        self.save(&registry)?;
        self.unpublish(name);
        self.errors.forget(name).await?;
        Ok(true)
    }

    /// `TEST PIPELINE name [LIMIT n]`: the rows the next batch would load.
    pub async fn test(&self, name: &str, limit: usize) -> Result<RecordBatch> {
        let record = {
            let registry = self.registry.lock().await;
            registry
                .records
                .get(name)
                .cloned()
                .ok_or_else(|| undefined(name))?
        };
        let probe = Arc::new(Status::new(State::Stopped, None));
        let job = self.job(&record, probe).await?;
        Ok(job.preview(limit).await?)
    }

    /// The pipelines that read into `table` (`schema.name`), to refuse
    /// dropping a table a pipeline still writes to.
    pub async fn readers_of(&self, schema: &str, table: &str) -> Vec<String> {
        let registry = self.registry.lock().await;
        registry
            .records
            .values()
            .filter(|r| r.def.table_schema == schema && r.def.table_name == table)
            .map(|r| r.def.name.clone())
            .collect()
    }

    /// `ALTER PIPELINE name RETRY ERRORS [WHERE expr]`: kept payloads go
    /// through today's definition; see [`retry`].
    pub async fn retry_errors(
        &self,
        name: &str,
        filter: Option<&str>,
    ) -> Result<retry::RetryReport> {
        // Held throughout: two retries of one pipeline never interleave, and
        // no DDL changes the definition underneath.
        let registry = self.registry.lock().await;
        let record = registry
            .records
            .get(name)
            .cloned()
            .ok_or_else(|| undefined(name))?;
        let probe = Arc::new(Status::new(State::Stopped, None));
        let job = self.job(&record, probe).await?;
        let report = retry::retry(&job, filter, &self.system_dir).await;
        drop(registry);
        report
    }

    /// At start-up: run again every pipeline that was running.
    pub async fn resume(self: &Arc<Self>) {
        retry::recover(&self.context, &self.errors, &self.system_dir).await;
        let mut registry = self.registry.lock().await;
        let names: Vec<String> = registry
            .records
            .values()
            .filter(|r| r.desired == Desired::Running)
            .map(|r| r.def.name.clone())
            .collect();
        for name in names {
            if let Err(e) = self.launch(&mut registry, &name).await {
                error!(pipeline = %name, error = %e, "pipeline could not be resumed");
            } else {
                info!(pipeline = %name, "pipeline resumed");
            }
        }
    }

    /// At shutdown: every runner commits its current batch and exits.
    pub async fn shutdown(&self) {
        let mut registry = self.registry.lock().await;
        let runners: Vec<Runner> = registry.runners.drain().map(|(_, r)| r).collect();
        for r in &runners {
            let _ = r.stop.send(true);
        }
        for r in runners {
            let _ = r.task.await;
        }
    }
}
