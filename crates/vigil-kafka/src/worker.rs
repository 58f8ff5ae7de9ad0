//! `vigil worker`: one member of a consumer group, an engine shard per partition it owns, alerts
//! and positions stored in one transaction.

use crate::{source, Error, Result, SEQ_HEADER};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientContext;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_core::{Alert, Interner};
use vigil_detect::engine::Shard;
use vigil_io::read::jsonl_line;
use vigil_io::Item;
use vigil_store::Store;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// The worker's name: its static membership (`group.instance.id`), so a restarted worker of
    /// the same name takes its partitions back without moving the others. Unnamed workers are
    /// dynamic members (a restart is a rebalance).
    pub name: Option<String>,
    /// The store: a PostgreSQL connection string shared by the group (or a SQLite file for one).
    pub store: String,
    pub config: vigil_detect::Config,
    /// Alerts are also produced to this topic (key: the alert id), after they are stored.
    pub alerts_topic: Option<String>,
    /// Stop after this long without a message (`None`: run until stopped).
    pub idle_exit: Option<Duration>,
    /// Store what is pending at least this often.
    pub commit_interval: Duration,
    /// How long the group waits for a silent member before giving its partitions to others.
    pub session_timeout: Duration,
}

impl WorkerOptions {
    pub fn new(brokers: &str, topic: &str, group: &str, name: Option<&str>, store: &str) -> WorkerOptions {
        WorkerOptions {
            brokers: brokers.into(),
            topic: topic.into(),
            group: group.into(),
            name: name.map(str::to_string),
            store: store.into(),
            config: vigil_detect::Config::default(),
            alerts_topic: None,
            idle_exit: None,
            commit_interval: Duration::from_millis(200),
            session_timeout: Duration::from_secs(10),
        }
    }
}

/// What a worker did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerStats {
    /// Messages read (including those replayed to rebuild state).
    pub messages: u64,
    /// Of them, before a partition's stored position: replayed for state only.
    pub replayed: u64,
    pub alerts_stored: u64,
    pub alerts_sent: u64,
    /// Messages that were not events (they are logged with partition and offset).
    pub rejected: u64,
    pub transactions: u64,
    /// Seconds from the first message read to the last: the time spent working, without the
    /// group's joining and the idle wait at the end.
    pub busy_seconds: f64,
    /// Partitions owned at the end.
    pub partitions: Vec<i32>,
}

/// The assignment changes the consumer reported during a poll.
#[derive(Default)]
struct Changes {
    topic: String,
    queue: Mutex<Vec<(bool, Vec<i32>)>>,
}

impl ClientContext for Changes {}

impl ConsumerContext for Changes {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        let (assign, tpl) = match r {
            Rebalance::Assign(t) => (true, t),
            Rebalance::Revoke(t) => (false, t),
            Rebalance::Error(e) => {
                eprintln!("vigil worker: rebalance failed: {e}");
                return;
            }
        };
        let parts: Vec<i32> = tpl.elements().iter().filter(|e| e.topic() == self.topic).map(|e| e.partition()).collect();
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push((assign, parts));
    }
}

/// One owned partition: its engine shard and names, how far it is read, how far its alerts are
/// stored and sent.
struct Part {
    shard: Shard,
    interner: Interner,
    file: Arc<str>,
    /// The next offset to read.
    next: i64,
    /// Alerts of offsets below this are stored.
    stored: i64,
    /// Alerts of offsets below this are on the alerts topic.
    sent: i64,
    /// Read since the last transaction.
    dirty: bool,
}

pub struct Worker {
    opts: WorkerOptions,
    consumer: BaseConsumer<Changes>,
    producer: Option<BaseProducer<crate::publish::Deliveries>>,
    store: Store,
    parts: BTreeMap<i32, Part>,
    /// Alerts to store, with their partition, offset and whether they must also be sent.
    pending: Vec<(i32, i64, Alert)>,
    /// Stored, not yet sent (offset, alert), per partition.
    unsent: Vec<(i32, i64, Alert)>,
    pub stats: WorkerStats,
}

/// The one wall-clock reading here: when to store what is pending and when a worker is idle.
#[allow(clippy::disallowed_methods)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

impl Worker {
    pub fn new(opts: WorkerOptions) -> Result<Worker> {
        let mut cc = ClientConfig::new();
        if let Some(name) = &opts.name {
            cc.set("group.instance.id", name).set("client.id", name);
        }
        let consumer: BaseConsumer<Changes> = cc
            .set("bootstrap.servers", &opts.brokers)
            .set("group.id", &opts.group)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Positions live in the store; a partition arriving is read from its start.
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", opts.session_timeout.as_millis().to_string())
            .set("heartbeat.interval.ms", (opts.session_timeout.as_millis() / 4).max(100).to_string())
            .set("fetch.wait.max.ms", "50")
            .create_with_context(Changes { topic: opts.topic.clone(), ..Default::default() })?;
        consumer.subscribe(&[&opts.topic])?;
        let producer = match &opts.alerts_topic {
            Some(_) => Some(crate::publish::producer_config(&opts.brokers).create_with_context(crate::publish::Deliveries::default())?),
            None => None,
        };
        let store = Store::open(&opts.store)?;
        Ok(Worker { opts, consumer, producer, store, parts: BTreeMap::new(), pending: Vec::new(), unsent: Vec::new(), stats: WorkerStats::default() })
    }

    fn sent_source(&self, p: i32) -> String {
        format!("{}:sent", source(&self.opts.group, &self.opts.topic, p))
    }

    /// Takes partitions on and gives them up as the group decided.
    /// Returns whether partitions were taken on.
    fn rebalance(&mut self) -> Result<bool> {
        let changes = std::mem::take(&mut *self.consumer.context().queue.lock().unwrap_or_else(|e| e.into_inner()));
        let mut took = false;
        for (assign, parts) in changes {
            if assign {
                for p in parts {
                    took = true;
                    // The state is rebuilt from the partition's first retained event: say so when
                    // retention has dropped earlier ones (the detectors' look-back may miss them).
                    if let Ok((low, _)) = self.consumer.fetch_watermarks(&self.opts.topic, p, Duration::from_secs(5)) {
                        if low > 0 {
                            eprintln!(
                                "vigil worker: {} partition {p} starts at offset {low}: the state is rebuilt without the events retention dropped",
                                self.opts.topic
                            );
                        }
                    }
                    let stored = self.store.progress(&source(&self.opts.group, &self.opts.topic, p))?.unwrap_or(0);
                    let sent = if self.producer.is_some() { self.store.progress(&self.sent_source(p))?.unwrap_or(0) } else { stored };
                    let interner = Interner::new();
                    let shard = Shard::new(&self.opts.config, interner.names());
                    let file: Arc<str> = format!("kafka:{}:{p}", self.opts.topic).into();
                    self.parts.insert(p, Part { shard, interner, file, next: 0, stored, sent, dirty: false });
                }
            } else {
                // What was read of them is stored (the group has already given them to another
                // worker, which rebuilds from the start: both store the same alerts, once).
                self.commit()?;
                for p in parts {
                    self.parts.remove(&p);
                }
            }
        }
        Ok(took)
    }

    /// Reads one message into its partition's shard.
    fn handle(&mut self, p: i32, offset: i64, seq: Option<u64>, payload: &[u8]) {
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        // A message again (a fetch repeated after an error): the shard has seen it.
        if offset < part.next {
            return;
        }
        self.stats.messages += 1;
        if offset < part.stored {
            self.stats.replayed += 1;
        }
        part.next = offset + 1;
        part.dirty = true;
        let Some(seq) = seq else {
            self.stats.rejected += 1;
            eprintln!("vigil worker: {} offset {offset}: no {SEQ_HEADER} header (not published by vigil publish)", part.file);
            return;
        };
        let item = if payload.first() == Some(&vigil_io::binary::VERSION) {
            Some(vigil_io::binary::decode(&part.file, offset as u64 + 1, payload, &mut part.interner))
        } else {
            jsonl_line(&part.file, offset as u64 + 1, payload, false, &mut part.interner)
        };
        match item {
            Some(Item::Event(mut ev)) => {
                ev.seq = seq;
                let mut out = Vec::new();
                part.shard.process(&ev, &mut out);
                for (_, _, a) in out {
                    if offset >= part.stored {
                        self.pending.push((p, offset, a));
                    } else if offset >= part.sent {
                        self.unsent.push((p, offset, a));
                    }
                }
            }
            Some(Item::Reject(r)) => {
                self.stats.rejected += 1;
                eprintln!("vigil worker: {} offset {offset}: {r}", part.file);
            }
            None => {}
        }
    }

    /// Stores the pending alerts with every partition's position, in one transaction; then sends
    /// what is stored and not yet sent to the alerts topic.
    pub fn commit(&mut self) -> Result<()> {
        // Partitions read past their stored position (a replay below it has nothing to record).
        for part in self.parts.values_mut() {
            if part.dirty && part.next <= part.stored {
                part.dirty = false;
            }
        }
        let dirty: Vec<(String, i64, i32)> =
            self.parts.iter().filter(|(_, x)| x.dirty).map(|(p, x)| (source(&self.opts.group, &self.opts.topic, *p), x.next, *p)).collect();
        if dirty.is_empty() && self.pending.is_empty() {
            return self.send();
        }
        let alerts: Vec<Alert> = self.pending.iter().map(|x| x.2.clone()).collect();
        let progress: Vec<(&str, i64)> = dirty.iter().map(|(s, n, _)| (s.as_str(), *n)).collect();
        self.stats.alerts_stored += self.store.insert_alerts_at(&alerts, &progress)? as u64;
        self.stats.transactions += 1;
        for (_, next, p) in &dirty {
            if let Some(part) = self.parts.get_mut(p) {
                part.stored = part.stored.max(*next);
                part.dirty = false;
            }
        }
        let stored = std::mem::take(&mut self.pending);
        if self.producer.is_some() {
            self.unsent.extend(stored);
        }
        self.send()
    }

    /// At least once onto the alerts topic: a crash between the send and the record of it sends
    /// those alerts again (same key, the alert id) when the partition is read again.
    fn send(&mut self) -> Result<()> {
        let (Some(producer), Some(topic)) = (&self.producer, &self.opts.alerts_topic) else {
            return Ok(());
        };
        if self.unsent.is_empty() {
            return Ok(());
        }
        for (_, _, a) in &self.unsent {
            let body = serde_json::to_vec(a).map_err(|e| Error::Invalid(format!("alert {}: {e}", a.alert_id)))?;
            crate::publish::send(producer, BaseRecord::<str, [u8]>::to(topic).key(a.alert_id.as_str()).payload(&body))?;
        }
        producer.flush(Duration::from_secs(60))?;
        let failed = producer.context().failed.swap(0, std::sync::atomic::Ordering::Relaxed);
        if failed > 0 {
            let first = producer.context().first.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
            // Nothing is recorded as sent: a restart sends these again.
            return Err(Error::Invalid(format!("{failed} alerts were not delivered to {topic} (first: {first})")));
        }
        self.stats.alerts_sent += self.unsent.len() as u64;
        // Sent: every alert of the offsets read and stored, none of those a replay has not
        // reached yet.
        let mut upto: BTreeMap<i32, i64> = BTreeMap::new();
        for (p, _, _) in &self.unsent {
            if let Some(part) = self.parts.get(p) {
                upto.insert(*p, part.stored.min(part.next));
            }
        }
        let sources: Vec<(String, i64)> = upto.iter().map(|(p, n)| (self.sent_source(*p), *n)).collect();
        let progress: Vec<(&str, i64)> = sources.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        self.store.insert_alerts_at(&[], &progress)?;
        for (p, n) in upto {
            if let Some(part) = self.parts.get_mut(&p) {
                part.sent = part.sent.max(n);
            }
        }
        self.unsent.clear();
        Ok(())
    }

    /// Runs until idle for `idle_exit` (or forever), storing every `commit_interval`.
    pub fn run(&mut self) -> Result<WorkerStats> {
        let mut last_commit = now();
        let mut last_message = now();
        let mut first_message = None;
        let mut n: u64 = 0;
        loop {
            // The message is copied out of the consumer's buffer before the rebalance it may have
            // brought is applied (a message of a partition just assigned needs its shard).
            let got = match self.consumer.poll(Duration::from_millis(50)) {
                None => None,
                Some(Err(e)) => {
                    // Fenced by another worker of the same name, or otherwise unable to go on.
                    if matches!(e, rdkafka::error::KafkaError::MessageConsumptionFatal(_)) {
                        return Err(e.into());
                    }
                    eprintln!("vigil worker: {e}");
                    None
                }
                Some(Ok(m)) => {
                    let seq = m
                        .headers()
                        .and_then(|h| h.iter().find(|x| x.key == SEQ_HEADER).and_then(|x| x.value))
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
                    Some((m.partition(), m.offset(), seq, m.payload().unwrap_or(&[]).to_vec()))
                }
            };
            if self.rebalance()? {
                // Idle is measured from the last message or the last partition taken on.
                last_message = now();
            }
            let busy = got.is_some();
            if let Some((p, offset, seq, payload)) = got {
                self.handle(p, offset, seq, &payload);
                n += 1;
            }
            // The clock is read every 64 messages while busy, at every empty poll otherwise.
            if !busy || n.is_multiple_of(64) {
                let t = now();
                if busy {
                    last_message = t;
                    first_message.get_or_insert(t);
                    self.stats.busy_seconds = first_message.map_or(0.0, |f| (t - f).as_secs_f64());
                }
                if t - last_commit >= self.opts.commit_interval || self.pending.len() >= 1000 {
                    self.commit()?;
                    last_commit = t;
                }
            }
            if let (Some(idle), false) = (self.opts.idle_exit, busy) {
                if !self.parts.is_empty() && last_message.elapsed() >= idle {
                    self.commit()?;
                    self.stats.partitions = self.parts.keys().copied().collect();
                    return Ok(self.stats.clone());
                }
            }
        }
    }
}
