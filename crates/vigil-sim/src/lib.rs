//! Markets for Vigil, all deterministic per seed:
//! - [`Simulator`] (`sim`, `scenario`): the labelled agent-based market of `vigil simulate`,
//!   `vigil eval`, `vigil test` and the demo — makers, noise, momentum and arbitrage traders on
//!   matching markets, manipulation scenarios with labels, look-alikes without;
//! - [`Market`]: one venue-symbol's price-time priority matching book writing the spec's events;
//! - [`eval`]: the spec's rule for scoring alerts against labels;
//! - [`Synth`] (here): a fast market-data stream for throughput benchmarks — makers quoting and
//!   re-quoting around a random-walk mid, most orders cancelled, takers hitting the touch, activity
//!   varying through the day, a volume surge or a price jump injected on request.

pub mod eval;
pub mod market;
mod scenario;
pub mod sim;
pub use market::{merge, Market};
pub use sim::{Label, SimConfig, Simulator, SCENARIO_TYPES};

use vigil_core::{AccountId, Cancel, Event, EventKind, Interner, NewOrder, Price, Qty, Side, SymbolId, Trade, Ts, VenueId};

pub use vigil_core::Rng;

/// An anomaly to inject.
#[derive(Clone, Debug, PartialEq)]
pub enum Injection {
    /// From `at` for `duration_ns`, takers trade `factor` times as often on `symbol` (index).
    VolumeSurge { symbol: usize, at: Ts, duration_ns: i64, factor: f64 },
    /// At `at`, the mid of `symbol` jumps by `fraction` (0.08 = +8 %).
    PriceJump { symbol: usize, at: Ts, fraction: f64 },
}

/// How activity varies through the day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seasonality {
    Flat,
    /// Busy at the open and the close, quiet at midday (the usual U shape), over `day_ns`.
    UShape {
        day_ns: i64,
    },
    /// Activity rising steadily: `end_factor` times the starting rate after `over_ns`.
    Rising {
        over_ns: i64,
        end_factor: f64,
    },
}

#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub seed: u64,
    pub symbols: usize,
    pub venues: usize,
    pub accounts: usize,
    pub start: Ts,
    /// Mean events a second per instrument, before seasonality.
    pub rate: f64,
    /// Per-event volatility of the mid (fraction); clustering varies it around this.
    pub volatility: f64,
    /// How strongly volatility clusters (0 = constant).
    pub clustering: f64,
    pub seasonality: Seasonality,
    pub injections: Vec<Injection>,
    /// Share of taker trades among events.
    pub trade_share: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            symbols: 8,
            venues: 1,
            accounts: 200,
            start: Ts(1_767_261_600_000_000_000),
            rate: 200.0,
            volatility: 0.00005,
            clustering: 0.0,
            seasonality: Seasonality::Flat,
            injections: Vec::new(),
            trade_share: 0.12,
        }
    }
}

struct Live {
    id: u64,
    side: Side,
    ticks: i64,
    qty: i64,
    account: AccountId,
}

struct Inst {
    venue: VenueId,
    symbol: SymbolId,
    mid: f64,
    /// Price tick as a fraction of the starting price.
    tick: f64,
    vol_scale: f64,
    live: Vec<Live>,
}

/// The generator: an iterator of events in time order, ids interned in the given interner.
pub struct Synth {
    cfg: SynthConfig,
    rng: Rng,
    insts: Vec<Inst>,
    accounts: Vec<AccountId>,
    now: i64,
    next_order: u64,
    next_trade: u64,
    seq: u64,
    jumped: Vec<bool>,
}

const MAX_LIVE: usize = 400;

impl Synth {
    pub fn new(cfg: SynthConfig, interner: &mut Interner) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let venues: Vec<VenueId> = (0..cfg.venues.max(1)).map(|v| interner.venue(&format!("venue{v}"))).collect();
        let mut insts = Vec::new();
        for s in 0..cfg.symbols.max(1) {
            let symbol = interner.symbol(&format!("SYM{s}-USD"));
            let price = 20.0 + rng.f64() * 2000.0;
            for &venue in &venues {
                insts.push(Inst { venue, symbol, mid: price, tick: (price * 0.0001).max(0.01), vol_scale: 1.0, live: Vec::new() });
            }
        }
        let accounts = (0..cfg.accounts.max(2)).map(|a| interner.account(&format!("acct{a}"))).collect();
        let now = cfg.start.0;
        let jumped = vec![false; cfg.injections.len()];
        Synth { cfg, rng, insts, accounts, now, next_order: 0, next_trade: 0, seq: 0, jumped }
    }

    fn season(&self) -> f64 {
        let t = (self.now - self.cfg.start.0) as f64;
        match self.cfg.seasonality {
            Seasonality::Flat => 1.0,
            Seasonality::UShape { day_ns } => {
                let x = (t / day_ns as f64).fract() * 2.0 - 1.0;
                0.5 + 1.5 * x * x
            }
            Seasonality::Rising { over_ns, end_factor } => 1.0 + (end_factor - 1.0) * (t / over_ns as f64).min(1.0),
        }
    }

    fn surge(&self, symbol: usize) -> f64 {
        let mut f = 1.0;
        for inj in &self.cfg.injections {
            if let Injection::VolumeSurge { symbol: s, at, duration_ns, factor } = inj {
                if *s == symbol && self.now >= at.0 && self.now < at.0 + duration_ns {
                    f *= factor;
                }
            }
        }
        f
    }

    fn step(&mut self) -> Event {
        let n = self.insts.len();
        let total_rate = self.cfg.rate * n as f64 * self.season();
        self.now += (self.rng.exp(1e9 / total_rate) as i64).max(1);
        for (k, inj) in self.cfg.injections.iter().enumerate() {
            if let Injection::PriceJump { symbol, at, fraction } = inj {
                if !self.jumped[k] && self.now >= at.0 {
                    self.jumped[k] = true;
                    let venues = self.cfg.venues.max(1);
                    for i in symbol * venues..(symbol + 1) * venues {
                        if let Some(inst) = self.insts.get_mut(i) {
                            inst.mid *= 1.0 + fraction;
                        }
                    }
                }
            }
        }
        let i = self.rng.below(n as u64) as usize;
        let venues = self.cfg.venues.max(1);
        let surge = self.surge(i / venues);
        let trade_p = (self.cfg.trade_share * surge / (1.0 + self.cfg.trade_share * (surge - 1.0))).min(0.9);
        let (vol, clustering) = (self.cfg.volatility, self.cfg.clustering);
        let inst = &mut self.insts[i];
        // Volatility clustering: the scale mean-reverts in log space with random shocks.
        if clustering > 0.0 {
            let l = inst.vol_scale.ln() * (1.0 - 0.001) + clustering * 0.05 * self.rng.normal();
            inst.vol_scale = l.exp().clamp(0.2, 5.0);
        }
        inst.mid *= 1.0 + vol * inst.vol_scale * self.rng.normal();
        let mid_ticks = (inst.mid / inst.tick).round() as i64;
        let r = self.rng.f64();
        let kind = if r < trade_p && !inst.live.is_empty() {
            // A taker hits the touch: the best resting order on the side it trades against
            // (first in time at that price), as price-time priority would.
            let resting = if self.rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            let better = |a: &Live, b: &Live| if a.side == Side::Buy { a.ticks > b.ticks } else { a.ticks < b.ticks };
            let mut k = None::<usize>;
            for (j, o) in inst.live.iter().enumerate() {
                if o.side == resting && k.is_none_or(|b| better(o, &inst.live[b])) {
                    k = Some(j);
                }
            }
            let k = k.unwrap_or_else(|| self.rng.below(inst.live.len() as u64) as usize);
            let o = &mut inst.live[k];
            let take = ((self.rng.pareto(1.0, 1.6)) as i64).clamp(1, o.qty);
            o.qty -= take;
            // Takers are the accounts that do not make markets (a maker trading against the book
            // at random, on either side, is a pattern no real participant follows).
            let makers = self.accounts.len() / 10 + 1;
            let taker = self.accounts[makers + self.rng.below((self.accounts.len() - makers) as u64) as usize];
            let (side, oid, maker, ticks) = (o.side, o.id, o.account, o.ticks);
            if o.qty == 0 {
                inst.live.swap_remove(k);
            }
            self.next_trade += 1;
            let resting: vigil_core::OrderKey = oid.to_string().into();
            let (buy_order_id, sell_order_id, buy_account, sell_account) = match side {
                Side::Buy => (Some(resting), None, Some(maker), Some(taker)),
                Side::Sell => (None, Some(resting), Some(taker), Some(maker)),
            };
            EventKind::Trade(Trade {
                trade_id: self.next_trade.to_string().into(),
                price: ticks_price(ticks, inst.tick),
                qty: Qty::from_int(take),
                buy_account,
                sell_account,
                buy_order_id,
                sell_order_id,
                aggressor: Some(side.opposite()),
            })
        } else if inst.live.len() >= MAX_LIVE || (r < 0.55 && !inst.live.is_empty()) {
            let k = self.rng.below(inst.live.len() as u64) as usize;
            let o = inst.live.swap_remove(k);
            EventKind::Cancel(Cancel { order_id: o.id.to_string().into(), account: Some(o.account), hint: None })
        } else {
            let side = if self.rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            let off = 1 + self.rng.below(10) as i64;
            let ticks = if side == Side::Buy { mid_ticks - off } else { mid_ticks + off };
            // Makers' quote sizes: about 3 lots, rarely more than 8 (a maker's size is steady; the
            // heavy tail of the market is in what takers trade).
            let qty = ((3.0 * (0.5 * self.rng.normal()).exp()).round() as i64).clamp(1, 10_000);
            let account = self.accounts[self.rng.below(self.accounts.len() as u64 / 10 + 1) as usize];
            self.next_order += 1;
            inst.live.push(Live { id: self.next_order, side, ticks, qty, account });
            EventKind::New(NewOrder {
                order_id: self.next_order.to_string().into(),
                account: Some(account),
                side,
                price: Some(ticks_price(ticks, inst.tick)),
                qty: Qty::from_int(qty),
            })
        };
        self.seq += 1;
        Event { ts: Ts(self.now), seq: self.seq, venue: inst.venue, symbol: inst.symbol, kind }
    }

    /// Event time of the last event generated.
    pub fn now(&self) -> Ts {
        Ts(self.now)
    }
}

/// A price on the tick grid, exactly: ticks × tick, rounded to 10⁻⁸ once.
fn ticks_price(ticks: i64, tick: f64) -> Price {
    Price((ticks as f64 * tick * 1e8).round() as i64)
}

impl Iterator for Synth {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        Some(self.step())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_events() {
        let run = |seed| {
            let mut i = Interner::new();
            Synth::new(SynthConfig { seed, ..Default::default() }, &mut i).take(5000).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let evs = run(3);
        assert!(evs.windows(2).all(|w| w[0].ts < w[1].ts));
        let cancels = evs.iter().filter(|e| matches!(e.kind, EventKind::Cancel(_))).count();
        let trades = evs.iter().filter(|e| matches!(e.kind, EventKind::Trade(_))).count();
        assert!(cancels > trades, "market makers cancel more than they trade");
        assert!(trades > 200);
    }
}
