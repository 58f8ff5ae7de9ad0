//! The labelled market simulator: an agent-based market on several symbols and venues, matched by
//! price-time priority ([`Market`]), with manipulation scenarios injected and labelled, and
//! unlabelled look-alikes in every run. It is the ground truth of `vigil eval`, the source of the
//! demo and of `vigil test`, and a benchmark source.
//!
//! Each symbol has a value (what informed traders think it is worth) that follows a random walk with
//! volatility clustering, moves with the net aggressive flow (price impact) and jumps on news. On
//! each venue:
//! - market makers quote several levels a side around the value and re-quote all the time,
//!   cancelling most of what they place (the normal of a venue);
//! - noise traders send market orders with heavy-tailed sizes and limit orders at or behind the
//!   touch that they cancel later; some are pairs of accounts with one owner that only take
//!   liquidity, so they never trade with each other;
//! - momentum traders chase the last half minute's move;
//! - arbitrageurs buy on the cheap venue and sell on the dear one within the same second.
//!
//! Activity varies through the day (busier at the European and American opens) and between symbols
//! (a liquid one, thin ones). Time is event time: every action happens at an instant of the
//! simulation clock and writes its events at that instant, so the events of one market are in the
//! order its matching engine processed them. The same seed gives the same events and labels.

use crate::market::Market;
use crate::scenario::{self, Scenario};
use crate::Rng;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use vigil_core::{AccountId, AlertType, Event, Interner, OwnerId, Side, Ts};

pub(crate) const SEC: i64 = 1_000_000_000;
pub(crate) const MS: i64 = 1_000_000;
const MINUTE: i64 = 60 * SEC;

/// One line of `labels.jsonl`, as the spec defines it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Label {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub venue: String,
    pub symbol: String,
    pub accounts: Vec<String>,
    pub start: i64,
    pub end: i64,
}

/// The alert types the simulator can inject: every type of the spec but `ml_anomaly` (the last of
/// `AlertType::ALL`; the build fails if that changes).
pub const SCENARIO_TYPES: &[AlertType] = match AlertType::ALL.split_last() {
    Some((AlertType::MlAnomaly, rest)) => rest,
    _ => panic!("ml_anomaly is no longer the last alert type"),
};

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// The simulation starts here; the labelled span starts after the warm-up.
    pub start: Ts,
    /// Background only, so that the detectors' baselines (a volume median of ten minutes, a
    /// volatility of twenty one-minute returns) exist when the scenarios begin.
    pub warmup_ns: i64,
    /// The span in which scenarios and look-alikes are injected.
    pub duration_ns: i64,
    pub symbols: usize,
    /// The symbols' names, in order (`S0-USD`, `S1-USD`, … past the end of this list).
    pub symbol_names: Vec<String>,
    pub venues: usize,
    /// The scenarios to inject, and how many of each.
    pub scenarios: Vec<AlertType>,
    pub per_type: usize,
    /// Unlabelled look-alikes: news, large orders cancelled as the market moves away, a large
    /// order worked through the day, market makers hedging.
    pub hard_negatives: bool,
    /// Background actions a second on the median venue-symbol.
    pub rate: f64,
    /// Reference times (closes, fixings) fall on multiples of this from midnight UTC; marking
    /// scenarios happen in `reference_window` before one, and directional scenarios stay out of it.
    pub reference_every_ns: i64,
    pub reference_window_ns: i64,
}

/// 2026-01-05 13:27:00 UTC: with the default 25-minute warm-up and 10-minute span, the span holds
/// the 14:00 reference time.
pub const DEFAULT_START: Ts = Ts(1_767_619_620 * SEC);

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start: DEFAULT_START,
            warmup_ns: 25 * MINUTE,
            duration_ns: 10 * MINUTE,
            symbols: 6,
            symbol_names: Vec::new(),
            venues: 2,
            scenarios: SCENARIO_TYPES.to_vec(),
            per_type: 2,
            hard_negatives: true,
            rate: 20.0,
            reference_every_ns: 60 * MINUTE,
            reference_window_ns: 5 * MINUTE,
        }
    }
}

/// One symbol, across venues.
pub(crate) struct Sym {
    pub name: String,
    /// Log of the value.
    pub value: f64,
    pub tick: f64,
    /// The typical order size, lots.
    pub base: f64,
    /// Activity relative to the median symbol.
    pub activity: f64,
    /// The value's volatility over a minute (before clustering).
    pub minute_vol: f64,
    pub vol_scale: f64,
    /// Arbitrage is off until then (a venue's withdrawals halted: its price can stay apart).
    pub arb_blocked_until: i64,
    /// A news regime: until, direction, activity factor.
    pub news: Option<(i64, f64, f64)>,
    /// A crowd of extra takers: until, buy probability, activity factor (scenarios' followers).
    pub crowd: Option<(i64, f64, f64)>,
}

pub(crate) struct Inst {
    pub m: Market,
    pub sym: usize,
    pub venue: usize,
    /// The venue's log deviation from the symbol's value (mean-reverting noise).
    pub offset: f64,
    /// A deviation imposed by a scenario (price discrepancy).
    pub shift: f64,
    pub quotes: Vec<Vec<u64>>,
    /// Half-spread of the makers' first level, ticks.
    pub half_spread: i64,
    /// Noise limit orders to cancel: (when, id).
    pub expiries: BinaryHeap<Reverse<(i64, u64)>>,
    /// Last trade price each second, for the momentum traders.
    pub history: VecDeque<(i64, f64)>,
    /// Traded volume a second, smoothed.
    pub vol_rate: f64,
    /// The last twenty one-minute returns, and the last minute's mark.
    pub minute_returns: VecDeque<f64>,
    pub minute_mark: Option<(i64, f64)>,
    pub traded_seen: f64,
    pub vol_at: i64,
}

/// Everything scenarios act on.
pub(crate) struct World {
    pub rng: Rng,
    pub now: i64,
    pub syms: Vec<Sym>,
    pub insts: Vec<Inst>,
    pub venues: usize,
    pub makers: Vec<AccountId>,
    pub noise: Vec<AccountId>,
    /// Each noise trader's current view (the side it trades) and until when it holds: a trader
    /// buys for a while, then sells, rather than flipping at random from one order to the next.
    pub views: Vec<(Side, i64)>,
    /// Each noise trader's limit orders (instrument, id): a trader who changes its mind cancels
    /// them before trading the other way.
    pub resting: Vec<Vec<(usize, u64)>>,
    /// Noise accounts that only take liquidity (pairs sharing an owner).
    pub takers_only: usize,
    pub momentum: Vec<AccountId>,
    pub arbs: Vec<AccountId>,
    pub names: Vec<(AccountId, String)>,
    next_account: u32,
    pub owners: Vec<(AccountId, OwnerId)>,
    next_owner: u32,
}

impl World {
    pub fn inst(&self, sym: usize, venue: usize) -> usize {
        sym * self.venues + venue
    }

    /// A fresh account named `t<n>` (every trader's name says nothing of what it does).
    pub fn account(&mut self, it: &mut Interner) -> AccountId {
        let name = format!("t{}", self.next_account);
        self.next_account += 1;
        let a = it.account(&name);
        self.names.push((a, name));
        a
    }

    pub fn owner(&mut self, it: &mut Interner, accounts: &[AccountId]) {
        let o = it.owner(&format!("owner{}", self.next_owner));
        self.next_owner += 1;
        for &a in accounts {
            self.owners.push((a, o));
        }
    }

    pub fn name(&self, a: AccountId) -> String {
        self.names.iter().find(|(x, _)| *x == a).map_or_else(String::new, |(_, n)| n.clone())
    }

    /// The venue's fair mid price.
    pub fn mid(&self, i: usize) -> f64 {
        let inst = &self.insts[i];
        (self.syms[inst.sym].value + inst.offset + inst.shift).exp()
    }

    pub fn tick(&self, i: usize) -> f64 {
        self.syms[self.insts[i].sym].tick
    }

    pub fn base(&self, i: usize) -> f64 {
        self.syms[self.insts[i].sym].base
    }

    /// `p` on the tick grid.
    pub fn round(&self, i: usize, p: f64) -> f64 {
        let t = self.tick(i);
        ((p / t).round() * t * 1e8).round() / 1e8
    }

    /// Lots, whole, at least one.
    pub fn lots(q: f64) -> f64 {
        q.round().max(1.0)
    }

    /// The best price of `side`, or the fair quote when that side is empty.
    pub fn best(&self, i: usize, side: Side) -> f64 {
        let m = &self.insts[i].m;
        let t = self.tick(i);
        match side {
            Side::Buy => m.best_bid().unwrap_or_else(|| self.round(i, self.mid(i) - t)),
            Side::Sell => m.best_ask().unwrap_or_else(|| self.round(i, self.mid(i) + t)),
        }
    }

    /// A price that improves the touch of `side` when the spread leaves room, else the touch.
    pub fn inside(&self, i: usize, side: Side) -> f64 {
        let (b, a, t) = (self.best(i, Side::Buy), self.best(i, Side::Sell), self.tick(i));
        if a - b > 1.5 * t {
            match side {
                Side::Buy => self.round(i, b + t),
                Side::Sell => self.round(i, a - t),
            }
        } else {
            match side {
                Side::Buy => b,
                Side::Sell => a,
            }
        }
    }

    /// A price strictly inside the spread, if there is one.
    pub fn between(&self, i: usize) -> Option<f64> {
        let (b, a, t) = (self.best(i, Side::Buy), self.best(i, Side::Sell), self.tick(i));
        (a - b > 1.5 * t).then(|| self.round(i, b + t * ((a - b) / t / 2.0).floor().max(1.0)))
    }

    /// Moves the symbol's value by `frac` (0.01 = +1 %).
    pub fn push(&mut self, sym: usize, frac: f64) {
        self.syms[sym].value += (1.0 + frac).ln();
    }

    /// `who` trades with the open order `id` until it is filled (a taker drawn to it).
    pub fn hit(&mut self, i: usize, who: AccountId, id: u64) {
        if let Some((side, price, qty)) = self.insts[i].m.to_fill(id) {
            let now = self.now;
            self.insts[i].m.order_stp(now, who, side.opposite(), Some(price), qty);
        }
    }

    /// A market order, with its price impact on the symbol's value. Takers use self-trade
    /// prevention: only the wash scenarios trade with themselves, on purpose.
    pub fn take(&mut self, i: usize, who: AccountId, side: Side, qty: f64) {
        let now = self.now;
        let before = self.insts[i].m.traded;
        self.insts[i].m.order_stp(now, who, side, None, qty);
        self.impact(i, side, self.insts[i].m.traded - before);
    }

    /// A marketable order that takes what it can up to `limit` and cancels the rest (immediate or
    /// cancel), with its impact.
    pub fn take_ioc(&mut self, i: usize, who: AccountId, side: Side, qty: f64, limit: f64) {
        let now = self.now;
        let before = self.insts[i].m.traded;
        let id = self.insts[i].m.order_stp(now, who, side, Some(limit), qty);
        if self.insts[i].m.is_open(id) {
            self.insts[i].m.cancel(now, id);
        }
        self.impact(i, side, self.insts[i].m.traded - before);
    }

    /// Aggression moves the value, less in a deeper (more active) market.
    fn impact(&mut self, i: usize, side: Side, traded: f64) {
        let s = self.insts[i].sym;
        let k = 2e-5 * traded / self.syms[s].base / self.syms[s].activity;
        self.syms[s].value += if side == Side::Buy { k } else { -k };
    }

    /// A noise account drawn at random (one that may rest orders, when `resting`).
    /// A noise account drawn at random (its index, the account) and the side its current view
    /// says it trades. When the view changes, its orders on the old side are cancelled first.
    pub fn noise_trader(&mut self, resting: bool) -> (usize, AccountId, Side) {
        let lo = if resting { self.takers_only } else { 0 };
        let k = lo + self.rng.below((self.noise.len() - lo) as u64) as usize;
        if self.views[k].1 <= self.now {
            let side = if self.rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            self.set_view(k, side);
        }
        (k, self.noise[k], self.views[k].0)
    }

    /// A noise trader taking a side (cancelling its orders on the other side first).
    fn set_view(&mut self, k: usize, side: Side) {
        if side != self.views[k].0 {
            let now = self.now;
            for (i, id) in std::mem::take(&mut self.resting[k]) {
                self.insts[i].m.cancel(now, id);
            }
        }
        self.views[k] = (side, self.now + self.rng.exp(180.0 * SEC as f64) as i64);
    }

    /// A noise trader joining a crowd: it buys with probability `buy_p`, its view changed to match.
    pub fn follower(&mut self, buy_p: f64, resting: bool) -> (AccountId, Side) {
        let lo = if resting { self.takers_only } else { 0 };
        let k = lo + self.rng.below((self.noise.len() - lo) as u64) as usize;
        let side = if self.rng.f64() < buy_p { Side::Buy } else { Side::Sell };
        if side != self.views[k].0 || self.views[k].1 <= self.now {
            self.set_view(k, side);
        }
        (self.noise[k], side)
    }

    /// The realised one-minute volatility of instrument `i` (the root mean square of its last
    /// twenty one-minute returns; the symbol's own before there are five).
    pub fn minute_vol(&self, i: usize) -> f64 {
        let r = &self.insts[i].minute_returns;
        if r.len() >= 5 {
            (r.iter().map(|x| x * x).sum::<f64>() / r.len() as f64).sqrt()
        } else {
            let s = &self.syms[self.insts[i].sym];
            s.minute_vol * s.vol_scale
        }
    }

    /// Traded volume a second in instrument `i`, recently.
    pub fn volume_rate(&self, i: usize) -> f64 {
        self.insts[i].vol_rate.max(self.base(i) * 0.1)
    }
}

/// The simulator: advance it in event time and take the events; labels accumulate as scenarios end.
pub struct Simulator {
    cfg: SimConfig,
    w: World,
    scenarios: Vec<Slot>,
    wakes: BinaryHeap<Reverse<(i64, usize)>>,
    next_bg: i64,
    labels: Vec<Label>,
    seq: u64,
    /// Scheduling: busy spans per symbol.
    busy: Vec<Vec<(i64, i64)>>,
    /// Scenarios that could not be placed: type, and whether labelled (else a look-alike).
    pub unplaced: Vec<(AlertType, bool)>,
    /// Labelled scenarios placed: type, symbol, start, end.
    placed: Vec<(AlertType, usize, i64, i64)>,
}

struct Slot {
    sc: Box<dyn Scenario>,
    kind: AlertType,
    labelled: bool,
    done: bool,
}

impl Simulator {
    pub fn new(cfg: SimConfig, it: &mut Interner) -> Self {
        let mut rng = Rng::new(cfg.seed ^ 0x05EE_D0F7_17A1);
        let symbols = cfg.symbols.max(1);
        let venues = cfg.venues.max(1);
        let mut syms = Vec::new();
        for s in 0..symbols {
            let price = (20.0f64.ln() + rng.f64() * 6.0f64.ln() * 2.0).exp();
            // One liquid symbol, the others thinner in steps: 4.5 times the median down to a
            // fifth of it.
            let x = if symbols == 1 { 0.0 } else { 1.0 - 2.0 * s as f64 / (symbols - 1) as f64 };
            syms.push(Sym {
                name: cfg.symbol_names.get(s).cloned().unwrap_or_else(|| format!("S{s}-USD")),
                value: price.ln(),
                tick: tick_for(price),
                base: (2.0 + rng.f64() * 8.0).round(),
                activity: 20f64.sqrt().powf(x),
                minute_vol: 0.0008 + 0.0017 * rng.f64(),
                vol_scale: 1.0,
                arb_blocked_until: 0,
                news: None,
                crowd: None,
            });
        }
        let mut insts = Vec::new();
        for (s, sym) in syms.iter().enumerate() {
            let half_spread = 1 + rng.below(2) as i64;
            for v in 0..venues {
                let m = Market::new(it, &format!("venue{v}"), &sym.name);
                insts.push(Inst {
                    m,
                    sym: s,
                    venue: v,
                    offset: 0.0,
                    shift: 0.0,
                    quotes: vec![Vec::new(); 3],
                    half_spread,
                    expiries: BinaryHeap::new(),
                    history: VecDeque::new(),
                    vol_rate: 0.0,
                    minute_returns: VecDeque::new(),
                    minute_mark: None,
                    traded_seen: 0.0,
                    vol_at: cfg.start.0,
                });
            }
        }
        let mut w = World {
            rng,
            now: cfg.start.0,
            syms,
            insts,
            venues,
            makers: Vec::new(),
            noise: Vec::new(),
            views: Vec::new(),
            resting: Vec::new(),
            takers_only: 16,
            momentum: Vec::new(),
            arbs: Vec::new(),
            names: Vec::new(),
            next_account: 1,
            owners: Vec::new(),
            next_owner: 1,
        };
        // Three market-making firms, one account per venue each; a firm is one owner everywhere.
        for _ in 0..3 {
            let accts: Vec<AccountId> = (0..venues).map(|_| w.account(it)).collect();
            w.owner(it, &accts);
            w.makers.extend(accts);
        }
        w.noise = (0..3000).map(|_| w.account(it)).collect();
        w.views = vec![(Side::Buy, 0); w.noise.len()];
        w.resting = vec![Vec::new(); w.noise.len()];
        for k in 0..w.takers_only / 2 {
            let pair = [w.noise[2 * k], w.noise[2 * k + 1]];
            w.owner(it, &pair);
        }
        w.momentum = (0..6).map(|_| w.account(it)).collect();
        // An arbitrage fund, one account per venue.
        w.arbs = (0..venues).map(|_| w.account(it)).collect();
        if venues > 1 {
            let arbs = w.arbs.clone();
            w.owner(it, &arbs);
        }
        let start = cfg.start.0;
        let mut sim = Simulator {
            next_bg: start,
            w,
            scenarios: Vec::new(),
            wakes: BinaryHeap::new(),
            labels: Vec::new(),
            seq: 0,
            busy: vec![Vec::new(); symbols],
            unplaced: Vec::new(),
            placed: Vec::new(),
            cfg,
        };
        sim.plan(it);
        sim.write_owners();
        sim
    }

    /// Reference data first: who owns which accounts.
    fn write_owners(&mut self) {
        let ts = self.w.now;
        for (a, o) in std::mem::take(&mut self.w.owners) {
            self.w.insts[0].m.owner(ts, a, o);
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// When the labelled span starts and ends.
    pub fn span(&self) -> (i64, i64) {
        let s = self.cfg.start.0 + self.cfg.warmup_ns;
        (s, s + self.cfg.duration_ns)
    }

    pub fn end(&self) -> i64 {
        self.span().1
    }

    /// The reference times within [from, to).
    fn references(&self, from: i64, to: i64) -> Vec<i64> {
        let every = self.cfg.reference_every_ns;
        if every <= 0 {
            return Vec::new();
        }
        let mut r = (from.div_euclid(every) + 1) * every;
        let mut out = Vec::new();
        while r < to {
            out.push(r);
            r += every;
        }
        out
    }

    /// Whether [s, e) on any symbol would run into the window before a reference time.
    fn in_close_window(&self, s: i64, e: i64) -> bool {
        let margin = 30 * SEC;
        self.references(s - self.cfg.reference_window_ns - margin, e + self.cfg.reference_window_ns + margin)
            .iter()
            .any(|&r| s < r + 5 * SEC && e > r - self.cfg.reference_window_ns - margin)
    }

    fn free(&self, sym: usize, s: i64, e: i64) -> bool {
        let gap = 20 * SEC;
        self.busy[sym].iter().all(|&(bs, be)| e + gap <= bs || s >= be + gap)
    }

    /// Places the scenarios and look-alikes of the run at random where they fit.
    fn plan(&mut self, it: &mut Interner) {
        let (span_s, span_e) = self.span();
        let mut todo: Vec<(AlertType, bool)> = Vec::new();
        for _ in 0..self.cfg.per_type {
            for &k in &self.cfg.scenarios {
                todo.push((k, true));
            }
        }
        // The hardest to fit go first: marking needs the windows before reference times, and
        // concentrated trading minutes of a thin symbol to itself.
        todo.sort_by_key(|&(k, _)| match k {
            AlertType::MarkingTheClose => 0,
            AlertType::ConcentratedTrading => 1,
            _ => 2,
        });
        if self.cfg.hard_negatives {
            let n = (self.cfg.duration_ns / (5 * MINUTE)).max(1) as usize;
            for _ in 0..n {
                for k in scenario::LOOKALIKES {
                    todo.push((k, false));
                }
            }
        }
        for (k, labelled) in todo {
            self.place(it, k, labelled, span_s, span_e, false);
        }
    }

    /// Places one scenario in [span_s, span_e): at a random time, or at `span_s` when `now`.
    fn place(&mut self, it: &mut Interner, kind: AlertType, labelled: bool, span_s: i64, span_e: i64, now: bool) -> bool {
        let needs = scenario::venues_needed(kind, labelled);
        if self.w.venues < needs {
            self.unplaced.push((kind, labelled));
            return false;
        }
        for _ in 0..200 {
            let sym = self.pick_symbol(kind, labelled);
            let plan = scenario::draw(kind, labelled, &mut self.w.rng);
            let (start, dur) = if kind == AlertType::MarkingTheClose && labelled {
                let refs = self.references(span_s + self.cfg.reference_window_ns, span_e + 1);
                if refs.is_empty() {
                    break;
                }
                let r = refs[self.w.rng.below(refs.len() as u64) as usize];
                let before = (plan.duration_ns).min(self.cfg.reference_window_ns - 10 * SEC);
                (r - before, before)
            } else {
                let room = span_e - span_s - plan.duration_ns;
                if room <= 0 {
                    break;
                }
                let at = if now { span_s } else { span_s + self.w.rng.below(room as u64) as i64 };
                (at, plan.duration_ns)
            };
            let end = start + dur;
            let directional = scenario::directional(kind, labelled);
            if directional && self.in_close_window(start, end) {
                continue;
            }
            // Two scenarios of one type on one symbol stay ten minutes apart (longer than any
            // detector's cooldown), so each is its own episode.
            if labelled && self.placed.iter().any(|&(k, s, ps, pe)| k == kind && s == sym && start < pe + 10 * MINUTE && end + 10 * MINUTE > ps) {
                continue;
            }
            let whole_symbol = scenario::occupies_symbol(kind, labelled);
            if whole_symbol && !self.free(sym, start, end) {
                continue;
            }
            if whole_symbol {
                // A marked close has the reference window of its symbol to itself.
                let from = if kind == AlertType::MarkingTheClose && labelled { end - self.cfg.reference_window_ns - 30 * SEC } else { start };
                if !self.free(sym, from, end) {
                    continue;
                }
                self.busy[sym].push((from, end));
            }
            if labelled {
                self.placed.push((kind, sym, start, end));
            }
            let venue = self.w.rng.below(self.w.venues as u64) as usize;
            let sc = scenario::build(kind, labelled, plan, sym, venue, start, &mut self.w, it);
            self.scenarios.push(Slot { sc, kind, labelled, done: false });
            self.wakes.push(Reverse((start, self.scenarios.len() - 1)));
            return true;
        }
        self.unplaced.push((kind, labelled));
        false
    }

    /// Pumps, wash trades and concentrated trading happen in the thinner half of the symbols (where
    /// one group can make the market); everything else anywhere.
    fn pick_symbol(&mut self, kind: AlertType, labelled: bool) -> usize {
        let n = self.w.syms.len();
        if labelled && matches!(kind, AlertType::PumpAndDump | AlertType::WashTrading | AlertType::ConcentratedTrading) && n > 1 {
            // The thinner half.
            n / 2 + self.w.rng.below((n - n / 2) as u64) as usize
        } else {
            self.w.rng.below(n as u64) as usize
        }
    }

    /// Injects a scenario while the simulation runs, starting a second from now (marking the close:
    /// before the next reference time within the hour) on a symbol that is free. The live
    /// simulator's control. Returns false when it does not fit (every symbol busy, too few venues).
    pub fn inject(&mut self, it: &mut Interner, kind: AlertType) -> bool {
        let s = self.w.now + SEC;
        let ok = self.place(it, kind, true, s, s + 70 * MINUTE, true);
        self.write_owners();
        ok
    }

    /// The scenarios placed: the alert type each stands for, and whether it is labelled (a
    /// look-alike is not).
    pub fn planned(&self) -> Vec<(AlertType, bool)> {
        self.scenarios.iter().map(|s| (s.kind, s.labelled)).collect()
    }

    /// What could not be placed, for people: "spoofing", "look-alike of pump_and_dump".
    pub fn unplaced_names(&self) -> Vec<String> {
        self.unplaced.iter().map(|(k, l)| if *l { k.as_str().to_string() } else { format!("look-alike of {}", k.as_str()) }).collect()
    }

    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Runs the market until `until` (exclusive) and appends the events, in time order, to `out`.
    pub fn advance(&mut self, until: i64, out: &mut Vec<Event>) {
        loop {
            let wake = self.wakes.peek().map(|r| r.0);
            let t = match wake {
                Some((t, _)) if t <= self.next_bg => t,
                _ => self.next_bg,
            };
            if t >= until {
                break;
            }
            self.w.now = t;
            match wake {
                Some((wt, k)) if wt == t && wt <= self.next_bg => {
                    self.wakes.pop();
                    self.wake(k);
                }
                _ => {
                    self.background();
                    let rate = self.total_rate();
                    self.next_bg = t + (self.w.rng.exp(SEC as f64 / rate) as i64).max(1);
                }
            }
        }
        self.w.now = until;
        self.collect(out);
    }

    fn wake(&mut self, k: usize) {
        let slot = &mut self.scenarios[k];
        if slot.done {
            return;
        }
        match slot.sc.act(&mut self.w) {
            Some(next) => self.wakes.push(Reverse((next.max(self.w.now + 1), k))),
            None => {
                slot.done = true;
                if slot.labelled {
                    if let Some(l) = slot.sc.label(&self.w) {
                        let id = format!("{}-{}", l.kind, self.labels.len() + 1);
                        self.labels.push(Label { id, ..l });
                    }
                }
            }
        }
    }

    fn collect(&mut self, out: &mut Vec<Event>) {
        let from = out.len();
        for inst in &mut self.w.insts {
            out.append(&mut inst.m.events);
        }
        out[from..].sort_by_key(|e| (e.ts, e.seq));
        for e in &mut out[from..] {
            self.seq += 1;
            e.seq = self.seq;
        }
    }

    /// Runs the whole simulation: the events and the labels.
    pub fn run(mut self) -> (Vec<Event>, Vec<Label>) {
        let mut out = Vec::new();
        let end = self.end();
        self.advance(end, &mut out);
        let labels = self.finish();
        (out, labels)
    }

    /// Labels of every scenario, including those still running at the end (cut at the end).
    pub fn finish(&mut self) -> Vec<Label> {
        for slot in &mut self.scenarios {
            if !slot.done && slot.labelled {
                if let Some(l) = slot.sc.label(&self.w) {
                    let id = format!("{}-{}", l.kind, self.labels.len() + 1);
                    self.labels.push(Label { id, ..l });
                }
                slot.done = true;
            }
        }
        let mut l = self.labels.clone();
        l.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
        l
    }

    fn season(&self) -> f64 {
        // Busier around 08:00 and 14:30 UTC (the European and American opens), quiet at night.
        let h = (self.w.now.rem_euclid(86_400 * SEC)) as f64 / 3_600e9;
        let bump = |c: f64, w: f64| (-((h - c) / w).powi(2)).exp();
        0.4 + 0.6 * bump(8.0, 2.5) + 0.9 * bump(14.5, 2.5)
    }

    fn inst_rate(&self, i: usize) -> f64 {
        let s = &self.w.syms[self.w.insts[i].sym];
        let mut r = self.cfg.rate * s.activity;
        if let Some((until, _, f)) = s.news {
            if self.w.now < until {
                r *= f;
            }
        }
        if let Some((until, _, f)) = s.crowd {
            if self.w.now < until {
                r *= f;
            }
        }
        r
    }

    fn total_rate(&self) -> f64 {
        let season = self.season();
        (0..self.w.insts.len()).map(|i| self.inst_rate(i)).sum::<f64>() * season
    }

    /// One background action on an instrument drawn by activity.
    fn background(&mut self) {
        let total: f64 = (0..self.w.insts.len()).map(|i| self.inst_rate(i)).sum();
        let mut x = self.w.rng.f64() * total;
        let mut i = 0;
        while i + 1 < self.w.insts.len() {
            x -= self.inst_rate(i);
            if x < 0.0 {
                break;
            }
            i += 1;
        }
        // Each action moves the value by a step sized so the symbol's minute volatility is its own
        // whatever its activity.
        let per_minute = 60.0 * self.inst_rate(i) * self.w.venues as f64 * self.season();
        let w = &mut self.w;
        let now = w.now;
        let s = w.insts[i].sym;
        // The value: a random walk whose volatility clusters.
        {
            let sym = &mut w.syms[s];
            let l = sym.vol_scale.ln() * 0.999 + 0.03 * w.rng.normal();
            sym.vol_scale = l.exp().clamp(0.3, 4.0);
            sym.value += sym.minute_vol * sym.vol_scale * w.rng.normal() / per_minute.max(1.0).sqrt();
            if sym.news.is_some_and(|(u, _, _)| now >= u) {
                sym.news = None;
            }
            if sym.crowd.is_some_and(|(u, _, _)| now >= u) {
                sym.crowd = None;
            }
        }
        {
            let inst = &mut w.insts[i];
            inst.offset = inst.offset * 0.995 + 0.00003 * w.rng.normal();
            // Volume a second, smoothed over about a minute.
            let dt = (now - inst.vol_at) as f64 / 1e9;
            if dt >= 1.0 {
                let v = (inst.m.traded - inst.traded_seen) / dt;
                let a = (dt / 60.0).min(1.0);
                inst.vol_rate += a * (v - inst.vol_rate);
                inst.traded_seen = inst.m.traded;
                inst.vol_at = now;
            }
            if let Some(p) = inst.m.last_price() {
                match inst.minute_mark {
                    Some((t, q)) if now - t >= 60 * SEC => {
                        inst.minute_returns.push_back(p / q - 1.0);
                        if inst.minute_returns.len() > 20 {
                            inst.minute_returns.pop_front();
                        }
                        inst.minute_mark = Some((now, p));
                    }
                    None => inst.minute_mark = Some((now, p)),
                    _ => {}
                }
            }
            if inst.history.back().is_none_or(|&(t, _)| now - t >= SEC) {
                if let Some(p) = inst.m.last_price() {
                    inst.history.push_back((now, p));
                    if inst.history.len() > 60 {
                        inst.history.pop_front();
                    }
                }
            }
            while let Some(&Reverse((t, id))) = inst.expiries.peek() {
                if t > now {
                    break;
                }
                inst.expiries.pop();
                inst.m.cancel(now, id);
            }
        }
        let crowd = w.syms[s].crowd.or(w.syms[s].news.map(|(u, d, f)| (u, if d > 0.0 { 0.6 } else { 0.4 }, f)));
        if let Some((_, buy_p, _)) = crowd {
            // Followers (or a crowd reacting to news): independent takers leaning one way.
            if w.rng.f64() < 0.5 {
                let (who, side) = w.follower(buy_p, false);
                let q = World::lots(w.rng.pareto(w.base(i) * 0.3, 1.6).min(w.base(i) * 20.0));
                w.take(i, who, side, q);
                return;
            }
        }
        let r = w.rng.f64();
        if r < 0.40 {
            let k = self.w.rng.below(3) as usize;
            self.requote(i, k);
        } else if r < 0.62 {
            let w = &mut self.w;
            let (_, who, side) = w.noise_trader(false);
            let q = World::lots(w.rng.pareto(w.base(i) * 0.25, 1.6).min(w.base(i) * 25.0));
            w.take(i, who, side, q);
        } else if r < 0.85 {
            let w = &mut self.w;
            let (k, who, side) = w.noise_trader(true);
            // At or behind the fair quote (traders know roughly what it is worth), never crossing.
            let behind = (w.insts[i].half_spread + w.rng.below(4) as i64) as f64;
            let (t, mid) = (w.tick(i), w.mid(i));
            let p = match side {
                Side::Buy => w.round(i, mid - behind * t).min(w.round(i, w.best(i, Side::Sell) - t)),
                Side::Sell => w.round(i, mid + behind * t).max(w.round(i, w.best(i, Side::Buy) + t)),
            };
            let q = World::lots(w.rng.pareto(w.base(i) * 0.3, 1.8).min(w.base(i) * 15.0));
            let id = w.insts[i].m.order(now, who, side, Some(p), q);
            let life = w.rng.exp(10.0 * SEC as f64) as i64;
            w.insts[i].expiries.push(Reverse((now + life.max(MS), id)));
            let mine = &mut w.resting[k];
            if mine.len() >= 8 {
                mine.remove(0);
            }
            mine.push((i, id));
        } else if r < 0.93 {
            self.momentum(i);
        } else {
            self.arbitrage(s);
        }
    }

    /// A maker cancels its quotes and quotes again around the fair mid, four levels a side, sizes
    /// steady and growing away from the touch; usually only the first level is renewed. It never
    /// crosses the other side's best.
    fn requote(&mut self, i: usize, k: usize) {
        let w = &mut self.w;
        let now = w.now;
        let venue = w.insts[i].venue;
        let maker = w.makers[k * w.venues + venue];
        let full = w.insts[i].quotes[k].len() < 8 || w.rng.f64() < 0.2;
        let levels = if full { 4 } else { 1 };
        let old: Vec<u64> = if full { std::mem::take(&mut w.insts[i].quotes[k]) } else { w.insts[i].quotes[k][..2].to_vec() };
        for id in old {
            w.insts[i].m.cancel(now, id);
        }
        let mid = w.mid(i);
        let t = w.tick(i);
        let base = w.base(i);
        let hs = w.insts[i].half_spread + (k as i64 % 2);
        let (best_bid, best_ask) = (w.insts[i].m.best_bid(), w.insts[i].m.best_ask());
        for lvl in 0..levels {
            let size = World::lots(base * (1.0 + 0.4 * lvl as f64) * (0.3 * w.rng.normal()).exp());
            let mut bid = w.round(i, mid - (hs + lvl) as f64 * t);
            let mut ask = w.round(i, mid + (hs + lvl) as f64 * t);
            if let Some(a) = best_ask {
                bid = bid.min(w.round(i, a - t));
            }
            if let Some(b) = best_bid {
                ask = ask.max(w.round(i, b + t));
            }
            let b = w.insts[i].m.order(now, maker, Side::Buy, Some(bid), size);
            let a = w.insts[i].m.order(now, maker, Side::Sell, Some(ask), size);
            let q = &mut w.insts[i].quotes[k];
            if full {
                q.extend([b, a]);
            } else {
                q[0] = b;
                q[1] = a;
            }
        }
    }

    /// A momentum trader follows the last 30 seconds' move when it passed 0.5 % (now and then).
    fn momentum(&mut self, i: usize) {
        let w = &mut self.w;
        let now = w.now;
        let h = &w.insts[i].history;
        let (Some(&(_, last)), Some(&(_, then))) = (h.back(), h.iter().find(|(t, _)| now - t <= 30 * SEC)) else { return };
        let r = last / then - 1.0;
        if r.abs() < 0.005 || w.rng.below(3) != 0 {
            return;
        }
        let who = w.momentum[w.rng.below(w.momentum.len() as u64) as usize];
        let q = World::lots(w.base(i) * (1.0 + 3.0 * w.rng.f64()));
        w.take(i, who, if r > 0.0 { Side::Buy } else { Side::Sell }, q);
    }

    /// The arbitrage fund buys where the symbol is cheapest and sells where it is dearest, in the
    /// same instant, when the gap pays.
    fn arbitrage(&mut self, s: usize) {
        let w = &mut self.w;
        if w.venues < 2 || w.now < w.syms[s].arb_blocked_until {
            return;
        }
        let mut lo: Option<(usize, f64)> = None;
        let mut hi: Option<(usize, f64)> = None;
        for v in 0..w.venues {
            let i = w.inst(s, v);
            if let Some(a) = w.insts[i].m.best_ask() {
                if lo.is_none_or(|(_, p)| a < p) {
                    lo = Some((i, a));
                }
            }
            if let Some(b) = w.insts[i].m.best_bid() {
                if hi.is_none_or(|(_, p)| b > p) {
                    hi = Some((i, b));
                }
            }
        }
        let (Some((li, ask)), Some((hi_i, bid))) = (lo, hi) else { return };
        if li == hi_i || bid <= ask * 1.0005 {
            return;
        }
        let q = World::lots(w.insts[li].m.touch_qty(Side::Sell).min(w.insts[hi_i].m.touch_qty(Side::Buy)));
        let (buyer, seller) = (w.arbs[w.insts[li].venue], w.arbs[w.insts[hi_i].venue]);
        w.take(li, buyer, Side::Buy, q);
        w.take(hi_i, seller, Side::Sell, q);
    }
}

fn tick_for(price: f64) -> f64 {
    // About a basis point of the price, on a 1-2-5 grid.
    let raw = price * 1e-4;
    let exp = raw.log10().floor();
    let unit = 10f64.powf(exp);
    let m = raw / unit;
    let step = if m < 2.0 {
        1.0
    } else if m < 5.0 {
        2.0
    } else {
        5.0
    };
    ((step * unit).max(1e-6) * 1e8).round() / 1e8
}
