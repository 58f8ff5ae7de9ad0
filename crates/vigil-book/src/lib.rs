//! A limit order book per venue and instrument: every open order by id, and the aggregate of each
//! price level. Levels live in a vector sorted from the worst price to the best, so the busy end of
//! the book (the touch) is the cheap end of the vector: inserting or removing a level near the
//! touch moves a few elements, and finding one is a binary search without pointer chasing.
//!
//! A level's quantity may include depth the book cannot attribute to a known order: orders that
//! rested before the data starts (LOBSTER), or venues that publish only levels (L2 feeds). Such
//! depth is set with [`Book::set_level`] and reduced by events that carry a [`LevelHint`], or by
//! trades that name a resting order the book does not know.

use rustc_hash::FxHashMap;
use vigil_core::{AccountId, Event, EventKind, LevelHint, OrderKey, Price, Qty, Side, Ts};

/// One price level: total open quantity and the number of known orders in it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: Price,
    pub qty: Qty,
    pub orders: u32,
}

/// An order resting on the book.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RestingOrder {
    pub side: Side,
    pub price: Price,
    /// Open quantity.
    pub qty: Qty,
    pub account: Option<AccountId>,
    /// When it entered the book (or last lost priority).
    pub ts: Ts,
    /// When it first entered the book.
    pub placed: Ts,
    /// The largest open quantity it has had (its size when placed, unless amended upward).
    pub size: Qty,
    /// How much of it has executed.
    pub filled: Qty,
    /// How many times it has been amended.
    pub amends: u32,
    /// Its dense index in this book while it is open (reused once it leaves), so detectors can
    /// keep per-order state in a vector instead of hashing the order id again.
    pub slot: u32,
}

/// One side of the book, worst price first, best last.
#[derive(Clone, Debug)]
pub struct Ladder {
    side: Side,
    levels: Vec<Level>,
}

impl Ladder {
    fn new(side: Side) -> Self {
        Ladder { side, levels: Vec::new() }
    }

    /// Position of `price`, or where it would go, in worst→best order.
    #[inline]
    fn find(&self, price: Price) -> Result<usize, usize> {
        // Search from the best end first: nearly all activity is near the touch.
        let n = self.levels.len();
        if n > 0 {
            let best = self.levels[n - 1].price;
            if best == price {
                return Ok(n - 1);
            }
            if self.better(price, best) {
                return Err(n);
            }
        }
        match self.side {
            Side::Buy => self.levels.binary_search_by(|l| l.price.cmp(&price)),
            Side::Sell => self.levels.binary_search_by(|l| price.cmp(&l.price)),
        }
    }

    /// Is `a` a better price than `b` for this side?
    #[inline]
    fn better(&self, a: Price, b: Price) -> bool {
        match self.side {
            Side::Buy => a > b,
            Side::Sell => a < b,
        }
    }

    #[inline]
    fn add(&mut self, price: Price, qty: Qty, orders: u32) {
        match self.find(price) {
            Ok(i) => {
                let l = &mut self.levels[i];
                // Saturating: absurd sizes from a bad feed must not wrap a level negative.
                l.qty = Qty(l.qty.0.saturating_add(qty.0));
                l.orders = l.orders.saturating_add(orders);
            }
            Err(i) => self.levels.insert(i, Level { price, qty, orders }),
        }
    }

    /// Takes `qty` (and `orders` known orders) off the level at `price`; a level left with
    /// nothing is removed. Returns the quantity actually removed.
    #[inline]
    fn reduce(&mut self, price: Price, qty: Qty, orders: u32) -> Qty {
        match self.find(price) {
            Ok(i) => {
                let l = &mut self.levels[i];
                let taken = if qty > l.qty { l.qty } else { qty };
                l.qty -= taken;
                l.orders = l.orders.saturating_sub(orders);
                if l.qty.0 <= 0 {
                    self.levels.remove(i);
                }
                taken
            }
            Err(_) => Qty::ZERO,
        }
    }

    fn set(&mut self, price: Price, qty: Qty) {
        match self.find(price) {
            Ok(i) if qty.0 <= 0 => {
                self.levels.remove(i);
            }
            Ok(i) => self.levels[i].qty = qty,
            Err(_) if qty.0 <= 0 => {}
            Err(i) => self.levels.insert(i, Level { price, qty, orders: 0 }),
        }
    }

    /// Levels from the best price outward.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Level> + ExactSizeIterator {
        self.levels.iter().rev()
    }
    pub fn best(&self) -> Option<&Level> {
        self.levels.last()
    }
    pub fn len(&self) -> usize {
        self.levels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
    /// The level at exactly `price`.
    pub fn get(&self, price: Price) -> Option<&Level> {
        self.find(price).ok().map(|i| &self.levels[i])
    }
    /// 0 for the best level, 1 for the next, … ; `None` if no level has that price.
    pub fn rank(&self, price: Price) -> Option<usize> {
        self.find(price).ok().map(|i| self.levels.len() - 1 - i)
    }
    /// Total quantity of the best `n` levels.
    pub fn depth(&self, n: usize) -> Qty {
        self.iter().take(n).fold(Qty::ZERO, |a, l| a + l.qty)
    }
}

/// What an event did to the book, for detectors that care.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BookChange {
    /// A limit order now rests.
    Added(RestingOrder),
    /// An order changed; `before` is how it was.
    Amended { before: RestingOrder, after: RestingOrder },
    /// An order left unfilled; its open quantity then is what was cancelled.
    Cancelled(RestingOrder),
    /// A trade reduced the orders it named (and known) by `qty`.
    Traded { buy: Option<RestingOrder>, sell: Option<RestingOrder> },
    /// A cancel or amend of an order the book does not know (counted in [`BookStats`]).
    Unknown,
    /// The event does not touch the book (market order, quote, reference data, a repeated id).
    None,
}

/// Counters of what the book could not reconcile. They are counted, not errors: a feed joined
/// mid-session legitimately cancels orders placed before it started.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct BookStats {
    pub unknown_cancels: u64,
    pub unknown_amends: u64,
    /// Trade legs naming an order the book does not know.
    pub unknown_trade_orders: u64,
    /// `new` for an order id already open: ignored.
    pub duplicate_orders: u64,
}

impl BookStats {
    pub fn merge(&mut self, o: &BookStats) {
        self.unknown_cancels += o.unknown_cancels;
        self.unknown_amends += o.unknown_amends;
        self.unknown_trade_orders += o.unknown_trade_orders;
        self.duplicate_orders += o.duplicate_orders;
    }
}

/// The book of one instrument on one venue.
#[derive(Clone, Debug)]
pub struct Book {
    bids: Ladder,
    asks: Ladder,
    /// Order id → slot in `slab`.
    orders: FxHashMap<OrderKey, u32>,
    slab: Vec<RestingOrder>,
    free: Vec<u32>,
    pub stats: BookStats,
}

impl Default for Book {
    fn default() -> Self {
        Self::new()
    }
}

impl Book {
    pub fn new() -> Self {
        Book {
            bids: Ladder::new(Side::Buy),
            asks: Ladder::new(Side::Sell),
            orders: FxHashMap::default(),
            slab: Vec::new(),
            free: Vec::new(),
            stats: BookStats::default(),
        }
    }

    pub fn side(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }
    fn side_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
    pub fn bids(&self) -> &Ladder {
        &self.bids
    }
    pub fn asks(&self) -> &Ladder {
        &self.asks
    }
    pub fn best_bid(&self) -> Option<Price> {
        self.bids.best().map(|l| l.price)
    }
    pub fn best_ask(&self) -> Option<Price> {
        self.asks.best().map(|l| l.price)
    }
    pub fn order(&self, id: &str) -> Option<&RestingOrder> {
        self.orders.get(id).map(|&s| &self.slab[s as usize])
    }
    /// The order that holds `slot` (see [`RestingOrder::slot`]); a slot is reused once its order
    /// leaves, so callers track which slots are still theirs.
    pub fn order_at(&self, slot: u32) -> Option<&RestingOrder> {
        self.slab.get(slot as usize)
    }
    /// Every open order known by id, in no particular order.
    pub fn iter_orders(&self) -> impl Iterator<Item = (&OrderKey, &RestingOrder)> {
        self.orders.iter().map(|(k, &s)| (k, &self.slab[s as usize]))
    }
    /// The most slots this book has used: a bound for per-order state kept by slot.
    pub fn slots(&self) -> usize {
        self.slab.len()
    }

    fn insert(&mut self, id: &OrderKey, mut o: RestingOrder) -> RestingOrder {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slab.push(o);
                (self.slab.len() - 1) as u32
            }
        };
        o.slot = slot;
        self.slab[slot as usize] = o;
        self.orders.insert(id.clone(), slot);
        o
    }

    fn remove(&mut self, id: &str) -> Option<RestingOrder> {
        let slot = self.orders.remove(id)?;
        self.free.push(slot);
        Some(self.slab[slot as usize])
    }
    /// Open orders known by id.
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// Sets the total quantity of a level (L2 data, or depth revealed by a snapshot); 0 removes it.
    pub fn set_level(&mut self, side: Side, price: Price, qty: Qty) {
        self.side_mut(side).set(price, qty)
    }

    /// Takes `hint.qty` off a level for an order the book does not know.
    pub fn reduce_level(&mut self, hint: LevelHint) -> Qty {
        self.side_mut(hint.side).reduce(hint.price, hint.qty, 0)
    }

    /// Applies one event. Events for other instruments must not be passed.
    pub fn apply(&mut self, ev: &Event) -> BookChange {
        match &ev.kind {
            EventKind::New(n) => {
                let Some(price) = n.price else {
                    return BookChange::None;
                };
                if self.orders.contains_key(&n.order_id) {
                    self.stats.duplicate_orders += 1;
                    return BookChange::None;
                }
                let o = RestingOrder {
                    side: n.side,
                    price,
                    qty: n.qty,
                    account: n.account,
                    ts: ev.ts,
                    placed: ev.ts,
                    size: n.qty,
                    filled: Qty::ZERO,
                    amends: 0,
                    slot: 0,
                };
                self.side_mut(n.side).add(price, n.qty, 1);
                BookChange::Added(self.insert(&n.order_id, o))
            }
            EventKind::Cancel(c) => match self.remove(&c.order_id) {
                Some(o) => {
                    // A source that states the size that left (a hint) is believed over the book's
                    // copy, which is stale when the source omits events (LOBSTER beyond its depth).
                    let gone = c.hint.map_or(o.qty, |h| h.qty);
                    self.side_mut(o.side).reduce(o.price, gone, 1);
                    BookChange::Cancelled(o)
                }
                None => {
                    self.stats.unknown_cancels += 1;
                    if let Some(h) = c.hint {
                        self.reduce_level(h);
                    }
                    BookChange::Unknown
                }
            },
            EventKind::Amend(a) => {
                let Some(&slot) = self.orders.get(&a.order_id) else {
                    self.stats.unknown_amends += 1;
                    if let Some(h) = a.hint {
                        self.reduce_level(h);
                    }
                    return BookChange::Unknown;
                };
                let o = &mut self.slab[slot as usize];
                let before = *o;
                let new_price = a.price.unwrap_or(o.price);
                let new_qty = a.qty.unwrap_or(o.qty);
                if let Some(acc) = a.account {
                    o.account = Some(acc);
                }
                let ladder = match before.side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                if new_qty.0 <= 0 {
                    ladder.reduce(before.price, before.qty, 1);
                    self.remove(&a.order_id);
                    return BookChange::Cancelled(before);
                }
                o.price = new_price;
                o.qty = new_qty;
                o.amends = o.amends.saturating_add(1);
                if new_qty > o.size {
                    o.size = new_qty;
                }
                // A price change or a size increase loses time priority; the book keeps no queue
                // position, so both are a remove and an add at the level.
                if new_price != before.price {
                    o.ts = ev.ts;
                    ladder.reduce(before.price, before.qty, 1);
                    ladder.add(new_price, new_qty, 1);
                } else if let Some(h) = a.hint {
                    // As for a cancel: the size the source says left the level is believed.
                    ladder.reduce(new_price, h.qty, 0);
                } else if new_qty > before.qty {
                    o.ts = ev.ts;
                    ladder.add(new_price, new_qty - before.qty, 0);
                } else {
                    ladder.reduce(new_price, before.qty - new_qty, 0);
                }
                BookChange::Amended { before, after: *o }
            }
            EventKind::Trade(t) => {
                let buy = t.buy_order_id.as_ref().and_then(|id| self.fill(id, Side::Buy, t.price, t.qty, t.aggressor));
                let sell = t.sell_order_id.as_ref().and_then(|id| self.fill(id, Side::Sell, t.price, t.qty, t.aggressor));
                BookChange::Traded { buy, sell }
            }
            EventKind::Quote(_) | EventKind::Account { .. } => BookChange::None,
        }
    }

    /// Fills `qty` of order `id`, which should be on `side`. Returns the order as it was before.
    fn fill(&mut self, id: &OrderKey, side: Side, price: Price, qty: Qty, aggressor: Option<Side>) -> Option<RestingOrder> {
        match self.orders.get(id) {
            Some(&slot) => {
                let o = &mut self.slab[slot as usize];
                let before = *o;
                let take = if qty > o.qty { o.qty } else { qty };
                o.qty -= take;
                o.filled += take;
                let done = o.qty.0 <= 0;
                let ladder = match o.side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                ladder.reduce(before.price, take, u32::from(done));
                if done {
                    self.remove(id);
                }
                Some(before)
            }
            None => {
                self.stats.unknown_trade_orders += 1;
                // The resting side of a trade rests at the trade price: take the fill off the
                // level even though the order is not known by id.
                if aggressor == Some(side.opposite()) {
                    self.side_mut(side).reduce(price, qty, 0);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
