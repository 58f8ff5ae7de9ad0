//! The recent market, kept for people: the last events of each symbol (the charts and order-book
//! replay of an alert's window) and the live trades (the trade stream). The engine does not read
//! it; it is a copy taken where events enter the engine, bounded per symbol, and named only when
//! read.

use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use vigil_core::{Event, EventKind, Names, OrderKey, Side};

/// One event, with names rather than interned ids.
#[derive(Clone, Debug)]
pub struct Tick {
    pub ts: i64,
    pub venue: Arc<str>,
    pub symbol: Arc<str>,
    /// `new`, `amend`, `cancel`, `trade`, `quote`.
    pub kind: &'static str,
    pub order: Option<OrderKey>,
    pub side: Option<Side>,
    pub price: Option<f64>,
    pub qty: Option<f64>,
    /// The order's account; a trade's buyer.
    pub account: Option<Arc<str>>,
    /// A trade's seller.
    pub seller: Option<Arc<str>>,
    /// A trade's orders (buy, sell) and aggressor.
    pub orders: Option<(Option<OrderKey>, Option<OrderKey>)>,
    pub aggressor: Option<Side>,
}

impl Tick {
    pub fn json(&self) -> Value {
        let mut v = json!({"ts": self.ts, "venue": &*self.venue, "symbol": &*self.symbol, "type": self.kind});
        if let Some(o) = &self.order {
            v["order_id"] = o.as_str().into();
        }
        if let Some(s) = self.side {
            v["side"] = s.as_str().into();
        }
        if let Some(p) = self.price {
            v["price"] = p.into();
        }
        if let Some(q) = self.qty {
            v["qty"] = q.into();
        }
        if self.kind == "trade" {
            v["buy_account"] = self.account.as_deref().into();
            v["sell_account"] = self.seller.as_deref().into();
            if let Some((b, s)) = &self.orders {
                v["buy_order_id"] = b.as_deref().into();
                v["sell_order_id"] = s.as_deref().into();
            }
            v["aggressor"] = self.aggressor.map(|s| s.as_str()).into();
        } else if let Some(a) = &self.account {
            v["account"] = (&**a).into();
        }
        v
    }
}

/// An event as it entered an engine, with the names it is to be read with (kept as is: naming
/// it costs lookups that only a reader needs).
struct Held {
    ev: Event,
    names: u8,
}

/// A symbol's held events and where they came from (`session:N`, `ingest`).
#[derive(Default)]
struct Queue {
    source: Arc<str>,
    events: VecDeque<Held>,
}

#[derive(Default)]
struct Inner {
    by_symbol: FxHashMap<Arc<str>, Queue>,
    /// The name tables of the sources (a session's interner, live ingest's).
    names: Vec<Arc<Names>>,
}

pub struct Market {
    inner: Mutex<Inner>,
    /// Events kept per symbol.
    cap: usize,
    /// Every trade as it enters the engine.
    pub trades: tokio::sync::broadcast::Sender<Arc<Tick>>,
}

impl Market {
    pub fn new(cap: usize) -> Market {
        Market { inner: Mutex::default(), cap, trades: tokio::sync::broadcast::channel(8192).0 }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `events` (in the engine's order) from `source`, named by `names`. A symbol's events
    /// come from one source: another's (a new session's market of the symbol) replace them.
    pub fn record(&self, source: &Arc<str>, names: &Arc<Names>, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let listening = self.trades.receiver_count() > 0;
        let mut inner = self.lock();
        let src = match inner.names.iter().position(|n| Arc::ptr_eq(n, names)) {
            Some(i) => i,
            None => {
                // Sessions come and go: the oldest tables' events are long gone by the 200th.
                if inner.names.len() >= 200 {
                    inner.by_symbol.clear();
                    inner.names.clear();
                }
                inner.names.push(names.clone());
                inner.names.len() - 1
            }
        } as u8;
        let mut last: Option<(vigil_core::SymbolId, Arc<str>)> = None;
        for e in events {
            if matches!(e.kind, EventKind::Account { .. }) {
                continue;
            }
            let symbol = match &last {
                Some((id, name)) if *id == e.symbol => name.clone(),
                _ => {
                    let name = names.symbol(e.symbol);
                    last = Some((e.symbol, name.clone()));
                    name
                }
            };
            if listening && matches!(e.kind, EventKind::Trade(_)) {
                if let Some(t) = tick(names, e, symbol.clone()) {
                    let _ = self.trades.send(Arc::new(t));
                }
            }
            let cap = self.cap;
            let q = inner.by_symbol.entry(symbol).or_default();
            if !Arc::ptr_eq(&q.source, source) && *q.source != **source {
                q.events.clear();
                q.source = source.clone();
            }
            if q.events.len() >= cap {
                q.events.pop_front();
            }
            q.events.push_back(Held { ev: e.clone(), names: src });
        }
    }

    /// Forgets what is held of `symbols` (a new simulated session restarts their event time).
    pub fn forget(&self, symbols: &[String]) {
        let mut inner = self.lock();
        for s in symbols {
            inner.by_symbol.remove(s.as_str());
        }
    }

    /// Where `symbol`'s held events come from.
    pub fn source(&self, symbol: &str) -> Option<String> {
        self.lock().by_symbol.get(symbol).map(|q| q.source.to_string())
    }

    /// The symbols seen, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().by_symbol.keys().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    /// The events of `symbol` from `from` to `to` (ns, inclusive), at most `max` (the latest).
    pub fn window(&self, symbol: &str, from: i64, to: i64, max: usize) -> Vec<Tick> {
        self.select(symbol, max, |h| h.ev.ts.0 >= from && h.ev.ts.0 <= to)
    }

    /// The last `n` trades of `symbol`, oldest first.
    pub fn last_trades(&self, symbol: &str, n: usize) -> Vec<Tick> {
        self.select(symbol, n, |h| matches!(h.ev.kind, EventKind::Trade(_)))
    }

    /// The latest `max` events of `symbol` that `keep`, named, oldest first.
    fn select(&self, symbol: &str, max: usize, keep: impl Fn(&Held) -> bool) -> Vec<Tick> {
        let inner = self.lock();
        let Some((name, q)) = inner.by_symbol.get_key_value(symbol) else { return Vec::new() };
        let mut v: Vec<Tick> =
            q.events.iter().rev().filter(|h| keep(h)).take(max).filter_map(|h| tick(&inner.names[h.names as usize], &h.ev, name.clone())).collect();
        v.reverse();
        v
    }

    /// The time span held for `symbol`.
    pub fn span(&self, symbol: &str) -> Option<(i64, i64)> {
        let inner = self.lock();
        inner.by_symbol.get(symbol).and_then(|q| Some((q.events.front()?.ev.ts.0, q.events.back()?.ev.ts.0)))
    }
}

fn tick(names: &Names, e: &Event, symbol: Arc<str>) -> Option<Tick> {
    if matches!(e.kind, EventKind::Account { .. }) {
        return None;
    }
    let mut t = Tick {
        ts: e.ts.0,
        venue: names.venue(e.venue),
        symbol,
        kind: e.kind.event_type().as_str(),
        order: None,
        side: None,
        price: None,
        qty: None,
        account: None,
        seller: None,
        orders: None,
        aggressor: None,
    };
    match &e.kind {
        EventKind::New(n) => {
            t.order = Some(n.order_id.clone());
            t.side = Some(n.side);
            t.price = n.price.map(|p| p.to_f64());
            t.qty = Some(n.qty.to_f64());
            t.account = n.account.map(|a| names.account(a));
        }
        EventKind::Amend(a) => {
            t.order = Some(a.order_id.clone());
            t.price = a.price.map(|p| p.to_f64());
            t.qty = a.qty.map(|q| q.to_f64());
            t.account = a.account.map(|x| names.account(x));
        }
        EventKind::Cancel(c) => {
            t.order = Some(c.order_id.clone());
            t.account = c.account.map(|x| names.account(x));
        }
        EventKind::Trade(tr) => {
            t.price = Some(tr.price.to_f64());
            t.qty = Some(tr.qty.to_f64());
            t.account = tr.buy_account.map(|a| names.account(a));
            t.seller = tr.sell_account.map(|a| names.account(a));
            t.orders = Some((tr.buy_order_id.clone(), tr.sell_order_id.clone()));
            t.aggressor = tr.aggressor;
        }
        EventKind::Quote(q) => {
            t.price = q.bid.or(q.ask).map(|p| p.to_f64());
        }
        EventKind::Account { .. } => return None,
    }
    Some(t)
}
