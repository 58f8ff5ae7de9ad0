//! The orders and transactions behind a case: from the event files the alerts were raised on, every
//! order, amendment, cancellation and trade in the alerts' instruments (on any venue) within each
//! alert's window widened by a margin, of the alerts' accounts and of the other accounts of their
//! owners (spoofers place the genuine order from a second account). A cancellation or fill that
//! names only the order id is matched to the account's order. Events the alert's evidence names by
//! position (`trigger_seq`, `opposite_trade_seqs`, …) are always listed, marked as key, whoever
//! they are of and wherever they fall; positions match when the files are given as they were
//! replayed (same files, order and configuration).

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
    /// The account is one of the suspects (false only for an event the evidence names between
    /// other accounts).
    pub subject: bool,
    /// Named by an alert's evidence.
    pub key: bool,
    /// The alerts whose window and accounts it falls in.
    pub alerts: Vec<String>,
    /// Its position in the replayed stream.
    pub seq: u64,
}

/// One record before its time, place and alerts are known.
struct Row {
    kind: &'static str,
    id: String,
    subject: bool,
    account: Option<String>,
    counterparty: Option<String>,
    side: Option<&'static str>,
    price: Option<String>,
    qty: Option<String>,
    order_type: Option<&'static str>,
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
    /// Event position → the scopes (alerts) whose evidence names it.
    key_seqs: FxHashMap<u64, Vec<usize>>,
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
            key_seqs: {
                let mut m: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
                for (i, a) in alerts.iter().enumerate() {
                    for seq in evidence_seqs(a) {
                        let v = m.entry(seq).or_default();
                        if !v.contains(&i) {
                            v.push(i);
                        }
                    }
                }
                m
            },
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
        if matches!(ev.kind, EventKind::Quote(_)) {
            return;
        }
        // The alerts whose evidence names this event: listed whoever it is of, wherever it falls.
        let keyed: Vec<usize> = self.key_seqs.get(&ev.seq).cloned().unwrap_or_default();
        if keyed.is_empty() && (ev.ts.0 > self.span.1 || !self.symbol_of_interest(ev, names)) {
            return;
        }
        let key = |id: &str| (ev.venue.0, ev.symbol.0, id.to_string());
        let name = |a: Option<vigil_core::AccountId>| a.map(|a| names.account(a).to_string());
        let is_key = !keyed.is_empty();
        let row: Option<Row> = match &ev.kind {
            EventKind::New(n) => {
                let suspect = self.suspect(n.account, names);
                if let Some(acct) = &suspect {
                    self.orders.insert(key(&n.order_id), (acct.clone(), n.side.as_str()));
                }
                (suspect.is_some() || is_key).then(|| Row {
                    kind: "order",
                    id: n.order_id.to_string(),
                    subject: suspect.is_some(),
                    account: suspect.or_else(|| name(n.account)),
                    counterparty: None,
                    side: Some(n.side.as_str()),
                    price: n.price.map(|p| p.to_string()),
                    qty: Some(n.qty.to_string()),
                    order_type: Some(if n.price.is_some() { "limit" } else { "market" }),
                })
            }
            EventKind::Amend(a) => {
                let known = self.orders.get(&key(&a.order_id)).cloned();
                let suspect = self.suspect(a.account, names).or_else(|| known.as_ref().map(|k| k.0.clone()));
                (suspect.is_some() || is_key).then(|| Row {
                    kind: "amend",
                    id: a.order_id.to_string(),
                    subject: suspect.is_some(),
                    account: suspect.or_else(|| name(a.account)),
                    counterparty: None,
                    side: known.map(|k| k.1),
                    price: a.price.map(|p| p.to_string()),
                    qty: a.qty.map(|q| q.to_string()),
                    order_type: None,
                })
            }
            EventKind::Cancel(c) => {
                let known = self.orders.get(&key(&c.order_id)).cloned();
                let suspect = self.suspect(c.account, names).or_else(|| known.as_ref().map(|k| k.0.clone()));
                (suspect.is_some() || is_key).then(|| Row {
                    kind: "cancel",
                    id: c.order_id.to_string(),
                    subject: suspect.is_some(),
                    account: suspect.or_else(|| name(c.account)),
                    counterparty: None,
                    side: known.map(|k| k.1),
                    price: None,
                    qty: None,
                    order_type: None,
                })
            }
            EventKind::Trade(t) => {
                let by_order = |id: &Option<vigil_core::OrderKey>, orders: &FxHashMap<(u32, u32, String), (String, &'static str)>| {
                    id.as_ref().and_then(|o| orders.get(&key(o)).map(|k| k.0.clone()))
                };
                let buy = self.suspect(t.buy_account, names).or_else(|| by_order(&t.buy_order_id, &self.orders));
                let sell = self.suspect(t.sell_account, names).or_else(|| by_order(&t.sell_order_id, &self.orders));
                let (account, counterparty, side, subject) = match (buy, sell) {
                    (Some(b), _) => (Some(b), name(t.sell_account), "buy", true),
                    (None, Some(s)) => (Some(s), name(t.buy_account), "sell", true),
                    // Named by the evidence, between accounts the files do not tie to the alerts'
                    // owners: listed from the buyer's side.
                    (None, None) => (name(t.buy_account), name(t.sell_account), "buy", false),
                };
                (subject || is_key).then(|| Row {
                    kind: "trade",
                    id: t.trade_id.to_string(),
                    subject,
                    account,
                    counterparty,
                    side: Some(side),
                    price: Some(t.price.to_string()),
                    qty: Some(t.qty.to_string()),
                    order_type: None,
                })
            }
            EventKind::Quote(_) | EventKind::Account { .. } => None,
        };
        let Some(row) = row else {
            return;
        };
        if !is_key && ev.ts.0 < self.span.0 {
            return;
        }
        let symbol = names.symbol(ev.symbol);
        let alerts: Vec<String> = self
            .scopes
            .iter()
            .enumerate()
            .filter(|(i, sc)| {
                keyed.contains(i)
                    || ((sc.from..=sc.to).contains(&ev.ts.0)
                        && sc.symbols.iter().any(|x| **x == *symbol)
                        && (row.account.as_deref().is_some_and(|a| self.in_scope(sc, a)) || row.counterparty.as_deref().is_some_and(|c| self.in_scope(sc, c))))
            })
            .map(|(_, sc)| sc.alert.clone())
            .collect();
        if alerts.is_empty() {
            return;
        }
        self.records.push(Record {
            ts: ev.ts.0,
            time: Ts(ev.ts.0).to_string(),
            venue: names.venue(ev.venue).to_string(),
            symbol: symbol.to_string(),
            kind: row.kind,
            id: row.id,
            account: row.account,
            counterparty: row.counterparty,
            side: row.side,
            price: row.price,
            qty: row.qty,
            order_type: row.order_type,
            subject: row.subject,
            key: is_key,
            alerts,
            seq: ev.seq,
        });
    }
}
