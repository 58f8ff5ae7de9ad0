//! `momentum_ignition`: a party rests passive orders on one side, trades aggressively on the other to
//! start a price move, and has its passive orders filled by those who follow the move. It alerts at
//! the passive fill, by another party's aggression, of an order the party placed within `window`,
//! when after that placement the party sent at least `min_aggressive_trades` aggressive orders on
//! the other side (the fills of one sweep are one order), took less than half as much aggressively
//! the same way as the order (an igniter pushes one way), took at least `min_share` of all
//! aggressive volume on that side meanwhile, and the fill is beyond the price where its aggression
//! began, in the aggression's direction, by at least `min_move_sigmas` times the instrument's usual
//! 10 s move and `min_move_floor`, or by `min_move` if that is smaller (`min_move` alone before
//! there are 5 minutes of history). A lone order (not set out with others) needs a push of
//! `single_min_move_sigmas` usual moves, and must have gone in beyond the price of the moment by
//! between half and twice the way the push then made. A market maker's occasional hedge neither moves the price that
//! far nor dominates the aggressive flow, and a party that was quoting the side it was taking
//! (see `State::quoting`) is quoting both ways, not igniting.
//!
//! The attempt alerts too, at the party's own aggressive trade, when its bait still rests ahead of
//! the push: see `MomentumIgnition::attempt` (a short push of one or two sweeps only at a ladder
//! of bait close ahead, and large for the market).
//!
//! Basis: EU MAR Annex II 1(a) and (c); ESMA's MAR guidelines and IOSCO's description of momentum
//! ignition; FCA and CFTC disruptive-trading cases.

use super::{num, short, slot, RecentSizes, ON_ARRIVAL};
use crate::activity::{Party, Run};
use crate::builder::{key, round, Signal};
use crate::config::MomentumIgnitionConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::VecDeque;
use vigil_book::BookChange;
use vigil_core::{AlertType, Event, EventKind, Qty, Side, Ts};

/// The instrument's usual move is sampled from its mid price at trades this far apart...
const VOL_STEP: i64 = 10_000_000_000;
/// ...as the median of the last 180 samples (30 minutes in a busy book; longer where trades are
/// sparse), so that a pump or a crash of a few minutes within them does not make every later push
/// look small...
const VOL_WINDOW: usize = 180;
/// ...and trusted from this many samples on.
const VOL_MIN_SAMPLES: u32 = 30;
/// The median absolute move of a normal distribution, in standard deviations.
const MEDIAN_ABS: f64 = 0.674_489_75;
/// An order that rested this long untouched was a quote.
const QUOTE_LIFE: i64 = 100_000_000;
/// A quote taken down this long before a run began still counts as quoting during it.
const QUOTE_RECENT: i64 = 10_000_000_000;

#[derive(Default)]
struct State {
    /// Aggressive trades of the instrument within the window: (time, side, qty, price).
    aggressive: VecDeque<(Ts, Side, f64, f64)>,
    /// The last mid-price sample: (time, log mid).
    sample: Option<(i64, f64)>,
    /// The last `VOL_WINDOW` absolute log mid returns per `VOL_STEP`, oldest first, and the
    /// usual move they give.
    moves: VecDeque<f64>,
    usual: f64,
    samples: u32,
    /// When each party last took down a quote, per side (buy, sell): an order that had rested at
    /// least `QUOTE_LIFE` without trading, cancelled or re-priced. (The rest of an order that
    /// traded on arrival, or an immediate-or-cancel order, is not a quote.)
    quoted: FxHashMap<Party, [i64; 2]>,
    /// The price of the last trade to leave `aggressive` (the price before its first).
    before: f64,
    /// The sizes of the instrument's last orders to rest; their median as last computed, and how
    /// many have gone in since.
    sizes: RecentSizes,
    typical: f64,
    stale: usize,
}

impl State {
    /// Samples the mid price at a trade, `VOL_STEP` after the last sample. A gap longer than a
    /// step is scaled to one step (a quiet minute is not one huge 10 s move).
    fn sample(&mut self, now: i64, book: &vigil_book::Book) {
        if self.sample.is_some_and(|(t, _)| now - t < VOL_STEP) {
            return;
        }
        let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) else { return };
        let mid = 0.5 * (b.to_f64() + a.to_f64());
        if mid <= 0.0 {
            return;
        }
        let lm = mid.ln();
        if let Some((t, prev)) = self.sample {
            let steps = ((now - t) as f64 / VOL_STEP as f64).max(1.0);
            if self.moves.len() == VOL_WINDOW {
                self.moves.pop_front();
            }
            self.moves.push_back((lm - prev).abs() / steps.sqrt());
            self.samples = self.samples.saturating_add(1);
            // The median absolute move, as a standard deviation; where the mid stood still in most
            // samples (a quiet book on a coarse tick), the mean absolute move instead.
            let mut v: Vec<f64> = self.moves.iter().copied().collect();
            let mid = v.len() / 2;
            let (_, &mut med, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
            self.usual = if med > 0.0 { med / MEDIAN_ABS } else { v.iter().sum::<f64>() / v.len() as f64 * std::f64::consts::FRAC_PI_2.sqrt() };
        }
        self.sample = Some((now, lm));
    }

    /// The median size of the instrument's recent orders (computed again once an eighth of them
    /// are new: a short push is judged against it at each of its fills).
    fn typical(&mut self) -> f64 {
        if self.stale > 0 && (self.stale >= RecentSizes::N / 8 || self.sizes.len() < RecentSizes::N) {
            self.typical = self.sizes.median().unwrap_or(f64::INFINITY);
            self.stale = 0;
        }
        if self.sizes.is_empty() {
            f64::INFINITY
        } else {
            self.typical
        }
    }

    /// The usual 10 s move as a fraction, once there is enough history.
    fn sigma(&self) -> Option<f64> {
        (self.samples >= VOL_MIN_SAMPLES).then_some(self.usual)
    }

    /// Whether the party was quoting the side it was taking: it took down a quote there since
    /// `QUOTE_RECENT` before its run began at `t0`, or it rests an order there that it placed
    /// before the run and within `span` of its passive orders (`placed`, first and last): it set
    /// out both sides together. A market maker's pick-offs of stale quotes in a fast market look
    /// like pushes and its bids fill as the market falls, but it is quoting both ways, not
    /// positioned for the move it made. (The rest of one of its aggressive orders, or an
    /// immediate-or-cancel order, is not a quote; nor is an order left from its trading earlier.)
    fn quoting(&self, p: Party, side: Side, t0: Ts, placed: (i64, i64), span: i64, cx: &Context<'_>) -> bool {
        self.quoted.get(&p).is_some_and(|q| q[side as usize] >= t0.0 - QUOTE_RECENT)
            || cx.instrument.book.iter_orders().any(|(_, r)| {
                r.side == side
                    && r.placed.0 < t0.0 - ON_ARRIVAL
                    && r.placed.0 >= placed.0 - span
                    && r.placed.0 <= placed.1 + span
                    && r.account.is_some_and(|a| cx.party(a) == p)
            })
    }
}

/// A resting order of the party's: (price, quantity, when placed).
type Resting = (f64, f64, i64);

/// Of a party's orders, the set placed within `span` of each other at the most distinct prices,
/// sorted by price, and that number of prices.
fn set_out(mut orders: Vec<Resting>, span: i64) -> Option<(Vec<Resting>, usize)> {
    orders.sort_by_key(|o| o.2);
    let mut best: Option<(usize, usize, usize)> = None;
    let mut j = 0;
    for i in 0..orders.len() {
        j = j.max(i);
        while j + 1 < orders.len() && orders[j + 1].2 - orders[i].2 <= span {
            j += 1;
        }
        let mut px: Vec<f64> = orders[i..=j].iter().map(|o| o.0).collect();
        px.sort_by(f64::total_cmp);
        px.dedup();
        if best.is_none_or(|b| px.len() > b.2) {
            best = Some((i, j, px.len()));
        }
    }
    let (i, j, levels) = best?;
    let mut set = orders[i..=j].to_vec();
    set.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some((set, levels))
}

pub struct MomentumIgnition {
    cfg: MomentumIgnitionConfig,
    slots: Vec<State>,
}

impl MomentumIgnition {
    pub fn new(cfg: MomentumIgnitionConfig) -> Self {
        MomentumIgnition { cfg, slots: Vec::new() }
    }

    /// The attempt, judged at the igniter's own aggressive trade: the move is made and its bait
    /// still rests ahead of the price, whether or not anyone follows (EU MAR Article 15 prohibits
    /// the attempt as well). The party's run of aggression one way (since its last aggression the
    /// other way or a pause of `RUN_GAP`), of at least `attempt_min_trades` orders and
    /// `attempt_min_share` of that side's aggressive volume, moved the price at least
    /// `attempt_min_move_sigmas` usual 10 s moves; and it has at least `min_bait_orders` orders at
    /// distinct prices on the other side, placed within `attempt_max_bait_lead` (or `window`)
    /// before the run began and within `bait_span` of each other, each beyond the price where the
    /// run began by that move and beyond the price now, by at most `attempt_max_bait_sigmas` usual
    /// moves: it pushed the market toward orders it had set out where the push would take it. A
    /// short push (fewer than `attempt_min_trades` orders) needs a ladder of `short_push_min_levels`
    /// prices, the nearest within `short_push_max_bait_sigmas` usual moves, and
    /// `short_push_min_typical_ratio` times the instrument's median order. A trader with one
    /// take-profit order, a seller whose ladder stood long before it bought, a trader whose orders
    /// gathered one by one, or a market maker quoting the side it takes, is not that.
    fn attempt(&mut self, ev: &Event, t: &vigil_core::Trade, side: Side, taker: vigil_core::AccountId, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        let now = ev.ts;
        let p = cx.party(taker);
        let (venue, symbol) = (cx.instrument.venue, cx.instrument.symbol);
        // The run, kept by the party's activity as the trades come: its aggression `side` here
        // since its last aggression the other way, a pause of `RUN_GAP`, or `window` ago. (Its
        // orders filled passively on the side it takes are the rests of its pushes, or quotes: a
        // quote taken down, or one set out with the bait, is what `quoting` looks for.)
        let price = t.price.to_f64();
        let Some(&Run { n, vol, t0, p0, .. }) = cx.activity.last_run(symbol, p).filter(|r| r.venue == venue && r.side == side && r.last == now) else {
            return;
        };
        // A short push (one sweep or two) is judged below, against a ladder and the market's size.
        let short_push = n < cfg.attempt_min_trades;
        if p0 <= 0.0 || short_push && cfg.short_push_min_levels == 0 {
            return;
        }
        // A book whose mid has not moved has no usual move to judge a push against.
        let Some(sigma) = st.sigma().filter(|&s| s > 0.0) else { return };
        let dir = if side == Side::Buy { 1.0 } else { -1.0 };
        let moved = dir * (price - p0) / p0;
        let need = cfg.attempt_min_move_sigmas * sigma;
        if moved <= 0.0 || moved < need {
            return;
        }
        // A short push must be large for the market (`short_push_min_typical_ratio` times the
        // instrument's median order: a trader's ordinary market order moving a thin book is not a
        // push); the cheapest of its tests, so first.
        let typical = if short_push { st.typical() } else { f64::NAN };
        if short_push && vol < cfg.short_push_min_typical_ratio * typical {
            return;
        }
        let market: f64 = st.aggressive.iter().filter(|x| x.0 >= t0 && x.1 == side).map(|x| x.2).sum();
        let share = if market > 0.0 { vol / market } else { 0.0 };
        if share < cfg.attempt_min_share {
            return;
        }
        // The bait: its orders the other way, set out ahead of the push before it began.
        let mut bait: Vec<Resting> = Vec::new();
        for (_, r) in cx.instrument.book.iter_orders() {
            // Set out before the run and not moved since (an order re-priced during the run to
            // trail the price is not bait set out ahead of it).
            if r.side == side
                || r.placed >= t0
                || r.ts >= t0
                || t0.0 - r.placed.0 > cfg.attempt_max_bait_lead.0.min(cfg.window.0)
                || r.account.is_none_or(|a| cx.party(a) != p)
            {
                continue;
            }
            let px = r.price.to_f64();
            // Beyond the price now and the required move, and within reach of the push from here:
            // an order many usual moves away rests there for its own reasons.
            let ahead = dir * (px - price) / price;
            if ahead > 0.0 && dir * (px - p0) / p0 >= need && ahead <= cfg.attempt_max_bait_sigmas * sigma {
                bait.push((px, r.qty.to_f64(), r.placed.0));
            }
        }
        // Set out together: of its orders there, the set placed within `bait_span` of each other
        // at the most prices. (Orders that gathered one by one over the minute are a trader's
        // resting orders, not a ladder set out for the push.)
        let Some((bait, levels)) = set_out(bait, cfg.bait_span.0) else { return };
        let placed = bait.iter().fold((i64::MAX, i64::MIN), |(a, b), o| (a.min(o.2), b.max(o.2)));
        if levels < cfg.min_bait_orders as usize || st.quoting(p, side, t0, placed, cfg.bait_span.0, cx) {
            return;
        }
        // A short push at a ladder of bait: `short_push_min_levels` prices, the nearest within
        // `short_push_max_bait_sigmas` usual moves of the price now (the push stopped just short of
        // its own orders).
        let nearest_bait = bait.iter().map(|b| dir * (b.0 - price) / price).fold(f64::INFINITY, f64::min);
        if short_push && (levels < cfg.short_push_min_levels || nearest_bait > cfg.short_push_max_bait_sigmas * sigma) {
            return;
        }
        let behaviour = key(&[&venue.0.to_le_bytes(), &symbol.0.to_le_bytes(), &p.0.to_le_bytes()]);
        if cx.repeat(AlertType::MomentumIgnition, behaviour, now, cfg.cooldown.0, out) {
            return;
        }
        let seqs: Vec<u64> = cx.activity.since(symbol, p, t0).filter(|x| x.venue == venue && x.aggressive && x.side == side).map(|x| x.seq).take(32).collect();
        let acct = cx.names.account(taker);
        let venue_name = cx.names.venue(venue);
        let symbol_name = cx.names.symbol(symbol);
        let (agg, rest) = match side {
            Side::Buy => ("bought", "sell"),
            Side::Sell => ("sold", "buy"),
        };
        let bait_qty: f64 = bait.iter().map(|b| b.1).sum();
        let (lo, hi) = (bait[0].0, bait[bait.len() - 1].0);
        let nearest = if side == Side::Buy { lo } else { hi };
        let description = format!(
            "{acct} rested {} {rest} order{} of {} {symbol_name} in all at {} to {} on {venue_name}, then {agg} aggressively {} ({} lots, {}% of all aggressive {} volume{}), moving the price {}% from {} to {} ({}x its usual 10 s move of {}%) toward them.",
            bait.len(),
            if bait.len() == 1 { "" } else { "s" },
            num(bait_qty),
            num(lo),
            num(hi),
            match n {
                1 => "once".to_string(),
                2 => format!("twice in {} s", short((now.0 - t0.0) as f64 / 1e9)),
                _ => format!("{n} times in {} s", short((now.0 - t0.0) as f64 / 1e9)),
            },
            num(vol),
            short(100.0 * share),
            side.as_str(),
            if typical.is_finite() { format!(", {}x the median order", short(vol / typical)) } else { String::new() },
            short(100.0 * moved),
            num(p0),
            t.price,
            short(moved / sigma),
            short(100.0 * sigma),
        );
        let evidence = json!({
            "pattern": "attempt",
            "passive_side": side.opposite().as_str(),
            "passive_orders": bait.len(),
            "passive_levels": levels,
            "min_bait_orders": cfg.min_bait_orders,
            "bait_span_ns": cfg.bait_span.0,
            "attempt_max_bait_sigmas": cfg.attempt_max_bait_sigmas,
            "attempt_max_bait_lead_ns": cfg.attempt_max_bait_lead.0.min(cfg.window.0),
            "passive_quantity": round(bait_qty, 8),
            "passive_prices": [num(lo), num(hi)],
            "nearest_passive_distance": round(dir * (nearest - price) / price, 6),
            "price": t.price.to_string(),
            "aggressive_trades": n,
            "attempt_min_trades": cfg.attempt_min_trades,
            "typical_order_size": if typical.is_finite() { json!(round(typical, 8)) } else { json!(null) },
            "short_push": short_push,
            "aggressive_volume": round(vol, 8),
            "aggressive_share": round(share, 4),
            "attempt_min_share": cfg.attempt_min_share,
            "move": round(moved, 6),
            "required_move": round(need, 6),
            "usual_move_10s": round(sigma, 6),
            "attempt_min_move_sigmas": cfg.attempt_min_move_sigmas,
            "aggression_start_price": p0,
            "aggressive_trade_seqs": seqs,
            "trade_id": t.trade_id.as_str(),
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::MomentumIgnition,
            ts: now,
            window_start: Ts(placed.0),
            window_end: now,
            venue: Some(venue),
            symbols: vec![symbol],
            accounts: vec![taker],
            severity: moved / need,
            confidence: 0.4 + 0.4 * share.min(1.0),
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes()]),
            description,
            evidence,
        });
    }
}

impl Detector for MomentumIgnition {
    fn name(&self) -> &'static str {
        "momentum_ignition"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::MomentumIgnition
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        // A quote leaving the book (cancelled, or re-priced) after resting a while untouched.
        let left = match cx.change {
            BookChange::Cancelled(o) => Some(o),
            BookChange::Amended { before, after } if before.price != after.price => Some(before),
            _ => None,
        };
        // The sizes of orders as they go in, for the instrument's typical order.
        if let BookChange::Added(o) = cx.change {
            let st = slot(&mut self.slots, cx.slot);
            st.sizes.push(o.size.to_f64());
            st.stale += 1;
            return;
        }
        if let Some(o) = left {
            if let (true, true, Some(a)) = (o.filled == Qty::ZERO, ev.ts.0 - o.ts.0 >= QUOTE_LIFE, o.account) {
                let st = slot(&mut self.slots, cx.slot);
                st.quoted.entry(cx.party(a)).or_insert([i64::MIN; 2])[o.side as usize] = ev.ts.0;
            }
            return;
        }
        let EventKind::Trade(t) = &ev.kind else { return };
        let Some(aggressor) = t.aggressor else { return };
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        let now = ev.ts;
        while st.aggressive.front().is_some_and(|x| now.0 - x.0 .0 > cfg.window.0) {
            if let Some(x) = st.aggressive.pop_front() {
                st.before = x.3;
            }
        }
        st.aggressive.push_back((now, aggressor, t.qty.to_f64(), t.price.to_f64()));
        st.sample(now.0, &cx.instrument.book);
        let BookChange::Traded { buy, sell } = cx.change else { return };
        let taker = match aggressor {
            Side::Buy => t.buy_account,
            Side::Sell => t.sell_account,
        };
        if let Some(a) = taker {
            self.attempt(ev, t, aggressor, a, cx, out);
        }
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        // The resting order that was filled.
        let Some(o) = (match aggressor {
            Side::Buy => sell,
            Side::Sell => buy,
        }) else {
            return;
        };
        let Some(account) = o.account else { return };
        let p = cx.party(account);
        if taker.is_some_and(|a| cx.party(a) == p) || now.0 - o.placed.0 > cfg.window.0 {
            return;
        }
        // Most fills end here: the party sent no aggressive order that way since placing this one.
        if !cx.activity.aggressed_after(cx.instrument.symbol, p, aggressor, o.placed) {
            return;
        }
        // The party's aggression on the other side since it placed the order.
        let mut n = 0u32;
        let mut vol = 0.0;
        let mut first: Option<(Ts, f64)> = None;
        let mut seqs = Vec::new();
        // Its aggression the same way as the resting order: an igniter pushes one way only; a
        // trader busy both ways (a dominant market maker) is not igniting anything.
        let mut against = 0.0;
        let mut last_ts = None;
        for x in cx.activity.since(cx.instrument.symbol, p, o.placed) {
            if x.aggressive && x.side != aggressor && x.venue == cx.instrument.venue {
                against += x.qty;
            }
            // Aggression after the order was placed (not the same instant: the order came after
            // it), counted in orders: the fills of one sweep share its instant.
            if x.aggressive && x.side == aggressor && x.venue == cx.instrument.venue && x.seq != ev.seq && x.ts > o.placed {
                if last_ts != Some(x.ts) {
                    n += 1;
                    last_ts = Some(x.ts);
                }
                vol += x.qty;
                first.get_or_insert((x.ts, x.price.to_f64()));
                if seqs.len() < 32 {
                    seqs.push(x.seq);
                }
            }
        }
        let Some((t0, p0)) = first else { return };
        if n < cfg.min_aggressive_trades || p0 <= 0.0 || against > 0.5 * vol {
            return;
        }
        let dir = if aggressor == Side::Buy { 1.0 } else { -1.0 };
        let fill = t.price.to_f64();
        let moved = dir * (fill - p0) / p0;
        let sigma = st.sigma();
        let need = sigma.map_or(cfg.min_move, |s| (cfg.min_move_sigmas * s).max(cfg.min_move_floor).min(cfg.min_move));
        if moved < need {
            return;
        }
        let market: f64 = st.aggressive.iter().filter(|x| x.0 >= t0 && x.1 == aggressor && x.0 < now).map(|x| x.2).sum();
        let share = if market > 0.0 { vol / market } else { 0.0 };
        if share < cfg.min_share {
            return;
        }
        // A market maker quoting the side it took is not positioned for the move it made.
        if st.quoting(p, aggressor, t0, (o.placed.0, o.placed.0), cfg.bait_span.0, cx) {
            return;
        }
        // A lone order filled after a push of a few usual moves is a trader's limit order as often
        // as bait: a lone order needs a push of `single_min_move_sigmas`; bait set out together
        // (`min_bait_orders` on that side within `bait_span`, this one among them) needs only the
        // usual bar.
        let together = 1 + cx
            .instrument
            .book
            .iter_orders()
            .filter(|(_, r)| {
                r.side == o.side && r.slot != o.slot && (r.placed.0 - o.placed.0).abs() <= cfg.bait_span.0 && r.account.is_some_and(|a| cx.party(a) == p)
            })
            .count();
        if together < cfg.min_bait_orders as usize && sigma.is_some_and(|s| moved < cfg.single_min_move_sigmas * s) {
            return;
        }
        // A lone order is bait when it went in beyond the price of the moment, where the push then
        // carried the price: the push made between half and twice the way from that price to it.
        // (A trader's order resting at the touch that a later move came back to, or one far out
        // that the market had mostly reached before the push, is not.)
        let then = st.aggressive.iter().rev().find(|x| x.0 <= o.placed).map_or(st.before, |x| x.3);
        let ahead = (then > 0.0).then(|| dir * (fill - then) / then);
        if together < cfg.min_bait_orders as usize && ahead.is_some_and(|d| !(0.5 * d..=2.0 * d).contains(&moved)) {
            return;
        }
        let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &p.0.to_le_bytes()]);
        if cx.repeat(AlertType::MomentumIgnition, behaviour, now, cfg.cooldown.0, out) {
            return;
        }
        let acct = cx.names.account(account);
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        let (agg, rest) = match aggressor {
            Side::Buy => ("bought", "sell"),
            Side::Sell => ("sold", "buy"),
        };
        let description = format!(
            "{acct} rested a {rest} order of {} {symbol} at {} on {venue}, then {agg} aggressively {n} times ({} lots, {}% of all aggressive {} volume), moving the price {}% from {}{}, and its {rest} order filled at {} {} s after it was placed.",
            num(o.size.to_f64()),
            o.price,
            num(vol),
            short(100.0 * share),
            aggressor.as_str(),
            short(100.0 * moved),
            num(p0),
            match sigma {
                Some(s) if s > 0.0 => format!(" ({}x its usual 10 s move of {}%)", short(moved / s), short(100.0 * s)),
                _ => String::new(),
            },
            t.price,
            short((now.0 - o.placed.0) as f64 / 1e9),
        );
        let evidence = json!({
            "pattern": "filled",
            "passive_side": o.side.as_str(),
            "passive_order_size": round(o.size.to_f64(), 8),
            "passive_price": o.price.to_string(),
            "fill_price": t.price.to_string(),
            "aggressive_trades": n,
            "min_aggressive_trades": cfg.min_aggressive_trades,
            "aggressive_volume": round(vol, 8),
            "aggressive_share": round(share, 4),
            "min_share": cfg.min_share,
            "move": round(moved, 6),
            "required_move": round(need, 6),
            "usual_move_10s": sigma.map(|s| round(s, 6)),
            "min_move_sigmas": cfg.min_move_sigmas,
            "min_move_floor": cfg.min_move_floor,
            "min_move": cfg.min_move,
            "orders_set_out_together": together,
            "single_min_move_sigmas": cfg.single_min_move_sigmas,
            "beyond_price_when_placed": ahead.map(|d| round(d, 6)),
            "aggression_start_price": p0,
            "aggressive_trade_seqs": seqs,
            "trade_id": t.trade_id.as_str(),
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::MomentumIgnition,
            ts: now,
            window_start: o.placed,
            window_end: now,
            venue: Some(cx.instrument.venue),
            symbols: vec![cx.instrument.symbol],
            accounts: vec![account],
            severity: moved / need,
            confidence: 0.5 + 0.5 * share.min(1.0),
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes()]),
            description,
            evidence,
        });
    }
}
