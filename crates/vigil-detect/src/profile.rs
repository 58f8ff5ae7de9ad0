//! Behavioural account profiles: what each account usually does — its hours, its order sizes, its
//! cancel ratio, its instruments and venues — and how its latest period departs from that and from
//! its peers. Shards count every account's orders, amends, cancels and trades by period of event
//! time (`[profiles] period`, an hour by default): the current period is "recent", the earlier
//! ones the baseline, which rolls by blocks (`baseline_block`, a week: the current block and the
//! one before). Counts are integers, so the shards' partial profiles add up to the same numbers
//! whatever the number of threads.
//!
//! [`assess`] reads a profile against its own baseline and against its peer group (the accounts
//! whose main instrument is its main instrument), and combines the departures with the risk of the
//! account's alerts into one account risk score.

use crate::builder::level;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_core::{AccountId, Level, Names, SymbolId, VenueId};

/// Order sizes are counted by power of two: bucket `k` holds sizes in [2^(k−16), 2^(k−15)).
pub const SIZE_BUCKETS: usize = 48;
const SIZE_OFFSET: i32 = 16;

/// One period's (or the baseline's) counts; `K` names an instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts<K: Ord> {
    pub orders: u64,
    pub amends: u64,
    pub cancels: u64,
    pub trades: u64,
    /// Events by hour of the day (UTC).
    pub hours: Vec<u64>,
    /// New orders by size bucket (see [`SIZE_BUCKETS`]).
    pub sizes: Vec<u64>,
    /// Events by instrument.
    pub instruments: BTreeMap<K, u64>,
}

impl<K: Ord> Default for Counts<K> {
    fn default() -> Self {
        Counts { orders: 0, amends: 0, cancels: 0, trades: 0, hours: vec![0; 24], sizes: vec![0; SIZE_BUCKETS], instruments: BTreeMap::new() }
    }
}

impl<K: Ord + Clone> Counts<K> {
    pub fn events(&self) -> u64 {
        self.orders + self.amends + self.cancels + self.trades
    }
    fn add(&mut self, o: &Counts<K>) {
        self.orders += o.orders;
        self.amends += o.amends;
        self.cancels += o.cancels;
        self.trades += o.trades;
        for (a, b) in self.hours.iter_mut().zip(&o.hours) {
            *a += b;
        }
        for (a, b) in self.sizes.iter_mut().zip(&o.sizes) {
            *a += b;
        }
        for (k, v) in &o.instruments {
            *self.instruments.entry(k.clone()).or_default() += v;
        }
    }
    fn is_empty(&self) -> bool {
        self.events() == 0
    }
    /// The median order size (the geometric middle of its bucket), if any orders.
    pub fn median_size(&self) -> Option<f64> {
        let n: u64 = self.sizes.iter().sum();
        if n == 0 {
            return None;
        }
        let mut seen = 0;
        for (k, c) in self.sizes.iter().enumerate() {
            seen += c;
            if 2 * seen >= n {
                return Some(2f64.powf(k as f64 - SIZE_OFFSET as f64 + 0.5));
            }
        }
        None
    }
    pub fn cancel_ratio(&self) -> f64 {
        self.cancels as f64 / self.orders.max(1) as f64
    }
}

/// What a shard knows of one account.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Account {
    /// The baseline: the periods before the recent one in the current block of `block_ns`...
    baseline: Counts<(VenueId, SymbolId)>,
    /// ...and in the block before it: a rolling baseline of one to two blocks.
    older: Counts<(VenueId, SymbolId)>,
    /// The current block's index.
    block: i64,
    recent: Counts<(VenueId, SymbolId)>,
    recent_start: i64,
    first: i64,
    last: i64,
    /// The instrument of its last events in the recent period and their count, not yet in
    /// `recent.instruments`: an account's events mostly come in runs on one instrument, and a
    /// counter beside the map spares a map lookup an event.
    hot: Option<((VenueId, SymbolId), u64)>,
}

impl Account {
    fn flush(&mut self) {
        if let Some((k, n)) = self.hot.take() {
            *self.recent.instruments.entry(k).or_default() += n;
        }
    }

    /// Moves to block `b`: the current block becomes the older one (or, after a gap of more than
    /// a block, both are forgotten).
    fn advance(&mut self, b: i64) {
        if b > self.block {
            self.older = if b == self.block + 1 { std::mem::take(&mut self.baseline) } else { Counts::default() };
            self.baseline = Counts::default();
            self.block = b;
        }
    }

    /// Moves the recent period into the baseline when `period` is later.
    fn roll(&mut self, period: i64, block_ns: i64) {
        if period > self.recent_start {
            self.flush();
            self.advance(self.recent_start.div_euclid(block_ns));
            let r = std::mem::take(&mut self.recent);
            self.baseline.add(&r);
            self.recent_start = period;
            // The baseline is the blocks up to the new period's.
            self.advance(period.div_euclid(block_ns));
        }
    }

    /// Where the baseline begins: the older block's start when it holds anything, else the
    /// current block's, and never before the account was first seen.
    fn baseline_start(&self, block_ns: i64) -> i64 {
        let b = if self.older.is_empty() { self.block } else { self.block - 1 };
        (b * block_ns).max(self.first)
    }
}

/// Every account's counts in a shard (or, merged, in the engine).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profiles {
    period_ns: i64,
    block_ns: i64,
    /// By account index: its place in `accounts` (`u32::MAX`: none), two loads instead of a hash.
    slots: Vec<u32>,
    accounts: Vec<(AccountId, Account)>,
    /// The period and the hour of the day of the last event (events come in time order: most
    /// fall in the same ones, and two divisions an event are spared).
    clock: (i64, i64, usize),
}

/// What an event was, for a profile.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Act {
    Order(f64),
    Amend,
    Cancel,
    Trade,
}

impl Profiles {
    /// Periods of `period_ns`; the baseline rolls by blocks of `block_ns` (at least a period).
    pub fn new(period_ns: i64, block_ns: i64) -> Self {
        let period_ns = period_ns.max(1);
        Profiles { period_ns, block_ns: block_ns.max(period_ns), slots: Vec::new(), accounts: Vec::new(), clock: (i64::MAX, i64::MAX, 0) }
    }

    fn slot(&mut self, account: AccountId, make: impl FnOnce() -> Account) -> &mut Account {
        let i = account.index();
        if self.slots.len() <= i {
            self.slots.resize(i + 1, u32::MAX);
        }
        if self.slots[i] == u32::MAX {
            self.slots[i] = self.accounts.len() as u32;
            self.accounts.push((account, make()));
        }
        &mut self.accounts[self.slots[i] as usize].1
    }

    pub fn record(&mut self, ts: i64, account: AccountId, venue: VenueId, symbol: SymbolId, act: Act) {
        const HOUR: i64 = 3_600_000_000_000;
        let (mut period, mut hour_start, mut hour) = self.clock;
        if !(period..period.saturating_add(self.period_ns)).contains(&ts) {
            period = ts.div_euclid(self.period_ns) * self.period_ns;
        }
        if !(hour_start..hour_start.saturating_add(HOUR)).contains(&ts) {
            hour_start = ts.div_euclid(HOUR) * HOUR;
            hour = ts.div_euclid(HOUR).rem_euclid(24) as usize;
        }
        self.clock = (period, hour_start, hour);
        let block_ns = self.block_ns;
        let a = self.slot(account, || Account {
            baseline: Counts::default(),
            older: Counts::default(),
            block: period.div_euclid(block_ns),
            recent: Counts::default(),
            recent_start: period,
            first: ts,
            last: ts,
            hot: None,
        });
        a.roll(period, block_ns);
        a.first = a.first.min(ts);
        a.last = a.last.max(ts);
        // An event of an earlier period (another instrument's late event) belongs to the baseline.
        let late = period < a.recent_start;
        let key = (venue, symbol);
        if late {
            *a.baseline.instruments.entry(key).or_default() += 1;
        } else {
            match &mut a.hot {
                Some((k, n)) if *k == key => *n += 1,
                _ => {
                    a.flush();
                    a.hot = Some((key, 1));
                }
            }
        }
        let c = if late { &mut a.baseline } else { &mut a.recent };
        match act {
            Act::Order(q) => {
                c.orders += 1;
                if q > 0.0 && q.is_finite() {
                    // ⌊log₂ q⌋ is the exponent of the float (subnormals land in bucket 0).
                    let exp = ((q.to_bits() >> 52) & 0x7ff) as i32 - 1023;
                    let k = (exp + SIZE_OFFSET).clamp(0, SIZE_BUCKETS as i32 - 1);
                    c.sizes[k as usize] += 1;
                }
            }
            Act::Amend => c.amends += 1,
            Act::Cancel => c.cancels += 1,
            Act::Trade => c.trades += 1,
        }
        c.hours[hour] += 1;
    }

    /// Adds another shard's counts (each account's periods aligned first).
    pub fn merge(&mut self, o: &Profiles) {
        if self.period_ns <= 1 {
            (self.period_ns, self.block_ns) = (o.period_ns, o.block_ns);
        }
        let block_ns = self.block_ns;
        for (k, b) in &o.accounts {
            let fresh = self.slots.get(k.index()).is_none_or(|s| *s == u32::MAX);
            let a = self.slot(*k, || b.clone());
            if !fresh {
                let mut b = b.clone();
                a.flush();
                b.flush();
                let period = a.recent_start.max(b.recent_start);
                a.roll(period, block_ns);
                b.roll(period, block_ns);
                let block = a.block.max(b.block);
                a.advance(block);
                b.advance(block);
                a.baseline.add(&b.baseline);
                a.older.add(&b.older);
                a.recent.add(&b.recent);
                a.first = a.first.min(b.first);
                a.last = a.last.max(b.last);
            }
        }
    }

    /// The profiles by name, sorted by account.
    pub fn named(&self, names: &Names) -> Vec<Profile> {
        let name = |c: &Counts<(VenueId, SymbolId)>| Counts::<String> {
            orders: c.orders,
            amends: c.amends,
            cancels: c.cancels,
            trades: c.trades,
            hours: c.hours.clone(),
            sizes: c.sizes.clone(),
            instruments: c.instruments.iter().map(|((v, s), n)| (format!("{}@{}", names.symbol(*s), names.venue(*v)), *n)).collect(),
        };
        let mut v: Vec<Profile> = self
            .accounts
            .iter()
            .map(|(id, a)| {
                let mut a = a.clone();
                a.flush();
                (id, a)
            })
            .map(|(id, a)| {
                let mut baseline = a.older.clone();
                baseline.add(&a.baseline);
                Profile {
                    account: names.account(*id).to_string(),
                    period_ns: self.period_ns,
                    recent_start: a.recent_start,
                    first: a.first,
                    last: a.last,
                    baseline_start: a.baseline_start(self.block_ns),
                    baseline: name(&baseline),
                    recent: name(&a.recent),
                }
            })
            .collect();
        v.sort_by(|a, b| a.account.cmp(&b.account));
        v
    }
}

/// An account's profile as stored: its counts before the recent period and in it. Instruments are
/// named `SYMBOL@venue`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub account: String,
    pub period_ns: i64,
    pub recent_start: i64,
    pub first: i64,
    pub last: i64,
    /// Where the (rolling) baseline begins.
    #[serde(default)]
    pub baseline_start: i64,
    pub baseline: Counts<String>,
    pub recent: Counts<String>,
}

impl Profile {
    /// Everything it did.
    pub fn total(&self) -> Counts<String> {
        let mut t = self.baseline.clone();
        t.add(&self.recent);
        t
    }
    /// The instrument it is most active in (ties: the first by name).
    pub fn main_instrument(&self) -> Option<String> {
        let t = self.total();
        t.instruments.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).map(|(k, _)| k.clone())
    }
    /// As of `now`: a recent period that has ended belongs to the baseline.
    pub fn as_of(&self, now: i64) -> Profile {
        let period = now.div_euclid(self.period_ns.max(1)) * self.period_ns.max(1);
        let mut p = self.clone();
        if period > p.recent_start {
            let r = std::mem::take(&mut p.recent);
            p.baseline.add(&r);
            p.recent_start = period;
        }
        p
    }
}

/// One way an account departs from its usual or its peers'.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Departure {
    pub measure: &'static str,
    pub value: f64,
    /// Its own baseline's value, or its peers' median.
    pub usual: f64,
    /// 0 (as usual) to 1 (as far as this measure goes).
    pub score: f64,
    pub detail: String,
}

/// An account judged: its departures and its risk.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub account: String,
    /// From its own baseline (empty when it has too little history or nothing recent).
    pub own: Vec<Departure>,
    /// From its peer group (empty when the group is too small).
    pub peers: Vec<Departure>,
    /// Who its peers are: its main instrument and their band of activity.
    pub peer_group: Option<String>,
    pub peer_count: usize,
    /// The highest risk among its alerts that are not false positives.
    pub alert_risk: f64,
    /// 1 − (1 − alert risk) × (1 − 0.6 × the largest departure): departures alone reach 0.6.
    pub risk: f64,
    pub level: Level,
}

/// A baseline needs this many events before departures from it are read.
pub const MIN_HISTORY: u64 = 20;
/// A peer group needs this many other accounts.
pub const MIN_PEERS: usize = 5;

fn share_where<K: Ord>(of: &BTreeMap<K, u64>, total: u64, keep: impl Fn(&K) -> bool) -> f64 {
    let n: u64 = of.iter().filter(|(k, _)| keep(k)).map(|(_, v)| v).sum();
    n as f64 / total.max(1) as f64
}

fn venue_of(instrument: &str) -> &str {
    instrument.rsplit_once('@').map_or("", |x| x.1)
}

/// Every profile's totals, main instrument and band of activity, computed once for many
/// assessments.
pub struct Peers {
    entries: Vec<(String, Option<String>, i64, Counts<String>)>,
}

/// The power of ten of an account's events: its band of activity.
fn band(c: &Counts<String>) -> i64 {
    (c.events().max(1) as f64).log10().floor() as i64
}

impl Peers {
    pub fn new(all: &[Profile]) -> Peers {
        Peers {
            entries: all
                .iter()
                .map(|p| {
                    let t = p.total();
                    (p.account.clone(), p.main_instrument(), band(&t), t)
                })
                .collect(),
        }
    }
}

const DAY_NS: i64 = 24 * 3_600_000_000_000;

/// Reads `p` as of its latest event (its recent period is the one that event fell in) against its
/// own baseline and against its peers in `index` (those with its main instrument and about its
/// activity), with `alert_risk` the highest risk of its alerts.
pub fn assess(p: &Profile, index: &Peers, alert_risk: f64) -> Assessment {
    // As of its latest event, which the recent period always holds: nothing to roll.
    let mut own = Vec::new();
    let (b, r) = (&p.baseline, &p.recent);
    if b.events() >= MIN_HISTORY && !r.is_empty() {
        let (rn, bn) = (r.events(), b.events());
        // Hours in which it did less than 2 % of its usual activity: read only once the baseline
        // spans a day (before, every hour it has not reached yet would look quiet).
        if p.recent_start - p.baseline_start.max(p.first) >= DAY_NS {
            let quiet: Vec<bool> = b.hours.iter().map(|h| (*h as f64) < 0.02 * bn as f64).collect();
            let off: u64 = r.hours.iter().zip(&quiet).filter(|(_, q)| **q).map(|(h, _)| h).sum();
            let off_share = off as f64 / rn as f64;
            own.push(Departure {
                measure: "hours",
                value: off_share,
                usual: 0.0,
                score: off_share,
                detail: format!("{:.0}% of its recent activity fell in hours where it usually does under 2%", 100.0 * off_share),
            });
        }
        if let (Some(rs), Some(bs)) = (r.median_size(), b.median_size()) {
            let x = (rs / bs).log2();
            own.push(Departure {
                measure: "order_size",
                value: rs,
                usual: bs,
                score: (x.abs() / 3.0).min(1.0),
                detail: format!("median order size about {} against its usual {} ({:.1}x)", crate::detectors::num(rs), crate::detectors::num(bs), rs / bs),
            });
        }
        let (rc, bc) = (r.cancel_ratio(), b.cancel_ratio());
        own.push(Departure {
            measure: "cancel_ratio",
            value: rc,
            usual: bc,
            score: ((rc - bc).abs() / 0.5).min(1.0),
            detail: format!("cancel ratio {rc:.2} against its usual {bc:.2}"),
        });
        let new_instruments = share_where(&r.instruments, rn, |k| !b.instruments.contains_key(k));
        own.push(Departure {
            measure: "new_instruments",
            value: new_instruments,
            usual: 0.0,
            score: new_instruments,
            detail: format!("{:.0}% of its recent activity in instruments it never traded before", 100.0 * new_instruments),
        });
        let venues: std::collections::BTreeSet<&str> = b.instruments.keys().map(|k| venue_of(k)).collect();
        let new_venues = share_where(&r.instruments, rn, |k| !venues.contains(venue_of(k)));
        own.push(Departure {
            measure: "new_venues",
            value: new_venues,
            usual: 0.0,
            score: new_venues,
            detail: format!("{:.0}% of its recent activity on venues it never used before", 100.0 * new_venues),
        });
        // Events a period: the recent period's so far, scaled to a whole period (read once a
        // quarter of it has passed), against the baseline's over the periods since it was first seen.
        let periods = ((p.recent_start - p.baseline_start.max(p.first)).max(0) as f64 / p.period_ns as f64).ceil().max(1.0);
        let elapsed = ((p.last - p.recent_start) as f64 / p.period_ns as f64).min(1.0);
        if elapsed >= 0.25 {
            let (rate, usual) = (rn as f64 / elapsed, bn as f64 / periods);
            own.push(Departure {
                measure: "activity",
                value: rate,
                usual,
                score: ((rate / usual.max(1e-9)).log10().abs() / 1.5).min(1.0),
                detail: format!("{rate:.1} events a period at this period's pace against its usual {usual:.1}"),
            });
        }
    }

    let main = p.main_instrument();
    let mut peers = Vec::new();
    let mut peer_count = 0;
    let mut peer_group = None;
    if let Some(main) = &main {
        // Peers: the accounts with its main instrument and about its activity (the same power of
        // ten of events: a market maker is judged among market makers, not among the retail
        // accounts it trades with); when those are too few, within a power of ten either side.
        let me = p.total();
        let mine = band(&me);
        let same: Vec<&(String, Option<String>, i64, Counts<String>)> =
            index.entries.iter().filter(|q| q.0 != p.account && q.1.as_deref() == Some(main.as_str())).collect();
        let mut width = 0;
        let mut group: Vec<&Counts<String>> = same.iter().filter(|q| q.2 == mine).map(|q| &q.3).collect();
        if group.len() < MIN_PEERS {
            width = 1;
            group = same.iter().filter(|q| (q.2 - mine).abs() <= 1).map(|q| &q.3).collect();
        }
        peer_count = group.len();
        let (lo, hi) = (10f64.powi((mine - width).max(0) as i32), 10f64.powi((mine + width + 1) as i32));
        peer_group = Some(format!("{main}, {lo}-{} events", hi - 1.0));
        // A handful of events is no behaviour to compare.
        if group.len() >= MIN_PEERS && me.events() >= MIN_HISTORY {
            // Each measure with the least spread that counts: a group that all look alike must not
            // make a hair's difference a departure (a size bucket is a factor of two).
            type Measure = (&'static str, fn(&Counts<String>) -> Option<f64>, &'static str, f64);
            let measures: [Measure; 4] = [
                ("peer_cancel_ratio", |c| (c.orders > 0).then(|| c.cancel_ratio()), "cancel ratio", 0.05),
                ("peer_order_size", |c| c.median_size().map(f64::log2), "median order size (log2)", 1.0),
                ("peer_order_to_trade", |c| Some(((c.orders + 1) as f64 / (c.trades + 1) as f64).log10()), "orders per trade (log10)", 0.15),
                ("peer_activity", |c| Some(((c.events() + 1) as f64).log10()), "events (log10)", 0.15),
            ];
            for (name, f, what, floor) in measures {
                let Some(x) = f(&me) else { continue };
                let mut xs: Vec<f64> = group.iter().filter_map(|c| f(c)).collect();
                let Some(med) = crate::detectors::median(&mut xs) else { continue };
                let mut dev: Vec<f64> = xs.iter().map(|v| (v - med).abs()).collect();
                let mad = crate::detectors::median(&mut dev).unwrap_or(0.0);
                let sigma = (1.4826 * mad).max(floor);
                let z = (x - med) / sigma;
                peers.push(Departure {
                    measure: name,
                    value: x,
                    usual: med,
                    score: ((z.abs() - 2.0) / 4.0).clamp(0.0, 1.0),
                    detail: format!("{what} {:.2} against its {} peers' median {:.2} ({:+.1} robust sigmas)", x, group.len(), med, z),
                });
            }
        }
    }
    let worst = own.iter().chain(&peers).map(|d| d.score).fold(0.0f64, f64::max);
    let alert_risk = alert_risk.clamp(0.0, 1.0);
    let risk = 1.0 - (1.0 - alert_risk) * (1.0 - 0.6 * worst);
    Assessment { account: p.account.clone(), own, peers, peer_group, peer_count, alert_risk, risk, level: level(risk) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Interner;

    const H: i64 = 3_600_000_000_000;
    const T0: i64 = 1_767_261_600_000_000_000; // 2026-01-01T10:00:00Z

    #[test]
    fn shards_add_up_to_one_profile_and_periods_roll() {
        let mut it = Interner::new();
        let (a, v, w) = (it.account("a"), it.venue("x"), it.venue("y"));
        let (s1, s2) = (it.symbol("AAA-USD"), it.symbol("BBB-USD"));
        let mut one = Profiles::new(H, 24 * H);
        let (mut left, mut right) = (Profiles::new(H, 24 * H), Profiles::new(H, 24 * H));
        for i in 0..30 {
            let ts = T0 + i * 60_000_000_000;
            for (p, s) in [(&mut one, s1), (&mut left, s1)] {
                p.record(ts, a, v, s, Act::Order(10.0));
            }
            for (p, s) in [(&mut one, s2), (&mut right, s2)] {
                p.record(ts + H, a, w, s, Act::Cancel);
            }
        }
        left.merge(&right);
        let names = it.names();
        assert_eq!(left.named(&names), one.named(&names), "the same counts whichever shard saw what");
        let p = &one.named(&names)[0];
        // The first hour's orders rolled into the baseline when the second hour's cancels came.
        assert_eq!((p.baseline.orders, p.recent.cancels, p.recent_start), (30, 30, T0 + H));
        assert_eq!(p.baseline.hours[10], 30);
        assert_eq!(p.recent.instruments.keys().collect::<Vec<_>>(), ["BBB-USD@y"]);
        assert!((p.baseline.median_size().unwrap() - 2f64.powf(3.5)).abs() < 1e-9, "10 lots in the bucket [8, 16)");
        let later = p.as_of(T0 + 5 * H);
        assert!(later.recent.events() == 0 && later.baseline.cancels == 30);
    }

    #[test]
    fn the_baseline_rolls_by_blocks() {
        let mut it = Interner::new();
        let (a, v, s) = (it.account("a"), it.venue("x"), it.symbol("AAA-USD"));
        let mut p = Profiles::new(H, 24 * H);
        // Day 0: orders; day 1: cancels; day 2: trades; day 2 + 1 h: one amend (the recent period).
        for (day, act) in [(0, Act::Order(1.0)), (1, Act::Cancel), (2, Act::Trade)] {
            for i in 0..10 {
                p.record(T0 + day * 24 * H + i, a, v, s, act);
            }
        }
        p.record(T0 + 2 * 24 * H + H, a, v, s, Act::Amend);
        let names = it.names();
        let x = &p.named(&names)[0];
        // Day 0 has rolled out: the baseline is days 1 and 2 (its older and current blocks).
        assert_eq!((x.baseline.orders, x.baseline.cancels, x.baseline.trades, x.recent.amends), (0, 10, 10, 1), "{x:?}");
        assert_eq!(x.baseline_start, (T0 + 24 * H).div_euclid(24 * H) * 24 * H);
        // After a gap of more than a block, nothing old is left.
        p.record(T0 + 10 * 24 * H, a, v, s, Act::Trade);
        let x = &p.named(&names)[0];
        assert_eq!(x.baseline.events(), 0, "{x:?}");
    }

    fn profile(hours: &[(usize, u64)], orders: u64, cancels: u64, trades: u64, size_bucket: usize, instrument: &str) -> Counts<String> {
        let mut c = Counts::<String> { orders, cancels, trades, ..Default::default() };
        for (h, n) in hours {
            c.hours[*h] = *n;
        }
        c.sizes[size_bucket] = orders;
        c.instruments.insert(instrument.to_string(), orders + cancels + trades);
        c
    }

    #[test]
    fn departures_from_its_own_usual_and_its_peers() {
        let mk = |account: &str, baseline: Counts<String>, recent: Counts<String>| Profile {
            account: account.into(),
            period_ns: H,
            recent_start: T0 + 10 * H,
            // A day of history before the recent period, which it fills.
            first: T0 - 14 * H,
            last: T0 + 11 * H - 1,
            baseline_start: T0 - 14 * H,
            baseline,
            recent,
        };
        // Ten peers: daytime traders of AAA on x, small orders, few cancels.
        let mut all: Vec<Profile> = (0..10)
            .map(|i| {
                let b = profile(&[(10, 50), (11, 50)], 80, 10 + i, 10, 18, "AAA-USD@x");
                mk(&format!("p{i}"), b, profile(&[(10, 5)], 4, 1, 1, 18, "AAA-USD@x"))
            })
            .collect();
        // The suspect: the same usual, then at 03:00 large orders, nearly all cancelled, on a new venue.
        let b = profile(&[(10, 50), (11, 50)], 80, 10, 10, 18, "AAA-USD@x");
        let mut r = profile(&[(3, 40)], 20, 19, 1, 24, "AAA-USD@z");
        r.instruments.insert("AAA-USD@x".into(), 0);
        let suspect = mk("s", b, r);
        all.push(suspect.clone());
        let peers = Peers::new(&all);
        let a = assess(&suspect, &peers, 0.0);
        let get = |m: &str| a.own.iter().chain(&a.peers).find(|d| d.measure == m).unwrap_or_else(|| panic!("{m} in {a:?}"));
        assert_eq!(get("hours").score, 1.0, "all of it at an hour it never keeps");
        assert!((get("order_size").value / get("order_size").usual - 64.0).abs() < 1e-9 && get("order_size").score == 1.0);
        assert!(get("cancel_ratio").score > 0.9);
        assert_eq!(get("new_venues").score, 1.0);
        assert_eq!(get("new_instruments").score, 1.0, "AAA-USD on z is another instrument");
        assert_eq!(a.peer_count, 10);
        assert!(a.risk > 0.59 && a.risk <= 0.6 + 1e-12, "departures alone reach 0.6: {}", a.risk);
        // With a critical alert, the risk is above the alert's.
        let with_alert = assess(&suspect, &peers, 0.9);
        assert!(with_alert.risk > 0.95 && with_alert.level == Level::Critical);
        // A peer doing as it always does departs from nothing.
        let calm = assess(&all[3], &peers, 0.0);
        assert!(calm.own.iter().chain(&calm.peers).all(|d| d.score < 0.3), "{calm:?}");
        assert!(calm.risk < 0.2);
        // Too little history: nothing to depart from.
        let mut young = suspect.clone();
        young.baseline = Counts::default();
        assert!(assess(&young, &peers, 0.0).own.is_empty());
        // Less than a day of history: its hours are not judged (every hour not reached yet would
        // look quiet).
        let mut short = suspect.clone();
        short.first = T0;
        assert!(assess(&short, &peers, 0.0).own.iter().all(|d| d.measure != "hours"));
    }
}
