//! `wash_trading`: trades that change no beneficial ownership.
//!
//! - Self-trades and trades between two accounts of one owner (reference data): `min_trades` of them
//!   by one party in one instrument within `window` alert (FINRA's self-trade guidance: an isolated
//!   accidental self-match is not a pattern; a repeated one is), and so does one that was
//!   prearranged: both its orders went in with it and each traded in full with the other (FINRA
//!   Rule 6140(b), matched trades; a market order, which the book does not hold, is taken as
//!   arriving with its trade when it was the aggressor, and its size is not checked).
//! - Rings: accounts of different owners passing the instrument round among themselves. For each of
//!   `ring_windows` the detector keeps the instrument's trade graph (who sold to whom, how much;
//!   each trade added, and subtracted when it leaves the window). When a trade leaves both its
//!   accounts flat (net position within `net_margin` of their traded volume), it grows a candidate ring from them — adding each
//!   member's largest outside counterparty while that member trades less than `min_internal_share`
//!   of its volume inside — up to `max_ring_size` accounts; the ring alerts if it is strongly
//!   connected (everyone both sold and bought inside it), every member is flat and trades mostly
//!   inside, and it holds `min_ring_trades` trades. Markets are not rings: a market maker or a noise
//!   trader deals with many counterparties and is rarely flat.
//! - Rings as they close: each account's last `LINKS` (4) sales are kept, with where both sides
//!   stood before each; a trade whose buyer sold about this quantity within `cycle_window` to an
//!   account that sold it on, ... to this trade's seller, closes a chain of 3 to `max_ring_size`
//!   accounts, which alerts if each member's trading since its first link is mostly the chain's
//!   (judged over the ring's own minutes: members with an ordinary history trade mostly elsewhere
//!   over an hour); the chain's matched quantities leave each member within `net_margin` of flat
//!   but for what it traded outside it.
//!
//! Basis: FINRA Rule 5210 and its supplementary material on self-trades; FINRA Rule 6140(b) (matched
//! trades); CEA §4c(a)(2)(A); EU MAR Annex I(A)(a)/(b) and Annex II 1(a) (no change in beneficial
//! interest).

use super::{fictitious::join, num, short, slot, ON_ARRIVAL};
use crate::activity::Party;
use crate::builder::{key, round, Signal};
use crate::config::WashTradingConfig;
use crate::engine::{Context, Detector};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::json;
use std::collections::VecDeque;
use vigil_book::{BookChange, RestingOrder};
use vigil_core::time::format_duration;
use vigil_core::{AccountId, AlertType, Event, EventKind, Qty, Side, Ts};

/// At most this many ring windows (checked when the configuration is read): every window's figures
/// live side by side in one graph, so a trade is looked up once for all of them.
pub const MAX_RING_WINDOWS: usize = 2;
const W: usize = MAX_RING_WINDOWS;

/// The trade graph of one instrument over nested trailing windows: who sold to whom, how much, and
/// each account's totals, per window, kept by adding each trade and subtracting it again from each
/// window it leaves. A pair of accounts is stored once (the graph of a busy instrument is mostly
/// pairs), with each account's list of counterparties beside its totals.
struct Flows {
    /// The windows' spans, shortest first; the first `n` are in use.
    spans: [i64; W],
    n: usize,
    /// Trades in the longest window: (time, seller, buyer, qty), oldest first.
    trades: VecDeque<(i64, AccountId, AccountId, f64)>,
    /// Number of trades ever dropped from the front of `trades`.
    dropped: u64,
    /// Per window: the running number (counted as `dropped`) of its oldest trade.
    head: [u64; W],
    nodes: FxHashMap<AccountId, Node>,
    /// Per pair of accounts (see [`pair`]): what passed between them.
    pairs: FxHashMap<u64, Pair>,
}

/// The key of a pair of accounts, lower id first.
fn pair(a: AccountId, b: AccountId) -> u64 {
    let (lo, hi) = if a.0 <= b.0 { (a.0, b.0) } else { (b.0, a.0) };
    (u64::from(lo) << 32) | u64::from(hi)
}

impl Flows {
    fn new(windows: &[crate::config::Duration]) -> Self {
        let mut spans = [i64::MAX; W];
        let n = windows.len().clamp(1, W);
        for (s, w) in spans.iter_mut().zip(windows) {
            *s = w.0;
        }
        spans[..n].sort_unstable();
        Flows { spans, n, trades: VecDeque::new(), dropped: 0, head: [0; W], nodes: FxHashMap::default(), pairs: FxHashMap::default() }
    }

    /// Adds `qty` (negative: removes) and `trades` to the windows `ws`.
    /// A new trade (not one leaving a window) brings its time and sequence number, `at`: it
    /// moves both accounts' running totals and becomes the seller's latest link. Returns whether
    /// the buyer made a sale within `within` before it (a chain this trade closes starts there).
    #[allow(clippy::too_many_arguments)]
    fn apply(&mut self, seller: AccountId, buyer: AccountId, qty: f64, trades: i32, ws: std::ops::Range<usize>, at: Option<(i64, u64)>, within: i64) -> bool {
        let mut sold_lately = false;
        let last = self.n - 1;
        let k = pair(seller, buyer);
        let up = seller.0 < buyer.0;
        let mut fresh = false;
        let p = self.pairs.entry(k).or_insert_with(|| {
            fresh = true;
            Pair::default()
        });
        for w in ws.clone() {
            p.sold[usize::from(!up)][w] += qty;
            p.trades[w] = p.trades[w].saturating_add_signed(trades);
            // No rounding residue once a window has no trades left.
            if p.trades[w] == 0 {
                (p.sold[0][w], p.sold[1][w]) = (0.0, 0.0);
            }
        }
        // The longest window holds every shorter one: nothing left there, nothing anywhere.
        let gone = p.trades[last] == 0;
        if gone {
            self.pairs.remove(&k);
        }
        // The buyer first: the seller's link records where both stood before the trade.
        let mut buyer_before = (0.0, 0.0);
        for (a, c, bought, sold) in [(buyer, seller, qty, 0.0), (seller, buyer, 0.0, qty)] {
            let n = self.nodes.entry(a).or_default();
            if let Some((ts, seq)) = at {
                let before = n.running;
                n.running = (before.0 + qty, before.1 + bought - sold);
                if a == buyer {
                    buyer_before = before;
                    sold_lately = n.links[0].ts >= ts.saturating_sub(within);
                } else {
                    n.links.copy_within(0..LINKS - 1, 1);
                    n.links[0] = Link { ts, seq, buyer, qty, seller_before: before, buyer_before };
                }
            }
            for w in ws.clone() {
                n.bought[w] += bought;
                n.sold[w] += sold;
                n.trades[w] = n.trades[w].saturating_add_signed(trades);
                if n.trades[w] == 0 {
                    (n.bought[w], n.sold[w]) = (0.0, 0.0);
                }
            }
            if fresh && !gone {
                n.cps.insert(c);
            } else if gone {
                n.cps.remove(&c);
                if n.trades[last] == 0 && n.cps.is_empty() {
                    self.nodes.remove(&a);
                }
            }
        }
        sold_lately
    }

    /// Adds a trade; returns whether its buyer made a sale within `within` before it.
    fn add(&mut self, ts: Ts, seq: u64, seller: AccountId, buyer: AccountId, qty: f64, within: i64) -> bool {
        for w in 0..self.n {
            loop {
                let i = (self.head[w] - self.dropped) as usize;
                let Some(&(t, s, b, q)) = self.trades.get(i) else { break };
                if ts.0 - t < self.spans[w] {
                    break;
                }
                self.head[w] += 1;
                self.apply(s, b, -q, -1, w..w + 1, None, 0);
            }
        }
        // Every window has let go of the trades before the longest one's head.
        while self.dropped < self.head[self.n - 1] {
            self.trades.pop_front();
            self.dropped += 1;
        }
        self.trades.push_back((ts.0, seller, buyer, qty));
        self.apply(seller, buyer, qty, 1, 0..self.n, Some((ts.0, seq)), within)
    }

    /// (bought, sold, trades) of an account over window `w`.
    fn totals(&self, a: AccountId, w: usize) -> (f64, f64, u32) {
        self.nodes.get(&a).map_or((0.0, 0.0, 0), |n| (n.bought[w], n.sold[w], n.trades[w]))
    }

    fn running(&self, a: AccountId) -> (f64, f64) {
        self.nodes.get(&a).map_or((0.0, 0.0), |n| n.running)
    }

    /// A chain of trades of about `qty`, each at or after the one before and within `window` of
    /// `now`: `from` sold to someone, who sold to someone, ... who sold to `to`. The links (seller,
    /// trade), followed from sale to sale, two to `max_links` of them. Only members that have traded little
    /// else since their link are followed: at most `limit` (the chain's volume through a member over
    /// the least internal share) since it.
    #[allow(clippy::too_many_arguments)]
    fn chain(
        &self,
        from: AccountId,
        to: AccountId,
        qty: f64,
        margin: f64,
        min_share: f64,
        now: i64,
        window: i64,
        max_links: usize,
    ) -> Option<Vec<(AccountId, Link)>> {
        if self.nodes.get(&from)?.links[0].ts < now.saturating_sub(window) {
            return None;
        }
        let mut path: Vec<(AccountId, Link)> = Vec::new();
        let limit = 2.0 * qty * (1.0 + margin) / min_share.max(0.01);
        self.step(from, to, qty, margin, limit, now.saturating_sub(window), now, max_links, &mut path).then_some(path)
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        at: AccountId,
        to: AccountId,
        qty: f64,
        margin: f64,
        limit: f64,
        after: i64,
        now: i64,
        max_links: usize,
        path: &mut Vec<(AccountId, Link)>,
    ) -> bool {
        let Some(x) = self.nodes.get(&at) else { return false };
        // Its sales, newest first, back to the link before (a later small sale to the crowd does
        // not hide the one into the ring).
        for &l in x.links.iter() {
            if l.ts < after || x.running.0 - l.seller_before.0 > limit {
                return false;
            }
            if l.ts >= now || (l.qty - qty).abs() > margin * qty || l.buyer == at || path.iter().any(|(a, _)| *a == l.buyer) {
                continue;
            }
            if self.running(l.buyer).0 - l.buyer_before.0 > limit {
                continue;
            }
            path.push((at, l));
            if l.buyer == to {
                if path.len() >= 2 {
                    return true;
                }
            } else if path.len() < max_links && self.step(l.buyer, to, qty, margin, limit, l.ts, now, max_links, path) {
                return true;
            }
            path.pop();
        }
        false
    }

    fn flat(&self, a: AccountId, w: usize, margin: f64) -> bool {
        let (b, s, _) = self.totals(a, w);
        b + s > 0.0 && (b - s).abs() <= margin * (b + s)
    }

    /// `a`'s dealings with `c` in window `w`, if they dealt in it.
    fn flow(&self, a: AccountId, c: AccountId, w: usize) -> Option<Flow> {
        let p = self.pairs.get(&pair(a, c)).filter(|p| p.trades[w] > 0)?;
        let (to, from) = if a.0 < c.0 { (p.sold[0][w], p.sold[1][w]) } else { (p.sold[1][w], p.sold[0][w]) };
        Some(Flow { to, from, trades: p.trades[w] })
    }

    /// Whether `a` could trade `share` of its volume in window `w` inside a ring of at most `size`
    /// accounts: its largest `size - 1` flows bound what any ring holding it keeps inside. Summed in
    /// the map's order, with a margin for rounding that covers any order of summing (flows left
    /// slightly negative by trades leaving the window included), it turns away only what the exact
    /// test (in name order) would; it spares that test's sorting of names for a market's
    /// participants, who deal with too many to pass and whose net position crosses flat again and
    /// again.
    fn could_ring(&self, a: AccountId, w: usize, size: usize, share: f64) -> bool {
        const MAX: usize = 16;
        let k = size.saturating_sub(1);
        let Some(n) = self.nodes.get(&a) else { return false };
        // Nothing to rule out: a ring of one (refused by the configuration), one too large for
        // the buffer below, or no more counterparties than the ring could hold.
        if k == 0 || k > MAX || n.cps.len() <= k {
            return true;
        }
        // The k largest flows, largest first.
        let mut top = [0.0f64; MAX];
        let (mut total, mut abs, mut count) = (0.0, 0.0, 0.0);
        for &c in &n.cps {
            let Some(f) = self.flow(a, c, w) else { continue };
            let v = f.to + f.from;
            total += v;
            abs += v.abs();
            count += 1.0;
            if v > top[k - 1] {
                let mut i = k - 1;
                while i > 0 && top[i - 1] < v {
                    top[i] = top[i - 1];
                    i -= 1;
                }
                top[i] = v;
            }
        }
        // Two sums of up to `count` terms in any order each differ from the exact one by at most
        // about `count` roundings of the absolute sum; the product and sum here add a few more.
        let margin = (2.0 * count + 2.0 * k as f64 + 4.0) * f64::EPSILON * abs;
        top[..k].iter().sum::<f64>() >= share * total - margin
    }

    /// `a`'s counterparties in the longest window, in no particular order.
    fn counterparties(&self, a: AccountId) -> impl Iterator<Item = AccountId> + '_ {
        self.nodes.get(&a).into_iter().flat_map(|n| n.cps.iter().copied())
    }
}

/// What passed between two accounts, per window.
#[derive(Copy, Clone, Default)]
struct Pair {
    /// [sold by the lower id to the higher, sold by the higher to the lower], per window.
    sold: [[f64; W]; 2],
    trades: [u32; W],
}

/// One account's dealings with one counterparty in one window.
#[derive(Copy, Clone)]
struct Flow {
    /// Sold to the counterparty.
    to: f64,
    /// Bought from it.
    from: f64,
    trades: u32,
}

/// One account in the windows: its totals (bought, sold, trades) and its counterparties.
struct Node {
    bought: [f64; W],
    sold: [f64; W],
    trades: [u32; W],
    cps: FxHashSet<AccountId>,
    /// Everything it has traded (volume, and bought less sold) while in the graph, and its last
    /// `LINKS` sales, newest first: the links of the chains a ring closes. (A member of a ring has
    /// traded little but the ring since its link, so a sale older than a few is never the one a
    /// chain goes through; a small sale to the crowd after it may be its latest.)
    running: (f64, f64),
    links: [Link; LINKS],
}

impl Default for Node {
    fn default() -> Self {
        Node { bought: [0.0; W], sold: [0.0; W], trades: [0; W], cps: FxHashSet::default(), running: (0.0, 0.0), links: [NO_LINK; LINKS] }
    }
}

#[derive(Default)]
struct Inst {
    /// Per party: its self- or same-owner trades in the window (time, volume, trade seq).
    own: FxHashMap<Party, VecDeque<(Ts, f64, u64)>>,
    rings: Option<Flows>,
}

/// One trade as a link of a chain: who sold to whom, when and how much, and what each had traded
/// (volume, and bought less sold) before it.
#[derive(Copy, Clone)]
struct Link {
    ts: i64,
    seq: u64,
    buyer: AccountId,
    qty: f64,
    seller_before: (f64, f64),
    buyer_before: (f64, f64),
}

/// How many of an account's last sales are kept as links.
const LINKS: usize = 4;

/// No sale yet.
const NO_LINK: Link = Link { ts: i64::MIN, seq: 0, buyer: AccountId(u32::MAX), qty: 0.0, seller_before: (0.0, 0.0), buyer_before: (0.0, 0.0) };

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

    fn trades_only(&self) -> bool {
        true
    }
    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let EventKind::Trade(t) = &ev.kind else { return };
        let (Some(buyer), Some(seller)) = (t.buy_account, t.sell_account) else { return };
        let cfg = &self.cfg;
        let inst = slot(&mut self.slots, cx.slot);
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
            // One trade suffices when it was prearranged: both its orders went in with it (within
            // `ON_ARRIVAL` before it) and each traded in full with the other. An accidental
            // self-match is a later order meeting an earlier one that rested. (A market order never
            // rests: the book knows only its resting side, and the order arrived with the trade; its
            // size is not known here, so only the resting side's is checked.)
            let whole = |o: Option<RestingOrder>, side: Side| match o {
                Some(o) => o.filled == Qty::ZERO && o.qty == t.qty && ev.ts.0 - o.placed.0 <= ON_ARRIVAL,
                None => t.aggressor == Some(side),
            };
            let prearranged = matches!(cx.change, BookChange::Traded { buy, sell } if whole(*buy, Side::Buy) && whole(*sell, Side::Sell));
            let single = q.len() < cfg.min_trades as usize;
            if single && !prearranged {
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
            let description = if single {
                format!(
                    "{who} in {symbol} on {venue}: {} at {}, both orders placed together and each filled in full by the other (a prearranged trade{}): no change of beneficial ownership.",
                    t.qty,
                    t.price,
                    if n > 1 { format!("; {n} self-trades within {} s", short((ev.ts.0 - start.0) as f64 / 1e9)) } else { String::new() },
                )
            } else {
                format!(
                    "{who} {n} times in {symbol} on {venue} within {} s ({} in all, last at {}){}: no change of beneficial ownership.",
                    short((ev.ts.0 - start.0) as f64 / 1e9),
                    num(volume),
                    t.price,
                    if prearranged { ", the last with both orders placed together and each filled in full by the other" } else { "" },
                )
            };
            let evidence = json!({
                "pattern": if buyer == seller { "self_trade" } else { "same_owner" },
                "trades": n,
                "volume": round(volume, 8),
                "min_trades": cfg.min_trades,
                "prearranged": prearranged,
                "window_ns": cfg.window.0,
                "trade_seqs": q.iter().rev().take(32).map(|x| x.2).collect::<Vec<_>>(),
                "trade_id": t.trade_id.as_str(),
            });
            let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
            let mut accounts = vec![buyer, seller];
            super::sort_by_name(&mut accounts, cx.names);
            accounts.dedup();
            out.push(Signal {
                kind: AlertType::WashTrading,
                ts: ev.ts,
                window_start: start,
                window_end: ev.ts,
                venue: Some(cx.instrument.venue),
                symbols: vec![cx.instrument.symbol],
                accounts,
                // A prearranged trade has crossed the bar by itself.
                severity: if prearranged { (n as f64 / cfg.min_trades as f64).max(1.0) } else { n as f64 / cfg.min_trades as f64 },
                // One prearranged trade is surer than chance (two of a firm's algorithms sending one
                // clip in the same millisecond), less sure than a pattern.
                confidence: match (buyer == seller, single) {
                    (true, false) => 0.95,
                    (false, false) => 0.85,
                    (true, true) => 0.8,
                    (false, true) => 0.7,
                },
                behaviour,
                cooldown: cfg.cooldown.0,
                identity: key(&[t.trade_id.as_bytes()]),
                description,
                evidence,
            });
            return;
        }
        let flows = inst.rings.get_or_insert_with(|| Flows::new(&cfg.ring_windows));
        let sold_lately = flows.add(ev.ts, ev.seq, seller, buyer, qty, cfg.cycle_window.0);
        // The chain this trade closes, if any: the buyer sold this quantity on, and on, to the seller.
        let chain = sold_lately
            .then(|| flows.chain(buyer, seller, qty, cfg.net_margin, cfg.min_internal_share, ev.ts.0, cfg.cycle_window.0, cfg.max_ring_size.saturating_sub(1)))
            .flatten();
        if chain.is_some_and(|path| cycle(flows, &path, seller, qty, ev, t, cx, cfg, out)) {
            return;
        }
        for w in 0..flows.n {
            if !(flows.flat(buyer, w, cfg.net_margin) && flows.flat(seller, w, cfg.net_margin)) {
                continue;
            }
            let Some(ring) = find_ring(flows, w, buyer, seller, cfg, cx.names) else { continue };
            let (trades, volume) = internal(flows, w, &ring);
            let shares: Vec<f64> = ring
                .iter()
                .map(|&a| {
                    let (b, s, _) = flows.totals(a, w);
                    let inside: f64 = ring.iter().filter_map(|&c| flows.flow(a, c, w)).map(|f| f.to + f.from).sum();
                    inside / (b + s)
                })
                .collect();
            let worst_net = ring
                .iter()
                .map(|&a| {
                    let (b, s, _) = flows.totals(a, w);
                    (b - s).abs() / (b + s)
                })
                .fold(0.0, f64::max);
            let names: Vec<String> = ring.iter().map(|&a| cx.names.account(a).to_string()).collect();
            let span = flows.spans[w];
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
            let member_key = super::names_key(&ring, cx.names);
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

/// A chain of trades that the current trade (`seller` to the chain's first seller) closes: alerts
/// if every member's trading since its first trade in the chain is mostly the chain's and nets to
/// about flat. Returns whether it alerted.
#[allow(clippy::too_many_arguments)]
fn cycle(
    flows: &Flows,
    path: &[(AccountId, Link)],
    seller: AccountId,
    qty: f64,
    ev: &Event,
    t: &vigil_core::Trade,
    cx: &Context<'_>,
    cfg: &WashTradingConfig,
    out: &mut Vec<Signal>,
) -> bool {
    // Members in the order the quantity passed: the chain's first seller, each buyer (the last of
    // them is `seller`). Each one's standing before its first trade in the chain, and the chain's
    // volume through it (what it bought and sold in the chain, this trade included).
    let mut members: Vec<(AccountId, (f64, f64), f64)> = Vec::with_capacity(path.len() + 1);
    members.push((path[0].0, path[0].1.seller_before, path[0].1.qty + qty));
    for (i, (_, l)) in path.iter().enumerate() {
        let out_qty = path.get(i + 1).map_or(qty, |n| n.1.qty);
        members.push((l.buyer, l.buyer_before, l.qty + out_qty));
    }
    debug_assert_eq!(members.last().map(|m| m.0), Some(seller));
    let mut shares = Vec::with_capacity(members.len());
    let mut worst_net: f64 = 0.0;
    for &(a, before, inside) in &members {
        let now = flows.running(a);
        let (volume, net) = (now.0 - before.0, now.1 - before.1);
        if volume <= 0.0 {
            return false;
        }
        let share = (inside / volume).min(1.0);
        // The chain's quantities, matched within `net_margin` link by link, leave each member flat
        // within that margin of the chain's volume: the ring passed its quantity back. What a
        // member traded outside the chain meanwhile, in either direction, is at most the rest of
        // its trading (`min_internal_share`); its net position is evidence, not a test.
        if share < cfg.min_internal_share {
            return false;
        }
        let net = net.abs() / volume;
        shares.push(share);
        worst_net = worst_net.max(net);
    }
    let accounts: Vec<AccountId> = members.iter().map(|m| m.0).collect();
    let member_key = super::names_key(&accounts, cx.names);
    let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &member_key]);
    if cx.repeat(AlertType::WashTrading, behaviour, ev.ts, cfg.cooldown.0, out) {
        return true;
    }
    let start = path[0].1.ts;
    let names: Vec<String> = accounts.iter().map(|&a| cx.names.account(a).to_string()).collect();
    let hops: Vec<String> =
        names.windows(2).map(|w| format!("{} to {}", w[0], w[1])).chain(std::iter::once(format!("{} to {}", names[names.len() - 1], names[0]))).collect();
    let venue = cx.names.venue(cx.instrument.venue);
    let symbol = cx.names.symbol(cx.instrument.symbol);
    let trades = path.len() + 1;
    let description = format!(
        "Accounts {} passed {} {symbol} round on {venue} in {trades} trades within {} s ({}), each ending within {}% of flat and the chain at least {}% of its trading meanwhile: no change of beneficial ownership among them.",
        join(&names),
        num(qty),
        short((ev.ts.0 - start) as f64 / 1e9),
        join(&hops),
        short(100.0 * worst_net),
        short(100.0 * shares.iter().copied().fold(1.0, f64::min)),
    );
    let evidence = json!({
        "pattern": "ring",
        "found": "closing_trade",
        "members": names,
        "ring_trades": trades,
        "quantity": round(qty, 8),
        "internal_shares": shares.iter().map(|x| round(*x, 4)).collect::<Vec<_>>(),
        "min_internal_share": cfg.min_internal_share,
        "worst_net_fraction": round(worst_net, 6),
        "net_margin": cfg.net_margin,
        "cycle_window_ns": cfg.cycle_window.0,
        "trade_seqs": path.iter().map(|(_, l)| l.seq).chain(std::iter::once(ev.seq)).collect::<Vec<_>>(),
        "trigger_trade_id": t.trade_id.as_str(),
    });
    let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
    let mut sorted = accounts;
    super::sort_by_name(&mut sorted, cx.names);
    out.push(Signal {
        kind: AlertType::WashTrading,
        ts: ev.ts,
        window_start: Ts(start),
        window_end: ev.ts,
        venue: Some(cx.instrument.venue),
        symbols: vec![cx.instrument.symbol],
        accounts: sorted,
        severity: trades as f64 / cfg.min_ring_trades as f64,
        confidence: 0.7 + 0.3 * (1.0 - worst_net / cfg.net_margin.max(1e-12)).clamp(0.0, 1.0),
        behaviour,
        cooldown: cfg.cooldown.0,
        identity: key(&[t.trade_id.as_bytes(), &member_key]),
        description,
        evidence,
    });
    true
}

/// Trades and volume among the ring's members.
fn internal(flows: &Flows, w: usize, ring: &[AccountId]) -> (u32, f64) {
    let mut trades = 0;
    let mut volume = 0.0;
    for &a in ring {
        for &c in ring {
            if let Some(f) = flows.flow(a, c, w) {
                trades += f.trades;
                volume += f.to;
            }
        }
    }
    // Each trade was counted at both ends.
    (trades / 2, volume)
}

/// Grows a ring from a trade's two accounts; `None` if none qualifies.
fn find_ring(flows: &Flows, w: usize, a: AccountId, b: AccountId, cfg: &WashTradingConfig, names: &vigil_core::Names) -> Option<Vec<AccountId>> {
    if !(flows.could_ring(a, w, cfg.max_ring_size, cfg.min_internal_share) && flows.could_ring(b, w, cfg.max_ring_size, cfg.min_internal_share)) {
        return None;
    }
    grow_ring(flows, w, a, b, cfg, names)
}

/// [`find_ring`] without the quick bound.
fn grow_ring(flows: &Flows, w: usize, a: AccountId, b: AccountId, cfg: &WashTradingConfig, names: &vigil_core::Names) -> Option<Vec<AccountId>> {
    let mut ring = vec![a, b];
    let inside = |m: AccountId, ring: &[AccountId]| -> (f64, f64, Option<AccountId>) {
        let mut inn = 0.0;
        let mut outside = 0.0;
        let mut best: Option<(f64, AccountId)> = None;
        // In name order, not the map's: the sums' last bits and the ties are the same in every
        // process.
        let mut cps: Vec<AccountId> = flows.counterparties(m).collect();
        super::sort_by_name(&mut cps, names);
        for c in cps {
            // A counterparty of the longer windows only.
            let Some(f) = flows.flow(m, c, w) else { continue };
            let v = f.to + f.from;
            if ring.contains(&c) {
                inn += v;
            } else {
                outside += v;
                // On a tie the first name stays.
                if best.is_none_or(|(bv, _)| v > bv) {
                    best = Some((v, c));
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
    if ring.iter().any(|&m| !flows.flat(m, w, cfg.net_margin)) {
        return None;
    }
    if internal(flows, w, &ring).0 < cfg.min_ring_trades {
        return None;
    }
    // Strongly connected inside the ring: everyone reaches everyone along seller → buyer edges.
    let reach = |forward: bool| {
        let mut seen = vec![false; ring.len()];
        seen[0] = true;
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            for (j, &c) in ring.iter().enumerate() {
                if !seen[j] && flows.flow(ring[i], c, w).is_some_and(|f| if forward { f.to > 0.0 } else { f.from > 0.0 }) {
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
    super::sort_by_name(&mut ring, names);
    Some(ring)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Duration};

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn nested_windows_let_go_of_trades_separately() {
        let mut f = Flows::new(&[Duration(24 * 60 * MIN), Duration(60 * MIN)]);
        assert_eq!(f.spans[..2], [60 * MIN, 24 * 60 * MIN], "shortest first");
        let (a, b, c) = (AccountId(1), AccountId(2), AccountId(3));
        f.add(Ts(0), 0, a, b, 5.0, 0);
        f.add(Ts(10 * MIN), 0, b, a, 5.0, 0);
        f.add(Ts(90 * MIN), 0, c, a, 2.0, 0);
        // The first two trades left the hour but not the day.
        assert_eq!(f.totals(a, 0), (2.0, 0.0, 1));
        assert_eq!(f.totals(a, 1), (7.0, 5.0, 3));
        assert!(f.flow(a, b, 0).is_none());
        let ab = f.flow(a, b, 1).expect("a and b dealt within the day");
        assert_eq!((ab.to, ab.from, ab.trades), (5.0, 5.0, 2));
        let ba = f.flow(b, a, 1).expect("seen from b");
        assert_eq!((ba.to, ba.from), (5.0, 5.0));
        let ac = f.flow(a, c, 0).expect("within the hour");
        assert_eq!((ac.to, ac.from, ac.trades), (0.0, 2.0, 1));
        assert!(f.flat(b, 1, 0.01) && !f.flat(b, 0, 0.01));
        // A day later only the last trade's pair is left, and b is gone altogether.
        f.add(Ts(24 * 60 * MIN + 20 * MIN), 0, c, a, 1.0, 0);
        assert!(f.flow(a, b, 1).is_none());
        assert!(!f.nodes.contains_key(&b));
        let mut cps: Vec<_> = f.counterparties(a).collect();
        cps.sort_unstable();
        assert_eq!(cps, [c]);
        assert_eq!(f.trades.len(), 2);
        assert_eq!(f.totals(a, 1), (3.0, 0.0, 2));
        assert_eq!(f.totals(a, 0), (1.0, 0.0, 1));
    }

    #[test]
    fn only_an_account_whose_largest_flows_could_hold_it_in_a_ring_is_searched() {
        let mut f = Flows::new(&[Duration(60 * MIN)]);
        let acct = AccountId;
        // A market's participant: ten counterparties alike. Seven of them, the most a ring of
        // eight could hold, are 70 % of its trading, under the 90 % a ring's member needs.
        for c in 0..10 {
            f.add(Ts(c), 0, acct(100), acct(200 + c as u32), 1.0, 0);
        }
        assert!(!f.could_ring(acct(100), 0, 8, 0.9));
        // A ring of eleven could hold all ten.
        assert!(f.could_ring(acct(100), 0, 11, 0.9));
        // Seven counterparties of 9 and seven of 1: the largest seven are exactly 90 %, which the
        // exact test passes, so this one must not turn it away.
        for c in 0..14u32 {
            f.add(Ts(100 + i64::from(c)), 0, acct(1), acct(10 + c), if c < 7 { 9.0 } else { 1.0 }, 0);
        }
        assert!(f.could_ring(acct(1), 0, 8, 0.9));
        assert!(!f.could_ring(acct(1), 0, 8, 0.91));
        // Few counterparties: nothing to rule out. An account not in the graph has no ring.
        assert!(f.could_ring(acct(200), 0, 8, 0.9));
        assert!(!f.could_ring(acct(999), 0, 8, 0.9), "an account not in the graph");
    }

    #[test]
    fn the_quick_bound_turns_away_no_ring_the_search_would_find() {
        // Small random markets, some of them rings with a little outside trading, in quantities
        // that do not sum exactly: wherever the bound rules a trade's two accounts out, the
        // search finds nothing either.
        let cfg = Config::default().detectors.wash_trading;
        let mut it = vigil_core::ids::Interner::new();
        let ids: Vec<AccountId> = (0..12).map(|i| it.account(&format!("acct{i:02}"))).collect();
        let names = it.names();
        let mut rng = vigil_core::rng::Rng::new(7);
        let (mut ruled_out, mut found) = (0, 0);
        for _ in 0..400 {
            let mut f = Flows::new(&[Duration(60 * MIN)]);
            let members = 2 + rng.below(5) as usize;
            let market = members + rng.below(6) as usize;
            let (lap, outside) = (0.1 * (1 + rng.below(30)) as f64, rng.f64() * 0.3);
            for t in 0..(10 + rng.below(40)) as i64 {
                let (seller, buyer, qty) = if rng.f64() >= outside {
                    // Round the ring, one step on: flat after each lap.
                    let i = t as usize % members;
                    (ids[i], ids[(i + 1) % members], lap)
                } else {
                    let i = rng.below(market as u64) as usize;
                    let j = (i + 1 + rng.below(market as u64 - 1) as usize) % market;
                    (ids[i], ids[j], 0.01 * (1 + rng.below(30)) as f64)
                };
                f.add(Ts(t * 1_000_000_000), t as u64, seller, buyer, qty, 0);
                let share = [0.5, 0.7, 0.9][rng.below(3) as usize];
                let size = 2 + rng.below(7) as usize;
                let c = WashTradingConfig { min_internal_share: share, max_ring_size: size, min_ring_trades: 1, ..cfg.clone() };
                let bound = f.could_ring(seller, 0, size, share) && f.could_ring(buyer, 0, size, share);
                let ring = grow_ring(&f, 0, buyer, seller, &c, &names);
                assert!(bound || ring.is_none(), "the bound ruled out the ring {ring:?}");
                ruled_out += usize::from(!bound);
                found += usize::from(ring.is_some());
            }
        }
        // The test means something only if both happen.
        assert!(ruled_out > 100 && found > 100, "ruled out {ruled_out}, found {found}");
    }

    #[test]
    fn ring_windows_are_one_or_two() {
        for (windows, ok) in [("[\"1h\"]", true), ("[\"1h\", \"1d\"]", true), ("[]", false), ("[\"1h\", \"1d\", \"7d\"]", false)] {
            let r = Config::from_toml(&format!("[detectors.wash_trading]\nring_windows = {windows}\n"));
            assert_eq!(r.is_ok(), ok, "{windows}: {r:?}");
        }
        // The chain window lives inside the graph's longest window.
        for (cycle, ok) in [("15m", true), ("1d", false), ("0s", false)] {
            let r = Config::from_toml(&format!("[detectors.wash_trading]\nring_windows = [\"1h\", \"1d\"]\ncycle_window = \"{cycle}\"\n"));
            assert_eq!(r.is_ok(), ok, "{cycle}: {r:?}");
        }
    }

    #[test]
    fn the_new_thresholds_are_checked() {
        for bad in [
            "[detectors.spoofing]\nmax_same_side = -1.0\n",
            "[detectors.marking_the_close]\nmin_final_share = 0.0\n",
            "[detectors.marking_the_close]\nmin_final_fraction = 1.5\n",
            "[detectors.unusual_timing]\nmin_rhythm_share = 1.2\n",
            "[detectors.unusual_timing]\nmin_off_rhythm = 0\n",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
    }
}
