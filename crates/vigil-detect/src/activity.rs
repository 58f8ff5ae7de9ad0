//! What a shard remembers of each party's recent trades, shared by the detectors that ask "did the
//! same party trade the other side?" (spoofing, layering, cross-venue manipulation, momentum
//! ignition). A *party* is the beneficial owner where reference data names one, else the account:
//! two accounts of one owner are one party (spec: `account` events).

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use vigil_book::BookChange;
use vigil_core::{AccountId, OwnerId, Price, Side, SymbolId, Trade, Ts, VenueId};

/// An owner or, where no owner is known, an account.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Party(pub u64);

impl Party {
    pub fn of(account: AccountId, owners: &[OwnerId]) -> Party {
        match owners.get(account.index()).copied().filter(|o| !o.is_none()) {
            Some(o) => Party((1 << 40) | o.0 as u64),
            None => Party(account.0 as u64),
        }
    }
}

impl PartyTrade {
    /// When the party's order behind this leg was placed (to the microsecond).
    pub fn placed(&self) -> Ts {
        Ts(self.ts.0 - i64::from(self.age_us) * 1000)
    }
}

/// A party's run of aggressive orders one way on one venue, kept as its trades are recorded (for
/// momentum ignition): how many orders (the fills of one sweep are one), how much, when and at
/// what price it began, when it last traded. A pause of `RUN_GAP`, a run older than the run window,
/// aggression the other way or on another venue starts a new one.
#[derive(Copy, Clone, Debug)]
pub struct Run {
    pub venue: VenueId,
    pub side: Side,
    pub n: u32,
    pub vol: f64,
    pub t0: Ts,
    pub p0: f64,
    pub last: Ts,
}

/// An igniter's aggressive orders follow each other closely: a pause this long ends a run.
pub const RUN_GAP: i64 = 5_000_000_000;

/// One leg of a trade, as the party on it saw it.
#[derive(Copy, Clone, Debug)]
pub struct PartyTrade {
    pub ts: Ts,
    pub venue: VenueId,
    pub account: AccountId,
    /// The side this party was on.
    pub side: Side,
    pub price: Price,
    pub qty: f64,
    /// The party's order was the incoming one.
    pub aggressive: bool,
    /// The size of the party's order behind this leg where the book knew it (a resting order's
    /// size), else the trade's quantity: the "genuine order" a spoof is measured against.
    pub order_size: f64,
    /// How long before the trade the party's order behind this leg was placed, in microseconds
    /// (saturating; 0 where the book did not know it): whether the genuine order came before a
    /// stack or after it. (A `u32` keeps a leg in 56 bytes.)
    pub age_us: u32,
    /// The sequence number of the trade event, for evidence.
    pub seq: u64,
}

/// Recent trades of every party, per instrument symbol (all venues together), kept for `horizon`.
pub struct Activity {
    horizon: i64,
    run_window: i64,
    /// The run the last recorded aggressive leg belongs to, for the detectors that look at it at
    /// that trade (no second lookup).
    last_run: Option<(SymbolId, Party, Run)>,
    trades: FxHashMap<(SymbolId, Party), Recent>,
}

/// One party's recent trades in one symbol, and when it last traded each way: most questions are
/// "did it trade the other side lately?", answered without reading the trades.
struct Recent {
    /// Per side (buy, sell): the time of its last passive and last aggressive leg.
    last: [[i64; 2]; 2],
    /// The time of the oldest of `trades` (`i64::MAX` when none), so that recording a trade reads
    /// the old end of the queue only when something is to leave it.
    oldest: i64,
    trades: VecDeque<PartyTrade>,
    run: Option<Run>,
}

impl Activity {
    pub fn new(horizon: i64, run_window: i64) -> Self {
        Activity { horizon, run_window, last_run: None, trades: FxHashMap::default() }
    }

    /// Records both legs of a trade that names accounts.
    #[allow(clippy::too_many_arguments)]
    pub fn record(&mut self, ts: Ts, seq: u64, venue: VenueId, symbol: SymbolId, t: &Trade, change: &BookChange, owners: &[OwnerId]) {
        let (rest_buy, rest_sell) = match change {
            BookChange::Traded { buy, sell } => (buy.map(|o| (o.size.to_f64(), o.placed)), sell.map(|o| (o.size.to_f64(), o.placed))),
            _ => (None, None),
        };
        let qty = t.qty.to_f64();
        for (side, account, rest) in [(Side::Buy, t.buy_account, rest_buy), (Side::Sell, t.sell_account, rest_sell)] {
            let Some(account) = account else { continue };
            let leg = PartyTrade {
                ts,
                venue,
                account,
                side,
                price: t.price,
                qty,
                aggressive: t.aggressor == Some(side),
                order_size: rest.map_or(qty, |r| r.0).max(qty),
                age_us: rest.map_or(0, |r| ((ts.0 - r.1 .0).max(0) / 1000).min(u32::MAX as i64) as u32),
                seq,
            };
            let party = Party::of(account, owners);
            let r =
                self.trades.entry((symbol, party)).or_insert_with(|| Recent { last: [[i64::MIN; 2]; 2], oldest: i64::MAX, trades: VecDeque::new(), run: None });
            if leg.aggressive {
                let price = t.price.to_f64();
                let run = r.run.get_or_insert(Run { venue, side, n: 0, vol: 0.0, t0: ts, p0: price, last: ts });
                if run.venue != venue || run.side != side || ts.0 - run.last.0 > RUN_GAP || ts.0 - run.t0.0 > self.run_window {
                    *run = Run { venue, side, n: 0, vol: 0.0, t0: ts, p0: price, last: ts };
                }
                if run.n == 0 || run.last != ts {
                    run.n += 1;
                }
                run.last = ts;
                run.vol += qty;
                self.last_run = Some((symbol, party, *run));
            }
            let last = &mut r.last[side as usize][usize::from(leg.aggressive)];
            *last = (*last).max(ts.0);
            let q = &mut r.trades;
            if r.oldest < ts.0.saturating_sub(self.horizon) {
                while q.front().is_some_and(|f| f.ts.0 < ts.0 - self.horizon) {
                    q.pop_front();
                }
                r.oldest = q.front().map_or(i64::MAX, |f| f.ts.0);
            }
            q.push_back(leg);
            r.oldest = r.oldest.min(ts.0);
        }
    }

    /// Whether the party traded `side` in `symbol` (any venue) at or after `since`.
    pub fn traded_since(&self, symbol: SymbolId, party: Party, side: Side, since: Ts) -> bool {
        self.trades.get(&(symbol, party)).is_some_and(|r| r.last[side as usize].iter().any(|&t| t >= since.0))
    }

    /// Whether the party's incoming orders traded `side` in `symbol` (any venue) after `after`.
    pub fn aggressed_after(&self, symbol: SymbolId, party: Party, side: Side, after: Ts) -> bool {
        self.trades.get(&(symbol, party)).is_some_and(|r| r.last[side as usize][1] > after.0)
    }

    /// The party's current run of aggressive orders in `symbol`, if its last aggressive leg was the
    /// last one recorded (as it is at that trade).
    pub fn last_run(&self, symbol: SymbolId, party: Party) -> Option<&Run> {
        self.last_run.as_ref().filter(|(s, p, _)| *s == symbol && *p == party).map(|(_, _, r)| r)
    }

    /// The party's trades in `symbol` (any venue) at or after `since`, oldest first.
    pub fn since(&self, symbol: SymbolId, party: Party, since: Ts) -> impl DoubleEndedIterator<Item = &PartyTrade> {
        let q = self.trades.get(&(symbol, party)).map(|r| &r.trades);
        // From the new end back: callers ask about the last seconds, so this reads only the trades
        // they then iterate (a binary search would touch the cold old end of a long queue).
        let start = q.map_or(0, |q| q.len() - q.iter().rev().take_while(|t| t.ts >= since).count());
        q.into_iter().flat_map(move |q| q.range(start..))
    }
}
