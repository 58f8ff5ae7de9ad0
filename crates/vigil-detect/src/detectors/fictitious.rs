//! Fictitious orders: `spoofing`, `layering` and `cross_venue_manipulation`, one module because they
//! are one behaviour seen three ways. A party places visible orders it does not mean to execute, to
//! move others, while it trades the other side; then it cancels them.
//!
//! - `spoofing`: at the cancel of an order, the party's *group* — that order and its other unfilled
//!   orders on the same side placed within `max_lifetime` — was placed within `max_lifetime`,
//!   filled at most `max_fill_ratio`, is `min_size_ratio` times the party's genuine interest on the
//!   other side (the largest order behind its opposite fills, or its resting opposite orders when any
//!   of the group was placed or now, if larger: a market maker quotes both sides alike) and `min_depth_share` of the displayed depth of
//!   its side, and `min_typical_ratio` times the median size of the instrument's recent orders; and
//!   the party executed the other side on the same venue while the group rested, that fill coming at
//!   most `max_fill_wait` after the group was placed and the cancel following it by at most
//!   `max_cancel_delay`, while on the group's own side it executed at most `max_same_side` of that.
//!   The genuine interest includes what the party executed on the other side.
//! - `layering`: the same with the group at `min_levels` or more distinct prices (each with an order
//!   at least `LEVEL_SHARE` of the group's largest: a token order is no level of a stack) (Coscia; the
//!   prices where the party's orders on that side were filled since the group was placed count
//!   too: a layer the market partly took is still a layer; the count is of the prices the orders
//!   went in at where that is more: a layer moved back from the touch onto fewer prices is still a
//!   layer; its size tests are `layering.min_size_ratio`, `layering.min_depth_share` and
//!   `layering.min_typical_ratio`: a layer
//!   is seen by its shape as well as its size), or — the
//!   repricing variant (Sarao) — at an amend, `min_levels` of the party's orders on one side, none at
//!   the best price, each amended `min_amends` times and never filled, while the party traded the
//!   other side within `window`.
//! - `cross_venue_manipulation`: either pattern where the party's opposite execution was on another
//!   venue only; a stack of `layering.min_levels_first` levels or more is held to a layer's size
//!   tests, any other group to spoofing's.
//!
//! A single cancelled episode of spoofing or layering is held until the party repeats it within
//! `repeat_window` (`min_episodes`), unless its orders dwarf the book (`single_depth_share`) and it
//! has the spoof's sequence (one genuine order, placed with the orders or after them). An episode
//! within half of the size-ratio, depth-share and typical-size tests (a weak one) counts toward
//! the repetition and alerts only as a repeat: the party's episode `min_episodes` (at least 2) or
//! later within `weak_repeat_window`, one of them a full one for spoofing or layering.
//!
//! A genuine large order cancelled because the market moved away has no opposite execution; a market
//! maker cancelling most of its quotes keeps the other side quoted at a like size. Neither alerts.
//! Basis: CEA §4c(a)(5)(C); EU MAR Art. 12(1)(a), Annex I(A)(c) and Annex II 1(c)/(d); the Coscia
//! (2015), Sarao (2015) and CFTC spoofing orders.

use super::{num, short, slot, RecentSizes, ON_ARRIVAL};
use crate::activity::Party;
use crate::builder::{key, round, Signal};
use crate::config::{CrossVenueConfig, LayeringConfig, SpoofingConfig};
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::VecDeque;
use vigil_book::{BookChange, RestingOrder};
use vigil_core::{AlertType, Event, EventKind, Price, Side, Ts};

/// The episodes counted for repetition are at most this many (the count is evidence; the decision
/// needs `min_episodes`).
const MAX_EPISODES: usize = 64;

/// An episode whose group is at least this fraction of the size-ratio, depth-share and typical-size
/// tests (and meets every other condition) counts toward the party's repetition (`min_episodes`),
/// alerting only as a repeat (`weak_repeat_window`): a spoofer's orders vary in size from one
/// episode to the next, and one that repeats the pattern at 7 times its genuine order instead of 10
/// has still repeated it.
const WEAK: f64 = 0.5;

/// A genuine order placed at most this long before a spoof's orders went in with them: one
/// decision, faster than a person places two orders by hand.
const TOGETHER: i64 = 100_000_000;

/// The distinct orders behind a party's opposite executions counted (one is what matters: see
/// the single-episode exception in [`Fictitious::emit`]).
const MAX_ORDERS: usize = 4;

/// No slot: the end of a party's list of open orders.
const NIL: u32 = u32::MAX;

struct PartyOrders {
    /// The first of the party's open orders, a list threaded through the book slots (no search
    /// when an order leaves).
    head: u32,
    /// Open quantity resting on each side (buy, sell).
    resting: [f64; 2],
    /// When the party's earlier episodes were signalled (for repetition), the last hour.
    episodes: VecDeque<Ts>,
    /// When its cancelled episodes (weak ones too, see `WEAK`) of any of the three kinds met every
    /// condition, signalled or not (a repeat within the cooldown, or one held for want of
    /// repetition), within `repeat_window`.
    qualified: VecDeque<Ts>,
    /// Per side (buy, sell): when the last order it cancelled there had been placed, and when it
    /// was cancelled (a genuine order pulled to be sent again as a marketable one).
    pulled: [(i64, i64); 2],
    /// When its last cancelled episode of spoofing or layering that met every condition in full
    /// (not a weak one) was, alerted or held (`i64::MIN`: none).
    full: i64,
}

impl Default for PartyOrders {
    fn default() -> Self {
        PartyOrders { head: NIL, resting: [0.0; 2], episodes: VecDeque::new(), qualified: VecDeque::new(), pulled: [(i64::MAX, i64::MIN); 2], full: i64::MIN }
    }
}

/// A genuine order cancelled and sent again as a marketable one within this long is one interest:
/// it was there from when it was first placed.
const RESENT: i64 = 1_000_000_000;

/// The largest part of a stack the market can take (its orders' passive fills, of all it placed)
/// for those fills to be the risk a spoofer runs rather than the party trading that side.
const STACK_TAKEN: f64 = 0.25;

/// An order makes its price a level of a layer when it is at least this share of the group's
/// largest order (Coscia's smallest layer was 0.44 of his largest).
const LEVEL_SHARE: f64 = 0.1;

/// What the detector keeps of one open order, by book slot.
#[derive(Copy, Clone)]
struct SlotState {
    /// The displayed depth of the order's side (best `depth_levels` levels) when it was placed,
    /// without the order.
    depth: f64,
    /// The party's resting size on the other side when the order was placed — a market maker's
    /// quotes face each other; a spoof faces a small genuine order.
    facing: f64,
    /// The price it went in at: an order since moved back from the touch still counts there.
    price_in: Price,
    /// The party whose list the slot is on, while `linked`.
    party: Party,
    prev: u32,
    next: u32,
    linked: bool,
    /// Already part of an alert, or of a weak episode counted toward repetition (see `WEAK`): its
    /// cancel is that episode, not a new one.
    alerted: bool,
}

impl Default for SlotState {
    fn default() -> Self {
        SlotState { depth: 0.0, facing: 0.0, price_in: Price(0), party: Party(0), prev: NIL, next: NIL, linked: false, alerted: false }
    }
}

/// Puts slot `s` at the head of party `p`'s list.
fn link(slots: &mut [SlotState], po: &mut PartyOrders, p: Party, s: u32) {
    if po.head != NIL {
        slots[po.head as usize].prev = s;
    }
    let st = &mut slots[s as usize];
    (st.party, st.prev, st.next, st.linked) = (p, NIL, po.head, true);
    po.head = s;
}

/// Takes slot `s` off party `p`'s list, if it is on it.
fn unlink(slots: &mut [SlotState], po: &mut PartyOrders, p: Party, s: u32) {
    let Some(&st) = slots.get(s as usize) else { return };
    if !st.linked || st.party != p {
        return;
    }
    if st.prev == NIL {
        po.head = st.next;
    } else {
        slots[st.prev as usize].next = st.next;
    }
    if st.next != NIL {
        slots[st.next as usize].prev = st.prev;
    }
    let st = &mut slots[s as usize];
    (st.prev, st.next, st.linked) = (NIL, NIL, false);
}

#[derive(Default)]
struct Inst {
    /// Per book slot.
    slots: Vec<SlotState>,
    parties: FxHashMap<Party, PartyOrders>,
    /// Sizes of the instrument's last orders, for its typical order size.
    sizes: RecentSizes,
}

pub struct Fictitious {
    spoof: SpoofingConfig,
    layer: LayeringConfig,
    cross: CrossVenueConfig,
    slots: Vec<Inst>,
    group: Vec<RestingOrder>,
    /// The price levels the group was judged at (with the prices it went in at and its fills'),
    /// for the alert's evidence (and, across venues, whether a stack is held to a layer's size
    /// tests). Reset with `group`: a
    /// value left from another event would make the evidence depend on what the shard saw before.
    levels: usize,
}

impl Fictitious {
    pub fn new(spoof: SpoofingConfig, layer: LayeringConfig, cross: CrossVenueConfig) -> Self {
        Fictitious { spoof, layer, cross, slots: Vec::new(), group: Vec::new(), levels: 0 }
    }
}

fn fill_ratio(o: &RestingOrder) -> f64 {
    if o.size.0 <= 0 {
        0.0
    } else {
        o.filled.to_f64() / o.size.to_f64()
    }
}

/// The opposite side's executions of a party, split by venue.
#[derive(Default)]
struct Opposite {
    qty: f64,
    genuine: f64,
    first: Option<Ts>,
    last: Option<Ts>,
    /// When the earliest of the orders behind these executions was placed.
    placed: Option<Ts>,
    /// When each order behind them was placed (distinct orders, up to `MAX_ORDERS`: that many is
    /// that many or more; a market order's fills in one instant are one order).
    orders: Vec<Ts>,
    trades: Vec<u64>,
}

impl Detector for Fictitious {
    fn name(&self) -> &'static str {
        "spoofing"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::Spoofing
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let inst = slot(&mut self.slots, cx.slot);
        match cx.change {
            BookChange::Added(o) => {
                let Some(a) = o.account else { return };
                let s = o.slot as usize;
                if inst.slots.len() <= s {
                    inst.slots.resize(s + 1, SlotState::default());
                }
                // A reused slot whose order left unseen (cannot happen with a whole feed): off its list.
                let old = inst.slots[s];
                if old.linked {
                    match inst.parties.get_mut(&old.party) {
                        Some(po) => unlink(&mut inst.slots, po, old.party, o.slot),
                        None => inst.slots[s].linked = false,
                    }
                }
                // The displayed depth of the best `depth_levels` levels of its side, without the
                // order itself where it is among them (an order placed deeper than them is not).
                let side = cx.instrument.book.side(o.side);
                let n = self.spoof.depth_levels;
                let own = if side.rank(o.price).is_some_and(|r| r < n) { o.qty.to_f64() } else { 0.0 };
                let depth = (side.depth(n).to_f64() - own).max(0.0);
                inst.sizes.push(o.size.to_f64());
                let p = cx.party(a);
                let po = inst.parties.entry(p).or_default();
                po.resting[o.side as usize] += o.qty.to_f64();
                let facing = po.resting[o.side.opposite() as usize];
                link(&mut inst.slots, po, p, o.slot);
                let st = &mut inst.slots[s];
                (st.depth, st.facing, st.price_in, st.alerted) = (depth, facing, o.price, false);
            }
            BookChange::Cancelled(o) => {
                let Some(a) = o.account else { return };
                let p = cx.party(a);
                if let Some(po) = inst.parties.get_mut(&p) {
                    po.resting[o.side as usize] = (po.resting[o.side as usize] - o.qty.to_f64()).max(0.0);
                    // (The rest of a marketable order cancelled on arrival was never resting.)
                    if ev.ts.0 - o.placed.0 > ON_ARRIVAL {
                        po.pulled[o.side as usize] = (o.placed.0, ev.ts.0);
                    }
                    unlink(&mut inst.slots, po, p, o.slot);
                    if let Some(st) = inst.slots.get_mut(o.slot as usize).filter(|st| st.alerted) {
                        st.alerted = false;
                        return;
                    }
                }
                self.on_cancel(ev, cx, p, o, out);
            }
            BookChange::Amended { before, after } => {
                let Some(a) = after.account else { return };
                let (was, p) = (before.account.map(|b| cx.party(b)), cx.party(a));
                if let Some(w) = was.filter(|&w| w != p) {
                    // The amend named another party's account: the order moves to its list.
                    if let Some(po) = inst.parties.get_mut(&w) {
                        po.resting[before.side as usize] = (po.resting[before.side as usize] - before.qty.to_f64()).max(0.0);
                        unlink(&mut inst.slots, po, w, before.slot);
                    }
                    let po = inst.parties.entry(p).or_default();
                    po.resting[after.side as usize] += after.qty.to_f64();
                    if inst.slots.get(after.slot as usize).is_some_and(|st| !st.linked) {
                        link(&mut inst.slots, po, p, after.slot);
                    }
                } else if let Some(po) = inst.parties.get_mut(&p) {
                    po.resting[after.side as usize] = (po.resting[after.side as usize] + after.qty.to_f64() - before.qty.to_f64()).max(0.0);
                }
                if self.layer.enabled && after.amends >= self.layer.min_amends && after.filled.0 == 0 {
                    self.on_reprice(ev, cx, cx.party(a), after, out);
                }
            }
            BookChange::Traded { buy, sell } => {
                let EventKind::Trade(t) = &ev.kind else { return };
                for o in [buy, sell].into_iter().flatten() {
                    let Some(a) = o.account else { continue };
                    let p = cx.party(a);
                    let Some(po) = inst.parties.get_mut(&p) else { continue };
                    let take = if o.qty <= t.qty { o.qty } else { t.qty };
                    po.resting[o.side as usize] = (po.resting[o.side as usize] - take.to_f64()).max(0.0);
                    if o.qty <= t.qty {
                        unlink(&mut inst.slots, po, p, o.slot);
                        if let Some(st) = inst.slots.get_mut(o.slot as usize) {
                            st.alerted = false;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

impl Fictitious {
    /// The party's other open orders on `side` that fit `keep`, into `self.group`.
    fn collect(&mut self, cx: &Context<'_>, p: Party, side: Side, keep: impl Fn(&RestingOrder) -> bool) {
        let book = &cx.instrument.book;
        let inst = &self.slots[cx.slot];
        if let Some(po) = inst.parties.get(&p) {
            let mut s = po.head;
            // Bounded by the slots in use, whatever the list holds.
            for _ in 0..inst.slots.len() {
                let Some(st) = inst.slots.get(s as usize) else { break };
                if let Some(o) = book.order_at(s) {
                    if o.side == side && o.account.is_some_and(|a| cx.party(a) == p) && keep(o) {
                        self.group.push(*o);
                    }
                }
                s = st.next;
            }
        }
    }

    /// Whether `self.group` would fail [`Self::emit`]'s size or depth test whatever the party's
    /// trades show, even as a weak episode: it is under `WEAK` times `min_size_ratio` times the
    /// least its genuine interest can be (what faced the orders as they went in, or rests on the
    /// other side now), or under `WEAK` times `min_depth_share` of the depth it joined. Most cancels of a two-sided quoter that also
    /// trades end here, before its trades are read.
    fn too_small(&self, cx: &Context<'_>, p: Party) -> bool {
        // The looser of spoofing's and layering's tests: which the group is, is decided later.
        let (ratio, share) = if self.layer.enabled {
            (self.spoof.min_size_ratio.min(self.layer.min_size_ratio), self.spoof.min_depth_share.min(self.layer.min_depth_share))
        } else {
            (self.spoof.min_size_ratio, self.spoof.min_depth_share)
        };
        let (size, floor, depth) = self.measure(cx, p);
        size < WEAK * ratio * floor || (depth > 0.0 && size / depth < WEAK * share)
    }

    /// `self.group`'s total size; the least the party's genuine interest on the other side can
    /// be, whatever its trades (the largest resting size that faced the orders as they went in, or
    /// what rests there now); and the largest depth the orders joined.
    fn measure(&self, cx: &Context<'_>, p: Party) -> (f64, f64, f64) {
        let inst = &self.slots[cx.slot];
        let size: f64 = self.group.iter().map(|x| x.size.to_f64()).sum();
        let state = |x: &RestingOrder| inst.slots.get(x.slot as usize).copied().unwrap_or_default();
        let facing = self.group.iter().map(|x| state(x).facing).fold(0.0, f64::max);
        let floor = facing.max(self.resting(cx, p, self.group[0].side.opposite()));
        let depth = self.group.iter().map(|x| state(x).depth).fold(0.0, f64::max);
        (size, floor, depth)
    }

    /// The party's resting size on `side` of this book.
    fn resting(&self, cx: &Context<'_>, p: Party, side: Side) -> f64 {
        self.slots[cx.slot].parties.get(&p).map_or(0.0, |po| po.resting[side as usize])
    }

    fn opposite(cx: &Context<'_>, p: Party, side: Side, since: Ts) -> (Opposite, Opposite) {
        let (mut here, mut there) = (Opposite::default(), Opposite::default());
        for t in cx.activity.since(cx.instrument.symbol, p, since) {
            if t.side != side {
                continue;
            }
            let o = if t.venue == cx.instrument.venue { &mut here } else { &mut there };
            o.qty += t.qty;
            o.genuine = o.genuine.max(t.order_size);
            o.first = Some(o.first.map_or(t.ts, |f: Ts| f.min(t.ts)));
            o.last = Some(o.last.map_or(t.ts, |l: Ts| l.max(t.ts)));
            o.placed = Some(o.placed.map_or(t.placed(), |p: Ts| p.min(t.placed())));
            // (`placed` is known to the microsecond: within one, the same order.)
            if o.orders.len() < MAX_ORDERS && !o.orders.iter().any(|p| (p.0 - t.placed().0).abs() < 1_000) {
                o.orders.push(t.placed());
            }
            if o.trades.len() < 16 {
                o.trades.push(t.seq);
            }
        }
        (here, there)
    }

    fn on_cancel(&mut self, ev: &Event, cx: &Context<'_>, p: Party, o: &RestingOrder, out: &mut Vec<Signal>) {
        let now = ev.ts;
        if now.0 - o.placed.0 > self.spoof.max_lifetime.0 || fill_ratio(o) > self.spoof.max_fill_ratio {
            return;
        }
        // Most cancels end here: the party traded nothing on the other side lately.
        if !cx.activity.traded_since(cx.instrument.symbol, p, o.side.opposite(), now.saturating_sub(self.spoof.max_cancel_delay.0)) {
            return;
        }
        let cfg = self.spoof.clone();
        self.group.clear();
        self.levels = 0;
        self.group.push(*o);
        self.collect(cx, p, o.side, |x| fill_ratio(x) <= cfg.max_fill_ratio && now.0 - x.placed.0 <= cfg.max_lifetime.0);
        if self.too_small(cx, p) {
            return;
        }
        let earliest = self.group.iter().map(|x| x.placed).min().unwrap_or(now);
        let (here, there) = Self::opposite(cx, p, o.side.opposite(), earliest);
        // The opposite fill came soon after the orders were placed (they drew it), and the cancel
        // soon after the last of it (their work was done).
        let recent =
            |x: &Opposite| x.first.is_some_and(|f| f.0 - earliest.0 <= cfg.max_fill_wait.0) && x.last.is_some_and(|l| now.0 - l.0 <= cfg.max_cancel_delay.0);
        let (near, far) = (recent(&here), recent(&there) && self.cross.enabled);
        if !near && !far {
            return;
        }
        {
            // A level is part of the layer when its order adds to the pressure: a token order
            // beside one large order is that order's spoof, not a stack.
            let largest = self.group.iter().map(|x| x.size).max().unwrap_or_default();
            let material = |x: &&RestingOrder| x.size.to_f64() >= LEVEL_SHARE * largest.to_f64();
            let mut prices: Vec<_> = self.group.iter().filter(material).map(|x| x.price).collect();
            // The prices the orders went in at, where moving them back from the touch has since
            // stacked some at one price: a layer kept away from the market is still a layer.
            let slots = &self.slots[cx.slot].slots;
            let mut placed: Vec<_> = self.group.iter().filter(material).map(|x| slots.get(x.slot as usize).map_or(x.price, |s| s.price_in)).collect();
            // A layer some of whose orders the market filled on the way is still a layer: the
            // party's passive fills on this side since the group was placed, at other prices.
            let filled: Vec<_> = cx
                .activity
                .since(cx.instrument.symbol, p, earliest)
                .filter(|t| t.side == o.side && !t.aggressive && t.venue == cx.instrument.venue && t.order_size >= LEVEL_SHARE * largest.to_f64())
                .map(|t| t.price)
                .collect();
            let distinct = |v: &mut Vec<Price>| {
                v.extend_from_slice(&filled);
                v.sort_unstable();
                v.dedup();
                v.len()
            };
            self.levels = distinct(&mut prices).max(distinct(&mut placed));
        }
        let levels = self.levels;
        let (kind, opp) = if near {
            // Coscia's layering: the genuine order rests first and the stack goes in to draw its
            // fill. A stack placed first that draws the genuine order after it is spoofing with a
            // few orders unless it has `min_levels_first` levels. (Or the genuine order rested
            // first, was pulled while the stack rested, and an incoming order the party placed
            // within `RESENT` after the pull drew the fill: the same interest, chased.)
            let pulled = self.slots[cx.slot].parties.get(&p).map_or((i64::MAX, i64::MIN), |po| po.pulled[o.side.opposite() as usize]);
            let resent = pulled.0 < earliest.0 && chased(cx, p, o.side.opposite(), pulled, earliest);
            let genuine_first = here.placed.is_some_and(|g| g < earliest) || resent;
            if levels >= self.layer.min_levels && (genuine_first || levels >= self.layer.min_levels_first) {
                if !self.layer.enabled {
                    return;
                }
                (AlertType::Layering, here)
            } else {
                if !cfg.enabled {
                    return;
                }
                (AlertType::Spoofing, here)
            }
        } else {
            (AlertType::CrossVenueManipulation, there)
        };
        self.emit(ev, cx, p, kind, opp, "cancelled", out);
    }

    /// Sarao's variant: a layer kept away from the touch and repriced, never executed.
    fn on_reprice(&mut self, ev: &Event, cx: &Context<'_>, p: Party, o: &RestingOrder, out: &mut Vec<Signal>) {
        let lc = self.layer.clone();
        let book = &cx.instrument.book;
        let ladder = book.side(o.side);
        let away = |x: &RestingOrder| ladder.rank(x.price).is_some_and(|r| r >= 1);
        if !away(o) {
            return;
        }
        // Most repricing (a market maker moving deep quotes) ends here: no recent opposite trade.
        if !cx.activity.traded_since(cx.instrument.symbol, p, o.side.opposite(), ev.ts.saturating_sub(lc.window.0)) {
            return;
        }
        self.group.clear();
        self.levels = 0;
        self.collect(cx, p, o.side, |x| x.amends >= lc.min_amends && x.filled.0 == 0 && away(x));
        let mut prices: Vec<_> = self.group.iter().map(|x| x.price).collect();
        prices.sort_unstable();
        prices.dedup();
        if prices.len() < lc.min_levels {
            return;
        }
        self.levels = prices.len();
        let (here, there) = Self::opposite(cx, p, o.side.opposite(), ev.ts.saturating_sub(lc.window.0));
        let kind = if here.last.is_some() {
            AlertType::Layering
        } else if there.last.is_some() && self.cross.enabled {
            AlertType::CrossVenueManipulation
        } else {
            return;
        };
        let opp = if kind == AlertType::Layering { here } else { there };
        self.emit(ev, cx, p, kind, opp, "repriced", out);
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(&mut self, ev: &Event, cx: &Context<'_>, p: Party, kind: AlertType, opp: Opposite, how: &str, out: &mut Vec<Signal>) {
        let cfg = &self.spoof;
        let side = self.group[0].side;
        let filled: f64 = self.group.iter().map(|x| x.filled.to_f64()).sum();
        let inst = &self.slots[cx.slot];
        let (size, floor, depth) = self.measure(cx, p);
        // The party's genuine interest on the other side: its largest order there, resting or
        // behind its fills, or what it executed there, whichever is larger (a party trading heavily
        // both ways is not drawing one small fill).
        let genuine = opp.genuine.max(opp.qty).max(floor);
        // A layer's size tests for a layer, here or drawing a fill on another venue (the stack
        // placed first: `min_levels_first` levels).
        let layered =
            kind == AlertType::Layering || kind == AlertType::CrossVenueManipulation && self.layer.enabled && self.levels >= self.layer.min_levels_first;
        let (ratio, share) = if layered { (self.layer.min_size_ratio, self.layer.min_depth_share) } else { (cfg.min_size_ratio, cfg.min_depth_share) };
        if genuine <= 0.0 || size < WEAK * ratio * genuine {
            return;
        }
        let depth_share = if depth > 0.0 { size / depth } else { f64::INFINITY };
        if depth_share < WEAK * share {
            return;
        }
        // Short of the size-ratio or depth-share test but within `WEAK` of them: a weak episode.
        // Only a cancelled one counts, toward the party's repetition, and alerts only as a repeat
        // (below). (Its orders are then part of it: a later cancel of one of them is not judged
        // again, as for an alert.)
        let weak = size < ratio * genuine || depth_share < share;
        if weak && how != "cancelled" {
            return;
        }
        let earliest = self.group.iter().map(|x| x.placed).min().unwrap_or(ev.ts);
        if how == "cancelled" {
            // While the orders rested, the party's executions on their own side stay under
            // `max_same_side` of its opposite ones. The market taking orders of the stack itself
            // (resting orders of this side placed while the group went in, those still in it or
            // filled beyond `max_fill_ratio` and so out of it) is the risk a spoofer runs, not the
            // party choosing to trade that side.
            let latest = self.group.iter().map(|x| x.placed).max().unwrap_or(ev.ts);
            let window = earliest.0 - 1_000..=latest.0 + 1_000;
            let (mut same, mut taken) = (0.0, 0.0);
            for t in cx.activity.since(cx.instrument.symbol, p, earliest).filter(|t| t.side == side) {
                // Passive: the market came to them. (An order of the stack that crossed on entry
                // traded that side.)
                if !t.aggressive && t.venue == cx.instrument.venue && window.contains(&t.placed().0) {
                    taken += t.qty;
                } else {
                    same += t.qty;
                }
            }
            // ...as long as the market took a small part of all the stack placed (the group's
            // sizes hold their own fills): a ladder placed to fill, filling, is the party trading
            // that side.
            if taken > STACK_TAKEN * (size + (taken - filled).max(0.0)) {
                same += taken;
            }
            if same > cfg.max_same_side * opp.qty {
                return;
            }
        }
        let typical = inst.sizes.median().unwrap_or(0.0);
        let typical_ratio = if layered { self.layer.min_typical_ratio } else { cfg.min_typical_ratio };
        // Short of the typical-size test but within `WEAK` of it: a weak episode too, as for the
        // size-ratio and depth-share tests.
        let small = size < typical_ratio * typical;
        if size < WEAK * typical_ratio * typical || small && how != "cancelled" {
            return;
        }
        let weak = weak || small;
        let now = ev.ts;
        let cooldown = match kind {
            AlertType::Layering => self.layer.cooldown.0,
            AlertType::CrossVenueManipulation => self.cross.cooldown.0,
            _ => cfg.cooldown.0,
        };
        let behaviour = key(&[&cx.instrument.symbol.0.to_le_bytes(), &p.0.to_le_bytes(), side.as_str().as_bytes()]);
        let inst = &mut self.slots[cx.slot];
        // The group's other orders belong to this episode, alerted or a repeat within the
        // cooldown: their cancels raise nothing new (nor, one by one, a smaller pattern).
        for x in &self.group {
            if let Some(st) = inst.slots.get_mut(x.slot as usize).filter(|st| x.qty.0 > 0 && st.linked && st.party == p) {
                st.alerted = true;
            }
        }
        let po = inst.parties.entry(p).or_default();
        while po.qualified.front().is_some_and(|t| now.0 - t.0 > cfg.repeat_window.0) {
            po.qualified.pop_front();
        }
        // Episodes of orders placed, drawing a fill and cancelled count (a repriced layer reaches
        // here at every amend: it is one long episode, not thousands).
        if how == "cancelled" {
            po.qualified.push_back(now);
            if po.qualified.len() > MAX_EPISODES {
                po.qualified.pop_front();
            }
        }
        // A weak episode alerts only as a repeat: the party's episode `min_episodes` (at least 2)
        // or later in this book within `weak_repeat_window`. A spoof at 5 to 10 times the order it
        // drew is weaker evidence than one at 10, but repeated within minutes it is the pattern,
        // not a large order cancelled by chance. Of spoofing or layering, one of the episodes met
        // every condition (the repetition counts either way round, as a full episode after a weak
        // one alerts as the party's second); across venues any will do (a full cross-venue
        // episode is not held: its other venue's trading is the evidence).
        let single = matches!(kind, AlertType::Spoofing | AlertType::Layering);
        let window = if weak { cfg.weak_repeat_window.0 } else { cfg.repeat_window.0 };
        let seen = po.qualified.iter().filter(|t| now.0 - t.0 <= window).count().max(1);
        if weak && (seen < cfg.min_episodes.max(2) || single && po.full.saturating_add(window) < now.0) {
            return;
        }
        if !weak && single && how == "cancelled" {
            po.full = now.0;
        }
        // A single episode of orders cancelled after an opposite fill is an ordinary trader's large
        // order (or ladder) cancelled by chance as often as a spoof: it is held until the party
        // repeats it within `repeat_window`, unless the orders dwarf the book at their levels and
        // the episode has the spoof's sequence: one genuine order, placed with the orders
        // (`TOGETHER`) or after them, filled, and then they were cancelled. A party that traded the
        // other side with several orders while they rested, or whose order there was in well
        // before them, is a busy trader whose large order happened to meet its trading (on the
        // independent simulator's seeds 56-114, 21 false positives became 9 and no spoof was
        // lost). (A layer repriced for minutes is its own repetition; cross-venue manipulation is
        // judged by its other venue's trading.)
        let held = matches!(kind, AlertType::Spoofing | AlertType::Layering) && how == "cancelled";
        // (A genuine order pulled while they rested and sent again at once as a marketable one is
        // one order: the same interest, chased. `placed` is known to the microsecond.)
        let pulled = po.pulled[side.opposite() as usize];
        let sequence = || {
            let resent =
                || opp.orders.iter().any(|g| g.0.saturating_sub(pulled.0).saturating_abs() < 1_000) && chased(cx, p, side.opposite(), pulled, earliest);
            (opp.orders.len() == 1 || opp.orders.len() == 2 && resent()) && opp.placed.is_some_and(|g| g.0 >= earliest.0 - TOGETHER)
        };
        if held && seen < cfg.min_episodes && (depth_share < cfg.single_depth_share || !sequence()) {
            return;
        }
        if cx.repeat(kind, behaviour, now, cooldown, out) {
            return;
        }
        while po.episodes.front().is_some_and(|t| now.0 - t.0 > 3_600_000_000_000) {
            po.episodes.pop_front();
        }
        let repeats = po.episodes.len();
        po.episodes.push_back(now);

        let account = self.group[0].account.expect("grouped orders have accounts");
        let acct = cx.names.account(account);
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        self.group.sort_by(|a, b| b.size.cmp(&a.size).then(a.price.cmp(&b.price)));
        let sizes: Vec<String> = self.group.iter().map(|x| num(x.size.to_f64())).collect();
        let mut prices: Vec<_> = self.group.iter().map(|x| x.price).collect();
        prices.sort_unstable();
        prices.dedup();
        let n = self.group.len();
        let (verb, other_verb) = match side {
            Side::Sell => ("sell", "bought"),
            Side::Buy => ("buy", "sold"),
        };
        let lifetime = (now.0 - earliest.0) as f64 / 1e9;
        let delay = opp.last.map_or(0.0, |l| (now.0 - l.0) as f64 / 1e9);
        let fill_pct = if size > 0.0 { 100.0 * filled / size } else { 0.0 };
        let genuine_fill = (opp.qty / genuine).min(1.0) * 100.0;
        let list = join(&sizes);
        let orders = if n == 1 { format!("a {verb} order of {list}") } else { format!("{n} {verb} orders of {list}") };
        let at = if prices.len() == 1 {
            format!("at {}", prices[0])
        } else {
            format!("at {} price levels from {} to {}", prices.len(), prices[0], prices[prices.len() - 1])
        };
        // Where the levels it was judged at (where the orders went in, and its fills) are more.
        let counted = self.levels.max(prices.len());
        let at = if counted > prices.len() { format!("{at} ({counted} levels counting where they went in and were filled)") } else { at };
        let where_opp = if kind == AlertType::CrossVenueManipulation { " on another venue" } else { "" };
        let again = if seen > 1 {
            format!(" It is the party's episode {seen} of orders cancelled after drawing a fill in this book within {} s.", window / 1_000_000_000)
        } else {
            String::new()
        };
        let description = match how {
            "cancelled" => format!(
                "{acct} placed {orders} {symbol} {at} on {venue}, {other_verb} {} on the other side{where_opp}, and cancelled {} {} s after placing, {} s after that fill; {}% of the {verb} size filled against {}% of the genuine order.{again}",
                num(opp.qty),
                if n == 1 { "it" } else { "them" },
                short(lifetime),
                short(delay),
                short(fill_pct),
                short(genuine_fill),
            ),
            _ => format!(
                "{acct} kept {orders} {symbol} {at} on {venue}, away from the best price, repricing them at least {} times each without a fill, while it {other_verb} {} on the other side{where_opp}.",
                self.group.iter().map(|x| x.amends).min().unwrap_or(0),
                num(opp.qty),
            ),
        };
        let size_ratio = size / genuine;
        let evidence = json!({
            "pattern": how,
            "orders": n,
            "order_sizes": self.group.iter().map(|x| round(x.size.to_f64(), 8)).collect::<Vec<_>>(),
            "order_prices": self.group.iter().map(|x| x.price.to_string()).collect::<Vec<_>>(),
            "order_amends": self.group.iter().map(|x| x.amends).collect::<Vec<_>>(),
            "price_levels": prices.len(),
            "price_levels_counted": counted,
            "side": side.as_str(),
            "total_size": round(size, 8),
            "filled": round(filled, 8),
            "fill_ratio": round(filled / size.max(f64::MIN_POSITIVE), 4),
            "genuine_size": round(genuine, 8),
            "opposite_executed": round(opp.qty, 8),
            "genuine_fill_ratio": round(genuine_fill / 100.0, 4),
            "size_ratio": round(size_ratio, 4),
            "min_size_ratio": ratio,
            "depth_share": if depth_share.is_finite() { json!(round(depth_share, 4)) } else { json!(null) },
            "min_depth_share": share,
            "typical_order_size": round(typical, 8),
            "min_typical_ratio": typical_ratio,
            "lifetime_s": round(lifetime, 6),
            "max_lifetime_s": cfg.max_lifetime.0 as f64 / 1e9,
            "cancel_after_fill_s": round(delay, 6),
            "max_cancel_delay_s": cfg.max_cancel_delay.0 as f64 / 1e9,
            "fill_wait_s": opp.first.filter(|_| how == "cancelled").map(|f| round((f.0 - earliest.0) as f64 / 1e9, 6)),
            "max_fill_wait_s": cfg.max_fill_wait.0 as f64 / 1e9,
            "opposite_orders": opp.orders.len(),
            "genuine_placed_after_s": opp.placed.map(|g| round((g.0 - earliest.0) as f64 / 1e9, 6)),
            "opposite_trade_seqs": opp.trades,
            "trigger_seq": ev.seq,
            "repeats_last_hour": repeats,
            "episodes_in_repeat_window": seen,
            "repeat_window_s": window as f64 / 1e9,
            "weak_episode": weak,
            "min_episodes": cfg.min_episodes,
            "single_depth_share": cfg.single_depth_share,
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind,
            ts: now,
            window_start: earliest.min(opp.last.unwrap_or(earliest)),
            window_end: now,
            venue: if kind == AlertType::CrossVenueManipulation { None } else { Some(cx.instrument.venue) },
            symbols: vec![cx.instrument.symbol],
            accounts: vec![account],
            severity: size_ratio / ratio,
            // More orders of evidence and repetition raise confidence.
            confidence: (0.6 + 0.1 * repeats.min(4) as f64) * (0.8 + 0.2 * (1.0 - fill_pct / 100.0)),
            behaviour,
            cooldown,
            identity: key(&[&ev.seq.to_le_bytes(), &earliest.0.to_le_bytes()]),
            description,
            evidence,
        });
    }
}

/// Whether the party's order on `side` pulled at `pulled` (placed, cancelled) while a group placed
/// from `earliest` rested was chased: an incoming order of the party's, placed within `RESENT`
/// after the pull, traded that side aggressively on this venue.
fn chased(cx: &Context<'_>, p: Party, side: Side, pulled: (i64, i64), earliest: Ts) -> bool {
    pulled.1 >= earliest.0
        && cx
            .activity
            .since(cx.instrument.symbol, p, Ts(pulled.1))
            .any(|t| t.side == side && t.aggressive && t.venue == cx.instrument.venue && (0..=RESENT).contains(&(t.placed().0.saturating_sub(pulled.1))))
}

/// "122, 85 and 54".
pub(crate) fn join(xs: &[String]) -> String {
    match xs.len() {
        0 => String::new(),
        1 => xs[0].clone(),
        n => format!("{} and {}", xs[..n - 1].join(", "), xs[n - 1]),
    }
}
