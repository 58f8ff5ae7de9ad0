//! A local exchange that replays a recorded capture over a real websocket, with the capture's
//! order and timing (scaled by `speed`), so connectors are tested end to end on machines that
//! reach no exchange — and so anyone can try `vigil start` offline (`vigil feed-server`).
//!
//! Like the venue, the server keeps the book of every symbol as its messages pass (sent or not),
//! so that a client that reconnects gets what the venue would give it: Kraken and Coinbase a
//! fresh snapshot of the book as it stands at that moment, Binance a REST depth snapshot
//! (`/api/v3/depth`, served on a second port) whose `lastUpdateId` joins the diffs that follow.
//! The books are the venue's as far as the capture shows them: a Binance capture starts without a
//! snapshot, so its book is the levels the capture's diffs have touched.
//!
//! To test recovery, the first connection can be cut (shut down without a close frame) after a
//! number of messages, and some messages can be lost while the client is away. The server serves
//! one client at a time and ends when the capture has been sent; `join` waits for that.

use crate::capture::Line;
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tungstenite::Message;

#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// 1.0 replays with the capture's own timing, 10.0 ten times faster, 0 as fast as it can.
    pub speed: f64,
    /// Cut the first connection after this many messages.
    pub drop_after: Option<usize>,
    /// Messages that pass while the client is away (lost to it).
    pub lost_on_drop: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { speed: 1.0, drop_after: None, lost_on_drop: 0 }
    }
}

/// One level as the venue wrote it: its strings, kept for snapshots a checksum can verify.
type Levels = BTreeMap<i64, Vec<String>>;

#[derive(Default)]
struct SideBook {
    bids: Levels,
    asks: Levels,
}

fn key(s: &str) -> i64 {
    vigil_core::fixed::parse_fixed(s.as_bytes()).unwrap_or(0)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The server's own view of the venue's books, updated by every message that passes.
#[derive(Default)]
struct State {
    venue: String,
    books: FxHashMap<String, SideBook>,
    /// Kraken: pair → (channel id, channel name); the capture's status messages, sent again on reconnecting.
    kraken_channels: FxHashMap<String, (u64, String)>,
    preamble: Vec<String>,
    /// Binance: symbol → the last update id passed.
    last_update: FxHashMap<String, u64>,
}

impl State {
    fn pass(&mut self, text: &str) {
        let Ok(v) = serde_json::from_str::<Value>(text) else { return };
        match self.venue.as_str() {
            "kraken" => self.kraken(&v, text),
            "coinbase" => self.coinbase(&v, text),
            "binance" => self.binance(&v),
            _ => {}
        }
    }

    fn set(levels: &mut Levels, l: Vec<String>, size_at: usize) {
        let Some(p) = l.first() else { return };
        let k = key(p);
        if l.get(size_at).is_some_and(|s| key(s) == 0) {
            levels.remove(&k);
        } else {
            levels.insert(k, l);
        }
    }

    fn kraken(&mut self, v: &Value, text: &str) {
        if let Some(ev) = v.get("event").and_then(Value::as_str) {
            if ev == "subscriptionStatus" {
                if let (Some(pair), Some(id)) = (v.get("pair").and_then(Value::as_str), v.get("channelID").and_then(Value::as_u64)) {
                    let name = v.get("channelName").and_then(Value::as_str).unwrap_or("book").to_string();
                    self.kraken_channels.insert(pair.to_string(), (id, name));
                }
                self.preamble.push(text.to_string());
            } else if ev == "systemStatus" {
                self.preamble.push(text.to_string());
            }
            return;
        }
        let Some(a) = v.as_array() else { return };
        let n = a.len();
        if n < 4 || !a[n - 2].as_str().is_some_and(|c| c.starts_with("book")) {
            return;
        }
        let pair = a[n - 1].as_str().unwrap_or_default().to_string();
        let depth: usize = a[n - 2].as_str().and_then(|c| c.strip_prefix("book-")).and_then(|d| d.parse().ok()).unwrap_or(1000);
        let book = self.books.entry(pair).or_default();
        for p in &a[1..n - 2] {
            if p.get("as").is_some() || p.get("bs").is_some() {
                *book = SideBook::default();
            }
            for (k, bids) in [("as", false), ("bs", true), ("a", false), ("b", true)] {
                for l in p.get(k).and_then(Value::as_array).into_iter().flatten() {
                    let l: Vec<String> = strs(l).into_iter().take(3).collect();
                    Self::set(if bids { &mut book.bids } else { &mut book.asks }, l, 1);
                }
            }
        }
        while book.bids.len() > depth {
            book.bids.pop_first();
        }
        while book.asks.len() > depth {
            book.asks.pop_last();
        }
    }

    fn coinbase(&mut self, v: &Value, text: &str) {
        let t = v.get("type").and_then(Value::as_str).unwrap_or_default();
        if t == "subscriptions" {
            self.preamble.push(text.to_string());
            return;
        }
        let Some(pid) = v.get("product_id").and_then(Value::as_str) else { return };
        let book = self.books.entry(pid.to_string()).or_default();
        if t == "snapshot" {
            *book = SideBook::default();
            for (k, bids) in [("bids", true), ("asks", false)] {
                for l in v.get(k).and_then(Value::as_array).into_iter().flatten() {
                    Self::set(if bids { &mut book.bids } else { &mut book.asks }, strs(l), 1);
                }
            }
        } else if t == "l2update" {
            for c in v.get("changes").and_then(Value::as_array).into_iter().flatten() {
                let c = strs(c);
                if c.len() == 3 {
                    let bids = c[0] == "buy";
                    Self::set(if bids { &mut book.bids } else { &mut book.asks }, c[1..].to_vec(), 1);
                }
            }
        }
    }

    fn binance(&mut self, v: &Value) {
        let d = v.get("data").unwrap_or(v);
        if d.get("e").and_then(Value::as_str) != Some("depthUpdate") {
            return;
        }
        let (Some(s), Some(u)) = (d.get("s").and_then(Value::as_str), d.get("u").and_then(Value::as_u64)) else { return };
        let book = self.books.entry(s.to_string()).or_default();
        for (k, bids) in [("b", true), ("a", false)] {
            for l in d.get(k).and_then(Value::as_array).into_iter().flatten() {
                Self::set(if bids { &mut book.bids } else { &mut book.asks }, strs(l), 1);
            }
        }
        self.last_update.insert(s.to_string(), u);
    }

    /// What the venue sends a client that (re)subscribes: status messages, then a snapshot of every book.
    fn resume(&self) -> Vec<String> {
        let mut out = self.preamble.clone();
        let side = |l: &Levels, rev: bool| -> Vec<Value> {
            let it: Box<dyn Iterator<Item = &Vec<String>>> = if rev { Box::new(l.values().rev()) } else { Box::new(l.values()) };
            it.map(|x| json!(x)).collect()
        };
        let mut names: Vec<&String> = self.books.keys().collect();
        names.sort();
        for name in names {
            let b = &self.books[name];
            match self.venue.as_str() {
                "kraken" => {
                    if let Some((id, channel)) = self.kraken_channels.get(name) {
                        out.push(json!([id, {"as": side(&b.asks, false), "bs": side(&b.bids, true)}, channel, name]).to_string());
                    }
                }
                "coinbase" => out.push(json!({"type": "snapshot", "product_id": name, "bids": side(&b.bids, true), "asks": side(&b.asks, false)}).to_string()),
                _ => {}
            }
        }
        out
    }

    fn depth_snapshot(&self, symbol: &str) -> Option<String> {
        let b = self.books.get(symbol)?;
        let side = |l: &Levels, rev: bool| -> Vec<Value> {
            let v: Vec<&Vec<String>> = if rev { l.values().rev().take(1000).collect() } else { l.values().take(1000).collect() };
            v.into_iter().map(|x| json!(x)).collect()
        };
        Some(json!({"lastUpdateId": self.last_update.get(symbol).copied().unwrap_or(0), "bids": side(&b.bids, true), "asks": side(&b.asks, false)}).to_string())
    }
}

/// What the server saw, for tests.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub connections: AtomicU64,
    pub sent: AtomicU64,
    pub client_messages: AtomicU64,
    pub pings: AtomicU64,
    pub snapshots_served: AtomicU64,
}

pub struct ReplayServer {
    pub ws_addr: SocketAddr,
    pub rest_addr: SocketAddr,
    pub stats: Arc<ServerStats>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ReplayServer {
    /// Serves the received messages of `lines` (a capture of `venue`) on loopback ports of its own.
    pub fn start(venue: &str, lines: Vec<Line>, opts: ServerOptions) -> std::io::Result<ReplayServer> {
        Self::start_on(venue, lines, opts, "127.0.0.1:0", "127.0.0.1:0")
    }

    pub fn start_on(venue: &str, lines: Vec<Line>, opts: ServerOptions, ws_bind: &str, rest_bind: &str) -> std::io::Result<ReplayServer> {
        let msgs: Vec<(vigil_core::Ts, String)> = lines
            .into_iter()
            .filter_map(|l| match l {
                Line::Received { ts, text } => Some((ts, text)),
                _ => None,
            })
            .collect();
        let state = Arc::new(Mutex::new(State { venue: venue.to_string(), ..State::default() }));
        let stats = Arc::new(ServerStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let listener = TcpListener::bind(ws_bind)?;
        let ws_addr = listener.local_addr()?;
        let http = tiny_http::Server::http(rest_bind).map_err(|e| std::io::Error::other(e.to_string()))?;
        let rest_addr = http.server_addr().to_ip().ok_or_else(|| std::io::Error::other("the REST server has no IP address"))?;
        let mut threads = Vec::new();
        {
            let (state, stats, stop) = (state.clone(), stats.clone(), stop.clone());
            threads.push(std::thread::spawn(move || serve_ws(listener, msgs, opts, state, stats, stop)));
        }
        {
            let (state, stats, stop) = (state, stats.clone(), stop.clone());
            threads.push(std::thread::spawn(move || serve_rest(http, state, stats, stop)));
        }
        Ok(ReplayServer { ws_addr, rest_addr, stats, stop, threads })
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.ws_addr)
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    /// Waits until the whole capture has been served.
    pub fn join(mut self) {
        for t in self.threads.drain(..1) {
            let _ = t.join();
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.ws_addr, Duration::from_millis(200));
    }
}

fn serve_rest(http: tiny_http::Server, state: Arc<Mutex<State>>, stats: Arc<ServerStats>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let Ok(Some(req)) = http.recv_timeout(Duration::from_millis(100)) else { continue };
        let url = req.url().to_string();
        let symbol = url.split_once("symbol=").map(|(_, s)| s.split('&').next().unwrap_or(s).to_string());
        let body = match (url.starts_with("/api/v3/depth"), symbol) {
            (true, Some(s)) => state.lock().map(|st| st.depth_snapshot(&s)).unwrap_or(None),
            _ => None,
        };
        let resp = match body {
            Some(b) => {
                stats.snapshots_served.fetch_add(1, Ordering::SeqCst);
                tiny_http::Response::from_string(b).with_status_code(200)
            }
            None => tiny_http::Response::from_string(r#"{"code":-1121,"msg":"Invalid symbol."}"#).with_status_code(400),
        };
        let _ = req.respond(resp);
    }
}

fn serve_ws(
    listener: TcpListener,
    msgs: Vec<(vigil_core::Ts, String)>,
    opts: ServerOptions,
    state: Arc<Mutex<State>>,
    stats: Arc<ServerStats>,
    stop: Arc<AtomicBool>,
) {
    let mut cursor = 0usize;
    // Messages before this one have changed the server's books.
    let mut passed = 0usize;
    let mut first = true;
    while cursor < msgs.len() && !stop.load(Ordering::SeqCst) {
        let Ok((tcp, _)) = listener.accept() else { continue };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
        let Ok(mut ws) = tungstenite::accept(tcp) else { continue };
        stats.connections.fetch_add(1, Ordering::SeqCst);
        // The client subscribes before anything is sent.
        match ws.read() {
            Ok(Message::Text(_)) => {
                stats.client_messages.fetch_add(1, Ordering::SeqCst);
            }
            _ => continue,
        }
        if !first {
            let resume = state.lock().map(|s| s.resume()).unwrap_or_default();
            for m in resume {
                if ws.send(Message::text(m)).is_err() {
                    break;
                }
            }
        }
        let start = crate::wall::instant();
        let base = msgs[cursor].0;
        let mut sent_here = 0usize;
        let mut cut = false;
        while cursor < msgs.len() && !stop.load(Ordering::SeqCst) {
            if first && opts.drop_after.is_some_and(|n| sent_here >= n) {
                // Messages the client misses while away still change the venue's books.
                let end = (cursor + opts.lost_on_drop).min(msgs.len());
                if let Ok(mut s) = state.lock() {
                    for (_, m) in &msgs[cursor.max(passed)..end.max(passed)] {
                        s.pass(m);
                    }
                }
                cursor = end;
                passed = passed.max(end);
                let _ = ws.get_ref().shutdown(std::net::Shutdown::Both);
                cut = true;
                break;
            }
            let (ts, text) = &msgs[cursor];
            if opts.speed > 0.0 {
                let due = Duration::from_nanos(((ts.0 - base.0).max(0) as f64 / opts.speed) as u64);
                let elapsed = start.elapsed();
                if due > elapsed {
                    read_client(&mut ws, &stats);
                    std::thread::sleep(due - start.elapsed().min(due));
                }
            }
            if passed <= cursor {
                if let Ok(mut s) = state.lock() {
                    s.pass(text);
                }
                passed = cursor + 1;
            }
            if ws.send(Message::text(text.clone())).is_err() {
                // Not delivered: the next connection starts with it (the books already hold it).
                cut = true;
                break;
            }
            stats.sent.fetch_add(1, Ordering::SeqCst);
            cursor += 1;
            sent_here += 1;
            if sent_here.is_multiple_of(64) {
                read_client(&mut ws, &stats);
            }
        }
        first = false;
        if !cut {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }
}

/// Reads what the client sent meanwhile (pings are answered by the read itself), without waiting.
fn read_client(ws: &mut tungstenite::WebSocket<TcpStream>, stats: &ServerStats) {
    if ws.get_ref().set_nonblocking(true).is_err() {
        return;
    }
    loop {
        match ws.read() {
            Ok(Message::Ping(_)) => {
                stats.pings.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Message::Text(_)) => {
                stats.client_messages.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = ws.get_ref().set_nonblocking(false);
    let _ = ws.flush();
}
