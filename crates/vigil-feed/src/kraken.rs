//! Kraken's public websocket (v1, `wss://ws.kraken.com`): the `book` and `trade` channels.
//!
//! A book subscription sends a snapshot (`as`, `bs`) and then updates (`a`, `b`), each level
//! `[price, volume, timestamp]` (a fourth element `"r"` marks a republished level), volume 0
//! removing the level. Every update carries `c`, Kraken's CRC32 of its top ten asks and bids, so
//! a lost or misapplied update shows at once: the book is then requested afresh. A book of depth N
//! is its N best levels, so levels pushed beyond N are dropped as Kraken drops them.
//! Kraken v1 trades carry no id: the pair, the trade's time and its place in the message make one.

use crate::book::{quote_if_changed, Book};
use crate::{Counts, Emit, Notice, Venue};
use compact_str::format_compact;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::borrow::Cow;
use vigil_core::{EventKind, Price, Qty, Side, SymbolId, Trade, Ts, VenueId};

/// Kraken's name of a spec symbol: `BTC-USD` → `XBT/USD`.
pub fn pair_name(symbol: &str) -> String {
    let (base, quote) = symbol.split_once('-').unwrap_or((symbol, ""));
    let k = |s: &str| if s == "BTC" { "XBT".to_string() } else { s.to_string() };
    if quote.is_empty() {
        k(base)
    } else {
        format!("{}/{}", k(base), k(quote))
    }
}

struct Pair {
    symbol: SymbolId,
    book: Book,
    depth: usize,
    /// Decimal places of prices and volumes as Kraken writes them (learnt from the snapshot), for the checksum.
    price_dp: u32,
    qty_dp: u32,
    /// A snapshot has arrived since the book was last known to be wrong.
    synced: bool,
    /// The checksum of the book's top ten levels when last computed, while they have not changed.
    crc: Option<u32>,
}

/// Whether a change at `price` on `side` can change the ten best levels of that side.
fn in_top10(book: &Book, side: Side, price: i64) -> bool {
    match side {
        Side::Sell => book.asks.keys().nth(9).is_none_or(|tenth| price <= *tenth),
        Side::Buy => book.bids.keys().rev().nth(9).is_none_or(|tenth| price >= *tenth),
    }
}

pub struct Kraken {
    pairs: Vec<String>,
    venue: Option<VenueId>,
    books: FxHashMap<String, Pair>,
    counts: Counts,
    pub depth: usize,
    /// Updates that arrived for a book waiting for its snapshot.
    pub unsynced_updates: u64,
    pub checksums_ok: u64,
    pub checksums_failed: u64,
    kinds: Vec<EventKind>,
}

impl Kraken {
    pub fn new(symbols: &[String]) -> Self {
        Kraken {
            pairs: symbols.iter().map(|s| pair_name(s)).collect(),
            venue: None,
            books: FxHashMap::default(),
            counts: Counts::default(),
            depth: 1000,
            unsynced_updates: 0,
            checksums_ok: 0,
            checksums_failed: 0,
            kinds: Vec::new(),
        }
    }

    fn sub(&self, event: &str, pairs: &[String], name: &str) -> String {
        let subscription = if name == "book" { serde_json::json!({"name": "book", "depth": self.depth}) } else { serde_json::json!({"name": name}) };
        serde_json::json!({"event": event, "pair": pairs, "subscription": subscription}).to_string()
    }
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Control<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    pair: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    errorMessage: Option<String>,
}

#[derive(Deserialize)]
struct BookMsg<'a> {
    #[serde(borrow, default)]
    r#as: Vec<Level<'a>>,
    #[serde(borrow, default)]
    bs: Vec<Level<'a>>,
    #[serde(borrow, default)]
    a: Vec<Level<'a>>,
    #[serde(borrow, default)]
    b: Vec<Level<'a>>,
    #[serde(borrow, default)]
    c: Option<Scalar<'a>>,
}

/// `[price, volume, timestamp]`, perhaps followed by `"r"`. Other channels put other shapes under
/// the same keys (a ticker's `"a": ["5525.4", 1, "1.000"]`): those read as not `ok`, an error only
/// where a book level was expected.
struct Level<'a> {
    price: &'a str,
    volume: &'a str,
    time: &'a str,
    ok: bool,
}

impl Level<'_> {
    const NOT: Level<'static> = Level { price: "", volume: "", time: "", ok: false };
}

/// A string, or anything else (skipped).
struct Scalar<'a>(Option<&'a str>);

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar(Some(s)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar(None))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Scalar<'a>, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Scalar<'a>, A::Error> {
                while m.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Level<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Level<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a level [price, volume, timestamp]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Level<'a>, A::Error> {
                let mut v = [None; 3];
                let mut n = 0;
                while let Some(Scalar(x)) = s.next_element::<Scalar>()? {
                    if n < 3 {
                        v[n] = x;
                    }
                    n += 1;
                }
                Ok(match v {
                    [Some(price), Some(volume), Some(time)] => Level { price, volume, time, ok: true },
                    _ => Level::NOT,
                })
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Level<'a>, E> {
                Ok(Level::NOT)
            }
            fn visit_str<E>(self, _: &str) -> Result<Level<'a>, E> {
                Ok(Level::NOT)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Level<'a>, E> {
                Ok(Level::NOT)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Level<'a>, E> {
                Ok(Level::NOT)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Level<'a>, E> {
                Ok(Level::NOT)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Level<'a>, E> {
                Ok(Level::NOT)
            }
            fn visit_unit<E>(self) -> Result<Level<'a>, E> {
                Ok(Level::NOT)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Level<'a>, A::Error> {
                while m.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Level::NOT)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One element of a channel message `[channelID, payload…, channelName, pair]`, read in one pass:
/// a book payload is an object, a trade payload an array of rows, the names strings.
enum Elem<'a> {
    Other,
    Str(Cow<'a, str>),
    Book(BookMsg<'a>),
    Rows(Vec<Row<'a>>),
}

/// A row of an array payload: a trade is a list of strings; other channels' rows are skipped.
enum Row<'a> {
    Other,
    List(Vec<Cow<'a, str>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Elem<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Elem<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a channel id, a payload or a name")
            }
            fn visit_u64<E>(self, _: u64) -> Result<Elem<'a>, E> {
                Ok(Elem::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Elem<'a>, E> {
                Ok(Elem::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Elem<'a>, E> {
                Ok(Elem::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Elem<'a>, E> {
                Ok(Elem::Other)
            }
            fn visit_unit<E>(self) -> Result<Elem<'a>, E> {
                Ok(Elem::Other)
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Elem<'a>, E> {
                Ok(Elem::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Elem<'a>, E> {
                Ok(Elem::Str(Cow::Owned(s.to_string())))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Elem<'a>, A::Error> {
                BookMsg::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Elem::Book)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Elem<'a>, A::Error> {
                Vec::<Row>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Elem::Rows)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Row<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Row<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Row<'a>, A::Error> {
                Vec::<Cow<'a, str>>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Row::List)
            }
            fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Row<'a>, E> {
                Ok(Row::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Row<'a>, E> {
                Ok(Row::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Row<'a>, E> {
                Ok(Row::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Row<'a>, E> {
                Ok(Row::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Row<'a>, E> {
                Ok(Row::Other)
            }
            fn visit_unit<E>(self) -> Result<Row<'a>, E> {
                Ok(Row::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Row<'a>, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Row::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn decimals(s: &str) -> u32 {
    s.split_once('.').map_or(0, |(_, f)| f.len() as u32)
}

fn price(s: &str) -> Result<Price, String> {
    Price::parse(s).map_err(|e| format!("price {s:?}: {e}"))
}

fn volume(s: &str) -> Result<Qty, String> {
    let q = Qty::parse(s).map_err(|e| format!("volume {s:?}: {e}"))?;
    if q.0 < 0 {
        return Err(format!("volume {s:?} is negative"));
    }
    Ok(q)
}

fn level_ts(l: &Level) -> Result<Ts, String> {
    if !l.ok {
        return Err("a book level that is not [price, volume, timestamp] strings".into());
    }
    crate::seconds_to_ts(l.time).ok_or_else(|| format!("level timestamp {:?} is not seconds since the epoch", l.time))
}

/// Writes the digits of a fixed-point value written with `dp` decimals, the point removed and
/// leading zeros stripped, at `buf[n..]`; returns the new end.
#[inline]
fn push_digits(buf: &mut [u8; CRC_TEXT], n: usize, raw: i64, dp: u32) -> usize {
    let raw = raw.unsigned_abs();
    // Fixed point holds 8 places; Kraken writes some prices with 9 (`0.000027720`), the last a zero.
    let scaled = if dp <= 8 { raw / 10u64.pow(8 - dp) } else { raw.saturating_mul(10u64.pow((dp - 8).min(10))) };
    if scaled == 0 {
        return n;
    }
    n + crate::book::write_u64(&mut buf[n..], scaled)
}

/// The longest checksum text: 20 levels of two values of at most 20 digits.
const CRC_TEXT: usize = 20 * 2 * 20;

/// Kraken's book checksum: CRC32 of the ten best asks (lowest first) then the ten best bids
/// (highest first), each level's price then volume as written, without the point and leading zeros.
pub fn checksum(book: &Book, price_dp: u32, qty_dp: u32) -> u32 {
    let mut buf = [0u8; CRC_TEXT];
    let mut n = 0;
    for (p, q) in book.asks.iter().take(10).chain(book.bids.iter().rev().take(10)) {
        n = push_digits(&mut buf, n, *p, price_dp);
        n = push_digits(&mut buf, n, *q, qty_dp);
    }
    crc32fast::hash(&buf[..n])
}

impl Kraken {
    fn on_book(&mut self, msgs: &[BookMsg], channel: &str, pair: &str, recv: Ts, emit: &mut Emit) -> Result<(), String> {
        let venue = *self.venue.get_or_insert_with(|| emit.interner.venue("kraken"));
        let depth = channel.strip_prefix("book-").and_then(|d| d.parse().ok()).unwrap_or(self.depth);
        let snapshot = msgs.iter().any(|m| !m.r#as.is_empty() || !m.bs.is_empty());
        if !self.books.contains_key(pair) {
            let symbol = emit.interner.symbol(&vigil_io::symbols::normalise_symbol(pair));
            self.books.insert(pair.to_string(), Pair { symbol, book: Book::default(), depth, price_dp: 0, qty_dp: 0, synced: false, crc: None });
        }
        let st = self.books.get_mut(pair).expect("inserted above");
        st.depth = depth;
        let before = st.book.top();
        let mut ts = Ts(i64::MIN);
        self.kinds.clear();
        if snapshot {
            let mut new = Book::default();
            let (mut pdp, mut qdp) = (0, 0);
            for m in msgs {
                for (levels, side) in [(&m.r#as, Side::Sell), (&m.bs, Side::Buy)] {
                    for l in levels {
                        ts = ts.max(level_ts(l)?);
                        let (p, q) = (price(l.price)?, volume(l.volume)?);
                        pdp = pdp.max(decimals(l.price));
                        qdp = qdp.max(decimals(l.volume));
                        if q.0 > 0 {
                            match side {
                                Side::Buy => new.bids.insert(p.0, q.0),
                                Side::Sell => new.asks.insert(p.0, q.0),
                            };
                        }
                    }
                }
            }
            st.price_dp = pdp;
            st.qty_dp = qdp;
            st.book.replace(new, &mut self.kinds);
            st.book.truncate(depth, &mut self.kinds);
            st.synced = true;
            st.crc = None;
            self.counts.used("book_snapshot");
        } else {
            self.counts.used("book_update");
            if !st.synced {
                self.unsynced_updates += 1;
                return Ok(());
            }
            let mut expected = None;
            // Every level is read before any is applied: a bad one leaves the book as it was.
            let mut changes = Vec::with_capacity(4);
            for m in msgs {
                for (levels, side) in [(&m.a, Side::Sell), (&m.b, Side::Buy)] {
                    for l in levels {
                        ts = ts.max(level_ts(l)?);
                        changes.push((side, price(l.price)?, volume(l.volume)?));
                    }
                }
                if let Some(c) = &m.c {
                    let c = c.0.ok_or("a checksum that is not a string")?;
                    expected = Some(c.parse::<u32>().map_err(|_| format!("checksum {c:?} is not a 32-bit number"))?);
                }
            }
            for (side, p, q) in changes {
                if st.crc.is_some() && in_top10(&st.book, side, p.0) {
                    st.crc = None;
                }
                self.kinds.extend(st.book.set(side, p, q));
            }
            st.book.truncate(depth, &mut self.kinds);
            if let Some(expected) = expected {
                // Levels beyond the ten best change no checksum: most updates reuse the last one.
                let computed = match st.crc {
                    Some(c) => c,
                    None => checksum(&st.book, st.price_dp, st.qty_dp),
                };
                st.crc = Some(computed);
                if computed == expected {
                    self.checksums_ok += 1;
                } else {
                    self.checksums_failed += 1;
                    st.synced = false;
                    st.crc = None;
                    emit.notices.push(Notice::Checksum { symbol: pair.to_string(), expected, computed });
                    emit.notices.push(Notice::Resubscribe { symbol: pair.to_string() });
                }
            }
        }
        if ts.0 == i64::MIN {
            ts = recv;
        } else if !snapshot {
            // An update's levels changed when it was sent; a snapshot's levels are as old as they are.
            emit.sent = Some((st.symbol, ts));
        }
        let quote = quote_if_changed(before, &st.book);
        let symbol = st.symbol;
        for k in self.kinds.drain(..).chain(quote) {
            emit.push(ts, venue, symbol, k);
        }
        Ok(())
    }

    fn on_trades(&mut self, rows: &[Row], pair: &str, emit: &mut Emit) -> Result<(), String> {
        let venue = *self.venue.get_or_insert_with(|| emit.interner.venue("kraken"));
        let symbol = emit.interner.symbol(&vigil_io::symbols::normalise_symbol(pair));
        for (i, r) in rows.iter().enumerate() {
            let Row::List(r) = r else { return Err(format!("trade {i} is not a list of strings")) };
            let [p, v, t, side, ..] = r.as_slice() else {
                return Err(format!("trade {i} has {} fields, not [price, volume, time, side, type, misc]", r.len()));
            };
            let ts = crate::seconds_to_ts(t).ok_or_else(|| format!("trade time {t:?} is not seconds since the epoch"))?;
            let aggressor = match side.as_ref() {
                "b" => Some(Side::Buy),
                "s" => Some(Side::Sell),
                other => return Err(format!("trade side {other:?} is not b or s")),
            };
            let qty = volume(v)?;
            if qty.0 == 0 {
                return Err(format!("trade volume {v:?} is zero"));
            }
            let kind = EventKind::Trade(Trade {
                // Kraken v1 trades have no id: the pair, time, price, volume and place in the
                // message make one that two real trades do not share.
                trade_id: format_compact!("{pair}:{t}:{p}:{v}:{i}"),
                price: price(p)?,
                qty,
                buy_account: None,
                sell_account: None,
                buy_order_id: None,
                sell_order_id: None,
                aggressor,
            });
            emit.sent = Some((symbol, emit.sent.map_or(ts, |(_, t)| t.max(ts))));
            emit.push(ts, venue, symbol, kind);
        }
        self.counts.used("trade");
        Ok(())
    }
}

impl Venue for Kraken {
    fn name(&self) -> &'static str {
        "kraken"
    }
    fn default_url(&self) -> &'static str {
        "wss://ws.kraken.com"
    }
    fn subscribe(&self) -> Vec<String> {
        vec![self.sub("subscribe", &self.pairs, "book"), self.sub("subscribe", &self.pairs, "trade")]
    }
    fn resubscribe(&self, pair: &str) -> Vec<String> {
        let p = [pair.to_string()];
        vec![self.sub("unsubscribe", &p, "book"), self.sub("subscribe", &p, "book")]
    }
    fn on_connect(&mut self) {
        for st in self.books.values_mut() {
            st.synced = false;
        }
    }
    fn on_message(&mut self, text: &str, recv: Ts, emit: &mut Emit) -> Result<(), String> {
        let t = text.trim_start();
        if t.starts_with('{') {
            let c: Control = serde_json::from_str(t).map_err(|e| format!("not a Kraken event message: {e}"))?;
            match c.event.as_ref() {
                "heartbeat" | "systemStatus" | "pong" => self.counts.used(&c.event),
                "subscriptionStatus" => {
                    self.counts.used("subscriptionStatus");
                    if c.status.as_deref() == Some("error") {
                        let pair = c.pair.as_deref().unwrap_or("?");
                        emit.notices.push(Notice::VenueError { message: format!("{pair}: {}", c.errorMessage.unwrap_or_default()) });
                    }
                }
                "error" => {
                    self.counts.used("error");
                    emit.notices.push(Notice::VenueError { message: c.errorMessage.unwrap_or_default() });
                }
                other => self.counts.unused(other),
            }
            return Ok(());
        }
        let mut parts: Vec<Elem> = serde_json::from_str(t).map_err(|e| format!("not a Kraken message: {e}"))?;
        let n = parts.len();
        if n < 4 {
            return Err(format!("a channel message has {n} elements, not [channelID, payload…, channelName, pair]"));
        }
        let (Some(Elem::Str(pair)), Some(Elem::Str(channel))) = (parts.pop(), parts.pop()) else {
            return Err("the last two elements of a channel message are not its channel name and pair".into());
        };
        if channel.starts_with("book") {
            let mut msgs = Vec::with_capacity(parts.len().saturating_sub(1));
            for p in parts.drain(1..) {
                match p {
                    Elem::Book(b) => msgs.push(b),
                    _ => return Err("a book payload that is not an object".into()),
                }
            }
            self.on_book(&msgs, &channel, &pair, recv, emit)
        } else if channel == "trade" {
            match parts.get(1) {
                Some(Elem::Rows(rows)) => self.on_trades(rows, &pair, emit),
                _ => Err("a trade payload that is not a list of trades".into()),
            }
        } else {
            self.counts.unused(&channel);
            Ok(())
        }
    }
    fn app_ping(&self) -> Option<String> {
        Some(r#"{"event":"ping"}"#.to_string())
    }
    fn checksums(&self) -> (u64, u64) {
        (self.checksums_ok, self.checksums_failed)
    }
    fn counts(&self) -> &Counts {
        &self.counts
    }
    fn book(&self, symbol: &str) -> Option<&Book> {
        self.books.get(symbol).map(|p| &p.book)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Interner;

    #[test]
    fn names_and_checksum() {
        assert_eq!(pair_name("BTC-USD"), "XBT/USD");
        assert_eq!(pair_name("ETH-BTC"), "ETH/XBT");
        // The digits of each value as written, without the point and leading zeros ("0.05005" → "5005").
        let mut buf = [0u8; CRC_TEXT];
        let n = push_digits(&mut buf, 0, price("0.05005").unwrap().0, 5);
        let n = push_digits(&mut buf, n, volume("0.00000500").unwrap().0, 8);
        assert_eq!(&buf[..n], b"5005500");
        // Nine places: the ninth is kept as written ("0.000027720" → "27720").
        let n = push_digits(&mut buf, 0, price("0.000027720").unwrap().0, 9);
        assert_eq!(&buf[..n], b"27720");
    }

    #[test]
    fn trades_and_other_channels() {
        let mut k = Kraken::new(&["BTC-USD".into()]);
        let mut i = Interner::new();
        let (mut ev, mut no) = (Vec::new(), Vec::new());
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        // Kraken's documented trade message: two trades, a sell then a buy.
        let t =
            r#"[0,[["5541.20000","0.15850568","1534614057.321597","s","l",""],["6060.00000","0.02455000","1534614057.324998","b","l",""]],"trade","XBT/USD"]"#;
        k.on_message(t, Ts(1), &mut e).unwrap();
        let spread = r#"[0,["5698.40000","5700.00000","1542057299.545897","1.01234567","0.98765432"],"spread","XBT/USD"]"#;
        k.on_message(spread, Ts(2), &mut e).unwrap();
        assert!(k.on_message(r#"[0,{"a":1},"trade","XBT/USD"]"#, Ts(3), &mut e).is_err());
        assert!(k.on_message(r#"[0,[["1","0","1.0","b","l",""]],"trade","XBT/USD"]"#, Ts(3), &mut e).is_err(), "a zero volume");
        assert!(k.on_message(r#"[0,"x"]"#, Ts(3), &mut e).is_err());
        assert_eq!(ev.len(), 2);
        let EventKind::Trade(a) = &ev[0].kind else { panic!("a trade") };
        assert_eq!((a.aggressor, a.qty, ev[0].ts), (Some(Side::Sell), volume("0.15850568").unwrap(), Ts(1_534_614_057_321_597_000)));
        assert_eq!(a.trade_id, "XBT/USD:1534614057.321597:5541.20000:0.15850568:0");
        assert!(matches!(&ev[1].kind, EventKind::Trade(b) if b.aggressor == Some(Side::Buy) && b.price == price("6060").unwrap()));
        assert_eq!(i.names().symbol(ev[0].symbol).as_ref(), "BTC-USD");
        assert_eq!(k.counts().unused.get("spread"), Some(&1));
        // A ticker's object payload has keys a book uses, in other shapes: counted, not an error.
        let ticker = r#"[0,{"a":["5525.40000",1,"1.000"],"b":["5525.10000",1,"1.000"],"c":["5525.10000","0.00398963"],"v":["2634.11501494","3591.17907851"]},"ticker","XBT/USD"]"#;
        k.on_message(ticker, Ts(4), &mut Emit::new(&mut i, &mut ev, &mut no)).unwrap();
        assert_eq!(k.counts().unused.get("ticker"), Some(&1));
    }

    #[test]
    fn a_bad_update_is_caught_by_the_checksum() {
        let mut k = Kraken::new(&["BTC-USD".into()]);
        let mut i = Interner::new();
        let (mut ev, mut no) = (Vec::new(), Vec::new());
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        let snap = r#"[1,{"as":[["100.0","1.00000000","1.0"]],"bs":[["99.0","2.00000000","1.0"]]},"book-10","XBT/USD"]"#;
        k.on_message(snap, Ts(5), &mut e).unwrap();
        let mut good = Book::default();
        good.asks.insert(price("100.0").unwrap().0, volume("3").unwrap().0);
        good.bids.insert(price("99.0").unwrap().0, volume("2").unwrap().0);
        let c = checksum(&good, 1, 8);
        let upd = format!(r#"[1,{{"a":[["100.0","3.00000000","2.0"]],"c":"{c}"}},"book-10","XBT/USD"]"#);
        k.on_message(&upd, Ts(6), &mut e).unwrap();
        assert_eq!((k.checksums_ok, k.checksums_failed), (1, 0));
        // A message with one bad level changes nothing.
        let before = k.book("XBT/USD").unwrap().clone();
        let bad_level = r#"[1,{"a":[["100.5","1.0","4.0"],["x","1.0","4.0"]],"c":"1"},"book-10","XBT/USD"]"#;
        assert!(k.on_message(bad_level, Ts(7), &mut e).is_err());
        assert_eq!(k.book("XBT/USD").unwrap(), &before);
        assert_eq!(k.checksums_failed, 0);
        let bad = format!(r#"[1,{{"a":[["100.0","4.00000000","3.0"]],"c":"{c}"}},"book-10","XBT/USD"]"#);
        k.on_message(&bad, Ts(7), &mut e).unwrap();
        assert_eq!(k.checksums_failed, 1);
        assert!(matches!(&no[..], [Notice::Checksum { .. }, Notice::Resubscribe { symbol }] if symbol == "XBT/USD"));
        // Until the next snapshot, updates are not applied.
        let mut e = Emit::new(&mut i, &mut ev, &mut no);
        k.on_message(&upd, Ts(8), &mut e).unwrap();
        assert_eq!(k.unsynced_updates, 1);
        // Events: 2 level orders and a quote from the snapshot, an amend and a quote, an amend and a quote.
        let kinds: Vec<&str> = ev.iter().map(|e| e.kind.event_type().as_str()).collect();
        assert_eq!(kinds, vec!["new", "new", "quote", "amend", "quote", "amend", "quote"]);
        assert_eq!(ev[0].ts, Ts(1_000_000_000));
    }
}
