//! Live ingest for `vigil serve`: batches of the spec's events posted to `POST /api/v1/events`
//! and the drop copies the FIX acceptor receives go through one journal into one engine.
//!
//! A batch is decoded line by line (a bad line is rejected with its line number, field and
//! reason, and the rest go on); an event later than the reorder tolerance behind the newest one
//! accepted is rejected too. The accepted lines are appended to the journal and the journal is
//! synced to disk before the answer names the last accepted sequence number: once acknowledged,
//! an event survives a crash. FIX messages are journaled as received, before the session keeps
//! their sequence number, and mapped to events as they arrive (`vigil_fix::dropcopy`). On start
//! the journal is replayed, so the engine's state and alerts (the store ignores an alert it
//! already holds) come back as they were.
//!
//! Journal lines: `e` and an event as posted; `f` and `{"session":…,"venue":…,"raw":…}` for a FIX
//! message; `x` and `{"session":…}` where a FIX session's connection ended. Every rejected
//! record is also kept, one JSON object a line, in the journal's `.rejects.jsonl` beside it.

use anyhow::Context;
use rustc_hash::FxHashMap;
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_core::{Alert, Event, Interner};
use vigil_detect::{Config, Engine};
use vigil_fix::dropcopy::Mapper;
use vigil_io::read::{jsonl_line, Item};
use vigil_io::reject::{Reject, RejectCode, RejectSink};
use vigil_io::stream::Reorder;

/// What became of a batch.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: u64,
    /// The sequence number of the last event accepted so far (0: none yet).
    pub last_seq: u64,
    pub rejected: Vec<Reject>,
}

struct State {
    interner: Interner,
    journal: Option<std::fs::File>,
    /// Events accepted, all sources.
    seq: u64,
    newest: i64,
    tolerance: i64,
    /// One drop-copy mapping per FIX session.
    mappers: FxHashMap<String, Mapper>,
    rejects: RejectSink,
}

/// The ingest pipeline of a `vigil serve`.
pub struct Ingest {
    state: Mutex<State>,
    tx: crossbeam_channel::Sender<Event>,
    journal_path: PathBuf,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
}

fn reject(source: &str, line: u64, field: Option<&'static str>, code: RejectCode, reason: String, raw: &str) -> Reject {
    Reject { file: Arc::from(source), line, field, code, reason, raw: raw.chars().take(500).collect() }
}

impl Ingest {
    /// Replays the journal at `journal` (created if missing) into a new engine, then takes new
    /// input. `alerts` receives what the engine raises; `events` counts what it is given.
    pub fn start(config: &Config, journal: &Path, alerts: Box<dyn FnMut(Alert) + Send>, events: Arc<AtomicU64>) -> anyhow::Result<Arc<Ingest>> {
        let interner = Interner::new();
        // Bounded: a client faster than the engine waits in its request (backpressure).
        let (tx, rx) = crossbeam_channel::bounded::<Event>(65_536);
        let tolerance = config.engine.reorder_tolerance.0;
        let mut engine = Engine::start(config, 1, interner.names(), alerts);
        std::thread::Builder::new().name("vigil-ingest".into()).spawn(move || {
            let mut reorder = Reorder::new(tolerance);
            loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(ev) => {
                        events.fetch_add(1, Ordering::Relaxed);
                        if let Err(late) = reorder.push(ev) {
                            // Checked on the way in; never lost on the way through.
                            engine.push(late.0);
                        }
                        while let Some(e) = reorder.pop_ready() {
                            engine.push(e);
                        }
                        if rx.is_empty() {
                            engine.flush();
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        while let Some(e) = reorder.pop_any() {
                            engine.push(e);
                        }
                        engine.flush();
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            }
            while let Some(e) = reorder.pop_any() {
                engine.push(e);
            }
            let _ = engine.finish();
        })?;
        let ingest = Arc::new(Ingest {
            state: Mutex::new(State {
                interner,
                journal: None,
                seq: 0,
                newest: i64::MIN,
                tolerance,
                mappers: FxHashMap::default(),
                rejects: RejectSink::new(None),
            }),
            tx,
            journal_path: journal.to_path_buf(),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        ingest.replay(journal)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal)
            .with_context(|| format!("cannot open the ingest journal {}", journal.display()))?;
        let rejects_path = rejects_file(journal);
        let rejects =
            std::fs::OpenOptions::new().create(true).append(true).open(&rejects_path).with_context(|| format!("cannot open {}", rejects_path.display()))?;
        let mut st = ingest.lock();
        st.journal = Some(file);
        st.rejects = RejectSink::new(Some(Box::new(rejects)));
        drop(st);
        Ok(ingest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn journal(&self) -> &Path {
        &self.journal_path
    }

    /// The last sequence number accepted.
    pub fn last_seq(&self) -> u64 {
        self.lock().seq
    }

    fn replay(&self, path: &Path) -> anyhow::Result<()> {
        let Ok(f) = std::fs::File::open(path) else { return Ok(()) };
        let name = path.display().to_string();
        let mut st = self.lock();
        for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.with_context(|| format!("{name}: line {}", i + 1))?;
            let (kind, rest) = line.split_at(line.len().min(1));
            match kind {
                "e" => {
                    let _ = self.accept(&mut st, &name, i as u64 + 1, rest.as_bytes());
                }
                "f" | "x" => {
                    let v: serde_json::Value = serde_json::from_str(rest).with_context(|| format!("{name}: line {}", i + 1))?;
                    let session = v["session"].as_str().unwrap_or("").to_string();
                    if kind == "f" {
                        let raw = v["raw"].as_str().unwrap_or("").as_bytes().to_vec();
                        let _ = self.map_fix(&mut st, &session, v["venue"].as_str().unwrap_or("fix"), &raw);
                    } else {
                        self.end_fix(&mut st, &session);
                    }
                }
                // A line cut short by a crash (the last one) or an empty one.
                _ => {}
            }
        }
        Ok(())
    }

    /// Decodes one line and hands the event on; the line was or will be journaled by the caller.
    fn accept(&self, st: &mut State, source: &str, line: u64, bytes: &[u8]) -> Result<bool, Reject> {
        let file: Arc<str> = Arc::from(source);
        match jsonl_line(&file, line, bytes, bytes.len() > vigil_io::read::MAX_LINE, &mut st.interner) {
            None => Ok(false),
            Some(Item::Reject(r)) => Err(r),
            Some(Item::Event(ev)) => {
                if st.newest != i64::MIN && ev.ts.0 < st.newest.saturating_sub(st.tolerance) {
                    let late = st.newest - ev.ts.0;
                    return Err(reject(
                        source,
                        line,
                        Some("ts"),
                        RejectCode::OutOfOrder,
                        format!("{} ns earlier than an event already accepted, beyond the {} ns reorder tolerance", late, st.tolerance),
                        &String::from_utf8_lossy(bytes),
                    ));
                }
                st.newest = st.newest.max(ev.ts.0);
                st.seq += 1;
                // The engine numbers events itself; the channel is bounded (backpressure).
                let _ = self.tx.send(ev);
                Ok(true)
            }
        }
    }

    fn sync(st: &mut State) -> std::io::Result<()> {
        // Rejects are kept as well as may be; the journal must be on disk.
        let _ = st.rejects.finish();
        match st.journal.as_mut() {
            Some(j) => {
                j.flush()?;
                j.sync_data()
            }
            None => Ok(()),
        }
    }

    fn keep_one(st: &mut State, r: Reject) {
        st.rejects.push(r);
        let _ = st.rejects.finish();
    }

    fn keep(st: &mut State, rejects: &[Reject]) {
        for r in rejects {
            st.rejects.push(r.clone());
        }
    }

    /// A batch of the spec's JSON Lines from `source`.
    pub fn submit(&self, source: &str, body: &[u8]) -> anyhow::Result<Outcome> {
        let mut st = self.lock();
        let mut out = Outcome::default();
        let mut journal = Vec::with_capacity(body.len() + 64);
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            match self.accept(&mut st, source, i as u64 + 1, raw) {
                Ok(true) => {
                    out.accepted += 1;
                    journal.push(b'e');
                    journal.extend_from_slice(raw);
                    journal.push(b'\n');
                }
                Ok(false) => {}
                Err(r) => out.rejected.push(r),
            }
        }
        if let Some(j) = st.journal.as_mut() {
            j.write_all(&journal).with_context(|| format!("cannot write the ingest journal {}", self.journal_path.display()))?;
        }
        Self::keep(&mut st, &out.rejected);
        Self::sync(&mut st).with_context(|| format!("cannot sync the ingest journal {}", self.journal_path.display()))?;
        out.last_seq = st.seq;
        self.accepted.fetch_add(out.accepted, Ordering::Relaxed);
        self.rejected.fetch_add(out.rejected.len() as u64, Ordering::Relaxed);
        Ok(out)
    }

    fn map_fix(&self, st: &mut State, session: &str, venue: &str, raw: &[u8]) -> Vec<Reject> {
        let mut rejects = Vec::new();
        let source = format!("fix:{session}");
        let mut p = vigil_fix::Parser::new();
        let lines = match p.fields(raw, raw.len()) {
            Ok(m) => {
                let mapper = st.mappers.entry(session.to_string()).or_insert_with(|| Mapper::new(venue));
                if let Err(e) = mapper.push(&m) {
                    let field = e.tag.map(|t| if t == 55 { "symbol" } else { "fix" });
                    rejects.push(reject(&source, 0, field, RejectCode::InvalidField, e.to_string(), &vigil_fix::dropcopy::printable(raw)));
                }
                mapper.ready()
            }
            Err(e) => {
                rejects.push(reject(&source, 0, None, RejectCode::InvalidField, e.to_string(), &vigil_fix::dropcopy::printable(raw)));
                Vec::new()
            }
        };
        for l in lines {
            if let Err(r) = self.accept(st, &source, 0, l.as_bytes()) {
                rejects.push(r);
            }
        }
        Self::keep(st, &rejects);
        rejects
    }

    fn end_fix(&self, st: &mut State, session: &str) {
        let source = format!("fix:{session}");
        let lines = st.mappers.get_mut(session).map(Mapper::flush).unwrap_or_default();
        for l in lines {
            if let Err(r) = self.accept(st, &source, 0, l.as_bytes()) {
                Self::keep(st, &[r]);
            }
        }
    }

    /// One FIX application message of `session` (`BEGIN:OURS:THEIRS`): journaled (synced by
    /// [`Ingest::sync_journal`] before the session keeps its number), then mapped. Mapping
    /// problems are returned (the message is kept in the journal).
    pub fn submit_fix(&self, session: &str, venue: &str, raw: &[u8]) -> anyhow::Result<Vec<Reject>> {
        let mut st = self.lock();
        let line = format!("f{}\n", json!({"session": session, "venue": venue, "raw": String::from_utf8_lossy(raw)}));
        if let Some(j) = st.journal.as_mut() {
            j.write_all(line.as_bytes()).with_context(|| format!("cannot write the ingest journal {}", self.journal_path.display()))?;
        }
        let before = st.seq;
        let rejects = self.map_fix(&mut st, session, venue, raw);
        self.accepted.fetch_add(st.seq - before, Ordering::Relaxed);
        self.rejected.fetch_add(rejects.len() as u64, Ordering::Relaxed);
        Ok(rejects)
    }

    /// Syncs the journal to disk.
    pub fn sync_journal(&self) -> anyhow::Result<()> {
        Self::sync(&mut self.lock()).with_context(|| format!("cannot sync the ingest journal {}", self.journal_path.display()))
    }

    /// A FIX session's connection ended: a trade side still waiting for its other side leaves.
    pub fn end_session(&self, session: &str) {
        let mut st = self.lock();
        let line = format!("x{}\n", json!({"session": session}));
        if let Some(j) = st.journal.as_mut() {
            let _ = j.write_all(line.as_bytes());
        }
        let _ = Self::sync(&mut st);
        let before = st.seq;
        self.end_fix(&mut st, session);
        self.accepted.fetch_add(st.seq - before, Ordering::Relaxed);
    }
}

/// The journal's default place: beside a SQLite store, else in the working directory.
pub fn default_journal(db: &str) -> PathBuf {
    if db.starts_with("postgres") || db.contains("host=") {
        PathBuf::from("vigil-ingest.jsonl")
    } else {
        PathBuf::from(format!("{db}.ingest.jsonl"))
    }
}

/// Where rejected records are kept.
pub fn rejects_file(journal: &Path) -> PathBuf {
    let name = journal.file_name().map(|n| n.to_string_lossy().trim_end_matches(".jsonl").to_string()).unwrap_or_default();
    journal.with_file_name(format!("{name}.rejects.jsonl"))
}

/// The FIX acceptor's application: drop copies into the ingest pipeline, each session's events
/// on its venue.
pub struct FixApp {
    pub ingest: Arc<Ingest>,
    pub venues: FxHashMap<String, String>,
}

pub fn session_name(c: &vigil_fix::session::SessionConfig) -> String {
    format!("{}:{}:{}", c.begin_string, c.sender_comp_id, c.target_comp_id)
}

impl vigil_fix::acceptor::App for FixApp {
    fn deliver(&self, session: &vigil_fix::session::SessionConfig, _msg_type: &str, raw: &[u8]) -> Result<(), String> {
        let name = session_name(session);
        let venue = self.venues.get(&name).map_or("fix", String::as_str);
        match self.ingest.submit_fix(&name, venue, raw) {
            Ok(rejects) => {
                for r in rejects {
                    eprintln!("vigil serve: {r}");
                }
                Ok(())
            }
            Err(e) => {
                eprintln!("vigil serve: {e:#}");
                Err(format!("{e:#}"))
            }
        }
    }
    fn refused(&self, session: &vigil_fix::session::SessionConfig, raw: &[u8], reason: &str) {
        let source = format!("fix:{}", session_name(session));
        let r = reject(&source, 0, None, RejectCode::InvalidField, format!("refused by the session: {reason}"), &vigil_fix::dropcopy::printable(raw));
        eprintln!("vigil serve: {r}");
        self.ingest.rejected.fetch_add(1, Ordering::Relaxed);
        let mut st = self.ingest.lock();
        Ingest::keep_one(&mut st, r);
    }
    fn sync(&self) -> Result<(), String> {
        self.ingest.sync_journal().map_err(|e| format!("{e:#}"))
    }
    fn disconnected(&self, session: &vigil_fix::session::SessionConfig) {
        self.ingest.end_session(&session_name(session));
    }
}
