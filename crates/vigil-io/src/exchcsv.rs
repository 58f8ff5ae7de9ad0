//! Exchange trade files as CSV.
//!
//! [`BinanceCsvReader`]: Binance public data (data.binance.vision, github.com/binance/binance-public-data)
//! `trades` and `aggTrades` files. Spot files have no header: `trade_id,price,qty,quote_qty,time,is_buyer_maker,
//! is_best_match` and `agg_trade_id,price,qty,first_trade_id,last_trade_id,time,is_buyer_maker,is_best_match`;
//! USD-M futures files have one (`id,price,qty,quote_qty,time,is_buyer_maker`,
//! `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker`). The symbol and
//! the kind come from the file name (`BTCUSDT-trades-2024-01-01.csv`, `BTCUSDT-aggTrades-2024-01.zip`).
//! Times are milliseconds since the epoch, microseconds in spot files from 2025 on.
//!
//! [`CcxtCsvReader`]: trades as saved to CSV from ccxt's `fetch_trades` (docs.ccxt.com, the trade
//! structure): a header row with at least `symbol`, `timestamp` (milliseconds), `side` (the taker's),
//! `price` and `amount`; `id` and `exchange` where present; other columns (`datetime`, `cost`,
//! `takerOrMaker`, `type`, `order`, `fee`, …) are ignored.

use crate::decode::FieldError;
use crate::read::{EventReader, Item};
use crate::reject::RejectCode;
use crate::symbols::normalise_symbol;
use crate::tardis::{cell, csv_error, digits, field_err, header_names, in_range, parse_price, parse_qty, reject, required, NameCache};
use crate::ReadError;
use std::io::{BufRead, Read};
use std::sync::Arc;
use vigil_core::{Event, EventKind, Interner, Side, SymbolId, Trade, TradeKey, Ts, VenueId};

/// Which Binance file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BinanceKind {
    /// `trades`: every trade.
    Trades,
    /// `aggTrades`: trades of one taker order at one price, aggregated.
    AggTrades,
}

/// What a Binance public-data file name says: `BTCUSDT-trades-2024-01-01.csv` → (`BTCUSDT`, trades).
/// The name may be a path and may end `.csv`, `.csv.gz` or `.zip`; the date is `YYYY-MM-DD` (daily
/// files) or `YYYY-MM` (monthly).
pub fn parse_binance_name(name: &str) -> Option<(String, BinanceKind)> {
    let base = name.rsplit(['/', '\\']).next()?;
    let stem = base.strip_suffix(".gz").unwrap_or(base);
    let stem = stem.strip_suffix(".zip").unwrap_or(stem);
    let stem = stem.strip_suffix(".csv").unwrap_or(stem);
    let mut parts = stem.splitn(3, '-');
    let (symbol, kind, date) = (parts.next()?, parts.next()?, parts.next()?);
    if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let kind = match kind {
        "trades" => BinanceKind::Trades,
        "aggTrades" => BinanceKind::AggTrades,
        _ => return None,
    };
    let parts: Vec<&str> = date.split('-').collect();
    let shape_ok = matches!(parts.iter().map(|p| p.len()).collect::<Vec<_>>().as_slice(), [4, 2] | [4, 2, 2]);
    if !shape_ok || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some((symbol.to_string(), kind))
}

/// The columns a Binance row is read from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct BinanceCols {
    id: usize,
    price: usize,
    qty: usize,
    time: usize,
    buyer_maker: usize,
}

impl BinanceCols {
    /// The spot files' columns, which have no header.
    fn positional(kind: BinanceKind) -> Self {
        match kind {
            BinanceKind::Trades => BinanceCols { id: 0, price: 1, qty: 2, time: 4, buyer_maker: 5 },
            BinanceKind::AggTrades => BinanceCols { id: 0, price: 1, qty: 2, time: 5, buyer_maker: 6 },
        }
    }

    /// The columns a header names (futures files).
    fn from_header(h: &csv::StringRecord) -> Result<Self, String> {
        let names: Vec<String> = header_names(h).into_iter().map(|n| n.to_ascii_lowercase()).collect();
        let need = |what: &str, alts: &[&str]| {
            names
                .iter()
                .position(|n| alts.contains(&n.as_str()))
                .ok_or_else(|| format!("the header has no {what} column (one of {}); it has {}", alts.join(", "), names.join(",")))
        };
        Ok(BinanceCols {
            id: need("trade id", &["id", "trade_id", "agg_trade_id"])?,
            price: need("price", &["price"])?,
            qty: need("quantity", &["qty", "quantity"])?,
            time: need("time", &["time", "transact_time", "timestamp"])?,
            buyer_maker: need("buyer-is-maker", &["is_buyer_maker"])?,
        })
    }
}

/// A Binance time in nanoseconds: milliseconds, or microseconds where ≥ 10¹⁴ (files from 2025 on;
/// 10¹⁴ ms is the year 5138, 10¹⁴ µs 1973).
fn binance_time(s: &str) -> Result<Ts, FieldError> {
    let Some(v) = digits(s) else {
        return Err(field_err("time", RejectCode::InvalidTimestamp, format!("time {s:?} is not a whole number of milliseconds since the epoch")));
    };
    let ns = if v >= 100_000_000_000_000 { v.checked_mul(1_000) } else { v.checked_mul(1_000_000) };
    in_range(ns, s, "time")
}

/// One Binance row: its time and trade.
fn binance_row(rec: &csv::StringRecord, c: BinanceCols, kind: BinanceKind) -> Result<(Ts, EventKind), FieldError> {
    let id_field = match kind {
        BinanceKind::Trades => "id",
        BinanceKind::AggTrades => "agg_trade_id",
    };
    let id = required(rec, c.id, id_field)?;
    if digits(id).is_none() {
        return Err(field_err(id_field, RejectCode::InvalidField, format!("{id_field} {id:?} is not a whole number")));
    }
    let price = parse_price(required(rec, c.price, "price")?, "price")?;
    let qty = parse_qty(required(rec, c.qty, "qty")?, "qty", true)?;
    let ts = binance_time(required(rec, c.time, "time")?)?;
    let m = required(rec, c.buyer_maker, "is_buyer_maker")?;
    // The buyer made the resting order: the seller took it.
    let aggressor = if m.eq_ignore_ascii_case("true") {
        Side::Sell
    } else if m.eq_ignore_ascii_case("false") {
        Side::Buy
    } else {
        return Err(field_err("is_buyer_maker", RejectCode::InvalidField, format!("is_buyer_maker {m:?} is not true or false")));
    };
    let trade_id = match kind {
        BinanceKind::Trades => TradeKey::from(id),
        BinanceKind::AggTrades => TradeKey::from(format!("A{id}")),
    };
    let trade = Trade { trade_id, price, qty, buy_account: None, sell_account: None, buy_order_id: None, sell_order_id: None, aggressor: Some(aggressor) };
    Ok((ts, EventKind::Trade(trade)))
}

/// Binance public-data `trades` and `aggTrades` CSV files, spot (no header) or USD-M futures (a
/// header). Venue `binance`; the symbol from the file name, in the spec's form. Each event's `seq` is
/// its line number.
pub struct BinanceCsvReader<R: Read> {
    r: csv::Reader<R>,
    rec: csv::StringRecord,
    file: Arc<str>,
    kind: BinanceKind,
    symbol: String,
    cols: BinanceCols,
    /// The first row, read while looking for a header, is data still to be yielded.
    replay: bool,
    ids: Option<(VenueId, SymbolId)>,
    /// Whether the file began with a header row.
    pub header: bool,
    /// Data rows read, rejected ones included.
    pub rows: u64,
    /// Events made.
    pub events: u64,
}

impl<R: BufRead + Send> BinanceCsvReader<R> {
    /// `name` is the file's own name (`BTCUSDT-trades-2024-01-01.csv`, a path or a zip member name),
    /// which carries the symbol and the kind. Reads the first row to see whether it is a header.
    pub fn new(r: R, file: Arc<str>, name: &str) -> Result<Self, ReadError> {
        let Some((raw_symbol, kind)) = parse_binance_name(name) else {
            return Err(ReadError::Format {
                file: file.to_string(),
                line: 0,
                msg: format!(
                    "{name:?} is not a Binance public-data file name (SYMBOL-trades-YYYY-MM-DD.csv, SYMBOL-aggTrades-YYYY-MM-DD.csv, \
                     or monthly SYMBOL-trades-YYYY-MM.csv), which carries the symbol and the kind"
                ),
            });
        };
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).buffer_capacity(1 << 16).from_reader(r);
        let mut rec = csv::StringRecord::new();
        let any = match r.read_record(&mut rec) {
            Ok(any) => any,
            Err(e) => return Err(ReadError::Format { file: file.to_string(), line: 1, msg: format!("cannot read the first row: {e}") }),
        };
        // Spot files start with a trade id; a header starts with a name.
        let first = rec.get(0).map_or("", |f| f.trim().trim_start_matches('\u{feff}'));
        let header = any && digits(first).is_none();
        let cols = if header {
            BinanceCols::from_header(&rec).map_err(|msg| ReadError::Format { file: file.to_string(), line: 1, msg })?
        } else {
            BinanceCols::positional(kind)
        };
        Ok(BinanceCsvReader { r, rec, file, kind, symbol: normalise_symbol(&raw_symbol), cols, replay: any && !header, ids: None, header, rows: 0, events: 0 })
    }

    pub fn kind(&self) -> BinanceKind {
        self.kind
    }
}

impl<R: BufRead + Send> EventReader for BinanceCsvReader<R> {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        if self.replay {
            self.replay = false;
        } else {
            match self.r.read_record(&mut self.rec) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    let item = csv_error(&self.file, e)?;
                    self.rows += 1;
                    return Ok(Some(item));
                }
            }
        }
        self.rows += 1;
        let line = self.rec.position().map_or(0, |p| p.line());
        let (venue, symbol) = match self.ids {
            Some(ids) => ids,
            None => {
                let ids = (interner.venue("binance"), interner.symbol(&self.symbol));
                self.ids = Some(ids);
                ids
            }
        };
        Ok(Some(match binance_row(&self.rec, self.cols, self.kind) {
            Ok((ts, kind)) => {
                self.events += 1;
                Item::Event(Event { ts, seq: line, venue, symbol, kind })
            }
            Err(e) => reject(&self.file, line, &self.rec, e),
        }))
    }
}

/// The columns of a ccxt trades file.
#[derive(Copy, Clone, Debug)]
struct CcxtCols {
    symbol: usize,
    timestamp: usize,
    side: usize,
    price: usize,
    amount: usize,
    id: Option<usize>,
    exchange: Option<usize>,
}

/// ccxt timestamps are integer milliseconds; a spreadsheet or pandas may have added `.0`.
fn ccxt_time(s: &str) -> Result<Ts, FieldError> {
    let int = match s.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int,
        _ => s,
    };
    let Some(ms) = digits(int) else {
        return Err(field_err("timestamp", RejectCode::InvalidTimestamp, format!("timestamp {s:?} is not a whole number of milliseconds since the epoch")));
    };
    in_range(ms.checked_mul(1_000_000), s, "timestamp")
}

/// One ccxt row, checked.
struct CcxtRow<'r> {
    ts: Ts,
    symbol: &'r str,
    exchange: Option<&'r str>,
    kind: EventKind,
}

fn ccxt_row(rec: &csv::StringRecord, c: CcxtCols, line: u64) -> Result<CcxtRow<'_>, FieldError> {
    let symbol = required(rec, c.symbol, "symbol")?;
    let ts = ccxt_time(required(rec, c.timestamp, "timestamp")?)?;
    let aggressor = match cell(rec, c.side) {
        "" => None,
        s => match Side::parse(s) {
            Some(side) => Some(side),
            None => return Err(field_err("side", RejectCode::InvalidField, format!("side {s:?} is not buy or sell"))),
        },
    };
    let price = parse_price(required(rec, c.price, "price")?, "price")?;
    let qty = parse_qty(required(rec, c.amount, "amount")?, "amount", true)?;
    let trade_id = match c.id.map(|i| cell(rec, i)) {
        Some(id) if !id.is_empty() => TradeKey::from(id),
        _ => TradeKey::from(format!("C{line}")),
    };
    let exchange = c.exchange.map(|i| cell(rec, i)).filter(|e| !e.is_empty());
    let trade = Trade { trade_id, price, qty, buy_account: None, sell_account: None, buy_order_id: None, sell_order_id: None, aggressor };
    Ok(CcxtRow { ts, symbol, exchange, kind: EventKind::Trade(trade) })
}

/// Trades saved to CSV from ccxt's `fetch_trades`. The venue is the row's `exchange` where the file
/// has that column and the row fills it, else the one given; symbols (`BTC/USDT`) in the spec's form.
/// Each event's `seq` is its line number.
pub struct CcxtCsvReader<R: Read> {
    r: csv::Reader<R>,
    rec: csv::StringRecord,
    file: Arc<str>,
    cols: CcxtCols,
    default_venue: String,
    names: NameCache,
    /// Data rows read, rejected ones included.
    pub rows: u64,
    /// Events made.
    pub events: u64,
}

impl<R: BufRead + Send> CcxtCsvReader<R> {
    /// Reads the header row. `default_venue` names the venue of rows without an `exchange` value; it
    /// may be empty only when the file has an `exchange` column.
    pub fn new(r: R, file: Arc<str>, default_venue: &str) -> Result<Self, ReadError> {
        let fmt = |msg: String| ReadError::Format { file: file.to_string(), line: 1, msg };
        let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).buffer_capacity(1 << 16).from_reader(r);
        let header = match r.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(fmt(format!("cannot read the CSV header: {e}"))),
        };
        let names: Vec<String> = header_names(&header).into_iter().map(|n| n.to_ascii_lowercase()).collect();
        let find = |n: &str| names.iter().position(|h| h == n);
        let need =
            |n: &str| find(n).ok_or_else(|| fmt(format!("the header has no `{n}` column; a ccxt trades file needs symbol, timestamp, side, price, amount")));
        let cols = CcxtCols {
            symbol: need("symbol")?,
            timestamp: need("timestamp")?,
            side: need("side")?,
            price: need("price")?,
            amount: need("amount")?,
            id: find("id"),
            exchange: find("exchange"),
        };
        let default_venue = default_venue.trim().to_ascii_lowercase();
        if default_venue.is_empty() && cols.exchange.is_none() {
            return Err(fmt("the file has no `exchange` column and no venue was given for it".into()));
        }
        Ok(CcxtCsvReader { r, rec: csv::StringRecord::new(), file, cols, default_venue, names: NameCache::default(), rows: 0, events: 0 })
    }
}

impl<R: BufRead + Send> EventReader for CcxtCsvReader<R> {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        match self.r.read_record(&mut self.rec) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                let item = csv_error(&self.file, e)?;
                self.rows += 1;
                return Ok(Some(item));
            }
        }
        self.rows += 1;
        let line = self.rec.position().map_or(0, |p| p.line());
        Ok(Some(match ccxt_row(&self.rec, self.cols, line) {
            Ok(row) => {
                if row.exchange.is_none() && self.default_venue.is_empty() {
                    reject(&self.file, line, &self.rec, field_err("exchange", RejectCode::MissingField, "exchange is missing".into()))
                } else {
                    let venue = self.names.venue(row.exchange.unwrap_or(self.default_venue.as_str()), interner);
                    let symbol = self.names.symbol(row.symbol, interner);
                    self.events += 1;
                    Item::Event(Event { ts: row.ts, seq: line, venue, symbol, kind: row.kind })
                }
            }
            Err(e) => reject(&self.file, line, &self.rec, e),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::Reject;
    use std::io::Cursor;
    use vigil_core::{Price, Qty};

    fn read_all(r: &mut dyn EventReader, interner: &mut Interner) -> (Vec<Event>, Vec<Reject>) {
        let (mut events, mut rejects) = (Vec::new(), Vec::new());
        while let Some(item) = r.next(interner).unwrap_or_else(|e| panic!("{e}")) {
            match item {
                Item::Event(e) => events.push(e),
                Item::Reject(r) => rejects.push(r),
            }
        }
        (events, rejects)
    }

    fn binance(text: &'static str, name: &str) -> BinanceCsvReader<Cursor<&'static [u8]>> {
        BinanceCsvReader::new(Cursor::new(text.as_bytes()), Arc::from(name), name).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ccxt(text: &'static str, venue: &str) -> Result<CcxtCsvReader<Cursor<&'static [u8]>>, ReadError> {
        CcxtCsvReader::new(Cursor::new(text.as_bytes()), Arc::from("ccxt.csv"), venue)
    }

    fn trade(e: &Event) -> &Trade {
        match &e.kind {
            EventKind::Trade(t) => t,
            k => panic!("not a trade: {k:?}"),
        }
    }

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn codes(rejects: &[Reject]) -> Vec<(u64, Option<&'static str>, RejectCode)> {
        rejects.iter().map(|r| (r.line, r.field, r.code)).collect()
    }

    #[test]
    fn binance_file_names() {
        assert_eq!(parse_binance_name("BTCUSDT-trades-2024-01-01.csv"), Some(("BTCUSDT".into(), BinanceKind::Trades)));
        assert_eq!(parse_binance_name("/data/spot/daily/BTCUSDT-aggTrades-2024-01.csv.gz"), Some(("BTCUSDT".into(), BinanceKind::AggTrades)));
        assert_eq!(parse_binance_name("ETHBTC-trades-2024-01-01.zip"), Some(("ETHBTC".into(), BinanceKind::Trades)));
        assert_eq!(parse_binance_name("C:\\x\\BTCUSD_PERP-trades-2024-01-01.csv"), Some(("BTCUSD_PERP".into(), BinanceKind::Trades)));
        assert_eq!(parse_binance_name("BTCUSDT-klines-2024-01-01.csv"), None);
        assert_eq!(parse_binance_name("BTCUSDT-trades.csv"), None);
        assert_eq!(parse_binance_name("BTCUSDT-trades-2024-1-01.csv"), None);
        assert_eq!(parse_binance_name("trades.csv"), None);
        let e = BinanceCsvReader::new(Cursor::new(&b""[..]), Arc::from("x.csv"), "x.csv").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("SYMBOL-trades-YYYY-MM-DD.csv"), "{e}");
    }

    #[test]
    fn binance_spot_trades_without_header() {
        let mut r = binance(
            "4135281,42283.58000000,0.00180000,76.11044400,1704067200125,True,True\n\
             4135282,42283.59000000,0.00050000,21.14179500,1704067200340,False,True\n",
            "BTCUSDT-trades-2024-01-01.csv",
        );
        assert!(!r.header);
        let mut interner = Interner::new();
        let (events, rejects) = read_all(&mut r, &mut interner);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].seq, events[0].ts), (1, Ts(1_704_067_200_125_000_000)));
        let t = trade(&events[0]);
        assert_eq!((t.trade_id.as_str(), t.price, t.qty, t.aggressor), ("4135281", p("42283.58"), q("0.0018"), Some(Side::Sell)));
        assert_eq!(trade(&events[1]).aggressor, Some(Side::Buy));
        assert_eq!(events[1].seq, 2);
        let names = interner.names();
        assert_eq!((&*names.venue(events[0].venue), &*names.symbol(events[0].symbol)), ("binance", "BTC-USDT"));
        assert_eq!((r.rows, r.events), (2, 2));
    }

    #[test]
    fn binance_futures_with_header() {
        let mut r = binance(
            "id,price,qty,quote_qty,time,is_buyer_maker\n\
             4447134181,42314.00,0.002,84.628,1704067200019,true\n\
             4447134182,42314.10,0.010,423.141,1704067200020,false\n",
            "/um/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip",
        );
        assert!(r.header);
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].seq, events[0].ts), (2, Ts(1_704_067_200_019_000_000)));
        let t = trade(&events[0]);
        assert_eq!((t.trade_id.as_str(), t.price, t.qty, t.aggressor), ("4447134181", p("42314"), q("0.002"), Some(Side::Sell)));
        assert_eq!(r.rows, 2);
    }

    #[test]
    fn binance_agg_trades_with_and_without_header() {
        let mut r = binance(
            "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n\
             1993375036,42314.00,0.150,4447134181,4447134185,1704067200019,false\n",
            "BTCUSDT-aggTrades-2024-01-01.csv",
        );
        assert_eq!(r.kind(), BinanceKind::AggTrades);
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        assert!(rejects.is_empty(), "{rejects:?}");
        let t = trade(&events[0]);
        assert_eq!((t.trade_id.as_str(), t.qty, t.aggressor), ("A1993375036", q("0.15"), Some(Side::Buy)));

        // A 2025 spot file: microseconds.
        let mut r = binance(
            "3208493,93576.00000000,0.00010000,4325245,4325245,1735689600123456,true,true\n\
             3208494,93576.01000000,0.00020000,4325246,4325247,1735689600223456,false,true\n",
            "BTCUSDT-aggTrades-2025-01-01.csv",
        );
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(events[0].ts, Ts(1_735_689_600_123_456_000));
        assert_eq!(events[1].ts, Ts(1_735_689_600_223_456_000));
        assert_eq!(trade(&events[0]).trade_id.as_str(), "A3208493");
        assert_eq!(trade(&events[1]).price, p("93576.01"));
    }

    #[test]
    fn binance_bad_rows_are_rejected_and_reading_goes_on() {
        let mut r = binance(
            "1,42283.58,0.1,1,1704067200000,true,true\n\
             2,abc,0.1,1,1704067200000,true,true\n\
             3,42283.58,0.1,1,noon,true,true\n\
             4,42283.58,0.1,1,1704067200000,maybe,true\n\
             5,42283.58,,1,1704067200000,true,true\n\
             6,42283.58,-0.1,1,1704067200000,true,true\n\
             x7,42283.58,0.1,1,1704067200000,true,true\n\
             8,42283.58,0.1\n\
             9,42283.58,0.1,1,1704067200000,false,true\n",
            "BTCUSDT-trades-2024-01-01.csv",
        );
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        assert_eq!(
            codes(&rejects),
            [
                (2, Some("price"), RejectCode::InvalidDecimal),
                (3, Some("time"), RejectCode::InvalidTimestamp),
                (4, Some("is_buyer_maker"), RejectCode::InvalidField),
                (5, Some("qty"), RejectCode::MissingField),
                (6, Some("qty"), RejectCode::InvalidQty),
                (7, Some("id"), RejectCode::InvalidField),
                (8, Some("time"), RejectCode::MissingField),
            ]
        );
        assert_eq!(rejects[0].reason, "price \"abc\" is not a decimal");
        assert_eq!(rejects[0].raw, "2,abc,0.1,1,1704067200000,true,true");
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 9]);
        assert_eq!((r.rows, r.events), (9, 2));
    }

    #[test]
    fn binance_header_without_needed_columns_is_an_error() {
        let r = BinanceCsvReader::new(Cursor::new(&b"id,price,qty\n1,2,3\n"[..]), Arc::from("f"), "BTCUSDT-trades-2024-01-01.csv");
        match r {
            Err(ReadError::Format { line: 1, msg, .. }) => assert!(msg.contains("no time column"), "{msg}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
        // An empty file reads as no rows.
        let mut r = binance("", "BTCUSDT-trades-2024-01-01.csv");
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        assert!(events.is_empty() && rejects.is_empty());
    }

    #[test]
    fn ccxt_with_exchange_column() {
        let mut r = ccxt(
            "id,timestamp,datetime,symbol,order,type,side,takerOrMaker,price,amount,cost,exchange\n\
             3344,1704067200123,2024-01-01T00:00:00.123Z,BTC/USDT,,,sell,taker,42283.58,0.5,21141.79,Binance\n\
             3345,1704067200124.0,2024-01-01T00:00:00.124Z,ETH/BTC,,,buy,taker,0.05,2,0.1,\n",
            "okx",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut interner = Interner::new();
        let (events, rejects) = read_all(&mut r, &mut interner);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].seq, events[0].ts), (2, Ts(1_704_067_200_123_000_000)));
        let t = trade(&events[0]);
        assert_eq!((t.trade_id.as_str(), t.price, t.qty, t.aggressor), ("3344", p("42283.58"), q("0.5"), Some(Side::Sell)));
        let names = interner.names();
        assert_eq!((&*names.venue(events[0].venue), &*names.symbol(events[0].symbol)), ("binance", "BTC-USDT"));
        // An empty exchange cell: the venue given.
        assert_eq!((&*names.venue(events[1].venue), &*names.symbol(events[1].symbol)), ("okx", "ETH-BTC"));
        assert_eq!(events[1].ts, Ts(1_704_067_200_124_000_000));
        assert_eq!(trade(&events[1]).aggressor, Some(Side::Buy));
    }

    #[test]
    fn ccxt_without_exchange_or_id() {
        let mut r = ccxt("timestamp,symbol,side,price,amount\n1704067200123,XBT/USD,buy,42000,1\n1704067200200,XBT/USD,,42001,2\n", "Kraken")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut interner = Interner::new();
        let (events, rejects) = read_all(&mut r, &mut interner);
        assert!(rejects.is_empty(), "{rejects:?}");
        let names = interner.names();
        assert_eq!((&*names.venue(events[0].venue), &*names.symbol(events[0].symbol)), ("kraken", "BTC-USD"));
        assert_eq!(trade(&events[0]).trade_id.as_str(), "C2");
        assert_eq!((trade(&events[1]).trade_id.as_str(), trade(&events[1]).aggressor), ("C3", None));

        assert!(matches!(ccxt("timestamp,symbol,side,price,amount\n", ""), Err(ReadError::Format { .. })));
        match ccxt("timestamp,symbol,side,amount\n", "kraken") {
            Err(ReadError::Format { line: 1, msg, .. }) => assert!(msg.contains("no `price` column"), "{msg}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn ccxt_bad_rows_are_rejected_and_reading_goes_on() {
        let mut r = ccxt(
            "id,timestamp,symbol,side,price,amount\n\
             1,1704067200123,BTC/USDT,buy,abc,1\n\
             2,,BTC/USDT,buy,42000,1\n\
             3,1704067200123,BTC/USDT,hold,42000,1\n\
             4,1704067200123,,buy,42000,1\n\
             5,1704067200123.5,BTC/USDT,buy,42000,1\n\
             6,1704067200123,BTC/USDT,sell,42000,0\n\
             7,1704067200123,BTC/USDT,sell,42000.000000001,1\n\
             8,1704067200123,BTC/USDT,sell,42000,1\n",
            "binance",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (events, rejects) = read_all(&mut r, &mut Interner::new());
        assert_eq!(
            codes(&rejects),
            [
                (2, Some("price"), RejectCode::InvalidDecimal),
                (3, Some("timestamp"), RejectCode::MissingField),
                (4, Some("side"), RejectCode::InvalidField),
                (5, Some("symbol"), RejectCode::MissingField),
                (6, Some("timestamp"), RejectCode::InvalidTimestamp),
                (7, Some("amount"), RejectCode::InvalidQty),
                (8, Some("price"), RejectCode::InvalidDecimal),
            ]
        );
        assert_eq!(rejects[6].reason, "price \"42000.000000001\" has more than 8 decimal places");
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].seq, trade(&events[0]).trade_id.as_str()), (9, "8"));
        assert_eq!((r.rows, r.events), (8, 1));
    }
}
