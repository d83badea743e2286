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

use super::PipelineContext;
use super::commit::{ErrorLog, KeptError, WriteMode, commit_batch, committed_offsets};
use super::decode::{ErrorKind, MessageError};
use super::definition::{DuplicateMode, ErrorMode, PipelineDef, StartOffsets};
use super::error::{LoadError, PipelineError};
use super::source::{self, BatchLimits, Ended, KafkaConsumer, Position};
use super::status::{BatchSummary, State, Status};
use super::transform::Transform;
use crate::catalog::QualifiedName;
use crate::storage::DurableTable;

/// How long a batch waits for a first message before reporting idle.
const IDLE: Duration = Duration::from_secs(1);
/// How often partition lists and watermarks are refreshed.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Everything a run of one pipeline needs, resolved once.
pub struct Job {
    pub(super) context: PipelineContext,
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
        context: PipelineContext,
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
        let table = context
            .catalog
            .table(&name)
            .ok_or_else(|| PipelineError::UndefinedTable(def.table()))?;
        let columns = context
            .catalog
            .columns(&name)
            .await
            .ok_or_else(|| PipelineError::UndefinedTable(def.table()))?;
        let transform = Transform::plan(
            &context.ctx,
            &def,
            &columns,
            table_schema(&table),
            table.checks().to_vec(),
        )?;
        let unique: Vec<&str> = table
            .keys()
            .iter()
            .filter(|k| k.columns.as_slice() != table.primary_key())
            .map(|k| k.name.as_str())
            .collect();
        if !unique.is_empty() {
            return Err(PipelineError::UniqueKeys {
                table: def.table(),
                constraints: unique.join(", "),
            });
        }
        let mode = match def.duplicates {
            DuplicateMode::Append => {
                // Appending would break the key's promise on the first
                // duplicate: the user says which of two rows wins.
                let key = context.catalog.primary_key(&name).await.unwrap_or_default();
                if !key.is_empty() {
                    return Err(PipelineError::KeyNeedsMode { table: def.table() });
                }
                WriteMode::Append
            }
            DuplicateMode::Replace | DuplicateMode::Ignore => {
                let key = context.catalog.primary_key(&name).await.unwrap_or_default();
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
        let brokers = source::brokers(&def, context.default_brokers.as_deref())?;
        Ok(Self {
            context,
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

    /// One batch along the data path: collect messages from Kafka, decode
    /// and transform them into rows, route the failures (keep or stop),
    /// commit rows with offsets, report. Each step is its own function.
    pub async fn run_batch(
        &self,
        conn: &mut Connection,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<BatchOutcome, PipelineError> {
        let clock = BatchClock::start();
        let (messages, ended) = self.collect(conn, stop).await?;
        if messages.is_empty() {
            if ended == Ended::Stopping {
                return Ok(BatchOutcome::Stopping { rows: 0 });
            }
            self.refresh(conn).await?;
            return Ok(BatchOutcome::Idle);
        }
        let batch_id = self.status.next_batch_id();
        let collected = clock.elapsed();
        let transformed = self.transform.apply(&self.context.ctx, &messages)?;
        let transformed_at = clock.elapsed();
        let kept = match route_errors(&self.def, &messages, &transformed.errors) {
            Ok(kept) => kept,
            Err(stopping) => {
                self.report(clock.summary(
                    batch_id,
                    &messages,
                    "Failed",
                    0,
                    0,
                    transformed.errors.len(),
                ));
                return Err(stopping.into());
            }
        };
        let (rows, duplicates) = self.commit(&messages, transformed.batch, &kept).await?;
        debug!(
            pipeline = %self.def.name,
            batch_id,
            messages = messages.len(),
            collect_ms = collected.as_millis() as u64,
            transform_ms = (transformed_at - collected).as_millis() as u64,
            commit_ms = (clock.elapsed() - transformed_at).as_millis() as u64,
            "batch committed"
        );
        self.advance(conn, &messages.next_offsets);
        // Rows IGNORE dropped (or repeated keys) count as filtered, so that
        // rows + filtered + errors = messages still holds.
        let filtered = transformed.filtered + duplicates;
        self.report(clock.summary(batch_id, &messages, "Succeeded", rows, filtered, kept.len()));
        if ended == Ended::Stopping {
            return Ok(BatchOutcome::Stopping { rows });
        }
        self.refresh(conn).await?;
        Ok(BatchOutcome::Committed { rows })
    }

    /// Step 1: the messages of one batch, from where each partition stands.
    async fn collect(
        &self,
        conn: &mut Connection,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(source::MessageBatch, Ended), PipelineError> {
        let limits = BatchLimits::of(&self.def);
        source::collect(
            &conn.consumer,
            &self.def.topic,
            &limits,
            &conn.next,
            &mut conn.flow,
            stop,
            IDLE.max(limits.interval),
        )
        .await
        .map_err(|e| self.unreachable(e))
    }

    /// Step 4: the kept failures, then the rows with the batch's offsets in
    /// one table commit. Returns the rows written and the duplicates dropped.
    async fn commit(
        &self,
        messages: &source::MessageBatch,
        rows: RecordBatch,
        kept: &[KeptError],
    ) -> Result<(u64, u64), PipelineError> {
        self.errors
            .record(&self.def.name, &self.incarnation, &self.def.topic, kept)
            .await?;
        commit_batch(
            &self.table,
            rows,
            &self.mode,
            &self.incarnation,
            &messages.next_offsets,
        )
        .await
    }

    /// After a commit: read on from the committed offsets, and show them.
    fn advance(&self, conn: &mut Connection, next_offsets: &BTreeMap<i32, i64>) {
        let now = SystemTime::now();
        for (p, n) in next_offsets {
            conn.next.insert(*p, *n);
            self.status.set_committed(*p, *n, Some(now));
        }
    }

    /// Step 5: show a finished batch in `pipelines_batches_summary` and
    /// count it in the metrics.
    fn report(&self, summary: BatchSummary) {
        crate::observability::pipeline_batch(
            &self.def.name,
            crate::observability::BatchCounts {
                status: summary.status,
                rows: summary.rows,
                filtered: summary.filtered,
                errors: summary.errors,
                bytes: summary.bytes,
            },
        );
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
        let transformed = self.transform.apply(&self.context.ctx, &messages)?;
        route_errors(&self.def, &messages, &transformed.errors)?;
        Ok(transformed.batch)
    }
}

/// When a batch started, for its summary and its step timings.
struct BatchClock {
    started_at: SystemTime,
    clock: Instant,
}

impl BatchClock {
    fn start() -> Self {
        Self {
            started_at: SystemTime::now(),
            clock: Instant::now(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The batch's line in `pipelines_batches_summary`, ending now.
    fn summary(
        &self,
        batch_id: u64,
        messages: &source::MessageBatch,
        status: &'static str,
        rows: u64,
        filtered: u64,
        errors: usize,
    ) -> BatchSummary {
        BatchSummary {
            batch_id,
            rows,
            filtered,
            errors: errors as u64,
            bytes: messages.bytes() as u64,
            started_at: self.started_at,
            duration_ms: self.clock.elapsed().as_millis() as u64,
            status,
        }
    }
}

/// Step 3: what becomes of the messages that failed to decode or convert.
/// Those the pipeline may skip (`SKIP … ERRORS`) are kept, with their
/// payloads, for `pipelines_errors`; the first it may not skip stops the
/// batch, naming where the message sits in Kafka.
fn route_errors(
    def: &PipelineDef,
    messages: &source::MessageBatch,
    errors: &[MessageError],
) -> Result<Vec<KeptError>, LoadError> {
    let mut kept = Vec::with_capacity(errors.len());
    for e in errors {
        let entry = messages.entries[e.entry];
        if !skippable(def.on_error, e.kind) {
            return Err(LoadError {
                topic: def.topic.clone(),
                partition: entry.partition,
                offset: entry.offset,
                reason: e.reason.clone(),
            });
        }
        kept.push(KeptError {
            partition: entry.partition,
            offset: entry.offset,
            error: e.reason.clone(),
            payload: messages.payload(&entry).map(<[u8]>::to_vec),
        });
    }
    Ok(kept)
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

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::catalog::ColumnDef;
    use crate::sql::Statement;

    fn definition(sql: &str) -> PipelineDef {
        match Statement::parse(sql) {
            Ok(Some(Statement::CreatePipeline(create))) => *create.def,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn column(name: &str, pg_type: &str, nullable: bool) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            pg_type: pg_type.into(),
            nullable,
            default: None,
            always_identity: false,
            comment: None,
        }
    }

    /// `t (id bigint NOT NULL, city text)` and a pipeline into it.
    fn transform(skip: &str) -> (PipelineDef, Transform) {
        let def = definition(&format!(
            "CREATE PIPELINE p AS LOAD DATA KAFKA 'b:9092/events' {skip} INTO TABLE t \
             FORMAT JSON SET city = upper(city) WHERE id > 1"
        ));
        let columns = [column("id", "bigint", false), column("city", "text", true)];
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("city", DataType::Utf8, true),
        ]));
        let plan = Transform::plan(&SessionContext::new(), &def, &columns, schema, vec![]);
        (def, plan.expect("the definition plans"))
    }

    fn messages(payloads: &[&str]) -> source::MessageBatch {
        source::MessageBatch::of_payloads(
            payloads
                .iter()
                .enumerate()
                .map(|(i, p)| (0, 100 + i as i64, Some(p.as_bytes()))),
        )
    }

    #[test]
    fn decode_and_transform_turn_messages_into_rows_filtered_and_failed() {
        let (_, transform) = transform("");
        let batch = messages(&[
            r#"{"id": 1, "city": "oslo"}"#,
            r#"{"id": 2, "city": "lima"}"#,
            r#"{"id": "two"}"#,
            "not json",
            r#"{"id": 3}"#,
        ]);
        let out = transform.apply(&SessionContext::new(), &batch).unwrap();
        // id 1 fails WHERE; "two" does not convert; "not json" does not parse.
        assert_eq!(out.filtered, 1);
        let ids = out.batch.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values().to_vec(), vec![2, 3]);
        let cities = out.batch.column(1).as_string::<i32>();
        assert_eq!(cities.value(0), "LIMA");
        assert!(cities.is_null(1));
        let mut failed: Vec<(usize, ErrorKind)> =
            out.errors.iter().map(|e| (e.entry, e.kind)).collect();
        failed.sort_by_key(|(entry, _)| *entry);
        assert_eq!(failed, vec![(2, ErrorKind::Convert), (3, ErrorKind::Parse)]);
        // Every message is accounted for.
        assert_eq!(
            out.batch.num_rows() as u64 + out.filtered + out.errors.len() as u64,
            5
        );
    }

    #[test]
    fn without_skip_the_first_failure_stops_the_batch_naming_its_offset() {
        let (def, transform) = transform("");
        let batch = messages(&[r#"{"id": 2}"#, "not json"]);
        let out = transform.apply(&SessionContext::new(), &batch).unwrap();
        let stop = route_errors(&def, &batch, &out.errors).unwrap_err();
        assert_eq!(
            (stop.topic.as_str(), stop.partition, stop.offset),
            ("events", 0, 101)
        );
        assert!(
            stop.to_string()
                .starts_with("message at topic \"events\" partition 0 offset 101 cannot be loaded")
        );
    }

    #[test]
    fn skip_parser_errors_keeps_payloads_but_stops_on_conversion_errors() {
        let (def, transform) = transform("SKIP PARSER ERRORS");
        let batch = messages(&["not json", r#"{"id": 5}"#]);
        let out = transform.apply(&SessionContext::new(), &batch).unwrap();
        let kept = route_errors(&def, &batch, &out.errors).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].partition, kept[0].offset), (0, 100));
        assert_eq!(kept[0].payload.as_deref(), Some("not json".as_bytes()));

        let batch = messages(&[r#"{"id": "x"}"#]);
        let out = transform.apply(&SessionContext::new(), &batch).unwrap();
        assert!(route_errors(&def, &batch, &out.errors).is_err());
    }

    #[test]
    fn skip_all_errors_keeps_every_failure() {
        let (def, transform) = transform("SKIP ALL ERRORS");
        let batch = messages(&["not json", r#"{"id": "x"}"#, r#"{"id": 9}"#]);
        let out = transform.apply(&SessionContext::new(), &batch).unwrap();
        let kept = route_errors(&def, &batch, &out.errors).unwrap();
        let offsets: Vec<i64> = kept.iter().map(|k| k.offset).collect();
        assert_eq!(offsets.len(), 2);
        assert!(offsets.contains(&100) && offsets.contains(&101));
        assert_eq!(out.batch.num_rows(), 1);
    }

    #[test]
    fn the_summary_counts_what_the_batch_did() {
        let clock = BatchClock::start();
        let batch = messages(&["{}", "{}"]);
        let summary = clock.summary(7, &batch, "Succeeded", 1, 0, 1);
        assert_eq!(summary.batch_id, 7);
        assert_eq!((summary.rows, summary.filtered, summary.errors), (1, 0, 1));
        assert_eq!(summary.bytes, 4);
    }
}
