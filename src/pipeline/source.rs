//! The Kafka end of a pipeline: a consumer whose partitions Brook assigns
//! itself (no group rebalancing: offsets live with the table's data), and the
//! collection of one bounded batch of messages.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::definition::PipelineDef;
use super::error::PipelineError;

/// How long metadata and watermark requests may take before the broker
/// counts as unreachable.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds on one batch, so that memory stays flat however fast Kafka is.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub interval: Duration,
    pub max_messages: usize,
    pub max_bytes: usize,
    pub max_per_partition: Option<u64>,
}

impl BatchLimits {
    pub fn of(def: &PipelineDef) -> Self {
        Self {
            interval: Duration::from_millis(def.batch_interval_ms.max(1)),
            max_messages: 200_000,
            max_bytes: 64 << 20,
            max_per_partition: def.max_offsets_per_batch_partition,
        }
    }
}

/// One consumed message's place in the batch arena.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub partition: i32,
    pub offset: i64,
    /// Byte range in [`MessageBatch::arena`]; `None` for a message without payload.
    pub payload: Option<(usize, usize)>,
}

/// The messages of one batch, payloads copied into one arena (one
/// allocation amortised over the batch instead of one per message).
#[derive(Debug, Default)]
pub struct MessageBatch {
    pub arena: Vec<u8>,
    pub entries: Vec<Entry>,
    /// Partition → the offset after the last message taken (what to commit).
    pub next_offsets: BTreeMap<i32, i64>,
}

impl MessageBatch {
    /// A batch of messages that are not read from Kafka now (kept payloads
    /// sent through the pipeline again by `RETRY ERRORS`): no offsets to commit.
    pub fn of_payloads<'a>(
        messages: impl IntoIterator<Item = (i32, i64, Option<&'a [u8]>)>,
    ) -> Self {
        let mut batch = MessageBatch::default();
        for (partition, offset, payload) in messages {
            batch.push(partition, offset, payload);
        }
        batch
    }

    /// Append one message, its payload copied into the arena.
    fn push(&mut self, partition: i32, offset: i64, payload: Option<&[u8]>) {
        let payload = payload.map(|p| {
            let start = self.arena.len();
            self.arena.extend_from_slice(p);
            (start, self.arena.len())
        });
        self.entries.push(Entry {
            partition,
            offset,
            payload,
        });
    }

    pub fn payload(&self, entry: &Entry) -> Option<&[u8]> {
        entry.payload.map(|(start, end)| &self.arena[start..end])
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.arena.len()
    }
}

/// Routes librdkafka's own log lines into `tracing`. Its error events need
/// no hook here: a consumer receives them from `recv` (see [`collect`]) or,
/// after a failed metadata request, from [`pending_error`].
pub struct SourceContext;

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // librdkafka's own lines go to `debug`: the pipeline reports what matters
        // as its state and `last_error`, and a broker outage would otherwise
        // flood the log with one line per reconnect attempt.
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                warn!(target: "librdkafka", "{fac} {message}")
            }
            _ => debug!(target: "librdkafka", "{fac} {message}"),
        }
    }
}

impl ConsumerContext for SourceContext {}

pub type KafkaConsumer = StreamConsumer<SourceContext>;

/// The brokers a definition reads from: its own, or the server's `--kafka`.
pub fn brokers(def: &PipelineDef, default: Option<&str>) -> Result<String, PipelineError> {
    def.brokers
        .clone()
        .or_else(|| default.map(str::to_string))
        .ok_or_else(|| {
            PipelineError::Definition(format!(
                "pipeline \"{}\" names no broker: write 'host:port/{}' or start the server with --kafka",
                def.name, def.topic
            ))
        })
}

/// Build the consumer: Brook's settings, then CONFIG, then CREDENTIALS.
pub fn consumer(def: &PipelineDef, brokers: &str) -> Result<Arc<KafkaConsumer>, PipelineError> {
    // Also checked at CREATE PIPELINE; again here for definitions stored
    // before the allow-list existed.
    super::client_settings::check("CONFIG", def.config.keys())?;
    super::client_settings::check("CREDENTIALS", def.credentials.keys())?;
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("brook-{}", def.name))
        .set("client.id", format!("brook-{}", def.name))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        // Bounded prefetch: a slow table writer slows consumption rather than
        // growing librdkafka's queues.
        .set("queued.max.messages.kbytes", "32768")
        .set("reconnect.backoff.max.ms", "5000")
        .set_log_level(RDKafkaLogLevel::Warning);
    for (key, value) in def.config.iter().chain(def.credentials.iter()) {
        config.set(key, value);
    }
    config
        .create_with_context(SourceContext)
        .map(Arc::new)
        .map_err(|e| {
            // librdkafka names the offending property, never its value.
            PipelineError::Definition(format!("Kafka client settings rejected: {e}"))
        })
}

/// Did the brokers refuse this client's login?
pub fn refused_login(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed
    )
}

/// What a failed Kafka request means for the user: a refused login, or
/// brokers that cannot be reached.
pub fn describe(code: RDKafkaErrorCode, reason: &str, brokers: &str) -> PipelineError {
    if refused_login(code) {
        PipelineError::Authentication(format!(
            "Kafka at {brokers} rejected the credentials: {reason}"
        ))
    } else {
        PipelineError::Unreachable(format!("cannot reach Kafka at {brokers}: {reason}"))
    }
}

/// The topic's partitions, or why they cannot be listed. Before any
/// partition is assigned, a failure is explained from the client's pending
/// error events; see [`partitions_while_consuming`] for later.
pub async fn partitions(
    consumer: &Arc<KafkaConsumer>,
    topic: &str,
    brokers: &str,
) -> Result<Vec<i32>, PipelineError> {
    list_partitions(consumer, topic, brokers, true).await
}

/// [`partitions`] for a consumer that is reading: its event queue then
/// holds messages, which must reach the batch collector, so a failure is
/// reported from the request's own error.
pub async fn partitions_while_consuming(
    consumer: &Arc<KafkaConsumer>,
    topic: &str,
    brokers: &str,
) -> Result<Vec<i32>, PipelineError> {
    list_partitions(consumer, topic, brokers, false).await
}

async fn list_partitions(
    consumer: &Arc<KafkaConsumer>,
    topic: &str,
    brokers: &str,
    explain_from_events: bool,
) -> Result<Vec<i32>, PipelineError> {
    let c = consumer.clone();
    let t = topic.to_string();
    let metadata =
        tokio::task::spawn_blocking(move || c.fetch_metadata(Some(&t), METADATA_TIMEOUT))
            .await
            .map_err(|e| PipelineError::Unreachable(format!("metadata request failed: {e}")))?;
    let metadata = match metadata {
        Ok(m) => m,
        Err(e) => {
            // The client's error events usually say more than the request error
            // (a refused login shows as a transport failure otherwise).
            let pending = if explain_from_events {
                pending_error(consumer).await
            } else {
                None
            };
            let (code, reason) = match pending {
                Some(found) => found,
                None => (
                    e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
                    e.to_string(),
                ),
            };
            return Err(describe(code, &reason, brokers));
        }
    };
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(PipelineError::TopicMissing {
            topic: topic.to_string(),
            brokers: brokers.to_string(),
        });
    };
    match t.error() {
        None => {}
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
            return Err(PipelineError::TopicMissing {
                topic: topic.to_string(),
                brokers: brokers.to_string(),
            });
        }
        Some(err) => {
            let code: RDKafkaErrorCode = err.into();
            return Err(describe(code, &code.to_string(), brokers));
        }
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    if ids.is_empty() {
        return Err(PipelineError::TopicMissing {
            topic: topic.to_string(),
            brokers: brokers.to_string(),
        });
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The most telling error event librdkafka has queued for this client (a
/// refused login before anything else), waiting briefly for it to arrive.
async fn pending_error(consumer: &KafkaConsumer) -> Option<(RDKafkaErrorCode, String)> {
    let mut found: Option<RDKafkaErrorCode> = None;
    let deadline = Instant::now() + Duration::from_millis(1500);
    // No partition is assigned yet, so `recv` yields only error events.
    while let Ok(event) = tokio::time::timeout_at(deadline, consumer.recv()).await {
        if let Err(
            KafkaError::MessageConsumption(code) | KafkaError::MessageConsumptionFatal(code),
        ) = event
        {
            if refused_login(code) {
                found = Some(code);
                break;
            }
            found.get_or_insert(code);
        }
    }
    found.map(|code| (code, code.to_string()))
}

/// (low, high) watermarks of one partition.
pub async fn watermarks(
    consumer: &Arc<KafkaConsumer>,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), KafkaError> {
    let c = consumer.clone();
    let t = topic.to_string();
    tokio::task::spawn_blocking(move || c.fetch_watermarks(&t, partition, METADATA_TIMEOUT))
        .await
        .map_err(|_| KafkaError::Canceled)?
}

/// Where to read each partition from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Beginning,
    End,
    At(i64),
}

/// Assign `positions` to the consumer: replacing any assignment, or with
/// `incremental`, adding to it (new partitions, leaving the others' fetch
/// state alone).
pub fn assign(
    consumer: &KafkaConsumer,
    topic: &str,
    positions: &BTreeMap<i32, Position>,
    incremental: bool,
) -> Result<(), PipelineError> {
    let mut list = TopicPartitionList::with_capacity(positions.len());
    for (partition, position) in positions {
        let offset = match position {
            Position::Beginning => Offset::Beginning,
            Position::End => Offset::End,
            Position::At(o) => Offset::Offset(*o),
        };
        list.add_partition_offset(topic, *partition, offset)
            .map_err(|e| {
                PipelineError::Unreachable(format!("assigning partition {partition}: {e}"))
            })?;
    }
    let assigned = if incremental {
        consumer.incremental_assign(&list)
    } else {
        consumer.assign(&list)
    };
    assigned.map_err(|e| PipelineError::Unreachable(format!("assigning partitions: {e}")))
}

/// Why a collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The interval elapsed or a size bound was reached.
    Full,
    /// A stop was requested: commit what was collected, then exit.
    Stopping,
}

/// A message received past its partition's cap for the batch, kept for the
/// next one (rather than dropped and fetched again, which would need a seek).
#[derive(Debug, Clone)]
pub struct Held {
    pub partition: i32,
    pub offset: i64,
    pub payload: Option<Vec<u8>>,
}

/// What the consumer has delivered beyond the committed positions: messages
/// held for the next batch, the next offset received per partition (to drop
/// redeliveries), and the partitions paused because their held messages
/// already fill a batch. Lives as long as one consumer.
#[derive(Debug, Default)]
pub struct Flow {
    held: VecDeque<Held>,
    received: BTreeMap<i32, i64>,
    paused: BTreeSet<i32>,
}

impl Flow {
    fn held_of(&self, partition: i32) -> u64 {
        self.held
            .iter()
            .filter(|h| h.partition == partition)
            .count() as u64
    }
}

fn partition_list(topic: &str, partitions: &[i32]) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(partitions.len());
    for p in partitions {
        list.add_partition(topic, *p);
    }
    list
}

/// Where one message goes in the batch being collected.
enum Placed {
    Taken,
    /// Already committed, or already in this batch.
    Duplicate,
    /// Past its partition's cap: held for the next batch.
    Held,
}

struct Collector<'a> {
    batch: MessageBatch,
    limits: &'a BatchLimits,
    positions: &'a BTreeMap<i32, i64>,
    taken: BTreeMap<i32, u64>,
}

impl Collector<'_> {
    fn place(&mut self, partition: i32, offset: i64, payload: Option<&[u8]>) -> Placed {
        let expected = self
            .batch
            .next_offsets
            .get(&partition)
            .or(self.positions.get(&partition))
            .copied();
        if expected.is_some_and(|next| offset < next) {
            return Placed::Duplicate;
        }
        let taken = self.taken.entry(partition).or_insert(0u64);
        if self
            .limits
            .max_per_partition
            .is_some_and(|cap| *taken >= cap)
        {
            return Placed::Held;
        }
        *taken += 1;
        self.batch.push(partition, offset, payload);
        self.batch.next_offsets.insert(partition, offset + 1);
        Placed::Taken
    }

    fn full(&self) -> bool {
        self.batch.entries.len() >= self.limits.max_messages
            || self.batch.arena.len() >= self.limits.max_bytes
    }
}

/// Collect one batch: messages until the interval elapses after the first
/// one arrives, a bound is reached, or a stop is requested. An idle topic
/// therefore costs nothing, and a busy one commits every `interval`.
/// Messages held from the previous batch come first.
pub async fn collect(
    consumer: &KafkaConsumer,
    topic: &str,
    limits: &BatchLimits,
    positions: &BTreeMap<i32, i64>,
    flow: &mut Flow,
    stop: &mut watch::Receiver<bool>,
    idle_timeout: Duration,
) -> Result<(MessageBatch, Ended), KafkaError> {
    let mut c = Collector {
        batch: MessageBatch::default(),
        limits,
        positions,
        taken: BTreeMap::new(),
    };
    // Backpressure: a partition whose held messages fill a batch stays
    // paused, so librdkafka stops fetching it until they are committed.
    let cap = limits.max_per_partition.unwrap_or(u64::MAX);
    let resume: Vec<i32> = flow
        .paused
        .iter()
        .copied()
        .filter(|p| flow.held_of(*p) < cap)
        .collect();
    if !resume.is_empty() {
        consumer.resume(&partition_list(topic, &resume))?;
        for p in &resume {
            flow.paused.remove(p);
        }
    }
    let mut deadline = Instant::now() + idle_timeout;
    let mut started = false;
    let mut pending = std::mem::take(&mut flow.held);
    while let Some(h) = pending.pop_front() {
        match c.place(h.partition, h.offset, h.payload.as_deref()) {
            Placed::Held => flow.held.push_back(h),
            Placed::Duplicate => {}
            Placed::Taken => {
                if !started {
                    started = true;
                    deadline = Instant::now() + limits.interval;
                }
            }
        }
        if c.full() {
            flow.held.extend(pending.drain(..));
            return Ok((c.batch, Ended::Full));
        }
    }
    loop {
        if *stop.borrow() {
            return Ok((c.batch, Ended::Stopping));
        }
        let message = tokio::select! {
            biased;
            _ = stop.changed() => return Ok((c.batch, Ended::Stopping)),
            _ = tokio::time::sleep_until(deadline) => return Ok((c.batch, Ended::Full)),
            m = consumer.recv() => m,
        };
        let message = match message {
            Ok(m) => m,
            Err(KafkaError::PartitionEOF(_)) => continue,
            Err(e) => return Err(e),
        };
        let partition = message.partition();
        let offset = message.offset();
        // A redelivery of something this consumer already handed over.
        if flow
            .received
            .get(&partition)
            .is_some_and(|next| offset < *next)
        {
            continue;
        }
        flow.received.insert(partition, offset + 1);
        match c.place(partition, offset, message.payload()) {
            Placed::Duplicate => {}
            Placed::Held => {
                flow.held.push_back(Held {
                    partition,
                    offset,
                    payload: message.payload().map(<[u8]>::to_vec),
                });
                if flow.paused.insert(partition) {
                    consumer.pause(&partition_list(topic, &[partition]))?;
                }
            }
            Placed::Taken => {
                if !started {
                    started = true;
                    deadline = Instant::now() + limits.interval;
                }
            }
        }
        if c.full() {
            return Ok((c.batch, Ended::Full));
        }
    }
}
