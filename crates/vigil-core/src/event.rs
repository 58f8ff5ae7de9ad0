//! The event model of `shared/spec/events.md`: new / amend / cancel / trade / quote / account.
//! Plain data, ids interned, numbers fixed-point; one `Event` is a few cache lines and moves
//! through the engine without allocation.

use crate::fixed::{Price, Qty};
use crate::ids::{AccountId, OrderKey, OwnerId, SymbolId, TradeKey, VenueId};
use crate::time::Ts;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
    pub fn parse(s: &str) -> Option<Side> {
        match s {
            "buy" | "BUY" | "Buy" => Some(Side::Buy),
            "sell" | "SELL" | "Sell" => Some(Side::Sell),
            _ => None,
        }
    }
}

/// The spec's event types, by the name they carry in files.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    New,
    Amend,
    Cancel,
    Trade,
    Quote,
    Account,
}

impl EventType {
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "new" => EventType::New,
            "amend" => EventType::Amend,
            "cancel" => EventType::Cancel,
            "trade" => EventType::Trade,
            "quote" => EventType::Quote,
            "account" => EventType::Account,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::New => "new",
            EventType::Amend => "amend",
            EventType::Cancel => "cancel",
            EventType::Trade => "trade",
            EventType::Quote => "quote",
            EventType::Account => "account",
        }
    }
}

/// Where a source knows the level an order rests at but the book may not know the order (LOBSTER's
/// orders placed before the file starts, a drop copy that joins mid-session): the book takes `qty`
/// off the level at `price` on `side` when the order id is unknown to it; when it knows the order,
/// it still believes `qty` as the size that left the level, since its own copy of the order is stale
/// when the source omits events (LOBSTER says nothing of an order while it rests beyond the
/// requested depth). Not part of the file format; adapters fill it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LevelHint {
    pub side: Side,
    pub price: Price,
    pub qty: Qty,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub order_id: OrderKey,
    pub account: Option<AccountId>,
    pub side: Side,
    /// `None` for a market order, which never rests on the book.
    pub price: Option<Price>,
    pub qty: Qty,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amend {
    pub order_id: OrderKey,
    pub account: Option<AccountId>,
    pub price: Option<Price>,
    /// The new open quantity.
    pub qty: Option<Qty>,
    pub hint: Option<LevelHint>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancel {
    pub order_id: OrderKey,
    pub account: Option<AccountId>,
    pub hint: Option<LevelHint>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    pub trade_id: TradeKey,
    pub price: Price,
    pub qty: Qty,
    pub buy_account: Option<AccountId>,
    pub sell_account: Option<AccountId>,
    pub buy_order_id: Option<OrderKey>,
    pub sell_order_id: Option<OrderKey>,
    /// The side of the incoming order.
    pub aggressor: Option<Side>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub bid: Option<Price>,
    pub bid_qty: Option<Qty>,
    pub ask: Option<Price>,
    pub ask_qty: Option<Qty>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    New(NewOrder),
    Amend(Amend),
    Cancel(Cancel),
    Trade(Trade),
    Quote(Quote),
    /// Reference data: `account` belongs to `owner`.
    Account {
        account: AccountId,
        owner: OwnerId,
    },
}

impl EventKind {
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::New(_) => EventType::New,
            EventKind::Amend(_) => EventType::Amend,
            EventKind::Cancel(_) => EventType::Cancel,
            EventKind::Trade(_) => EventType::Trade,
            EventKind::Quote(_) => EventType::Quote,
            EventKind::Account { .. } => EventType::Account,
        }
    }
}

/// One event. `seq` is its position in the engine's input (after reordering), which makes every
/// output order total and deterministic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub ts: Ts,
    pub seq: u64,
    /// `VenueId::NONE` only for account reference data without a venue.
    pub venue: VenueId,
    /// `SymbolId::NONE` only for account reference data.
    pub symbol: SymbolId,
    pub kind: EventKind,
}

impl Event {
    /// The account an order event names, if any.
    pub fn account(&self) -> Option<AccountId> {
        match &self.kind {
            EventKind::New(n) => n.account,
            EventKind::Amend(a) => a.account,
            EventKind::Cancel(c) => c.account,
            _ => None,
        }
    }
}
