//! Binance's public spot streams (`wss://stream.binance.com:9443/stream`, combined form): the diff
//! book `<symbol>@depth@100ms`, `<symbol>@aggTrade` and `<symbol>@bookTicker`.
//!
//! The diff stream carries no snapshot: one comes from REST (`/api/v3/depth`), and Binance's rule
//! joins the two — buffer the diffs, drop those whose last update id `u` is at or below the
//! snapshot's `lastUpdateId`, start at the diff that spans `lastUpdateId + 1`, and from then on each
//! diff's first id `U` must be the previous `u` + 1. A diff that does not follow is a gap: the
//! book is rebuilt from a fresh snapshot. Aggregate trade ids rise by one, so a lost trade shows
//! too. A trade's `m` (the buyer is the maker) means the taker sold.

use crate::book::{quote_if_changed, Book};
use crate::{ms_to_ts, Counts, Emit, Notice, Venue};
use compact_str::format_compact;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::VecDeque;
use vigil_core::{EventKind, Price, Qty, Quote, Side, SymbolId, Trade, Ts, VenueId};

/// Binance's name of a spec symbol: `BTC-USDT` → `BTCUSDT`.
pub fn stream_symbol(symbol: &str) -> String {
    symbol.replace(['-', '/'], "").to_ascii_uppercase()
}

/// Diffs kept while a book waits for its snapshot.
pub const MAX_BUFFERED: usize = 10_000;

#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow)]
    stream: Option<&'a str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    /// `{"error":{"code":2,"msg":"Invalid request"},"id":1}`
    #[serde(default)]
    error: Option<serde_json::Value>,
    /// `{"code":-1121,"msg":"Invalid symbol."}`
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    msg: Option<String>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Depth<'a> {
    #[serde(default)]
    E: i64,
    #[serde(borrow)]
    s: &'a str,
    U: u64,
    u: u64,
    #[serde(borrow, default)]
    b: Vec<[&'a str; 2]>,
    #[serde(borrow, default)]
    a: Vec<[&'a str; 2]>,
}

/// An `aggTrade` (id `a`) or a `trade` (id `t`).
#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TradeMsg<'a> {
    #[serde(borrow)]
    s: &'a str,
    #[serde(default)]
    a: Option<u64>,
    #[serde(default)]
    t: Option<u64>,
    #[serde(borrow)]
    p: &'a str,
    #[serde(borrow)]
    q: &'a str,
    T: i64,
    m: bool,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BookTicker<'a> {
    #[serde(borrow)]
    s: &'a str,
    #[serde(borrow)]
    b: &'a str,
    #[serde(borrow)]
    B: &'a str,
    #[serde(borrow)]
    a: &'a str,
    #[serde(borrow)]
    A: &'a str,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Snapshot<'a> {
    lastUpdateId: u64,
    #[serde(borrow)]
    bids: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    asks: Vec<[&'a str; 2]>,
}

#[derive(Deserialize)]
struct EventType<'a> {
    #[serde(borrow, default)]
    e: Option<&'a str>,
}

struct Diff {
    first: u64,
    last: u64,
    ts: Ts,
    levels: Vec<(Side, i64, i64)>,
}

struct Market {
    symbol: SymbolId,
    book: Book,
    synced: bool,
    last_u: u64,
    buffer: VecDeque<Diff>,
    asked: bool,
    last_agg: Option<u64>,
    last_trade: Option<u64>,
    /// The latest venue time seen (depth `E`, trade `T`): the time of a ticker or snapshot, which carry none.
    venue_ts: Ts,
}

pub struct Binance {
    streams: Vec<String>,
    /// Binance's symbol (`NKNUSDT`) → the spec's (`NKN-USDT`), for the symbols asked for.
    names: FxHashMap<String, String>,
    venue: Option<VenueId>,
    markets: FxHashMap<String, Market>,
    counts: Counts,
    /// Diffs dropped because a book waited for its snapshot longer than [`MAX_BUFFERED`] diffs.
    pub overflowed: u64,
    pub stale_diffs: u64,
    /// Trades whose id was already seen (sent again by the venue), not passed on.
    pub duplicate_trades: u64,
    kinds: Vec<EventKind>,
}

fn dec(s: &str, what: &str) -> Result<i64, String> {
    vigil_core::fixed::parse_fixed(s.as_bytes()).map_err(|e| format!("{what} {s:?}: {e}"))
}

fn levels(bids: &[[&str; 2]], asks: &[[&str; 2]]) -> Result<Vec<(Side, i64, i64)>, String> {
    let mut v = Vec::with_capacity(bids.len() + asks.len());
    for (side, ls) in [(Side::Buy, bids), (Side::Sell, asks)] {
        for [p, q] in ls {
            let q = dec(q, "quantity")?;
            if q < 0 {
                return Err(format!("quantity {q} is negative"));
            }
            v.push((side, dec(p, "price")?, q));
        }
    }
    Ok(v)
}

impl Binance {
    pub fn new(symbols: &[String]) -> Self {
        let mut streams = Vec::new();
        let mut names = FxHashMap::default();
        for s in symbols {
            let b = stream_symbol(s);
            let l = b.to_ascii_lowercase();
            streams.extend([format!("{l}@depth@100ms"), format!("{l}@aggTrade"), format!("{l}@bookTicker")]);
            names.insert(b, s.to_ascii_uppercase());
        }
        Binance {
            streams,
            names,
            venue: None,
            markets: FxHashMap::default(),
            counts: Counts::default(),
            overflowed: 0,
            stale_diffs: 0,
            duplicate_trades: 0,
            kinds: Vec::new(),
        }
    }

    fn market(&mut self, s: &str, emit: &mut Emit) -> &mut Market {
        if !self.markets.contains_key(s) {
            let name = self.names.get(s).cloned().unwrap_or_else(|| vigil_io::symbols::normalise_symbol(s));
            let symbol = emit.interner.symbol(&name);
            let m = Market {
                symbol,
                book: Book::default(),
                synced: false,
                last_u: 0,
                buffer: VecDeque::new(),
                asked: false,
                last_agg: None,
                last_trade: None,
                venue_ts: Ts(0),
            };
            self.markets.insert(s.to_string(), m);
        }
        self.markets.get_mut(s).expect("inserted above")
    }

    fn check_id(last: &mut Option<u64>, id: u64, symbol: &str, stream: &'static str, notices: &mut Vec<Notice>) -> bool {
        match *last {
            Some(l) if id <= l => return false,
            Some(l) if id > l.saturating_add(1) => notices.push(Notice::Gap { symbol: symbol.to_string(), stream, expected: l.saturating_add(1), got: id }),
            _ => {}
        }
        *last = Some(id);
        true
    }

    /// Applies one diff to a synced book, or finds it does not follow.
    fn apply(m: &mut Market, d: &Diff, kinds: &mut Vec<EventKind>) -> Result<(), (u64, u64)> {
        if d.last <= m.last_u {
            return Ok(());
        }
        if d.first > m.last_u.saturating_add(1) {
            return Err((m.last_u.saturating_add(1), d.first));
        }
        for &(side, p, q) in &d.levels {
            kinds.extend(m.book.set(side, Price(p), Qty(q)));
        }
        m.last_u = d.last;
        Ok(())
    }

    fn emit_kinds(&mut self, key: &str, before: crate::book::Top, ts: Ts, emit: &mut Emit) {
        let venue = *self.venue.get_or_insert_with(|| emit.interner.venue("binance"));
        let m = self.markets.get(key).expect("known market");
        let quote = quote_if_changed(before, &m.book);
        for k in self.kinds.drain(..).chain(quote) {
            emit.push(ts, venue, m.symbol, k);
        }
    }

    fn on_depth(&mut self, d: Depth, recv: Ts, emit: &mut Emit) -> Result<(), String> {
        if !(0..=crate::MAX_MS).contains(&d.E) {
            return Err(format!("event time {} is not milliseconds since the epoch", d.E));
        }
        let diff = Diff { first: d.U, last: d.u, ts: if d.E > 0 { ms_to_ts(d.E) } else { recv }, levels: levels(&d.b, &d.a)? };
        if diff.first > diff.last {
            return Err(format!("first update id {} is after the last {}", diff.first, diff.last));
        }
        self.counts.used("depthUpdate");
        let mut kinds = std::mem::take(&mut self.kinds);
        let m = self.market(d.s, emit);
        if d.E > 0 {
            m.venue_ts = m.venue_ts.max(diff.ts);
            emit.sent = Some((m.symbol, diff.ts));
        }
        if !m.synced {
            let full = m.buffer.len() >= MAX_BUFFERED;
            if full {
                m.buffer.pop_front();
            }
            m.buffer.push_back(diff);
            if !m.asked {
                m.asked = true;
                emit.notices.push(Notice::NeedSnapshot { symbol: d.s.to_string() });
            }
            self.overflowed += u64::from(full);
            self.kinds = kinds;
            return Ok(());
        }
        let before = m.book.top();
        let stale = diff.last <= m.last_u;
        if let Err((expected, got)) = Self::apply(m, &diff, &mut kinds) {
            emit.notices.push(Notice::Gap { symbol: d.s.to_string(), stream: "depth", expected, got });
            emit.notices.push(Notice::NeedSnapshot { symbol: d.s.to_string() });
            m.synced = false;
            m.asked = true;
            m.buffer.clear();
            m.buffer.push_back(diff);
        } else {
            let ts = diff.ts;
            self.stale_diffs += u64::from(stale);
            self.kinds = kinds;
            self.emit_kinds(d.s, before, ts, emit);
            return Ok(());
        }
        self.kinds = kinds;
        Ok(())
    }

    /// Checks a trade's values before its id moves any sequence state.
    fn check_trade(p: &str, q: &str, t: i64) -> Result<(), String> {
        dec(p, "price")?;
        if dec(q, "quantity")? <= 0 {
            return Err(format!("trade quantity {q:?} is not positive"));
        }
        if !(0..=crate::MAX_MS).contains(&t) {
            return Err(format!("trade time {t} is not milliseconds since the epoch"));
        }
        Ok(())
    }

    fn trade(&mut self, s: &str, id: compact_str::CompactString, (p, q, t, buyer_maker): (&str, &str, i64, bool), emit: &mut Emit) -> Result<(), String> {
        let venue = *self.venue.get_or_insert_with(|| emit.interner.venue("binance"));
        let qty = dec(q, "quantity")?;
        if qty <= 0 {
            return Err(format!("trade quantity {q:?} is not positive"));
        }
        let trade = Trade {
            trade_id: id,
            price: Price(dec(p, "price")?),
            qty: Qty(qty),
            buy_account: None,
            sell_account: None,
            buy_order_id: None,
            sell_order_id: None,
            aggressor: Some(if buyer_maker { Side::Sell } else { Side::Buy }),
        };
        if !(0..=crate::MAX_MS).contains(&t) {
            return Err(format!("trade time {t} is not milliseconds since the epoch"));
        }
        let m = self.market(s, emit);
        m.venue_ts = m.venue_ts.max(ms_to_ts(t));
        let symbol = m.symbol;
        emit.sent = Some((symbol, ms_to_ts(t)));
        emit.push(ms_to_ts(t), venue, symbol, EventKind::Trade(trade));
        Ok(())
    }

    fn on_data(&mut self, stream: Option<&str>, data: &str, recv: Ts, emit: &mut Emit) -> Result<(), String> {
        // The kind borrows from the message: no allocation per message.
        let kind: &str = match stream.and_then(|s| s.split_once('@')) {
            Some((_, k)) => k.split('@').next().unwrap_or(k),
            None => serde_json::from_str::<EventType>(data).map_err(|e| format!("not a Binance event: {e}"))?.e.unwrap_or("bookTicker"),
        };
        let bad = |e: serde_json::Error| format!("{kind} message: {e}");
        match kind {
            "depth" | "depthUpdate" => self.on_depth(serde_json::from_str(data).map_err(bad)?, recv, emit),
            "aggTrade" | "trade" => {
                let t: TradeMsg = serde_json::from_str(data).map_err(bad)?;
                let agg = kind == "aggTrade";
                self.counts.used(kind);
                let id = if agg { t.a } else { t.t }.ok_or_else(|| format!("{kind} message without its id"))?;
                Self::check_trade(t.p, t.q, t.T)?;
                let m = self.market(t.s, emit);
                let (last, stream) = if agg { (&mut m.last_agg, "aggTrade") } else { (&mut m.last_trade, "trade") };
                if Self::check_id(last, id, t.s, stream, emit.notices) {
                    let trade_id = if agg { format_compact!("{}:A{id}", t.s) } else { format_compact!("{}:{id}", t.s) };
                    self.trade(t.s, trade_id, (t.p, t.q, t.T, t.m), emit)?;
                } else {
                    self.duplicate_trades += 1;
                }
                Ok(())
            }
            "bookTicker" => {
                let t: BookTicker = serde_json::from_str(data).map_err(bad)?;
                self.counts.used("bookTicker");
                let venue = *self.venue.get_or_insert_with(|| emit.interner.venue("binance"));
                let q = Quote {
                    bid: Some(Price(dec(t.b, "bid")?)),
                    bid_qty: Some(Qty(dec(t.B, "bid quantity")?)),
                    ask: Some(Price(dec(t.a, "ask")?)),
                    ask_qty: Some(Qty(dec(t.A, "ask quantity")?)),
                };
                // Spot tickers carry no time: the latest venue time of the symbol, so that the
                // receive clock never moves the venue's forward.
                let m = self.market(t.s, emit);
                let ts = if m.venue_ts.0 > 0 { m.venue_ts } else { recv };
                let symbol = m.symbol;
                emit.push(ts, venue, symbol, EventKind::Quote(q));
                Ok(())
            }
            other => {
                self.counts.unused(other);
                Ok(())
            }
        }
    }
}

impl Venue for Binance {
    fn name(&self) -> &'static str {
        "binance"
    }
    fn default_url(&self) -> &'static str {
        "wss://stream.binance.com:9443/stream"
    }
    fn default_rest_url(&self) -> Option<&'static str> {
        Some("https://api.binance.com")
    }
    fn subscribe(&self) -> Vec<String> {
        vec![serde_json::json!({"method": "SUBSCRIBE", "params": self.streams, "id": 1}).to_string()]
    }
    fn on_connect(&mut self) {
        for m in self.markets.values_mut() {
            m.synced = false;
            m.asked = false;
            m.buffer.clear();
        }
    }
    fn on_message(&mut self, text: &str, recv: Ts, emit: &mut Emit) -> Result<(), String> {
        let c: Combined = serde_json::from_str(text).map_err(|e| format!("not a Binance message: {e}"))?;
        if let Some(e) = &c.error {
            self.counts.used("error");
            emit.notices.push(Notice::VenueError { message: e.to_string() });
            return Ok(());
        }
        if let (Some(code), Some(msg)) = (&c.code, &c.msg) {
            self.counts.used("error");
            emit.notices.push(Notice::VenueError { message: format!("{code}: {msg}") });
            return Ok(());
        }
        match (c.stream, c.data) {
            (stream, Some(data)) => self.on_data(stream, data.get(), recv, emit),
            (None, None) if c.id.is_some() => {
                self.counts.used("response");
                Ok(())
            }
            _ => self.on_data(None, text, recv, emit),
        }
    }
    fn snapshot_url(&self, rest: &str, symbol: &str) -> Option<String> {
        Some(format!("{}/api/v3/depth?symbol={symbol}&limit=1000", rest.trim_end_matches('/')))
    }
    fn on_snapshot(&mut self, symbol: &str, body: &str, recv: Ts, emit: &mut Emit) -> Result<(), String> {
        let s: Snapshot = serde_json::from_str(body).map_err(|e| format!("depth snapshot of {symbol}: {e}"))?;
        let lv = levels(&s.bids, &s.asks)?;
        let mut kinds = std::mem::take(&mut self.kinds);
        let m = self.market(symbol, emit);
        if m.buffer.front().is_some_and(|d| d.first > s.lastUpdateId.saturating_add(1)) {
            // Older than the first diff held (Binance: fetch it again); nothing was lost.
            emit.notices.push(Notice::NeedSnapshot { symbol: symbol.to_string() });
            m.asked = true;
            self.counts.used("snapshot_too_old");
            self.kinds = kinds;
            return Ok(());
        }
        let before = m.book.top();
        let mut new = Book::default();
        for (side, p, q) in lv {
            if q > 0 {
                match side {
                    Side::Buy => new.bids.insert(p, q),
                    Side::Sell => new.asks.insert(p, q),
                };
            }
        }
        m.book.replace(new, &mut kinds);
        m.last_u = s.lastUpdateId;
        m.synced = true;
        m.asked = false;
        let mut ts = if m.venue_ts.0 > 0 { m.venue_ts } else { recv };
        // The buffered diffs that the snapshot does not already hold.
        while let Some(d) = m.buffer.pop_front() {
            if let Err((expected, got)) = Self::apply(m, &d, &mut kinds) {
                // Diffs missing between those held (the buffer overflowed): a real gap.
                emit.notices.push(Notice::Gap { symbol: symbol.to_string(), stream: "depth", expected, got });
                emit.notices.push(Notice::NeedSnapshot { symbol: symbol.to_string() });
                m.synced = false;
                m.asked = true;
                m.buffer.push_front(d);
                break;
            }
            ts = ts.max(d.ts);
        }
        self.counts.used("snapshot");
        self.kinds = kinds;
        self.emit_kinds(symbol, before, ts, emit);
        Ok(())
    }
    fn counts(&self) -> &Counts {
        &self.counts
    }
    fn book(&self, symbol: &str) -> Option<&Book> {
        self.markets.get(symbol).map(|m| &m.book)
    }
}

/// The last update id of a depth message, for a replaying server that must answer snapshots.
pub fn depth_ids(data: &str) -> Option<(String, u64, u64)> {
    let c: Combined = serde_json::from_str(data).ok()?;
    let d: Depth = serde_json::from_str(c.data.map_or(data, |d| d.get())).ok()?;
    Some((d.s.to_string(), d.U, d.u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Interner;

    fn depth(first: u64, last: u64, bid: &str, qty: &str) -> String {
        format!(
            r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1000,"s":"BTCUSDT","U":{first},"u":{last},"b":[["{bid}","{qty}"]],"a":[]}}}}"#
        )
    }

    #[test]
    fn diffs_join_the_snapshot_and_gaps_ask_for_another() {
        let mut b = Binance::new(&["BTC-USDT".into()]);
        let mut i = Interner::new();
        let (mut ev, mut no) = (Vec::new(), Vec::new());
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        b.on_message(&depth(10, 12, "100", "1"), Ts(1), &mut e).unwrap();
        b.on_message(&depth(13, 15, "101", "2"), Ts(2), &mut e).unwrap();
        assert_eq!(no, vec![Notice::NeedSnapshot { symbol: "BTCUSDT".into() }], "asked once");
        assert!(ev.is_empty());
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        // The snapshot holds everything up to 12: the first diff is dropped, the second applied.
        b.on_snapshot("BTCUSDT", r#"{"lastUpdateId":12,"bids":[["100","5"]],"asks":[["102","1"]]}"#, Ts(3), &mut e).unwrap();
        let book = b.book("BTCUSDT").unwrap();
        assert_eq!(
            book.best(Side::Buy, 5),
            vec![(Price::parse("101").unwrap().0, Qty::parse("2").unwrap().0), (Price::parse("100").unwrap().0, Qty::parse("5").unwrap().0)]
        );
        b.on_message(&depth(16, 16, "101", "0"), Ts(4), &mut e).unwrap();
        assert_eq!(b.book("BTCUSDT").unwrap().bids.len(), 1);
        // 17 and 18 are lost.
        b.on_message(&depth(19, 20, "99", "1"), Ts(5), &mut e).unwrap();
        assert_eq!(
            no[1..],
            [Notice::Gap { symbol: "BTCUSDT".into(), stream: "depth", expected: 17, got: 19 }, Notice::NeedSnapshot { symbol: "BTCUSDT".into() }]
        );
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        b.on_snapshot("BTCUSDT", r#"{"lastUpdateId":19,"bids":[["98","1"]],"asks":[]}"#, Ts(6), &mut e).unwrap();
        assert_eq!(b.book("BTCUSDT").unwrap().best(Side::Buy, 5).len(), 2, "the snapshot and the held diff 19–20");
        assert!(ev.iter().all(|e| e.symbol == i.symbol("BTC-USDT")));
    }

    #[test]
    fn trades_and_tickers() {
        let mut b = Binance::new(&["NKN-USDT".into()]);
        let mut i = Interner::new();
        let (mut ev, mut no) = (Vec::new(), Vec::new());
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        let agg = |a: u64| {
            format!(
                r#"{{"stream":"nknusdt@aggTrade","data":{{"e":"aggTrade","E":1633998512100,"s":"NKNUSDT","a":{a},"p":"0.35","q":"10","f":1,"l":1,"T":1633998512099,"m":true,"M":true}}}}"#
            )
        };
        b.on_message(&agg(5), Ts(1), &mut e).unwrap();
        b.on_message(&agg(7), Ts(1), &mut e).unwrap();
        b.on_message(r#"{"stream":"nknusdt@bookTicker","data":{"u":1,"s":"NKNUSDT","b":"0.34","B":"5","a":"0.36","A":"6"}}"#, Ts(9), &mut e).unwrap();
        b.on_message(r#"{"result":null,"id":1}"#, Ts(9), &mut e).unwrap();
        b.on_message(r#"{"stream":"nknusdt@kline_1m","data":{"e":"kline"}}"#, Ts(9), &mut e).unwrap();
        assert_eq!(no, vec![Notice::Gap { symbol: "NKNUSDT".into(), stream: "aggTrade", expected: 6, got: 7 }]);
        let EventKind::Trade(t) = &ev[0].kind else { panic!() };
        assert_eq!((t.aggressor, ev[0].ts), (Some(Side::Sell), Ts(1_633_998_512_099_000_000)));
        assert!(matches!(&ev[2].kind, EventKind::Quote(q) if q.ask_qty == Some(Qty::parse("6").unwrap())));
        assert_eq!(b.counts().unused.get("kline_1m"), Some(&1));
        assert!(b.on_message("{", Ts(1), &mut Emit::new(&mut i, &mut ev, &mut no)).is_err());
    }
}
