//! `price_anomaly`: a price move against the instrument's own rolling volatility. The move is the
//! trade price against the close of the previous window; the volatility is the root mean square of
//! the previous `baseline_windows` window-to-window returns, or the long-memory volatility (an
//! exponentially weighted mean square with a half-life of `long_halflife_windows`) where that is
//! larger, so that a volatile market's quiet spell does not make its usual turbulence look
//! anomalous, or a fast exponentially weighted estimate (RiskMetrics, λ = 0.94 a window) where that
//! is larger, so that a volatility burst raises the bar as it builds. Returns enter these estimates
//! winsorised at four times the volatility so far (from the fifth return), so one jump does not blind the detector for the
//! next hour. It alerts when the move reaches
//! `sigma_multiplier` × volatility (and at least `min_move`), or, whatever the volatility, when it
//! reaches `absolute_move` (15 % by default) — the backstop for a market without history.
//!
//! Basis: EU MAR Annex I(A)(b) and (g) — orders or transactions that lead to significant price
//! changes; exchange price-banding practice (limit-up/limit-down). An anomaly, not an accusation.

use super::{clock, num, short, slot};
use crate::builder::{key, round, Signal};
use crate::config::PriceAnomalyConfig;
use crate::engine::{Context, Detector};
use serde_json::json;
use std::collections::VecDeque;
use vigil_core::{AlertType, Event, EventKind, Ts};

/// Returns enter the volatility estimates clipped at this many times the volatility so far.
const WINSOR: f64 = 4.0;

#[derive(Default)]
struct State {
    window: Option<i64>,
    /// The last trade price and its trade id.
    last: Option<f64>,
    /// The close of the previous window: the reference of the current move.
    reference: Option<f64>,
    reference_ts: Ts,
    returns: VecDeque<f64>,
    /// Long-memory variance (exponentially weighted), so a market's quiet spell does not make
    /// its usual turbulence look anomalous: (weighted sum of squared returns, sum of weights).
    long_var: Option<(f64, f64)>,
    /// Short-memory variance (RiskMetrics, λ = 0.94 a window), which follows a volatility burst
    /// as it builds, the way a GARCH market's conditional variance does; the same form.
    fast_var: Option<(f64, f64)>,
    /// Volatility for the current window, computed when it opens.
    sigma: Option<f64>,
    /// Directions already alerted in this window (up, down).
    alerted: [bool; 2],
}

pub struct PriceAnomaly {
    cfg: PriceAnomalyConfig,
    slots: Vec<State>,
}

impl PriceAnomaly {
    pub fn new(cfg: PriceAnomalyConfig) -> Self {
        PriceAnomaly { cfg, slots: Vec::new() }
    }
}

impl State {
    fn roll(&mut self, w: i64, ts: Ts, cfg: &PriceAnomalyConfig) {
        if let Some(prev) = self.window {
            let gap = w - prev;
            if gap > cfg.baseline_windows as i64 {
                // A break longer than the whole baseline (a closed session): start again.
                self.returns.clear();
                self.long_var = None;
                self.fast_var = None;
            } else if let (Some(r), Some(c)) = (self.reference, self.last) {
                if r > 0.0 {
                    // A return over several quiet windows is scaled to one window.
                    let ret = (c - r) / r / (gap as f64).sqrt();
                    // Winsorised at WINSOR times the volatility so far: one jump (an anomaly, a
                    // pump) raises the bar a little, not for the next hour; a lasting rise in
                    // volatility still lifts it return by return.
                    let ret = match self.scale() {
                        Some(s) if s > 0.0 && self.returns.len() >= 5 => ret.clamp(-WINSOR * s, WINSOR * s),
                        _ => ret,
                    };
                    self.returns.push_back(ret);
                    let lambda = 0.5f64.powf(1.0 / cfg.long_halflife_windows.max(1) as f64);
                    // Weighted means of the squared returns, normalised by the weights seen (so the
                    // first return does not stand for the whole past until the half-life passes).
                    let ewma = |prev: Option<(f64, f64)>, l: f64| Some(prev.map_or((ret * ret, 1.0), |(num, w)| (l * num + ret * ret, l * w + 1.0)));
                    self.long_var = ewma(self.long_var, lambda);
                    self.fast_var = ewma(self.fast_var, 0.94);
                }
            }
            while self.returns.len() > cfg.baseline_windows {
                self.returns.pop_front();
            }
            self.reference = self.last;
            self.reference_ts = ts;
        }
        self.window = Some(w);
        self.alerted = [false; 2];
        self.sigma = if self.returns.len() >= cfg.min_baseline_windows { self.scale() } else { None };
    }

    /// The volatility from what has been seen so far (the largest of the three estimates).
    fn scale(&self) -> Option<f64> {
        if self.returns.is_empty() {
            return None;
        }
        let short = self.returns.iter().map(|r| r * r).sum::<f64>() / self.returns.len() as f64;
        let mean = |x: Option<(f64, f64)>| x.map_or(0.0, |(num, w)| num / w);
        Some(short.max(mean(self.long_var)).max(mean(self.fast_var)).sqrt())
    }
}

impl Detector for PriceAnomaly {
    fn name(&self) -> &'static str {
        "price_anomaly"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::PriceAnomaly
    }

    fn trades_only(&self) -> bool {
        true
    }
    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let EventKind::Trade(t) = &ev.kind else {
            return;
        };
        let cfg = &self.cfg;
        let st = slot(&mut self.slots, cx.slot);
        let w = ev.ts.0.div_euclid(cfg.window.0);
        if st.window != Some(w) {
            st.roll(w, Ts(w * cfg.window.0), cfg);
        }
        let p = t.price.to_f64();
        st.last = Some(p);
        let Some(r) = st.reference.filter(|r| *r > 0.0) else {
            return;
        };
        let mv = (p - r) / r;
        let dir = usize::from(mv < 0.0);
        if st.alerted[dir] {
            return;
        }
        let vol_threshold = st.sigma.map(|s| (cfg.sigma_multiplier * s).max(cfg.min_move));
        // A zero threshold (a flat history and `min_move = 0`) would flag every trade.
        let by_vol = vol_threshold.is_some_and(|th| th > 0.0 && mv.abs() >= th);
        let by_backstop = mv.abs() >= cfg.absolute_move;
        if !by_vol && !by_backstop {
            return;
        }
        st.alerted[dir] = true;
        let threshold = match vol_threshold {
            Some(th) => th.min(cfg.absolute_move),
            None => cfg.absolute_move,
        };
        let venue = cx.names.venue(cx.instrument.venue);
        let symbol = cx.names.symbol(cx.instrument.symbol);
        let sigma = st.sigma;
        let why = match sigma {
            Some(s) if s > 0.0 => format!("{}x its recent {} s volatility of {}%", short(mv.abs() / s), cfg.window.0 / 1_000_000_000, short(s * 100.0)),
            _ => "with no volatility history to judge it by".to_string(),
        };
        let rule = if by_vol { format!("alert at {}x", num(cfg.sigma_multiplier)) } else { format!("past the {}% backstop", num(cfg.absolute_move * 100.0)) };
        let description = format!(
            "{symbol} on {venue} moved {}{}% from {} to {} since the window closing at {} UTC, {why} ({rule}).",
            if mv >= 0.0 { "+" } else { "-" },
            short(mv.abs() * 100.0),
            num(r),
            num(p),
            clock(st.reference_ts),
        );
        let evidence = json!({
            "reference_price": r,
            "price": p,
            "move": round(mv, 6),
            "volatility": sigma.map(|s| round(s, 8)),
            "sigma_multiple": sigma.filter(|s| *s > 0.0).map(|s| round(mv.abs() / s, 3)),
            "sigma_multiplier": cfg.sigma_multiplier,
            "min_move": cfg.min_move,
            "absolute_move": cfg.absolute_move,
            "threshold": round(threshold, 6),
            "crossed": if by_vol { "volatility" } else { "absolute_move" },
            "baseline_returns": st.returns.len(),
            "window_ns": cfg.window.0,
            "trigger_trade_id": t.trade_id.as_str(),
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::PriceAnomaly,
            ts: ev.ts,
            window_start: st.reference_ts,
            window_end: ev.ts,
            venue: Some(cx.instrument.venue),
            symbols: vec![cx.instrument.symbol],
            accounts: Vec::new(),
            severity: mv.abs() / threshold,
            confidence: if by_backstop { 0.9 } else { 0.5 + 0.5 * (st.returns.len() as f64 / cfg.baseline_windows as f64).min(1.0) },
            behaviour: key(&[&cx.instrument.venue.0.to_le_bytes(), &cx.instrument.symbol.0.to_le_bytes(), &[dir as u8]]),
            cooldown: cfg.cooldown.0,
            identity: key(&[t.trade_id.as_bytes()]),
            description,
            evidence,
        });
    }
}
