//! A price-time priority matching market that writes the spec's events: every trade names the real
//! orders and accounts on both sides and the aggressor, as a venue's drop copy would. Scenario
//! builders (tests, the simulator) act through it — place, amend, cancel, trade at market — and the
//! market keeps the book honest, so injected behaviour and background flow interact as on a venue.

use std::collections::BTreeMap;
use vigil_core::{AccountId, Amend, Cancel, Event, EventKind, Interner, NewOrder, OwnerId, Price, Qty, Side, SymbolId, Trade, Ts, VenueId};

thread_local! {
    static EMITTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[derive(Clone, Debug)]
struct Resting {
    id: u64,
    account: AccountId,
    qty: i64,
}

/// One venue's book for one symbol, plus the events written so far.
pub struct Market {
    pub venue: VenueId,
    pub symbol: SymbolId,
    /// Price (raw 1e-8) → queue, for each side.
    bids: BTreeMap<i64, Vec<Resting>>,
    asks: BTreeMap<i64, Vec<Resting>>,
    /// Open order id → (side, price).
    open: BTreeMap<u64, (Side, i64)>,
    next_order: u64,
    next_trade: u64,
    prefix: String,
    last: Option<f64>,
    /// Volume traded so far (lots).
    pub traded: f64,
    pub events: Vec<Event>,
}

fn px(p: f64) -> i64 {
    (p * 1e8).round() as i64
}

impl Market {
    pub fn new(interner: &mut Interner, venue: &str, symbol: &str) -> Self {
        Market {
            venue: interner.venue(venue),
            symbol: interner.symbol(symbol),
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            open: BTreeMap::new(),
            next_order: 1,
            next_trade: 1,
            // Order ids are unique within a venue: the symbol is part of them.
            prefix: format!("{venue}-{symbol}"),
            last: None,
            traded: 0.0,
            events: Vec::new(),
        }
    }

    fn push(&mut self, ts: i64, kind: EventKind) {
        // Numbered in the order written across every market of the thread, so that events of one
        // instant on several venues merge in the order they happened.
        let seq = EMITTED.with(|c| {
            let n = c.get() + 1;
            c.set(n);
            n
        });
        self.events.push(Event { ts: Ts(ts), seq, venue: self.venue, symbol: self.symbol, kind });
    }

    /// Reference data: `account` belongs to `owner`.
    pub fn owner(&mut self, ts: i64, account: AccountId, owner: OwnerId) {
        self.push(ts, EventKind::Account { account, owner });
    }

    pub fn best_bid(&self) -> Option<f64> {
        self.bids.keys().next_back().map(|&p| p as f64 / 1e8)
    }
    pub fn best_ask(&self) -> Option<f64> {
        self.asks.keys().next().map(|&p| p as f64 / 1e8)
    }
    /// The last trade's price.
    pub fn last_price(&self) -> Option<f64> {
        self.last
    }
    pub fn is_open(&self, id: u64) -> bool {
        self.open.contains_key(&id)
    }

    /// A limit order (`price` = `None`: a market order). It trades against the opposite side as far as
    /// it crosses; any rest stays on the book. Returns its order id.
    pub fn order(&mut self, ts: i64, account: AccountId, side: Side, price: Option<f64>, qty: f64) -> u64 {
        self.place(ts, account, side, price, qty, false)
    }

    /// An order with self-trade prevention: a resting order of the same account that it would
    /// trade with is cancelled instead (as most venues offer, and market makers use).
    pub fn order_stp(&mut self, ts: i64, account: AccountId, side: Side, price: Option<f64>, qty: f64) -> u64 {
        self.place(ts, account, side, price, qty, true)
    }

    fn place(&mut self, ts: i64, account: AccountId, side: Side, price: Option<f64>, qty: f64, stp: bool) -> u64 {
        let id = self.next_order;
        self.next_order += 1;
        let limit = price.map(px);
        self.push(ts, EventKind::New(NewOrder { order_id: self.oid(id), account: Some(account), side, price: limit.map(Price), qty: Qty(px(qty)) }));
        let mut left = px(qty);
        while left > 0 {
            let best = match side {
                Side::Buy => self.asks.keys().next().copied(),
                Side::Sell => self.bids.keys().next_back().copied(),
            };
            let Some(level) = best else { break };
            if let Some(l) = limit {
                if (side == Side::Buy && level > l) || (side == Side::Sell && level < l) {
                    break;
                }
            }
            if stp {
                let head = match side {
                    Side::Buy => &self.asks,
                    Side::Sell => &self.bids,
                }[&level][0]
                    .clone();
                if head.account == account {
                    self.cancel(ts, head.id);
                    continue;
                }
            }
            let book = match side {
                Side::Buy => &mut self.asks,
                Side::Sell => &mut self.bids,
            };
            let queue = book.get_mut(&level).expect("level exists");
            let maker = &mut queue[0];
            let q = left.min(maker.qty);
            maker.qty -= q;
            left -= q;
            let (maker_id, maker_acct, done) = (maker.id, maker.account, maker.qty == 0);
            if done {
                queue.remove(0);
                if queue.is_empty() {
                    book.remove(&level);
                }
                self.open.remove(&maker_id);
            }
            self.last = Some(level as f64 / 1e8);
            self.traded += q as f64 / 1e8;
            let tid = self.next_trade;
            self.next_trade += 1;
            let (buy_account, sell_account, buy_order, sell_order) = match side {
                Side::Buy => (account, maker_acct, id, maker_id),
                Side::Sell => (maker_acct, account, maker_id, id),
            };
            let trade = Trade {
                trade_id: compact_str::format_compact!("{}-t{tid}", self.prefix),
                price: Price(level),
                qty: Qty(q),
                buy_account: Some(buy_account),
                sell_account: Some(sell_account),
                buy_order_id: Some(self.oid(buy_order)),
                sell_order_id: Some(self.oid(sell_order)),
                aggressor: Some(side),
            };
            self.push(ts, EventKind::Trade(trade));
        }
        if left > 0 {
            if let Some(l) = limit {
                let book = match side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                book.entry(l).or_default().push(Resting { id, account, qty: left });
                self.open.insert(id, (side, l));
            }
        }
        id
    }

    fn oid(&self, id: u64) -> compact_str::CompactString {
        compact_str::format_compact!("{}-o{id}", self.prefix)
    }

    /// What a taker must send to fill the open order `id` completely: the order's price and the
    /// quantity resting ahead of it (better prices, then earlier at its price) plus its own.
    pub fn to_fill(&self, id: u64) -> Option<(Side, f64, f64)> {
        let &(side, price) = self.open.get(&id)?;
        let mut qty = 0i64;
        let book = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        let levels: Box<dyn Iterator<Item = (&i64, &Vec<Resting>)>> = match side {
            Side::Buy => Box::new(book.range(price..).rev()),
            Side::Sell => Box::new(book.range(..=price)),
        };
        for (&p, queue) in levels {
            for r in queue {
                qty += r.qty;
                if p == price && r.id == id {
                    return Some((side, price as f64 / 1e8, qty as f64 / 1e8));
                }
            }
        }
        None
    }

    /// The open quantity of order `id` (0 once it is gone).
    pub fn open_qty(&self, id: u64) -> f64 {
        let Some(&(side, price)) = self.open.get(&id) else { return 0.0 };
        let book = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        book.get(&price).and_then(|q| q.iter().find(|r| r.id == id)).map_or(0.0, |r| r.qty as f64 / 1e8)
    }

    /// The quantity resting on `side` from its best price to `limit` (inclusive).
    pub fn depth_to(&self, side: Side, limit: f64) -> f64 {
        let l = px(limit);
        let q: i64 = match side {
            Side::Buy => self.bids.range(l..).flat_map(|(_, q)| q.iter()).map(|r| r.qty).sum(),
            Side::Sell => self.asks.range(..=l).flat_map(|(_, q)| q.iter()).map(|r| r.qty).sum(),
        };
        q as f64 / 1e8
    }

    /// The quantity resting at the best price of `side`.
    pub fn touch_qty(&self, side: Side) -> f64 {
        let level = match side {
            Side::Buy => self.bids.values().next_back(),
            Side::Sell => self.asks.values().next(),
        };
        level.map_or(0.0, |q| q.iter().map(|r| r.qty).sum::<i64>() as f64 / 1e8)
    }

    /// Cancels an open order; a no-op for one already gone (filled).
    pub fn cancel(&mut self, ts: i64, id: u64) {
        let Some((side, price)) = self.open.remove(&id) else { return };
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let mut account = None;
        if let Some(q) = book.get_mut(&price) {
            if let Some(i) = q.iter().position(|r| r.id == id) {
                account = Some(q.remove(i).account);
            }
            if q.is_empty() {
                book.remove(&price);
            }
        }
        self.push(ts, EventKind::Cancel(Cancel { order_id: self.oid(id), account, hint: None }));
    }

    /// Moves an open order to a new price (it does not cross: callers keep amended orders passive)
    /// and loses its time priority.
    pub fn amend(&mut self, ts: i64, id: u64, price: f64) {
        let Some((side, old)) = self.open.get(&id).copied() else { return };
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let Some(q) = book.get_mut(&old) else { return };
        let Some(i) = q.iter().position(|r| r.id == id) else { return };
        let r = q.remove(i);
        if q.is_empty() {
            book.remove(&old);
        }
        let account = r.account;
        book.entry(px(price)).or_default().push(r);
        self.open.insert(id, (side, px(price)));
        self.push(ts, EventKind::Amend(Amend { order_id: self.oid(id), account: Some(account), price: Some(Price(px(price))), qty: None, hint: None }));
    }
}

/// Several markets' events merged in time order (ties in the order they were written), numbered.
pub fn merge(markets: &[&Market]) -> Vec<Event> {
    let mut all: Vec<Event> = markets.iter().flat_map(|m| m.events.iter().cloned()).collect();
    all.sort_by_key(|e| (e.ts, e.seq));
    for (i, e) in all.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
    }
    all
}
