//! The connection loop every venue shares: connect, subscribe, read with a deadline, ping, fetch
//! the snapshots a venue asks for, and on any loss reconnect with exponential backoff — the
//! venue's connector then rebuilds its books from fresh snapshots. [`Feed`] is an
//! [`EventReader`], so `vigil start` runs the engine on it exactly as `vigil replay` runs on a file.

use crate::health::{Limits, Monitor};
use crate::{Clock, Counts, Emit, Notice, Venue};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use vigil_core::{Event, Interner, Ts};
use vigil_io::reject::{Reject, RejectCode};
use vigil_io::{EventReader, Item, ReadError};

#[derive(Clone, Debug)]
pub struct Options {
    /// The websocket endpoint (the venue's public one by default).
    pub url: String,
    /// The REST endpoint for book snapshots, where the venue needs one.
    pub rest_url: Option<String>,
    /// A websocket ping (and the venue's own ping, where it has one) this often.
    pub ping_every: Duration,
    /// How long one read waits before the loop looks at the clock.
    pub read_tick: Duration,
    pub connect_timeout: Duration,
    /// Reconnect backoff: doubles from `backoff_min` to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Give up after this many connections in a row that fail or do not stay up for 10 s
    /// (`None`: never). Until a connection has stayed up that long, the backoff keeps growing.
    pub max_attempts: Option<u32>,
    pub limits: Limits,
    /// Stop at this moment (`None`: run until the venue is unreachable `max_attempts` times).
    pub stop_at: Option<Instant>,
}

impl Options {
    pub fn new(url: &str) -> Self {
        Options {
            url: url.to_string(),
            rest_url: None,
            ping_every: Duration::from_secs(20),
            read_tick: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_attempts: None,
            limits: Limits::default(),
            stop_at: None,
        }
    }
}

/// Wall-clock time as event-time nanoseconds: the receive time of a live message.
pub fn now() -> Ts {
    crate::wall::now_ts()
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Counters of a live feed.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub connections: u32,
    pub messages: u64,
    pub events: u64,
    pub rejected: u64,
    pub snapshots_fetched: u64,
    pub resubscribes: u64,
    pub pings_sent: u64,
}

pub struct Feed {
    pub venue: Box<dyn Venue>,
    opts: Options,
    ws: Option<Socket>,
    pub monitor: Monitor,
    clock: Clock,
    pending: VecDeque<Item>,
    events: Vec<Event>,
    notices: Vec<Notice>,
    /// Connection attempts since the last one that brought a message.
    attempts: u32,
    lost_reason: Option<String>,
    last_ping: Instant,
    last_pong: Instant,
    connected_at: Instant,
    /// After the loop stood still, skew is not measured until this moment.
    skew_quiet_until: Option<Instant>,
    /// Books waiting for a REST snapshot to be fetched again, and when.
    snapshot_due: Vec<(String, Instant, u32)>,
    file: Arc<str>,
    finished: bool,
    pub stats: Stats,
}

fn io_error(e: &tungstenite::Error) -> Option<ErrorKind> {
    match e {
        tungstenite::Error::Io(e) => Some(e.kind()),
        _ => None,
    }
}

impl Feed {
    pub fn new(venue: Box<dyn Venue>, opts: Options, monitor: Monitor) -> Self {
        let file: Arc<str> = Arc::from(format!("live:{}", venue.name()).as_str());
        Feed {
            venue,
            opts,
            ws: None,
            monitor,
            clock: Clock::default(),
            pending: VecDeque::new(),
            events: Vec::new(),
            notices: Vec::new(),
            attempts: 0,
            lost_reason: None,
            last_ping: crate::wall::instant(),
            last_pong: crate::wall::instant(),
            connected_at: crate::wall::instant(),
            skew_quiet_until: None,
            snapshot_due: Vec::new(),
            file,
            finished: false,
            stats: Stats::default(),
        }
    }

    fn backoff(&self) -> Duration {
        let shift = self.attempts.saturating_sub(1).min(16);
        (self.opts.backoff_min * (1u32 << shift)).min(self.opts.backoff_max)
    }

    fn open(&self) -> Result<Socket, String> {
        let url = &self.opts.url;
        let rest = url.split_once("://").map(|x| x.1).ok_or_else(|| format!("{url:?} is not a ws:// or wss:// URL"))?;
        let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
        let default_port = if url.starts_with("wss://") { 443 } else { 80 };
        let hostport =
            if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) { hostport.to_string() } else { format!("{hostport}:{default_port}") };
        let addr = hostport.to_socket_addrs().map_err(|e| format!("{hostport}: {e}"))?.next().ok_or_else(|| format!("{hostport}: no address"))?;
        let tcp = TcpStream::connect_timeout(&addr, self.opts.connect_timeout).map_err(|e| format!("{addr}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(self.opts.connect_timeout)).map_err(|e| e.to_string())?;
        let (ws, _) = tungstenite::client_tls(url.as_str(), tcp).map_err(|e| format!("handshake with {url}: {e}"))?;
        let tcp = match ws.get_ref() {
            MaybeTlsStream::Plain(s) => s,
            MaybeTlsStream::Rustls(s) => s.get_ref(),
            _ => return Err("an unexpected stream type".into()),
        };
        tcp.set_read_timeout(Some(self.opts.read_tick)).map_err(|e| e.to_string())?;
        Ok(ws)
    }

    /// Connects (after the backoff the attempts so far call for) and subscribes.
    fn connect(&mut self) {
        if let Some(max) = self.opts.max_attempts {
            if self.attempts >= max {
                self.finished = true;
                return;
            }
        }
        let backoff = if self.attempts > 0 || self.stats.connections > 0 { self.backoff() } else { Duration::ZERO };
        if let Some(reason) = self.lost_reason.take() {
            self.monitor.reconnect(now(), &reason, self.attempts + 1, backoff.as_millis() as u64);
        }
        std::thread::sleep(self.until_stop(backoff));
        if self.stopping() {
            return;
        }
        self.attempts += 1;
        match self.open() {
            Ok(mut ws) => {
                self.venue.on_connect();
                self.snapshot_due.clear();
                for m in self.venue.subscribe() {
                    if let Err(e) = ws.send(Message::text(m)) {
                        self.lost_reason = Some(format!("subscribing: {e}"));
                        return;
                    }
                }
                self.stats.connections += 1;
                self.last_ping = crate::wall::instant();
                self.last_pong = self.last_ping;
                self.connected_at = self.last_ping;
                self.monitor.connected(now());
                self.ws = Some(ws);
            }
            Err(e) => self.lost_reason = Some(e),
        }
    }

    fn lose(&mut self, reason: String) {
        self.ws = None;
        self.monitor.lost(now());
        self.lost_reason = Some(reason);
    }

    fn send(&mut self, msgs: Vec<String>) {
        let Some(ws) = self.ws.as_mut() else { return };
        for m in msgs {
            if let Err(e) = ws.send(Message::text(m)) {
                self.lose(format!("sending: {e}"));
                return;
            }
        }
    }

    fn tick(&mut self) {
        let t = now();
        let silent = self.monitor.silence(t);
        let limit = self.opts.limits.max_silence_ns;
        if silent > limit {
            self.monitor.waiting(t);
            // A quiet market on a live link (the venue answers pings) is recorded, not cut; a link
            // that does not answer, or a silence four times the limit, is made again.
            let link_alive = self.last_pong.elapsed() < self.opts.ping_every * 2 + self.opts.read_tick;
            if !link_alive || silent > limit.saturating_mul(4) {
                self.lose(format!("no message for {:.0} s", silent as f64 / 1e9));
                return;
            }
        }
        if self.last_ping.elapsed() >= self.opts.ping_every {
            self.last_ping = crate::wall::instant();
            self.stats.pings_sent += 1;
            let app = self.venue.app_ping();
            if let Some(ws) = self.ws.as_mut() {
                if let Err(e) = ws.send(Message::Ping(Default::default())) {
                    self.lose(format!("ping: {e}"));
                    return;
                }
            }
            self.send(app.into_iter().collect());
        }
    }

    fn handle(&mut self, text: &str, interner: &mut Interner) {
        let recv = now();
        self.stats.messages += 1;
        self.events.clear();
        let mut emit = Emit::new(interner, &mut self.events, &mut self.notices);
        let read = self.venue.on_message(text, recv, &mut emit);
        let sent = emit.sent;
        // Market data, not a heartbeat, a pong or an acknowledgement: what silence is measured on,
        // and what makes a connection healthy.
        if read.is_ok() && (!self.events.is_empty() || sent.is_some()) {
            self.monitor.message(recv);
            if self.connected_at.elapsed() >= HEALTHY {
                self.attempts = 0;
            }
        }
        // Messages read just after the loop stood still (a snapshot fetch) waited in the socket:
        // their lateness is this client's, not the venue's clock.
        let stalled = self.skew_quiet_until.is_some_and(|t| crate::wall::instant() < t);
        if let Some((symbol, at)) = sent.filter(|_| read.is_ok() && !stalled) {
            self.monitor.sent(symbol, at, recv, &interner.names());
        }
        if let Err(reason) = read {
            self.events.clear();
            self.notices.clear();
            self.stats.rejected += 1;
            self.monitor.rejected(recv, &reason, text);
            let raw: String = text.chars().take(2000).collect();
            let r = Reject { file: self.file.clone(), line: self.stats.messages, field: None, code: RejectCode::InvalidJson, reason, raw };
            self.pending.push_back(Item::Reject(r));
        }
        self.after(recv, interner);
    }

    /// Stamps and queues the events made, and acts on what the venue said about the feed.
    fn after(&mut self, recv: Ts, interner: &mut Interner) {
        self.clock.stamp(&mut self.events);
        self.stats.events += self.events.len() as u64;
        self.pending.extend(self.events.drain(..).map(Item::Event));
        let notices = std::mem::take(&mut self.notices);
        for n in &notices {
            self.monitor.notice(n, recv);
            match n {
                Notice::NeedSnapshot { symbol } => self.fetch_snapshot(symbol, interner, 0),
                Notice::Resubscribe { symbol } => {
                    self.stats.resubscribes += 1;
                    let m = self.venue.resubscribe(symbol);
                    self.send(m);
                }
                _ => {}
            }
        }
    }

    /// Fetches a REST snapshot and joins it to the book; a snapshot older than the diffs held is
    /// fetched again (Binance's rule) at once, up to [`SNAPSHOT_TRIES`] times. A fetch that fails
    /// (the REST interface down, or rate-limiting) does not cost the connection: the book waits,
    /// its diffs held, and the fetch is tried again later with a growing pause (the venue's
    /// `Retry-After` where it gives one).
    fn fetch_snapshot(&mut self, symbol: &str, interner: &mut Interner, round: u32) {
        let rest = self.opts.rest_url.clone().or_else(|| self.venue.default_rest_url().map(str::to_string));
        let Some(url) = rest.and_then(|r| self.venue.snapshot_url(&r, symbol)) else { return };
        let started = crate::wall::instant();
        let mut retry_after = None;
        let mut done = false;
        for _ in 0..SNAPSHOT_TRIES {
            if self.stopping() {
                return;
            }
            let timeout = self.until_stop(Duration::from_secs(10)).max(Duration::from_millis(1));
            let body = match ureq::get(&url).timeout(timeout).call() {
                Ok(r) => r.into_string().map_err(|e| e.to_string()),
                Err(ureq::Error::Status(code, r)) => {
                    retry_after = r.header("Retry-After").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
                    Err(format!("HTTP {code}"))
                }
                Err(e) => Err(e.to_string()),
            };
            let recv = now();
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    self.monitor.notice(&Notice::VenueError { message: format!("snapshot {url}: {e}") }, recv);
                    break;
                }
            };
            self.stats.snapshots_fetched += 1;
            let mut emit = Emit::new(interner, &mut self.events, &mut self.notices);
            let read = self.venue.on_snapshot(symbol, &body, recv, &mut emit);
            self.clock.stamp(&mut self.events);
            self.stats.events += self.events.len() as u64;
            self.pending.extend(self.events.drain(..).map(Item::Event));
            let mut again = false;
            for n in std::mem::take(&mut self.notices) {
                match &n {
                    Notice::NeedSnapshot { symbol: s } if s == symbol => again = true,
                    _ => self.monitor.notice(&n, recv),
                }
            }
            match read {
                Err(e) => {
                    self.monitor.rejected(recv, &e, &body);
                    break;
                }
                Ok(()) if !again => {
                    done = true;
                    break;
                }
                Ok(()) => {}
            }
        }
        // The loop stood still while fetching: messages that waited meanwhile are not the venue's
        // lateness, and the silence and the link are judged afresh.
        let stood = started.elapsed();
        self.skew_quiet_until = Some(crate::wall::instant() + stood);
        self.last_pong = crate::wall::instant();
        self.monitor.resume(now(), stood.as_nanos() as i64);
        if !done {
            let pause = retry_after.unwrap_or(self.opts.backoff_min * (1u32 << (round + 2).min(8))).min(Duration::from_secs(120));
            self.snapshot_due.push((symbol.to_string(), crate::wall::instant() + pause, round + 1));
        }
    }

    fn stopping(&self) -> bool {
        self.opts.stop_at.is_some_and(|t| crate::wall::instant() >= t)
    }

    /// `d`, but no further than the moment to stop.
    fn until_stop(&self, d: Duration) -> Duration {
        match self.opts.stop_at {
            Some(t) => d.min(t.saturating_duration_since(crate::wall::instant())),
            None => d,
        }
    }
}

/// REST snapshots fetched at once for one book while each comes back older than the diffs held.
const SNAPSHOT_TRIES: u32 = 4;

/// A connection that has stayed up this long, bringing messages, resets the reconnect backoff.
const HEALTHY: Duration = Duration::from_secs(10);

impl Feed {
    /// How often, and by how much at most, a venue time was moved forward to keep event time from going back.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// One line on what the venue sent: messages used and not used by kind, and book checksums.
    pub fn describe(&self) -> String {
        let c = self.venue.counts();
        let list = |m: &rustc_hash::FxHashMap<String, u64>| Counts::sorted(m).iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
        let mut out = format!("used: {}", list(&c.used));
        if !c.unused.is_empty() {
            out += &format!("; counted, not used: {}", list(&c.unused));
        }
        let (ok, failed) = self.venue.checksums();
        if ok + failed > 0 {
            out += &format!("; checksums {ok} matched, {failed} failed");
        }
        if self.clock.moved > 0 {
            out += &format!("; {} venue times moved forward (at most {:.3} s)", self.clock.moved, self.clock.moved_max_ns as f64 / 1e9);
        }
        out
    }
}

impl EventReader for Feed {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        loop {
            if let Some(x) = self.pending.pop_front() {
                return Ok(Some(x));
            }
            if self.stopping() {
                self.finished = true;
                self.ws = None;
            }
            if self.finished {
                return Ok(None);
            }
            let Some(ws) = self.ws.as_mut() else {
                self.connect();
                continue;
            };
            match ws.read() {
                Ok(Message::Text(t)) => self.handle(t.as_str(), interner),
                Ok(Message::Binary(b)) => match std::str::from_utf8(&b) {
                    Ok(t) => {
                        let t = t.to_string();
                        self.handle(&t, interner)
                    }
                    Err(_) => {
                        self.stats.messages += 1;
                        self.stats.rejected += 1;
                        let reason = "a binary message that is not UTF-8".to_string();
                        self.monitor.rejected(now(), &reason, "");
                        let raw = String::from_utf8_lossy(&b[..b.len().min(2000)]).into_owned();
                        let r = Reject { file: self.file.clone(), line: self.stats.messages, field: None, code: RejectCode::InvalidEncoding, reason, raw };
                        self.pending.push_back(Item::Reject(r));
                    }
                },
                Ok(Message::Pong(_)) => self.last_pong = crate::wall::instant(),
                Ok(Message::Close(f)) => self.lose(format!("closed by the venue{}", f.map(|f| format!(": {} {}", f.code, f.reason)).unwrap_or_default())),
                Ok(_) => {}
                Err(e) if matches!(io_error(&e), Some(ErrorKind::WouldBlock | ErrorKind::TimedOut)) => {}
                Err(e) => self.lose(e.to_string()),
            }
            if self.ws.is_some() {
                self.tick();
            }
            if self.ws.is_some() && self.snapshot_due.first().is_some_and(|(_, due, _)| crate::wall::instant() >= *due) {
                let (symbol, _, round) = self.snapshot_due.remove(0);
                self.fetch_snapshot(&symbol, interner, round);
            }
        }
    }
}
