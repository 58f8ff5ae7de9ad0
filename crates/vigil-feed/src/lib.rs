//! Vigil's exchange connectors: the public market data of Binance, Coinbase and Kraken over
//! websockets, normalised into the spec's events.
//!
//! Every venue is laid out the same way ([`Venue`]): the messages that subscribe, a parser that
//! turns each received message into events, the venue's own ways of saying a message was lost
//! (sequence numbers, trade ids, book checksums), and what to ask for when one was. The
//! connection itself — connect, ping, read with a deadline, reconnect with backoff, fetch a
//! snapshot — is one loop for all of them ([`live::Feed`]).
//!
//! What a venue sends becomes:
//! - trades → `trade` events (the taker's side as `aggressor`; public data has no accounts);
//! - the venue's L2 book → *level orders*: one order per price level, id `L2:b:<price>` or
//!   `L2:a:<price>`, placed (`new`) when the level appears, amended to the level's new size, and
//!   cancelled when the level empties — so the engine's book is the venue's book;
//! - the top of that book, whenever it changes, and the venue's own ticker → `quote` events.
//!
//! Event time is the venue's timestamp where the message carries one, the receive time where it
//! does not; it never goes backwards within a feed ([`Clock`]). The gap between the two is the
//! clock skew [`health::Monitor`] watches.

pub mod binance;
pub mod book;
pub mod capture;
pub mod coinbase;
pub mod health;
pub mod kraken;
pub mod live;
pub mod replay;

use rustc_hash::FxHashMap;
use vigil_core::{Event, EventKind, Interner, SymbolId, Ts, VenueId};

/// Something the venue's messages say about the feed itself rather than the market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A sequence number or id skipped: messages between `expected` and `got` were lost.
    Gap { symbol: String, stream: &'static str, expected: u64, got: u64 },
    /// The venue's checksum of its book disagrees with the book rebuilt here.
    Checksum { symbol: String, expected: u32, computed: u32 },
    /// The book of `symbol` needs a snapshot from the venue's REST interface (Binance).
    NeedSnapshot { symbol: String },
    /// The book of `symbol` must be requested afresh over the websocket (Kraken, after a failed checksum).
    Resubscribe { symbol: String },
    /// The venue reported an error.
    VenueError { message: String },
}

/// Where a venue's parser puts what it makes of one message.
pub struct Emit<'a> {
    pub interner: &'a mut Interner,
    pub events: &'a mut Vec<Event>,
    pub notices: &'a mut Vec<Notice>,
    /// When the venue says it sent the message, for messages that say (a diff's `E`, an update's
    /// `time`, a heartbeat), and the symbol: what clock skew is measured on. Events stamped with
    /// an older time (a snapshot's levels, the last trade before subscribing, a ticker without a
    /// time of its own) are not skew.
    pub sent: Option<(SymbolId, Ts)>,
}

impl<'a> Emit<'a> {
    pub fn new(interner: &'a mut Interner, events: &'a mut Vec<Event>, notices: &'a mut Vec<Notice>) -> Self {
        Emit { interner, events, notices, sent: None }
    }

    pub fn push(&mut self, ts: Ts, venue: VenueId, symbol: SymbolId, kind: EventKind) {
        self.events.push(Event { ts, seq: 0, venue, symbol, kind });
    }
}

/// Counts of messages by kind: the ones the connector uses and the ones it does not. A message
/// type the connector does not use is counted here, never an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub messages: u64,
    pub used: FxHashMap<String, u64>,
    pub unused: FxHashMap<String, u64>,
}

impl Counts {
    pub fn used(&mut self, kind: &str) {
        self.messages += 1;
        bump(&mut self.used, kind);
    }
    pub fn unused(&mut self, kind: &str) {
        self.messages += 1;
        bump(&mut self.unused, kind);
    }
    pub fn total_unused(&self) -> u64 {
        self.unused.values().sum()
    }
    /// `kind count` pairs, largest first, then by name.
    pub fn sorted(map: &FxHashMap<String, u64>) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = map.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

fn bump(map: &mut FxHashMap<String, u64>, kind: &str) {
    match map.get_mut(kind) {
        Some(n) => *n += 1,
        None => {
            map.insert(kind.to_string(), 1);
        }
    }
}

/// One exchange's public market data protocol.
pub trait Venue: Send {
    /// The venue as events name it: `binance`, `coinbase`, `kraken`.
    fn name(&self) -> &'static str;
    /// The public websocket endpoint.
    fn default_url(&self) -> &'static str;
    /// The public REST endpoint, for venues whose book snapshots come from it.
    fn default_rest_url(&self) -> Option<&'static str> {
        None
    }
    /// The messages that subscribe to trades and the L2 book of `symbols` (spec form, `BTC-USDT`).
    fn subscribe(&self) -> Vec<String>;
    /// The messages that request the book of one symbol afresh (its venue name, as in notices).
    fn resubscribe(&self, _symbol: &str) -> Vec<String> {
        Vec::new()
    }
    /// A new connection: every book is unknown until its snapshot arrives, and sequence checks start over.
    fn on_connect(&mut self);
    /// One received text message. `Err` is a message that cannot be read (it is counted and kept).
    fn on_message(&mut self, text: &str, recv: Ts, emit: &mut Emit) -> Result<(), String>;
    /// The REST URL of a book snapshot of `symbol`, for venues that need one (Binance).
    fn snapshot_url(&self, _rest: &str, _symbol: &str) -> Option<String> {
        None
    }
    /// A snapshot fetched from `snapshot_url`.
    fn on_snapshot(&mut self, _symbol: &str, _body: &str, _recv: Ts, _emit: &mut Emit) -> Result<(), String> {
        Err("this venue takes no REST snapshots".into())
    }
    /// An application-level ping, for venues that want one besides websocket pings.
    fn app_ping(&self) -> Option<String> {
        None
    }
    /// Book checksums that matched and that failed, for venues that send them.
    fn checksums(&self) -> (u64, u64) {
        (0, 0)
    }
    /// Messages by kind.
    fn counts(&self) -> &Counts;
    /// The book of a symbol (venue name) as rebuilt here, for checks and tests.
    fn book(&self, symbol: &str) -> Option<&book::Book>;
}

/// The venues `vigil start --source` knows.
pub const VENUES: [&str; 3] = ["binance", "coinbase", "kraken"];

/// A venue's connector for `symbols` in the spec's form (`BTC-USDT`).
pub fn venue(name: &str, symbols: &[String]) -> Result<Box<dyn Venue>, String> {
    match name {
        "binance" => Ok(Box::new(binance::Binance::new(symbols))),
        "coinbase" => Ok(Box::new(coinbase::Coinbase::new(symbols))),
        "kraken" => Ok(Box::new(kraken::Kraken::new(symbols))),
        _ => Err(format!("unknown source {name:?}: simulated, binance, coinbase or kraken")),
    }
}

/// Event time that never goes backwards within one feed: the venue's clock where it speaks, the
/// receive clock where it does not, each event no earlier than the one before. How often, and by
/// how much, a venue time had to be moved forward is counted (`moved`, `moved_max_ns`, printed by
/// `vigil start`).
#[derive(Clone, Debug, Default)]
pub struct Clock {
    last: i64,
    pub seq: u64,
    pub moved: u64,
    pub moved_max_ns: i64,
}

impl Clock {
    /// Gives each event its final time and sequence number.
    pub fn stamp(&mut self, events: &mut [Event]) {
        for e in events {
            if e.ts.0 < self.last {
                self.moved += 1;
                self.moved_max_ns = self.moved_max_ns.max(self.last.saturating_sub(e.ts.0));
                e.ts = Ts(self.last);
            }
            self.last = e.ts.0;
            self.seq += 1;
            e.seq = self.seq;
        }
    }
}

/// The latest event time a venue may give: the spec's range, to the year 2200.
pub const MAX_MS: i64 = 7_258_118_400_000;

/// Seconds since the epoch written as a decimal (`1618678163.327760`, Kraken's and the capture
/// files' form) to nanoseconds, exactly.
pub fn seconds_to_ts(s: &str) -> Option<Ts> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 11 || !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    if secs > MAX_MS / 1000 {
        return None;
    }
    let mut ns: i64 = 0;
    for c in frac.bytes().chain(std::iter::repeat(b'0')).take(9) {
        ns = ns * 10 + i64::from(c - b'0');
    }
    Some(Ts(secs * 1_000_000_000 + ns))
}

/// The wall clock, which enters Vigil here and only here on the live path: a live message's
/// receive time (for clock-skew checks, and as event time where the venue gives none), the
/// connection's deadlines, and the replay server's pacing. Detection still runs in event time.
pub mod wall {
    /// The receive clock as event-time nanoseconds.
    #[allow(clippy::disallowed_methods)]
    pub fn now_ts() -> vigil_core::Ts {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        vigil_core::Ts(d.as_nanos() as i64)
    }

    #[allow(clippy::disallowed_methods)]
    pub fn instant() -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// Milliseconds since the epoch to event time.
pub fn ms_to_ts(ms: i64) -> Ts {
    Ts(ms.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_exactly() {
        assert_eq!(seconds_to_ts("1618678163.327760"), Some(Ts(1_618_678_163_327_760_000)));
        assert_eq!(seconds_to_ts("1618678132.8258188"), Some(Ts(1_618_678_132_825_818_800)));
        assert_eq!(seconds_to_ts("12"), Some(Ts(12_000_000_000)));
        assert_eq!(seconds_to_ts("1.2.3"), None);
        assert_eq!(seconds_to_ts(""), None);
        assert_eq!(seconds_to_ts("-1"), None);
        assert_eq!(seconds_to_ts("99999999999"), None, "beyond the spec's range, not an overflow");
    }

    #[test]
    fn the_clock_never_goes_back() {
        let ev = |t| Event {
            ts: Ts(t),
            seq: 0,
            venue: VenueId(1),
            symbol: SymbolId(1),
            kind: EventKind::Account { account: vigil_core::AccountId(0), owner: vigil_core::OwnerId(0) },
        };
        let mut v = vec![ev(10), ev(5), ev(12), ev(11)];
        let mut c = Clock::default();
        c.stamp(&mut v);
        assert_eq!(v.iter().map(|e| e.ts.0).collect::<Vec<_>>(), vec![10, 10, 12, 12]);
        assert_eq!(v.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!((c.moved, c.moved_max_ns), (2, 5));
    }
}
