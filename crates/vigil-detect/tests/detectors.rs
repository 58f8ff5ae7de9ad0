//! The first detectors on what they must catch and on the look-alikes they must not flag.

use std::sync::Arc;
use vigil_core::{Alert, AlertType, Event, EventKind, Interner, Price, Qty, SymbolId, Trade, Ts, VenueId};
use vigil_detect::{Config, Engine, Shard};
use vigil_sim::{Injection, Rng, Seasonality, Synth, SynthConfig};

const MIN: i64 = 60_000_000_000;
const T0: i64 = 1_767_261_600_000_000_000; // 2026-01-01T10:00:00Z

struct Tape {
    interner: Interner,
    venue: VenueId,
    symbol: SymbolId,
    events: Vec<Event>,
}

impl Tape {
    fn new() -> Self {
        let mut interner = Interner::new();
        let venue = interner.venue("testx");
        let symbol = interner.symbol("ABC-USD");
        Tape { interner, venue, symbol, events: Vec::new() }
    }
    fn trade(&mut self, ts: i64, price: f64, qty: f64) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            ts: Ts(ts),
            seq,
            venue: self.venue,
            symbol: self.symbol,
            kind: EventKind::Trade(Trade {
                trade_id: seq.to_string().into(),
                price: Price((price * 1e8).round() as i64),
                qty: Qty((qty * 1e8).round() as i64),
                buy_account: None,
                sell_account: None,
                buy_order_id: None,
                sell_order_id: None,
                aggressor: None,
            }),
        });
    }
    /// `n` trades spread evenly over minute `m`.
    fn minute(&mut self, m: i64, n: i64, price: impl Fn(i64) -> f64, qty: f64) {
        for k in 0..n {
            let ts = T0 + m * MIN + k * (MIN / n);
            self.trade(ts, price(k), qty);
        }
    }
    fn run(&self, config: &Config) -> Vec<Alert> {
        let mut shard = Shard::new(config, self.interner.names());
        let mut out = Vec::new();
        for e in &self.events {
            shard.process(e, &mut out);
        }
        out.into_iter().map(|(_, _, a)| a).collect()
    }
}

fn of(alerts: &[Alert], t: AlertType) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.kind == t).collect()
}

#[test]
fn volume_spike_catches_a_surge_as_it_happens() {
    let mut tape = Tape::new();
    for m in 0..40 {
        tape.minute(m, 20, |_| 100.0, 1.0 + (m % 3) as f64 * 0.2);
    }
    // Minute 40: ten times the usual volume.
    tape.minute(40, 200, |_| 100.0, 1.0);
    for m in 41..50 {
        tape.minute(m, 20, |_| 100.0, 1.0);
    }
    let alerts = tape.run(&Config::default());
    let spikes = of(&alerts, AlertType::VolumeSpike);
    assert_eq!(spikes.len(), 1, "{alerts:#?}");
    let a = spikes[0];
    // Raised inside minute 40, once the volume passed the threshold, not at the window's end.
    assert!(a.ts >= T0 + 40 * MIN && a.ts < T0 + 41 * MIN);
    assert_eq!(a.window_start, T0 + 40 * MIN);
    assert_eq!(a.symbols, vec!["ABC-USD"]);
    assert_eq!(a.venue.as_deref(), Some("testx"));
    let median = a.evidence["baseline_median"].as_f64().unwrap();
    assert!((20.0..=24.0).contains(&median), "{median}");
    assert!(a.evidence["window_volume"].as_f64().unwrap() >= 3.0 * median);
    assert!(a.description.contains("ABC-USD on testx traded"), "{}", a.description);
    assert!(a.alert_id.starts_with("volume_spike-"));
    assert!(of(&alerts, AlertType::PriceAnomaly).is_empty(), "a flat price is no price anomaly");
}

#[test]
fn volume_spike_ignores_a_steady_rise_through_the_day() {
    // Activity grows 3 % a minute for six and a half hours (×10⁸ by the close), with noise.
    let mut tape = Tape::new();
    let mut rng = Rng::new(11);
    for m in 0..390 {
        let n = 5 + (m / 30);
        let level = 1.03f64.powi(m);
        tape.minute(m as i64, n as i64, |_| 100.0, level * (0.8 + 0.4 * rng.f64()));
    }
    let alerts = tape.run(&Config::default());
    assert!(of(&alerts, AlertType::VolumeSpike).is_empty(), "{:#?}", of(&alerts, AlertType::VolumeSpike));
}

#[test]
fn volume_spike_ignores_an_erratic_but_normal_market_and_a_thin_one() {
    // Heavy-tailed trade sizes: single large prints are normal here.
    let mut tape = Tape::new();
    let mut rng = Rng::new(5);
    for m in 0..300 {
        let n = 10 + rng.below(10) as i64;
        for k in 0..n {
            tape.trade(T0 + m * MIN + k * (MIN / n), 100.0, rng.pareto(1.0, 2.5).min(40.0));
        }
    }
    // A thin market: one trade a minute, then one big print of 50×.
    for m in 0..60 {
        tape.trade(T0 + 400 * MIN + m * MIN, 100.0, 1.0);
    }
    tape.trade(T0 + 460 * MIN, 100.0, 50.0);
    let alerts = tape.run(&Config::default());
    assert!(of(&alerts, AlertType::VolumeSpike).is_empty(), "{:#?}", of(&alerts, AlertType::VolumeSpike));
}

#[test]
fn a_continuing_surge_is_one_alert_and_a_later_one_another() {
    let mut tape = Tape::new();
    for m in 0..30 {
        tape.minute(m, 20, |_| 100.0, 1.0);
    }
    for m in 30..34 {
        tape.minute(m, 200, |_| 100.0, 1.0); // four minutes of surge: one episode
    }
    for m in 34..80 {
        tape.minute(m, 20, |_| 100.0, 1.0);
    }
    tape.minute(80, 200, |_| 100.0, 1.0); // a new surge, well after the cooldown
    let alerts = tape.run(&Config::default());
    let spikes = of(&alerts, AlertType::VolumeSpike);
    assert_eq!(spikes.len(), 2, "{spikes:#?}");
    assert_ne!(spikes[0].alert_id, spikes[1].alert_id);
}

#[test]
fn price_anomaly_catches_a_jump_in_a_calm_market() {
    let mut tape = Tape::new();
    let mut rng = Rng::new(2);
    let mut p = 100.0;
    for m in 0..60 {
        tape.minute(m, 10, |_| p, 1.0);
        p *= 1.0 + 0.0005 * rng.normal();
    }
    // Minute 60: +4 % within the minute, 80σ of a 0.05 % market.
    let base = p;
    tape.minute(60, 10, |k| base * (1.0 + 0.004 * k as f64), 1.0);
    let alerts = tape.run(&Config::default());
    let pa = of(&alerts, AlertType::PriceAnomaly);
    assert_eq!(pa.len(), 1, "{alerts:#?}");
    let a = pa[0];
    assert!(a.ts > T0 + 60 * MIN && a.ts < T0 + 61 * MIN);
    assert_eq!(a.evidence["crossed"], "volatility");
    assert!(a.evidence["move"].as_f64().unwrap() >= 0.005);
    assert!(a.description.contains("moved +"), "{}", a.description);
}

#[test]
fn price_anomaly_backstop_fires_without_history() {
    let mut tape = Tape::new();
    tape.minute(0, 5, |_| 10.0, 1.0);
    tape.minute(1, 5, |k| if k < 3 { 10.0 } else { 7.9 }, 1.0); // -21 % in the second minute
    let alerts = tape.run(&Config::default());
    let pa = of(&alerts, AlertType::PriceAnomaly);
    assert_eq!(pa.len(), 1, "{alerts:#?}");
    assert_eq!(pa[0].evidence["crossed"], "absolute_move");
    assert!(pa[0].description.contains("moved -21.0%"), "{}", pa[0].description);
}

#[test]
fn price_anomaly_ignores_a_volatile_but_normal_market() {
    // A full day of a volatile market: 1 % a minute with clustering (GARCH(1,1)) and fat tails
    // (Student-t, 5 degrees of freedom), several seeds.
    for seed in 1..=5 {
        let mut tape = Tape::new();
        let mut rng = Rng::new(seed);
        let (omega, alpha, beta) = (0.0001f64.powi(2) * 0.05 * 100.0, 0.08, 0.90);
        let mut var: f64 = 0.01f64.powi(2);
        let mut p = 100.0;
        for m in 0..1440 {
            // Student-t(5) scaled to unit variance.
            let z = rng.normal();
            let chi: f64 = (0..5).map(|_| rng.normal().powi(2)).sum();
            let t = z / (chi / 5.0).sqrt() / (5.0f64 / 3.0).sqrt();
            let r = var.sqrt() * t;
            let start = p;
            p *= 1.0 + r;
            let end = p;
            tape.minute(m, 12, |k| start + (end - start) * (k as f64 + 1.0) / 12.0, 1.0);
            var = omega + alpha * r * r + beta * var;
            var = var.clamp(0.004f64.powi(2), 0.03f64.powi(2));
        }
        let alerts = tape.run(&Config::default());
        let pa = of(&alerts, AlertType::PriceAnomaly);
        assert!(pa.is_empty(), "seed {seed}: {:#?}", pa.iter().map(|a| &a.description).collect::<Vec<_>>());
    }
}

fn synth_events(cfg: SynthConfig) -> (Vec<Event>, Arc<vigil_core::Names>) {
    let mut interner = Interner::new();
    let minutes = 90;
    let end = cfg.start.0 + minutes * MIN;
    let events: Vec<Event> = Synth::new(cfg, &mut interner).take_while(|e| e.ts.0 < end).collect();
    (events, interner.names())
}

/// The volume and price detectors only. `Synth` is a market-data generator: its makers are a few
/// accounts placing one-sided orders of heavy-tailed size and taking at random on either side, a
/// pattern no real participant follows, so account-level detectors are tested on the matching
/// market of `tests/manipulation.rs` instead.
fn market_data_only() -> Config {
    let mut c = Config::default();
    let d = &mut c.detectors;
    d.spoofing.enabled = false;
    d.layering.enabled = false;
    d.cross_venue_manipulation.enabled = false;
    d.wash_trading.enabled = false;
    d.pump_and_dump.enabled = false;
    d.quote_stuffing.enabled = false;
    d.momentum_ignition.enabled = false;
    d.marking_the_close.enabled = false;
    d.concentrated_trading.enabled = false;
    d.unusual_timing.enabled = false;
    d.price_discrepancy.enabled = false;
    c
}

fn engine_run(events: &[Event], names: Arc<vigil_core::Names>, threads: usize) -> Vec<Alert> {
    let alerts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = alerts.clone();
    let mut engine = Engine::start(&market_data_only(), threads, names, Box::new(move |a| sink.lock().unwrap().push(a)));
    for e in events {
        engine.push(e.clone());
    }
    let stats = engine.finish().unwrap();
    assert_eq!(stats.events, events.len() as u64);
    let v = alerts.lock().unwrap().clone();
    v
}

#[test]
fn the_engine_gives_the_same_alerts_in_the_same_order_for_any_thread_count() {
    let start = Ts(T0);
    let cfg = SynthConfig {
        seed: 42,
        symbols: 12,
        rate: 40.0,
        injections: vec![
            Injection::VolumeSurge { symbol: 3, at: Ts(T0 + 50 * MIN), duration_ns: 2 * MIN, factor: 12.0 },
            Injection::PriceJump { symbol: 5, at: Ts(T0 + 60 * MIN), fraction: 0.06 },
            Injection::VolumeSurge { symbol: 8, at: Ts(T0 + 70 * MIN), duration_ns: 2 * MIN, factor: 12.0 },
        ],
        start,
        ..Default::default()
    };
    let (events, names) = synth_events(cfg);
    let one = engine_run(&events, names.clone(), 1);
    assert!(one.len() >= 3, "the injections are caught: {one:#?}");
    let by = |t: AlertType, s: &str| one.iter().any(|a| a.kind == t && a.symbols[0] == s);
    assert!(by(AlertType::VolumeSpike, "SYM3-USD") && by(AlertType::VolumeSpike, "SYM8-USD"), "{one:#?}");
    assert!(by(AlertType::PriceAnomaly, "SYM5-USD"), "{one:#?}");
    for threads in [2, 3, 5] {
        assert_eq!(engine_run(&events, names.clone(), threads), one, "{threads} threads");
    }
}

#[test]
fn a_u_shaped_day_without_injections_is_quiet() {
    let cfg = SynthConfig {
        seed: 9,
        symbols: 6,
        rate: 30.0,
        seasonality: Seasonality::UShape { day_ns: 90 * MIN },
        clustering: 1.0,
        start: Ts(T0),
        ..Default::default()
    };
    let (events, names) = synth_events(cfg);
    let alerts = engine_run(&events, names, 2);
    assert!(alerts.is_empty(), "{:#?}", alerts.iter().map(|a| &a.description).collect::<Vec<_>>());
}
