//! Coinbase's public websocket feed (`wss://ws-feed.exchange.coinbase.com`): the `level2_batch`,
//! `matches`, `ticker` and `heartbeat` channels.
//!
//! `level2_batch` (the unauthenticated form of `level2`, its updates batched every 50 ms; the
//! messages are the same) sends a `snapshot` of the whole book, then `l2update`s whose changes give
//! a level's new size (0 removes it). Trades (`match`, and `last_match` on subscribing) carry a trade id
//! that rises by one per trade of a product, so a lost trade shows as a skipped id; the
//! `heartbeat` channel repeats the last trade id every second, which shows one even when no
//! trade follows. The taker's side is the opposite of a match's `side` (the maker's).

use crate::book::{quote_if_changed, Book};
use crate::{Counts, Emit, Notice, Venue};
use compact_str::format_compact;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::borrow::Cow;
use vigil_core::{EventKind, Price, Qty, Quote, Side, SymbolId, Trade, Ts, VenueId};

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow)]
    r#type: Cow<'a, str>,
    #[serde(borrow, default)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    bids: Vec<[&'a str; 2]>,
    #[serde(borrow, default)]
    asks: Vec<[&'a str; 2]>,
    #[serde(borrow, default)]
    changes: Vec<[&'a str; 3]>,
    #[serde(borrow, default)]
    time: Option<&'a str>,
    #[serde(default)]
    trade_id: Option<u64>,
    #[serde(default)]
    last_trade_id: Option<u64>,
    #[serde(borrow, default)]
    side: Option<&'a str>,
    #[serde(borrow, default)]
    size: Option<&'a str>,
    #[serde(borrow, default)]
    price: Option<&'a str>,
    #[serde(borrow, default)]
    best_bid: Option<&'a str>,
    #[serde(borrow, default)]
    best_ask: Option<&'a str>,
    #[serde(borrow, default)]
    best_bid_size: Option<&'a str>,
    #[serde(borrow, default)]
    best_ask_size: Option<&'a str>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

struct Product {
    symbol: SymbolId,
    book: Book,
    synced: bool,
    last_trade_id: Option<u64>,
}

pub struct Coinbase {
    products: Vec<String>,
    venue: Option<VenueId>,
    state: FxHashMap<String, Product>,
    counts: Counts,
    pub unsynced_updates: u64,
    pub duplicate_trades: u64,
    kinds: Vec<EventKind>,
}

fn dec(s: &str, what: &str) -> Result<i64, String> {
    vigil_core::fixed::parse_fixed(s.as_bytes()).map_err(|e| format!("{what} {s:?}: {e}"))
}

fn side(s: &str) -> Result<Side, String> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(format!("side {other:?} is not buy or sell")),
    }
}

impl Coinbase {
    pub fn new(symbols: &[String]) -> Self {
        Coinbase {
            products: symbols.iter().map(|s| s.to_ascii_uppercase()).collect(),
            venue: None,
            state: FxHashMap::default(),
            counts: Counts::default(),
            unsynced_updates: 0,
            duplicate_trades: 0,
            kinds: Vec::new(),
        }
    }

    fn product(&mut self, id: &str, emit: &mut Emit) -> &mut Product {
        if !self.state.contains_key(id) {
            let symbol = emit.interner.symbol(&vigil_io::symbols::normalise_symbol(id));
            self.state.insert(id.to_string(), Product { symbol, book: Book::default(), synced: false, last_trade_id: None });
        }
        self.state.get_mut(id).expect("inserted above")
    }

    /// Checks a trade id against the last one seen; `false` for one already seen.
    fn check_trade_id(p: &mut Product, product: &str, id: u64, notices: &mut Vec<Notice>) -> bool {
        match p.last_trade_id {
            Some(last) if id <= last => return false,
            Some(last) if id > last.saturating_add(1) => {
                notices.push(Notice::Gap { symbol: product.to_string(), stream: "trades", expected: last.saturating_add(1), got: id })
            }
            _ => {}
        }
        p.last_trade_id = Some(id);
        true
    }

    fn time(m: &Msg, recv: Ts) -> Result<Ts, String> {
        match m.time {
            Some(t) => match Ts::parse(t.as_bytes()) {
                Ok(ts) if (0..=crate::MAX_MS.saturating_mul(1_000_000)).contains(&ts.0) => Ok(ts),
                _ => Err(format!("time {t:?} is not an RFC 3339 time")),
            },
            None => Ok(recv),
        }
    }
}

impl Venue for Coinbase {
    fn name(&self) -> &'static str {
        "coinbase"
    }
    fn default_url(&self) -> &'static str {
        "wss://ws-feed.exchange.coinbase.com"
    }
    fn subscribe(&self) -> Vec<String> {
        vec![serde_json::json!({"type": "subscribe", "product_ids": self.products, "channels": ["level2_batch", "matches", "ticker", "heartbeat"]}).to_string()]
    }
    fn resubscribe(&self, product: &str) -> Vec<String> {
        let msg = |t: &str| serde_json::json!({"type": t, "product_ids": [product], "channels": ["level2_batch"]}).to_string();
        vec![msg("unsubscribe"), msg("subscribe")]
    }
    fn on_connect(&mut self) {
        for p in self.state.values_mut() {
            p.synced = false;
        }
    }
    fn on_message(&mut self, text: &str, recv: Ts, emit: &mut Emit) -> Result<(), String> {
        let m: Msg = serde_json::from_str(text).map_err(|e| format!("not a Coinbase message: {e}"))?;
        let venue = *self.venue.get_or_insert_with(|| emit.interner.venue("coinbase"));
        let kind = m.r#type.as_ref();
        let Some(pid) = m.product_id.as_deref() else {
            match kind {
                "subscriptions" => self.counts.used(kind),
                "error" => {
                    self.counts.used(kind);
                    let msg = format!("{} {}", m.message.unwrap_or_default(), m.reason.unwrap_or_default());
                    emit.notices.push(Notice::VenueError { message: msg.trim().to_string() });
                }
                other => self.counts.unused(other),
            }
            return Ok(());
        };
        match kind {
            "snapshot" | "l2update" => {
                let ts = Self::time(&m, recv)?;
                let mut kinds = std::mem::take(&mut self.kinds);
                kinds.clear();
                let p = self.product(pid, emit);
                let before = p.book.top();
                if kind == "snapshot" {
                    let mut new = Book::default();
                    for (levels, map) in [(&m.bids, &mut new.bids), (&m.asks, &mut new.asks)] {
                        for [px, sz] in levels {
                            let (px, sz) = (dec(px, "price")?, dec(sz, "size")?);
                            if sz > 0 {
                                map.insert(px, sz);
                            }
                        }
                    }
                    p.book.replace(new, &mut kinds);
                    p.synced = true;
                } else if !p.synced {
                    self.unsynced_updates += 1;
                    self.counts.used(kind);
                    self.kinds = kinds;
                    return Ok(());
                } else {
                    // Every change is read before any is applied: a bad one leaves the book as it was.
                    let mut changes = Vec::with_capacity(m.changes.len());
                    for [s, px, sz] in &m.changes {
                        let (s, px, sz) = (side(s)?, dec(px, "price")?, dec(sz, "size")?);
                        if sz < 0 {
                            return Err(format!("size {sz} is negative"));
                        }
                        changes.push((s, px, sz));
                    }
                    for (s, px, sz) in changes {
                        kinds.extend(p.book.set(s, Price(px), Qty(sz)));
                    }
                }
                let quote = quote_if_changed(before, &p.book);
                let symbol = p.symbol;
                if kind == "l2update" && m.time.is_some() {
                    emit.sent = Some((symbol, ts));
                }
                for k in kinds.drain(..).chain(quote) {
                    emit.push(ts, venue, symbol, k);
                }
                self.kinds = kinds;
                self.counts.used(kind);
            }
            "match" | "last_match" => {
                let ts = Self::time(&m, recv)?;
                let id = m.trade_id.ok_or("a match without a trade_id")?;
                let maker = side(m.side.ok_or("a match without a side")?)?;
                let price = dec(m.price.ok_or("a match without a price")?, "price")?;
                let qty = dec(m.size.ok_or("a match without a size")?, "size")?;
                if qty <= 0 {
                    return Err(format!("match size {qty} is not positive"));
                }
                let p = self.product(pid, emit);
                let symbol = p.symbol;
                // The last trade before subscribing is old by nature: not skew.
                if kind == "match" && m.time.is_some() {
                    emit.sent = Some((symbol, ts));
                }
                if Self::check_trade_id(p, pid, id, emit.notices) {
                    let trade = Trade {
                        trade_id: format_compact!("{pid}:{id}"),
                        price: Price(price),
                        qty: Qty(qty),
                        buy_account: None,
                        sell_account: None,
                        buy_order_id: None,
                        sell_order_id: None,
                        aggressor: Some(maker.opposite()),
                    };
                    emit.push(ts, venue, symbol, EventKind::Trade(trade));
                } else {
                    self.duplicate_trades += 1;
                }
                self.counts.used(kind);
            }
            "heartbeat" => {
                if m.time.is_some() {
                    let at = Self::time(&m, recv)?;
                    emit.sent = Some((self.product(pid, emit).symbol, at));
                }
                if let Some(id) = m.last_trade_id {
                    let p = self.product(pid, emit);
                    // A heartbeat names the last trade made: trades after the last received, up to
                    // and including it, were lost — shown without waiting for the next trade.
                    match p.last_trade_id {
                        Some(last) if id > last => {
                            let lost = Notice::Gap { symbol: pid.to_string(), stream: "trades", expected: last.saturating_add(1), got: id.saturating_add(1) };
                            emit.notices.push(lost);
                            p.last_trade_id = Some(id);
                        }
                        Some(_) => {}
                        None => p.last_trade_id = Some(id),
                    }
                }
                self.counts.used(kind);
            }
            "ticker" => {
                let ts = Self::time(&m, recv)?;
                let opt = |s: Option<&str>, what| s.map(|s| dec(s, what)).transpose();
                let q = Quote {
                    bid: opt(m.best_bid, "best_bid")?.map(Price),
                    bid_qty: opt(m.best_bid_size, "best_bid_size")?.map(Qty),
                    ask: opt(m.best_ask, "best_ask")?.map(Price),
                    ask_qty: opt(m.best_ask_size, "best_ask_size")?.map(Qty),
                };
                let symbol = self.product(pid, emit).symbol;
                if q.bid.is_some() || q.ask.is_some() {
                    emit.push(ts, venue, symbol, EventKind::Quote(q));
                }
                self.counts.used(kind);
            }
            other => self.counts.unused(other),
        }
        Ok(())
    }
    fn counts(&self) -> &Counts {
        &self.counts
    }
    fn book(&self, symbol: &str) -> Option<&Book> {
        self.state.get(symbol).map(|p| &p.book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Interner;

    #[test]
    fn only_messages_stamped_when_sent_measure_skew() {
        let mut c = Coinbase::new(&["BTC-USD".into()]);
        let mut i = Interner::new();
        let (mut ev, mut no) = (Vec::new(), Vec::new());
        let sent = |c: &mut Coinbase, i: &mut Interner, ev: &mut Vec<_>, no: &mut Vec<_>, m: &str| {
            let mut e = Emit::new(i, ev, no);
            c.on_message(m, Ts(9), &mut e).unwrap();
            e.sent.map(|(_, t)| t)
        };
        let last =
            r#"{"type":"last_match","trade_id":1,"side":"buy","size":"1","price":"1","product_id":"BTC-USD","sequence":1,"time":"2021-04-17T16:43:30Z"}"#;
        assert_eq!(sent(&mut c, &mut i, &mut ev, &mut no, last), None, "the last trade before subscribing is old by nature");
        let snap = r#"{"type":"snapshot","product_id":"BTC-USD","bids":[["1","1"]],"asks":[["2","1"]]}"#;
        assert_eq!(sent(&mut c, &mut i, &mut ev, &mut no, snap), None);
        let upd = r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1","2"]],"time":"2021-04-17T16:43:31Z"}"#;
        assert_eq!(sent(&mut c, &mut i, &mut ev, &mut no, upd), Some(Ts(1_618_677_811_000_000_000)));
        let hb = r#"{"type":"heartbeat","last_trade_id":1,"product_id":"BTC-USD","sequence":2,"time":"2021-04-17T16:43:32Z"}"#;
        assert_eq!(sent(&mut c, &mut i, &mut ev, &mut no, hb), Some(Ts(1_618_677_812_000_000_000)));
    }

    #[test]
    fn trade_ids_show_lost_trades() {
        let mut c = Coinbase::new(&["BTC-USD".into()]);
        let mut i = Interner::new();
        let (mut ev, mut no) = (Vec::new(), Vec::new());
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        let m = |id: u64, side: &str| {
            format!(
                r#"{{"type":"match","trade_id":{id},"side":"{side}","size":"0.5","price":"100.25","product_id":"BTC-USD","sequence":1,"time":"2021-04-17T16:43:30.244075Z"}}"#
            )
        };
        c.on_message(&m(10, "sell"), Ts(1), &mut e).unwrap();
        c.on_message(&m(11, "buy"), Ts(2), &mut e).unwrap();
        c.on_message(&m(11, "buy"), Ts(2), &mut e).unwrap();
        c.on_message(&m(14, "buy"), Ts(3), &mut e).unwrap();
        assert_eq!(no, vec![Notice::Gap { symbol: "BTC-USD".into(), stream: "trades", expected: 12, got: 14 }]);
        assert_eq!(c.duplicate_trades, 1);
        assert_eq!(ev.len(), 3);
        let EventKind::Trade(t) = &ev[0].kind else { panic!("a trade") };
        assert_eq!((t.aggressor, t.price, t.trade_id.as_str()), (Some(Side::Buy), Price::parse("100.25").unwrap(), "BTC-USD:10"));
        assert_eq!(ev[0].ts.to_string(), "2021-04-17T16:43:30.244075000Z");
        // A heartbeat naming a later trade shows the loss at once.
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        c.on_message(r#"{"type":"heartbeat","last_trade_id":16,"product_id":"BTC-USD","sequence":5,"time":"2021-04-17T16:43:31Z"}"#, Ts(4), &mut e).unwrap();
        assert_eq!(no.last(), Some(&Notice::Gap { symbol: "BTC-USD".into(), stream: "trades", expected: 15, got: 17 }), "15 and 16 lost");
        // One lost trade, named only by a heartbeat, is a gap too; the next match follows it.
        let n = no.len();
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        c.on_message(r#"{"type":"heartbeat","last_trade_id":17,"product_id":"BTC-USD","sequence":6,"time":"2021-04-17T16:43:32Z"}"#, Ts(5), &mut e).unwrap();
        c.on_message(&m(18, "buy"), Ts(6), &mut e).unwrap();
        assert_eq!(&no[n..], [Notice::Gap { symbol: "BTC-USD".into(), stream: "trades", expected: 17, got: 18 }]);
        assert!(c.on_message(r#"{"type":"match","product_id":"BTC-USD"}"#, Ts(5), &mut Emit::new(&mut i, &mut ev, &mut no)).is_err());
    }
}
