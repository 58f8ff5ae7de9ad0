//! Scenarios injected into a running simulated session, as the dashboard's simulation control
//! does (`vigil serve`: the market paced in 100 ms steps, an injection placed at the next step), at
//! several moments of the same market: each raises its alert, whatever the market around it was
//! doing when it went in.

use std::sync::{Arc, Mutex};
use vigil_core::{Alert, AlertType, Interner};
use vigil_detect::{Config, Engine};
use vigil_sim::{SimConfig, Simulator};

const SEC: i64 = 1_000_000_000;

/// Seconds of event time from the injection to the first alert of its type naming an account of the
/// scenario's (None: none within `within` seconds), for an injection `after` seconds into the
/// session's span.
fn caught(kind: AlertType, after: i64, within: i64) -> Option<i64> {
    let mut it = Interner::new();
    // The browser test's session: two symbols, seed 2, an hour at five times the speed, no
    // scenario of its own.
    let cfg = SimConfig {
        seed: 2,
        symbols: 2,
        symbol_names: vec!["BTC-USD".into(), "ETH-USD".into()],
        duration_ns: 5 * 3600 * SEC,
        per_type: 0,
        ..Default::default()
    };
    let mut sim = Simulator::new(cfg, &mut it);
    let got: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let sink = got.clone();
    let mut engine = Engine::start(&Config::default(), 1, it.names(), Box::new(move |a| sink.lock().unwrap().push(a)));
    let at = sim.span().0 + after * SEC;
    let (mut t, mut buf, mut placed, mut end) = (sim.config().start.0, Vec::new(), false, at + within * SEC);
    // Until ten seconds after the scenario is over (its label names its accounts; the engine
    // holds the last instant's events until time moves on) or the time is up.
    while t < end {
        if !sim.labels().is_empty() {
            end = end.min(t + 10 * SEC);
        }
        if !placed && t >= at {
            assert!(sim.inject(&mut it, kind), "{kind:?} could not be placed");
            placed = true;
        }
        t += SEC / 10;
        sim.advance(t, &mut buf);
        for ev in buf.drain(..) {
            engine.push(ev);
        }
        engine.flush();
    }
    let label = sim.labels().first()?.clone();
    assert_eq!(label.kind, kind.as_str());
    let got = got.lock().unwrap();
    got.iter().filter(|a| a.kind == kind && a.ts >= at && a.accounts.iter().any(|x| label.accounts.contains(x))).map(|a| (a.ts - at) / SEC).min()
}

#[test]
fn spoofing_and_layering_injected_at_any_moment_are_caught() {
    // Layering at 0 s and 49 s went uncaught when the market taking the stack's nearest order
    // counted as the party trading that side.
    for after in [0, 7, 14, 21, 28, 35, 42, 49] {
        let t = caught(AlertType::Layering, after, 300);
        assert!(t.is_some(), "layering injected {after} s in: not caught by the end of the scenario");
    }
    for after in [0, 21, 42] {
        let t = caught(AlertType::Spoofing, after, 300);
        assert!(t.is_some(), "spoofing injected {after} s in: not caught by the end of the scenario");
    }
}
