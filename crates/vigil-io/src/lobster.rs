//! LOBSTER (lobsterdata.com) NASDAQ message files: `time, type, order id, size, price, direction`,
//! time in seconds after midnight (New York), price in dollars × 10 000. A message file has no
//! accounts. Orders that rested before the file starts are unknown by id, so their cancels and
//! executions carry a [`LevelHint`] the book uses to take the depth off the level.

use crate::read::{EventReader, Item};
use crate::reject::{Reject, RejectCode};
use crate::ReadError;
use rustc_hash::FxHashMap;
use std::io::BufRead;
use std::sync::Arc;
use vigil_core::time::days_from_civil;
use vigil_core::{Amend, Cancel, Event, EventKind, Interner, LevelHint, NewOrder, Price, Qty, Side, SymbolId, Trade, Ts, VenueId};

/// One row of a message file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Nanoseconds after midnight, exchange local time.
    pub time_ns: i64,
    /// 1 submit, 2 partial cancel, 3 delete, 4 visible execution, 5 hidden execution, 6 cross, 7 halt.
    pub kind: u8,
    pub order_id: u64,
    pub size: i64,
    /// Dollars × 10 000.
    pub price: i64,
    /// 1 buy order, −1 sell order.
    pub direction: i8,
}

impl Message {
    pub fn side(&self) -> Side {
        if self.direction == 1 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
    /// LOBSTER's price (× 10 000) as a fixed-point price (× 10⁸).
    pub fn fixed_price(&self) -> Price {
        Price(self.price * 10_000)
    }
}

fn int(s: &str, what: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().map_err(|_| format!("{what} {s:?} is not an integer"))
}

/// Seconds after midnight, to the nearest nanosecond. LOBSTER writes up to nine decimals, and a few
/// rows carry binary floating-point residue past them (`43002.632812672004`), which rounds away.
fn seconds_ns(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (int_part, frac) = s.split_once('.').unwrap_or((s, ""));
    if int_part.is_empty() || int_part.len() > 6 || !int_part.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("time {s:?} is not seconds after midnight"));
    }
    let secs: i64 = int_part.parse().map_err(|_| format!("time {s:?} is out of range"))?;
    let mut ns: i64 = 0;
    for c in frac.bytes().chain(std::iter::repeat(b'0')).take(9) {
        ns = ns * 10 + (c - b'0') as i64;
    }
    if frac.as_bytes().get(9).is_some_and(|&c| c >= b'5') {
        ns += 1;
    }
    Ok(secs * 1_000_000_000 + ns)
}

/// Parses one message row.
pub fn parse_message(line: &str) -> Result<Message, String> {
    let mut f = line.trim_end_matches(['\r', '\n']).split(',');
    let mut next = |what: &str| f.next().ok_or_else(|| format!("missing the {what} column (a message row has 6)"));
    let time_ns = seconds_ns(next("time")?)?;
    let kind = int(next("type")?, "type")?;
    if !matches!(kind, 1..=7) {
        return Err(format!("unknown message type {kind}"));
    }
    let order_id = int(next("order id")?, "order id")?;
    let size = int(next("size")?, "size")?;
    let price = int(next("price")?, "price")?;
    let direction = int(next("direction")?, "direction")?;
    if direction != 1 && direction != -1 {
        return Err(format!("direction {direction} is not 1 or -1"));
    }
    if kind != 7 && (size <= 0 || order_id < 0) {
        return Err(format!("size {size} must be > 0"));
    }
    // Beyond these, the fixed-point conversion (× 10⁸ for sizes, × 10⁴ for prices) would overflow.
    if size > 10_000_000_000 || price.unsigned_abs() > 100_000_000_000_000 {
        return Err(format!("size {size} or price {price} is out of range"));
    }
    Ok(Message { time_ns, kind: kind as u8, order_id: order_id.max(0) as u64, size, price, direction: direction as i8 })
}

/// One row of an orderbook file: per level, (ask price, ask size, bid price, bid size).
pub fn parse_book_row(line: &str) -> Result<Vec<[i64; 4]>, String> {
    let v: Vec<i64> = line.trim_end_matches(['\r', '\n']).split(',').map(|s| int(s, "value")).collect::<Result<_, _>>()?;
    if v.is_empty() || !v.len().is_multiple_of(4) {
        return Err(format!("{} columns is not a multiple of 4", v.len()));
    }
    Ok(v.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
}

/// What a LOBSTER file name (`AAPL_2012-06-21_34200000_57600000_message_10.csv`) says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName {
    pub ticker: String,
    pub date: (i64, u32, u32),
    pub levels: usize,
}

impl FileName {
    pub fn parse(path: &str) -> Option<FileName> {
        let name = path.rsplit(['/', '\\']).next()?;
        let stem = name.strip_suffix(".csv").unwrap_or(name);
        let parts: Vec<&str> = stem.split('_').collect();
        if parts.len() < 6 {
            return None;
        }
        let n = parts.len();
        let levels = parts[n - 1].parse().ok()?;
        let date = parts[n - 5];
        let mut d = date.split('-');
        let y: i64 = d.next()?.parse().ok()?;
        let m: u32 = d.next()?.parse().ok()?;
        let day: u32 = d.next()?.parse().ok()?;
        if !(1970..=2199).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
            return None;
        }
        Some(FileName { ticker: parts[..n - 5].join("_"), date: (y, m, day), levels })
    }

    /// Midnight of the file's date in New York, as UTC nanoseconds.
    pub fn midnight_utc(&self) -> Ts {
        let (y, m, d) = self.date;
        let days = days_from_civil(y, m, d);
        Ts((days * 86_400 - new_york_offset_secs(y, m, d)) * 1_000_000_000)
    }
}

/// New York's offset from UTC on a date (US rule since 2007: daylight time from the second Sunday
/// of March to the first Sunday of November). LOBSTER's data is NASDAQ, 09:30–16:00 local.
pub fn new_york_offset_secs(y: i64, m: u32, d: u32) -> i64 {
    let weekday = |y, m, d| (days_from_civil(y, m, d) + 4).rem_euclid(7); // 0 = Sunday
    let nth_sunday = |m: u32, n: i64| {
        let first = weekday(y, m, 1);
        1 + (7 - first) % 7 + 7 * (n - 1)
    };
    let start = nth_sunday(3, 2);
    let end = nth_sunday(11, 1);
    let dst = match m {
        4..=10 => true,
        3 => d as i64 >= start,
        11 => (d as i64) < end,
        _ => false,
    };
    if dst {
        -4 * 3600
    } else {
        -5 * 3600
    }
}

/// Turns messages into events, tracking the open size of the orders it has seen submitted.
pub struct Converter {
    pub venue: VenueId,
    pub symbol: SymbolId,
    midnight: Ts,
    open: FxHashMap<u64, i64>,
    /// Trading-halt rows (type 7): they change no book and make no event.
    pub halts: u64,
}

impl Converter {
    pub fn new(venue: VenueId, symbol: SymbolId, midnight: Ts) -> Self {
        Converter { venue, symbol, midnight, open: FxHashMap::default(), halts: 0 }
    }

    /// The event of one message; `None` for a halt. `row` makes trade ids unique in the file.
    pub fn convert(&mut self, m: &Message, row: u64) -> Option<Event> {
        let ts = Ts(self.midnight.0 + m.time_ns);
        let side = m.side();
        let price = m.fixed_price();
        let qty = Qty::from_int(m.size);
        let id = || m.order_id.to_string().into();
        let hint = Some(LevelHint { side, price, qty });
        let kind = match m.kind {
            1 => {
                self.open.insert(m.order_id, m.size);
                EventKind::New(NewOrder { order_id: id(), account: None, side, price: Some(price), qty })
            }
            2 => match self.open.get_mut(&m.order_id) {
                Some(open) => {
                    *open -= m.size;
                    if *open <= 0 {
                        self.open.remove(&m.order_id);
                        EventKind::Cancel(Cancel { order_id: id(), account: None, hint })
                    } else {
                        EventKind::Amend(Amend { order_id: id(), account: None, price: None, qty: Some(Qty::from_int(*open)), hint })
                    }
                }
                None => EventKind::Amend(Amend { order_id: id(), account: None, price: None, qty: None, hint }),
            },
            3 => {
                self.open.remove(&m.order_id);
                EventKind::Cancel(Cancel { order_id: id(), account: None, hint })
            }
            4 => {
                if let Some(open) = self.open.get_mut(&m.order_id) {
                    *open -= m.size;
                    if *open <= 0 {
                        self.open.remove(&m.order_id);
                    }
                }
                // The executed order rests; the aggressor is the other side.
                let (buy_order_id, sell_order_id) = if side == Side::Buy { (Some(id()), None) } else { (None, Some(id())) };
                EventKind::Trade(Trade {
                    trade_id: format!("L{row}").into(),
                    price,
                    qty,
                    buy_account: None,
                    sell_account: None,
                    buy_order_id,
                    sell_order_id,
                    aggressor: Some(side.opposite()),
                })
            }
            // A hidden order's execution, or a cross: a trade that takes no visible depth.
            5 | 6 => EventKind::Trade(Trade {
                trade_id: format!("L{row}").into(),
                price,
                qty,
                buy_account: None,
                sell_account: None,
                buy_order_id: None,
                sell_order_id: None,
                aggressor: if m.kind == 5 { Some(side.opposite()) } else { None },
            }),
            _ => {
                self.halts += 1;
                return None;
            }
        };
        Some(Event { ts, seq: row, venue: self.venue, symbol: self.symbol, kind })
    }
}

/// `vigil replay --format lobster`: a message file (plain, or the message member of a LOBSTER zip).
pub struct LobsterReader<R> {
    r: R,
    file: Arc<str>,
    name: FileName,
    conv: Option<Converter>,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead + Send> LobsterReader<R> {
    /// `name` is the message file's own name, which carries the ticker and the date.
    pub fn new(r: R, file: Arc<str>, name: &str) -> Result<Self, ReadError> {
        let parsed = FileName::parse(name).ok_or_else(|| ReadError::Format {
            file: file.to_string(),
            line: 0,
            msg: format!("{name:?} is not a LOBSTER file name (TICKER_YYYY-MM-DD_START_END_message_LEVELS.csv), which carries the ticker and date"),
        })?;
        Ok(LobsterReader { r, file, name: parsed, conv: None, line: 0, buf: Vec::new() })
    }
}

impl<R: BufRead + Send> EventReader for LobsterReader<R> {
    fn file(&self) -> &Arc<str> {
        &self.file
    }
    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        let conv = self.conv.get_or_insert_with(|| Converter::new(interner.venue("nasdaq"), interner.symbol(&self.name.ticker), self.name.midnight_utc()));
        loop {
            self.buf.clear();
            let (n, long) =
                crate::read::read_line_capped(&mut self.r, &mut self.buf, crate::read::MAX_LINE).map_err(|e| ReadError::at(&self.file, self.line + 1, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if long {
                return Ok(Some(crate::read::too_long(&self.file, self.line, RejectCode::InvalidLobster, &self.buf)));
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t,
                Err(e) => return Ok(Some(crate::read::not_utf8(&self.file, self.line, &self.buf, e))),
            };
            if text.trim().is_empty() {
                continue;
            }
            match parse_message(text) {
                Ok(m) => {
                    if let Some(ev) = conv.convert(&m, self.line) {
                        return Ok(Some(Item::Event(ev)));
                    }
                }
                Err(reason) => {
                    return Ok(Some(Item::Reject(Reject {
                        file: self.file.clone(),
                        line: self.line,
                        field: None,
                        code: RejectCode::InvalidLobster,
                        reason,
                        raw: text.trim_end().to_string(),
                    })));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_names() {
        let m = parse_message("34200.017459617,5,0,1,2238200,-1").unwrap();
        assert_eq!(m, Message { time_ns: 34_200_017_459_617, kind: 5, order_id: 0, size: 1, price: 2_238_200, direction: -1 });
        assert_eq!(parse_message("34200.1,1,5,10,100").unwrap_err(), "missing the direction column (a message row has 6)");
        assert!(parse_message("34200.1,9,5,10,100,1").is_err());
        assert_eq!(parse_message("43002.632812672504,3,1,1,1,1").unwrap().time_ns, 43_002_632_812_673);
        assert_eq!(parse_book_row("1,2,3,4,5,6,7,8").unwrap().len(), 2);
        let n = FileName::parse("/x/AAPL_2012-06-21_34200000_57600000_message_10.csv").unwrap();
        assert_eq!(n, FileName { ticker: "AAPL".into(), date: (2012, 6, 21), levels: 10 });
        // 2012-06-21 is daylight time: 09:30 in New York is 13:30 UTC.
        assert_eq!(Ts(n.midnight_utc().0 + 34_200 * 1_000_000_000).to_string(), "2012-06-21T13:30:00.000000000Z");
        assert_eq!(new_york_offset_secs(2012, 1, 5), -5 * 3600);
        assert_eq!(new_york_offset_secs(2024, 3, 10), -4 * 3600);
        assert_eq!(new_york_offset_secs(2024, 3, 9), -5 * 3600);
        assert_eq!(new_york_offset_secs(2024, 11, 3), -5 * 3600);
    }
}
