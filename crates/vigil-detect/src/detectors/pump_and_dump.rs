//! `pump_and_dump`: the pump while it happens, then the dump. Trading is cut into short chunks
//! (`chunk`, 5 s); the last `window_chunks` of them (25 s) are judged against the mean chunk of the
//! previous `baseline_chunks`, after La Morgia, Mei, Sassi and Stefa, "Pump and dumps in the Bitcoin
//! era" (ICCCN 2020), who detect crypto pumps within 25 s from rush orders, trade count, volume and
//! price over short chunks. A pump alerts at the trade where, over the window: aggressive buy volume
//! is `volume_multiplier` × its baseline, trade count `trades_multiplier` × its baseline, the price
//! has risen `min_rise` from the window's open, there were `min_rush_orders` rush orders (several
//! aggressive buy orders sharing one millisecond — where trades name their orders, one order
//! sweeping the book is one order; without ids, buy trades sharing the millisecond stand in), and —
//! where trades name accounts — the three largest buyers took `min_top_share` of the aggressive buying (each net of what it sold
//! aggressively on other venues meanwhile: an arbitrageur is no driver). That last test separates a
//! pump (few drivers) from news (many independent buyers). After a pump, a fall of `dump_fraction` of
//! the rise from the peak while the pump's own buyers sell (where trades name accounts) is the dump:
//! a second alert naming the sellers, the pump's buyers first. A fall without them selling is the
//! market's, not a dump.
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
    rush: u32,
    open: f64,
    /// Aggressive buy volume by account.
    buyers: Vec<(AccountId, f64)>,
}

struct Pump {
    ts: Ts,
    start_price: f64,
    peak: f64,
    dumped: bool,
    /// The pump's top buyers: the dump names those of them who sell first.
    drivers: Vec<AccountId>,
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Chunk>,
    /// Baseline: (buy volume, trades) of finished chunks, oldest first.
    history: VecDeque<(f64, u32)>,
    last_price: Option<f64>,
    /// The millisecond of the last aggressive buy, and how many buys shared it.
    last_buy_ms: i64,
    same_ms: u32,
    /// A hash of the last aggressive buy order's id (where the venue names it).
    last_buy_order: Option<u64>,
    pump: Option<Pump>,
    /// Sellers since the peak, for the dump's story.
    sellers: FxHashMap<AccountId, f64>,
}

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
            // A rush: buy orders from several hands in one millisecond. Where trades name their
            // orders, one order sweeping the book is one order; without ids, trades stand in.
            let ms = ev.ts.0.div_euclid(1_000_000);
            let order = t.buy_order_id.as_deref().map(|id| key(&[id.as_bytes()]));
            if ms == st.last_buy_ms {
                if order.is_none() || order != st.last_buy_order {
                    st.same_ms += 1;
                    if st.same_ms == 2 {
                        chunk.rush += 1;
                    }
                }
            } else {
                st.last_buy_ms = ms;
                st.same_ms = 1;
            }
            st.last_buy_order = order;
            if let Some(a) = t.buy_account {
                match chunk.buyers.iter_mut().find(|x| x.0 == a) {
                    Some(x) => x.1 += qty,
                    None => chunk.buyers.push((a, qty)),
                }
            }
        } else if st.pump.is_some() {
            if let Some(a) = t.sell_account {
                *st.sellers.entry(a).or_default() += qty;
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
            } else if price > p.peak {
                p.peak = price;
                st.sellers.clear();
            } else if !p.dumped
                && p.peak > p.start_price
                && p.peak - price >= cfg.dump_fraction * (p.peak - p.start_price)
                && (p.drivers.is_empty() || p.drivers.iter().any(|d| st.sellers.contains_key(d)))
            {
                p.dumped = true;
                let mut sellers: Vec<(AccountId, f64)> = st.sellers.iter().map(|(a, v)| (*a, *v)).collect();
                // The pump's own buyers selling come first (that is the dump); then the others.
                sellers.sort_by(|a, b| p.drivers.contains(&b.0).cmp(&p.drivers.contains(&a.0)).then(b.1.total_cmp(&a.1)).then(a.0.cmp(&b.0)));
                sellers.truncate(5);
                let drivers_selling: Vec<String> = sellers.iter().filter(|x| p.drivers.contains(&x.0)).map(|(a, _)| cx.names.account(*a).to_string()).collect();
                let fall = (p.peak - price) / (p.peak - p.start_price);
                let names: Vec<String> = sellers.iter().map(|(a, _)| cx.names.account(*a).to_string()).collect();
                let (venue, symbol) = (cx.names.venue(cx.instrument.venue), cx.names.symbol(cx.instrument.symbol));
                let description = format!(
                    "{symbol} on {venue} fell from its pump peak of {} to {} ({}% of the rise from {} given back){}: the dump after the pump.",
                    num(p.peak),
                    num(price),
                    short(100.0 * fall),
                    num(p.start_price),
                    if names.is_empty() { String::new() } else { format!(", sold mostly by {}", names.join(", ")) },
                );
                let evidence = json!({
                    "phase": "dump",
                    "pump_start_price": p.start_price,
                    "peak_price": p.peak,
                    "price": price,
                    "fall_of_rise": round(fall, 4),
                    "dump_fraction": cfg.dump_fraction,
                    "top_sellers": names,
                    "pump_buyers_selling": drivers_selling,
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
                    severity: fall / cfg.dump_fraction,
                    confidence: 0.8,
                    behaviour: key(&[&inst_key, b"dump"]),
                    cooldown: cfg.cooldown.0,
                    identity: key(&[t.trade_id.as_bytes(), b"dump"]),
                    description,
                    evidence,
                });
            }
        }

        if side != Side::Buy || st.history.len() < cfg.min_baseline_chunks {
            return;
        }
        let n = st.history.len() as f64;
        let base_vol = st.history.iter().map(|x| x.0).sum::<f64>() / n * cfg.window_chunks as f64;
        let base_trades = st.history.iter().map(|x| x.1 as f64).sum::<f64>() / n * cfg.window_chunks as f64;
        let open = st.chunks.front().map_or(price, |c| c.open);
        let rise = if open > 0.0 { price / open - 1.0 } else { 0.0 };
        let (mut vol, mut trades, mut rush) = (0.0, 0u32, 0u32);
        for c in &st.chunks {
            vol += c.buy_volume;
            trades += c.trades;
            rush += c.rush;
        }
        if rise < cfg.min_rise
            || rush < cfg.min_rush_orders
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
        let mut top: Vec<(AccountId, f64)> = buyers.into_iter().collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let named: f64 = top.iter().map(|x| x.1).sum();
        // The leading buyers, net of what they sold aggressively on other venues meanwhile: an
        // arbitrageur buying here what it sells there drives no pump.
        let since = Ts(st.chunks.front().map_or(ev.ts.0, |c| c.index * cfg.chunk.0));
        top.truncate(6);
        for (a, v) in top.iter_mut() {
            let elsewhere: f64 = cx
                .activity
                .since(cx.instrument.symbol, cx.party(*a), since)
                .filter(|x| x.venue != cx.instrument.venue && x.aggressive && x.side == Side::Sell)
                .map(|x| x.qty)
                .sum();
            *v = (*v - elsewhere).max(0.0);
        }
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(3);
        let top_share = if named > 0.0 { top.iter().map(|x| x.1).sum::<f64>() / vol } else { f64::NAN };
        if named > 0.0 && top_share < cfg.min_top_share {
            return;
        }
        let start = Ts(st.chunks.front().map_or(ev.ts.0, |c| c.index * cfg.chunk.0));
        if st.pump.as_ref().is_none_or(|p| p.dumped || ev.ts.0 - p.ts.0 > cfg.cooldown.0) {
            st.pump = Some(Pump { ts: ev.ts, start_price: open, peak: price, dumped: false, drivers: top.iter().map(|x| x.0).collect() });
            st.sellers.clear();
        }
        if cx.repeat(AlertType::PumpAndDump, key(&[&inst_key, b"pump"]), ev.ts, cfg.cooldown.0, out) {
            return;
        }
        let names: Vec<String> = top.iter().map(|(a, _)| cx.names.account(*a).to_string()).collect();
        let secs = (ev.ts.0 - start.0) as f64 / 1e9;
        let (venue, symbol) = (cx.names.venue(cx.instrument.venue), cx.names.symbol(cx.instrument.symbol));
        let description = format!(
            "{symbol} on {venue} rose {}% in {} s on {}x its usual buying ({} bought aggressively over {trades} trades, {rush} rush orders){}: a pump under way.",
            short(100.0 * rise),
            short(secs),
            short(vol / base_vol.max(f64::MIN_POSITIVE)),
            num(vol),
            if names.is_empty() { String::new() } else { format!(", {}% of it by {}", short(100.0 * top_share), names.join(", ")) },
        );
        let evidence = json!({
            "phase": "pump",
            "rise": round(rise, 6),
            "min_rise": cfg.min_rise,
            "window_buy_volume": round(vol, 8),
            "baseline_buy_volume": round(base_vol, 8),
            "volume_multiplier": cfg.volume_multiplier,
            "window_trades": trades,
            "baseline_trades": round(base_trades, 4),
            "trades_multiplier": cfg.trades_multiplier,
            "rush_orders": rush,
            "min_rush_orders": cfg.min_rush_orders,
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
            severity: (rise / cfg.min_rise).min(vol / (cfg.volume_multiplier * base_vol).max(f64::MIN_POSITIVE)),
            confidence: if top_share.is_finite() { 0.85 } else { 0.6 },
            behaviour: key(&[&inst_key, b"pump"]),
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes(), b"pump"]),
            description,
            evidence,
        });
    }
}
