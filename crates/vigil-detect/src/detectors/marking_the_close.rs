//! `marking_the_close`: one party's aggressive trades moving the price in the `window` before a
//! reference time, when a closing price, a fixing or a funding rate is set from the market. The
//! reference times are every `every` from midnight UTC (hourly by default: hourly fixings, a 00:00
//! UTC daily close, the 00/08/16 UTC funding times) and the daily `reference_times`. It alerts,
//! before the reference time, at the trade where a party has sent `min_trades` aggressive orders in
//! one direction in the window (a sweep through several levels is one), holds `min_share` of the
//! window's volume net of its aggression the other way (here, and on other venues: an arbitrageur
//! buys here what it sells there), and the price has moved `min_move` in its direction since the
//! window opened.
//!
//! Basis: EU MAR Annex I(A)(a) and Annex II 1(b) (buying or selling at the close to mislead those
//! acting on closing prices); CFTC and SEC marking-the-close actions (e.g. CFTC v. Optiver, 2008).

use super::{num, short, slot};
use crate::activity::Party;
use crate::builder::{key, round, Signal};
use crate::config::MarkingTheCloseConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use vigil_core::{AccountId, AlertType, Event, EventKind, Side, Ts};

const DAY: i64 = 86_400_000_000_000;

/// The daily reference times as nanoseconds after midnight UTC.
pub fn reference_offsets(cfg: &MarkingTheCloseConfig) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    for s in &cfg.reference_times {
        let parts: Vec<&str> = s.split(':').collect();
        let nums: Option<Vec<i64>> = parts.iter().map(|p| p.parse::<i64>().ok()).collect();
        match nums.as_deref() {
            Some([h, m]) | Some([h, m, 0]) if (0..24).contains(h) && (0..60).contains(m) => v.push((h * 3600 + m * 60) * 1_000_000_000),
            Some([h, m, sec]) if (0..24).contains(h) && (0..60).contains(m) && (0..60).contains(sec) => v.push((h * 3600 + m * 60 + sec) * 1_000_000_000),
            _ => return Err(format!("{s:?} is not a time of day as \"HH:MM\" or \"HH:MM:SS\" (UTC)")),
        }
    }
    v.sort_unstable();
    Ok(v)
}

#[derive(Default, Clone, Copy)]
struct Flow {
    /// Aggressive orders (a sweep through several levels is one), per side.
    n: [u32; 2],
    vol: [f64; 2],
    account: Option<AccountId>,
    /// A hash of the last aggressive order's id.
    last_order: u64,
}

#[derive(Default)]
struct State {
    /// The reference time whose window is open.
    reference: Option<i64>,
    open: f64,
    volume: f64,
    last_price: Option<f64>,
    parties: FxHashMap<Party, Flow>,
}

pub struct MarkingTheClose {
    cfg: MarkingTheCloseConfig,
    offsets: Vec<i64>,
    slots: Vec<State>,
}

impl MarkingTheClose {
    pub fn new(cfg: MarkingTheCloseConfig) -> Self {
        // Validated with the configuration.
        let offsets = reference_offsets(&cfg).unwrap_or_default();
        MarkingTheClose { cfg, offsets, slots: Vec::new() }
    }

    /// The first reference time at or after `ts`.
    fn next_reference(&self, ts: i64) -> i64 {
        let every = self.cfg.every.0;
        let mut r = ts.div_euclid(every) * every;
        if r < ts {
            r += every;
        }
        let day = ts.div_euclid(DAY) * DAY;
        for d in [day, day + DAY] {
            if let Some(o) = self.offsets.iter().map(|o| d + o).find(|&x| x >= ts) {
                r = r.min(o);
                break;
            }
        }
        r
    }
}

impl Detector for MarkingTheClose {
    fn name(&self) -> &'static str {
        "marking_the_close"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::MarkingTheClose
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let EventKind::Trade(t) = &ev.kind else { return };
        let r = self.next_reference(ev.ts.0);
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        let price = t.price.to_f64();
        let before = st.last_price.replace(price);
        if r - ev.ts.0 > cfg.window.0 {
            st.reference = None;
            return;
        }
        if st.reference != Some(r) {
            st.reference = Some(r);
            st.open = before.unwrap_or(price);
            st.volume = 0.0;
            st.parties.clear();
        }
        let qty = t.qty.to_f64();
        st.volume += qty;
        let Some(side) = t.aggressor else { return };
        let Some(account) = (match side {
            Side::Buy => t.buy_account,
            Side::Sell => t.sell_account,
        }) else {
            return;
        };
        let p = cx.party(account);
        let f = st.parties.entry(p).or_default();
        let i = side as usize;
        let order = match side {
            Side::Buy => t.buy_order_id.as_deref(),
            Side::Sell => t.sell_order_id.as_deref(),
        }
        .map_or(ev.seq, |id| key(&[id.as_bytes()]));
        if order != f.last_order || t.buy_order_id.is_none() && t.sell_order_id.is_none() {
            f.n[i] += 1;
            f.last_order = order;
        }
        f.vol[i] += qty;
        f.account.get_or_insert(account);
        let dir = if side == Side::Buy { 1.0 } else { -1.0 };
        let moved = if st.open > 0.0 { dir * (price - st.open) / st.open } else { 0.0 };
        // Net of its aggression the other way: a party trading heavily both ways is busy, not
        // pushing the price one way.
        let share = (f.vol[i] - f.vol[1 - i]).max(0.0) / st.volume;
        if f.n[i] < cfg.min_trades || share < cfg.min_share || moved < cfg.min_move {
            return;
        }
        // ...and net of what it did the other way on other venues meanwhile (an arbitrageur buys
        // here what it sells there).
        let window_start = Ts(r - cfg.window.0);
        let elsewhere: f64 = cx
            .activity
            .since(cx.instrument.symbol, p, window_start)
            .filter(|x| x.venue != cx.instrument.venue && x.aggressive && x.side != side)
            .map(|x| x.qty)
            .sum();
        let share = (share - elsewhere / st.volume).max(0.0);
        if share < cfg.min_share {
            return;
        }
        let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &p.0.to_le_bytes(), &r.to_le_bytes()]);
        let (n, vol) = (f.n[i], f.vol[i]);
        if cx.repeat(AlertType::MarkingTheClose, behaviour, ev.ts, cfg.cooldown.0, out) {
            return;
        }
        let acct = cx.names.account(account);
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        let reference = Ts(r);
        let description = format!(
            "{acct} {} {symbol} aggressively {n} times ({} lots, net {}% of the volume) on {venue} in the {} s before the {} UTC reference time, moving the price {}% from {} to {}.",
            if side == Side::Buy { "bought" } else { "sold" },
            num(vol),
            short(100.0 * share),
            short((r - ev.ts.0) as f64 / 1e9).trim_end_matches(".00"),
            &reference.to_string()[11..19],
            short(100.0 * moved),
            num(st.open),
            t.price,
        );
        let evidence = json!({
            "reference_time": r,
            "window_ns": cfg.window.0,
            "side": side.as_str(),
            "aggressive_trades": n,
            "min_trades": cfg.min_trades,
            "party_volume": round(vol, 8),
            "window_volume": round(st.volume, 8),
            "share": round(share, 4),
            "min_share": cfg.min_share,
            "move": round(moved, 6),
            "min_move": cfg.min_move,
            "window_open_price": st.open,
            "trade_id": t.trade_id.as_str(),
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::MarkingTheClose,
            ts: ev.ts,
            window_start: Ts(r - cfg.window.0),
            window_end: ev.ts,
            venue: Some(cx.instrument.venue),
            symbols: vec![cx.instrument.symbol],
            accounts: vec![account],
            severity: moved / cfg.min_move,
            confidence: 0.5 + 0.5 * share,
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes()]),
            description,
            evidence,
        });
    }
}
