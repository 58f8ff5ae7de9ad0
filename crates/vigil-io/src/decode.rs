//! From the fields of one record (a JSON line or a CSV row) to an [`Event`]: the spec's columns,
//! the fields each type requires, exact decimals, and a reject that names the field and the reason.

use crate::flatjson::JsonValue;
use crate::reject::RejectCode;
use compact_str::CompactString;
use std::borrow::Cow;
use vigil_core::fixed::parse_fixed;
use vigil_core::{Amend, Cancel, DecimalError, Event, EventKind, EventType, Interner, NewOrder, Price, Qty, Quote, Side, SymbolId, Trade, Ts, VenueId};

/// The spec's CSV columns, in order; also the JSON field names.
pub const COLUMNS: [&str; 20] = [
    "ts",
    "type",
    "venue",
    "symbol",
    "order_id",
    "account",
    "side",
    "price",
    "qty",
    "trade_id",
    "buy_account",
    "sell_account",
    "buy_order_id",
    "sell_order_id",
    "aggressor",
    "bid",
    "bid_qty",
    "ask",
    "ask_qty",
    "owner",
];

pub const TS: usize = 0;
pub const TYPE: usize = 1;
pub const VENUE: usize = 2;
pub const SYMBOL: usize = 3;
pub const ORDER_ID: usize = 4;
pub const ACCOUNT: usize = 5;
pub const SIDE: usize = 6;
pub const PRICE: usize = 7;
pub const QTY: usize = 8;
pub const TRADE_ID: usize = 9;
pub const BUY_ACCOUNT: usize = 10;
pub const SELL_ACCOUNT: usize = 11;
pub const BUY_ORDER_ID: usize = 12;
pub const SELL_ORDER_ID: usize = 13;
pub const AGGRESSOR: usize = 14;
pub const BID: usize = 15;
pub const BID_QTY: usize = 16;
pub const ASK: usize = 17;
pub const ASK_QTY: usize = 18;
pub const OWNER: usize = 19;

/// The column of a field name.
#[inline]
pub fn column(name: &str) -> Option<usize> {
    Some(match name {
        "ts" => TS,
        "type" => TYPE,
        "venue" => VENUE,
        "symbol" => SYMBOL,
        "order_id" => ORDER_ID,
        "account" => ACCOUNT,
        "side" => SIDE,
        "price" => PRICE,
        "qty" => QTY,
        "trade_id" => TRADE_ID,
        "buy_account" => BUY_ACCOUNT,
        "sell_account" => SELL_ACCOUNT,
        "buy_order_id" => BUY_ORDER_ID,
        "sell_order_id" => SELL_ORDER_ID,
        "aggressor" => AGGRESSOR,
        "bid" => BID,
        "bid_qty" => BID_QTY,
        "ask" => ASK,
        "ask_qty" => ASK_QTY,
        "owner" => OWNER,
        _ => return None,
    })
}

/// Accepted event times: 1970-01-01 up to 2200-01-01 (UTC). Anything else is a unit mistake
/// (seconds or milliseconds for nanoseconds) or garbage, and far-off values would overflow window
/// arithmetic downstream.
pub const TS_MIN: i64 = 0;
pub const TS_MAX: i64 = 7_258_118_400 * 1_000_000_000;

/// Why a record's fields do not make an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Option<&'static str>,
    pub code: RejectCode,
    pub reason: String,
}

fn err<T>(col: usize, code: RejectCode, reason: String) -> Result<T, FieldError> {
    Err(FieldError { field: Some(COLUMNS[col]), code, reason })
}

/// The fields of one record, by column; JSON `null` and empty CSV cells are absent.
#[derive(Default)]
pub struct Record<'a> {
    pub fields: [Option<JsonValue<'a>>; 20],
}

impl<'a> Record<'a> {
    pub fn clear(&mut self) {
        for f in &mut self.fields {
            *f = None;
        }
    }

    fn text(&self, col: usize) -> Result<Option<&str>, FieldError> {
        match &self.fields[col] {
            None => Ok(None),
            Some(JsonValue::Str(s)) if s.is_empty() => Ok(None),
            Some(JsonValue::Str(s)) => Ok(Some(s)),
            Some(JsonValue::Num(s)) => Ok(Some(s)),
            Some(v) => err(col, RejectCode::InvalidField, format!("expected a string, got {}", v.type_name())),
        }
    }

    fn req_text(&self, col: usize) -> Result<&str, FieldError> {
        self.text(col)?.map_or_else(|| err(col, RejectCode::MissingField, "required field is missing".into()), Ok)
    }

    fn decimal(&self, col: usize) -> Result<Option<i64>, FieldError> {
        let s = match &self.fields[col] {
            None => return Ok(None),
            Some(JsonValue::Str(s)) if s.is_empty() => return Ok(None),
            Some(JsonValue::Str(s)) => s.as_ref(),
            Some(JsonValue::Num(s)) => s,
            Some(v) => return err(col, RejectCode::InvalidField, format!("expected a decimal, got {}", v.type_name())),
        };
        match parse_fixed(s.as_bytes()) {
            Ok(v) => Ok(Some(v)),
            Err(DecimalError::TooPrecise) => err(col, RejectCode::InvalidDecimal, format!("{s:?} has more than 8 decimal places")),
            Err(DecimalError::Overflow) => err(col, RejectCode::InvalidDecimal, format!("{s:?} is out of range")),
            Err(_) => err(col, RejectCode::InvalidDecimal, format!("{s:?} is not a decimal number")),
        }
    }

    fn price(&self, col: usize) -> Result<Option<Price>, FieldError> {
        Ok(self.decimal(col)?.map(Price))
    }

    /// A quantity that must be > 0 (`positive`) or ≥ 0.
    fn qty(&self, col: usize, positive: bool) -> Result<Option<Qty>, FieldError> {
        match self.decimal(col)? {
            Some(v) if v < 0 || (positive && v == 0) => {
                let shown = Qty(v).to_string();
                err(col, RejectCode::InvalidQty, format!("quantity must be {} 0, got {shown}", if positive { ">" } else { ">=" }))
            }
            v => Ok(v.map(Qty)),
        }
    }

    fn side(&self, col: usize) -> Result<Option<Side>, FieldError> {
        match self.text(col)? {
            None => Ok(None),
            Some(s) => match Side::parse(s) {
                Some(side) => Ok(Some(side)),
                None => err(col, RejectCode::InvalidField, format!("{s:?} is not `buy` or `sell`")),
            },
        }
    }

    /// Decodes the record, interning names only once every check has passed.
    pub fn decode(&self, interner: &mut Interner) -> Result<Event, FieldError> {
        let text = match &self.fields[TS] {
            None => return err(TS, RejectCode::MissingField, "required field is missing".into()),
            Some(JsonValue::Str(s)) if s.is_empty() => return err(TS, RejectCode::MissingField, "required field is missing".into()),
            Some(JsonValue::Str(s)) => Some(s.as_ref()),
            Some(JsonValue::Num(s)) => Some(*s),
            Some(JsonValue::Nanos(_)) => None,
            Some(v) => return err(TS, RejectCode::InvalidField, format!("expected integer nanoseconds or an RFC 3339 string, got {}", v.type_name())),
        };
        let ts = match (text, &self.fields[TS]) {
            (Some(t), _) => Ts::parse(t.as_bytes()).or_else(|e| err(TS, RejectCode::InvalidTimestamp, format!("{t:?}: {e}")))?,
            (None, Some(JsonValue::Nanos(n))) => Ts(*n),
            (None, _) => return err(TS, RejectCode::MissingField, "required field is missing".into()),
        };
        if !(TS_MIN..TS_MAX).contains(&ts.0) {
            return err(TS, RejectCode::InvalidTimestamp, format!("{} is outside 1970-01-01..2200-01-01 (nanoseconds since the epoch expected)", ts.0));
        }
        let ty = self.req_text(TYPE)?;
        let Some(ty) = EventType::parse(ty) else {
            return err(TYPE, RejectCode::UnknownType, format!("unknown event type {ty:?} (expected new, amend, cancel, trade, quote or account)"));
        };
        let (venue, symbol) =
            if ty == EventType::Account { (self.text(VENUE)?, self.text(SYMBOL)?) } else { (Some(self.req_text(VENUE)?), Some(self.req_text(SYMBOL)?)) };

        let order_id = || -> Result<CompactString, FieldError> { Ok(CompactString::from(self.req_text(ORDER_ID)?)) };
        let opt_id = |col| -> Result<Option<CompactString>, FieldError> { Ok(self.text(col)?.map(CompactString::from)) };

        // Validate everything first; names are interned last, so a rejected line adds none.
        enum Pending<'r> {
            New {
                order_id: CompactString,
                account: Option<&'r str>,
                side: Side,
                price: Option<Price>,
                qty: Qty,
            },
            Amend {
                order_id: CompactString,
                account: Option<&'r str>,
                price: Option<Price>,
                qty: Option<Qty>,
            },
            Cancel {
                order_id: CompactString,
                account: Option<&'r str>,
            },
            Trade {
                trade_id: CompactString,
                price: Price,
                qty: Qty,
                buy_account: Option<&'r str>,
                sell_account: Option<&'r str>,
                buy_order_id: Option<CompactString>,
                sell_order_id: Option<CompactString>,
                aggressor: Option<Side>,
            },
            Quote(Quote),
            Account {
                account: &'r str,
                owner: &'r str,
            },
        }
        let pending = match ty {
            EventType::New => {
                let order_id = order_id()?;
                let side = self.side(SIDE)?.map_or_else(|| err(SIDE, RejectCode::MissingField, "required field is missing".into()), Ok)?;
                let price = self.price(PRICE)?;
                let qty = self.qty(QTY, true)?.map_or_else(|| err(QTY, RejectCode::MissingField, "required field is missing".into()), Ok)?;
                Pending::New { order_id, account: self.text(ACCOUNT)?, side, price, qty }
            }
            EventType::Amend => {
                let order_id = order_id()?;
                let price = self.price(PRICE)?;
                let qty = self.qty(QTY, false)?;
                if price.is_none() && qty.is_none() {
                    return Err(FieldError { field: Some("price"), code: RejectCode::MissingField, reason: "an amend needs a new price or a new qty".into() });
                }
                Pending::Amend { order_id, account: self.text(ACCOUNT)?, price, qty }
            }
            EventType::Cancel => Pending::Cancel { order_id: order_id()?, account: self.text(ACCOUNT)? },
            EventType::Trade => {
                let trade_id = CompactString::from(self.req_text(TRADE_ID)?);
                let price = self.price(PRICE)?.map_or_else(|| err(PRICE, RejectCode::MissingField, "required field is missing".into()), Ok)?;
                let qty = self.qty(QTY, true)?.map_or_else(|| err(QTY, RejectCode::MissingField, "required field is missing".into()), Ok)?;
                Pending::Trade {
                    trade_id,
                    price,
                    qty,
                    buy_account: self.text(BUY_ACCOUNT)?,
                    sell_account: self.text(SELL_ACCOUNT)?,
                    buy_order_id: opt_id(BUY_ORDER_ID)?,
                    sell_order_id: opt_id(SELL_ORDER_ID)?,
                    aggressor: self.side(AGGRESSOR)?,
                }
            }
            EventType::Quote => {
                let q = Quote { bid: self.price(BID)?, bid_qty: self.qty(BID_QTY, false)?, ask: self.price(ASK)?, ask_qty: self.qty(ASK_QTY, false)? };
                if q.bid.is_none() && q.ask.is_none() {
                    return Err(FieldError { field: Some("bid"), code: RejectCode::MissingField, reason: "a quote needs a bid or an ask".into() });
                }
                Pending::Quote(q)
            }
            EventType::Account => Pending::Account { account: self.req_text(ACCOUNT)?, owner: self.req_text(OWNER)? },
        };

        let venue = match venue {
            Some(v) => interner.venue(&lower(v)),
            None => VenueId::NONE,
        };
        let symbol = match symbol {
            Some(s) => interner.symbol(&upper(s)),
            None => SymbolId::NONE,
        };
        let mut acc = |a: Option<&str>| a.map(|a| interner.account(a));
        let kind = match pending {
            Pending::New { order_id, account, side, price, qty } => EventKind::New(NewOrder { order_id, account: acc(account), side, price, qty }),
            Pending::Amend { order_id, account, price, qty } => EventKind::Amend(Amend { order_id, account: acc(account), price, qty, hint: None }),
            Pending::Cancel { order_id, account } => EventKind::Cancel(Cancel { order_id, account: acc(account), hint: None }),
            Pending::Trade { trade_id, price, qty, buy_account, sell_account, buy_order_id, sell_order_id, aggressor } => {
                let buy_account = acc(buy_account);
                let sell_account = acc(sell_account);
                EventKind::Trade(Trade { trade_id, price, qty, buy_account, sell_account, buy_order_id, sell_order_id, aggressor })
            }
            Pending::Quote(q) => EventKind::Quote(q),
            Pending::Account { account, owner } => {
                let account = interner.account(account);
                EventKind::Account { account, owner: interner.owner(owner) }
            }
        };
        Ok(Event { ts, seq: 0, venue, symbol, kind })
    }
}

/// Venues are lower case in the spec; normalising keeps `Binance` and `binance` one venue.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Symbols are upper case in the spec.
fn upper(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(s.to_ascii_uppercase())
    } else {
        Cow::Borrowed(s)
    }
}
