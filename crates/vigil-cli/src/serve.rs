//! `vigil serve`: the long-running process. It holds the engine, the store and the HTTP API the
//! desk's commands (and the web dashboard) talk to. Monitoring sessions (`vigil start`) run the
//! configured source — the simulator — into the engine; the alerts go through one writer thread that
//! stores them in batches (group commit: whatever is queued, up to 1 000 or 20 ms, in one
//! transaction with the session's progress). The API speaks JSON on loopback by default:
//!
//! - `GET /api/health`, `GET /api/status`, `GET /api/summary`, `GET /api/session`
//! - `GET /api/alerts?level=&status=&limit=`
//! - `POST /api/start` `{"symbols": [...], "duration_s": 60, "speed": 1, "seed": 1}`, `POST /api/stop`
//! - `GET /api/cases`, `GET /api/audit/verify`
//! - reports, with a token: `GET /api/cases/{id}/report?kind=stor|sar&format=json|html|pdf`,
//!   `GET /api/reports/integrity?from=&to=&venue=&symbol=&format=`
//! - with `Authorization: Bearer <token>` (`vigil user token`), acting as the token's user:
//!   `POST /api/alerts/{id}/resolve` `{"resolution", "reason"}`, `POST /api/cases`
//!   `{"alert_ids", "title"}`, `POST /api/cases/{id}/close` `{"outcome", "reason"}`,
//!   `POST /api/proposals/{id}/decide` `{"approve", "reason"}`
//!
//! Reads, start and stop need no credentials: the API listens on loopback by default, and a session
//! changes nothing but what is monitored. Every change to the store (triage, cases, decisions)
//! carries a user's token and is audited under that user.

use crate::desk;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_core::{Alert, AlertType, Interner};
use vigil_detect::{Config, Engine};
use vigil_sim::{SimConfig, Simulator};
use vigil_store::Store;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7878";

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed on the first line).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// A vigil.toml for the detectors.
    #[arg(long)]
    pub config: Option<String>,
    /// The reports' reference file: the submitter, the persons behind accounts, instrument
    /// identifiers (default $VIGIL_REFERENCE; see docs/reports.md).
    #[arg(long)]
    pub reference: Option<String>,
    /// The live ingest journal: events posted to /api/v1/events and FIX drop copies, kept before
    /// they are acknowledged and replayed at start (default: beside a SQLite store, `<db>.ingest.journal`).
    #[arg(long)]
    pub journal: Option<String>,
    /// The largest batch POST /api/v1/events takes, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub ingest_limit: usize,
    /// Accept FIX drop-copy sessions on this address (host:port).
    #[arg(long)]
    pub fix_listen: Option<String>,
    /// A FIX session to accept: `FIX.4.4:OURCOMPID:THEIRCOMPID[:venue]` (repeat for more; the
    /// venue names the events, default the peer's CompID in lower case).
    #[arg(long = "fix-session")]
    pub fix_sessions: Vec<String>,
    /// Where FIX sessions keep their sequence numbers and sent messages (default: the journal's
    /// directory, `fix-sessions/`).
    #[arg(long)]
    pub fix_store: Option<String>,
    /// Serve gRPC (proto/vigil/v1: live ingest, alert subscription) on this address.
    #[arg(long)]
    pub grpc_listen: Option<String>,
    /// A PEM certificate (chain) for gRPC over TLS; with --grpc-tls-key.
    #[arg(long, requires = "grpc_tls_key")]
    pub grpc_tls_cert: Option<String>,
    /// The PEM private key of --grpc-tls-cert.
    #[arg(long, requires = "grpc_tls_cert")]
    pub grpc_tls_key: Option<String>,
}

/// A monitoring session's request.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct StartRequest {
    pub symbols: Vec<String>,
    /// Wall-clock seconds the session runs.
    pub duration_s: f64,
    /// Event-time seconds per wall-clock second (1: real time).
    #[serde(default = "one")]
    pub speed: f64,
    #[serde(default = "one_u")]
    pub seed: u64,
    /// Scenarios of each type the simulator places in the session by itself (default 1; 0: only
    /// those injected from the dashboard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_type: Option<usize>,
}

fn one() -> f64 {
    1.0
}
fn one_u() -> u64 {
    1
}

impl StartRequest {
    pub fn check(&self) -> anyhow::Result<()> {
        if self.symbols.is_empty() || self.symbols.iter().any(|s| s.trim().is_empty()) {
            bail!("--symbols: one or more symbol names, comma-separated");
        }
        if !(self.duration_s > 0.0 && self.duration_s.is_finite()) {
            bail!("--duration: a positive number of seconds");
        }
        if !(0.01..=100_000.0).contains(&self.speed) {
            bail!("--speed: a factor from 0.01 to 100000");
        }
        if self.duration_s > 7.0 * 86_400.0 {
            bail!("--duration: at most a week");
        }
        Ok(())
    }
}

/// A scenario asked for from the dashboard.
#[derive(Clone, Debug)]
pub struct Injected {
    pub kind: AlertType,
    pub by: String,
    /// Whether the simulator found room for it (`None`: not taken in yet), and the event time
    /// it was taken in at.
    pub placed: Option<bool>,
    pub at: Option<i64>,
}

/// What a session did, as the API and `vigil start` report it.
#[derive(Default)]
pub struct Session {
    pub number: u64,
    pub running: bool,
    pub request: Option<StartRequest>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub alerts: Vec<Alert>,
    pub error: Option<String>,
    /// Scenarios injected from the dashboard, in the order asked.
    pub injected: Vec<Injected>,
}

/// How many stored alerts are held for lists that resume.
const RECENT: usize = 4096;

/// A stored alert and its number in the order stored.
pub type Numbered = (u64, Arc<vigil_store::StoredAlert>);

/// The last alerts stored, with their numbers.
#[derive(Default)]
pub struct Recent {
    last: u64,
    held: std::collections::VecDeque<Numbered>,
}

pub struct Monitor {
    pub config: Config,
    pub session: Mutex<Session>,
    pub stop: AtomicBool,
    pub events: AtomicU64,
    /// Alerts handed to the writer, and stored by it.
    pub sent: AtomicU64,
    pub stored: AtomicU64,
    writer: crossbeam_channel::Sender<(u64, Alert)>,
    /// Every alert raised, as it is raised (gRPC subscriptions).
    pub live: tokio::sync::broadcast::Sender<Alert>,
    /// Every alert once stored, with its triage (suppressed by a rule, or active) and its number
    /// in the order stored: the dashboard's live lists, where an alert shown can be opened.
    pub stored_live: tokio::sync::broadcast::Sender<Numbered>,
    /// The last alerts stored, numbered, so that a list resumes after the last it showed (the page
    /// drawn before its stream connected, a reconnect) without a gap.
    pub recent: Mutex<Recent>,
    /// This run of the server (its start, in ms since the epoch): the first part of an alert's
    /// event id, so that a client of an earlier run resuming is not taken at its numbers.
    boot: u64,
    /// The recent market, for people (charts, replay, the trade stream).
    pub market: Arc<crate::web::market::Market>,
    /// The configuration in force, as the settings page shows it.
    pub config_json: Value,
    /// Scenarios to inject into the running session: type, by whom.
    inject_queue: Mutex<Vec<(usize, AlertType)>>,
    /// The store, where a session's account profiles go when it ends.
    db: String,
}

impl Monitor {
    /// Starts the writer thread on its own connection to the store at `db`.
    pub fn new(config: Config, config_json: Value, db: &str) -> anyhow::Result<(Arc<Monitor>, std::thread::JoinHandle<()>)> {
        let mut store = Store::open(db).with_context(|| format!("cannot open the store {db}"))?;
        let location = db.to_string();
        let (tx, rx) = crossbeam_channel::unbounded::<(u64, Alert)>();
        let m = Arc::new(Monitor {
            config,
            session: Mutex::new(Session::default()),
            stop: AtomicBool::new(false),
            events: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            writer: tx,
            live: tokio::sync::broadcast::channel(4096).0,
            stored_live: tokio::sync::broadcast::channel(RECENT).0,
            recent: Mutex::new(Recent::default()),
            boot: vigil_store::now_ns().max(0) as u64 / 1_000_000,
            market: Arc::new(crate::web::market::Market::new(100_000)),
            config_json,
            inject_queue: Mutex::new(Vec::new()),
            db: db.to_string(),
        });
        let mon = m.clone();
        let writer = std::thread::Builder::new().name("vigil-writer".into()).spawn(move || write_loop(&mut store, &location, &rx, &mon))?;
        Ok((m, writer))
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event id of the last alert stored (number 0 before the first): a list drawn now
    /// resumes after it.
    pub fn stored_seq(&self) -> String {
        self.event_id(self.recent.lock().unwrap_or_else(|e| e.into_inner()).last)
    }

    /// An alert's event id: this run of the server, and the alert's number in the order stored.
    pub fn event_id(&self, n: u64) -> String {
        format!("{}-{n}", self.boot)
    }

    /// The number an event id stands for in this run: 0 (before every alert) for an id of another
    /// run, whose numbers mean nothing here; None for what is not an event id.
    pub fn event_number(&self, id: &str) -> Option<u64> {
        let (boot, n) = id.trim().split_once('-')?;
        let (boot, n) = (boot.parse::<u64>().ok()?, n.parse::<u64>().ok()?);
        Some(if boot == self.boot { n } else { 0 })
    }

    /// A stream of stored alerts after number `after`: those still held (and how many are no
    /// longer held, when some are missing), then every one stored from now on.
    pub fn stored_after(&self, after: u64) -> (u64, Vec<Numbered>, tokio::sync::broadcast::Receiver<Numbered>) {
        // Subscribing under the lock the writer numbers and sends under: nothing falls between.
        let r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.stored_live.subscribe();
        let after = after.min(r.last);
        let first = r.held.front().map_or(r.last + 1, |x| x.0);
        let missed = first.saturating_sub(after + 1);
        (missed, r.held.iter().filter(|x| x.0 > after).cloned().collect(), live)
    }

    /// Numbers a stored alert, holds it, and sends it to the live lists.
    fn stored(&self, x: vigil_store::StoredAlert) {
        let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        r.last += 1;
        let x = (r.last, Arc::new(x));
        if r.held.len() == RECENT {
            r.held.pop_front();
        }
        r.held.push_back(x.clone());
        // No list listening is no error.
        let _ = self.stored_live.send(x);
    }

    /// Starts a session on its own thread; refused while one runs.
    pub fn start(self: &Arc<Self>, req: StartRequest) -> anyhow::Result<u64> {
        req.check()?;
        let number = {
            let mut s = self.lock();
            if s.running {
                bail!("a session is running (symbols {}); vigil stop first", s.request.as_ref().map_or(String::new(), |r| r.symbols.join(",")));
            }
            let number = s.number + 1;
            *s = Session { number, running: true, request: Some(req.clone()), started_at: vigil_store::now_ns(), ..Default::default() };
            // Under the session's lock, so that no injection asked for the new session is lost.
            self.inject_queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
            number
        };
        self.stop.store(false, Ordering::SeqCst);
        let m = self.clone();
        std::thread::Builder::new().name("vigil-session".into()).spawn(move || {
            // However the session ends (a panic included), it is marked ended.
            struct Ended(Arc<Monitor>);
            impl Drop for Ended {
                fn drop(&mut self) {
                    let mut s = self.0.lock();
                    s.running = false;
                    s.ended_at = Some(vigil_store::now_ns());
                    if std::thread::panicking() && s.error.is_none() {
                        s.error = Some("the session panicked".into());
                    }
                }
            }
            let _ended = Ended(m.clone());
            if let Err(e) = m.run(number, &req) {
                m.lock().error = Some(format!("{e:#}"));
            }
        })?;
        Ok(number)
    }

    /// Queues a scenario for the running session (it is placed at the session's next step).
    pub fn inject(&self, kind: AlertType, by: &str) -> anyhow::Result<u64> {
        let mut s = self.lock();
        if !s.running {
            bail!("no simulated session runs: start one first");
        }
        s.injected.push(Injected { kind, by: by.to_string(), placed: None, at: None });
        self.inject_queue.lock().unwrap_or_else(|e| e.into_inner()).push((s.injected.len() - 1, kind));
        Ok(s.number)
    }

    /// The simulator's market on the session's symbols, paced to the wall clock after a warm-up
    /// run at full speed (so the detectors' baselines exist), into the engine.
    fn run(self: &Arc<Self>, number: u64, req: &StartRequest) -> anyhow::Result<()> {
        let span = (req.duration_s * req.speed * 1e9) as i64;
        let cfg = SimConfig {
            seed: req.seed,
            symbols: req.symbols.len(),
            symbol_names: req.symbols.clone(),
            duration_ns: span.max(1_000_000_000),
            per_type: req.per_type.unwrap_or(1),
            ..Default::default()
        };
        let mut it = Interner::new();
        let mut sim = Simulator::new(cfg, &mut it);
        let names = it.names();
        // Event time restarts with the session: what was held of its symbols is another market.
        self.market.forget(&req.symbols);
        let source: Arc<str> = Arc::from(format!("session:{number}"));
        let (span_start, end) = sim.span();
        let m = self.clone();
        let mut engine = Engine::start(
            &self.config,
            1,
            it.names(),
            Box::new(move |a: Alert| {
                m.lock().alerts.push(a.clone());
                let _ = m.live.send(a.clone());
                m.sent.fetch_add(1, Ordering::SeqCst);
                // The writer lives as long as the monitor; a send fails only at shutdown.
                let _ = m.writer.send((number, a));
            }),
        );
        let step = 100_000_000;
        let mut t = sim.config().start.0;
        let mut buf = Vec::new();
        let mut paced_from: Option<std::time::Instant> = None;
        while t < end && !self.stop.load(Ordering::SeqCst) {
            let was = t;
            t = (t + step).min(end);
            let asked: Vec<(usize, AlertType)> = std::mem::take(&mut *self.inject_queue.lock().unwrap_or_else(|e| e.into_inner()));
            for (i, kind) in asked {
                let placed = sim.inject(&mut it, kind);
                if let Some(x) = self.lock().injected.get_mut(i) {
                    x.placed = Some(placed);
                    x.at = Some(was);
                }
            }
            sim.advance(t, &mut buf);
            self.events.fetch_add(buf.len() as u64, Ordering::Relaxed);
            self.market.record(&source, &names, &buf);
            for ev in buf.drain(..) {
                engine.push(ev);
            }
            if t > span_start {
                engine.flush();
                let from = *paced_from.get_or_insert_with(crate::wall::now);
                let due = Duration::try_from_secs_f64((t - span_start) as f64 / 1e9 / req.speed).unwrap_or(Duration::MAX);
                // In short naps, so that a stop is heard.
                while let Some(wait) = due.checked_sub(from.elapsed()) {
                    if self.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(wait.min(Duration::from_millis(100)));
                }
            }
        }
        let finished = engine.finish().map_err(anyhow::Error::msg);
        if let Ok(stats) = &finished {
            // The session's account profiles replace what was stored of those accounts.
            let profiles = stats.profiles.named(&names);
            if let Err(e) = Store::open(&self.db).map_err(anyhow::Error::from).and_then(|mut s| crate::accounts::store_profiles(&mut s, &profiles)) {
                eprintln!("vigil serve: session {number}: the account profiles could not be stored: {e:#}");
            }
        }
        // The session ends when the writer has stored what it raised (or says why not).
        for _ in 0..12_000 {
            if self.stored.load(Ordering::SeqCst) >= self.sent.load(Ordering::SeqCst) {
                return finished.map(|_| ());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        finished?;
        bail!(
            "{} alerts raised are not stored yet (the store is failing; the writer keeps trying)",
            self.sent.load(Ordering::SeqCst) - self.stored.load(Ordering::SeqCst)
        )
    }
}

/// Group commit: block for the first alert, take whatever else is queued within 20 ms (up to
/// 1 000), store them in one transaction with the session's progress. A failed write is retried on
/// a new connection, never dropped.
fn write_loop(store: &mut Store, location: &str, rx: &crossbeam_channel::Receiver<(u64, Alert)>, m: &Monitor) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let deadline = crossbeam_channel::after(Duration::from_millis(20));
        while batch.len() < 1000 {
            crossbeam_channel::select! {
                recv(rx) -> x => match x { Ok(x) => batch.push(x), Err(_) => break },
                recv(deadline) -> _ => break,
            }
        }
        let session = batch.last().map_or(0, |x| x.0);
        let alerts: Vec<Alert> = batch.into_iter().map(|x| x.1).collect();
        loop {
            // Session 0 is live ingest (webhooks, FIX).
            let source = if session == 0 { "ingest".to_string() } else { format!("session:{session}") };
            match store.insert_alerts_new(&alerts, &[(&source, m.events.load(Ordering::Relaxed) as i64)]) {
                Ok(new) => {
                    m.stored.fetch_add(alerts.len() as u64, Ordering::SeqCst);
                    // Only what is new: a rerun's alerts are already stored (and maybe triaged).
                    for a in new.iter().map(|&i| &alerts[i]) {
                        match store.alert(&a.alert_id) {
                            Ok(Some(x)) => m.stored(x),
                            // Stored and not read back: the lists show it on their next load.
                            Ok(None) => eprintln!("vigil serve: alert {} was stored but is not found", a.alert_id),
                            Err(e) => eprintln!("vigil serve: alert {} was stored but could not be read back for the live lists: {e}", a.alert_id),
                        }
                    }
                    break;
                }
                Err(e) => {
                    eprintln!("vigil serve: storing {} alerts failed, retrying in 1 s on a new connection: {e}", alerts.len());
                    std::thread::sleep(Duration::from_secs(1));
                    match Store::open(location) {
                        Ok(s) => *store = s,
                        Err(e) => eprintln!("vigil serve: cannot reopen the store: {e}"),
                    }
                }
            }
        }
    }
}

/// A line on standard output for whoever started the serve; one that stopped reading (a closed
/// pipe) does not stop the serve.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A serve running: its parts, and the runtime its HTTP server runs on.
pub struct Running {
    pub monitor: Arc<Monitor>,
    pub addr: std::net::SocketAddr,
    pub rt: tokio::runtime::Runtime,
}

/// `vigil serve`.
pub fn serve(a: ServeArgs, db: &desk::Db) -> anyhow::Result<std::process::ExitCode> {
    let running = start_serve(a, db)?;
    // Serves until the process is stopped.
    running.rt.block_on(std::future::pending::<()>());
    Ok(std::process::ExitCode::SUCCESS)
}

/// Starts everything `vigil serve` runs: the writer, live ingest, the HTTP server, gRPC and FIX
/// when asked.
pub fn start_serve(a: ServeArgs, db: &desk::Db) -> anyhow::Result<Running> {
    let config = crate::replay::load_config(a.config.as_deref())?;
    let config_json = config_json(a.config.as_deref())?;
    let location = db.location();
    let (monitor, _writer) = Monitor::new(config, config_json, &location)?;
    let reference = crate::report::reference(a.reference.as_deref())?;
    let journal = a.journal.as_ref().map(std::path::PathBuf::from).unwrap_or_else(|| crate::ingest::default_journal(&location));
    let m = monitor.clone();
    let ingest = crate::ingest::Ingest::start(
        &monitor.config,
        &journal,
        Box::new(move |alert: Alert| {
            m.sent.fetch_add(1, Ordering::SeqCst);
            let _ = m.live.send(alert.clone());
            let _ = m.writer.send((0, alert));
        }),
        Some(monitor.market.clone()),
    )?;
    let web = crate::web::new(monitor.clone(), ingest.clone(), &location, reference, monitor.market.clone(), a.ingest_limit)?;
    // The address first: the first line of output is where to reach the serve.
    let (addr, rt) = crate::web::start(&a.listen, web)?;
    say(&format!("vigil serve: listening on http://{addr} (store {})", vigil_store_location(&location)));
    say(&format!("vigil serve: live ingest at POST /api/v1/events (journal {}, {} events replayed)", ingest.journal().display(), ingest.last_seq()));
    if let Some(addr) = &a.grpc_listen {
        let shared = crate::grpc::Shared { ingest: ingest.clone(), store: Arc::new(Mutex::new(Store::open(&location)?)), alerts: monitor.live.clone() };
        let tls = a.grpc_tls_cert.clone().zip(a.grpc_tls_key.clone());
        let local = crate::grpc::start(addr, shared, tls.clone())?;
        say(&format!("vigil serve: gRPC on {local}{}", if tls.is_some() { " (TLS)" } else { "" }));
    }
    if let Some(addr) = &a.fix_listen {
        start_fix(addr, &a.fix_sessions, a.fix_store.as_deref(), &journal, ingest.clone())?;
    } else if !a.fix_sessions.is_empty() {
        anyhow::bail!("--fix-session needs --fix-listen");
    }
    Ok(Running { monitor, addr, rt })
}

/// The configuration in force as JSON (the defaults with the file laid over them).
pub fn config_json(path: Option<&str>) -> anyhow::Result<Value> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read the configuration {p}"))?,
        None => String::new(),
    };
    let v = Config::effective_toml(&text).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    Ok(serde_json::to_value(v)?)
}

/// Starts the FIX acceptor on `addr` for `specs` (`BEGIN:OURS:THEIRS[:venue]`).
fn start_fix(addr: &str, specs: &[String], store: Option<&str>, journal: &std::path::Path, ingest: Arc<crate::ingest::Ingest>) -> anyhow::Result<()> {
    use vigil_fix::session::{FileStore, Session, SessionConfig};
    if specs.is_empty() {
        anyhow::bail!("--fix-listen needs at least one --fix-session BEGIN:OURCOMPID:THEIRCOMPID[:venue]");
    }
    let dir = store.map(std::path::PathBuf::from).unwrap_or_else(|| journal.parent().unwrap_or(std::path::Path::new(".")).join("fix-sessions"));
    let mut sessions = Vec::new();
    let mut venues = rustc_hash::FxHashMap::default();
    for spec in specs {
        let parts: Vec<&str> = spec.split(':').collect();
        let (begin, ours, theirs, venue) = match parts.as_slice() {
            [b, o, t] => (*b, *o, *t, t.to_lowercase()),
            [b, o, t, v] => (*b, *o, *t, v.to_lowercase()),
            _ => anyhow::bail!("--fix-session {spec:?}: expected BEGIN:OURCOMPID:THEIRCOMPID[:venue], e.g. FIX.4.4:VIGIL:BROKER1:xnas"),
        };
        let dict = vigil_fix::dict::Dictionary::builtin(begin)
            .ok_or_else(|| anyhow::anyhow!("--fix-session {spec:?}: BeginString {begin:?} is not FIX.4.2 or FIX.4.4"))?;
        let cfg = SessionConfig::new(begin, ours, theirs);
        let name = crate::ingest::session_name(&cfg);
        let path = dir.join(name.replace(':', "-"));
        let fstore = FileStore::open(&path).with_context(|| format!("cannot open the FIX session store {}", path.display()))?;
        venues.insert(name, venue);
        sessions.push(Session::new(cfg, Arc::new(dict), Box::new(fstore)));
    }
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen for FIX on {addr}"))?;
    let local = listener.local_addr().map_or(addr.to_string(), |a| a.to_string());
    say(&format!("vigil serve: FIX acceptor on {local} ({} sessions, stores in {})", specs.len(), dir.display()));
    let acceptor = vigil_fix::acceptor::Acceptor::new(sessions, Arc::new(crate::ingest::FixApp { ingest, venues }));
    std::thread::Builder::new().name("vigil-fix".into()).spawn(move || acceptor.serve(listener))?;
    Ok(())
}

fn vigil_store_location(l: &str) -> String {
    if l.contains("password") || l.contains('@') {
        "postgresql".into()
    } else {
        l.to_string()
    }
}

/// `vigil status` as JSON: the session (when a serve runs), the store's totals, the thresholds.
pub fn status(m: Option<&Arc<Monitor>>, store: &mut Store) -> anyhow::Result<Value> {
    let counts = store.alert_counts()?;
    let total: i64 = counts.iter().map(|c| c.3).sum();
    let active: i64 = counts.iter().filter(|c| c.2 == "active").map(|c| c.3).sum();
    let mut v = json!({
        "running": false,
        "store": {"backend": store.backend(), "alerts": total, "active_alerts": active},
    });
    if let Some(m) = m {
        let s = m.lock();
        v["serve"] = json!(true);
        v["running"] = s.running.into();
        v["session"] = json!({
            "number": s.number, "symbols": s.request.as_ref().map(|r| r.symbols.clone()), "started_at": s.started_at,
            "ended_at": s.ended_at, "alerts_raised": s.alerts.len(), "error": s.error,
        });
        v["events"] = m.events.load(Ordering::Relaxed).into();
        v["alerts_stored"] = m.stored.load(Ordering::Relaxed).into();
        v["thresholds"] = thresholds(&m.config);
    }
    Ok(v)
}

/// The thresholds an analyst asks about first, from the configuration in force.
pub fn thresholds(c: &Config) -> Value {
    let d = &c.detectors;
    json!({
        "spoofing.min_size_ratio": d.spoofing.min_size_ratio,
        "spoofing.max_cancel_delay_s": d.spoofing.max_cancel_delay.0 as f64 / 1e9,
        "layering.min_levels": d.layering.min_levels,
        "wash_trading.min_trades": d.wash_trading.min_trades,
        "pump_and_dump.min_rise": d.pump_and_dump.min_rise,
        "quote_stuffing.min_messages": d.quote_stuffing.min_messages,
        "concentrated_trading.top_share": d.concentrated_trading.top_share,
    })
}

/// `vigil summary` as JSON: alerts by level, type and status, the risk distribution, and what to do
/// next.
pub fn summary(store: &mut Store) -> anyhow::Result<Value> {
    let counts = store.alert_counts()?;
    let mut by_level = serde_json::Map::new();
    let mut by_type = serde_json::Map::new();
    let mut by_status = serde_json::Map::new();
    for (t, l, s, n) in &counts {
        for (m, k) in [(&mut by_level, l), (&mut by_type, t), (&mut by_status, s)] {
            let e = m.entry(k.clone()).or_insert(json!(0));
            *e = json!(e.as_i64().unwrap_or(0) + n);
        }
    }
    let risks = store.risk_histogram()?;
    let active_critical = counts.iter().filter(|c| c.1 == "critical" && c.2 == "active").map(|c| c.3).sum::<i64>();
    let active_high = counts.iter().filter(|c| c.1 == "high" && c.2 == "active").map(|c| c.3).sum::<i64>();
    let mut recs: Vec<String> = Vec::new();
    if active_critical > 0 {
        recs.push(format!("{active_critical} critical alerts are active: review them first (vigil alerts --level critical)"));
    }
    if active_high > 0 {
        recs.push(format!("{active_high} high alerts are active: open a case where the same account recurs (vigil cases open)"));
    }
    let mut types: Vec<&String> = counts.iter().map(|c| &c.0).collect();
    types.dedup();
    for t in types {
        let fp: i64 = counts.iter().filter(|c| &c.0 == t && c.2 == "false_positive").map(|c| c.3).sum();
        let all: i64 = counts.iter().filter(|c| &c.0 == t).map(|c| c.3).sum();
        if all >= 10 && fp * 2 >= all {
            recs.push(format!(
                "{t}: {fp} of {all} marked false positive; consider a suppression rule for the accounts behind them (vigil rules add) or a higher threshold"
            ));
        }
    }
    let open = store.proposals(true)?.len();
    if open > 0 {
        recs.push(format!("{open} proposals wait for a supervisor (vigil proposals)"));
    }
    if recs.is_empty() {
        recs.push("nothing waits: no active critical or high alerts".into());
    }
    Ok(json!({"by_level": by_level, "by_type": by_type, "by_status": by_status, "risk_distribution": risks, "recommendations": recs}))
}

/// A client of a running `vigil serve`: `None` when none answers at the address.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    /// $VIGIL_TOKEN: every route but health takes a user's token.
    token: Option<String>,
}

impl Client {
    pub fn find(server: &str) -> Option<Client> {
        if server.is_empty() {
            return None;
        }
        let agent = ureq::AgentBuilder::new().timeout_connect(Duration::from_millis(300)).timeout(Duration::from_secs(30)).build();
        let base = server.trim_end_matches('/').to_string();
        let token = std::env::var("VIGIL_TOKEN").ok().filter(|t| !t.trim().is_empty());
        agent.get(&format!("{base}/api/health")).call().ok().map(|_| Client { base, agent, token })
    }

    fn authorized(&self, rq: ureq::Request) -> ureq::Request {
        match &self.token {
            Some(t) => rq.set("Authorization", &format!("Bearer {}", t.trim())),
            None => rq,
        }
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        answer(self.authorized(self.agent.get(&format!("{}{path}", self.base))).call(), path)
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        answer(self.authorized(self.agent.post(&format!("{}{path}", self.base))).set("Content-Type", "application/json").send_string(&body.to_string()), path)
    }

    /// A change, as the user of an API token.
    pub fn post_as(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        let rq = self.agent.post(&format!("{}{path}", self.base)).set("Content-Type", "application/json").set("Authorization", &format!("Bearer {token}"));
        answer(rq.send_string(&body.to_string()), path)
    }
}

fn answer(r: Result<ureq::Response, ureq::Error>, path: &str) -> anyhow::Result<Value> {
    match r {
        Ok(resp) => Ok(serde_json::from_str(&resp.into_string()?)?),
        Err(ureq::Error::Status(code, resp)) => {
            let v: Value = serde_json::from_str(&resp.into_string().unwrap_or_default()).unwrap_or(Value::Null);
            let hint = if code == 401 { " (set VIGIL_TOKEN to a user's token: vigil user token NAME)" } else { "" };
            bail!("vigil serve answered {code} to {path}: {}{hint}", v["error"].as_str().unwrap_or("?"))
        }
        Err(e) => bail!("vigil serve: {path}: {e}"),
    }
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// Where the events come from: `simulated` (the simulator's market, paced to the clock), or a
    /// venue's public market data: `binance`, `coinbase`, `kraken`.
    #[arg(long, default_value = "simulated")]
    pub source: String,
    /// The symbols to monitor, comma-separated, in the spec's form (BTC-USDT).
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// Seconds to monitor; the alerts raised are printed at the end. A venue's feed runs until
    /// interrupted without it.
    #[arg(long)]
    pub duration: Option<f64>,
    /// A venue's websocket URL other than its public one (a `vigil feed-server`, a proxy).
    #[arg(long)]
    pub url: Option<String>,
    /// A venue's REST URL for book snapshots (Binance) other than its public one.
    #[arg(long)]
    pub rest_url: Option<String>,
    /// Write the data-completeness records (silences, sequence gaps, checksum failures, clock skew,
    /// reconnects) here, one JSON object a line.
    #[arg(long)]
    pub completeness: Option<String>,
    /// A feed silent this long is a gap (and the connection is made again).
    #[arg(long, default_value = "30s")]
    pub max_silence: String,
    /// Event time this far from receive time is clock skew.
    #[arg(long, default_value = "2s")]
    pub max_skew: String,
    /// Give up after this many connection attempts in a row that bring no message (default: never).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Where to write a venue feed's alerts, one JSON object a line (default: standard output).
    #[arg(long)]
    pub alerts_out: Option<String>,
    /// Also store a venue feed's alerts in the store (`--db`).
    #[arg(long)]
    pub store: bool,
    /// Event-time seconds per wall-clock second of the simulated source (1: real time).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A vigil.toml for the detectors (without a running serve).
    #[arg(long)]
    pub config: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: desk::Format,
}

fn print_alerts(alerts: &[Alert], format: desk::Format) -> anyhow::Result<()> {
    if format == desk::Format::Json {
        for a in alerts {
            println!("{}", serde_json::to_string(a)?);
        }
        return Ok(());
    }
    desk::print_rows(
        format,
        &["alert_id", "time", "type", "level", "risk", "symbols", "accounts", "description"],
        &alerts.iter().map(|a| desk::alert_row(a, None)).collect::<Vec<_>>(),
    );
    Ok(())
}

/// `vigil start`: a session on the running serve, else in this process on the local store.
pub fn start(a: StartArgs, db: &desk::Db, server: &str) -> anyhow::Result<std::process::ExitCode> {
    if a.source != "simulated" {
        return crate::feed::start_live(&a, db);
    }
    let Some(duration_s) = a.duration else { bail!("--duration is required for the simulated source") };
    let req = StartRequest { symbols: a.symbols.iter().map(|s| s.trim().to_string()).collect(), duration_s, speed: a.speed, seed: a.seed, per_type: None };
    req.check()?;
    let alerts: Vec<Alert> = if let Some(c) = Client::find(server) {
        let n = c.post("/api/start", &serde_json::to_value(&req)?)?["session"].as_u64().unwrap_or(0);
        eprintln!("vigil start: session {n} on {server}: {} for {} s", req.symbols.join(","), req.duration_s);
        let s = loop {
            std::thread::sleep(Duration::from_millis(200));
            let s = c.get("/api/session")?;
            if s["number"].as_u64() != Some(n) || !s["running"].as_bool().unwrap_or(false) {
                break s;
            }
        };
        if let Some(e) = s["error"].as_str() {
            bail!("session {n} failed: {e}");
        }
        serde_json::from_value(s["alerts"].clone())?
    } else {
        let config = crate::replay::load_config(a.config.as_deref())?;
        let (m, _writer) = Monitor::new(config, Value::Null, &db.location())?;
        eprintln!("vigil start: no serve at {server}; monitoring here, on {}: {} for {} s", db.location(), req.symbols.join(","), req.duration_s);
        m.start(req)?;
        while m.lock().running {
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = m.lock();
        if let Some(e) = &s.error {
            bail!("the session failed: {e}");
        }
        s.alerts.clone()
    };
    eprintln!("vigil start: {} alerts raised", alerts.len());
    print_alerts(&alerts, a.format)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// `vigil stop`: ends the running serve's session.
pub fn stop(server: &str) -> anyhow::Result<std::process::ExitCode> {
    let Some(c) = Client::find(server) else {
        bail!(
            "no vigil serve answers{}",
            if server.is_empty() { " (--db names a local store: give --server to reach a serve)".to_string() } else { format!(" at {server}") }
        )
    };
    let v = c.post("/api/stop", &json!({}))?;
    println!("{}", if v["stopped"].as_bool().unwrap_or(false) { "session stopping" } else { "no session was running" });
    Ok(std::process::ExitCode::SUCCESS)
}

/// `vigil status`.
pub fn status_cmd(db: &desk::Db, server: &str, format: desk::Format) -> anyhow::Result<std::process::ExitCode> {
    let (v, serve) = match Client::find(server) {
        Some(c) => (c.get("/api/status")?, true),
        None => {
            let mut s = db.open()?;
            let mut v = status(None, &mut s)?;
            v["thresholds"] = thresholds(&crate::replay::load_config(None)?);
            (v, false)
        }
    };
    if format == desk::Format::Json {
        println!("{v}");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let mut rows: Vec<Vec<String>> = vec![vec![
        "serve".into(),
        if serve {
            format!("running at {server}")
        } else if server.is_empty() {
            "not asked (--db names the store)".into()
        } else {
            format!("not running (none at {server})")
        },
    ]];
    if serve {
        let s = &v["session"];
        let symbols = s["symbols"].as_array().map_or(String::new(), |a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(","));
        rows.push(vec![
            "monitoring".into(),
            if v["running"].as_bool().unwrap_or(false) {
                format!("yes: {symbols}")
            } else {
                format!("no (last: {})", if symbols.is_empty() { "none" } else { &symbols })
            },
        ]);
        rows.push(vec!["events".into(), v["events"].to_string()]);
        rows.push(vec!["alerts raised (session)".into(), s["alerts_raised"].to_string()]);
    }
    rows.push(vec!["store".into(), v["store"]["backend"].as_str().unwrap_or("?").to_string()]);
    rows.push(vec!["alerts stored".into(), v["store"]["alerts"].to_string()]);
    rows.push(vec!["active alerts".into(), v["store"]["active_alerts"].to_string()]);
    if let Some(t) = v["thresholds"].as_object() {
        for (k, x) in t {
            rows.push(vec![k.clone(), x.to_string()]);
        }
    }
    desk::print_rows(format, &["what", "value"], &rows);
    Ok(std::process::ExitCode::SUCCESS)
}

/// `vigil summary`.
pub fn summary_cmd(db: &desk::Db, server: &str, format: desk::Format) -> anyhow::Result<std::process::ExitCode> {
    let v = match Client::find(server) {
        Some(c) => c.get("/api/summary")?,
        None => summary(&mut db.open()?)?,
    };
    if format == desk::Format::Json {
        println!("{v}");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for key in ["by_level", "by_type", "by_status"] {
        if let Some(m) = v[key].as_object() {
            for (k, n) in m {
                rows.push(vec![key.trim_start_matches("by_").into(), k.clone(), n.to_string()]);
            }
        }
    }
    if let Some(h) = v["risk_distribution"].as_array() {
        for (i, n) in h.iter().enumerate() {
            rows.push(vec!["risk".into(), format!("{:.1}-{:.1}", i as f64 / 5.0, (i + 1) as f64 / 5.0), n.to_string()]);
        }
    }
    desk::print_rows(format, &["group", "key", "alerts"], &rows);
    if format == desk::Format::Table {
        println!();
        for r in v["recommendations"].as_array().into_iter().flatten() {
            println!("- {}", r.as_str().unwrap_or(""));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
