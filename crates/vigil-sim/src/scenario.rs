//! Scenarios: the manipulations the simulator injects and labels, and the unlabelled look-alikes
//! every run holds. Each is a small state machine woken at event times it chooses; it acts through
//! the market (so its orders meet the background's) and records the span and the accounts of the
//! behaviour for its label. Parameters are drawn from wide ranges around the published patterns.

use crate::sim::{Label, World, MS, SEC};
use crate::Rng;
use std::collections::BTreeSet;
use vigil_core::{AccountId, AlertType, Interner, Side};

/// The look-alikes, each named by the alert type it must not raise: news (a crowd, not a pump), a
/// large order cancelled as the market moves away (not spoofing), a large order worked over
/// minutes (not marking the close), a market maker's hedge (not momentum ignition), one
/// accidental self-match (not wash trading).
pub(crate) const LOOKALIKES: [AlertType; 5] =
    [AlertType::PumpAndDump, AlertType::Spoofing, AlertType::MarkingTheClose, AlertType::MomentumIgnition, AlertType::WashTrading];

pub(crate) trait Scenario {
    /// Acts at `w.now`; returns when to act next, or `None` when it is over.
    fn act(&mut self, w: &mut World) -> Option<i64>;
    /// The label of what it did (`None` if it never acted).
    fn label(&self, w: &World) -> Option<Label>;
}

/// What is decided before placing a scenario: how long it lasts.
pub(crate) struct Plan {
    pub duration_ns: i64,
}

pub(crate) fn venues_needed(kind: AlertType, labelled: bool) -> usize {
    match kind {
        AlertType::CrossVenueManipulation | AlertType::PriceDiscrepancy if labelled => 2,
        _ => 1,
    }
}

/// Scenarios whose aggression moves the price one way stay out of the windows before reference
/// times (there they would be marking the close too).
pub(crate) fn directional(kind: AlertType, labelled: bool) -> bool {
    matches!(kind, AlertType::PumpAndDump | AlertType::MomentumIgnition) || kind == AlertType::MarkingTheClose && !labelled
}

/// Scenarios that move the value or the crowd of a symbol have it to themselves.
pub(crate) fn occupies_symbol(kind: AlertType, labelled: bool) -> bool {
    !matches!(
        (kind, labelled),
        (AlertType::WashTrading, _)
            | (AlertType::QuoteStuffing, _)
            | (AlertType::UnusualTiming, _)
            | (AlertType::MomentumIgnition, false)
            | (AlertType::MarkingTheClose, false)
    )
}

fn secs(rng: &mut Rng, lo: f64, hi: f64) -> i64 {
    ((lo + (hi - lo) * rng.f64()) * SEC as f64) as i64
}

fn between(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.f64()
}

fn side(rng: &mut Rng) -> Side {
    if rng.below(2) == 0 {
        Side::Buy
    } else {
        Side::Sell
    }
}

pub(crate) fn draw(kind: AlertType, labelled: bool, rng: &mut Rng) -> Plan {
    let d = match (kind, labelled) {
        (AlertType::Spoofing | AlertType::CrossVenueManipulation, true) => secs(rng, 60.0, 150.0),
        (AlertType::Layering, true) => secs(rng, 60.0, 150.0),
        (AlertType::WashTrading, true) => secs(rng, 120.0, 300.0),
        (AlertType::PumpAndDump, true) => secs(rng, 60.0, 150.0),
        (AlertType::QuoteStuffing, true) => secs(rng, 1.0, 4.0),
        (AlertType::MomentumIgnition, true) => secs(rng, 30.0, 60.0),
        (AlertType::MarkingTheClose, true) => secs(rng, 60.0, 240.0),
        (AlertType::VolumeSpike, true) => secs(rng, 30.0, 90.0),
        (AlertType::PriceAnomaly, true) => secs(rng, 30.0, 40.0),
        (AlertType::ConcentratedTrading, true) => secs(rng, 240.0, 420.0),
        (AlertType::UnusualTiming, true) => secs(rng, 30.0, 60.0),
        (AlertType::PriceDiscrepancy, true) => secs(rng, 15.0, 45.0),
        (AlertType::PumpAndDump, false) => secs(rng, 30.0, 120.0),
        (AlertType::Spoofing, false) => secs(rng, 20.0, 40.0),
        (AlertType::MarkingTheClose, false) => secs(rng, 60.0, 150.0),
        (AlertType::MomentumIgnition, false) => secs(rng, 5.0, 10.0),
        _ => secs(rng, 5.0, 10.0),
    };
    Plan { duration_ns: d }
}

/// The span and the accounts of a behaviour, as it happens.
struct Span {
    kind: AlertType,
    inst: usize,
    accounts: Vec<AccountId>,
    start: Option<i64>,
    end: i64,
}

impl Span {
    fn new(kind: AlertType, inst: usize, accounts: Vec<AccountId>) -> Self {
        Span { kind, inst, accounts, start: None, end: 0 }
    }
    fn mark(&mut self, now: i64) {
        self.start.get_or_insert(now);
        self.end = now;
    }
    fn label(&self, w: &World) -> Option<Label> {
        let inst = &w.insts[self.inst];
        let accounts: BTreeSet<String> = self.accounts.iter().map(|&a| w.name(a)).collect();
        Some(Label {
            id: String::new(),
            kind: self.kind.as_str().to_string(),
            venue: format!("venue{}", inst.venue),
            symbol: w.syms[inst.sym].name.clone(),
            accounts: accounts.into_iter().collect(),
            start: self.start?,
            end: self.end,
        })
    }
}

/// Builds the scenario of `kind` on symbol `sym` (venue `venue` where one matters), to start at
/// `start` and stop starting new episodes after `plan.duration_ns`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(kind: AlertType, labelled: bool, plan: Plan, sym: usize, venue: usize, start: i64, w: &mut World, it: &mut Interner) -> Box<dyn Scenario> {
    let deadline = start + plan.duration_ns;
    let i = w.inst(sym, venue);
    let r = &mut w.rng;
    match (kind, labelled) {
        (AlertType::Spoofing | AlertType::Layering | AlertType::CrossVenueManipulation, true) => {
            let sarao = kind == AlertType::Layering && r.below(5) < 2;
            if sarao {
                let a = w.account(it);
                let r = &mut w.rng;
                return Box::new(Sarao {
                    span: Span::new(kind, i, vec![a]),
                    inst: i,
                    acct: a,
                    side: side(r),
                    ids: Vec::new(),
                    n: 4 + r.below(3) as usize,
                    size_x: between(r, 8.0, 25.0),
                    away: 3 + r.below(2) as i64,
                    interval: secs(r, 0.2, 0.6),
                    until: deadline,
                    next_trade: start + secs(r, 2.0, 6.0),
                });
            }
            // The genuine order on the venue of the spoof, or (cross-venue) another.
            let other = (venue + 1 + w.rng.below(w.venues.max(2) as u64 - 1) as usize) % w.venues;
            let gi = if kind == AlertType::CrossVenueManipulation { w.inst(sym, other) } else { i };
            let two = w.rng.below(10) < 3;
            let spoofer = w.account(it);
            let trader = if two { w.account(it) } else { spoofer };
            if two {
                w.owner(it, &[spoofer, trader]);
            }
            let r = &mut w.rng;
            let layers = if kind == AlertType::Layering { 3 + r.below(3) as usize } else { 1 };
            let accounts = if two { vec![spoofer, trader] } else { vec![spoofer] };
            Box::new(Spoof {
                span: Span::new(kind, i, accounts),
                spoof_inst: i,
                genuine_inst: gi,
                spoofer,
                trader,
                layers,
                ratio: between(r, 10.0, 50.0),
                phase: 0,
                gside: side(r),
                genuine: 0,
                g: 0.0,
                spoofs: Vec::new(),
                deadline,
            })
        }
        (AlertType::Spoofing, false) => {
            let a = w.account(it);
            let r = &mut w.rng;
            Box::new(Whale { inst: i, acct: a, side: side(r), phase: 0, id: 0, away: between(r, 0.003, 0.008), steps: 0 })
        }
        (AlertType::WashTrading, labelled) => {
            let pattern = if labelled { r.below(3) } else { 3 };
            let members: Vec<AccountId> = match pattern {
                0 | 3 => vec![w.account(it)],
                1 => {
                    let m = vec![w.account(it), w.account(it)];
                    w.owner(it, &m);
                    m
                }
                _ => {
                    let n = 3 + w.rng.below(3) as usize;
                    (0..n).map(|_| w.account(it)).collect()
                }
            };
            let r = &mut w.rng;
            let trades = match pattern {
                0 | 1 => 3 + r.below(4) as u32,
                2 => members.len() as u32 * (1 + r.below(2) as u32),
                _ => 1,
            };
            let gap = (deadline - start) / trades.max(1) as i64;
            Box::new(Wash {
                span: Span::new(AlertType::WashTrading, i, members.clone()),
                inst: i,
                members,
                left: trades,
                k: 0,
                qty: 0.0,
                gap,
                deadline: deadline + 60 * SEC,
                accidental: pattern == 3,
                resting: None,
            })
        }
        (AlertType::PumpAndDump, true) => {
            let n = 3 + r.below(4) as usize;
            let pumpers: Vec<AccountId> = (0..n).map(|_| w.account(it)).collect();
            let r = &mut w.rng;
            let total = (deadline - start) as f64;
            let pump = (total * between(r, 0.35, 0.45)) as i64;
            let hold = (total * between(r, 0.05, 0.15)) as i64;
            Box::new(Pump {
                span: Span::new(kind, i, pumpers.clone()),
                inst: i,
                held: vec![0.0; n],
                pumpers,
                rise: between(r, 0.03, 0.12),
                interval: secs(r, 0.3, 1.0),
                pump_end: start + pump,
                dump_start: start + pump + hold,
                dump_end: deadline,
                start,
                fall: between(r, 0.6, 0.95),
            })
        }
        (AlertType::PumpAndDump, false) => Box::new(News {
            sym,
            dir: if r.below(2) == 0 { 1.0 } else { -1.0 },
            size: between(r, 0.005, 0.03),
            until: deadline,
            factor: between(r, 3.0, 6.0),
            steps: 0,
        }),
        (AlertType::QuoteStuffing, _) => {
            let a = w.account(it);
            let r = &mut w.rng;
            Box::new(Stuff {
                span: Span::new(kind, i, vec![a]),
                inst: i,
                acct: a,
                side: side(r),
                interval: (MS as f64 * between(r, 1.0, 8.0)) as i64,
                until: deadline,
                last: None,
            })
        }
        (AlertType::MomentumIgnition, true) => {
            let a = w.account(it);
            let r = &mut w.rng;
            Box::new(Ignite {
                span: Span::new(kind, i, vec![a]),
                inst: i,
                acct: a,
                side: side(r),
                phase: 0,
                passive: 0,
                placed: 0.0,
                away: between(r, 0.003, 0.008),
                push: 0.0,
                left: 4 + r.below(4) as u32,
                interval: secs(r, 0.5, 2.0),
                deadline,
            })
        }
        (AlertType::MomentumIgnition, false) => {
            let maker = w.makers[w.rng.below(3) as usize * w.venues + venue];
            Box::new(Hedge { inst: i, acct: maker, side: side(&mut w.rng), step: 0 })
        }
        (AlertType::MarkingTheClose, labelled) => {
            let a = w.account(it);
            let r = &mut w.rng;
            let interval = secs(r, 1.0, 5.0);
            let trades = ((deadline - start) / interval).max(3) as f64;
            let push = if labelled { between(r, 0.0, 0.005) / trades } else { 0.0 };
            Box::new(Mark {
                span: Span::new(kind, i, vec![a]),
                inst: i,
                acct: a,
                side: side(r),
                interval,
                until: deadline,
                share: if labelled { between(r, 0.35, 0.7) } else { between(r, 0.1, 0.25) },
                window: if labelled { 5 * 60 * SEC } else { deadline - start },
                mine: 0.0,
                others0: 0.0,
                traded0: -1.0,
                push,
            })
        }
        (AlertType::ConcentratedTrading, _) => {
            let a = w.account(it);
            let r = &mut w.rng;
            // Its target share of the volume of the detector's ten-minute window, in the time it
            // has: taken at `x` times the market's pace, more met by its quotes.
            let share = between(r, 0.65, 0.85);
            let x = share / (1.0 - share) * 600e9 / (deadline - start) as f64;
            Box::new(Conc {
                span: Span::new(kind, i, vec![a]),
                inst: i,
                acct: a,
                interval: secs(r, 0.3, 1.0),
                until: deadline,
                x,
                size: 0.0,
                n: 0,
                quotes: Vec::new(),
            })
        }
        (AlertType::VolumeSpike, _) => {
            Box::new(Surge { span: Span::new(kind, i, Vec::new()), sym, until: deadline, factor: between(r, 3.0, 6.0), started: false })
        }
        (AlertType::PriceAnomaly, _) => {
            let steps = 5 + r.below(45) as u32;
            let times = between(r, 12.0, 30.0) * if r.below(2) == 0 { 1.0 } else { -1.0 };
            Box::new(Jump { span: Span::new(kind, i, Vec::new()), inst: i, sym, times, per: 0.0, left: steps })
        }
        (AlertType::UnusualTiming, _) => {
            Box::new(Instant { span: Span::new(kind, i, Vec::new()), inst: i, n: 6 + r.below(10) as usize, left: 1 + r.below(2) as u32, side: side(r) })
        }
        (AlertType::PriceDiscrepancy, _) => Box::new(Apart {
            span: Span::new(kind, i, Vec::new()),
            inst: i,
            shift: between(r, 0.015, 0.04) * if r.below(2) == 0 { 1.0 } else { -1.0 },
            until: deadline,
            started: false,
        }),
        (AlertType::MlAnomaly, _) | (AlertType::CrossVenueManipulation | AlertType::Layering, false) => Box::new(Nothing),
    }
}

struct Nothing;
impl Scenario for Nothing {
    fn act(&mut self, _: &mut World) -> Option<i64> {
        None
    }
    fn label(&self, _: &World) -> Option<Label> {
        None
    }
}

/// Spoofing, Coscia-style layering and cross-venue spoofing: a genuine order on one side, then a
/// large order (or a stack on successive ticks) on the other; once the genuine order fills, the
/// large ones are cancelled. Repeated, the side drawn each time.
struct Spoof {
    span: Span,
    spoof_inst: usize,
    genuine_inst: usize,
    spoofer: AccountId,
    trader: AccountId,
    layers: usize,
    ratio: f64,
    phase: u8,
    gside: Side,
    genuine: u64,
    g: f64,
    spoofs: Vec<u64>,
    deadline: i64,
}

impl Scenario for Spoof {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let (gi, si) = (self.genuine_inst, self.spoof_inst);
        match self.phase {
            0 => {
                if now >= self.deadline {
                    return None;
                }
                self.gside = side(&mut w.rng);
                self.g = World::lots(w.base(gi) * between(&mut w.rng, 1.0, 3.0));
                let p = w.inside(gi, self.gside);
                self.genuine = w.insts[gi].m.order(now, self.trader, self.gside, Some(p), self.g);
                self.span.mark(now);
                self.phase = 1;
                Some(now + MS * (1 + w.rng.below(20) as i64))
            }
            1 => {
                let sside = self.gside.opposite();
                let t = w.tick(si);
                if self.layers == 1 {
                    // Near the top of the book but behind what the market takes in a couple of
                    // seconds (and at least two or three ticks): visible pressure, little chance
                    // of a fill.
                    let best = w.best(si, sside);
                    let shield = w.volume_rate(si) * between(&mut w.rng, 1.5, 3.0);
                    let mut k = 2 + w.rng.below(2) as i64;
                    let at = |w: &World, k: i64| w.round(si, if sside == Side::Buy { best - k as f64 * t } else { best + k as f64 * t });
                    while k < 12 && w.insts[si].m.depth_to(sside, at(w, k - 1)) < shield {
                        k += 1;
                    }
                    let p = at(w, k);
                    let q = World::lots(self.g * self.ratio);
                    self.spoofs.push(w.insts[si].m.order(now, self.spoofer, sside, Some(p), q));
                } else {
                    let mut sizes: Vec<f64> = (0..self.layers).map(|_| World::lots(self.g * between(&mut w.rng, 4.0, 8.0))).collect();
                    sizes.sort_by(|a, b| b.total_cmp(a));
                    // Coscia's layers: on successive ticks beyond the touch.
                    let from = 1.0;
                    let best = w.best(si, sside);
                    for (j, q) in sizes.into_iter().enumerate() {
                        let off = (from + j as f64) * t;
                        let p = w.round(si, if sside == Side::Buy { best - off } else { best + off });
                        self.spoofs.push(w.insts[si].m.order(now, self.spoofer, sside, Some(p), q));
                    }
                }
                self.span.mark(now);
                self.phase = 2;
                let wait = if self.layers > 1 { secs(&mut w.rng, 0.1, 0.8) } else { secs(&mut w.rng, 0.2, 2.5) };
                Some(now + wait)
            }
            2 => {
                // Others, drawn by the apparent pressure, trade with the genuine order.
                let who = w.follower(if self.gside == Side::Sell { 1.0 } else { 0.0 }, false).0;
                w.hit(gi, who, self.genuine);
                self.span.mark(now);
                self.phase = 3;
                let wait = if self.layers > 1 { secs(&mut w.rng, 0.05, 0.8) } else { secs(&mut w.rng, 0.2, 4.0) };
                Some(now + wait)
            }
            _ => {
                for id in self.spoofs.drain(..) {
                    w.insts[si].m.cancel(now, id);
                }
                w.insts[gi].m.cancel(now, self.genuine);
                self.span.mark(now);
                self.phase = 0;
                let next = now + secs(&mut w.rng, 15.0, 50.0);
                (next < self.deadline).then_some(next)
            }
        }
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// Sarao's layer: 4-6 large orders one tick apart, kept 3-4 ticks behind the touch and re-priced
/// every fraction of a second so they never execute, while the party trades the other side.
struct Sarao {
    span: Span,
    inst: usize,
    acct: AccountId,
    side: Side,
    ids: Vec<u64>,
    n: usize,
    size_x: f64,
    away: i64,
    interval: i64,
    until: i64,
    next_trade: i64,
}

impl Sarao {
    /// Layer `j`'s price: `away` ticks (and `j` more) behind the touch, measured both from the fair
    /// price and from the other side's best (the book can lag the value), whichever is further.
    fn target(&self, w: &World, j: usize, wiggle: bool) -> f64 {
        let t = w.tick(self.inst);
        let hs = w.insts[self.inst].half_spread;
        let n = (self.away + j as i64 + wiggle as i64) as f64;
        let mid = w.mid(self.inst);
        let p = match self.side {
            Side::Sell => (mid + (hs as f64 + n) * t).max(w.best(self.inst, Side::Buy) + (1.0 + n) * t),
            Side::Buy => (mid - (hs as f64 + n) * t).min(w.best(self.inst, Side::Sell) - (1.0 + n) * t),
        };
        w.round(self.inst, p)
    }
}

impl Scenario for Sarao {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        if now >= self.until {
            for id in self.ids.drain(..) {
                w.insts[i].m.cancel(now, id);
            }
            self.span.mark(now);
            return None;
        }
        if self.ids.is_empty() {
            for j in 0..self.n {
                let q = World::lots(w.base(i) * self.size_x * between(&mut w.rng, 0.8, 1.2));
                let p = self.target(w, j, false);
                self.ids.push(w.insts[i].m.order(now, self.acct, self.side, Some(p), q));
            }
        } else {
            let wiggle = w.rng.below(2) == 0;
            for j in 0..self.ids.len() {
                let p = self.target(w, j, wiggle);
                let id = self.ids[j];
                w.insts[i].m.amend(now, id, p);
            }
        }
        if now >= self.next_trade {
            let q = World::lots(w.base(i) * between(&mut w.rng, 0.5, 2.0));
            w.take(i, self.acct, self.side.opposite(), q);
            self.next_trade = now + secs(&mut w.rng, 3.0, 10.0);
        }
        self.span.mark(now);
        Some(now + self.interval)
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// A large genuine order cancelled once the market moves away from it; no opposite trade.
struct Whale {
    inst: usize,
    acct: AccountId,
    side: Side,
    phase: u8,
    id: u64,
    away: f64,
    steps: u32,
}

impl Scenario for Whale {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        match self.phase {
            0 => {
                let t = w.tick(i);
                let p = w.best(i, self.side) + if self.side == Side::Buy { -t } else { t };
                let p = w.round(i, p);
                let q = World::lots(w.base(i) * between(&mut w.rng, 15.0, 40.0));
                self.id = w.insts[i].m.order(now, self.acct, self.side, Some(p), q);
                self.phase = 1;
                Some(now + secs(&mut w.rng, 2.0, 5.0))
            }
            1 if self.steps < 10 => {
                // The market moves away from the order (its buy left behind as prices rise).
                let s = w.insts[i].sym;
                w.push(s, if self.side == Side::Buy { self.away / 10.0 } else { -self.away / 10.0 });
                self.steps += 1;
                Some(now + secs(&mut w.rng, 0.5, 1.5))
            }
            1 => {
                w.insts[i].m.cancel(now, self.id);
                self.phase = 2;
                Some(now + secs(&mut w.rng, 5.0, 20.0))
            }
            _ => {
                // It then buys what it wanted at market: the same side, never the other.
                let q = World::lots(w.base(i) * between(&mut w.rng, 1.0, 3.0));
                w.take(i, self.acct, self.side, q);
                None
            }
        }
    }
    fn label(&self, _: &World) -> Option<Label> {
        None
    }
}

/// Wash trades: one account with itself, two accounts of one owner, or a ring of accounts passing
/// the same quantity round until each is flat. Each trade: one member places a sell strictly inside
/// the spread and the other buys it in the same instant. The look-alike, one accidental self-match:
/// an account's sell rests inside the spread and, 1.5 s later, a smaller buy of its own meets it
/// (two of its strategies crossing, not one trade arranged).
struct Wash {
    span: Span,
    inst: usize,
    members: Vec<AccountId>,
    left: u32,
    k: usize,
    qty: f64,
    gap: i64,
    deadline: i64,
    accidental: bool,
    /// The look-alike's resting sell: its id and price.
    resting: Option<(u64, f64)>,
}

impl Scenario for Wash {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        let n = self.members.len();
        let (seller, buyer) = match n {
            1 => (self.members[0], self.members[0]),
            2 => (self.members[self.k % 2], self.members[(self.k + 1) % 2]),
            _ => (self.members[self.k % n], self.members[(self.k + 1) % n]),
        };
        // The look-alike's buy, when its sell still rests first in line (else the buy would meet
        // others' offers), and the sell's end either way.
        if let Some((sell, p)) = self.resting {
            let open = w.insts[i].m.open_qty(sell);
            if open > 0.0 && w.insts[i].m.to_fill(sell).is_some_and(|(_, _, through)| through <= open) {
                let buy = w.insts[i].m.order(now, buyer, Side::Buy, Some(p), World::lots(0.6 * self.qty).min(open));
                w.insts[i].m.cancel(now, buy);
                self.span.mark(now);
            }
            w.insts[i].m.cancel(now, sell);
            return None;
        }
        if self.left == 0 || now > self.deadline {
            return None;
        }
        let Some(p) = w.between(i) else { return Some(now + 200 * MS) };
        if n <= 2 || self.qty == 0.0 {
            self.qty = World::lots(w.base(i) * between(&mut w.rng, 1.0, 5.0));
        }
        if self.accidental {
            self.resting = Some((w.insts[i].m.order(now, seller, Side::Sell, Some(p), self.qty), p));
            self.span.mark(now);
            return Some(now + 1500 * MS);
        }
        // Both orders in the same instant (pre-arranged): nobody else can step in between.
        let sell = w.insts[i].m.order(now, seller, Side::Sell, Some(p), self.qty);
        let buy = w.insts[i].m.order(now, buyer, Side::Buy, Some(p), self.qty);
        w.insts[i].m.cancel(now, buy);
        w.insts[i].m.cancel(now, sell);
        self.span.mark(now);
        self.k += 1;
        self.left -= 1;
        if self.left == 0 {
            return None;
        }
        let g = self.gap.max(SEC);
        Some(now + g / 2 + w.rng.below(g as u64) as i64)
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// A pump and dump: the group's buys arrive in bursts sharing one instant (rush orders) while
/// followers join and the price rises; then the group sells into the crowd.
struct Pump {
    span: Span,
    inst: usize,
    pumpers: Vec<AccountId>,
    held: Vec<f64>,
    rise: f64,
    fall: f64,
    interval: i64,
    start: i64,
    pump_end: i64,
    dump_start: i64,
    dump_end: i64,
}

impl Scenario for Pump {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        let s = w.insts[i].sym;
        let n = self.pumpers.len();
        if now < self.pump_end {
            w.syms[s].crowd = Some((self.pump_end, 0.7, 2.5));
            let k = 2 + w.rng.below(n as u64 - 1) as usize;
            let first = w.rng.below(n as u64) as usize;
            for j in 0..k {
                let who = (first + j) % n;
                let q = World::lots(w.base(i) * between(&mut w.rng, 4.0, 12.0));
                w.take(i, self.pumpers[who], Side::Buy, q);
                self.held[who] += q;
            }
            let steps = ((self.pump_end - self.start) / self.interval).max(1) as f64;
            w.push(s, (1.0 + self.rise).powf(1.0 / steps) - 1.0);
            self.span.mark(now);
            return Some(now + self.interval);
        }
        if now < self.dump_start {
            return Some(self.dump_start);
        }
        if now >= self.dump_end || self.held.iter().all(|&h| h <= 0.0) {
            return None;
        }
        w.syms[s].crowd = Some((now + 2 * self.interval, 0.35, 1.5));
        for who in 0..n {
            if self.held[who] > 0.0 && w.rng.below(2) == 0 {
                let q = World::lots(self.held[who].min(w.base(i) * between(&mut w.rng, 4.0, 12.0)));
                w.take(i, self.pumpers[who], Side::Sell, q);
                self.held[who] -= q;
            }
        }
        let steps = ((self.dump_end - self.dump_start) / self.interval).max(1) as f64;
        w.push(s, (1.0 - self.rise * self.fall / (1.0 + self.rise)).powf(1.0 / steps) - 1.0);
        self.span.mark(now);
        Some(now + self.interval)
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// News: the value jumps and a crowd of independent takers trades for a while, leaning with it.
struct News {
    sym: usize,
    dir: f64,
    size: f64,
    until: i64,
    factor: f64,
    steps: u32,
}

impl Scenario for News {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        if self.steps == 0 {
            w.syms[self.sym].news = Some((self.until, self.dir, self.factor));
        }
        if self.steps < 10 {
            w.push(self.sym, self.dir * self.size / 10.0);
            self.steps += 1;
            return Some(now + 500 * MS);
        }
        None
    }
    fn label(&self, _: &World) -> Option<Label> {
        None
    }
}

/// Quote stuffing: orders placed and cancelled every few milliseconds, hundreds a second.
struct Stuff {
    span: Span,
    inst: usize,
    acct: AccountId,
    side: Side,
    interval: i64,
    until: i64,
    last: Option<u64>,
}

impl Scenario for Stuff {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        if let Some(id) = self.last.take() {
            w.insts[i].m.cancel(now, id);
        }
        self.span.mark(now);
        if now >= self.until {
            return None;
        }
        let t = w.tick(i);
        let off = (1 + w.rng.below(5)) as f64 * t;
        let p = w.round(i, if self.side == Side::Buy { w.best(i, Side::Buy) - off } else { w.best(i, Side::Sell) + off });
        let q = World::lots(w.base(i) * between(&mut w.rng, 0.5, 2.0));
        self.last = Some(w.insts[i].m.order(now, self.acct, self.side, Some(p), q));
        Some(now + self.interval)
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// Momentum ignition: a passive order away from the touch, aggressive orders on the other side
/// that start a move others follow, the passive order filled as the price reaches it, then the
/// reversal.
struct Ignite {
    span: Span,
    inst: usize,
    acct: AccountId,
    /// The side of the aggression.
    side: Side,
    phase: u8,
    passive: u64,
    placed: f64,
    away: f64,
    push: f64,
    left: u32,
    interval: i64,
    deadline: i64,
}

impl Scenario for Ignite {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        let s = w.insts[i].sym;
        let up = self.side == Side::Buy;
        match self.phase {
            0 => {
                let mid = w.mid(i);
                let p = w.round(i, if up { mid * (1.0 + self.away) } else { mid * (1.0 - self.away) });
                self.placed = World::lots(w.base(i) * between(&mut w.rng, 5.0, 15.0));
                self.passive = w.insts[i].m.order(now, self.acct, self.side.opposite(), Some(p), self.placed);
                self.push = self.away * between(&mut w.rng, 1.3, 1.8);
                self.span.mark(now);
                self.phase = 1;
                Some(now + secs(&mut w.rng, 1.0, 5.0))
            }
            1 => {
                // Each aggressive order sweeps its share of the way to the passive order.
                let n = self.left.max(1) as f64;
                let best = w.best(i, self.side.opposite());
                let target = best * if up { 1.0 + self.away / (n + 1.0) } else { 1.0 - self.away / (n + 1.0) };
                let depth = w.insts[i].m.depth_to(self.side.opposite(), target);
                let q = World::lots(depth.max(w.base(i) * 3.0));
                // Never as far as its own resting order.
                let own = w.insts[i].m.to_fill(self.passive).map(|(_, p, _)| p);
                let t = w.tick(i);
                let limit = match (own, up) {
                    (Some(p), true) => p - t,
                    (Some(p), false) => p + t,
                    (None, true) => target * 1.01,
                    (None, false) => target * 0.99,
                };
                let limit = w.round(i, limit);
                w.take_ioc(i, self.acct, self.side, q, limit);
                let step = self.push / n;
                self.push -= step;
                w.push(s, if up { step } else { -step });
                self.span.mark(now);
                self.left -= 1;
                if self.left == 0 {
                    self.phase = 2;
                }
                Some(now + self.interval)
            }
            2 => {
                let open = w.insts[i].m.open_qty(self.passive);
                if open < self.placed * 0.5 || now >= self.deadline {
                    w.insts[i].m.cancel(now, self.passive);
                    self.span.mark(now);
                    self.phase = 3;
                    return Some(now + secs(&mut w.rng, 1.0, 3.0));
                }
                if self.push.abs() < 1e-12 {
                    // The followers carry the price on.
                    w.push(s, if up { self.away * 0.1 } else { -self.away * 0.1 });
                }
                Some(now + 500 * MS)
            }
            _ => {
                // The reversal.
                w.push(s, if up { -self.away * 0.8 } else { self.away * 0.8 });
                None
            }
        }
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// A market maker's hedge: its own offer a couple of ticks out, three small aggressive buys.
struct Hedge {
    inst: usize,
    acct: AccountId,
    side: Side,
    step: u32,
}

impl Scenario for Hedge {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        if self.step == 0 {
            let t = w.tick(i);
            let p = w.round(i, if self.side == Side::Buy { w.best(i, Side::Sell) + 2.0 * t } else { w.best(i, Side::Buy) - 2.0 * t });
            let q = World::lots(w.base(i) * 1.5);
            w.insts[i].m.order(now, self.acct, self.side.opposite(), Some(p), q);
        } else {
            let q = World::lots(w.base(i) * 0.7);
            w.take(i, self.acct, self.side, q);
        }
        self.step += 1;
        (self.step < 4).then_some(now + MS * (1 + w.rng.below(300) as i64))
    }
    fn label(&self, _: &World) -> Option<Label> {
        None
    }
}

/// Marking the close: aggressive trades in one direction in the minutes before a reference time,
/// a large share of the volume, moving the price. Unlabelled, far from any reference time and
/// small, it is a large order worked through the day.
struct Mark {
    span: Span,
    inst: usize,
    acct: AccountId,
    side: Side,
    interval: i64,
    until: i64,
    /// Its share of the volume (of the reference window when marking; of the time it trades when
    /// working an order).
    share: f64,
    /// The span over which its share is kept, ending at `until`.
    window: i64,
    mine: f64,
    others0: f64,
    traded0: f64,
    push: f64,
}

impl Scenario for Mark {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        if now >= self.until {
            return None;
        }
        // It keeps its share of the volume since the window opened: the others' volume before
        // its first trade estimated from the usual pace, measured after.
        if self.traded0 < 0.0 {
            self.traded0 = w.insts[i].m.traded;
            let before = (self.window - (self.until - now)).max(0);
            self.others0 = w.volume_rate(i) * before as f64 / 1e9;
        }
        let others = self.others0 + (w.insts[i].m.traded - self.traded0 - self.mine);
        let need = self.share / (1.0 - self.share) * others - self.mine;
        let t = w.tick(i);
        let best = w.best(i, self.side.opposite());
        let reach = w.round(i, if self.side == Side::Buy { best * 1.005 + t } else { best * 0.995 - t });
        let depth = w.insts[i].m.depth_to(self.side.opposite(), reach);
        let q = World::lots(need.min(depth).max(w.base(i)));
        let before = w.insts[i].m.traded;
        w.take(i, self.acct, self.side, q);
        let done = w.insts[i].m.traded - before;
        self.mine += done;
        let s = w.insts[i].sym;
        w.push(s, if self.side == Side::Buy { self.push } else { -self.push });
        self.span.mark(now);
        // Behind its share (the book thinner than it wants): back sooner.
        let pause = if need > 1.5 * done { self.interval / 5 } else { self.interval };
        Some(now + pause / 2 + w.rng.below(pause.max(1) as u64) as i64)
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// Concentrated trading: one account on one side of most of a thin instrument's trades for
/// minutes: it quotes inside the spread on both sides (so the market's orders meet it first) and
/// takes both ways at several times the rest of the market's pace.
struct Conc {
    span: Span,
    inst: usize,
    acct: AccountId,
    interval: i64,
    until: i64,
    x: f64,
    size: f64,
    n: u64,
    quotes: Vec<u64>,
}

impl Scenario for Conc {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        for id in self.quotes.drain(..) {
            w.insts[i].m.cancel(now, id);
        }
        if now >= self.until {
            self.span.mark(now);
            return None;
        }
        if self.size == 0.0 {
            self.size = World::lots(w.volume_rate(i) * self.interval as f64 / 1e9 * self.x);
        }
        let side = if self.n.is_multiple_of(2) { Side::Buy } else { Side::Sell };
        w.take(i, self.acct, side, self.size);
        let q = World::lots(w.base(i) * 4.0);
        let (bid, ask) = (w.inside(i, Side::Buy), w.inside(i, Side::Sell));
        if bid < ask {
            self.quotes.push(w.insts[i].m.order(now, self.acct, Side::Buy, Some(bid), q));
            self.quotes.push(w.insts[i].m.order(now, self.acct, Side::Sell, Some(ask), q));
        }
        self.n += 1;
        self.span.mark(now);
        Some(now + self.interval)
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// A volume spike: many independent takers at several times the usual rate, no direction.
struct Surge {
    span: Span,
    sym: usize,
    until: i64,
    factor: f64,
    started: bool,
}

impl Scenario for Surge {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        self.span.mark(now);
        if !self.started {
            self.started = true;
            w.syms[self.sym].crowd = Some((self.until, 0.5, self.factor));
            return Some(self.until);
        }
        None
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// A price jump: the value moves several per cent within seconds.
struct Jump {
    span: Span,
    inst: usize,
    sym: usize,
    /// The move in multiples of the realised minute volatility when it starts (signed).
    times: f64,
    per: f64,
    left: u32,
}

impl Scenario for Jump {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        if self.left == 0 {
            return None;
        }
        if self.per == 0.0 {
            // Extraordinary for this market: 12 to 30 times its realised minute volatility now
            // (at least 1.5 %, at most 15 %).
            let size = (self.times.abs() * w.minute_vol(self.inst)).clamp(0.015, 0.15) * self.times.signum();
            self.per = (1.0 + size).powf(1.0 / self.left as f64) - 1.0;
        }
        w.push(self.sym, self.per);
        self.left -= 1;
        self.span.mark(now);
        Some(now + 100 * MS)
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// Many accounts placing orders on one side in the same instant (coordination).
struct Instant {
    span: Span,
    inst: usize,
    n: usize,
    left: u32,
    side: Side,
}

impl Scenario for Instant {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        if self.left == 0 {
            return None;
        }
        let t = w.tick(i);
        for _ in 0..self.n {
            let who = w.follower(if self.side == Side::Buy { 1.0 } else { 0.0 }, true).0;
            if !self.span.accounts.contains(&who) {
                self.span.accounts.push(who);
            }
            let off = (1 + w.rng.below(3)) as f64 * t;
            let p = w.round(i, if self.side == Side::Buy { w.best(i, Side::Buy) - off } else { w.best(i, Side::Sell) + off });
            let q = World::lots(w.base(i) * between(&mut w.rng, 0.5, 2.0));
            let id = w.insts[i].m.order(now, who, self.side, Some(p), q);
            let life = secs(&mut w.rng, 5.0, 30.0);
            w.insts[i].expiries.push(std::cmp::Reverse((now + life, id)));
        }
        self.span.mark(now);
        self.left -= 1;
        (self.left > 0).then(|| now + secs(&mut w.rng, 5.0, 25.0))
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}

/// One venue's price apart from the others' for a while (its arbitrage blocked).
struct Apart {
    span: Span,
    inst: usize,
    shift: f64,
    until: i64,
    started: bool,
}

impl Scenario for Apart {
    fn act(&mut self, w: &mut World) -> Option<i64> {
        let now = w.now;
        let i = self.inst;
        let s = w.insts[i].sym;
        self.span.mark(now);
        if !self.started {
            self.started = true;
            w.insts[i].shift = (1.0 + self.shift).ln();
            w.syms[s].arb_blocked_until = self.until + 5 * SEC;
            return Some(self.until);
        }
        w.insts[i].shift = 0.0;
        None
    }
    fn label(&self, w: &World) -> Option<Label> {
        self.span.label(w)
    }
}
