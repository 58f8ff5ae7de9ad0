//! `price_discrepancy`: one venue's price for an instrument departing from the other venues'. Each
//! venue's price is its last trade or quote mid; on every update the detector compares the venue's
//! price with the median of the other venues' prices not older than `staleness`, and alerts when the
//! departure has stayed beyond `threshold` for `persistence` (arbitrage closes brief gaps; a
//! manipulated or broken venue stays apart). With two venues it cannot tell which one departed and
//! names neither; with three or more it names the one apart from the median. One episode is one
//! alert (its later moments within `cooldown` are repeats of it); once every venue has agreed again
//! for `rejoin`, the next departure is a new episode with its own alert.
//!
//! Basis: EU MAR Art. 12(1)(a)(ii) (securing the price at an abnormal level) and Annex I(A)(b) across
//! venues; cross-market surveillance under ESMA's MAR guidelines. An anomaly, not an accusation.

use super::{median, num, short};
use crate::builder::{key, round, Signal};
use crate::config::PriceDiscrepancyConfig;
use crate::engine::{Context, Detector};
use rustc_hash::FxHashMap;
use serde_json::json;
use vigil_core::{AlertType, Event, EventKind, SymbolId, Ts, VenueId};

struct Venue {
    venue: VenueId,
    price: f64,
    ts: Ts,
    /// When its current departure began.
    apart_since: Option<Ts>,
}

/// One instrument across its venues.
#[derive(Default)]
struct Instrument {
    venues: Vec<Venue>,
    /// Episodes begun: part of the alert's behaviour, so a new episode is not a repeat.
    episode: u32,
    /// Since when no venue has been apart.
    calm_since: Option<Ts>,
    /// The venues have agreed for `rejoin` since the last alert: the next departure is new.
    rejoined: bool,
}

pub struct PriceDiscrepancy {
    cfg: PriceDiscrepancyConfig,
    symbols: FxHashMap<SymbolId, Instrument>,
    others: Vec<f64>,
}

impl PriceDiscrepancy {
    pub fn new(cfg: PriceDiscrepancyConfig) -> Self {
        PriceDiscrepancy { cfg, symbols: FxHashMap::default(), others: Vec::new() }
    }
}

impl Detector for PriceDiscrepancy {
    fn name(&self) -> &'static str {
        "price_discrepancy"
    }
    fn alert_type(&self) -> AlertType {
        AlertType::PriceDiscrepancy
    }

    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>) {
        let price = match &ev.kind {
            EventKind::Trade(t) => t.price.to_f64(),
            EventKind::Quote(q) => match (q.bid, q.ask) {
                (Some(b), Some(a)) if a >= b => (a.to_f64() + b.to_f64()) / 2.0,
                _ => return,
            },
            _ => return,
        };
        if price <= 0.0 {
            return;
        }
        let cfg = &self.cfg;
        let inst = self.symbols.entry(ev.symbol).or_default();
        let venues = &mut inst.venues;
        let i = match venues.iter().position(|v| v.venue == ev.venue) {
            Some(i) => i,
            None => {
                venues.push(Venue { venue: ev.venue, price, ts: ev.ts, apart_since: None });
                venues.len() - 1
            }
        };
        venues[i].price = price;
        venues[i].ts = ev.ts;
        self.others.clear();
        self.others.extend(venues.iter().filter(|v| v.venue != ev.venue && ev.ts.0 - v.ts.0 <= cfg.staleness.0).map(|v| v.price));
        let Some(med) = median(&mut self.others) else {
            venues[i].apart_since = None;
            return;
        };
        let dev = (price - med) / med;
        if dev.abs() < cfg.threshold {
            venues[i].apart_since = None;
            // (A venue gone quiet while apart, whose price is stale, does not hold the others'
            // agreement back.)
            if venues.iter().all(|v| v.apart_since.is_none() || ev.ts.0 - v.ts.0 > cfg.staleness.0) {
                let calm = *inst.calm_since.get_or_insert(ev.ts);
                inst.rejoined |= ev.ts.0 - calm.0 >= cfg.rejoin.0;
            }
            return;
        }
        inst.calm_since = None;
        let since = *venues[i].apart_since.get_or_insert(ev.ts);
        if ev.ts.0 - since.0 < cfg.persistence.0 {
            return;
        }
        if std::mem::take(&mut inst.rejoined) {
            inst.episode += 1;
        }
        let behaviour = key(&[&ev.symbol.0.to_le_bytes(), &inst.episode.to_le_bytes()]);
        if cx.repeat(AlertType::PriceDiscrepancy, behaviour, ev.ts, cfg.cooldown.0, out) {
            return;
        }
        let n = self.others.len();
        let symbol = cx.names.symbol(ev.symbol);
        let venue = cx.names.venue(ev.venue);
        let prices: serde_json::Map<String, serde_json::Value> =
            venues.iter().filter(|v| ev.ts.0 - v.ts.0 <= cfg.staleness.0).map(|v| (cx.names.venue(v.venue).to_string(), json!(v.price))).collect();
        let description = format!(
            "{symbol} on {venue} traded at {}, {}% {} the {} of the other {} ({}), for {} s.",
            num(price),
            short(100.0 * dev.abs()),
            if dev > 0.0 { "above" } else { "below" },
            if n == 1 { "price" } else { "median price" },
            if n == 1 { "venue".to_string() } else { format!("{n} venues") },
            num(med),
            short((ev.ts.0 - since.0) as f64 / 1e9),
        );
        let evidence = json!({
            "venue_price": price,
            "others_median": med,
            "deviation": round(dev, 6),
            "threshold": cfg.threshold,
            "apart_since": since.0,
            "persistence_ns": cfg.persistence.0,
            "prices": prices,
            "other_venues": n,
        });
        let serde_json::Value::Object(evidence) = evidence else { unreachable!() };
        out.push(Signal {
            kind: AlertType::PriceDiscrepancy,
            ts: ev.ts,
            window_start: since,
            window_end: ev.ts,
            // Two venues apart: either may be the one that moved.
            venue: if n >= 2 { Some(ev.venue) } else { None },
            symbols: vec![ev.symbol],
            accounts: Vec::new(),
            severity: dev.abs() / cfg.threshold,
            confidence: if n >= 2 { 0.9 } else { 0.6 },
            behaviour,
            cooldown: cfg.cooldown.0,
            identity: key(&[&ev.seq.to_le_bytes(), &since.0.to_le_bytes()]),
            description,
            evidence,
        });
    }
}
