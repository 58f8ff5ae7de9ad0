//! `ml_anomaly`: windows of activity unlike those a model learnt as normal. Event time is cut into
//! windows aligned on multiples of the model's `window`; when an instrument's window ends (its
//! first event of the next window), the window's features are computed — one row for the market
//! ([`crate::ml::MARKET_FEATURES`]) and one for each account active enough in it
//! ([`crate::ml::ACCOUNT_FEATURES`]) — and scored by the model's Isolation Forests. A score at or
//! above the threshold raises an alert whose evidence lists every feature with its value, its share
//! of what isolated the window beyond an ordinary window's (path-length attribution), and where the
//! value sits among the training windows'.
//!
//! The same code cuts the windows `vigil train` learns from ([`Collected`]): a model scores windows
//! exactly as it saw them. An account's history (its order sizes, its hours) is kept per instrument,
//! so that what an alert says never depends on how instruments were spread over threads.
//!
//! Basis: EU MAR Art. 16 (detecting suspicious orders and transactions, including by behaviour
//! that departs from the usual) and ESMA's guidance that alerts be explainable; Liu, Ting and Zhou
//! (2008) for the forest. An anomaly, not an accusation.

use super::{clock, num, short, slot};
use crate::builder::{key, round, Signal};
use crate::config::MlAnomalyConfig;
use crate::engine::{Context, Detector};
use crate::ml::{Explanation, Model, Part, Windows};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use vigil_book::BookChange;
use vigil_core::{AccountId, AlertType, Event, EventKind, Side, Ts};

/// The rows of windows cut for training, in the order the windows ended, and which window each is
/// (the symbol, or the account, and the window's start).
#[derive(Debug, Default)]
pub struct Collected {
    pub market: Vec<Vec<f64>>,
    pub account: Vec<Vec<f64>>,
    pub market_windows: Vec<(Arc<str>, i64)>,
    pub account_windows: Vec<(Arc<str>, i64)>,
}

/// Sub-windows a window's volume and price change are measured over (volume volatility and the
/// volume–price correlation).
const SUBS: usize = 12;
/// An account's earlier order sizes kept for its median.
const SIZES: usize = 64;
/// An account idle in an instrument this long is forgotten there (its sizes and hours start
/// again): memory follows the accounts that trade, not every account ever seen.
const IDLE_NS: i64 = 7 * 24 * 3_600_000_000_000;
/// An instrument's earlier windows its usual trade frequency, volatility, spread and rush are the
/// medians of.
const USUAL: usize = 30;
/// A market window is a row once its instrument has this many earlier windows: the first minutes
/// of a feed (an empty book filling, nothing usual yet) are no one's anomaly.
const MIN_USUAL: usize = 5;
/// Added to a window's value and its usual one before they are divided: what "no activity" means
/// for each (a trade a minute, a basis point of volatility, a tenth of a basis point of spread, a
/// rush order), so that a quiet instrument's ratios stay finite and a little move is not a lot.
const FLOOR: [f64; 4] = [1.0, 1.0, 0.1, 1.0];
/// The features measured against the instrument's usual (their places in the market row).
const RELATIVE: [usize; 4] = [4, 1, 7, 8];

#[derive(Default)]
struct Account {
    // History, over the windows before this one.
    sizes: VecDeque<f64>,
    hours: [u32; 24],
    past: u32,
    // This window.
    events: u32,
    news: u32,
    amends: u32,
    cancels: u32,
    trades: u32,
    new_sizes: Vec<f64>,
    latency: f64,
    latencies: u32,
    switches: u32,
    pairs: u32,
    last_side: Option<Side>,
    /// Listed among the window's active accounts.
    listed: bool,
    /// The start of the last window it was active in.
    seen: i64,
}

#[derive(Default)]
struct Market {
    open: bool,
    start: i64,
    last: i64,
    vol: [f64; SUBS],
    moves: [f64; SUBS],
    r2: f64,
    last_price: f64,
    last_trade: i64,
    /// When idle accounts were last swept out.
    swept: i64,
    trades: u32,
    news: u32,
    cancels: u32,
    by_account: FxHashMap<AccountId, f64>,
    imbalance: f64,
    imbalances: u32,
    spread: f64,
    spreads: u32,
    rush: u32,
    buy_ms: i64,
    buy_run: u32,
    /// The aggressive buy order of the last rush candidate: a sweep's fills are one order.
    buy_order: Option<vigil_core::OrderKey>,
    accounts: FxHashMap<AccountId, Account>,
    active: Vec<AccountId>,
    /// The raw values of the [`RELATIVE`] features in the instrument's last windows.
    usual: VecDeque<[f64; 4]>,
}

pub struct MlAnomaly {
    cfg: MlAnomalyConfig,
    model: Option<Arc<Model>>,
    collect: Option<Arc<Mutex<Collected>>>,
    windows: Windows,
    slots: Vec<Market>,
}

impl MlAnomaly {
    /// `None` when there is nothing to do: no model loaded and no collector.
    pub fn new(cfg: MlAnomalyConfig) -> Option<Self> {
        let model = cfg.loaded.0.clone();
        let collect = cfg.collect.0.clone();
        let windows = match (&model, &collect) {
            (_, Some(_)) => Windows { window_ns: cfg.window.0, min_trades: cfg.min_trades, min_events: cfg.min_events },
            (Some(m), None) => m.windows.clone(),
            (None, None) => return None,
        };
        Some(MlAnomaly { cfg, model, collect, windows, slots: Vec::new() })
    }
}

impl Account {
    fn order(&mut self, side: Side, qty: f64) {
        self.events += 1;
        self.news += 1;
        self.new_sizes.push(qty);
        if let Some(prev) = self.last_side {
            self.pairs += 1;
            self.switches += u32::from(prev != side);
        }
        self.last_side = Some(side);
    }

    fn row(&self, w: &Windows, hour: usize) -> Vec<f64> {
        let minutes = w.window_ns as f64 / 60e9;
        let news = f64::from(self.news);
        let mut sizes: Vec<f64> = self.sizes.iter().copied().collect();
        let size_vs_median = match (super::median(&mut sizes), self.new_sizes.is_empty()) {
            (Some(m), false) if m > 0.0 => self.new_sizes.iter().sum::<f64>() / news / m,
            _ => 1.0,
        };
        vec![
            news / f64::from(self.trades.max(1)),
            if self.latencies > 0 { self.latency / f64::from(self.latencies) } else { w.window_ns as f64 / 1e9 },
            size_vs_median,
            if self.pairs > 0 { f64::from(self.switches) / f64::from(self.pairs) } else { 0.0 },
            (f64::from(self.hours[hour]) + 1.0) / (f64::from(self.past) + 24.0),
            f64::from(self.cancels) / news.max(1.0),
            f64::from(self.news + self.amends + self.cancels) / minutes,
        ]
    }

    /// Ends the window: what it did joins the history.
    fn roll(&mut self, hour: usize) {
        for q in self.new_sizes.drain(..) {
            if self.sizes.len() == SIZES {
                self.sizes.pop_front();
            }
            self.sizes.push_back(q);
        }
        self.hours[hour] += self.events;
        self.past += self.events;
        let (sizes, hours, past, new_sizes, seen) = (std::mem::take(&mut self.sizes), self.hours, self.past, std::mem::take(&mut self.new_sizes), self.seen);
        *self = Account { sizes, hours, past, new_sizes, seen, ..Account::default() };
    }
}

impl Market {
    fn account(&mut self, a: AccountId) -> &mut Account {
        let acct = self.accounts.entry(a).or_default();
        acct.seen = self.start;
        if !acct.listed {
            acct.listed = true;
            self.active.push(a);
        }
        acct
    }

    /// The window's features; trade frequency, price volatility, spread and rush orders as
    /// multiples of their medians over the instrument's last windows (1 before it has any), so
    /// that a busy and a quiet instrument are judged each against itself. Then the raw values join
    /// those medians.
    fn row(&mut self, w: &Windows) -> Vec<f64> {
        let mut row = self.raw(w);
        let raw: [f64; 4] = RELATIVE.map(|j| row[j]);
        if !self.usual.is_empty() {
            for (k, &j) in RELATIVE.iter().enumerate() {
                let mut xs: Vec<f64> = self.usual.iter().map(|u| u[k]).collect();
                let usual = super::median(&mut xs).unwrap_or(0.0);
                row[j] = (raw[k] + FLOOR[k]) / (usual + FLOOR[k]);
            }
        } else {
            RELATIVE.iter().for_each(|&j| row[j] = 1.0);
        }
        if self.usual.len() == USUAL {
            self.usual.pop_front();
        }
        self.usual.push_back(raw);
        row
    }

    fn raw(&self, w: &Windows) -> Vec<f64> {
        let n = SUBS as f64;
        let mean = self.vol.iter().sum::<f64>() / n;
        let var = self.vol.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let mean_move = self.moves.iter().sum::<f64>() / n;
        let var_move = self.moves.iter().map(|v| (v - mean_move).powi(2)).sum::<f64>() / n;
        let cov = self.vol.iter().zip(&self.moves).map(|(v, m)| (v - mean) * (m - mean_move)).sum::<f64>() / n;
        let corr = if var > 0.0 && var_move > 0.0 { cov / (var * var_move).sqrt() } else { 0.0 };
        // Summed smallest first, whatever order the accounts were met in: the same bits in every process.
        // Each side of a trade is a share (a self-trade's both), so one account alone is 1.
        let mut parts: Vec<f64> = self.by_account.values().copied().collect();
        parts.sort_unstable_by(f64::total_cmp);
        let sides: f64 = parts.iter().sum();
        let mut shares: Vec<f64> = parts.iter().map(|v| (v / sides).powi(2)).collect();
        shares.sort_unstable_by(f64::total_cmp);
        let hhi = if sides > 0.0 { shares.iter().sum() } else { 0.0 };
        vec![
            if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
            self.r2.sqrt() * 1e4,
            corr,
            hhi,
            f64::from(self.trades) / (w.window_ns as f64 / 60e9),
            f64::from(self.cancels) / f64::from(self.news.max(1)),
            if self.imbalances > 0 { self.imbalance / f64::from(self.imbalances) } else { 0.0 },
            if self.spreads > 0 { self.spread / f64::from(self.spreads) } else { 0.0 },
            f64::from(self.rush),
        ]
    }

    fn reset(&mut self, start: i64) {
        let (accounts, last_price, last_trade, swept) = (std::mem::take(&mut self.accounts), self.last_price, self.last_trade, self.swept);
        let mut by_account = std::mem::take(&mut self.by_account);
        by_account.clear();
        let mut active = std::mem::take(&mut self.active);
        active.clear();
        let usual = std::mem::take(&mut self.usual);
        *self = Market { open: true, start, last: start, last_price, last_trade, swept, accounts, by_account, active, usual, ..Market::default() };
    }
}

/// Rows never carry NaN or infinities into a forest.
fn finite(mut row: Vec<f64>) -> Vec<f64> {
    row.iter_mut().filter(|x| !x.is_finite()).for_each(|x| *x = 0.0);
    row
}

impl MlAnomaly {
    /// The window of `slot` has ended at `now`: its rows are collected or scored.
    fn close(&mut self, slot_i: usize, now: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let w = self.windows.clone();
        let m = &mut self.slots[slot_i];
        let hour = (m.start.div_euclid(3_600_000_000_000)).rem_euclid(24) as usize;
        let market_row = if m.trades >= w.min_trades {
            let warm = m.usual.len() >= MIN_USUAL;
            let row = finite(m.row(&w));
            warm.then_some(row)
        } else {
            None
        };
        let mut active = std::mem::take(&mut m.active);
        super::sort_by_name(&mut active, cx.names);
        let mut account_rows = Vec::new();
        for a in &active {
            let acct = m.accounts.get_mut(a).expect("an active account has state");
            if acct.events >= w.min_events {
                account_rows.push((*a, finite(acct.row(&w, hour)), acct.events));
            }
            acct.roll(hour);
        }
        m.active = active;
        // Once a day of event time, the accounts idle for a week go.
        if m.start - m.swept >= 86_400_000_000_000 {
            let start = m.start;
            m.accounts.retain(|_, a| start - a.seen <= IDLE_NS);
            m.swept = start;
        }
        let (start, last, trades) = (m.start, m.last, m.trades);
        if let Some(c) = &self.collect {
            let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(row) = market_row {
                c.market.push(row);
                c.market_windows.push((cx.names.symbol(cx.instrument.symbol), start));
            }
            for (a, row, _) in account_rows {
                c.account.push(row);
                c.account_windows.push((cx.names.account(a), start));
            }
            return;
        }
        let Some(model) = self.model.clone() else { return };
        if let (Some(row), Some(part)) = (market_row, model.market.as_ref()) {
            let score = part.score(&row);
            self.judge(part, &row, score, None, (start, last, trades), now, cx, out);
        }
        if let Some(part) = model.account.as_ref() {
            let scores = part.score_many(account_rows.iter().map(|r| r.1.as_slice()));
            for ((a, row, events), score) in account_rows.into_iter().zip(scores) {
                self.judge(part, &row, score, Some(a), (start, last, events), now, cx, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        part: &Part,
        row: &[f64],
        score: f64,
        account: Option<AccountId>,
        span: (i64, i64, u32),
        now: &Event,
        cx: &Context<'_>,
        out: &mut Vec<Signal>,
    ) {
        let threshold = if self.cfg.threshold > 0.0 { self.cfg.threshold } else { part.threshold };
        if score < threshold {
            return;
        }
        let name = account.map(|a| cx.names.account(a));
        let who = name.as_deref().unwrap_or("").as_bytes();
        let behaviour = key(&[b"ml", &cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), who, &[u8::from(account.is_some())]]);
        if cx.repeat(AlertType::MlAnomaly, behaviour, now.ts, self.cfg.cooldown.0, out) {
            return;
        }
        let ex = part.explain(row, score);
        let (start, last, count) = span;
        let description = self.story(part, &ex, account, (start, last), threshold, cx);
        let evidence = json!({
            "scope": part.scope.as_str(),
            "score": round(score, 4),
            "min_score": round(threshold, 4),
            "score_percentile": round(ex.score_percentile, 2),
            "training_windows": part.rows,
            "window_ns": self.windows.window_ns,
            "window_start": start,
            if account.is_some() { "events" } else { "trades" }: count,
            "features": ex.features.iter().map(|f| json!({
                "feature": f.feature,
                "value": round(f.value, 6),
                "contribution": round(f.contribution, 4),
                "percentile": round(f.percentile, 2),
                "train_median": round(f.train_median, 6),
                "train_p99": round(f.train_p99, 6),
            })).collect::<Vec<_>>(),
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        // How far into the tail past the threshold: 1 at it, 2 halfway from it to 1.
        let severity = (1.0 - threshold) / (1.0 - score).max(1e-9);
        out.push(Signal {
            kind: AlertType::MlAnomaly,
            ts: now.ts,
            window_start: Ts(start),
            window_end: Ts(last),
            venue: Some(cx.instrument.venue),
            symbols: vec![cx.instrument.symbol],
            accounts: account.into_iter().collect(),
            severity,
            confidence: (part.rows as f64 / 1000.0).min(1.0),
            behaviour,
            cooldown: self.cfg.cooldown.0,
            identity: key(&[&start.to_le_bytes(), who, &[u8::from(account.is_some())]]),
            description,
            evidence,
        });
    }

    fn story(&self, part: &Part, ex: &Explanation, account: Option<AccountId>, (start, last): (i64, i64), threshold: f64, cx: &Context<'_>) -> String {
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        let end = (start + self.windows.window_ns).min(last.max(start));
        let who = match account {
            Some(a) => format!("{}'s activity in {symbol} on {venue}", cx.names.account(a)),
            None => format!("{symbol} on {venue}"),
        };
        let mut named: Vec<String> = Vec::new();
        for f in ex.features.iter().take(self.cfg.explain_features) {
            if !named.is_empty() && f.contribution < 0.1 {
                break;
            }
            named.push(format!(
                "{} {} (training median {}, 99th percentile {})",
                f.feature.replace('_', " "),
                num(f.value),
                num(f.train_median),
                num(f.train_p99)
            ));
        }
        let list = match named.len() {
            0 => String::new(),
            1 => named[0].clone(),
            n => format!("{} and {}", named[..n - 1].join(", "), named[n - 1]),
        };
        format!(
            "{who} from {} to {} was unlike the {} {} windows the model learnt as normal (anomaly score {}, threshold {}, above {}% of them), most of all in its {list}.",
            clock(Ts(start)),
            clock(Ts(end)),
            part.rows,
            part.scope.as_str(),
            short(ex.score),
            short(threshold),
            short(ex.score_percentile),
        )
    }
}

impl Detector for MlAnomaly {
    fn name(&self) -> &'static str {
        "ml_anomaly"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::MlAnomaly
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let w = self.windows.window_ns;
        let m = slot(&mut self.slots, cx.slot);
        // A late event (within the reorder tolerance, across a window's end) joins the open window.
        let start = (ev.ts.0.div_euclid(w) * w).max(if m.open { m.start } else { i64::MIN });
        if m.open && start != m.start {
            self.close(cx.slot, ev, cx, out);
        }
        let m = &mut self.slots[cx.slot];
        if !m.open || start != m.start {
            m.reset(start);
        }
        m.last = m.last.max(ev.ts.0);
        match (&ev.kind, cx.change) {
            (EventKind::New(n), _) => {
                m.news += 1;
                if let Some(a) = n.account {
                    m.account(a).order(n.side, n.qty.to_f64());
                }
            }
            (EventKind::Amend(x), change) => {
                let account = x.account.or(match change {
                    BookChange::Amended { before, .. } => before.account,
                    _ => None,
                });
                if let Some(a) = account {
                    let acct = m.account(a);
                    acct.events += 1;
                    acct.amends += 1;
                }
            }
            (EventKind::Cancel(c), change) => {
                m.cancels += 1;
                let resting = match change {
                    BookChange::Cancelled(o) => Some(o),
                    _ => None,
                };
                if let Some(a) = c.account.or(resting.and_then(|o| o.account)) {
                    let acct = m.account(a);
                    acct.events += 1;
                    acct.cancels += 1;
                    if let Some(o) = resting {
                        acct.latency += (ev.ts.0 - o.placed.0).max(0) as f64 / 1e9;
                        acct.latencies += 1;
                    }
                }
            }
            (EventKind::Trade(t), _) => {
                let (price, qty) = (t.price.to_f64(), t.qty.to_f64());
                let sub = (((ev.ts.0 - m.start).max(0) as i128 * SUBS as i128 / w as i128) as usize).min(SUBS - 1);
                m.trades += 1;
                m.vol[sub] += qty;
                // A return across a gap longer than a window (a night, a halt) is no window's volatility.
                if m.last_price > 0.0 && price > 0.0 && ev.ts.0 - m.last_trade <= w {
                    let r = (price / m.last_price).ln();
                    m.r2 += r * r;
                    m.moves[sub] += r.abs();
                }
                if price > 0.0 {
                    m.last_price = price;
                    m.last_trade = ev.ts.0;
                }
                for a in [t.buy_account, t.sell_account].into_iter().flatten() {
                    *m.by_account.entry(a).or_default() += qty;
                }
                // The trade is one event of each account in it (a self-trade's account's one).
                for a in [t.buy_account, t.sell_account.filter(|s| Some(*s) != t.buy_account)].into_iter().flatten() {
                    let acct = m.account(a);
                    acct.trades += 1;
                    acct.events += 1;
                }
                let book = &cx.instrument.book;
                let (bid, ask) = (book.bids().depth(5).to_f64(), book.asks().depth(5).to_f64());
                if bid + ask > 0.0 {
                    m.imbalance += (bid - ask) / (bid + ask);
                    m.imbalances += 1;
                }
                let touch = match (book.best_bid(), book.best_ask()) {
                    (Some(b), Some(a)) => Some((b.to_f64(), a.to_f64())),
                    _ => cx.instrument.quote.as_ref().and_then(|q| Some((q.bid?.to_f64(), q.ask?.to_f64()))),
                };
                if let Some((b, a)) = touch {
                    let mid = (a + b) / 2.0;
                    if mid > 0.0 && a >= b {
                        m.spread += (a - b) / mid * 1e4;
                        m.spreads += 1;
                    }
                }
                // Fills of one sweeping order are one order, not a rush.
                let same_order = t.buy_order_id.is_some() && t.buy_order_id == m.buy_order;
                if t.aggressor == Some(Side::Buy) && !same_order {
                    m.buy_order = t.buy_order_id.clone();
                    let ms = ev.ts.0.div_euclid(1_000_000);
                    if ms == m.buy_ms {
                        m.buy_run += 1;
                        // The second of a millisecond makes the first a rush order too.
                        m.rush += if m.buy_run == 2 { 2 } else { 1 };
                    } else {
                        m.buy_ms = ms;
                        m.buy_run = 1;
                    }
                }
            }
            _ => {}
        }
    }
}
