//! `concentrated_trading`: one account on one side or the other of a large share of an instrument's
//! volume over a trailing `window`. An account's share is the volume of the trades it was part of
//! over the window's volume (so an account on one side of every trade has 100 %); it alerts when the
//! account of the current trade reaches `top_share` with at least `min_trades` trades in the window,
//! once the instrument has traded for a whole window (a few early trades are no concentration).
//! The evidence carries the Herfindahl-Hirschman index of the participation shares (each halved so
//! that they sum to one: 1 is one account trading with itself, 1/n is n accounts alike) and the
//! top five.
//!
//! Basis: EU MAR Annex I(A)(a) (transactions that represent a significant proportion of the daily
//! volume) and ESMA's concentration indicators; the antitrust HHI as a dispersion measure. An
//! anomaly, not an accusation: a dominant market maker in a thin instrument is concentration too.

use super::{num, short, slot};
use crate::builder::{key, round, Signal};
use crate::config::ConcentratedTradingConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::VecDeque;
use vigil_core::{AccountId, AlertType, Event, EventKind, Ts};

#[derive(Default)]
struct State {
    trades: VecDeque<(Ts, Option<AccountId>, Option<AccountId>, f64)>,
    volume: f64,
    by_account: FxHashMap<AccountId, f64>,
    first: Option<Ts>,
}

pub struct ConcentratedTrading {
    cfg: ConcentratedTradingConfig,
    slots: Vec<State>,
}

impl ConcentratedTrading {
    pub fn new(cfg: ConcentratedTradingConfig) -> Self {
        ConcentratedTrading { cfg, slots: Vec::new() }
    }
}

impl State {
    fn add(&mut self, a: Option<AccountId>, q: f64) {
        if let Some(a) = a {
            let v = self.by_account.entry(a).or_default();
            *v += q;
            if *v <= 1e-12 {
                self.by_account.remove(&a);
            }
        }
    }
}

impl Detector for ConcentratedTrading {
    fn name(&self) -> &'static str {
        "concentrated_trading"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::ConcentratedTrading
    }

    fn trades_only(&self) -> bool {
        true
    }
    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let EventKind::Trade(t) = &ev.kind else { return };
        if t.buy_account.is_none() && t.sell_account.is_none() {
            return;
        }
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        while let Some(&(ts, b, s, q)) = st.trades.front() {
            if ev.ts.0 - ts.0 <= cfg.window.0 {
                break;
            }
            st.trades.pop_front();
            st.volume -= q;
            st.add(b, -q);
            if s != b {
                st.add(s, -q);
            }
        }
        let q = t.qty.to_f64();
        st.trades.push_back((ev.ts, t.buy_account, t.sell_account, q));
        st.volume += q;
        st.add(t.buy_account, q);
        if t.sell_account != t.buy_account {
            st.add(t.sell_account, q);
        }
        let first = *st.first.get_or_insert(ev.ts);
        if st.trades.len() < cfg.min_trades as usize || st.volume <= 0.0 || ev.ts.0 - first.0 < cfg.window.0 {
            return;
        }
        let Some((account, v)) = [t.buy_account, t.sell_account]
            .into_iter()
            .flatten()
            .map(|a| (a, st.by_account.get(&a).copied().unwrap_or(0.0)))
            // Ties go to the first name, whatever order the names were first met in.
            .max_by(|x, y| x.1.total_cmp(&y.1).then_with(|| super::by_name(cx.names, y.0, x.0)))
        else {
            return;
        };
        let share = v / st.volume;
        if share < cfg.top_share {
            return;
        }
        let behaviour = key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &account.0.to_le_bytes()]);
        if cx.repeat(AlertType::ConcentratedTrading, behaviour, ev.ts, cfg.cooldown.0, out) {
            return;
        }
        let mut top: Vec<(AccountId, f64)> = st.by_account.iter().map(|(a, v)| (*a, *v)).collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| super::by_name(cx.names, a.0, b.0)));
        // Summed in that order, not the map's, so the last bits are the same in every process.
        let hhi: f64 = top.iter().map(|x| (x.1 / (2.0 * st.volume)).powi(2)).sum();
        top.truncate(5);
        let n = st.trades.len();
        let start = st.trades.front().map_or(ev.ts, |x| x.0);
        let acct = cx.names.account(account);
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        let description = format!(
            "{acct} was party to {}% of the {symbol} volume on {venue} over the last {} s ({} of {} in {n} trades; Herfindahl index {} across {} accounts).",
            short(100.0 * share),
            short((ev.ts.0 - start.0) as f64 / 1e9),
            num(v),
            num(st.volume),
            short(hhi),
            st.by_account.len(),
        );
        let evidence = json!({
            "share": round(share, 4),
            "top_share": cfg.top_share,
            "hhi": round(hhi, 4),
            "accounts": st.by_account.len(),
            "trades": n,
            "min_trades": cfg.min_trades,
            "window_volume": round(st.volume, 8),
            "account_volume": round(v, 8),
            "top_accounts": top.iter().map(|(a, v)| json!({"account": cx.names.account(*a).to_string(), "share": round(v / st.volume, 4)})).collect::<Vec<_>>(),
            "window_ns": cfg.window.0,
            "trade_id": t.trade_id.as_str(),
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::ConcentratedTrading,
            ts: ev.ts,
            window_start: start,
            window_end: ev.ts,
            venue: Some(cx.instrument.venue),
            symbols: vec![cx.instrument.symbol],
            accounts: vec![account],
            severity: share / cfg.top_share,
            confidence: (n as f64 / (2.0 * cfg.min_trades as f64)).min(1.0),
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes()]),
            description,
            evidence,
        });
    }
}
