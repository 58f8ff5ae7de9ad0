//! `vigil demo`: the dashboard on a live simulated market. A fresh SQLite store in the demo's
//! directory, three users with random passwords (printed once), `vigil serve` on it with the
//! simulator as the source, and a scenario of manipulation injected now and then, so that a
//! newcomer sees trades flowing and the first alerts within a minute. `--score` runs the other
//! demo: a labelled market replayed through every detector and scored.

use crate::serve::{self, ServeArgs, StartRequest};
use anyhow::Context;
use std::process::ExitCode;
use std::time::Duration;
use vigil_core::AlertType;
use vigil_store::{Role, Store};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to keep the demo's files (the store; with --score, events.jsonl, labels.jsonl, alerts.jsonl).
    #[arg(long, default_value = "vigil-demo")]
    pub dir: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// A vigil.toml; its keys override the defaults.
    #[arg(long)]
    pub config: Option<String>,
    /// The dashboard's address.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// Event-time seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Seconds between two injected scenarios.
    #[arg(long, default_value_t = 30.0)]
    pub every: f64,
    /// Instead: simulate a labelled market, replay it through every detector and score the alerts.
    #[arg(long)]
    pub score: bool,
}

/// A password of 16 random letters and digits.
fn password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a password: {e}"))?;
    Ok(bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect())
}

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    if a.score {
        return crate::synth::demo(crate::synth::DemoArgs { dir: a.dir, seed: a.seed, config: a.config });
    }
    if !(a.every >= 1.0 && a.every.is_finite()) {
        anyhow::bail!("--every: at least 1 second between scenarios");
    }
    std::fs::create_dir_all(&a.dir).with_context(|| format!("cannot create {}", a.dir))?;
    let db = format!("{}/demo.db", a.dir);
    for suffix in ["", "-wal", "-shm", ".ingest.journal", ".ingest.rejects.jsonl"] {
        let f = format!("{db}{suffix}");
        if std::path::Path::new(&f).exists() {
            std::fs::remove_file(&f).with_context(|| format!("cannot remove the last demo's {f}"))?;
        }
    }
    let users = [("admin", Role::Admin), ("sam", Role::Supervisor), ("ann", Role::Analyst)];
    let mut passwords = Vec::new();
    {
        let mut store = Store::open(&db).with_context(|| format!("cannot create the demo store {db}"))?;
        for (i, (name, role)) in users.iter().enumerate() {
            let p = password()?;
            store.add_user(name, *role, &p, (i > 0).then_some("admin"))?;
            passwords.push(p);
        }
    }
    let args = ServeArgs {
        listen: a.listen.clone(),
        config: a.config.clone(),
        reference: None,
        journal: None,
        ingest_limit: 16 << 20,
        fix_listen: None,
        fix_sessions: Vec::new(),
        fix_store: None,
        grpc_listen: None,
        grpc_tls_cert: None,
        grpc_tls_key: None,
    };
    let running = serve::start_serve(args, &crate::desk::Db { db: Some(db.clone()) })?;
    let symbols: Vec<String> = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOGE-USD"].iter().map(|s| s.to_string()).collect();
    running.monitor.start(StartRequest { symbols: symbols.clone(), duration_s: 86_400.0, speed: a.speed, seed: a.seed, per_type: Some(0) })?;
    let mut banner = format!("\nVigil demo: the dashboard is at http://{}/\n\nSign in as:\n", running.addr);
    for ((name, role), p) in users.iter().zip(&passwords) {
        banner.push_str(&format!("  {name:<6} {p}   ({})\n", role.as_str()));
    }
    banner.push_str(&format!(
        "\nA simulated market of {} on two venues runs in real time{}; a scenario of manipulation is injected every 10 s for the first half minute, then every {} s (the Simulation page injects more). The store is {db}. Ctrl-C stops.\n",
        symbols.join(", "),
        if a.speed != 1.0 { format!(" x{}", a.speed) } else { String::new() },
        a.every
    ));
    println!("{banner}");
    // Scenarios now and then, every type in turn: first the four the detectors name within
    // seconds, ten seconds apart (so that the first minute shows alerts), then one every `every`.
    let monitor = running.monitor.clone();
    let every = Duration::from_secs_f64(a.every);
    let quick = [AlertType::QuoteStuffing, AlertType::Spoofing, AlertType::Layering, AlertType::MomentumIgnition];
    let order: Vec<AlertType> = quick.iter().copied().chain(vigil_sim::SCENARIO_TYPES.iter().copied().filter(|k| !quick.contains(k))).collect();
    std::thread::Builder::new().name("vigil-demo".into()).spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        for (i, kind) in order.iter().cycle().enumerate() {
            if monitor.inject(*kind, "demo").is_err() {
                break;
            }
            std::thread::sleep(if i < quick.len() - 1 { Duration::from_secs(10) } else { every });
        }
    })?;
    running.rt.block_on(std::future::pending::<()>());
    Ok(ExitCode::SUCCESS)
}
