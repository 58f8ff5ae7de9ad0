//! The orders and transactions behind a case: from the event files the alerts were raised on, every
//! order, amendment, cancellation and trade in the alerts' instruments (on any venue) within each
//! alert's window widened by a margin, of the alerts' accounts and of the other accounts of their
//! owners (spoofers place the genuine order from a second account). A cancellation or fill that
//! names only the order id is matched to the account's order. Events the alert's evidence names by
//! position (`trigger_seq`, `opposite_trade_seqs`, …) are always listed, marked as key; positions
//! match when the files are given as they were replayed (same files, order and configuration).

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_core::{Alert, Event, EventKind, Names, Ts};

/// One order event or trade.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    /// Event time, ns since the epoch, and as RFC 3339.
    pub ts: i64,
    pub time: String,
    pub venue: String,
    pub symbol: String,
    /// `order`, `amend`, `cancel` or `trade`.
    pub kind: &'static str,
    /// The order id, or the trade id.
    pub id: String,
    pub account: Option<String>,
    /// A trade's other side.
    pub counterparty: Option<String>,
    /// The account's side (for a trade: the suspect's side).
    pub side: Option<&'static str>,
    pub price: Option<String>,
    pub qty: Option<String>,
    /// `limit` or `market` for a new order.
    pub order_type: Option<&'static str>,
    /// Named by an alert's evidence.
    pub key: bool,
    /// The alerts whose window and accounts it falls in.
    pub alerts: Vec<String>,
    /// Its position in the replayed stream.
    pub seq: u64,
}

struct Scope {
    alert: String,
    symbols: Vec<String>,
    accounts: Vec<String>,
    from: i64,
    to: i64,
}

/// Picks a case's records out of an event stream.
pub struct Collector {
    scopes: Vec<Scope>,
    key_seqs: FxHashSet<u64>,
    /// Earliest start and latest end over the scopes: events outside are skipped at once.
    span: (i64, i64),
    symbol_hit: FxHashMap<u32, bool>,
    account_hit: FxHashMap<u32, bool>,
    /// The suspects' orders by (venue, symbol, order id): account and side.
    orders: FxHashMap<(u32, u32, String), (String, &'static str)>,
    pub records: Vec<Record>,
    /// Account → owner, from the stream's reference data (every account, so section 4 can name
    /// owners of accounts the alerts name).
    pub owners: BTreeMap<String, String>,
    /// The owners of the alerts' accounts: their other accounts are suspects too.
    suspect_owners: FxHashSet<String>,
    alert_accounts: FxHashSet<String>,
}

/// The event positions an alert's evidence names: every field ending in `_seq` or `_seqs`.
pub fn evidence_seqs(a: &Alert) -> Vec<u64> {
    let mut out = Vec::new();
    for (k, v) in &a.evidence {
        if k.ends_with("_seq") || k.ends_with("_seqs") {
            match v {
                serde_json::Value::Array(xs) => out.extend(xs.iter().filter_map(|x| x.as_u64())),
                x => out.extend(x.as_u64()),
            }
        }
    }
    out
}

impl Collector {
    /// For these alerts, with each window widened by `margin_ns` on both sides.
    pub fn new(alerts: &[Alert], margin_ns: i64) -> Collector {
        let scopes: Vec<Scope> = alerts
            .iter()
            .map(|a| Scope {
                alert: a.alert_id.clone(),
                symbols: a.symbols.clone(),
                accounts: a.accounts.clone(),
                from: a.window_start.min(a.ts).saturating_sub(margin_ns),
                to: a.window_end.max(a.ts).saturating_add(margin_ns),
            })
            .collect();
        let span = (scopes.iter().map(|s| s.from).min().unwrap_or(0), scopes.iter().map(|s| s.to).max().unwrap_or(-1));
        Collector {
            scopes,
            key_seqs: alerts.iter().flat_map(evidence_seqs).collect(),
            span,
            symbol_hit: FxHashMap::default(),
            account_hit: FxHashMap::default(),
            orders: FxHashMap::default(),
            records: Vec::new(),
            owners: BTreeMap::new(),
            suspect_owners: FxHashSet::default(),
            alert_accounts: alerts.iter().flat_map(|a| a.accounts.iter().cloned()).collect(),
        }
    }

    fn symbol_of_interest(&mut self, ev: &Event, names: &Names) -> bool {
        let scopes = &self.scopes;
        *self.symbol_hit.entry(ev.symbol.0).or_insert_with(|| {
            let s = names.symbol(ev.symbol);
            scopes.iter().any(|sc| sc.symbols.iter().any(|x| **x == *s))
        })
    }

    fn suspect(&mut self, id: Option<vigil_core::AccountId>, names: &Names) -> Option<String> {
        let id = id?;
        let (accounts, owners, suspects) = (&self.alert_accounts, &self.owners, &self.suspect_owners);
        let hit = *self.account_hit.entry(id.0).or_insert_with(|| {
            let a = names.account(id);
            accounts.contains(&*a) || owners.get(&*a).is_some_and(|o| suspects.contains(o))
        });
        hit.then(|| names.account(id).to_string())
    }

    /// Whether an account is one of the scope's, or another account of one of their owners.
    fn in_scope(&self, sc: &Scope, account: &str) -> bool {
        sc.accounts.iter().any(|a| a == account) || self.owners.get(account).is_some_and(|o| sc.accounts.iter().any(|a| self.owners.get(a) == Some(o)))
    }

    /// Looks at one event of the stream (in stream order).
    pub fn push(&mut self, ev: &Event, names: &Names) {
        if let EventKind::Account { account, owner } = &ev.kind {
            let (account, owner) = (names.account(*account).to_string(), names.owner(*owner).to_string());
            if self.alert_accounts.contains(&account) {
                self.suspect_owners.insert(owner.clone());
            }
            self.owners.insert(account, owner);
            // Who is a suspect may have changed.
            self.account_hit.clear();
            return;
        }
        if ev.ts.0 > self.span.1 || matches!(ev.kind, EventKind::Quote(_)) || !self.symbol_of_interest(ev, names) {
            return;
        }
        let key = |id: &str| (ev.venue.0, ev.symbol.0, id.to_string());
        // (kind, id, account, counterparty, side, price, qty, order type)
        type Row = (&'static str, String, Option<String>, Option<String>, Option<&'static str>, Option<String>, Option<String>, Option<&'static str>);
        let row: Option<Row> = match &ev.kind {
            EventKind::New(n) => self.suspect(n.account, names).map(|acct| {
                let side = n.side.as_str();
                self.orders.insert(key(&n.order_id), (acct.clone(), side));
                let ty = if n.price.is_some() { "limit" } else { "market" };
                ("order", n.order_id.to_string(), Some(acct), None, Some(side), n.price.map(|p| p.to_string()), Some(n.qty.to_string()), Some(ty))
            }),
            EventKind::Amend(a) => {
                let known = self.orders.get(&key(&a.order_id)).cloned();
                let acct = self.suspect(a.account, names).or_else(|| known.as_ref().map(|k| k.0.clone()));
                acct.map(|acct| {
                    ("amend", a.order_id.to_string(), Some(acct), None, known.map(|k| k.1), a.price.map(|p| p.to_string()), a.qty.map(|q| q.to_string()), None)
                })
            }
            EventKind::Cancel(c) => {
                let known = self.orders.get(&key(&c.order_id)).cloned();
                let acct = self.suspect(c.account, names).or_else(|| known.as_ref().map(|k| k.0.clone()));
                acct.map(|acct| ("cancel", c.order_id.to_string(), Some(acct), None, known.map(|k| k.1), None, None, None))
            }
            EventKind::Trade(t) => {
                let by_order = |id: &Option<vigil_core::OrderKey>, orders: &FxHashMap<(u32, u32, String), (String, &'static str)>| {
                    id.as_ref().and_then(|o| orders.get(&key(o)).map(|k| k.0.clone()))
                };
                let buy = self.suspect(t.buy_account, names).or_else(|| by_order(&t.buy_order_id, &self.orders));
                let sell = self.suspect(t.sell_account, names).or_else(|| by_order(&t.sell_order_id, &self.orders));
                let name = |a: Option<vigil_core::AccountId>| a.map(|a| names.account(a).to_string());
                let (acct, other, side) = match (buy, sell) {
                    (Some(b), _) => (Some(b), name(t.sell_account), "buy"),
                    (None, Some(s)) => (Some(s), name(t.buy_account), "sell"),
                    // A trade the evidence names, between accounts the files do not tie to the
                    // alerts' owners: listed from the buyer's side.
                    (None, None) if self.key_seqs.contains(&ev.seq) => (name(t.buy_account).or(Some(String::new())), name(t.sell_account), "buy"),
                    (None, None) => (None, None, ""),
                };
                acct.map(|a| ("trade", t.trade_id.to_string(), Some(a), other, Some(side), Some(t.price.to_string()), Some(t.qty.to_string()), None))
            }
            EventKind::Quote(_) | EventKind::Account { .. } => None,
        };
        let Some((kind, id, account, counterparty, side, price, qty, order_type)) = row else {
            return;
        };
        if ev.ts.0 < self.span.0 {
            return;
        }
        let symbol = names.symbol(ev.symbol);
        let key = self.key_seqs.contains(&ev.seq);
        let alerts: Vec<String> = self
            .scopes
            .iter()
            .filter(|sc| {
                (sc.from..=sc.to).contains(&ev.ts.0)
                    && sc.symbols.iter().any(|x| **x == *symbol)
                    && (key || account.as_deref().is_some_and(|a| self.in_scope(sc, a)) || counterparty.as_deref().is_some_and(|c| self.in_scope(sc, c)))
            })
            .map(|sc| sc.alert.clone())
            .collect();
        if alerts.is_empty() {
            return;
        }
        self.records.push(Record {
            ts: ev.ts.0,
            time: Ts(ev.ts.0).to_string(),
            venue: names.venue(ev.venue).to_string(),
            symbol: symbol.to_string(),
            kind,
            id,
            account: account.filter(|a| !a.is_empty()),
            counterparty,
            side,
            price,
            qty,
            order_type,
            key,
            alerts,
            seq: ev.seq,
        });
    }
}
