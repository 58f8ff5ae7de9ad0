//! `pump_and_dump`: the pump while it happens, then the dump. Trading is cut into short chunks
//! (`chunk`, 5 s); the last `window_chunks` of them (25 s) are judged against the mean chunk of the
//! previous `baseline_chunks`, after La Morgia, Mei, Sassi and Stefa, "Pump and dumps in the Bitcoin
//! era" (ICCCN 2020), who detect crypto pumps within 25 s from rush orders, trade count, volume and
//! price over short chunks. A pump alerts at the trade where, over the window, aggressive buy volume
//! is `volume_multiplier` × its baseline, trade count `trades_multiplier` × its baseline, the price
//! has risen `min_rise` from the window's open (`crowd_min_rise` for a coordinated crowd), and a
//! group drives the buying. A rush millisecond is one in which two or more hands bought
//! aggressively (a hand is the account where trades name it; else the order, so one order sweeping
//! the book is one hand; else the trade). The group is either of two shapes:
//!
//! - few drivers: `min_rush_orders` rush milliseconds, and the three largest buyers among the
//!   accounts in them, each net of everything it sold meanwhile on any venue (a market maker filled
//!   on its offers, an arbitrageur selling elsewhere), hold `min_top_share` of the buying; the alert
//!   names those three. Where trades name no accounts, the rush milliseconds alone.
//! - a coordinated crowd: `min_rush_bursts` bursts, milliseconds in which `rush_buyers` hands bought,
//!   counted when `rush_gap` apart, by accounts that keep coming back (at least `rush_buyers` of them
//!   in a tenth of the rush milliseconds or more); the alert names the largest ten of them by net
//!   buying. Independent buyers reacting to news coincide in one millisecond only in the first
//!   second or two of the reaction; a pump group, of few or of dozens, comes back again and again.
//!
//! After a pump, the dump: where trades name accounts, the pump's group selling back `dump_fraction`
//! of the holding it built since the pump began (every trade its members are on counts; no fall in
//! price is needed: selling into the pump is the dump); where they do not, the price giving back
//! `dump_fraction` of the rise from the peak. A second alert names the group's sellers.
//!
//! Basis: EU MAR Annex I(A)(a)/(b) and Annex II 1(a); SEC and CFTC pump-and-dump actions.

use super::{num, short, slot};
use crate::builder::{key, round, Signal};
use crate::config::PumpAndDumpConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::VecDeque;
use vigil_core::{AccountId, AlertType, Event, EventKind, Side, Ts};

#[derive(Clone, Default)]
struct Chunk {
    index: i64,
    buy_volume: f64,
    trades: u32,
    /// Rush milliseconds, and those of them at least `rush_gap` after the last counted burst.
    rush: u32,
    bursts: u32,
    open: f64,
    /// Aggressive buy volume by account.
    buyers: Vec<(AccountId, f64)>,
    /// The accounts that bought in a rush, and in how many.
    rushers: Vec<(AccountId, u32)>,
}

impl Chunk {
    fn rusher(&mut self, a: AccountId) {
        match self.rushers.iter_mut().find(|x| x.0 == a) {
            Some(x) => x.1 += 1,
            None => self.rushers.push((a, 1)),
        }
    }
}

struct Pump {
    ts: Ts,
    /// The last trade at which the pump's conditions held (alerted or a repeat).
    last: Ts,
    /// Every account counted among its drivers while it was under way, sorted (it stops growing
    /// once it holds `NAMED_MAX`).
    named: Vec<AccountId>,
    start_price: f64,
    peak: f64,
    dumped: bool,
    /// The pump's rush accounts, sorted: the dump is them selling back what they bought.
    drivers: Vec<AccountId>,
    /// Their holding since the pump's window began (the aggressive buying that alerted, then every
    /// trade they are on), and its highest.
    held: f64,
    held_peak: f64,
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Chunk>,
    /// Baseline: (buy volume, trades) of finished chunks, oldest first.
    history: VecDeque<(f64, u32)>,
    /// The sums of `history` (buy volume, trades), taken when it changes (once a chunk, not at
    /// every trade; summed in its order, as a fresh sum would be).
    history_sums: (f64, f64),
    last_price: Option<f64>,
    /// The millisecond of the last aggressive buy, the distinct hands that bought in it, and the
    /// accounts of those hands (where trades name them).
    last_buy_ms: i64,
    hands: Vec<u64>,
    hand_accounts: Vec<AccountId>,
    /// When the last counted rush burst began.
    last_burst: Option<i64>,
    pump: Option<Pump>,
    /// How many pumps by a new group there have been (each is its own pump and dump behaviour).
    groups: u32,
    /// The pump's buyers selling since the pump, for the dump's story.
    sellers: FxHashMap<AccountId, f64>,
}

/// The behaviour key of an instrument's pump (or dump) `tag`: the first group's as it always was,
/// each new group's its own.
fn group_key(inst_key: &[u8], tag: &[u8], groups: u32) -> u64 {
    if groups == 0 {
        key(&[inst_key, tag])
    } else {
        key(&[inst_key, tag, &groups.to_le_bytes()])
    }
}

/// How many of a pump's drivers are kept to tell a new group's pump from it.
const NAMED_MAX: usize = 256;

/// How many of the rush accounts a pump alert names.
const NAMED: usize = 10;

pub struct PumpAndDump {
    cfg: PumpAndDumpConfig,
    slots: Vec<State>,
}

impl PumpAndDump {
    pub fn new(cfg: PumpAndDumpConfig) -> Self {
        PumpAndDump { cfg, slots: Vec::new() }
    }
}

impl State {
    fn roll(&mut self, c: i64, price: f64, cfg: &PumpAndDumpConfig) {
        if self.chunks.back().is_some_and(|b| b.index == c) {
            return;
        }
        let last = self.chunks.back().map(|b| b.index);
        if let Some(prev) = last {
            let b = self.chunks.back().expect("exists");
            self.history.push_back((b.buy_volume, b.trades));
            let quiet = (c - prev - 1).clamp(0, cfg.baseline_chunks as i64) as usize;
            self.history.extend(std::iter::repeat_n((0.0, 0), quiet));
            while self.history.len() > cfg.baseline_chunks {
                self.history.pop_front();
            }
            self.history_sums = (self.history.iter().map(|x| x.0).sum(), self.history.iter().map(|x| x.1 as f64).sum());
        }
        self.chunks.push_back(Chunk { index: c, open: self.last_price.unwrap_or(price), ..Default::default() });
        while self.chunks.front().is_some_and(|f| c - f.index >= cfg.window_chunks as i64) {
            self.chunks.pop_front();
        }
    }
}

impl Detector for PumpAndDump {
    fn name(&self) -> &'static str {
        "pump_and_dump"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::PumpAndDump
    }

    fn trades_only(&self) -> bool {
        true
    }
    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let EventKind::Trade(t) = &ev.kind else { return };
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        let price = t.price.to_f64();
        let qty = t.qty.to_f64();
        // The aggressor where the venue says, else the tick rule.
        let side = t.aggressor.unwrap_or(if st.last_price.is_some_and(|l| price < l) { Side::Sell } else { Side::Buy });
        st.roll(ev.ts.0.div_euclid(cfg.chunk.0), price, cfg);
        st.last_price = Some(price);
        let chunk = st.chunks.back_mut().expect("rolled");
        chunk.trades += 1;
        if side == Side::Buy {
            chunk.buy_volume += qty;
            // A rush: several hands buying in one millisecond. A hand is the account where trades
            // name it, else the order (one order sweeping the book is one hand), else the trade.
            let ms = ev.ts.0.div_euclid(1_000_000);
            if ms != st.last_buy_ms {
                st.last_buy_ms = ms;
                st.hands.clear();
                st.hand_accounts.clear();
            }
            // (An account is its own id, tagged apart from hashes: no hashing on the common path.)
            let hand = match (t.buy_account, t.buy_order_id.as_deref()) {
                (Some(a), _) => (1 << 63) | u64::from(a.0),
                (None, Some(id)) => key(&[b"o", id.as_bytes()]),
                (None, None) => key(&[b"t", t.trade_id.as_bytes()]),
            };
            if !st.hands.contains(&hand) {
                st.hands.push(hand);
                st.hand_accounts.extend(t.buy_account);
                let n = st.hands.len();
                if n == 2 {
                    chunk.rush += 1;
                    for a in &st.hand_accounts {
                        chunk.rusher(*a);
                    }
                } else if n > 2 {
                    if let Some(a) = t.buy_account {
                        chunk.rusher(a);
                    }
                }
                if n == cfg.rush_buyers as usize && st.last_burst.is_none_or(|l| ev.ts.0 - l >= cfg.rush_gap.0) {
                    chunk.bursts += 1;
                    st.last_burst = Some(ev.ts.0);
                }
            }
            if let Some(a) = t.buy_account {
                match chunk.buyers.iter_mut().find(|x| x.0 == a) {
                    Some(x) => x.1 += qty,
                    None => chunk.buyers.push((a, qty)),
                }
            }
        }
        // The instrument, as bytes for behaviour keys (no allocation: this runs on every trade).
        let mut inst_key = [0u8; 8];
        inst_key[..4].copy_from_slice(&cx.instrument.venue.0.to_le_bytes());
        inst_key[4..].copy_from_slice(&cx.instrument.symbol.0.to_le_bytes());

        // The dump that follows a pump.
        if let Some(p) = &mut st.pump {
            if ev.ts.0 - p.ts.0 > 3_600_000_000_000 {
                st.pump = None;
                st.sellers.clear();
            } else {
                p.peak = p.peak.max(price);
                // The pump's buyers' holding since the pump, on both sides of every trade.
                let driver = |a: Option<AccountId>| a.is_some_and(|a| p.drivers.binary_search(&a).is_ok());
                if driver(t.buy_account) {
                    p.held += qty;
                    p.held_peak = p.held_peak.max(p.held);
                }
                if driver(t.sell_account) {
                    p.held -= qty;
                    if let Some(a) = t.sell_account {
                        *st.sellers.entry(a).or_default() += qty;
                    }
                }
                let fall = if p.peak > p.start_price { (p.peak - price) / (p.peak - p.start_price) } else { 0.0 };
                let sold_back = if p.held_peak > 0.0 { (p.held_peak - p.held) / p.held_peak } else { 0.0 };
                // Where trades name accounts the dump is the pump's buyers selling back what they
                // bought; where they do not, the price giving back the rise stands in.
                let dumping = if p.drivers.is_empty() { fall >= cfg.dump_fraction } else { sold_back >= cfg.dump_fraction };
                if !p.dumped && dumping {
                    p.dumped = true;
                    let mut sellers: Vec<(AccountId, f64)> = st.sellers.iter().map(|(a, v)| (*a, *v)).collect();
                    sellers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| super::by_name(cx.names, a.0, b.0)));
                    let selling = sellers.len();
                    sellers.truncate(5);
                    let names: Vec<String> = sellers.iter().map(|(a, _)| cx.names.account(*a).to_string()).collect();
                    let (venue, symbol) = (cx.names.venue(cx.instrument.venue), cx.names.symbol(cx.instrument.symbol));
                    let description = if p.drivers.is_empty() {
                        format!(
                            "{symbol} on {venue} fell from its pump peak of {} to {} ({}% of the rise from {} given back): the dump after the pump.",
                            num(p.peak),
                            num(price),
                            short(100.0 * fall),
                            num(p.start_price),
                        )
                    } else {
                        format!(
                            "The pump's buyers in {symbol} on {venue} sold back {}% of the {} they had built up ({selling} of them selling, mostly {}), the price {} its pump peak of {} (the rise began at {}): the dump after the pump.",
                            short(100.0 * sold_back),
                            num(p.held_peak),
                            names.join(", "),
                            if price < p.peak { format!("down to {} from", num(price)) } else { "still at".to_string() },
                            num(p.peak),
                            num(p.start_price),
                        )
                    };
                    let evidence = json!({
                        "phase": "dump",
                        "pump_start_price": p.start_price,
                        "peak_price": p.peak,
                        "price": price,
                        "fall_of_rise": round(fall, 4),
                        "pump_buyers": p.drivers.len(),
                        "pump_buyers_held_peak": round(p.held_peak, 8),
                        "pump_buyers_held": round(p.held, 8),
                        "sold_back": round(sold_back, 4),
                        "dump_fraction": cfg.dump_fraction,
                        "pump_buyers_selling": selling,
                        "top_sellers": names,
                        "pump_alert_ts": p.ts.0,
                        "trigger_trade_id": t.trade_id.as_str(),
                    });
                    let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
                    out.push(Signal {
                        kind: AlertType::PumpAndDump,
                        ts: ev.ts,
                        window_start: p.ts,
                        window_end: ev.ts,
                        venue: Some(cx.instrument.venue),
                        symbols: vec![cx.instrument.symbol],
                        accounts: sellers.iter().map(|x| x.0).collect(),
                        severity: if p.drivers.is_empty() { fall } else { sold_back } / cfg.dump_fraction,
                        confidence: 0.8,
                        behaviour: group_key(&inst_key, b"dump", st.groups),
                        cooldown: cfg.cooldown.0,
                        identity: key(&[t.trade_id.as_bytes(), b"dump"]),
                        description,
                        evidence,
                    });
                }
            }
        }

        if side != Side::Buy || st.history.len() < cfg.min_baseline_chunks {
            return;
        }
        let n = st.history.len() as f64;
        let base_vol = st.history_sums.0 / n * cfg.window_chunks as f64;
        let base_trades = st.history_sums.1 / n * cfg.window_chunks as f64;
        let open = st.chunks.front().map_or(price, |c| c.open);
        let rise = if open > 0.0 { price / open - 1.0 } else { 0.0 };
        let (mut vol, mut trades, mut rush, mut bursts) = (0.0, 0u32, 0u32, 0u32);
        for c in &st.chunks {
            vol += c.buy_volume;
            trades += c.trades;
            rush += c.rush;
            bursts += c.bursts;
        }
        // A rise short of `min_rise` (but `crowd_min_rise` or more) is a pump only when a
        // coordinated crowd drives it (below): in a deep book the crowd's buying moves the price
        // less, and its bursts are the evidence.
        let low = rise < cfg.min_rise;
        if rise < cfg.crowd_min_rise
            || (low && bursts < cfg.min_rush_bursts)
            || (rush < cfg.min_rush_orders && bursts < cfg.min_rush_bursts)
            || vol < cfg.volume_multiplier * base_vol
            || (trades as f64) < cfg.trades_multiplier * base_trades.max(1.0)
        {
            return;
        }
        let mut buyers: FxHashMap<AccountId, f64> = FxHashMap::default();
        for c in &st.chunks {
            for (a, v) in &c.buyers {
                *buyers.entry(*a).or_default() += v;
            }
        }
        let since = Ts(st.chunks.front().map_or(ev.ts.0, |c| c.index * cfg.chunk.0));
        // An account's buying here net of everything it sold in the window, here or on other venues,
        // aggressively or not: a market maker filled on its offers while it picks off stale ones, or
        // an arbitrageur buying here what it sells there, drives no pump.
        let net = |a: AccountId, bought: f64| -> f64 {
            let sold: f64 = cx.activity.since(cx.instrument.symbol, cx.party(a), since).filter(|x| x.side == Side::Sell).map(|x| x.qty).sum();
            (bought - sold).max(0.0)
        };
        let by_net = |accounts: &mut Vec<(AccountId, f64)>, keep: usize| {
            accounts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| super::by_name(cx.names, a.0, b.0)));
            accounts.truncate(2 * keep);
            for (a, v) in accounts.iter_mut() {
                *v = net(*a, *v);
            }
            accounts.retain(|x| x.1 > 0.0);
            accounts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| super::by_name(cx.names, a.0, b.0)));
            accounts.truncate(keep);
        };
        let mut counts: Vec<(AccountId, u32)> = Vec::new();
        for c in &st.chunks {
            for (a, n) in &c.rushers {
                match counts.iter_mut().find(|x| x.0 == *a) {
                    Some(x) => x.1 += n,
                    None => counts.push((*a, *n)),
                }
            }
        }
        // Few drivers: the three largest net buyers among the accounts in the rush orders hold
        // `min_top_share` of the buying (one large order that rushed with nobody is no pump). Where
        // trades name no accounts, the rush orders alone.
        let mut few: Vec<(AccountId, f64)> = counts.iter().map(|(a, _)| (*a, buyers.get(a).copied().unwrap_or(0.0))).collect();
        by_net(&mut few, 3);
        let top_share = if buyers.is_empty() { f64::NAN } else { few.iter().map(|x| x.1).sum::<f64>() / vol };
        let few_drivers = rush >= cfg.min_rush_orders && (top_share.is_nan() || top_share >= cfg.min_top_share);
        // A coordinated crowd: the buying came in `min_rush_bursts` separate bursts of
        // `rush_buyers` hands, and the same accounts keep coming back: at least `rush_buyers` of
        // them were in a tenth of the window's rush milliseconds or more, and in two or more. Strangers
        // coinciding in a busy market are no group, and a bystander whose order happened to share a
        // millisecond with the group now and then is not of it.
        let crowd = bursts >= cfg.min_rush_bursts;
        if !few_drivers && !crowd {
            return;
        }
        let mut rushers: Vec<AccountId> = counts.iter().filter(|x| x.1 >= 2 && 10 * x.1 >= rush).map(|x| x.0).collect();
        let is_crowd = crowd && rushers.len() >= cfg.rush_buyers as usize;
        if !is_crowd && (low || !few_drivers) {
            return;
        }
        let (mut drivers, top) = if is_crowd {
            let mut top: Vec<(AccountId, f64)> = rushers.iter().map(|a| (*a, buyers.get(a).copied().unwrap_or(0.0))).collect();
            by_net(&mut top, NAMED);
            (std::mem::take(&mut rushers), top)
        } else {
            (few.iter().map(|x| x.0).collect(), few)
        };
        let group = drivers.len();
        let driven: f64 = drivers.iter().filter_map(|a| buyers.get(a)).sum();
        let start = Ts(st.chunks.front().map_or(ev.ts.0, |c| c.index * cfg.chunk.0));
        drivers.sort_unstable();
        // A pump whose window began after the pump before it was last under way, driven by a new
        // group (none of whom was named as that one's drivers while it ran), is a new pump, not a
        // repeat of it: pump groups strike the same thin book again minutes apart (on the
        // independent simulator's seeds 1-55, three of its four pumps missed came 6 minutes after
        // another in the same book, by other accounts). The largest buyers of one pump change as
        // it goes on, so a new group alone is not a new pump. (The earlier pump's dump is no longer
        // followed.)
        let new_group = st
            .pump
            .as_ref()
            .is_some_and(|p| start > p.last && !p.named.is_empty() && !drivers.is_empty() && !drivers.iter().any(|a| p.named.binary_search(a).is_ok()));
        if new_group {
            st.groups += 1;
        }
        if new_group || st.pump.as_ref().is_none_or(|p| p.dumped || ev.ts.0 - p.ts.0 > cfg.cooldown.0) {
            let named = drivers.clone();
            st.pump = Some(Pump { ts: ev.ts, last: ev.ts, named, start_price: open, peak: price, dumped: false, held: driven, held_peak: driven, drivers });
            st.sellers.clear();
        } else if let Some(p) = st.pump.as_mut() {
            p.last = ev.ts;
            if p.named.len() < NAMED_MAX && drivers.iter().any(|a| p.named.binary_search(a).is_err()) {
                p.named.extend_from_slice(&drivers);
                p.named.sort_unstable();
                p.named.dedup();
            }
        }
        let behaviour = group_key(&inst_key, b"pump", st.groups);
        if cx.repeat(AlertType::PumpAndDump, behaviour, ev.ts, cfg.cooldown.0, out) {
            return;
        }
        let names: Vec<String> = top.iter().map(|(a, _)| cx.names.account(*a).to_string()).collect();
        let secs = (ev.ts.0 - start.0) as f64 / 1e9;
        let (venue, symbol) = (cx.names.venue(cx.instrument.venue), cx.names.symbol(cx.instrument.symbol));
        let who = if names.is_empty() {
            format!("{rush} rush orders")
        } else if is_crowd {
            format!(
                "{group} accounts buying together in {bursts} rush bursts, {}% of the buying, the largest {}",
                short(100.0 * driven / vol),
                names.join(", ")
            )
        } else {
            format!("{rush} rush orders; {}% of the buying by {}", short(100.0 * top_share), names.join(", "))
        };
        let description = format!(
            "{symbol} on {venue} rose {}% in {} s on {}x its usual buying ({} bought aggressively over {trades} trades): {who}. A pump under way.",
            short(100.0 * rise),
            short(secs),
            short(vol / base_vol.max(f64::MIN_POSITIVE)),
            num(vol),
        );
        let evidence = json!({
            "phase": "pump",
            "rise": round(rise, 6),
            "min_rise": cfg.min_rise,
            "crowd_min_rise": cfg.crowd_min_rise,
            "window_buy_volume": round(vol, 8),
            "baseline_buy_volume": round(base_vol, 8),
            "volume_multiplier": cfg.volume_multiplier,
            "window_trades": trades,
            "baseline_trades": round(base_trades, 4),
            "trades_multiplier": cfg.trades_multiplier,
            "pattern": if is_crowd { "coordinated_crowd" } else { "few_drivers" },
            "rush_orders": rush,
            "min_rush_orders": cfg.min_rush_orders,
            "rush_bursts": bursts,
            "min_rush_bursts": cfg.min_rush_bursts,
            "rush_buyers": cfg.rush_buyers,
            "rush_gap_ns": cfg.rush_gap.0,
            "group_accounts": group,
            "group_share": if vol > 0.0 && group > 0 { json!(round(driven / vol, 4)) } else { json!(null) },
            "top_buyers": names,
            "top_buyer_share": if top_share.is_finite() { json!(round(top_share, 4)) } else { json!(null) },
            "min_top_share": cfg.min_top_share,
            "open_price": open,
            "price": price,
            "chunk_ns": cfg.chunk.0,
            "window_chunks": cfg.window_chunks,
            "trigger_trade_id": t.trade_id.as_str(),
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::PumpAndDump,
            ts: ev.ts,
            window_start: start,
            window_end: ev.ts,
            venue: Some(cx.instrument.venue),
            symbols: vec![cx.instrument.symbol],
            accounts: top.iter().map(|x| x.0).collect(),
            // (Against the rise it had to clear: `crowd_min_rise` for a crowd short of `min_rise`.)
            severity: (rise / if low { cfg.crowd_min_rise } else { cfg.min_rise }).min(vol / (cfg.volume_multiplier * base_vol).max(f64::MIN_POSITIVE)),
            confidence: if group == 0 { 0.6 } else { 0.85 },
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes(), b"pump"]),
            description,
            evidence,
        });
    }
}
