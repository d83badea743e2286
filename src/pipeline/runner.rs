//! Running a pipeline: connect, then batch after batch — collect messages,
//! decode and transform them, keep the failures, commit rows with offsets —
//! until stopped. Broker trouble makes the pipeline `Retrying` (with backoff,
//! resuming at the committed offsets); a message it may not skip, or a failed
//! commit, stops it in `Error` without committing the batch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::array::RecordBatch;
use rdkafka::error::RDKafkaErrorCode;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::commit::{ErrorLog, KeptError, WriteMode, commit_batch, committed_offsets};
use super::decode::ErrorKind;
use super::definition::{DuplicateMode, ErrorMode, PipelineDef, StartOffsets};
use super::error::{LoadError, PipelineError};
use super::source::{self, BatchLimits, Ended, KafkaConsumer, Position};
use super::status::{BatchSummary, State, Status};
use super::transform::Transform;
use crate::catalog::QualifiedName;
use crate::engine::Engine;
use crate::storage::DurableTable;

/// How long a batch waits for a first message before reporting idle.
const IDLE: Duration = Duration::from_secs(1);
/// How often partition lists and watermarks are refreshed.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Everything a run of one pipeline needs, resolved once.
pub struct Job {
    pub(super) engine: Arc<Engine>,
    pub def: Arc<PipelineDef>,
    pub(super) incarnation: String,
    start: StartOffsets,
    pub(super) table: DurableTable,
    pub(super) mode: WriteMode,
    pub(super) transform: Transform,
    pub(super) errors: ErrorLog,
    status: Arc<Status>,
    brokers: String,
}

/// A connected consumer and where each partition stands.
pub struct Connection {
    consumer: Arc<KafkaConsumer>,
    /// Where each assigned partition is read from.
    assigned: BTreeMap<i32, Position>,
    /// Next offset of each partition that has a committed or consumed position.
    next: BTreeMap<i32, i64>,
    /// Messages delivered but not yet committed (held past a batch's cap).
    flow: source::Flow,
    refreshed: Instant,
    /// The partition and watermark look-up running in the background.
    lookup: Option<tokio::task::JoinHandle<Result<Vec<i32>, PipelineError>>>,
}

/// What one batch did.
#[derive(Debug)]
pub enum BatchOutcome {
    /// No message arrived within the idle time.
    Idle,
    Committed {
        rows: u64,
    },
    /// Stop requested (after committing what was collected).
    Stopping {
        rows: u64,
    },
}

impl Job {
    /// Resolve the target table and compile the mapping; fails on a
    /// definition that cannot work (unknown table or column, bad SET, …).
    pub async fn prepare(
        engine: Arc<Engine>,
        def: Arc<PipelineDef>,
        incarnation: String,
        start: StartOffsets,
        status: Arc<Status>,
        errors: ErrorLog,
    ) -> Result<Self, PipelineError> {
        let name = QualifiedName {
            schema: def.table_schema.clone(),
            name: def.table_name.clone(),
        };
        let table = engine
            .catalog
            .table(&name)
            .ok_or_else(|| PipelineError::UndefinedTable(def.table()))?;
        let columns = engine
            .catalog
            .columns(&name)
            .await
            .ok_or_else(|| PipelineError::UndefinedTable(def.table()))?;
        let transform = Transform::plan(&engine.ctx, &def, &columns, table_schema(&table))?;
        let mode = match def.duplicates {
            DuplicateMode::Append => {
                // Appending would break the key's promise on the first
                // duplicate: the user says which of two rows wins.
                let key = engine.catalog.primary_key(&name).await.unwrap_or_default();
                if !key.is_empty() {
                    return Err(PipelineError::KeyNeedsMode { table: def.table() });
                }
                WriteMode::Append
            }
            DuplicateMode::Replace | DuplicateMode::Ignore => {
                let key = engine.catalog.primary_key(&name).await.unwrap_or_default();
                if key.is_empty() {
                    return Err(PipelineError::NoPrimaryKey {
                        mode: if def.duplicates == DuplicateMode::Replace {
                            "REPLACE"
                        } else {
                            "IGNORE"
                        },
                        table: def.table(),
                    });
                }
                if def.duplicates == DuplicateMode::Replace {
                    WriteMode::Replace(key)
                } else {
                    WriteMode::Ignore(key)
                }
            }
        };
        let brokers = source::brokers(&def, engine.pipelines.default_brokers())?;
        Ok(Self {
            engine,
            def,
            incarnation,
            start,
            table,
            mode,
            transform,
            errors,
            status,
            brokers,
        })
    }

    /// A read that failed: Kafka is down, or refused this client.
    fn unreachable(&self, e: rdkafka::error::KafkaError) -> PipelineError {
        let code = e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        source::describe(code, &e.to_string(), &self.brokers)
    }

    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    /// Create the consumer, list partitions, and seek each to its committed offset.
    pub async fn connect(&self) -> Result<Connection, PipelineError> {
        let consumer = source::consumer(&self.def, &self.brokers)?;
        let partitions = source::partitions(&consumer, &self.def.topic, &self.brokers).await?;
        let next = committed_offsets(&self.table, &self.incarnation, &partitions).await?;
        let mut conn = Connection {
            consumer,
            assigned: BTreeMap::new(),
            next,
            flow: source::Flow::default(),
            // Due at once: lag is unknown until the first watermarks arrive,
            // and after a restart a caught-up pipeline would show NULL lag
            // until the regular refresh came round.
            refreshed: Instant::now()
                .checked_sub(REFRESH_EVERY)
                .unwrap_or_else(Instant::now),
            lookup: None,
        };
        for p in &partitions {
            let position = self.initial_position(&conn, *p);
            conn.assigned.insert(*p, position);
            if let Some(n) = conn.next.get(p) {
                self.status.set_committed(*p, *n, None);
            }
        }
        source::assign(&conn.consumer, &self.def.topic, &conn.assigned, false)?;
        Ok(conn)
    }

    fn initial_position(&self, conn: &Connection, partition: i32) -> Position {
        if let Some(n) = conn.next.get(&partition) {
            return Position::At(*n);
        }
        match &self.start {
            StartOffsets::Earliest => Position::Beginning,
            StartOffsets::Latest => Position::End,
            StartOffsets::Explicit(map) => map
                .get(&partition)
                .map_or(Position::Beginning, |o| Position::At(*o)),
        }
    }

    /// Pick up new partitions and refresh watermarks, at most every few
    /// seconds and off the batch path: a broker can take seconds to answer
    /// these requests, and batches must not wait for them.
    async fn refresh(&self, conn: &mut Connection) -> Result<(), PipelineError> {
        if conn.lookup.as_ref().is_some_and(|t| t.is_finished())
            && let Some(task) = conn.lookup.take()
        {
            match task.await {
                Ok(Ok(partitions)) => self.assign_new(conn, partitions)?,
                Ok(Err(e)) => return Err(e),
                Err(e) => warn!(pipeline = %self.def.name, error = %e, "partition look-up failed"),
            }
        }
        if conn.lookup.is_some() || conn.refreshed.elapsed() < REFRESH_EVERY {
            return Ok(());
        }
        conn.refreshed = Instant::now();
        let consumer = conn.consumer.clone();
        let topic = self.def.topic.clone();
        let brokers = self.brokers.clone();
        let status = self.status.clone();
        conn.lookup = Some(tokio::spawn(async move {
            let partitions =
                source::partitions_while_consuming(&consumer, &topic, &brokers).await?;
            for p in &partitions {
                if let Ok((_, high)) = source::watermarks(&consumer, &topic, *p).await {
                    status.set_high_watermark(*p, high);
                }
            }
            Ok(partitions)
        }));
        Ok(())
    }

    fn assign_new(&self, conn: &mut Connection, partitions: Vec<i32>) -> Result<(), PipelineError> {
        let mut added = BTreeMap::new();
        for p in partitions {
            if !conn.assigned.contains_key(&p) {
                info!(pipeline = %self.def.name, partition = p, "new partition");
                // Everything in a partition created since the pipeline
                // connected is new, whatever the start position said.
                added.insert(p, Position::Beginning);
            }
        }
        if !added.is_empty() {
            source::assign(&conn.consumer, &self.def.topic, &added, true)?;
            conn.assigned.extend(added);
        }
        Ok(())
    }

    /// Collect, transform and commit one batch. With `limit`, at most that
    /// many messages (TEST PIPELINE uses [`Job::preview`] instead).
    pub async fn run_batch(
        &self,
        conn: &mut Connection,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<BatchOutcome, PipelineError> {
        let limits = BatchLimits::of(&self.def);
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let (messages, ended) = source::collect(
            &conn.consumer,
            &self.def.topic,
            &limits,
            &conn.next,
            &mut conn.flow,
            stop,
            IDLE.max(limits.interval),
        )
        .await
        .map_err(|e| self.unreachable(e))?;
        if messages.is_empty() {
            if ended == Ended::Stopping {
                return Ok(BatchOutcome::Stopping { rows: 0 });
            }
            self.refresh(conn).await?;
            return Ok(BatchOutcome::Idle);
        }
        let batch_id = self.status.next_batch_id();
        let collected = clock.elapsed();
        let transformed = self.transform.apply(&self.engine.ctx, &messages)?;
        let transformed_at = clock.elapsed();
        let mut kept = Vec::new();
        for e in &transformed.errors {
            let entry = messages.entries[e.entry];
            if !skippable(self.def.on_error, e.kind) {
                self.finish_batch(BatchSummary {
                    batch_id,
                    rows: 0,
                    filtered: 0,
                    errors: transformed.errors.len() as u64,
                    bytes: messages.bytes() as u64,
                    started_at,
                    duration_ms: clock.elapsed().as_millis() as u64,
                    status: "Failed",
                });
                return Err(PipelineError::Load(LoadError {
                    topic: self.def.topic.clone(),
                    partition: entry.partition,
                    offset: entry.offset,
                    reason: e.reason.clone(),
                }));
            }
            kept.push(KeptError {
                partition: entry.partition,
                offset: entry.offset,
                error: e.reason.clone(),
                payload: messages.payload(&entry).map(<[u8]>::to_vec),
            });
        }
        self.errors
            .record(&self.def.name, &self.incarnation, &self.def.topic, &kept)
            .await?;
        let (rows, duplicates) = commit_batch(
            &self.table,
            transformed.batch,
            &self.mode,
            &self.incarnation,
            &messages.next_offsets,
        )
        .await?;
        debug!(
            pipeline = %self.def.name,
            batch_id,
            messages = messages.len(),
            collect_ms = collected.as_millis() as u64,
            transform_ms = (transformed_at - collected).as_millis() as u64,
            commit_ms = (clock.elapsed() - transformed_at).as_millis() as u64,
            "batch committed"
        );
        let now = SystemTime::now();
        for (p, n) in &messages.next_offsets {
            conn.next.insert(*p, *n);
            self.status.set_committed(*p, *n, Some(now));
        }
        self.finish_batch(BatchSummary {
            batch_id,
            rows,
            // Rows IGNORE dropped (or repeated keys) count as filtered, so
            // that rows + filtered + errors = messages still holds.
            filtered: transformed.filtered + duplicates,
            errors: kept.len() as u64,
            bytes: messages.bytes() as u64,
            started_at,
            duration_ms: clock.elapsed().as_millis() as u64,
            status: "Succeeded",
        });
        if ended == Ended::Stopping {
            return Ok(BatchOutcome::Stopping { rows });
        }
        self.refresh(conn).await?;
        Ok(BatchOutcome::Committed { rows })
    }

    /// Show a finished batch in `pipelines_batches_summary` and count it in
    /// the metrics.
    fn finish_batch(&self, summary: BatchSummary) {
        crate::observability::pipeline_batch(&self.def.name, &summary);
        self.status.push_batch(summary);
    }

    /// Each partition's high watermark now (for `SET OFFSETS LATEST`).
    pub async fn high_watermarks(&self) -> Result<BTreeMap<i32, i64>, PipelineError> {
        let consumer = source::consumer(&self.def, &self.brokers)?;
        let partitions = source::partitions(&consumer, &self.def.topic, &self.brokers).await?;
        let mut out = BTreeMap::new();
        for p in partitions {
            let (_, high) = source::watermarks(&consumer, &self.def.topic, p)
                .await
                .map_err(|e| {
                    PipelineError::Unreachable(format!("reading offsets of partition {p}: {e}"))
                })?;
            out.insert(p, high);
        }
        Ok(out)
    }

    /// TEST PIPELINE: read up to `limit` messages from the committed offsets
    /// and transform them, without writing anything.
    pub async fn preview(&self, limit: usize) -> Result<RecordBatch, PipelineError> {
        let mut conn = self.connect().await?;
        let mut limits = BatchLimits::of(&self.def);
        limits.max_messages = limit.max(1);
        let (_tx, mut stop) = watch::channel(false);
        let (messages, _) = source::collect(
            &conn.consumer,
            &self.def.topic,
            &limits,
            &conn.next,
            &mut conn.flow,
            &mut stop,
            IDLE,
        )
        .await
        .map_err(|e| self.unreachable(e))?;
        let transformed = self.transform.apply(&self.engine.ctx, &messages)?;
        if let Some(e) = transformed
            .errors
            .iter()
            .find(|e| !skippable(self.def.on_error, e.kind))
        {
            let entry = messages.entries[e.entry];
            return Err(PipelineError::Load(LoadError {
                topic: self.def.topic.clone(),
                partition: entry.partition,
                offset: entry.offset,
                reason: e.reason.clone(),
            }));
        }
        Ok(transformed.batch)
    }
}

/// May a message that failed this way be kept in `pipelines_errors` (rather
/// than stop the pipeline)?
fn skippable(mode: ErrorMode, kind: ErrorKind) -> bool {
    matches!(
        (mode, kind),
        (ErrorMode::SkipAllErrors, _) | (ErrorMode::SkipParserErrors, ErrorKind::Parse)
    )
}

fn table_schema(table: &DurableTable) -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::catalog::TableProvider;
    table.schema()
}

/// How a background run ended.
pub enum RunEnd {
    Stopped,
    Failed(String),
}

/// The background loop of a started pipeline.
pub async fn run(job: Job, mut stop: watch::Receiver<bool>) -> RunEnd {
    let name = job.def.name.clone();
    let mut backoff = BACKOFF_MIN;
    loop {
        if *stop.borrow() {
            return RunEnd::Stopped;
        }
        let mut conn = match job.connect().await {
            Ok(c) => c,
            Err(e) if e.is_transient() => {
                if retry_later(&job, &e, &mut stop, &mut backoff).await {
                    return RunEnd::Stopped;
                }
                continue;
            }
            Err(e) => return RunEnd::Failed(e.to_string()),
        };
        if job.status.state() != State::Retrying {
            job.status.set_state(State::Running, None);
        }
        loop {
            match job.run_batch(&mut conn, &mut stop).await {
                Ok(BatchOutcome::Stopping { .. }) => return RunEnd::Stopped,
                Ok(BatchOutcome::Committed { .. }) => {
                    backoff = BACKOFF_MIN;
                    if job.status.state() != State::Running {
                        info!(pipeline = %name, "pipeline is running again");
                        job.status.set_state(State::Running, None);
                    }
                }
                Ok(BatchOutcome::Idle) => {
                    // Reconnected, and the topic is quiet: nothing is failing.
                    if job.status.state() == State::Retrying {
                        job.status.set_state(State::Running, None);
                    }
                }
                Err(e) if e.is_transient() => {
                    if retry_later(&job, &e, &mut stop, &mut backoff).await {
                        return RunEnd::Stopped;
                    }
                    break;
                }
                Err(e) => return RunEnd::Failed(e.to_string()),
            }
        }
    }
}

/// Show `Retrying` with `error`, wait out the backoff and double it; true
/// when a stop arrived meanwhile.
async fn retry_later(
    job: &Job,
    error: &PipelineError,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> bool {
    warn!(pipeline = %job.def.name, error = %error, "pipeline is retrying");
    job.status
        .set_state(State::Retrying, Some(error.to_string()));
    let stopping = wait_or_stop(stop, *backoff).await;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    stopping
}

/// Sleep `delay` unless a stop arrives first; true when stopping.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
