//! `vigil publish`, `vigil worker` and `vigil kafka-mock`: scaling out on Kafka and PostgreSQL
//! (see `vigil-kafka` and docs/deployment.md).

use crate::desk::Db;
use crate::replay;
use anyhow::Context;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct PublishArgs {
    /// Event files, read as `vigil replay` reads them.
    #[arg(required = true)]
    pub files: Vec<String>,
    #[arg(long)]
    pub topic: String,
    /// Kafka's bootstrap servers (`host:port,…`; default $VIGIL_KAFKA).
    #[arg(long)]
    pub brokers: Option<String>,
    #[arg(long)]
    pub format: Option<String>,
    /// The vigil.toml whose stream settings (reordering, duplicate trade ids) apply.
    #[arg(long)]
    pub config: Option<String>,
    /// Write every rejected line here (file, line, field, reason, raw text).
    #[arg(long)]
    pub rejects: Option<String>,
    /// `json`: the spec's JSON lines; `binary`: the same columns without keys and quotes.
    #[arg(long, value_parser = ["json", "binary"], default_value = "json")]
    pub encoding: String,
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub topic: String,
    #[arg(long)]
    pub brokers: Option<String>,
    /// The consumer group: the workers that share the topic's partitions.
    #[arg(long, default_value = "vigil")]
    pub group: String,
    /// This worker's name in the group (static membership): restarted under the same name, it
    /// takes its partitions back at once. Unnamed, it is a dynamic member.
    #[arg(long)]
    pub name: Option<String>,
    /// Also produce each stored alert to this topic (key: the alert id).
    #[arg(long)]
    pub alerts_topic: Option<String>,
    /// A vigil.toml for the detectors.
    #[arg(long)]
    pub config: Option<String>,
    /// Stop after this long without a message (`30s`); default: run until stopped.
    #[arg(long)]
    pub idle_exit: Option<String>,
    /// How long the group waits for a silent worker before giving its partitions to the others.
    #[arg(long, default_value = "10s")]
    pub session_timeout: String,
}

#[derive(clap::Args)]
pub struct MockArgs {
    /// Topics to create, `name:partitions` (`events:8`).
    #[arg(long, num_args = 1.., required = true)]
    pub topic: Vec<String>,
    #[arg(long, default_value_t = 1)]
    pub brokers: i32,
    /// Run this long (default: until stopped).
    #[arg(long)]
    pub duration: Option<String>,
}

fn brokers(b: &Option<String>) -> anyhow::Result<String> {
    b.clone().or_else(|| std::env::var("VIGIL_KAFKA").ok()).context("which Kafka? --brokers host:port or VIGIL_KAFKA")
}

fn duration(s: &str, what: &str) -> anyhow::Result<Duration> {
    let ns = vigil_core::time::parse_duration(s).map_err(|e| anyhow::anyhow!("{what} {s:?}: {e}"))?;
    Ok(Duration::from_nanos(ns.max(0) as u64))
}

pub fn publish(a: PublishArgs) -> anyhow::Result<ExitCode> {
    let brokers = brokers(&a.brokers)?;
    let config = replay::load_config(a.config.as_deref())?;
    let rejects: Option<Box<dyn std::io::Write + Send>> = match &a.rejects {
        Some(p) => Some(Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot create {p}"))?))),
        None => None,
    };
    let mut stream = replay::stream_of(&a.files, a.format.as_deref(), &config, rejects)?;
    let started = crate::wall::now();
    let encoding = if a.encoding == "binary" { vigil_kafka::Encoding::Binary } else { vigil_kafka::Encoding::Json };
    let out = vigil_kafka::publish(&mut stream, &brokers, &a.topic, encoding)?;
    stream.rejects.finish().context("cannot write the rejects")?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "vigil publish: {} events as {} messages on {} partitions of {} in {secs:.2} s ({:.0} events/s); {} rejected",
        out.events,
        out.messages,
        out.per_partition.len(),
        a.topic,
        out.events as f64 / secs.max(1e-9),
        stream.rejects.total()
    );
    println!("{}", serde_json::json!({"events": out.events, "messages": out.messages, "per_partition": out.per_partition, "rejected": stream.rejects.total()}));
    let errors = stream.errors();
    if !errors.is_empty() {
        for e in errors {
            eprintln!("vigil publish: {e}");
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn worker(a: WorkerArgs, db: &Db) -> anyhow::Result<ExitCode> {
    let brokers = brokers(&a.brokers)?;
    let name = a.name.clone().unwrap_or_else(|| format!("pid {}", std::process::id()));
    let mut opts = vigil_kafka::WorkerOptions::new(&brokers, &a.topic, &a.group, a.name.as_deref(), &db.location());
    opts.config = replay::load_config(a.config.as_deref())?.without_profiles();
    opts.alerts_topic = a.alerts_topic.clone();
    opts.idle_exit = a.idle_exit.as_deref().map(|s| duration(s, "--idle-exit")).transpose()?;
    opts.session_timeout = duration(&a.session_timeout, "--session-timeout")?;
    let started = crate::wall::now();
    let mut w = vigil_kafka::Worker::new(opts)?;
    eprintln!("vigil worker {name}: group {} on {} at {brokers}", a.group, a.topic);
    let s = w.run()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "vigil worker {name}: {} messages ({} replayed for state) in {secs:.2} s, {} alerts stored, {} sent, {} rejected, partitions {:?}",
        s.messages, s.replayed, s.alerts_stored, s.alerts_sent, s.rejected, s.partitions
    );
    println!(
        "{}",
        serde_json::json!({"messages": s.messages, "replayed": s.replayed, "alerts_stored": s.alerts_stored, "alerts_sent": s.alerts_sent, "rejected": s.rejected, "partitions": s.partitions, "seconds": secs, "busy_seconds": s.busy_seconds})
    );
    Ok(ExitCode::SUCCESS)
}

/// A Kafka cluster for trials and benchmarks without one: librdkafka's mock brokers on loopback.
pub fn mock(a: MockArgs) -> anyhow::Result<ExitCode> {
    let cluster = rdkafka::mocking::MockCluster::new(a.brokers).context("cannot start the mock cluster")?;
    for t in &a.topic {
        let (name, n) = t.split_once(':').with_context(|| format!("--topic {t:?}: name:partitions"))?;
        let n: i32 = n.parse().with_context(|| format!("--topic {t:?}: partitions must be a number"))?;
        cluster.create_topic(name, n, 1).with_context(|| format!("cannot create {name}"))?;
    }
    println!("{}", cluster.bootstrap_servers());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let end = a.duration.as_deref().map(|d| duration(d, "--duration")).transpose()?;
    let started = crate::wall::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if end.is_some_and(|e| started.elapsed() >= e) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
