//! `marking_the_close`: one party's aggressive trades moving the price in the `window` before a
//! reference time, when a closing price, a fixing or a funding rate is set from the market. The
//! reference times are every `every` from midnight UTC (hourly by default: hourly fixings, a 00:00
//! UTC daily close, the 00/08/16 UTC funding times) and the daily `reference_times`. It alerts,
//! before the reference time, at a trade of the party's in the last `final_window` where it has
//! sent `min_trades` aggressive orders in one direction in the window (a sweep through several levels is one), holds `min_share` of the
//! window's volume net of its aggression the other way (here, and on other venues: an arbitrageur
//! buys here what it sells there), and the price has moved `min_move` in its direction since the
//! window opened. Or, in a busy book where the push is a small part of the window: at a trade within
//! `final_gap` of the reference time, the party did `min_final_fraction` of its window's aggression
//! in the last `final_window` and was `min_final_share` of that final window's volume (net as
//! above); the price move over it is reported, not required (in a liquid book a marker's last
//! minute may not move it, and the attempt is an offence too). The netting counts the party's
//! resting orders taken the other way too: a market maker picking off stale quotes is not building
//! a position. Either way the party traded one way: what it did the other way is at most
//! `max_other_way` of its aggression (a two-way trader leaning one way at the close is busy), over
//! the window for the first pattern, over the final window for the second (with at most
//! `max_other_way_window` over the whole window: trading both ways early on does not excuse a
//! one-way push into the close).
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
use vigil_core::{AccountId, AlertType, Event, EventKind, Side, SymbolId, Ts};

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
    /// Its aggressive volume in the final window, per side.
    fin: [f64; 2],
    /// Its passive volume (its resting orders taken), per side, in the window and the final window.
    pas: [f64; 2],
    fin_pas: [f64; 2],
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
    /// The final window has begun: the price it opened at and the volume since.
    in_final: bool,
    final_open: f64,
    final_volume: f64,
    last_price: Option<f64>,
    parties: FxHashMap<Party, Flow>,
}

pub struct MarkingTheClose {
    cfg: MarkingTheCloseConfig,
    offsets: Vec<i64>,
    slots: Vec<State>,
    /// The slots of each symbol (its venues), for the party's trading on the others.
    siblings: FxHashMap<SymbolId, Vec<usize>>,
}

impl MarkingTheClose {
    pub fn new(cfg: MarkingTheCloseConfig) -> Self {
        // Validated with the configuration.
        let offsets = reference_offsets(&cfg).unwrap_or_default();
        MarkingTheClose { cfg, offsets, slots: Vec::new(), siblings: FxHashMap::default() }
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

    fn trades_only(&self) -> bool {
        true
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
            (st.in_final, st.final_open, st.final_volume) = (false, 0.0, 0.0);
            st.parties.clear();
            let venues = self.siblings.entry(cx.instrument.symbol).or_default();
            if !venues.contains(&cx.slot) {
                venues.push(cx.slot);
            }
        }
        let qty = t.qty.to_f64();
        st.volume += qty;
        let is_final = r - ev.ts.0 <= cfg.final_window.0;
        if is_final && !st.in_final {
            (st.in_final, st.final_open, st.final_volume) = (true, before.unwrap_or(price), 0.0);
        }
        if is_final {
            st.final_volume += qty;
        }
        let Some(side) = t.aggressor else { return };
        let (account, resting) = match side {
            Side::Buy => (t.buy_account, t.sell_account),
            Side::Sell => (t.sell_account, t.buy_account),
        };
        // The resting side's party bought or sold too: a market maker picking off stale quotes one
        // way while its quotes are taken the other way is not building a position.
        if let Some(rest) = resting {
            let f = st.parties.entry(cx.party(rest)).or_default();
            let j = side.opposite() as usize;
            f.pas[j] += qty;
            if is_final {
                f.fin_pas[j] += qty;
            }
        }
        let Some(account) = account else { return };
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
        if is_final {
            f.fin[i] += qty;
        }
        f.account.get_or_insert(account);
        if f.n[i] < cfg.min_trades {
            return;
        }
        let f = *f;
        let (open, volume, final_open, final_volume) = (st.open, st.volume, st.final_open, st.final_volume);
        let dir = if side == Side::Buy { 1.0 } else { -1.0 };
        let rel = |from: f64| if from > 0.0 { dir * (price - from) / from } else { 0.0 };
        let moved = rel(open);
        // Net of what it traded the other way, aggressive or passive: a party trading heavily both
        // ways is busy, not pushing the price one way.
        let share = (f.vol[i] - f.vol[1 - i] - f.pas[1 - i]).max(0.0) / volume;
        // Judged in the final window only: a party that built its share minutes before the
        // reference time and stopped does not set the closing price.
        let whole = is_final && share >= cfg.min_share && moved >= cfg.min_move;
        let fraction = f.fin[i] / f.vol[i];
        let final_share = (f.fin[i] - f.fin[1 - i] - f.fin_pas[1 - i]).max(0.0) / final_volume.max(f64::MIN_POSITIVE);
        let final_moved = rel(final_open);
        let at_close = is_final && r - ev.ts.0 <= cfg.final_gap.0 && fraction >= cfg.min_final_fraction && final_share >= cfg.min_final_share;
        if !whole && !at_close {
            return;
        }
        // ...and net of what it did the other way on other venues meanwhile (an arbitrageur buys
        // here what it sells there): its aggression the other way on the symbol's other venues,
        // as their own windows for the same reference time counted it.
        let (mut elsewhere, mut elsewhere_final) = (0.0, 0.0);
        for &s in self.siblings.get(&cx.instrument.symbol).into_iter().flatten() {
            let other = &self.slots[s];
            if s == cx.slot || other.reference != Some(r) {
                continue;
            }
            if let Some(g) = other.parties.get(&p) {
                elsewhere += g.vol[1 - i];
                elsewhere_final += g.fin[1 - i];
            }
        }
        let share = (share - elsewhere / volume).max(0.0);
        let final_share = (final_share - elsewhere_final / final_volume.max(f64::MIN_POSITIVE)).max(0.0);
        let whole = whole && share >= cfg.min_share;
        let at_close = at_close && final_share >= cfg.min_final_share;
        if !whole && !at_close {
            return;
        }
        // One way: a party trading both ways at the close (a concentrated two-way trader whose net
        // happens to lean one way) is busy, not marking. Over the window for the window's
        // pattern; over the final window, where it is judged, for the final window's, with what
        // it did before that bounded by `max_other_way_window` (a party that traded both ways early
        // in the window and then pushed one way into the close marks it all the same).
        let other_way = f.vol[1 - i] + f.pas[1 - i] + elsewhere;
        let other_final = f.fin[1 - i] + f.fin_pas[1 - i] + elsewhere_final;
        let whole = whole && other_way <= cfg.max_other_way * f.vol[i];
        let at_close = at_close && other_final <= cfg.max_other_way * f.fin[i] && other_way <= cfg.max_other_way_window * f.vol[i];
        if !whole && !at_close {
            return;
        }
        let fin = f.fin[i];
        let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &p.0.to_le_bytes(), &r.to_le_bytes()]);
        let (n, vol) = (f.n[i], f.vol[i]);
        if cx.repeat(AlertType::MarkingTheClose, behaviour, ev.ts, cfg.cooldown.0, out) {
            return;
        }
        let acct = cx.names.account(account);
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        let reference = Ts(r);
        let verb = if side == Side::Buy { "bought" } else { "sold" };
        let before_s = short((r - ev.ts.0) as f64 / 1e9);
        let hhmmss = &reference.to_string()[11..19];
        let description = if whole {
            format!(
                "{acct} {verb} {symbol} aggressively {n} times ({} lots, net {}% of the volume) on {venue} in the {} s before the {hhmmss} UTC reference time, moving the price {}% from {} to {}.",
                num(vol),
                short(100.0 * share),
                before_s.trim_end_matches(".00"),
                short(100.0 * moved),
                num(open),
                t.price,
            )
        } else {
            format!(
                "{acct} {verb} {symbol} aggressively {n} times ({} lots) on {venue} before the {hhmmss} UTC reference time, {}% of it in the last {} s, where it was net {}% of the volume and the price went {}% {} from {} to {}; its last order came {before_s} s before the reference.",
                num(vol),
                short(100.0 * fin / vol),
                cfg.final_window.0 / 1_000_000_000,
                short(100.0 * final_share),
                short(100.0 * final_moved.abs()),
                if final_moved < 0.0 { "against it" } else { "its way" },
                num(final_open),
                t.price,
            )
        };
        let evidence = json!({
            "pattern": if whole { "window" } else { "final_window" },
            "reference_time": r,
            "window_ns": cfg.window.0,
            "side": side.as_str(),
            "aggressive_trades": n,
            "min_trades": cfg.min_trades,
            "other_way_volume": round(other_way, 8),
            "final_other_way_volume": round(other_final, 8),
            "max_other_way": cfg.max_other_way,
            "max_other_way_window": cfg.max_other_way_window,
            "party_volume": round(vol, 8),
            "window_volume": round(volume, 8),
            "share": round(share, 4),
            "min_share": cfg.min_share,
            "move": round(moved, 6),
            "min_move": cfg.min_move,
            "window_open_price": open,
            "final_window_ns": cfg.final_window.0,
            "final_gap_ns": cfg.final_gap.0,
            "seconds_before_reference": round((r - ev.ts.0) as f64 / 1e9, 6),
            "final_volume": round(fin, 8),
            "final_fraction": round(fin / vol, 4),
            "min_final_fraction": cfg.min_final_fraction,
            "final_window_volume": round(final_volume, 8),
            "final_share": round(final_share, 4),
            "min_final_share": cfg.min_final_share,
            "final_move": round(final_moved, 6),
            "final_open_price": final_open,
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
            severity: if whole { moved / cfg.min_move } else { final_share / cfg.min_final_share },
            confidence: 0.5 + 0.5 * if whole { share } else { final_share },
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes()]),
            description,
            evidence,
        });
    }
}
