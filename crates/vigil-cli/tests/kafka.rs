//! Scale-out on librdkafka's mock cluster and a real PostgreSQL: `vigil publish` puts a simulated
//! market on a partitioned topic, two `vigil worker` processes share it in one consumer group, and
//! the alerts they store equal those of one `vigil replay` of the same events — also when workers
//! are killed with SIGKILL at seeded random moments and restarted. The first test publishes the
//! spec's JSON lines, the second the binary encoding.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use vigil_core::Alert;
use vigil_store::testing::TempPostgres;
use vigil_store::{AlertFilter, Store};

static PG: OnceLock<TempPostgres> = OnceLock::new();
const PARTITIONS: i32 = 8;

fn vigil(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).output().unwrap()
}

/// A small simulated market (every scenario type) and the alerts of one `vigil replay` of it.
fn market(dir: &Path) -> (String, BTreeMap<String, serde_json::Value>) {
    let sim = dir.join("sim");
    let o = vigil(&["simulate", "--symbols", "4", "--minutes", "4", "--warmup-minutes", "8", "--rate", "4", "--seed", "2", "--out", sim.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events = sim.join("events.jsonl").to_str().unwrap().to_string();
    let out = dir.join("replay.jsonl");
    let o = vigil(&["replay", &events, "--alerts-out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let alerts: BTreeMap<String, serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["alert_id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    assert!(alerts.len() >= 10, "{} alerts", alerts.len());
    (events, alerts)
}

/// Publishes the events; returns each partition's message count (its end offset on a new topic).
fn publish(events: &str, brokers: &str, topic: &str, encoding: &str) -> Vec<i64> {
    let o = vigil(&["publish", events, "--topic", topic, "--brokers", brokers, "--encoding", encoding]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["per_partition"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

/// A worker process, killed when dropped (a failing test leaves none behind).
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A worker of `group` producing its alerts to `alerts-<group>`; `extra` adds arguments.
fn worker(brokers: &str, db: &str, group: &str, name: &str, extra: &[&str]) -> Worker {
    let alerts = format!("alerts-{group}");
    Worker(
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args([
                "worker",
                "--topic",
                "events",
                "--brokers",
                brokers,
                "--group",
                group,
                "--name",
                name,
                "--db",
                db,
                "--session-timeout",
                "6s",
                "--alerts-topic",
                &alerts,
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits until the store's position of every partition reaches its end.
fn caught_up(db: &str, group: &str, topic: &str, ends: &[i64]) {
    let mut store = Store::open(db).unwrap();
    for _ in 0..1200 {
        let got: BTreeMap<String, i64> = store.progress_like(&format!("kafka:{group}:{topic}:")).unwrap().into_iter().collect();
        let done = ends.iter().enumerate().all(|(p, end)| *end == 0 || got.get(&format!("kafka:{group}:{topic}:{p}")) == Some(end));
        if done {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the workers did not catch up with {ends:?}: {:?}", store.progress_like("kafka:").unwrap());
}

/// Waits until a group's stored positions add up to `target` messages (or 60 s pass).
fn wait_for(db: &str, group: &str, target: i64) {
    let mut store = Store::open(db).unwrap();
    for _ in 0..600 {
        let sum: i64 = store.progress_like(&format!("kafka:{group}:events:")).unwrap().iter().filter(|(s, _)| !s.ends_with(":sent")).map(|x| x.1).sum();
        if sum >= target {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the workers of {group} did not reach {target} messages in 60 s");
}

/// The store's alerts, as the spec's JSON.
fn stored(db: &str) -> BTreeMap<String, serde_json::Value> {
    let mut store = Store::open(db).unwrap();
    store
        .alerts(&AlertFilter { limit: Some(1_000_000), ..Default::default() })
        .unwrap()
        .into_iter()
        .map(|a| (a.alert.alert_id.clone(), serde_json::to_value::<&Alert>(&a.alert).unwrap()))
        .collect()
}

/// The keys on a group's alerts topic, with how often each came, once `want` distinct keys have
/// come and everything on the topic is read (the workers send after they store).
fn alerts_topic(brokers: &str, group: &str, want: usize) -> BTreeMap<String, usize> {
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", "reader").create().unwrap();
    let topic = format!("alerts-{group}");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning).unwrap();
    c.assign(&tpl).unwrap();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..600 {
        let (_, high) = c.fetch_watermarks(&topic, 0, Duration::from_secs(5)).unwrap();
        let read: usize = keys.values().sum();
        if keys.len() >= want && read as i64 >= high {
            break;
        }
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            *keys.entry(String::from_utf8_lossy(m.key().unwrap_or(b"")).into_owned()).or_default() += 1;
        }
    }
    keys
}

fn setup(groups: &[&str]) -> (tempfile::TempDir, MockCluster<'static, rdkafka::producer::DefaultProducerContext>) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", PARTITIONS, 1).unwrap();
    for g in groups {
        cluster.create_topic(&format!("alerts-{g}"), 1, 1).unwrap();
    }
    (dir, cluster)
}

/// A new database of the test's PostgreSQL.
fn database(name: &str) -> String {
    PG.get_or_init(TempPostgres::start).database(name)
}

fn same(want: &BTreeMap<String, serde_json::Value>, got: &BTreeMap<String, serde_json::Value>) {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, extra {extra:?}");
    for (k, v) in want {
        assert_eq!(&got[k], v, "alert {k} differs");
    }
}

#[test]
fn two_workers_store_the_alerts_of_one_replay() {
    let (dir, cluster) = setup(&["g1"]);
    let db = database("two_workers");
    let brokers = cluster.bootstrap_servers();
    let (events, want) = market(dir.path());
    let ends = publish(&events, &brokers, "events", "json");
    assert_eq!(ends.len(), PARTITIONS as usize);
    assert!(ends.iter().filter(|n| **n > 100).count() >= 2, "the instruments spread over partitions: {ends:?}");
    let mut a = worker(&brokers, &db, "g1", "w1", &["--idle-exit", "3s"]);
    let mut b = worker(&brokers, &db, "g1", "w2", &["--idle-exit", "3s"]);
    caught_up(&db, "g1", "events", &ends);
    // Both worked: each exits once idle and says which partitions it owned.
    let owned = |w: &mut Worker| -> Vec<i64> {
        let mut out = String::new();
        std::io::Read::read_to_string(w.0.stdout.as_mut().unwrap(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        v["partitions"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
    };
    let (pa, pb) = (owned(&mut a), owned(&mut b));
    assert!(!pa.is_empty() && !pb.is_empty(), "one worker did everything: {pa:?} {pb:?}");
    // Between them, every partition. (The first to join may own them all until the second joins
    // and the group rebalances: a partition then moves, and both name it.)
    let mut all: Vec<i64> = pa.iter().chain(&pb).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (0..PARTITIONS as i64).collect::<Vec<_>>(), "{pa:?} {pb:?}");
    same(&want, &stored(&db));
    // Without a crash, every alert once on the alerts topic.
    let keys = alerts_topic(&brokers, "g1", want.len());
    assert_eq!(keys.keys().cloned().collect::<BTreeSet<_>>(), want.keys().cloned().collect::<BTreeSet<_>>());
    assert!(keys.values().all(|n| *n == 1), "{keys:?}");
}

/// A small seeded generator (SplitMix64): the kill points of a run are the same every time.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Each seed its own group and database. The mock cluster's coordinator does not keep static
/// memberships (librdkafka's mock ignores `group.instance.id`): a restarted worker joins as a new
/// member, and the killed one's partitions move when its session times out — the rebalance a
/// real cluster makes when a static member does not come back in time.
#[test]
fn workers_killed_at_random_lose_and_repeat_nothing() {
    let seeds = [11u64, 12, 13];
    let groups: Vec<String> = seeds.iter().map(|s| format!("k{s}")).collect();
    let (dir, cluster) = setup(&groups.iter().map(String::as_str).collect::<Vec<_>>());
    let brokers = cluster.bootstrap_servers();
    let (events, want) = market(dir.path());
    let ends = publish(&events, &brokers, "events", "binary");
    let total: i64 = ends.iter().sum();
    for (seed, group) in seeds.iter().zip(&groups) {
        let db = database(group);
        let mut rng = Rng(*seed);
        let mut w = [worker(&brokers, &db, group, "w1", &[]), worker(&brokers, &db, group, "w2", &[])];
        for k in 0..4 {
            // Mid-ingest: once the stored positions pass a seeded point of the k-th fifth, and a
            // seeded few milliseconds more (between two of a worker's transactions, or in one).
            let target = total * k / 5 + (rng.next() % (total as u64 / 5)) as i64;
            wait_for(&db, group, target);
            std::thread::sleep(Duration::from_millis(rng.next() % 300));
            let i = (rng.next() % 2) as usize;
            let _ = w[i].0.kill();
            let _ = w[i].0.wait();
            w[i] = worker(&brokers, &db, group, if i == 0 { "w1" } else { "w2" }, &[]);
        }
        caught_up(&db, group, "events", &ends);
        // Nothing missing, nothing extra, each field as replay has it.
        same(&want, &stored(&db));
        // At least once on the group's alerts topic: every alert (a kill between a send and its
        // record sends that alert again).
        let keys = alerts_topic(&brokers, group, want.len());
        let missing: Vec<&String> = want.keys().filter(|k| !keys.contains_key(*k)).collect();
        assert!(missing.is_empty(), "seed {seed}: not on the alerts topic: {missing:?}");
        assert!(keys.keys().all(|k| want.contains_key(k)), "seed {seed}: an alert replay does not raise: {keys:?}");
    }
}
