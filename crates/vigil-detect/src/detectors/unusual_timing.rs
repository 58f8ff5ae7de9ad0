//! `unusual_timing`: activity at an unusual time, in two forms.
//!
//! - Off-hours: each account's usual hours of the day (UTC) in each instrument are learnt from its
//!   orders and trades. Once it has `min_history_events` events over `min_history_span`, an event at
//!   least `min_hours_away` hours from every hour in which the account did at least `quiet_share` of
//!   its activity alerts (say, an account that trades 09:00-17:00 placing orders at 03:00).
//! - Off rhythm: an account that keeps to one moment of the minute in an instrument (a scheduled
//!   algorithm: `min_rhythm_share` of the seconds in which it placed orders, in at least
//!   `min_rhythm_minutes` distinct minutes over `min_rhythm_span`, in one 3-second band of the
//!   minute) placing `min_off_rhythm` orders more than 2 s outside the band within
//!   `off_rhythm_window`. Learnt per instrument, and per account across its instruments ([`Schedules`]): a scheduled algorithm keeps one
//!   clock, so an account that keeps to :49 in one instrument and then places orders at any
//!   second in another, where it has no history to judge by, is off its rhythm too. Where the
//!   instrument has that history, it decides. (A shard sees its own instruments only, and alerts
//!   must not depend on the sharding: the account's clock is kept where every order passes in
//!   input order, by the engine before it routes the order to its shard, and travels with the
//!   order. A Kafka worker's shard sees one partition, so its clock spans that partition's
//!   instruments.)
//! - Same instant: orders from at least `min_accounts` distinct accounts on one side of one
//!   instrument within one `instant`, and at least `record_multiplier` times the busiest ordinary
//!   instant among the last `baseline_instants` (so a venue whose gateway batches orders is not
//!   flagged for its ordinary batches). Such a crowd stays out of the baseline, and for
//!   `CROWD_MEMORY` after one alerts, a crowd must also be `record_multiplier` times the largest
//!   alerted crowd of that span to alert. Independent traders do not act in the same
//!   millisecond; coordinated ones do.
//!
//! Basis: EU MAR Annex I(A) and ESMA's MAR guidelines on behaviour departing from a client's usual
//! pattern; coordinated trading under MAR Art. 12(1)(a). An anomaly, not an accusation.

use super::slot;
use crate::builder::{key, Signal};
use crate::config::UnusualTimingConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::borrow::Cow;
use std::collections::VecDeque;
use vigil_core::{AccountId, AlertType, Event, EventKind, Side, SymbolId, Ts};

const HOUR: i64 = 3_600_000_000_000;

struct Profile {
    hours: [u32; 24],
    total: u32,
    first: Ts,
    rhythm: Rhythm,
    /// Its last orders off its schedule.
    off: VecDeque<Ts>,
}

/// Where in the minute an account places its orders.
struct Rhythm {
    first: Ts,
    /// Its moments by second of the minute (a moment: a second of a minute in which it placed
    /// orders, however many), and how many; the minutes with any, and the last of them. (A
    /// schedule recurs minute after minute: one burst of thousands of orders is not one.)
    secs: [u16; 60],
    moments: u32,
    minutes: u32,
    minute: i64,
    /// The seconds of the current minute already counted (bit `s` for second `s`).
    seen: u64,
    /// The 3-second band of the minute holding most of its moments (its first second), and the
    /// moments in it.
    band: u8,
    band_count: u32,
}

/// A schedule an order left: the band of the minute the account keeps to and what shows it, as it
/// stood before the order.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Whether it was learnt from the account's orders in all its instruments, not this one's.
    pub across_instruments: bool,
    /// The band's first second of the minute (the band is 3 seconds).
    pub band: u8,
    /// The share of its moments (a second of a minute in which it placed orders) in the band.
    pub share: f64,
    /// The distinct minutes in which it placed orders.
    pub minutes: u32,
    /// Its moments (halved with `secs` if a second's count reaches `u16::MAX`).
    pub moments: u32,
    /// Its moments by second of the minute.
    pub secs: [u16; 60],
}

/// Seconds in the band of the minute that a scheduled account keeps to...
const BAND: usize = 3;
/// ...and an order this many seconds either side of it is not yet off the schedule (a late tick).
const MARGIN: usize = 2;

impl Profile {
    fn new(ts: Ts) -> Self {
        Profile { hours: [0; 24], total: 0, first: ts, rhythm: Rhythm::new(ts), off: VecDeque::new() }
    }
}

fn second_of_minute(ts: Ts) -> usize {
    (ts.0.rem_euclid(60_000_000_000) / 1_000_000_000) as usize
}

impl Rhythm {
    fn new(ts: Ts) -> Self {
        Rhythm { first: ts, secs: [0; 60], moments: 0, minutes: 0, minute: i64::MIN, seen: 0, band: 0, band_count: 0 }
    }

    /// The schedule an order at `ts` leaves, if the account keeps to one and the order is off it
    /// (judged on the orders before it).
    fn left(&self, cfg: &UnusualTimingConfig, ts: Ts, across_instruments: bool) -> Option<Schedule> {
        (self.scheduled(cfg, ts) && !self.near_band(second_of_minute(ts))).then(|| Schedule {
            across_instruments,
            band: self.band,
            share: self.share(),
            minutes: self.minutes,
            moments: self.moments,
            secs: self.secs,
        })
    }

    /// Whether there is history enough at `ts` to judge whether the account keeps to a schedule.
    fn known(&self, cfg: &UnusualTimingConfig, ts: Ts) -> bool {
        self.minutes >= cfg.min_rhythm_minutes && ts.0 - self.first.0 >= cfg.min_rhythm_span.0
    }

    /// Whether the account keeps to a schedule (judged at `ts`, on its orders so far).
    fn scheduled(&self, cfg: &UnusualTimingConfig, ts: Ts) -> bool {
        self.known(cfg, ts) && self.share() >= cfg.min_rhythm_share
    }

    /// Counts an order at `ts`.
    fn count(&mut self, ts: Ts) {
        let minute = ts.0.div_euclid(60_000_000_000);
        self.order(minute, ((ts.0 - minute * 60_000_000_000) / 1_000_000_000) as usize);
    }

    /// Counts an order at second `sec` of `minute`, unless an earlier one was counted in that
    /// second: a burst of a thousand orders in one second is one moment of the minute, not a
    /// thousand (else a quote stuffer's bursts make it look scheduled at their second). The band
    /// is found again at the 8th, 16th, 32nd and 64th count and every 64th after (a schedule, once
    /// seen, stays put); its count is kept in between.
    fn order(&mut self, minute: i64, sec: usize) {
        if minute > self.minute {
            self.minute = minute;
            self.minutes += 1;
            self.seen = 0;
        }
        // (A late order, of an earlier minute, is counted: which of that minute's seconds were
        // counted is forgotten.)
        if minute == self.minute {
            if self.seen & (1 << sec) != 0 {
                return;
            }
            self.seen |= 1 << sec;
        }
        if self.secs[sec] == u16::MAX {
            // Halve the histogram, its total and the band's count alike: the shares stand.
            for c in &mut self.secs {
                *c /= 2;
            }
            (self.moments, self.band_count) = (self.moments / 2, self.band_count / 2);
        }
        self.secs[sec] += 1;
        self.moments += 1;
        if (sec + 60 - self.band as usize) % 60 < BAND {
            self.band_count += 1;
        }
        let n = self.moments;
        if (n >= 8 && n.is_power_of_two() && n <= 64) || n.is_multiple_of(64) {
            let sum = |b: usize| (0..BAND).map(|k| u32::from(self.secs[(b + k) % 60])).sum::<u32>();
            // Ties go to the band that starts where orders are.
            let best = (0..60).max_by_key(|&b| (sum(b), self.secs[b], std::cmp::Reverse(b))).unwrap_or(0);
            self.band = best as u8;
            self.band_count = sum(best);
        }
    }

    /// The share of its moments in the band.
    fn share(&self) -> f64 {
        f64::from(self.band_count) / f64::from(self.moments.max(1))
    }

    /// Whether second `sec` is in the band or within `MARGIN` of it.
    fn near_band(&self, sec: usize) -> bool {
        (sec + 60 + MARGIN - self.band as usize) % 60 < BAND + 2 * MARGIN
    }
}

#[derive(Default)]
struct Instant {
    index: i64,
    /// Distinct accounts in the current instant, per side.
    accounts: [Vec<AccountId>; 2],
    /// Whether the current instant is a crowd on each side (it beat the baseline).
    crowd: [bool; 2],
    /// Whether the current instant alerted on each side.
    alerted: [bool; 2],
    /// Closed ordinary instants: (number, busiest side's account count), max first (a monotonic
    /// queue). Crowds are kept out of it.
    recent: VecDeque<(u64, usize)>,
    closed: u64,
    /// Alerted crowds of the last `CROWD_MEMORY`: (time, account count), max first.
    crowds: VecDeque<(i64, usize)>,
}

/// An alerted crowd raises the bar for the next ones this long (the same-instant alerts'
/// cooldown): a pump's rush bursts, every few seconds for a minute, alert once a minute, not once
/// a burst.
const CROWD_MEMORY: i64 = 60_000_000_000;

pub struct UnusualTiming {
    cfg: UnusualTimingConfig,
    profiles: FxHashMap<(SymbolId, AccountId), Profile>,
    slots: Vec<Instant>,
}

impl UnusualTiming {
    pub fn new(cfg: UnusualTimingConfig) -> Self {
        UnusualTiming { cfg, profiles: FxHashMap::default(), slots: Vec::new() }
    }

    fn off_hours(&mut self, ev: &Event, account: AccountId, order: bool, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let cfg = &self.cfg;
        let hour = (ev.ts.0.rem_euclid(24 * HOUR) / HOUR) as usize;
        let p = self.profiles.entry((ev.symbol, account)).or_insert_with(|| Profile::new(ev.ts));
        let floor = (cfg.quiet_share * p.total as f64).max(1.0);
        // An hour the account uses is never unusual: the common case costs a comparison.
        let ready = (p.hours[hour] as f64) < floor && p.total >= cfg.min_history_events && ev.ts.0 - p.first.0 >= cfg.min_history_span.0;
        if ready {
            let usual: Vec<usize> = (0..24).filter(|&h| p.hours[h] as f64 >= floor).collect();
            let away = usual
                .iter()
                .map(|&h| {
                    let d = hour.abs_diff(h);
                    d.min(24 - d)
                })
                .min()
                .unwrap_or(0);
            let behaviour = key(&[&ev.symbol.0.to_le_bytes(), &account.0.to_le_bytes(), b"hours"]);
            if away >= cfg.min_hours_away as usize && !cx.repeat(AlertType::UnusualTiming, behaviour, ev.ts, cfg.cooldown.0, out) {
                let acct = cx.names.account(account);
                let symbol = cx.names.symbol(ev.symbol);
                let venue = cx.names.venue(ev.venue);
                let span: Vec<String> = usual.iter().map(|h| format!("{h:02}")).collect();
                let description = format!(
                    "{acct} was active in {symbol} on {venue} at {} UTC, {away} hours from any hour it usually trades (its {} earlier events fell in the hours {} UTC).",
                    &ev.ts.to_string()[11..16],
                    p.total,
                    span.join(", "),
                );
                let evidence = json!({
                    "pattern": "off_hours",
                    "hour_utc": hour,
                    "usual_hours_utc": usual,
                    "hours_away": away,
                    "min_hours_away": cfg.min_hours_away,
                    "history_events": p.total,
                    "hour_counts": p.hours.to_vec(),
                    "trigger_seq": ev.seq,
                });
                let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
                out.push(Signal {
                    kind: AlertType::UnusualTiming,
                    ts: ev.ts,
                    window_start: ev.ts,
                    window_end: ev.ts,
                    venue: Some(ev.venue),
                    symbols: vec![ev.symbol],
                    accounts: vec![account],
                    severity: away as f64 / cfg.min_hours_away as f64,
                    confidence: (p.total as f64 / (4.0 * cfg.min_history_events as f64)).clamp(0.5, 1.0),
                    behaviour,
                    cooldown: cfg.cooldown.0,
                    identity: key(&[&ev.seq.to_le_bytes()]),
                    description,
                    evidence,
                });
            }
        }
        p.hours[hour] += 1;
        p.total += 1;
        if order {
            off_rhythm(cfg, p, ev, account, cx.schedule, cx, out);
        }
    }

    fn same_instant(&mut self, ev: &Event, account: AccountId, side: Side, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        let idx = ev.ts.0.div_euclid(cfg.instant.0);
        if idx != st.index {
            let busiest = st.accounts[0].len().max(st.accounts[1].len());
            if busiest > 0 {
                st.closed += 1;
                // A crowd is not the baseline's: a pump's rush bursts would otherwise hide every
                // crowd for the next thousand instants. One that alerted raises the bar for
                // `CROWD_MEMORY` instead. (A gateway that batches orders steadily never beats its own record, so
                // its batches stay in.)
                let end = st.index.saturating_add(1).saturating_mul(cfg.instant.0);
                if st.alerted[0] || st.alerted[1] {
                    // Only an alerted crowd raises the bar, so a chain of crowds cannot keep
                    // silencing the next for longer than `CROWD_MEMORY` after the last alert.
                    while st.crowds.back().is_some_and(|b| b.1 <= busiest) {
                        st.crowds.pop_back();
                    }
                    st.crowds.push_back((end, busiest));
                } else if !(st.crowd[0] || st.crowd[1]) {
                    while st.recent.back().is_some_and(|b| b.1 <= busiest) {
                        st.recent.pop_back();
                    }
                    st.recent.push_back((st.closed, busiest));
                }
            }
            while st.recent.front().is_some_and(|f| st.closed - f.0 >= cfg.baseline_instants as u64) {
                st.recent.pop_front();
            }
            st.index = idx;
            st.accounts[0].clear();
            st.accounts[1].clear();
            st.alerted = [false; 2];
            st.crowd = [false; 2];
        }
        while st.crowds.front().is_some_and(|f| ev.ts.0 - f.0 > CROWD_MEMORY) {
            st.crowds.pop_front();
        }
        let i = side as usize;
        if !st.accounts[i].contains(&account) {
            st.accounts[i].push(account);
        }
        let n = st.accounts[i].len();
        let record = st.recent.front().map_or(0, |f| f.1);
        // A baseline needs some history: a tenth of the instants it spans.
        if st.alerted[i] || n < cfg.min_accounts || (st.closed as usize) < cfg.baseline_instants / 10 || (n as f64) < cfg.record_multiplier * record as f64 {
            return;
        }
        st.crowd[i] = true;
        // The largest alerted crowd of the last minute: this one must beat it as it beat the
        // baseline.
        let last_crowd = st.crowds.front().map_or(0, |f| f.1);
        if (n as f64) < cfg.record_multiplier * last_crowd as f64 {
            return;
        }
        st.alerted[i] = true;
        let mut accounts = st.accounts[i].clone();
        super::sort_by_name(&mut accounts, cx.names);
        let names: Vec<String> = accounts.iter().map(|a| cx.names.account(*a).to_string()).collect();
        let symbol = cx.names.symbol(ev.symbol);
        let venue = cx.names.venue(ev.venue);
        let description = format!(
            "{n} accounts placed {} orders in {symbol} on {venue} within the same {} µs at {} UTC, where the busiest ordinary instant of the last {} had {record}.",
            side.as_str(),
            cfg.instant.0 / 1000,
            &ev.ts.to_string()[11..23],
            st.closed.min(cfg.baseline_instants as u64),
        );
        let evidence = json!({
            "pattern": "same_instant",
            "accounts": names,
            "side": side.as_str(),
            "instant_ns": cfg.instant.0,
            "min_accounts": cfg.min_accounts,
            "baseline_record": record,
            "recent_crowd": last_crowd,
            "record_multiplier": cfg.record_multiplier,
            "trigger_seq": ev.seq,
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        // A group acting together again is a repeat; another group is news.
        let group = super::names_key(&accounts[..accounts.len().min(cfg.min_accounts)], cx.names);
        let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &ev.symbol.0.to_le_bytes(), b"instant", &group]);
        out.push(Signal {
            kind: AlertType::UnusualTiming,
            ts: ev.ts,
            window_start: Ts(idx * cfg.instant.0),
            window_end: ev.ts,
            venue: Some(ev.venue),
            symbols: vec![ev.symbol],
            accounts,
            severity: n as f64 / cfg.min_accounts as f64,
            confidence: 0.7,
            behaviour,
            cooldown: cfg.cooldown.0.min(CROWD_MEMORY),
            identity: key(&[&ev.seq.to_le_bytes()]),
            description,
            evidence,
        });
    }
}

/// An order of an account that keeps to one band of the minute, placed outside it: the
/// `min_off_rhythm`-th such within `off_rhythm_window` alerts. The account's history in this
/// instrument decides once it is long enough to judge, scheduled or not (an account that keeps to
/// :42 in one instrument may trade another by hand, at any second, as it always has); until then
/// its schedule across its instruments, `across`, does.
fn off_rhythm(cfg: &UnusualTimingConfig, p: &mut Profile, ev: &Event, account: AccountId, across: Option<&Schedule>, cx: &Context<'_>, out: &mut Vec<Signal>) {
    let left = if p.rhythm.known(cfg, ev.ts) { p.rhythm.left(cfg, ev.ts, false).map(Cow::Owned) } else { across.map(Cow::Borrowed) };
    p.rhythm.count(ev.ts);
    let Some(left) = left else {
        return;
    };
    while p.off.front().is_some_and(|t| ev.ts.0 - t.0 > cfg.off_rhythm_window.0) {
        p.off.pop_front();
    }
    p.off.push_back(ev.ts);
    if p.off.len() < cfg.min_off_rhythm {
        return;
    }
    let behaviour = key(&[&ev.symbol.0.to_le_bytes(), &account.0.to_le_bytes(), b"rhythm"]);
    if cx.repeat(AlertType::UnusualTiming, behaviour, ev.ts, cfg.cooldown.0, out) {
        return;
    }
    let secs: Vec<usize> = p.off.iter().map(|t| second_of_minute(*t)).collect();
    let at: Vec<String> = secs.iter().map(|s| format!(":{s:02}")).collect();
    let acct = cx.names.account(account);
    let symbol = cx.names.symbol(ev.symbol);
    let venue = cx.names.venue(ev.venue);
    let (band, share, history) = (left.band as usize, left.share, left.minutes);
    let description = format!(
"{acct} placed {} orders in {symbol} on {venue} at {} past the minute within {} s; {}% of the {} seconds in which it placed earlier orders{}, over {history} minutes, were at :{band:02}-:{:02} (a scheduled account keeping to one moment of the minute).",
        p.off.len(),
        super::fictitious::join(&at),
        super::short((ev.ts.0 - p.off[0].0) as f64 / 1e9),
        super::short(100.0 * share),
        left.moments,
        if left.across_instruments { " across instruments" } else { "" },
        (band + BAND - 1) % 60,
    );
    let evidence = json!({
        "pattern": "off_rhythm",
        "schedule_learnt_from": if left.across_instruments { "every_instrument" } else { "this_instrument" },
        "usual_band_start_second": band,
        "band_seconds": BAND,
        "band_share": crate::builder::round(share, 4),
        "min_rhythm_share": cfg.min_rhythm_share,
        "band_margin_seconds": MARGIN,
        "history_minutes": history,
        "history_order_seconds": left.moments,
        "min_rhythm_minutes": cfg.min_rhythm_minutes,
        "off_rhythm_seconds": secs,
        "min_off_rhythm": cfg.min_off_rhythm,
        "off_rhythm_window_ns": cfg.off_rhythm_window.0,
        "second_counts": left.secs.to_vec(),
        "trigger_seq": ev.seq,
    });
    let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
    out.push(Signal {
        kind: AlertType::UnusualTiming,
        ts: ev.ts,
        window_start: p.off[0],
        window_end: ev.ts,
        venue: Some(ev.venue),
        symbols: vec![ev.symbol],
        accounts: vec![account],
        severity: share / cfg.min_rhythm_share,
        confidence: (f64::from(history) / (4.0 * f64::from(cfg.min_rhythm_minutes))).clamp(0.5, 1.0),
        behaviour,
        cooldown: cfg.cooldown.0,
        identity: key(&[&ev.seq.to_le_bytes()]),
        description,
        evidence,
    });
}

impl Detector for UnusualTiming {
    fn name(&self) -> &'static str {
        "unusual_timing"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::UnusualTiming
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        match &ev.kind {
            EventKind::New(n) => {
                if let Some(a) = n.account {
                    self.off_hours(ev, a, true, cx, out);
                    self.same_instant(ev, a, n.side, cx, out);
                }
            }
            EventKind::Trade(t) => {
                // The incoming side's account: the one that chose this moment.
                let a = match t.aggressor {
                    Some(Side::Buy) => t.buy_account,
                    Some(Side::Sell) => t.sell_account,
                    None => None,
                };
                if let Some(a) = a {
                    self.off_hours(ev, a, false, cx, out);
                }
            }
            _ => {}
        }
    }
}

/// Every account's rhythm across all its instruments. It must see every order in input order: the
/// engine keeps it before routing orders to their shards and sends what it finds with the order; a
/// shard that runs alone keeps its own.
pub struct Schedules {
    cfg: UnusualTimingConfig,
    /// By account index, the account's place in `rhythms` (`u32::MAX`: none yet); an index costs
    /// less than a hash on every order.
    slots: Vec<u32>,
    rhythms: Vec<Rhythm>,
}

impl Schedules {
    /// None when `unusual_timing` is off.
    pub fn new(cfg: &UnusualTimingConfig) -> Option<Self> {
        cfg.enabled.then(|| Schedules { cfg: cfg.clone(), slots: Vec::new(), rhythms: Vec::new() })
    }

    /// Counts an order; returns the schedule it leaves, if its account keeps to one across its
    /// instruments and the order is off it.
    pub fn observe(&mut self, ev: &Event) -> Option<Schedule> {
        let EventKind::New(n) = &ev.kind else {
            return None;
        };
        let i = n.account?.index();
        if i >= self.slots.len() {
            self.slots.resize(i + 1, u32::MAX);
        }
        if self.slots[i] == u32::MAX {
            self.slots[i] = self.rhythms.len() as u32;
            self.rhythms.push(Rhythm::new(ev.ts));
        }
        let r = &mut self.rhythms[self.slots[i] as usize];
        let left = r.left(&self.cfg, ev.ts, true);
        r.count(ev.ts);
        left
    }
}
