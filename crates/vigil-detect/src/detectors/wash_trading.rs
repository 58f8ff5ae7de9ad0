//! `wash_trading`: trades that change no beneficial ownership.
//!
//! - Self-trades and trades between two accounts of one owner (reference data): `min_trades` of them
//!   by one party in one instrument within `window` alert (FINRA's self-trade guidance: an isolated
//!   accidental self-match is not a pattern; a repeated one is).
//! - Rings: accounts of different owners passing the instrument round among themselves. For each of
//!   `ring_windows` the detector keeps the instrument's trade graph (who sold to whom, how much;
//!   each trade added, and subtracted when it leaves the window). When a trade leaves both its
//!   accounts flat (net position within `net_margin` of their traded volume), it grows a candidate ring from them — adding each
//!   member's largest outside counterparty while that member trades less than `min_internal_share`
//!   of its volume inside — up to `max_ring_size` accounts; the ring alerts if it is strongly
//!   connected (everyone both sold and bought inside it), every member is flat and trades mostly
//!   inside, and it holds `min_ring_trades` trades. Markets are not rings: a market maker or a noise
//!   trader deals with many counterparties and is rarely flat.
//!
//! Basis: FINRA Rule 5210 and its supplementary material on self-trades; FINRA Rule 6140(b) (matched
//! trades); CEA §4c(a)(2)(A); EU MAR Annex I(A)(a)/(b) and Annex II 1(a) (no change in beneficial
//! interest).

use super::{fictitious::join, num, short, slot};
use crate::activity::Party;
use crate::builder::{key, round, Signal};
use crate::config::WashTradingConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::VecDeque;
use vigil_core::time::format_duration;
use vigil_core::{AccountId, AlertType, Event, EventKind, Ts};

/// The trade graph of one instrument over a trailing window: who sold to whom, how much, and each
/// account's totals, kept by adding each trade and subtracting it again when it leaves the window.
struct Flows {
    span: i64,
    /// Trades in the window: (time, seller, buyer, qty), oldest first.
    trades: VecDeque<(i64, AccountId, AccountId, f64)>,
    /// Per account: its totals and counterparty → flow (one lookup for both).
    cp: Graph,
}

impl Flows {
    fn new(span: i64) -> Self {
        Flows { span, trades: VecDeque::new(), cp: FxHashMap::default() }
    }

    fn apply(&mut self, seller: AccountId, buyer: AccountId, qty: f64, trades: i64) {
        for (a, c, bought, sold) in [(seller, buyer, 0.0, qty), (buyer, seller, qty, 0.0)] {
            let n = self.cp.entry(a).or_default();
            n.bought += bought;
            n.sold += sold;
            n.trades = (n.trades as i64 + trades).max(0) as u32;
            let f = n.cps.entry(c).or_default();
            f.to += sold;
            f.from += bought;
            f.trades = (f.trades as i64 + trades).max(0) as u32;
            if f.trades == 0 {
                n.cps.remove(&c);
                if n.trades == 0 && n.cps.is_empty() {
                    self.cp.remove(&a);
                }
            }
        }
    }

    fn add(&mut self, ts: Ts, seller: AccountId, buyer: AccountId, qty: f64) {
        while let Some(&(t, s, b, q)) = self.trades.front() {
            if ts.0 - t < self.span {
                break;
            }
            self.trades.pop_front();
            self.apply(s, b, -q, -1);
        }
        self.trades.push_back((ts.0, seller, buyer, qty));
        self.apply(seller, buyer, qty, 1);
    }

    /// (bought, sold, trades) of an account, over the window.
    fn totals(&self, a: AccountId) -> (f64, f64, u32) {
        self.cp.get(&a).map_or((0.0, 0.0, 0), |n| (n.bought, n.sold, n.trades))
    }

    fn flat(&self, a: AccountId, margin: f64) -> bool {
        let (b, s, _) = self.totals(a);
        b + s > 0.0 && (b - s).abs() <= margin * (b + s)
    }
}

/// One account's dealings with one counterparty over the window.
#[derive(Copy, Clone, Default)]
struct Flow {
    /// Sold to the counterparty.
    to: f64,
    /// Bought from it.
    from: f64,
    trades: u32,
}

/// One account in the window: its totals (bought, sold, trades) and its counterparties.
#[derive(Default)]
struct Node {
    bought: f64,
    sold: f64,
    trades: u32,
    cps: FxHashMap<AccountId, Flow>,
}

type Graph = FxHashMap<AccountId, Node>;

/// An account's counterparties in the window.
fn cps<'a>(cp: &'a Graph, a: &AccountId) -> Option<&'a FxHashMap<AccountId, Flow>> {
    cp.get(a).map(|n| &n.cps)
}

#[derive(Default)]
struct Inst {
    /// Per party: its self- or same-owner trades in the window (time, volume, trade seq).
    own: FxHashMap<Party, VecDeque<(Ts, f64, u64)>>,
    rings: Vec<Flows>,
}

pub struct WashTrading {
    cfg: WashTradingConfig,
    slots: Vec<Inst>,
}

impl WashTrading {
    pub fn new(cfg: WashTradingConfig) -> Self {
        WashTrading { cfg, slots: Vec::new() }
    }
}

impl Detector for WashTrading {
    fn name(&self) -> &'static str {
        "wash_trading"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::WashTrading
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let EventKind::Trade(t) = &ev.kind else { return };
        let (Some(buyer), Some(seller)) = (t.buy_account, t.sell_account) else { return };
        let cfg = &self.cfg;
        let inst = slot(&mut self.slots, cx.slot);
        if inst.rings.is_empty() {
            inst.rings = cfg.ring_windows.iter().map(|w| Flows::new(w.0)).collect();
        }
        let qty = t.qty.to_f64();
        // Names are looked up only to write an alert (a read lock and two reference counts).
        let place = || (cx.names.venue(cx.instrument.venue), cx.names.symbol(cx.instrument.symbol));
        let party = cx.party(buyer);
        if party == cx.party(seller) {
            let q = inst.own.entry(party).or_default();
            while q.front().is_some_and(|f| ev.ts.0 - f.0 .0 > cfg.window.0) {
                q.pop_front();
            }
            q.push_back((ev.ts, qty, ev.seq));
            if q.len() < cfg.min_trades as usize {
                return;
            }
            let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &party.0.to_le_bytes()]);
            if cx.repeat(AlertType::WashTrading, behaviour, ev.ts, cfg.cooldown.0, out) {
                return;
            }
            let n = q.len();
            let volume: f64 = q.iter().map(|x| x.1).sum();
            let start = q[0].0;
            let who = if buyer == seller {
                format!("{} traded with itself", cx.names.account(buyer))
            } else {
                let owner = cx.owner(buyer).map(|o| cx.names.owners.get(o.0)).unwrap_or_else(|| "?".into());
                format!("{} and {}, both owned by {owner}, traded with each other", cx.names.account(buyer), cx.names.account(seller))
            };
            let (venue, symbol) = place();
            let description = format!(
                "{who} {n} times in {symbol} on {venue} within {} s ({} in all, last at {}): no change of beneficial ownership.",
                short((ev.ts.0 - start.0) as f64 / 1e9),
                num(volume),
                t.price,
            );
            let evidence = json!({
                "pattern": if buyer == seller { "self_trade" } else { "same_owner" },
                "trades": n,
                "volume": round(volume, 8),
                "min_trades": cfg.min_trades,
                "window_ns": cfg.window.0,
                "trade_seqs": q.iter().rev().take(32).map(|x| x.2).collect::<Vec<_>>(),
                "trade_id": t.trade_id.as_str(),
            });
            let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
            let mut accounts = vec![buyer, seller];
            accounts.sort_unstable();
            accounts.dedup();
            out.push(Signal {
                kind: AlertType::WashTrading,
                ts: ev.ts,
                window_start: start,
                window_end: ev.ts,
                venue: Some(cx.instrument.venue),
                symbols: vec![cx.instrument.symbol],
                accounts,
                severity: n as f64 / cfg.min_trades as f64,
                confidence: if buyer == seller { 0.95 } else { 0.85 },
                behaviour,
                cooldown: cfg.cooldown.0,
                identity: key(&[t.trade_id.as_bytes()]),
                description,
                evidence,
            });
            return;
        }
        for w in 0..inst.rings.len() {
            let flows = &mut inst.rings[w];
            flows.add(ev.ts, seller, buyer, qty);
            if !(flows.flat(buyer, cfg.net_margin) && flows.flat(seller, cfg.net_margin)) {
                continue;
            }
            let cp = &flows.cp;
            let Some(ring) = find_ring(flows, cp, buyer, seller, cfg) else { continue };
            let (trades, volume) = internal(cp, &ring);
            let shares: Vec<f64> = ring
                .iter()
                .map(|&a| {
                    let (b, s, _) = flows.totals(a);
                    let inside: f64 = ring.iter().filter_map(|c| cps(cp, &a).and_then(|m| m.get(c))).map(|f| f.to + f.from).sum();
                    inside / (b + s)
                })
                .collect();
            let worst_net = ring
                .iter()
                .map(|&a| {
                    let (b, s, _) = flows.totals(a);
                    (b - s).abs() / (b + s)
                })
                .fold(0.0, f64::max);
            let names: Vec<String> = ring.iter().map(|&a| cx.names.account(a).to_string()).collect();
            let span = flows.span;
            let (venue, symbol) = place();
            let description = format!(
                "Accounts {} traded {symbol} on {venue} in a closed ring over the last {}: {trades} trades and {} among themselves, each doing at least {}% of its volume inside the ring and ending within {}% of flat.",
                join(&names),
                format_duration(span),
                num(volume),
                short(100.0 * shares.iter().copied().fold(1.0, f64::min)),
                short(100.0 * worst_net),
            );
            let evidence = json!({
                "pattern": "ring",
                "members": names,
                "ring_trades": trades,
                "ring_volume": round(volume, 8),
                "internal_shares": shares.iter().map(|x| round(*x, 4)).collect::<Vec<_>>(),
                "min_internal_share": cfg.min_internal_share,
                "worst_net_fraction": round(worst_net, 6),
                "net_margin": cfg.net_margin,
                "window_ns": span,
                "trigger_trade_id": t.trade_id.as_str(),
            });
            let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
            let mut member_key = Vec::with_capacity(ring.len() * 4);
            for a in &ring {
                member_key.extend_from_slice(&a.0.to_le_bytes());
            }
            out.push(Signal {
                kind: AlertType::WashTrading,
                ts: ev.ts,
                window_start: Ts(ev.ts.0 - span),
                window_end: ev.ts,
                venue: Some(cx.instrument.venue),
                symbols: vec![cx.instrument.symbol],
                accounts: ring,
                severity: trades as f64 / cfg.min_ring_trades as f64,
                confidence: 0.7 + 0.3 * (1.0 - worst_net / cfg.net_margin.max(1e-12)).clamp(0.0, 1.0),
                behaviour: key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &member_key]),
                cooldown: cfg.cooldown.0,
                identity: key(&[t.trade_id.as_bytes(), &member_key]),
                description,
                evidence,
            });
            // One window's ring is enough; the longer windows would say the same.
            return;
        }
    }
}

/// Trades and volume among the ring's members.
fn internal(cp: &Graph, ring: &[AccountId]) -> (u32, f64) {
    let mut trades = 0;
    let mut volume = 0.0;
    for a in ring {
        if let Some(m) = cps(cp, a) {
            for c in ring {
                if let Some(f) = m.get(c) {
                    trades += f.trades;
                    volume += f.to;
                }
            }
        }
    }
    // Each trade was counted at both ends.
    (trades / 2, volume)
}

/// Grows a ring from a trade's two accounts; `None` if none qualifies.
fn find_ring(flows: &Flows, cp: &Graph, a: AccountId, b: AccountId, cfg: &WashTradingConfig) -> Option<Vec<AccountId>> {
    let mut ring = vec![a, b];
    let inside = |m: AccountId, ring: &[AccountId]| -> (f64, f64, Option<AccountId>) {
        let mut inn = 0.0;
        let mut outside = 0.0;
        let mut best: Option<(f64, AccountId)> = None;
        if let Some(counterparties) = cps(cp, &m) {
            for (&c, f) in counterparties {
                let v = f.to + f.from;
                if ring.contains(&c) {
                    inn += v;
                } else {
                    outside += v;
                    // Ties broken by id, so the result does not depend on hash order.
                    if best.is_none_or(|(bv, bc)| v > bv || (v == bv && c < bc)) {
                        best = Some((v, c));
                    }
                }
            }
        }
        (inn, outside, best.map(|x| x.1))
    };
    loop {
        let mut grew = false;
        for i in 0..ring.len() {
            let (inn, outside, best) = inside(ring[i], &ring);
            if inn < cfg.min_internal_share * (inn + outside) {
                let c = best?;
                if ring.len() >= cfg.max_ring_size {
                    return None;
                }
                ring.push(c);
                grew = true;
                break;
            }
        }
        if !grew {
            break;
        }
    }
    if ring.iter().any(|&m| !flows.flat(m, cfg.net_margin)) {
        return None;
    }
    if internal(cp, &ring).0 < cfg.min_ring_trades {
        return None;
    }
    // Strongly connected inside the ring: everyone reaches everyone along seller → buyer edges.
    let reach = |forward: bool| {
        let mut seen = vec![false; ring.len()];
        seen[0] = true;
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            let Some(m) = cps(cp, &ring[i]) else { continue };
            for (j, c) in ring.iter().enumerate() {
                if !seen[j] && m.get(c).is_some_and(|f| if forward { f.to > 0.0 } else { f.from > 0.0 }) {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        seen.iter().all(|&s| s)
    };
    if !(reach(true) && reach(false)) {
        return None;
    }
    ring.sort_unstable();
    Some(ring)
}
