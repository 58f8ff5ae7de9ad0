//! `vigil publish`: the event stream onto a topic, partitioned by instrument.

use crate::{partition_count, partition_of, Encoding, Error, Result, SEQ_HEADER};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders, ToBytes};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use vigil_core::EventKind;
use vigil_io::{EventStream, EventWriter, OutFormat};

/// What a publish did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Events of the stream.
    pub events: u64,
    /// Messages produced (reference data goes to every partition).
    pub messages: u64,
    /// Messages per partition.
    pub per_partition: Vec<u64>,
}

/// Counts deliveries the broker refused after the producer's retries.
#[derive(Default)]
pub struct Deliveries {
    pub(crate) failed: AtomicU64,
    pub(crate) first: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut f = self.first.lock().unwrap_or_else(|e| e.into_inner());
            f.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Hands a record to the producer, waiting while its queue is full (the brokers catch up).
pub(crate) fn send<K: ToBytes + ?Sized, P: ToBytes + ?Sized>(producer: &BaseProducer<Deliveries>, mut record: BaseRecord<'_, K, P>) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(20));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// The producer's settings: idempotent (no duplicates from its own retries, order kept per
/// partition), acknowledged by every in-sync replica, LZ4-compressed (JSON lines shrink about
/// sixfold).
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .set("message.timeout.ms", "120000");
    c
}

/// Produces every event of the stream to `topic`, in stream order, and waits until the brokers
/// have acknowledged all of them. Fails if any message could not be delivered.
pub fn publish(stream: &mut EventStream, brokers: &str, topic: &str, encoding: Encoding) -> Result<Published> {
    let partitions = partition_count(brokers, topic)?;
    let producer: BaseProducer<Deliveries> = producer_config(brokers).create_with_context(Deliveries::default())?;
    let names = stream.names();
    let mut out = Published { per_partition: vec![0; partitions as usize], ..Default::default() };
    let mut line = Vec::with_capacity(512);
    while let Some(ev) = stream.next_event() {
        out.events += 1;
        line.clear();
        match encoding {
            Encoding::Json => {
                EventWriter::new(&mut line, OutFormat::Jsonl).write(&ev, &names).map_err(|e| Error::Invalid(format!("cannot write event {}: {e}", ev.seq)))?;
                line.pop();
            }
            Encoding::Binary => vigil_io::binary::encode(&ev, &names, &mut line),
        }
        let payload = line.as_slice();
        let seq = ev.seq.to_string();
        let (targets, key) = if matches!(ev.kind, EventKind::Account { .. }) || ev.symbol.is_none() {
            ((0..partitions).collect::<Vec<_>>(), String::new())
        } else {
            let s = names.symbol(ev.symbol);
            (vec![partition_of(&s, partitions)], s.to_string())
        };
        for p in targets {
            let headers = OwnedHeaders::new().insert(Header { key: SEQ_HEADER, value: Some(seq.as_bytes()) });
            send(&producer, BaseRecord::to(topic).partition(p).key(key.as_bytes()).payload(payload).headers(headers))?;
            out.messages += 1;
            out.per_partition[p as usize] += 1;
        }
        if out.events.is_multiple_of(4096) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = ctx.first.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
        return Err(Error::Invalid(format!("{failed} messages were not delivered to {topic} (first: {first})")));
    }
    Ok(out)
}
