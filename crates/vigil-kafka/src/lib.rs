//! Vigil on Kafka and PostgreSQL: many workers, nothing lost, nothing repeated.
//!
//! `vigil publish` reads event files as `vigil replay` does (reordering, duplicate trade ids,
//! rejects) and produces each accepted event to a topic as one of the spec's JSON lines, keyed by
//! its symbol, on the partition [`partition_of`] gives the symbol: every venue's events of one
//! instrument land on one partition, so cross-venue detectors see them together. Reference data
//! (who owns which account) goes to every partition. Each message carries the event's position in
//! the published stream in the `vigil-seq` header, so the evidence of an alert names the same
//! positions as `vigil replay` of the same files.
//!
//! `vigil worker` joins a consumer group (cooperative rebalancing, static membership by its name)
//! and runs one engine shard per partition it owns. Alerts and the partition's position (the
//! next offset whose alerts are not yet stored) are written in one store transaction, so a crash
//! loses neither; alert ids are stable and stored once, so a replayed event cannot duplicate one.
//! A partition that arrives (at start, after a rebalance or a crash) is read from its beginning to
//! rebuild the engine's state — the detectors' baselines and windows — and only the alerts at or
//! after the stored position are written. See `docs/deployment.md`.

pub mod publish;
pub mod worker;

pub use publish::{publish, Published};
pub use worker::{Worker, WorkerOptions, WorkerStats};
pub use Encoding::{Binary, Json};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;

/// How events are written on the topic. Workers read either (a binary event starts with
/// [`vigil_io::binary::VERSION`], a JSON line with `{`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The spec's JSON lines: any consumer reads them.
    Json,
    /// `vigil_io::binary`: the same columns and exact decimals without keys and quotes.
    Binary,
}

/// The header that carries an event's position in the published stream.
pub const SEQ_HEADER: &str = "vigil-seq";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Store(#[from] vigil_store::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The partition of a symbol among `partitions`: the same on every venue and in every process.
pub fn partition_of(symbol: &str, partitions: i32) -> i32 {
    (xxhash_rust::xxh3::xxh3_64(symbol.as_bytes()) % partitions.max(1) as u64) as i32
}

/// How many partitions a topic has (it must exist: Vigil does not create topics, whose partition
/// count is a deployment decision).
pub fn partition_count(brokers: &str, topic: &str) -> Result<i32> {
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = md.topics().iter().find(|t| t.name() == topic).ok_or_else(|| Error::Invalid(format!("topic {topic}: not in the cluster's metadata")))?;
    if let Some(e) = t.error() {
        return Err(Error::Invalid(format!("topic {topic}: {e:?} (create it first, with as many partitions as workers may ever run)")));
    }
    match t.partitions().len() {
        0 => Err(Error::Invalid(format!("topic {topic} has no partitions (create it first)"))),
        n => Ok(n as i32),
    }
}

/// The progress-table name of a partition's position, per consumer group.
pub fn source(group: &str, topic: &str, partition: i32) -> String {
    format!("kafka:{group}:{topic}:{partition}")
}
