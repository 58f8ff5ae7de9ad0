//! Live ingest for `vigil serve`: batches of the spec's events posted to `POST /api/v1/events`
//! or published over gRPC (`vigil.v1.Ingest`), and the drop copies the FIX acceptor receives, go
//! through one journal into one engine.
//!
//! A batch is decoded event by event (a bad one is rejected with its place in the batch, field and
//! reason, and the rest go on); an event later than the reorder tolerance behind the newest one
//! of its source is rejected too (sources interleave as they arrive). The accepted events are appended to the journal and the journal is
//! synced to disk before the answer names the last accepted sequence number: once acknowledged,
//! an event survives a crash. FIX messages are journaled as received, before the session keeps
//! their sequence number, and mapped to events as they arrive (`vigil_fix::dropcopy`). On start
//! the journal is replayed, so the engine's state and alerts (the store ignores an alert it
//! already holds) come back as they were.
//!
//! The journal is a sequence of records: a kind byte, the payload's length (4 bytes, little
//! endian), a checksum (the low 4 bytes of XXH3 over kind, length and payload), the payload. `e`:
//! a source's name and its accepted JSON lines; `p`: a source's name and its accepted events as a
//! protobuf `EventBatch`; `f`: `{"session":…,"venue":…,"hex":…}`, a FIX message; `x`: `{"session":…}`,
//! where a FIX session's connection ended or fell idle with a trade side waiting; `r`: the engine
//! released what its reorder buffer held because input paused. Replaying the records in order
//! gives the engine the same events in the same order as it had live, so the same alerts. A
//! record cut short, or whose checksum fails (a crash, a power loss), ends the journal and is cut
//! off with everything after it. Every rejected record is also kept, one JSON object a line, in `.rejects.jsonl`
//! beside the journal.

use anyhow::Context;
use prost::Message as _;
use rustc_hash::FxHashMap;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_core::{Alert, Event, Interner};
use vigil_detect::{Config, Engine};
use vigil_fix::dropcopy::Mapper;
use vigil_grpc::pb;
use vigil_io::read::{jsonl_line, Item};
use vigil_io::reject::{Reject, RejectCode, RejectSink};
use vigil_io::stream::Reorder;

/// What became of a batch.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: u64,
    /// The sequence number of the last event accepted so far (0: none yet).
    pub last_seq: u64,
    /// Each refused event, `line` its place in the batch from 1 (the first
    /// [`MAX_LISTED_REJECTS`]).
    pub rejected: Vec<Reject>,
    /// How many were refused.
    pub rejected_total: u64,
}

struct State {
    interner: Interner,
    journal: Option<std::fs::File>,
    /// Written since the last sync.
    dirty: bool,
    /// Events accepted, all sources.
    seq: u64,
    /// The newest event time of each source.
    newest: FxHashMap<Arc<str>, i64>,
    tolerance: i64,
    /// Accepted, not yet handed to the engine.
    pending: Vec<Event>,
    /// One drop-copy mapping per FIX session.
    mappers: FxHashMap<String, Mapper>,
    rejects: RejectSink,
}

/// The ingest pipeline of a `vigil serve`.
pub struct Ingest {
    state: Arc<Mutex<State>>,
    tx: crossbeam_channel::Sender<Batch>,
    journal_path: PathBuf,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
}

fn reject(source: &str, line: u64, field: Option<&'static str>, code: RejectCode, reason: String, raw: &str) -> Reject {
    Reject { file: Arc::from(source), line, field, code, reason, raw: raw.chars().take(500).collect() }
}

/// A batch's starting point, to undo it.
#[derive(Clone, Copy)]
struct Before {
    pending: usize,
    newest: Option<i64>,
}

/// What the engine's thread is given.
enum Batch {
    Events(Vec<Event>),
    /// Release everything the reorder buffer holds (replaying an `r` record).
    Release,
}

/// The most rejects an answer lists one by one (all are counted and kept).
pub const MAX_LISTED_REJECTS: usize = 1000;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A journal record: kind, payload length, a checksum of both and the payload, the payload.
fn record(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.push(kind);
    out.extend_from_slice(&[0; HEADER - 1]);
    out.extend_from_slice(payload);
    seal(&mut out[start..]);
}

/// Fills in the length and checksum of a record whose kind and payload are in place.
fn seal(rec: &mut [u8]) {
    let len = (rec.len() - HEADER) as u32;
    rec[1..5].copy_from_slice(&len.to_le_bytes());
    let sum = checksum(rec[0], &rec[HEADER..]);
    rec[5..9].copy_from_slice(&sum.to_le_bytes());
}

fn checksum(kind: u8, payload: &[u8]) -> u32 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&[kind]);
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(payload);
    h.digest() as u32
}

/// A record's header: kind, length, checksum.
const HEADER: usize = 9;

/// An `e` or `p` record built in place: the header left to fill, the source's name (2 bytes of
/// length, the name), then the events as they are accepted.
struct Sourced {
    buf: Vec<u8>,
    empty: usize,
}

impl Sourced {
    fn new(kind: u8, source: &str, capacity: usize) -> Sourced {
        let name = &source.as_bytes()[..source.len().min(u16::MAX as usize)];
        let mut buf = Vec::with_capacity(HEADER + 2 + name.len() + capacity);
        buf.push(kind);
        buf.extend_from_slice(&[0; HEADER - 1]);
        buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
        buf.extend_from_slice(name);
        let empty = buf.len();
        Sourced { buf, empty }
    }
    fn has_events(&self) -> bool {
        self.buf.len() > self.empty
    }
    /// The whole record, header filled; nothing when no event was accepted.
    fn finish(mut self) -> Vec<u8> {
        if !self.has_events() {
            return Vec::new();
        }
        seal(&mut self.buf);
        self.buf
    }
}

fn unsourced(payload: &[u8]) -> Option<(&str, &[u8])> {
    let n = u16::from_le_bytes([*payload.first()?, *payload.get(1)?]) as usize;
    let name = std::str::from_utf8(payload.get(2..2 + n)?).ok()?;
    Some((name, &payload[2 + n..]))
}

impl Ingest {
    /// Replays the journal at `journal` (created if missing) into a new engine, then takes new
    /// input. `alerts` receives what the engine raises; `market`, when given, a copy of the events
    /// (the dashboard's recent market).
    pub fn start(
        config: &Config,
        journal: &Path,
        alerts: Box<dyn FnMut(Alert) + Send>,
        market: Option<Arc<crate::web::market::Market>>,
    ) -> anyhow::Result<Arc<Ingest>> {
        let interner = Interner::new();
        let names = interner.names();
        // Bounded: a client faster than the engine waits in its request (backpressure).
        let (tx, rx) = crossbeam_channel::bounded::<Batch>(64);
        let tolerance = config.engine.reorder_tolerance.0;
        // Live ingest stores alerts, not profiles: it does not count them.
        let mut engine = Engine::start(&config.clone().without_profiles(), 1, interner.names(), alerts);
        let state = Arc::new(Mutex::new(State {
            interner,
            journal: None,
            dirty: false,
            seq: 0,
            newest: FxHashMap::default(),
            tolerance,
            pending: Vec::new(),
            mappers: FxHashMap::default(),
            rejects: RejectSink::new(None),
        }));
        let shared = state.clone();
        std::thread::Builder::new().name("vigil-ingest".into()).spawn(move || {
            let mut reorder = Reorder::new(tolerance);
            let mut held = false;
            // The dashboard's copy, in the engine's order (after reordering).
            let source: Arc<str> = Arc::from("ingest");
            let mut tapped: Vec<Event> = Vec::new();
            let tap = market.is_some();
            let feed = |engine: &mut Engine, e: Event, tapped: &mut Vec<Event>| {
                if tap {
                    tapped.push(e.clone());
                }
                engine.push(e);
            };
            loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(Batch::Events(batch)) => {
                        for ev in batch {
                            if let Err(late) = reorder.push(ev) {
                                // Accepted (each source is in order); late against another source.
                                feed(&mut engine, late.0, &mut tapped);
                            }
                            while let Some(e) = reorder.pop_ready() {
                                feed(&mut engine, e, &mut tapped);
                            }
                        }
                        held = true;
                        if rx.is_empty() {
                            engine.flush();
                        }
                    }
                    Ok(Batch::Release) => {
                        while let Some(e) = reorder.pop_any() {
                            feed(&mut engine, e, &mut tapped);
                        }
                        engine.flush();
                        held = false;
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) if held => {
                        // Input paused: release what is held, and say so in the journal (in its
                        // place among the batches) so that a replay releases it there too. Only
                        // when no batch is being taken in (no sender waits on this thread then).
                        let mut st = match shared.try_lock() {
                            Ok(st) => st,
                            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                            Err(std::sync::TryLockError::WouldBlock) => continue,
                        };
                        // Events accepted but not handed on yet (a FIX read not yet synced) come
                        // after the release, on replay as live.
                        if !rx.is_empty() || !st.pending.is_empty() {
                            continue;
                        }
                        let mut rec = Vec::new();
                        record(b'r', b"", &mut rec);
                        if let Some(j) = st.journal.as_mut() {
                            let before = j.metadata().map(|m| m.len());
                            if j.write_all(&rec).is_err() {
                                if let Ok(len) = before {
                                    let _ = j.set_len(len);
                                }
                                continue;
                            }
                            st.dirty = true;
                        }
                        drop(st);
                        while let Some(e) = reorder.pop_any() {
                            feed(&mut engine, e, &mut tapped);
                        }
                        engine.flush();
                        held = false;
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
                if let Some(m) = market.as_ref().filter(|_| !tapped.is_empty()) {
                    m.record(&source, &names, &tapped);
                    tapped.clear();
                }
            }
            while let Some(e) = reorder.pop_any() {
                feed(&mut engine, e, &mut tapped);
            }
            let _ = engine.finish();
        })?;
        let ingest = Arc::new(Ingest { state, tx, journal_path: journal.to_path_buf(), accepted: AtomicU64::new(0), rejected: AtomicU64::new(0) });
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(journal)
            .with_context(|| format!("cannot open the ingest journal {}", journal.display()))?;
        let rejects_path = rejects_file(journal);
        let rejects =
            std::fs::OpenOptions::new().create(true).append(true).open(&rejects_path).with_context(|| format!("cannot open {}", rejects_path.display()))?;
        ingest.lock().rejects = RejectSink::new(Some(Box::new(std::io::BufWriter::new(rejects))));
        ingest.replay(journal, file)?;
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

    /// Replays the journal, cuts off a torn or corrupt tail, and from then on appends to `file`
    /// (installed before the lock is let go, so that no idle release goes unrecorded).
    fn replay(&self, path: &Path, file: std::fs::File) -> anyhow::Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read the ingest journal {}", path.display()))?;
        let name = path.display().to_string();
        let mut st = self.lock();
        let mut at = 0usize;
        while at + HEADER <= bytes.len() {
            let kind = bytes[at];
            let len = u32::from_le_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]]) as usize;
            let sum = u32::from_le_bytes([bytes[at + 5], bytes[at + 6], bytes[at + 7], bytes[at + 8]]);
            let Some(payload) = bytes.get(at + HEADER..(at + HEADER).saturating_add(len)) else { break };
            if checksum(kind, payload) != sum {
                eprintln!("vigil serve: {name}: the record at byte {at} is damaged; it and what follows it are cut off");
                break;
            }
            let bad = |what: &str| anyhow::anyhow!("{name}: the record at byte {at} is {what}");
            match kind {
                b'e' | b'p' => {
                    let (source, data) = unsourced(payload).ok_or_else(|| bad("without its source"))?;
                    let source: Arc<str> = Arc::from(source);
                    let problems = if kind == b'e' {
                        data.split(|&b| b == b'\n').enumerate().filter_map(|(i, line)| self.accept_line(&mut st, &source, i as u64 + 1, line).err()).count()
                    } else {
                        let batch = pb::EventBatch::decode(data).map_err(|e| bad(&format!("not a protobuf EventBatch ({e})")))?;
                        let mut scratch = vigil_grpc::Scratch::default();
                        batch.events.iter().enumerate().filter_map(|(i, e)| self.accept_pb(&mut st, &source, i, e, &mut scratch).err()).count()
                    };
                    if problems > 0 {
                        eprintln!("vigil serve: {name}: {problems} events of the record at byte {at} no longer decode; they are skipped");
                    }
                }
                b'r' => {
                    self.hand_on(&mut st);
                    let _ = self.tx.send(Batch::Release);
                }
                b'f' | b'x' => {
                    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| bad(&format!("not JSON ({e})")))?;
                    let session = v["session"].as_str().unwrap_or("").to_string();
                    if kind == b'f' {
                        let raw = unhex(v["hex"].as_str().unwrap_or("")).ok_or_else(|| bad("a FIX message whose hex does not read"))?;
                        let _ = self.map_fix(&mut st, &session, v["venue"].as_str().unwrap_or("fix"), &raw);
                    } else {
                        self.end_fix(&mut st, &session);
                    }
                }
                k => return Err(bad(&format!("of an unknown kind {k}"))),
            }
            // Handed on record by record: the engine cannot release in between (this holds the
            // lock), and live nothing was pending when a release was recorded.
            self.hand_on(&mut st);
            at += HEADER + len;
        }
        self.hand_on(&mut st);
        if file.metadata()?.len() > at as u64 {
            file.set_len(at as u64)?;
        }
        st.journal = Some(file);
        Ok(())
    }

    /// Checks an event's time against the newest of its source and queues it for the engine.
    fn admit(&self, st: &mut State, source: &Arc<str>, ev: Event) -> Result<(), (RejectCode, String)> {
        let tolerance = st.tolerance;
        // Looked up by reference: no clone of the source's name an event.
        match st.newest.get_mut(source) {
            Some(newest) => {
                if ev.ts.0 < newest.saturating_sub(tolerance) {
                    let late = *newest - ev.ts.0;
                    return Err((
                        RejectCode::OutOfOrder,
                        format!("{late} ns earlier than an event this source sent before, beyond the {tolerance} ns reorder tolerance"),
                    ));
                }
                *newest = (*newest).max(ev.ts.0);
            }
            None => {
                st.newest.insert(source.clone(), ev.ts.0);
            }
        }
        st.seq += 1;
        st.pending.push(ev);
        Ok(())
    }

    /// Hands the queued events to the engine (the channel is bounded: backpressure).
    fn hand_on(&self, st: &mut State) {
        if !st.pending.is_empty() {
            let _ = self.tx.send(Batch::Events(std::mem::take(&mut st.pending)));
        }
    }

    /// One JSON line: `Ok(false)` for a blank one.
    fn accept_line(&self, st: &mut State, source: &Arc<str>, line: u64, bytes: &[u8]) -> Result<bool, Reject> {
        match jsonl_line(source, line, bytes, bytes.len() > vigil_io::read::MAX_LINE, &mut st.interner) {
            None => Ok(false),
            Some(Item::Reject(r)) => Err(r),
            Some(Item::Event(ev)) => match self.admit(st, source, ev) {
                Ok(()) => Ok(true),
                Err((code, reason)) => Err(reject(source, line, Some("ts"), code, reason, &String::from_utf8_lossy(bytes))),
            },
        }
    }

    /// One protobuf event, `index` its place in its batch.
    fn accept_pb(&self, st: &mut State, source: &Arc<str>, index: usize, e: &pb::Event, scratch: &mut vigil_grpc::Scratch) -> Result<(), Reject> {
        let raw = || format!("{e:?}");
        match vigil_grpc::to_event_with(e, &mut st.interner, scratch) {
            Ok(ev) => self.admit(st, source, ev).map_err(|(code, reason)| reject(source, index as u64 + 1, Some("ts"), code, reason, &raw())),
            Err(f) => Err(reject(source, index as u64 + 1, f.field, f.code, f.reason, &raw())),
        }
    }

    fn sync(st: &mut State) -> std::io::Result<()> {
        // Rejects are kept as well as may be; the journal must be on disk.
        let _ = st.rejects.finish();
        if !st.dirty {
            return Ok(());
        }
        if let Some(j) = st.journal.as_mut() {
            j.sync_data()?;
        }
        st.dirty = false;
        Ok(())
    }

    /// Appends a record; a write that fails part-way is cut off again, so that the journal stays
    /// whole records.
    fn write(&self, st: &mut State, rec: &[u8]) -> anyhow::Result<()> {
        let Some(j) = st.journal.as_mut() else { return Ok(()) };
        let before = j.metadata()?.len();
        if let Err(e) = j.write_all(rec) {
            let _ = j.set_len(before);
            return Err(e).with_context(|| format!("cannot write the ingest journal {}", self.journal_path.display()));
        }
        st.dirty = true;
        Ok(())
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

    /// Writes a record, syncs, and only then hands the batch's events to the engine. On failure
    /// nothing of the batch stays: not in the journal, not for the engine, not in the source's
    /// order.
    fn commit(&self, st: &mut State, source: &Arc<str>, rec: Sourced, before: Before, out: &mut Outcome) -> anyhow::Result<()> {
        let rec = rec.finish();
        Self::keep(st, &out.rejected);
        let len = st.journal.as_ref().and_then(|j| j.metadata().ok()).map(|m| m.len());
        let written =
            self.write(st, &rec).and_then(|_| Self::sync(st).with_context(|| format!("cannot sync the ingest journal {}", self.journal_path.display())));
        if let Err(e) = written {
            if let (Some(j), Some(len)) = (st.journal.as_ref(), len) {
                let _ = j.set_len(len);
            }
            let dropped = st.pending.len() - before.pending;
            st.pending.truncate(before.pending);
            st.seq -= dropped as u64;
            match before.newest {
                Some(t) => st.newest.insert(source.clone(), t),
                None => st.newest.remove(source),
            };
            return Err(e);
        }
        out.rejected_total = out.rejected.len() as u64;
        self.rejected.fetch_add(out.rejected_total, Ordering::Relaxed);
        out.rejected.truncate(MAX_LISTED_REJECTS);
        self.hand_on(st);
        out.last_seq = st.seq;
        self.accepted.fetch_add(out.accepted, Ordering::Relaxed);
        Ok(())
    }

    /// A batch of the spec's JSON Lines from `source`.
    pub fn submit(&self, source: &str, body: &[u8]) -> anyhow::Result<Outcome> {
        let source: Arc<str> = Arc::from(source);
        let mut st = self.lock();
        let before = Before { pending: st.pending.len(), newest: st.newest.get(&source).copied() };
        let mut out = Outcome::default();
        let mut kept = Sourced::new(b'e', &source, body.len());
        // A byte-order mark is not part of the first event (nor journaled with it).
        let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            match self.accept_line(&mut st, &source, i as u64 + 1, raw) {
                Ok(true) => {
                    out.accepted += 1;
                    if kept.has_events() {
                        kept.buf.push(b'\n');
                    }
                    kept.buf.extend_from_slice(raw);
                }
                Ok(false) => {}
                Err(r) => out.rejected.push(r),
            }
        }
        self.commit(&mut st, &source, kept, before, &mut out)?;
        Ok(out)
    }

    /// A batch of protobuf events from `source` (a gRPC stream).
    pub fn submit_events(&self, source: &str, events: &[pb::Event]) -> anyhow::Result<Outcome> {
        let source: Arc<str> = Arc::from(source);
        let mut st = self.lock();
        let before = Before { pending: st.pending.len(), newest: st.newest.get(&source).copied() };
        let mut out = Outcome::default();
        // The accepted events, as an EventBatch: each its field 1, length-delimited.
        let mut kept = Sourced::new(b'p', &source, events.len() * 64);
        let mut scratch = vigil_grpc::Scratch::default();
        for (i, e) in events.iter().enumerate() {
            match self.accept_pb(&mut st, &source, i, e, &mut scratch) {
                Ok(()) => {
                    out.accepted += 1;
                    prost::encoding::message::encode(1, e, &mut kept.buf);
                }
                Err(r) => out.rejected.push(r),
            }
        }
        self.commit(&mut st, &source, kept, before, &mut out)?;
        Ok(out)
    }

    fn map_fix(&self, st: &mut State, session: &str, venue: &str, raw: &[u8]) -> Vec<Reject> {
        let mut rejects = Vec::new();
        let source: Arc<str> = Arc::from(format!("fix:{session}"));
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
            if let Err(r) = self.accept_line(st, &source, 0, l.as_bytes()) {
                rejects.push(r);
            }
        }
        Self::keep(st, &rejects);
        rejects
    }

    fn end_fix(&self, st: &mut State, session: &str) {
        let source: Arc<str> = Arc::from(format!("fix:{session}"));
        let lines = st.mappers.get_mut(session).map(Mapper::flush).unwrap_or_default();
        for l in lines {
            if let Err(r) = self.accept_line(st, &source, 0, l.as_bytes()) {
                Self::keep(st, &[r]);
            }
        }
    }

    /// One FIX application message of `session` (`BEGIN:OURS:THEIRS`): journaled (synced by
    /// [`Ingest::sync_journal`] before the session keeps its number, which hands its events
    /// on), then mapped. Mapping problems are returned (the message is kept in the journal).
    pub fn submit_fix(&self, session: &str, venue: &str, raw: &[u8]) -> anyhow::Result<Vec<Reject>> {
        let mut st = self.lock();
        let payload = json!({"session": session, "venue": venue, "hex": hex(raw)}).to_string();
        let mut rec = Vec::new();
        record(b'f', payload.as_bytes(), &mut rec);
        self.write(&mut st, &rec)?;
        let before = st.seq;
        let rejects = self.map_fix(&mut st, session, venue, raw);
        self.accepted.fetch_add(st.seq - before, Ordering::Relaxed);
        self.rejected.fetch_add(rejects.len() as u64, Ordering::Relaxed);
        Ok(rejects)
    }

    /// Syncs the journal to disk, then hands what it holds to the engine.
    pub fn sync_journal(&self) -> anyhow::Result<()> {
        let mut st = self.lock();
        Self::sync(&mut st).with_context(|| format!("cannot sync the ingest journal {}", self.journal_path.display()))?;
        self.hand_on(&mut st);
        Ok(())
    }

    /// A FIX session's connection ended, or it fell quiet with a trade side waiting for its
    /// other side (`only_if_waiting`): what waits leaves.
    pub fn end_session(&self, session: &str, only_if_waiting: bool) {
        let mut st = self.lock();
        if only_if_waiting && !st.mappers.get(session).is_some_and(Mapper::waiting) {
            return;
        }
        let mut rec = Vec::new();
        record(b'x', json!({"session": session}).to_string().as_bytes(), &mut rec);
        if let Err(e) = self.write(&mut st, &rec).and_then(|_| Self::sync(&mut st).map_err(anyhow::Error::from)) {
            // The events stay with the mapper; the next message or end tries again.
            eprintln!("vigil serve: {e:#}");
            return;
        }
        let before = st.seq;
        self.end_fix(&mut st, session);
        self.hand_on(&mut st);
        self.accepted.fetch_add(st.seq - before, Ordering::Relaxed);
    }
}

/// The journal's default place: beside a SQLite store, else in the working directory.
pub fn default_journal(db: &str) -> PathBuf {
    if db.starts_with("postgres") || db.contains("host=") {
        PathBuf::from("vigil-ingest.journal")
    } else {
        PathBuf::from(format!("{db}.ingest.journal"))
    }
}

/// Where rejected records are kept.
pub fn rejects_file(journal: &Path) -> PathBuf {
    let name = journal.file_name().map(|n| n.to_string_lossy().trim_end_matches(".journal").to_string()).unwrap_or_default();
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
    fn idle(&self, session: &vigil_fix::session::SessionConfig) {
        self.ingest.end_session(&session_name(session), true);
    }
    fn disconnected(&self, session: &vigil_fix::session::SessionConfig) {
        self.ingest.end_session(&session_name(session), false);
    }
}
