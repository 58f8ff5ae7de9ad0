//! Tardis.dev downloadable CSV files (docs.tardis.dev/downloadable-csv-files): `trades`, `quotes`,
//! `incremental_book_L2` and `book_snapshot_N`. Every file has a header row, which says the data type;
//! columns are found by name. All share `exchange` (the venue, lower case), `symbol` (the venue's,
//! put in the spec's form by [`normalise_symbol`]), `timestamp` (exchange time) and `local_timestamp`
//! (when Tardis received it), integers of microseconds since the epoch (nanoseconds where ≥ 10¹⁷,
//! as some exports write).
//!
//! Book data becomes *level orders*: one order per price level, id `L2:b:<price>` or `L2:a:<price>`,
//! created, amended to the level's new size and cancelled as the level changes, so the engine's book
//! holds the venue's depth. `book_snapshot_N` rows become the difference from the previous snapshot
//! of the instrument.

use crate::decode::{FieldError, TS_MAX, TS_MIN};
use crate::read::{EventReader, Item};
use crate::reject::{Reject, RejectCode};
use crate::symbols::normalise_symbol;
use crate::ReadError;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Read};
use std::sync::Arc;
use vigil_core::fixed::parse_fixed;
use vigil_core::{Amend, Cancel, DecimalError, Event, EventKind, Interner, NewOrder, OrderKey, Price, Qty, Quote, Side, SymbolId, Trade, Ts, VenueId};

// ---------------------------------------------------------------------------------------------
// Field helpers, shared with `exchcsv`.

pub(crate) fn field_err(field: &'static str, code: RejectCode, reason: String) -> FieldError {
    FieldError { field: Some(field), code, reason }
}

pub(crate) fn missing(field: &'static str) -> FieldError {
    field_err(field, RejectCode::MissingField, format!("{field} is missing"))
}

/// The trimmed text of column `col`; empty when the row is shorter than the header.
pub(crate) fn cell(rec: &csv::StringRecord, col: usize) -> &str {
    rec.get(col).map_or("", str::trim)
}

/// The text of a column that must not be empty.
pub(crate) fn required<'r>(rec: &'r csv::StringRecord, col: usize, field: &'static str) -> Result<&'r str, FieldError> {
    let s = cell(rec, col);
    if s.is_empty() {
        Err(missing(field))
    } else {
        Ok(s)
    }
}

/// Exact decimal text in units of 10⁻⁸.
pub(crate) fn decimal(s: &str, field: &'static str) -> Result<i64, FieldError> {
    match parse_fixed(s.as_bytes()) {
        Ok(v) => Ok(v),
        Err(DecimalError::Empty) => Err(missing(field)),
        Err(DecimalError::TooPrecise) => Err(field_err(field, RejectCode::InvalidDecimal, format!("{field} {s:?} has more than 8 decimal places"))),
        Err(DecimalError::Overflow) => Err(field_err(field, RejectCode::InvalidDecimal, format!("{field} {s:?} is out of range"))),
        Err(_) => Err(field_err(field, RejectCode::InvalidDecimal, format!("{field} {s:?} is not a decimal"))),
    }
}

pub(crate) fn parse_price(s: &str, field: &'static str) -> Result<Price, FieldError> {
    decimal(s, field).map(Price)
}

/// A quantity that must be > 0 (`positive`) or ≥ 0.
pub(crate) fn parse_qty(s: &str, field: &'static str, positive: bool) -> Result<Qty, FieldError> {
    let v = decimal(s, field)?;
    if v < 0 || (positive && v == 0) {
        let bound = if positive { "> 0" } else { ">= 0" };
        return Err(field_err(field, RejectCode::InvalidQty, format!("{field} {s:?} must be {bound}")));
    }
    Ok(Qty(v))
}

/// `None` for empty text, else what `f` makes of it.
pub(crate) fn opt<T>(s: &str, f: impl FnOnce(&str) -> Result<T, FieldError>) -> Result<Option<T>, FieldError> {
    if s.is_empty() {
        Ok(None)
    } else {
        f(s).map(Some)
    }
}

/// Decimal digits only (no sign, no point), as an `i64`.
pub(crate) fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Nanoseconds since the epoch (`None` when the conversion overflowed), checked against the
/// range the engine takes (1970 to 2200).
pub(crate) fn in_range(ns: Option<i64>, s: &str, field: &'static str) -> Result<Ts, FieldError> {
    match ns {
        Some(ns) if (TS_MIN..TS_MAX).contains(&ns) => Ok(Ts(ns)),
        _ => Err(field_err(field, RejectCode::InvalidTimestamp, format!("{field} {s:?} is after 2200-01-01"))),
    }
}

/// The reject of a row, with the row as its raw text.
pub(crate) fn reject(file: &Arc<str>, line: u64, rec: &csv::StringRecord, e: FieldError) -> Item {
    let raw = rec.iter().collect::<Vec<&str>>().join(",");
    Item::Reject(Reject { file: file.clone(), line, field: e.field, code: e.code, reason: e.reason, raw })
}

/// What the `csv` crate's error on a record means: the end of the file for an I/O error, else a
/// reject of the record (the reader goes on with the next).
pub(crate) fn csv_error(file: &Arc<str>, e: csv::Error) -> Result<Item, ReadError> {
    let line = e.position().map_or(0, |p| p.line());
    let (code, reason) = match e.into_kind() {
        csv::ErrorKind::Io(io) => return Err(ReadError::at(file, line, io)),
        csv::ErrorKind::Utf8 { err, .. } => (RejectCode::InvalidEncoding, format!("field {} is not valid UTF-8", err.field() + 1)),
        other => (RejectCode::InvalidCsv, format!("{other:?}")),
    };
    Ok(Item::Reject(Reject { file: file.clone(), line, field: None, code, reason, raw: String::new() }))
}

/// The names of a header row: trimmed, without a byte-order mark.
pub(crate) fn header_names(h: &csv::StringRecord) -> Vec<String> {
    h.iter().map(|n| n.trim().trim_start_matches('\u{feff}').trim().to_string()).collect()
}

/// Venue and symbol ids of the last names seen: files repeat one venue and one symbol row after
/// row, and normalising a symbol allocates.
#[derive(Default)]
pub(crate) struct NameCache {
    venue: Option<(String, VenueId)>,
    symbol: Option<(String, SymbolId)>,
}

impl NameCache {
    /// The venue as the spec writes it: lower case.
    pub(crate) fn venue(&mut self, raw: &str, interner: &mut Interner) -> VenueId {
        if let Some((k, v)) = &self.venue {
            if k == raw {
                return *v;
            }
        }
        let v = interner.venue(&raw.trim().to_ascii_lowercase());
        self.venue = Some((raw.to_string(), v));
        v
    }

    /// The symbol in the spec's form ([`normalise_symbol`]).
    pub(crate) fn symbol(&mut self, raw: &str, interner: &mut Interner) -> SymbolId {
        if let Some((k, s)) = &self.symbol {
            if k == raw {
                return *s;
            }
        }
        let s = interner.symbol(&normalise_symbol(raw));
        self.symbol = Some((raw.to_string(), s));
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Level orders.

/// The id of the level order at `price` on `side`: `L2:b:6422` (bid), `L2:a:6422.5` (ask). The
/// price is written in its canonical form, so `6422` and `6422.0` are one level.
pub fn level_order_id(side: Side, price: Price) -> OrderKey {
    let s = if side == Side::Buy { 'b' } else { 'a' };
    OrderKey::from(format!("L2:{s}:{price}"))
}

fn level_new(side: Side, price: Price, qty: Qty) -> EventKind {
    EventKind::New(NewOrder { order_id: level_order_id(side, price), account: None, side, price: Some(price), qty })
}

fn level_amend(side: Side, price: Price, qty: Qty) -> EventKind {
    EventKind::Amend(Amend { order_id: level_order_id(side, price), account: None, price: None, qty: Some(qty), hint: None })
}

fn level_cancel(side: Side, price: Price) -> EventKind {
    EventKind::Cancel(Cancel { order_id: level_order_id(side, price), account: None, hint: None })
}

/// The levels held for one instrument.
#[derive(Default, Debug)]
struct Book {
    levels: BTreeMap<(Side, Price), Qty>,
    /// Whether the instrument's last `incremental_book_L2` row was a snapshot row.
    in_snapshot: bool,
}

// ---------------------------------------------------------------------------------------------
// The reader.

/// The Tardis data types this reader takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TardisType {
    Trades,
    Quotes,
    IncrementalBookL2,
    /// `book_snapshot_N`: the top N levels a side.
    BookSnapshot(usize),
}

const SUPPORTED: &str = "trades, quotes, incremental_book_L2 and book_snapshot_N (book_snapshot_5, book_snapshot_25)";

/// The four columns every Tardis file has.
struct Common {
    exchange: usize,
    symbol: usize,
    timestamp: usize,
    local_timestamp: Option<usize>,
}

/// The columns of one level of a `book_snapshot_N` row: (price, amount) of the ask and of the bid.
#[derive(Copy, Clone, Debug, Default)]
struct SnapLevel {
    ask: Option<(usize, usize)>,
    bid: Option<(usize, usize)>,
}

enum Cols {
    Trades { id: usize, side: usize, price: usize, amount: usize },
    Quotes { ask_amount: usize, ask_price: usize, bid_price: usize, bid_amount: usize },
    L2 { is_snapshot: usize, side: usize, price: usize, amount: usize },
    Snapshot(Vec<SnapLevel>),
}

/// `asks[3].price` → (ask, 3, price).
fn snapshot_column(name: &str) -> Option<(bool, usize, bool)> {
    let (ask, rest) = match name.strip_prefix("asks[") {
        Some(rest) => (true, rest),
        None => (false, name.strip_prefix("bids[")?),
    };
    let (i, what) = rest.split_once("].")?;
    let i = usize::try_from(digits(i)?).ok()?;
    let price = match what {
        "price" => true,
        "amount" => false,
        _ => return None,
    };
    Some((ask, i, price))
}

/// The data type a header that is not supported most likely belongs to, for the error message.
fn unsupported_name(file: &str, extras: &[&str]) -> &'static str {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    for t in ["derivative_ticker", "options_chain", "liquidations", "book_ticker"] {
        if base.contains(t) {
            return t;
        }
    }
    if extras.iter().any(|e| matches!(*e, "funding_rate" | "mark_price" | "open_interest" | "index_price")) {
        if extras.contains(&"strike_price") {
            return "options_chain";
        }
        return "derivative_ticker";
    }
    if extras.contains(&"strike_price") {
        return "options_chain";
    }
    "this file's"
}

/// The data type and columns a header names.
fn detect(names: &[String], file: &str) -> Result<(Common, Cols, TardisType), String> {
    let find = |n: &str| names.iter().position(|h| h == n);
    let need = |n: &str| find(n).ok_or_else(|| format!("the header has no `{n}` column; a Tardis CSV file has exchange, symbol, timestamp, local_timestamp"));
    let common = Common { exchange: need("exchange")?, symbol: need("symbol")?, timestamp: need("timestamp")?, local_timestamp: find("local_timestamp") };
    let extras: Vec<&str> =
        names.iter().map(String::as_str).filter(|n| !matches!(*n, "exchange" | "symbol" | "timestamp" | "local_timestamp") && !n.is_empty()).collect();
    let exactly = |set: &[&str]| extras.len() == set.len() && set.iter().all(|n| extras.iter().any(|e| e == n));
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let not_supported = |what: &str| format!("{what} data is not supported: this reader takes Tardis {SUPPORTED} files");

    if extras.iter().any(|e| e.starts_with("asks[") || e.starts_with("bids[")) {
        let mut levels: Vec<SnapLevel> = Vec::new();
        let mut halves: FxHashMap<(bool, usize), (Option<usize>, Option<usize>)> = FxHashMap::default();
        for (col, name) in names.iter().enumerate() {
            if matches!(name.as_str(), "exchange" | "symbol" | "timestamp" | "local_timestamp") {
                continue;
            }
            let Some((ask, i, is_price)) = snapshot_column(name) else {
                return Err(format!("column {name:?} is not a book_snapshot_N column (asks[i].price, asks[i].amount, bids[i].price, bids[i].amount)"));
            };
            if i >= 10_000 {
                return Err(format!("column {name:?}: a book snapshot of more than 10000 levels is not supported"));
            }
            let h = halves.entry((ask, i)).or_default();
            if is_price {
                h.0 = Some(col);
            } else {
                h.1 = Some(col);
            }
        }
        let depth = halves.keys().map(|&(_, i)| i + 1).max().unwrap_or(0);
        levels.resize(depth, SnapLevel::default());
        for (&(ask, i), &(p, a)) in &halves {
            let side = if ask { "asks" } else { "bids" };
            let (Some(p), Some(a)) = (p, a) else {
                return Err(format!("the header has only one of {side}[{i}].price and {side}[{i}].amount"));
            };
            if ask {
                levels[i].ask = Some((p, a));
            } else {
                levels[i].bid = Some((p, a));
            }
        }
        return Ok((common, Cols::Snapshot(levels), TardisType::BookSnapshot(depth)));
    }
    let col = |n: &str| find(n).unwrap_or(0);
    if exactly(&["is_snapshot", "side", "price", "amount"]) {
        let cols = Cols::L2 { is_snapshot: col("is_snapshot"), side: col("side"), price: col("price"), amount: col("amount") };
        return Ok((common, cols, TardisType::IncrementalBookL2));
    }
    if exactly(&["id", "side", "price", "amount"]) {
        // Liquidations have the columns of trades; only the file name tells them apart.
        if base.contains("liquidations") {
            return Err(not_supported("liquidations"));
        }
        return Ok((common, Cols::Trades { id: col("id"), side: col("side"), price: col("price"), amount: col("amount") }, TardisType::Trades));
    }
    if exactly(&["ask_amount", "ask_price", "bid_price", "bid_amount"]) {
        let cols = Cols::Quotes { ask_amount: col("ask_amount"), ask_price: col("ask_price"), bid_price: col("bid_price"), bid_amount: col("bid_amount") };
        return Ok((common, cols, TardisType::Quotes));
    }
    Err(not_supported(unsupported_name(file, &extras)))
}

/// A Tardis timestamp in nanoseconds; `None` when empty or 0.
fn tardis_time(s: &str, field: &'static str) -> Result<Option<i64>, FieldError> {
    if s.is_empty() {
        return Ok(None);
    }
    let Some(v) = digits(s) else {
        return Err(field_err(field, RejectCode::InvalidTimestamp, format!("{field} {s:?} is not a whole number of microseconds since the epoch")));
    };
    if v == 0 {
        return Ok(None);
    }
    // Real files write microseconds; some exports nanoseconds. 10¹⁷ µs is the year 5138, 10¹⁷ ns 1973.
    let ns = if v >= 100_000_000_000_000_000 { Some(v) } else { v.checked_mul(1_000) };
    in_range(ns, s, field).map(|t| Some(t.0))
}

/// What a row did besides its events.
struct RowOut {
    /// local_timestamp − timestamp, where both are given.
    skew: Option<i64>,
    /// A removal of a level the book does not hold.
    ignored: bool,
}

/// Everything but the CSV reader and the counters, so a row can be decoded while the record is
/// borrowed.
struct Decoder {
    file: Arc<str>,
    common: Common,
    cols: Cols,
    names: NameCache,
    books: FxHashMap<(VenueId, SymbolId), Book>,
    pending: VecDeque<Item>,
    snap: Vec<(Side, Price, Qty)>,
}

fn bool_field(s: &str, field: &'static str) -> Result<bool, FieldError> {
    if s.is_empty() {
        Err(missing(field))
    } else if s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(field_err(field, RejectCode::InvalidField, format!("{field} {s:?} is not true or false")))
    }
}

fn book_side(s: &str) -> Result<Side, FieldError> {
    if s.is_empty() {
        Err(missing("side"))
    } else if s.eq_ignore_ascii_case("bid") || s.eq_ignore_ascii_case("buy") {
        Ok(Side::Buy)
    } else if s.eq_ignore_ascii_case("ask") || s.eq_ignore_ascii_case("sell") {
        Ok(Side::Sell)
    } else {
        Err(field_err("side", RejectCode::InvalidField, format!("side {s:?} is not bid or ask")))
    }
}

/// Names the snapshot level in a field error: `asks[3]: price "x" is not a decimal`.
fn at_level(e: FieldError, side: &str, i: usize) -> FieldError {
    FieldError { reason: format!("{side}[{i}]: {}", e.reason), ..e }
}

impl Decoder {
    /// Decodes one row, queueing its events; on error nothing is queued and no state changes.
    fn row(&mut self, rec: &csv::StringRecord, line: u64, interner: &mut Interner) -> Result<RowOut, FieldError> {
        let exchange = required(rec, self.common.exchange, "exchange")?;
        let symbol_raw = required(rec, self.common.symbol, "symbol")?;
        let exch_ts = tardis_time(cell(rec, self.common.timestamp), "timestamp")?;
        let local_ts = match self.common.local_timestamp {
            Some(c) => tardis_time(cell(rec, c), "local_timestamp")?,
            None => None,
        };
        let ts = Ts(exch_ts.or(local_ts).ok_or_else(|| missing("timestamp"))?);
        let skew = match (exch_ts, local_ts) {
            (Some(e), Some(l)) => Some(l - e),
            _ => None,
        };
        let mut out = RowOut { skew, ignored: false };

        match self.cols {
            Cols::Trades { id, side, price, amount } => {
                let price = parse_price(required(rec, price, "price")?, "price")?;
                let qty = parse_qty(required(rec, amount, "amount")?, "amount", true)?;
                let aggressor = match cell(rec, side) {
                    "" => None,
                    s if s.eq_ignore_ascii_case("unknown") => None,
                    s => match Side::parse(s) {
                        Some(side) => Some(side),
                        None => return Err(field_err("side", RejectCode::InvalidField, format!("side {s:?} is not buy, sell or unknown"))),
                    },
                };
                let trade_id = match cell(rec, id) {
                    "" => OrderKey::from(format!("T{line}")),
                    id => OrderKey::from(id),
                };
                let venue = self.names.venue(exchange, interner);
                let symbol = self.names.symbol(symbol_raw, interner);
                let kind =
                    EventKind::Trade(Trade { trade_id, price, qty, buy_account: None, sell_account: None, buy_order_id: None, sell_order_id: None, aggressor });
                self.pending.push_back(Item::Event(Event { ts, seq: line, venue, symbol, kind }));
            }
            Cols::Quotes { ask_amount, ask_price, bid_price, bid_amount } => {
                let ask_qty = opt(cell(rec, ask_amount), |s| parse_qty(s, "ask_amount", false))?;
                let ask = opt(cell(rec, ask_price), |s| parse_price(s, "ask_price"))?;
                let bid = opt(cell(rec, bid_price), |s| parse_price(s, "bid_price"))?;
                let bid_qty = opt(cell(rec, bid_amount), |s| parse_qty(s, "bid_amount", false))?;
                if bid.is_none() && ask.is_none() {
                    return Err(field_err("bid_price", RejectCode::MissingField, "a quote needs a bid_price or an ask_price".into()));
                }
                let venue = self.names.venue(exchange, interner);
                let symbol = self.names.symbol(symbol_raw, interner);
                let kind = EventKind::Quote(Quote { bid, bid_qty, ask, ask_qty });
                self.pending.push_back(Item::Event(Event { ts, seq: line, venue, symbol, kind }));
            }
            Cols::L2 { is_snapshot, side, price, amount } => {
                let snapshot = bool_field(cell(rec, is_snapshot), "is_snapshot")?;
                let side = book_side(cell(rec, side))?;
                let price = parse_price(required(rec, price, "price")?, "price")?;
                let qty = parse_qty(required(rec, amount, "amount")?, "amount", false)?;
                let venue = self.names.venue(exchange, interner);
                let symbol = self.names.symbol(symbol_raw, interner);
                let ev = |kind: EventKind| Item::Event(Event { ts, seq: line, venue, symbol, kind });
                let book = self.books.entry((venue, symbol)).or_default();
                if snapshot && !book.in_snapshot {
                    // A new snapshot: the book is rebuilt from it.
                    for &(s, p) in book.levels.keys() {
                        self.pending.push_back(ev(level_cancel(s, p)));
                    }
                    book.levels.clear();
                }
                book.in_snapshot = snapshot;
                if qty == Qty::ZERO {
                    if book.levels.remove(&(side, price)).is_some() {
                        self.pending.push_back(ev(level_cancel(side, price)));
                    } else {
                        out.ignored = true;
                    }
                } else {
                    match book.levels.insert((side, price), qty) {
                        None => self.pending.push_back(ev(level_new(side, price, qty))),
                        Some(old) if old != qty => self.pending.push_back(ev(level_amend(side, price, qty))),
                        Some(_) => {}
                    }
                }
            }
            Cols::Snapshot(ref levels) => {
                self.snap.clear();
                for (i, lv) in levels.iter().enumerate() {
                    for (side, cols) in [(Side::Sell, lv.ask), (Side::Buy, lv.bid)] {
                        let Some((pc, ac)) = cols else { continue };
                        let name = if side == Side::Sell { "asks" } else { "bids" };
                        let p = cell(rec, pc);
                        if p.is_empty() {
                            continue; // no level this deep
                        }
                        let price = parse_price(p, "price").map_err(|e| at_level(e, name, i))?;
                        let a = cell(rec, ac);
                        if a.is_empty() {
                            return Err(at_level(missing("amount"), name, i));
                        }
                        let qty = parse_qty(a, "amount", false).map_err(|e| at_level(e, name, i))?;
                        if qty.is_positive() {
                            self.snap.push((side, price, qty));
                        }
                    }
                }
                let venue = self.names.venue(exchange, interner);
                let symbol = self.names.symbol(symbol_raw, interner);
                let ev = |kind: EventKind| Item::Event(Event { ts, seq: line, venue, symbol, kind });
                let book = self.books.entry((venue, symbol)).or_default();
                let next: BTreeMap<(Side, Price), Qty> = self.snap.iter().map(|&(s, p, q)| ((s, p), q)).collect();
                for &(s, p) in book.levels.keys() {
                    if !next.contains_key(&(s, p)) {
                        self.pending.push_back(ev(level_cancel(s, p)));
                    }
                }
                for (&(s, p), &q) in &next {
                    match book.levels.get(&(s, p)) {
                        None => self.pending.push_back(ev(level_new(s, p, q))),
                        Some(&old) if old != q => self.pending.push_back(ev(level_amend(s, p, q))),
                        Some(_) => {}
                    }
                }
                book.levels = next;
            }
        }
        Ok(out)
    }
}

/// `trades`, `quotes`, `incremental_book_L2` and `book_snapshot_N` files of Tardis.dev. Each event's
/// `seq` is its row's line number (one row may make several book events, which share it).
pub struct TardisReader<R: Read> {
    r: csv::Reader<R>,
    rec: csv::StringRecord,
    ty: TardisType,
    d: Decoder,
    /// Data rows read, rejected ones included.
    pub rows: u64,
    /// Events made.
    pub events: u64,
    /// The largest |local_timestamp − timestamp| seen, in nanoseconds: how far the exchange's clock
    /// and Tardis's receipt disagree.
    pub max_skew_ns: i64,
    /// Rows received more than `skew_limit_ns` after their exchange time.
    pub skew_over: u64,
    /// The delay past which a row counts in `skew_over`; 1 s unless set.
    pub skew_limit_ns: i64,
    /// `incremental_book_L2` rows that removed a level the book did not hold (no event).
    pub ignored_removals: u64,
}

impl<R: BufRead + Send> TardisReader<R> {
    /// Reads the header row, which says the data type; an unsupported type is an error at line 1.
    pub fn new(r: R, file: Arc<str>) -> Result<Self, ReadError> {
        let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).buffer_capacity(1 << 16).from_reader(r);
        let header = match r.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(ReadError::Format { file: file.to_string(), line: 1, msg: format!("cannot read the CSV header: {e}") }),
        };
        let names = header_names(&header);
        if names.iter().all(|n| n.is_empty()) {
            return Err(ReadError::Format { file: file.to_string(), line: 1, msg: "no header row: the file is empty".into() });
        }
        let (common, cols, ty) = detect(&names, &file).map_err(|msg| ReadError::Format { file: file.to_string(), line: 1, msg })?;
        let d = Decoder { file, common, cols, names: NameCache::default(), books: FxHashMap::default(), pending: VecDeque::new(), snap: Vec::new() };
        Ok(TardisReader {
            r,
            rec: csv::StringRecord::new(),
            ty,
            d,
            rows: 0,
            events: 0,
            max_skew_ns: 0,
            skew_over: 0,
            skew_limit_ns: 1_000_000_000,
            ignored_removals: 0,
        })
    }

    /// The data type the header named.
    pub fn data_type(&self) -> &TardisType {
        &self.ty
    }
}

impl<R: BufRead + Send> EventReader for TardisReader<R> {
    fn file(&self) -> &Arc<str> {
        &self.d.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        loop {
            if let Some(item) = self.d.pending.pop_front() {
                return Ok(Some(item));
            }
            match self.r.read_record(&mut self.rec) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    let item = csv_error(&self.d.file, e)?;
                    self.rows += 1;
                    return Ok(Some(item));
                }
            }
            self.rows += 1;
            let line = self.rec.position().map_or(0, |p| p.line());
            match self.d.row(&self.rec, line, interner) {
                Ok(out) => {
                    self.events += self.d.pending.len() as u64;
                    if let Some(skew) = out.skew {
                        self.max_skew_ns = self.max_skew_ns.max(skew.abs());
                        if skew > self.skew_limit_ns {
                            self.skew_over += 1;
                        }
                    }
                    if out.ignored {
                        self.ignored_removals += 1;
                    }
                }
                Err(e) => return Ok(Some(reject(&self.d.file, line, &self.rec, e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::{BufReader, Cursor};
    use std::path::{Path, PathBuf};

    fn tardis_dir() -> PathBuf {
        crate::shared_data_dir().expect("shared/data not found: set VIGIL_DATA_DIR").join("tardis")
    }

    fn open(path: &Path) -> Result<TardisReader<BufReader<File>>, ReadError> {
        let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TardisReader::new(BufReader::new(f), Arc::from(path.display().to_string()))
    }

    fn text(s: &'static str) -> TardisReader<Cursor<&'static [u8]>> {
        TardisReader::new(Cursor::new(s.as_bytes()), Arc::from("test.csv")).unwrap_or_else(|e| panic!("{e}"))
    }

    fn read_all<R: BufRead + Send>(r: &mut TardisReader<R>, interner: &mut Interner) -> (Vec<Event>, Vec<Reject>) {
        let (mut events, mut rejects) = (Vec::new(), Vec::new());
        while let Some(item) = r.next(interner).unwrap_or_else(|e| panic!("{e}")) {
            match item {
                Item::Event(e) => events.push(e),
                Item::Reject(r) => rejects.push(r),
            }
        }
        (events, rejects)
    }

    /// Data rows of a file, counted without the reader: non-blank lines but the header.
    fn data_rows(text: &str) -> usize {
        text.lines().filter(|l| !l.trim().is_empty()).count() - 1
    }

    fn read_text(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The levels the level-order events leave, applied in order as a book keyed by order id would.
    fn apply(held: &mut BTreeMap<String, (Side, Price, Qty)>, e: &Event) {
        match &e.kind {
            EventKind::New(n) => {
                let price = n.price.expect("a level order has a price");
                assert_eq!(n.order_id, level_order_id(n.side, price));
                assert!(held.insert(n.order_id.to_string(), (n.side, price, n.qty)).is_none(), "line {}: new of a held level {}", e.seq, n.order_id);
            }
            EventKind::Amend(a) => {
                let level = held.get_mut(a.order_id.as_str()).unwrap_or_else(|| panic!("line {}: amend of {} not held", e.seq, a.order_id));
                assert_eq!(a.price, None);
                level.2 = a.qty.expect("an amend of a level sets its size");
            }
            EventKind::Cancel(c) => {
                assert!(held.remove(c.order_id.as_str()).is_some(), "line {}: cancel of {} not held", e.seq, c.order_id);
            }
            k => panic!("line {}: not a level order: {k:?}", e.seq),
        }
    }

    fn levels_of(held: &BTreeMap<String, (Side, Price, Qty)>) -> BTreeMap<(Side, Price), Qty> {
        held.values().map(|&(s, p, q)| ((s, p), q)).collect()
    }

    /// An incremental_book_L2 file's final book, rebuilt from its text: a snapshot row after a
    /// non-snapshot row starts the book again; amount 0 removes the level.
    fn rebuild_l2(text: &str) -> BTreeMap<(Side, Price), Qty> {
        let mut book = BTreeMap::new();
        let mut last_snapshot = false;
        for l in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = l.split(',').collect();
            let snapshot = f[4] == "true";
            if snapshot && !last_snapshot {
                book.clear();
            }
            last_snapshot = snapshot;
            let side = if f[5] == "bid" { Side::Buy } else { Side::Sell };
            if q(f[7]) == Qty::ZERO {
                book.remove(&(side, p(f[6])));
            } else {
                book.insert((side, p(f[6])), q(f[7]));
            }
        }
        book
    }

    #[test]
    fn real_trades_sample() {
        let path = tardis_dir().join("binance-futures_trades_BTCUSDT_2020-02-22_sample.csv");
        let rows = data_rows(&read_text(&path));
        let mut interner = Interner::new();
        let mut r = open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.data_type(), &TardisType::Trades);
        let (events, rejects) = read_all(&mut r, &mut interner);
        assert!(rejects.is_empty(), "{:?}", rejects.first());
        assert_eq!(events.len(), rows);
        assert_eq!((r.rows, r.events), (rows as u64, rows as u64));
        // binance-futures,BTCUSDT,1582329602111000,1582329602418379,42377944,buy,9682,0.132
        let first = &events[0];
        assert_eq!(first.ts, Ts(1_582_329_602_111_000_000));
        assert_eq!(first.seq, 2);
        let names = interner.names();
        assert_eq!(&*names.venue(first.venue), "binance-futures");
        assert_eq!(&*names.symbol(first.symbol), "BTC-USDT");
        let EventKind::Trade(t) = &first.kind else { panic!("{:?}", first.kind) };
        assert_eq!(t.trade_id.as_str(), "42377944");
        assert_eq!(t.price, Price(968_200_000_000));
        assert_eq!(t.qty, Qty(13_200_000));
        assert_eq!(t.aggressor, Some(Side::Buy));
        assert_eq!((t.buy_account, t.sell_account, &t.buy_order_id, &t.sell_order_id), (None, None, &None, &None));
        assert!(r.max_skew_ns >= 307_379_000, "{}", r.max_skew_ns);
        assert!(events.iter().all(|e| matches!(&e.kind, EventKind::Trade(t) if t.aggressor.is_some())));
    }

    #[test]
    fn real_quotes_sample() {
        let path = tardis_dir().join("binance-futures_quotes_BTCUSDT_2020-02-22_sample.csv");
        let rows = data_rows(&read_text(&path));
        let mut interner = Interner::new();
        let mut r = open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.data_type(), &TardisType::Quotes);
        let (events, rejects) = read_all(&mut r, &mut interner);
        assert!(rejects.is_empty(), "{:?}", rejects.first());
        assert_eq!(events.len(), rows);
        // binance-futures,BTCUSDT,1582329601096000,1582329603502092,0.84,9682,9681.92,0.67
        let first = &events[0];
        assert_eq!(first.ts, Ts(1_582_329_601_096_000_000));
        let want =
            Quote { bid: Some(Price(968_192_000_000)), bid_qty: Some(Qty(67_000_000)), ask: Some(Price(968_200_000_000)), ask_qty: Some(Qty(84_000_000)) };
        assert_eq!(first.kind, EventKind::Quote(want));
        // The first row arrived 2.406092 s after its exchange time.
        assert!(r.max_skew_ns >= 2_406_092_000, "{}", r.max_skew_ns);
        assert!(r.skew_over >= 1);
    }

    #[test]
    fn every_supported_fixture_reads_cleanly() {
        let dir = tardis_dir().join("fixtures");
        let mut read = 0;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap_or_else(|e| panic!("{e}")).path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if name.contains("derivative_ticker") {
                match open(&path) {
                    Err(ReadError::Format { line: 1, msg, .. }) => {
                        assert!(msg.contains("derivative_ticker data is not supported"), "{msg}");
                        assert!(msg.contains("incremental_book_L2"), "{msg}");
                    }
                    Err(e) => panic!("{name}: {e}"),
                    Ok(_) => panic!("{name}: accepted"),
                }
                continue;
            }
            let rows = data_rows(&read_text(&path));
            let mut r = open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (events, rejects) = read_all(&mut r, &mut Interner::new());
            assert!(rejects.is_empty(), "{name}: {:?}", rejects.first());
            assert!(!events.is_empty(), "{name}");
            assert_eq!(r.rows as usize, rows, "{name}");
            read += 1;
        }
        assert!(read >= 8, "only {read} fixtures read");
    }

    #[test]
    fn nanosecond_and_microsecond_fixtures_agree() {
        let dir = tardis_dir().join("fixtures");
        let mut interner = Interner::new();
        let (ns, _) = read_all(&mut open(&dir.join("crate_trades_1.csv")).unwrap_or_else(|e| panic!("{e}")), &mut interner);
        let (us, _) = read_all(&mut open(&dir.join("bitmex_trades_XBTUSD.csv")).unwrap_or_else(|e| panic!("{e}")), &mut interner);
        assert_eq!(ns[0].ts, Ts(1_583_020_803_145_000_000));
        assert_eq!(us[0].ts, ns[0].ts);
        assert_eq!(us[0].symbol, ns[0].symbol);
        assert_eq!(&*interner.names().symbol(ns[0].symbol), "BTC-USD");
        // The same BitMEX trade, ccc3c1fa-…, sell 2152 at 8531.5.
        assert_eq!(us[0].kind, ns[0].kind);
    }

    #[test]
    fn deribit_l2_levels_match_an_independent_rebuild() {
        for name in ["deribit_incremental_book_L2_BTC-PERPETUAL.csv", "crate_deltas_with_snapshot.csv", "crate_deltas_1.csv"] {
            let path = tardis_dir().join("fixtures").join(name);
            let text = read_text(&path);
            let want = rebuild_l2(&text);
            assert!(!want.is_empty(), "{name}");
            let mut r = open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.data_type(), &TardisType::IncrementalBookL2);
            let (events, rejects) = read_all(&mut r, &mut Interner::new());
            assert!(rejects.is_empty(), "{name}: {:?}", rejects.first());
            let mut held = BTreeMap::new();
            for e in &events {
                apply(&mut held, e);
            }
            assert_eq!(levels_of(&held), want, "{name}: the events' book");
            assert_eq!(r.d.books.len(), 1, "{name}");
            for book in r.d.books.values() {
                assert_eq!(book.levels, want, "{name}: the reader's book");
            }
            if name.starts_with("deribit") {
                // 6422 is written without a decimal point; its id is the canonical price.
                assert!(held.contains_key("L2:a:6422") && held.contains_key("L2:a:6421.5"));
                assert_eq!(events.len(), data_rows(&text));
            }
            if name == "crate_deltas_with_snapshot.csv" {
                // 49998 is removed without being held; the second snapshot cancels the four levels held.
                assert_eq!(r.ignored_removals, 1);
                let cancels: Vec<&Event> = events.iter().filter(|e| matches!(e.kind, EventKind::Cancel(_))).collect();
                assert_eq!(cancels.len(), 4);
                assert!(cancels.iter().all(|e| e.seq == 7), "{cancels:?}");
            }
        }
    }

    /// One book_snapshot_N row's levels, read from the text by column position.
    fn row_levels(header: &[&str], row: &str) -> BTreeMap<(Side, Price), Qty> {
        let v: Vec<&str> = row.split(',').collect();
        let mut out = BTreeMap::new();
        for k in (4..header.len()).step_by(2) {
            assert!(header[k].ends_with(".price") && header[k + 1].ends_with(".amount"));
            if v[k].is_empty() {
                continue;
            }
            let side = if header[k].starts_with("asks") { Side::Sell } else { Side::Buy };
            out.insert((side, p(v[k])), q(v[k + 1]));
        }
        out
    }

    #[test]
    fn book_snapshots_hold_each_row_after_its_events() {
        for (name, depth) in [("binance-futures_book_snapshot_5_BTCUSDT.csv", 5), ("binance-futures_book_snapshot_25_BTCUSDT.csv", 25)] {
            let path = tardis_dir().join("fixtures").join(name);
            let text = read_text(&path);
            let lines: Vec<&str> = text.lines().collect();
            let header: Vec<&str> = lines[0].split(',').collect();
            let mut r = open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.data_type(), &TardisType::BookSnapshot(depth));
            let (events, rejects) = read_all(&mut r, &mut Interner::new());
            assert!(rejects.is_empty(), "{name}: {:?}", rejects.first());
            assert_eq!(events.iter().filter(|e| e.seq == 2).count(), 2 * depth, "{name}: the first row makes every level");
            let mut held = BTreeMap::new();
            let mut k = 0;
            for (i, row) in lines.iter().enumerate().skip(1) {
                let line = i as u64 + 1;
                while k < events.len() && events[k].seq == line {
                    apply(&mut held, &events[k]);
                    k += 1;
                }
                assert_eq!(levels_of(&held), row_levels(&header, row), "{name}: line {line}");
            }
            assert_eq!(k, events.len());
        }
    }

    #[test]
    fn bad_rows_are_rejected_and_reading_goes_on() {
        let mut r = text(
            "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
             binance,BTCUSDT,1582329602111000,1582329602418379,1,buy,abc,0.1\n\
             binance,BTCUSDT,1582329602111000,1582329602418379,2,buy,9682\n\
             binance,BTCUSDT,12x,1582329602418379,3,buy,9682,0.1\n\
             binance,BTCUSDT,1582329602111000,1582329602418379,4,hold,9682,0.1\n\
             binance,BTCUSDT,1582329602111000,1582329602418379,5,buy,9682,0\n\
             binance,BTCUSDT,99999999999999999,1582329602418379,6,buy,9682,0.1\n\
             binance,BTCUSDT,,1582329602418379,,unknown,9682,0.1\n\
             binance,BTCUSDT,1582329602111000,1582329602418379,8,sell,9682.5,0.2\n",
        );
        let mut interner = Interner::new();
        let (events, rejects) = read_all(&mut r, &mut interner);
        let got: Vec<(u64, Option<&str>, RejectCode)> = rejects.iter().map(|r| (r.line, r.field, r.code)).collect();
        assert_eq!(
            got,
            [
                (2, Some("price"), RejectCode::InvalidDecimal),
                (3, Some("amount"), RejectCode::MissingField),
                (4, Some("timestamp"), RejectCode::InvalidTimestamp),
                (5, Some("side"), RejectCode::InvalidField),
                (6, Some("amount"), RejectCode::InvalidQty),
                (7, Some("timestamp"), RejectCode::InvalidTimestamp),
            ]
        );
        assert_eq!(rejects[0].reason, "price \"abc\" is not a decimal");
        assert_eq!(rejects[0].raw, "binance,BTCUSDT,1582329602111000,1582329602418379,1,buy,abc,0.1");
        assert_eq!(events.len(), 2);
        // No exchange time: the local one; no id: the line; unknown side: no aggressor.
        assert_eq!((events[0].seq, events[0].ts), (8, Ts(1_582_329_602_418_379_000)));
        let EventKind::Trade(t) = &events[0].kind else { panic!() };
        assert_eq!((t.trade_id.as_str(), t.aggressor), ("T8", None));
        assert_eq!(events[1].seq, 9);
        assert_eq!(r.rows, 8);
        assert_eq!(r.events, 2);
    }

    #[test]
    fn quotes_and_book_rows_refuse_bad_values() {
        let mut r = text(
            "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n\
             x,BTCUSDT,1582329601096000,1582329603502092,,,,\n\
             x,BTCUSDT,1582329601096000,1582329603502092,-1,9682,9681,1\n\
             x,BTCUSDT,1582329601096000,1582329603502092,,,9681,\n",
        );
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        let got: Vec<(u64, Option<&str>, RejectCode)> = rejects.iter().map(|r| (r.line, r.field, r.code)).collect();
        assert_eq!(got, [(2, Some("bid_price"), RejectCode::MissingField), (3, Some("ask_amount"), RejectCode::InvalidQty)]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::Quote(Quote { bid: Some(Price::from_int(9681)), bid_qty: None, ask: None, ask_qty: None }));

        let mut r = text(
            "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
             deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,maybe,ask,6421.5,10\n\
             deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,middle,6421.5,10\n\
             deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6421.5,10\n\
             deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,bid,6421,5\n\
             deribit,BTC-PERPETUAL,1585699200300000,1585699200355684,false,ask,6421.50,12\n\
             deribit,BTC-PERPETUAL,1585699200300000,1585699200355684,false,ask,6421.5,12\n\
             deribit,BTC-PERPETUAL,1585699200300000,1585699200355684,false,bid,6421.0,0\n\
             deribit,BTC-PERPETUAL,1585699200400000,1585699200455684,true,ask,6500,1\n",
        );
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        let got: Vec<(u64, Option<&str>, RejectCode)> = rejects.iter().map(|r| (r.line, r.field, r.code)).collect();
        assert_eq!(got, [(2, Some("is_snapshot"), RejectCode::InvalidField), (3, Some("side"), RejectCode::InvalidField)]);
        let kinds: Vec<(u64, String)> = events
            .iter()
            .map(|e| {
                let what = match &e.kind {
                    EventKind::New(n) => format!("new {} {}", n.order_id, n.qty),
                    EventKind::Amend(a) => format!("amend {} {:?}", a.order_id, a.qty),
                    EventKind::Cancel(c) => format!("cancel {}", c.order_id),
                    k => format!("{k:?}"),
                };
                (e.seq, what)
            })
            .collect();
        let want: Vec<(u64, String)> = [
            (4, "new L2:a:6421.5 10"),
            (5, "new L2:b:6421 5"),
            (6, "amend L2:a:6421.5 Some(12)"),
            // line 7 repeats the size: no event
            (8, "cancel L2:b:6421"),
            (9, "cancel L2:a:6421.5"),
            (9, "new L2:a:6500 1"),
        ]
        .iter()
        .map(|&(l, s)| (l, s.to_string()))
        .collect();
        assert_eq!(kinds, want);
        assert_eq!(r.ignored_removals, 0);
    }

    #[test]
    fn snapshot_rows_refuse_bad_levels() {
        let mut r = text(concat!(
            "exchange,symbol,timestamp,local_timestamp,",
            "asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,asks[1].amount,bids[1].price,bids[1].amount\n",
            "b,BTCUSDT,1598918403696000,1598918403810979,11657.08,1.714,11657.07,10.896,,,11656,1\n\
             b,BTCUSDT,1598918403696000,1598918403810979,11657.08,1.714,11657.07,10.896,11658,,11656,1\n\
             b,BTCUSDT,1598918403696000,1598918403810979,11657.08,1.714,x,10.896,11658,1,11656,1\n\
             b,BTCUSDT,1598918403796000,1598918403810979,11657.08,1.5,11657.07,10.896,,,,\n",
        ));
        assert_eq!(r.data_type(), &TardisType::BookSnapshot(2));
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        let got: Vec<(u64, Option<&str>, RejectCode)> = rejects.iter().map(|r| (r.line, r.field, r.code)).collect();
        assert_eq!(got, [(3, Some("amount"), RejectCode::MissingField), (4, Some("price"), RejectCode::InvalidDecimal)]);
        assert_eq!(rejects[1].reason, "bids[0]: price \"x\" is not a decimal");
        let mut held = BTreeMap::new();
        for e in &events {
            apply(&mut held, e);
        }
        let want: BTreeMap<(Side, Price), Qty> = [((Side::Sell, p("11657.08")), q("1.5")), ((Side::Buy, p("11657.07")), q("10.896"))].into_iter().collect();
        assert_eq!(levels_of(&held), want);
        assert_eq!(events.iter().filter(|e| e.seq == 5).count(), 2, "an amend and a cancel");
    }

    #[test]
    fn unsupported_headers_are_format_errors() {
        let open_text = |name: &str, s: &'static str| TardisReader::new(Cursor::new(s.as_bytes()), Arc::from(name));
        let trades_header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n";
        match open_text("binance-futures_liquidations_2020-02-01_BTCUSDT.csv", trades_header) {
            Err(ReadError::Format { line: 1, msg, .. }) => assert!(msg.starts_with("liquidations data is not supported"), "{msg}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("liquidations accepted"),
        }
        let options = concat!(
            "exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,open_interest,last_price,",
            "bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho\n"
        );
        match open_text("x.csv", options) {
            Err(ReadError::Format { msg, .. }) => assert!(msg.starts_with("options_chain data is not supported"), "{msg}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("options_chain accepted"),
        }
        assert!(matches!(open_text("x.csv", ""), Err(ReadError::Format { .. })));
        assert!(matches!(open_text("x.csv", "symbol,timestamp,price\n"), Err(ReadError::Format { .. })));
        assert!(open_text("x.csv", trades_header).is_ok());
    }
}
