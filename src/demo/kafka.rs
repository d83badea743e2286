//! The demo's Kafka side: a broker (librdkafka's in-process mock cluster, or
//! the one given with `--kafka`), its two topics, and the producer.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use thiserror::Error;

use super::data::{CLASSIFY_TOPIC, Message, TRAINING_TOPIC};

/// Partitions of each demo topic: more than one, so that the pipelines'
/// per-partition offsets show in `information_schema.pipelines_cursors`.
const PARTITIONS: i32 = 2;
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum KafkaSetupError {
    #[error("cannot start librdkafka's mock cluster: {0}")]
    Mock(KafkaError),
    #[error("Kafka at {brokers}: {reason}")]
    Broker { brokers: String, reason: String },
    #[error(
        "topic '{topic}' at {brokers} already holds {held} messages, not the {expected} of the \
         data set: delete the topics 'training' and 'classify' or use another broker"
    )]
    TopicHoldsOtherData {
        topic: String,
        brokers: String,
        held: i64,
        expected: usize,
    },
}

/// Where the demo's messages go.
pub enum Broker {
    /// librdkafka's in-process cluster: nothing to install, gone at exit.
    Mock(MockCluster<'static, DefaultProducerContext>),
    /// A real broker (Kafka, tansu, Redpanda…) given with `--kafka`.
    External(String),
}

impl Broker {
    pub fn start(external: Option<String>) -> Result<Self, KafkaSetupError> {
        match external {
            Some(brokers) => Ok(Self::External(brokers)),
            None => MockCluster::new(1)
                .map(Self::Mock)
                .map_err(KafkaSetupError::Mock),
        }
    }

    pub fn bootstrap_servers(&self) -> String {
        match self {
            Self::Mock(cluster) => cluster.bootstrap_servers(),
            Self::External(brokers) => brokers.clone(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Mock(cluster) => format!(
                "librdkafka mock cluster at {} (in process)",
                cluster.bootstrap_servers()
            ),
            Self::External(brokers) => format!("Kafka at {brokers}"),
        }
    }

    fn error(&self, reason: impl ToString) -> KafkaSetupError {
        KafkaSetupError::Broker {
            brokers: self.bootstrap_servers(),
            reason: reason.to_string(),
        }
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap_servers());
        config
    }

    /// Create `training` and `classify` (an existing topic is kept).
    pub async fn create_topics(&self) -> Result<(), KafkaSetupError> {
        let topics = [TRAINING_TOPIC, CLASSIFY_TOPIC];
        match self {
            // The mock broker has no CreateTopics API; it has its own call.
            Self::Mock(cluster) => {
                for topic in topics {
                    cluster
                        .create_topic(topic, PARTITIONS, 1)
                        .map_err(|e| self.error(e))?;
                }
            }
            Self::External(_) => {
                let admin: AdminClient<DefaultClientContext> =
                    self.config().create().map_err(|e| self.error(e))?;
                let new: Vec<NewTopic<'_>> = topics
                    .iter()
                    .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
                    .collect();
                let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
                let results = admin
                    .create_topics(&new, &options)
                    .await
                    .map_err(|e| self.error(e))?;
                for result in results {
                    match result {
                        Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((topic, code)) => {
                            return Err(self.error(format!("creating topic '{topic}': {code}")));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// How many messages `topic` holds (the sum of its partitions' high
    /// watermarks, the demo's topics being never compacted or trimmed).
    fn messages_in(&self, consumer: &BaseConsumer, topic: &str) -> Result<i64, KafkaSetupError> {
        let metadata = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| self.error(e))?;
        let mut total = 0;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p.id(), TIMEOUT)
                    .map_err(|e| self.error(e))?;
                total += high - low.max(0);
            }
        }
        Ok(total)
    }

    /// Whether the topics must still be filled: `false` when they already
    /// hold exactly the data set (a one-shot producer ran before), an error
    /// when they hold something else.
    pub fn needs_data(&self, expected: &[(&str, usize)]) -> Result<bool, KafkaSetupError> {
        let consumer: BaseConsumer = self.config().create().map_err(|e| self.error(e))?;
        let mut empty = true;
        for &(topic, count) in expected {
            let held = self.messages_in(&consumer, topic)?;
            if held != 0 && held != count as i64 {
                return Err(KafkaSetupError::TopicHoldsOtherData {
                    topic: topic.to_string(),
                    brokers: self.bootstrap_servers(),
                    held,
                    expected: count,
                });
            }
            empty &= held == 0;
        }
        Ok(empty)
    }

    /// Send every message and wait until the broker has acknowledged each;
    /// `progress` is called with the number acknowledged so far.
    pub async fn produce(
        &self,
        messages: &[Message],
        mut progress: impl FnMut(usize),
    ) -> Result<(), KafkaSetupError> {
        let producer: FutureProducer = self
            .config()
            .set("linger.ms", "10")
            .create()
            .map_err(|e| self.error(e))?;
        // Bounded in-flight window: the producer's queue stays small and the
        // progress bar moves with the acknowledgements.
        let mut acknowledged = 0;
        for chunk in messages.chunks(500) {
            let sends = chunk.iter().map(|m| {
                let record = FutureRecord::to(m.topic).key(&m.key).payload(&m.payload);
                producer.send(record, TIMEOUT)
            });
            for result in futures::future::join_all(sends).await {
                result.map_err(|(e, _)| self.error(format!("producing: {e}")))?;
            }
            acknowledged += chunk.len();
            progress(acknowledged);
        }
        Ok(())
    }
}
