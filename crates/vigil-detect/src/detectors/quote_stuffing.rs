//! `quote_stuffing`: one account's burst of order messages (new, amend, cancel) in one instrument
//! with a very high cancel ratio. It alerts when, over the trailing `window`, the account sent at
//! least `min_messages`, cancelled at least `min_cancel_ratio` of the orders it placed there (amends
//! count as cancels: a flood of amends is a flood), at a rate at least `rate_multiplier` times its
//! own usual rate (its average rate in the instrument before the window), scaled up by how much
//! busier than usual the rest of the market is meanwhile. A market maker that re-quotes hard all
//! day has a high usual rate and no burst; one that speeds up with a busy market (news, a crowd)
//! keeps pace with everyone else; and a burst must pass the account's own busiest window before by
//! half again (a maker re-quoting a whole ladder at once is bursty); a stuffer floods from a
//! standing start. An account with less than ten windows of history has no usual rate yet:
//! `min_messages` (a flood in itself) is enough, once the instrument itself has sixty windows of
//! history (at the start of a session everyone is new). The orders it took down must be fleeting:
//! their median resting time at most `max_order_life` (a maker's re-quotes rest for its re-quote
//! interval; a stuffer's for milliseconds). And the flood must not be a maker moving its two-sided
//! quotes: more than `max_requote_share` of the orders it placed in the window re-quotes, each
//! placed in the same instant as the account took down one of its orders on the same side, after
//! it, one for each taken down (a cancel/replace; a ladder moved as one), on both sides (the lesser side at least a fifth of
//! them). One order cancel/replaced again and again on one side is still stuffing.
//!
//! Basis: EU MAR Annex II 1(c) and (e) — disrupting or delaying the functioning of the trading
//! system, making it harder for others to identify genuine orders; SEC and CFTC market-access and
//! disruptive-practices guidance (CEA §4c(a)(5)).

use super::{num, short, slot};
use crate::builder::{key, round, Signal};
use crate::config::QuoteStuffingConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::VecDeque;
use vigil_book::BookChange;
use vigil_core::{AccountId, AlertType, Event, EventKind, Side, Ts};

/// How long an order taken down had rested, in microseconds.
#[derive(Copy, Clone)]
enum Life {
    New,
    Cancel(u32),
    Amend(u32),
    Unknown,
}

/// A burst passes the account's busiest window before by this factor.
const RECORD: f64 = 1.5;

/// Re-quotes are two-sided when the lesser side has at least this share of them.
const TWO_SIDED: f64 = 0.2;

struct Account {
    /// Messages in the window: (time, was a cancel or amend, messages in the window when it came,
    /// how long the order it took down had rested, in microseconds, since it was placed for a
    /// cancel (`Life::Cancel`) or since it last entered the book or lost its priority for an amend
    /// (`Life::Amend`), and for a new order that was a re-quote, its side: 0 buy, 1 sell).
    recent: VecDeque<(Ts, bool, u32, Life, Option<usize>)>,
    /// The time of the oldest of `recent` (`i64::MAX` when none): the old end of the queue is
    /// read only when something is to leave it.
    oldest: i64,
    cancels: u32,
    news: u32,
    /// New orders in the window that replaced, in the same instant, one taken down on their side,
    /// by side (buy, sell).
    requotes: [u32; 2],
    /// By side (buy, sell): the instant the account last took down (cancelled or amended) an order
    /// here, and how many it took down then that no new order has yet replaced (one each).
    taken_down: [(i64, u32); 2],
    /// Messages that have left the window: the usual rate is these over the time before it.
    before: u64,
    first: Option<Ts>,
    /// The most messages it had in one window that ended before the current window began: a
    /// message leaving the window hands on the count it saw. (The running count itself would make
    /// every burst its own record to beat.)
    peak: u32,
}

/// Every account's messages in one instrument: how busy the market is now and usually.
#[derive(Default)]
struct Market {
    recent: VecDeque<Ts>,
    before: u64,
    opened: Option<Ts>,
}

pub struct QuoteStuffing {
    cfg: QuoteStuffingConfig,
    slots: Vec<FxHashMap<AccountId, Account>>,
    markets: Vec<Market>,
}

impl QuoteStuffing {
    pub fn new(cfg: QuoteStuffingConfig) -> Self {
        QuoteStuffing { cfg, slots: Vec::new(), markets: Vec::new() }
    }
}

impl Detector for QuoteStuffing {
    fn name(&self) -> &'static str {
        "quote_stuffing"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::QuoteStuffing
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let micros = |since: Ts| ((ev.ts.0 - since.0).max(0) / 1000).min(u32::MAX as i64 - 1) as u32;
        // The side of the order placed or taken down, where known.
        let (account, cancel, life, side) = match (&ev.kind, cx.change) {
            (EventKind::New(n), _) => (n.account, false, Life::New, Some(n.side)),
            (EventKind::Amend(a), BookChange::Amended { before, after }) => {
                (a.account.or(after.account), true, Life::Amend(micros(before.ts)), Some(before.side))
            }
            (EventKind::Cancel(c), BookChange::Cancelled(o)) => (c.account.or(o.account), true, Life::Cancel(micros(o.placed)), Some(o.side)),
            // An amend to nothing is a cancel.
            (EventKind::Amend(a), BookChange::Cancelled(o)) => (a.account.or(o.account), true, Life::Cancel(micros(o.placed)), Some(o.side)),
            (EventKind::Amend(a), _) => (a.account, true, Life::Unknown, None),
            (EventKind::Cancel(c), _) => (c.account, true, Life::Unknown, None),
            _ => return,
        };
        let cfg = &self.cfg;
        let market = slot(&mut self.markets, cx.slot);
        let opened = *market.opened.get_or_insert(ev.ts);
        while let Some(&t) = market.recent.front() {
            if ev.ts.0 - t.0 <= cfg.window.0 {
                break;
            }
            market.recent.pop_front();
            market.before += 1;
        }
        market.recent.push_back(ev.ts);
        let Some(account) = account else { return };
        let st = slot(&mut self.slots, cx.slot).entry(account).or_insert_with(|| Account {
            recent: VecDeque::new(),
            oldest: i64::MAX,
            cancels: 0,
            news: 0,
            requotes: [0; 2],
            taken_down: [(i64::MIN, 0); 2],
            before: 0,
            first: None,
            peak: 0,
        });
        let now = ev.ts;
        st.first.get_or_insert(now);
        // Messages leaving the window feed the usual rate.
        if st.oldest < now.0.saturating_sub(cfg.window.0) {
            while let Some(&(t, c, seen, _, requote)) = st.recent.front() {
                if now.0 - t.0 <= cfg.window.0 {
                    break;
                }
                st.recent.pop_front();
                st.cancels -= u32::from(c);
                st.news -= u32::from(!c);
                if let Some(i) = requote {
                    st.requotes[i] -= 1;
                }
                st.before += 1;
                st.peak = st.peak.max(seen);
            }
            st.oldest = st.recent.front().map_or(i64::MAX, |x| x.0 .0);
        }
        let n = st.recent.len() as u32 + 1;
        let side_ix = side.map(|s| usize::from(s == Side::Sell));
        // A re-quote: the side of a new order that replaced one taken down there in this instant,
        // one new order for each taken down (a cancel followed by a hundred orders replaces one).
        let requote = side_ix.filter(|&i| !cancel && st.taken_down[i].0 == now.0 && st.taken_down[i].1 > 0);
        if let Some(i) = requote {
            st.taken_down[i].1 -= 1;
        }
        if let (true, Some(i)) = (cancel, side_ix) {
            let t = &mut st.taken_down[i];
            *t = if t.0 == now.0 { (t.0, t.1.saturating_add(1)) } else { (now.0, 1) };
        }
        st.recent.push_back((now, cancel, n, life, requote));
        st.oldest = st.oldest.min(now.0);
        st.cancels += u32::from(cancel);
        st.news += u32::from(!cancel);
        if let Some(i) = requote {
            st.requotes[i] += 1;
        }
        let peak = st.peak;
        if n < cfg.min_messages {
            return;
        }
        let ratio = (st.cancels as f64 / st.news.max(1) as f64).min(1.0);
        let secs = cfg.window.0 as f64 / 1e9;
        let burst = n as f64 / secs;
        let start = st.recent.front().map_or(now, |x| x.0);
        let history = (start.0 - st.first.map_or(start.0, |f| f.0)).max(0);
        let usual = st.before as f64 / (history.max(1) as f64 / 1e9);
        let new_account = history < 10 * cfg.window.0;
        let new_market = start.0 - opened.0 < 60 * cfg.window.0;
        // Everyone else's pace against their usual: when the whole market is busy (news, a crowd),
        // a market maker re-quoting five times faster is keeping up, not stuffing.
        let market = &self.markets[cx.slot];
        let market_start = market.recent.front().map_or(now, |&t| t);
        let market_usual = market.before as f64 / ((market_start.0 - opened.0).max(1) as f64 / 1e9);
        let others_now = (market.recent.len() as f64 - n as f64).max(0.0) / secs;
        let others_usual = (market_usual - usual).max(1e-9);
        let activity = (others_now / others_usual).max(1.0);
        // A market maker's pace is bursty (a whole ladder re-quoted at once): beyond its average,
        // a burst must also pass its own busiest window by half again.
        if ratio < cfg.min_cancel_ratio
            || (new_account && new_market)
            || (!new_account && (burst < cfg.rate_multiplier * usual * activity || (n as f64) < RECORD * peak as f64))
        {
            return;
        }
        // Fleeting orders: the median time the orders it cancelled had rested since placed (an
        // order the book did not know counts as long-lived); for a flood of amends with few
        // cancels, the median time each version rested.
        let cancels = st.recent.iter().filter(|x| matches!(x.3, Life::Cancel(_))).count();
        let mut lives: Vec<u32> = st
            .recent
            .iter()
            .filter_map(|x| match x.3 {
                Life::Cancel(l) => Some(l),
                Life::Amend(l) if cancels < 10 => Some(l),
                Life::Unknown => Some(u32::MAX),
                _ => None,
            })
            .collect();
        let mid = lives.len() / 2;
        let median_life = if lives.is_empty() { u32::MAX } else { *lives.select_nth_unstable(mid).1 };
        if i64::from(median_life) * 1000 > cfg.max_order_life.0 {
            return;
        }
        // A maker moving its two-sided quotes: most of what it placed replaced, in the same instant,
        // an order it took down on that side, and on both sides.
        let requotes = st.requotes[0] + st.requotes[1];
        let requote_share = f64::from(requotes) / f64::from(st.news.max(1));
        let two_sided = f64::from(st.requotes[0].min(st.requotes[1])) >= TWO_SIDED * f64::from(requotes);
        if requote_share > cfg.max_requote_share && two_sided {
            return;
        }
        let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &account.0.to_le_bytes()]);
        if cx.repeat(AlertType::QuoteStuffing, behaviour, now, cfg.cooldown.0, out) {
            return;
        }
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        let acct = cx.names.account(account);
        let pace = if new_account {
            format!("{} a second from an account with no history here", num(burst))
        } else if activity > 1.0 {
            format!(
                "{} a second, {}x its usual {} while the rest of the market ran at {}x its usual pace",
                num(burst),
                short(burst / usual.max(f64::MIN_POSITIVE)),
                num(usual),
                short(activity)
            )
        } else {
            format!("{} a second, {}x its usual {}", num(burst), short(burst / usual.max(f64::MIN_POSITIVE)), num(usual))
        };
        let description = format!(
            "{acct} sent {n} order messages in {symbol} on {venue} within {} s, cancelling {}% of what it placed, its orders resting {} ms (median) before it pulled them: {pace}.",
            short((now.0 - start.0) as f64 / 1e9),
            short(100.0 * ratio),
            short(f64::from(median_life) / 1000.0),
        );
        let evidence = json!({
            "messages": n,
            "min_messages": cfg.min_messages,
            "cancel_ratio": round(ratio, 4),
            "orders_placed": st.news,
            "cancels_and_amends": st.cancels,
            "history_ns": history,
            "min_cancel_ratio": cfg.min_cancel_ratio,
            "rate_per_s": round(burst, 4),
            "usual_rate_per_s": round(usual, 4),
            "rate_multiplier": cfg.rate_multiplier,
            "market_activity": round(activity, 4),
            "previous_peak_messages": peak,
            "median_order_life_ms": round(f64::from(median_life) / 1000.0, 3),
            "requote_share": round(requote_share, 4),
            "max_requote_share": cfg.max_requote_share,
            "max_order_life_ms": cfg.max_order_life.0 as f64 / 1e6,
            "window_ns": cfg.window.0,
            "trigger_seq": ev.seq,
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::QuoteStuffing,
            ts: now,
            window_start: start,
            window_end: now,
            venue: Some(cx.instrument.venue),
            symbols: vec![cx.instrument.symbol],
            accounts: vec![account],
            severity: n as f64 / cfg.min_messages as f64,
            confidence: 0.6 + 0.4 * ((ratio - cfg.min_cancel_ratio) / (1.0 - cfg.min_cancel_ratio).max(1e-9)).clamp(0.0, 1.0),
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[&ev.seq.to_le_bytes(), &start.0.to_le_bytes()]),
            description,
            evidence,
        });
    }
}
