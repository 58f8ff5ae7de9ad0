//! `ml_anomaly`'s windows measure what the feature table says they measure, and its model file
//! keeps what it was trained on, is refused when of another version, and is the same for the same
//! seed.

use std::sync::{Arc, Mutex};
use vigil_core::{Interner, Side};
use vigil_detect::config::Shared;
use vigil_detect::detectors::ml_anomaly::Collected;
use vigil_detect::ml::{Model, Scope, Windows, ACCOUNT_FEATURES, MARKET_FEATURES};
use vigil_detect::{Config, Shard};
use vigil_sim::Market;

const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const T0: i64 = 1_767_261_600_000_000_000; // 2026-01-01T10:00:00Z

fn collect(events: &[vigil_core::Event], it: &Interner) -> Collected {
    let mut config = Config::default().only(&[]);
    let c = Arc::new(Mutex::new(Collected::default()));
    config.detectors.ml_anomaly.collect = Shared(Some(c.clone()));
    let mut shard = Shard::new(&config, it.names());
    let mut out = Vec::new();
    for e in events {
        shard.process(e, &mut out);
    }
    assert!(out.is_empty(), "collecting raises nothing");
    drop(shard);
    let mut g = c.lock().unwrap();
    std::mem::take(&mut *g)
}

fn feature(scope: Scope, row: &[f64], name: &str) -> f64 {
    let j = scope.features().iter().position(|f| f.0 == name).unwrap();
    row[j]
}

/// Nine minutes of a market maker's resting quotes lifted by a market buy every 10 s; in minute 6
/// three buyers rush in one millisecond and account `a` places ten orders on alternate sides away
/// from the touch, cancelling four of them 2 s after placing; in minute 7 it places five orders of
/// twice the size.
fn scripted() -> (Vec<vigil_core::Event>, Interner) {
    let mut it = Interner::new();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let (mm, n, a) = (it.account("mm"), it.account("n"), it.account("a"));
    let rush: Vec<_> = (1..=3).map(|i| it.account(&format!("r{i}"))).collect();
    m.order(T0, mm, Side::Buy, Some(99.0), 1000.0);
    m.order(T0, mm, Side::Sell, Some(101.0), 1000.0);
    for minute in 0..9 {
        let w = T0 + minute * MIN;
        for k in 0..6 {
            m.order(w + SEC + k * 10 * SEC, n, Side::Buy, None, 1.0);
        }
        if minute == 6 {
            for r in &rush {
                m.order(w + 30 * SEC + 500, *r, Side::Buy, None, 1.0);
            }
            for k in 0..10 {
                let (side, price) = if k % 2 == 0 { (Side::Buy, 90.0) } else { (Side::Sell, 110.0) };
                let id = m.order(w + 2 * SEC + k * 3 * SEC, a, side, Some(price), 10.0);
                if k < 4 {
                    m.cancel(w + 4 * SEC + k * 3 * SEC, id);
                }
            }
        }
        if minute == 7 {
            for k in 0..5 {
                m.order(w + 2 * SEC + k * SEC, a, Side::Buy, Some(90.0), 20.0);
            }
        }
    }
    let mut events = m.events;
    events.sort_by_key(|e| e.ts);
    for (i, e) in events.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    (events, it)
}

#[test]
fn windows_measure_what_the_feature_table_says() {
    let (events, it) = scripted();
    let c = collect(&events, &it);
    // Market windows are rows from the sixth on (five earlier windows make the instrument's usual);
    // the ninth is still open.
    let starts: Vec<i64> = c.market_windows.iter().map(|w| (w.1 - T0) / MIN).collect();
    assert_eq!(starts, vec![5, 6, 7]);
    let m6 = &c.market[1];
    assert_eq!(m6.len(), MARKET_FEATURES.len());
    // Three aggressive buys in one millisecond; none shared one before: (3 + 1) / (0 + 1).
    assert_eq!(feature(Scope::Market, m6, "rush_orders"), 4.0);
    // Nine trades against the usual six: (9 + 1) / (6 + 1).
    assert!((feature(Scope::Market, m6, "trade_frequency") - 10.0 / 7.0).abs() < 1e-9);
    // Halved shares of 9 lots: the maker 9, n 6, each rusher 1.
    let hhi = (9.0f64 / 18.0).powi(2) + (6.0f64 / 18.0).powi(2) + 3.0 * (1.0f64 / 18.0).powi(2);
    assert!((feature(Scope::Market, m6, "herfindahl") - hhi).abs() < 1e-9);
    // Four cancels against nineteen new orders (ten limits, nine market orders).
    assert!((feature(Scope::Market, m6, "cancel_rate") - 4.0 / 19.0).abs() < 1e-9);
    // A quiet minute: one trade a 10 s, the maker alone on the sell side.
    let m5 = &c.market[0];
    assert_eq!(feature(Scope::Market, m5, "rush_orders"), 1.0);
    // 1000 lots bid against the maker's 1000 offered less the 30-odd lifted.
    let imbalance = feature(Scope::Market, m5, "book_imbalance");
    assert!(imbalance > 0.01 && imbalance < 0.03, "{imbalance}");
    assert!((feature(Scope::Market, m5, "spread") - 1.0).abs() < 1e-9, "the usual spread");

    // Account `a`: its window in minute 6, then minute 7. The maker (two orders at the start)
    // and the takers (six trades a minute) are windows too.
    let of_a: Vec<(i64, &Vec<f64>)> = c.account_windows.iter().zip(&c.account).filter(|(w, _)| &*w.0 == "a").map(|(w, r)| ((w.1 - T0) / MIN, r)).collect();
    assert_eq!(of_a.iter().map(|x| x.0).collect::<Vec<_>>(), vec![6, 7]);
    let r = of_a[0].1;
    assert_eq!(r.len(), ACCOUNT_FEATURES.len());
    let f = |name| feature(Scope::Account, r, name);
    assert_eq!(f("order_to_trade"), 10.0, "ten orders, no trade");
    assert!((f("cancel_latency") - 2.0).abs() < 1e-9);
    assert_eq!(f("size_vs_median"), 1.0, "no earlier orders");
    assert_eq!(f("side_switching"), 1.0);
    assert!((f("hour_share") - 1.0 / 24.0).abs() < 1e-12, "nothing earlier in any hour");
    assert!((f("cancel_ratio") - 0.4).abs() < 1e-12);
    assert_eq!(f("messages"), 14.0);
    let r = of_a[1].1;
    let f = |name| feature(Scope::Account, r, name);
    assert_eq!(f("size_vs_median"), 2.0, "20 lots against its earlier 10");
    assert!((f("hour_share") - 15.0 / 38.0).abs() < 1e-12, "its 14 earlier events were all in this hour");
    assert_eq!(f("cancel_latency"), 60.0, "nothing cancelled: the window's length");
    assert_eq!(f("side_switching"), 0.0);
    assert!(c.account_windows.iter().any(|w| &*w.0 == "n"), "a taker's windows are rows too");
}

fn rows(n: usize, cols: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = vigil_sim::Rng::new(seed);
    (0..n).map(|_| (0..cols).map(|_| 1.0 + rng.f64()).collect()).collect()
}

#[test]
fn the_model_file_keeps_its_training_and_refuses_another_version() {
    let w = Windows { window_ns: MIN, min_trades: 3, min_events: 5 };
    let p = vigil_ml::Params { trees: 50, subsample: 64, seed: 7 };
    let (market, account) = (rows(300, MARKET_FEATURES.len(), 1), rows(400, ACCOUNT_FEATURES.len(), 2));
    let m = Model::train(w.clone(), &p, 0.0, &market, &account, vec!["normal.jsonl".into()]).unwrap();
    let part = m.part(Scope::Account).unwrap();
    assert_eq!(part.rows, 400);
    // Contamination 0: the threshold is the highest training score.
    assert!((part.threshold - part.score_quantiles[100]).abs() < 1e-15);
    // Uniform on [1, 2): the median is near 1.5.
    assert!((part.feature_quantiles(0)[50] - 1.5).abs() < 0.1);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    m.save(&path).unwrap();
    let back = Model::load(&path).unwrap();
    assert_eq!(back, m);
    // Read back, it scores exactly as written, and the same seed grows the same model.
    let far = vec![9.0; 7];
    let a = part.score(&far);
    assert_eq!(back.part(Scope::Account).unwrap().score(&far), a);
    assert!(a > part.threshold, "a row far outside the training range is anomalous: {a} against {}", part.threshold);
    // A row odd in three features owes its oddness to those three.
    let odd: Vec<f64> = vec![9.0, 9.0, 9.0, 1.5, 1.5, 1.5, 1.5];
    let ex = part.explain(&odd, part.score(&odd));
    let mut top: Vec<&str> = ex.features[..3].iter().map(|f| f.feature).collect();
    top.sort_unstable();
    assert_eq!(top, ["cancel_latency", "order_to_trade", "size_vs_median"], "{:?}", ex.features);
    assert_eq!(ex.features[0].percentile, 100.0);
    assert!((ex.features.iter().map(|f| f.contribution).sum::<f64>() - 1.0).abs() < 1e-9);
    let again = Model::train(w.clone(), &p, 0.0, &market, &account, vec!["normal.jsonl".into()]).unwrap();
    let path2 = dir.path().join("again.json");
    again.save(&path2).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&path2).unwrap(), "same seed, same model file");
    let other = Model::train(w.clone(), &vigil_ml::Params { seed: 8, ..p.clone() }, 0.0, &market, &account, vec![]).unwrap();
    assert_ne!(other.part(Scope::Account).unwrap().score(&odd), part.score(&odd), "another seed, other trees");

    let text = std::fs::read_to_string(&path).unwrap().replacen("\"version\":2", "\"version\":99", 1);
    std::fs::write(&path2, text).unwrap();
    let e = Model::load(&path2).unwrap_err();
    assert!(e.contains("again.json") && e.contains("version 99") && e.contains("vigil train"), "{e}");
    // A forest in the other's place, or a threshold that is not a number, is refused, not scored.
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let m = v["market"].take();
    v["market"] = v["account"].take();
    v["account"] = m;
    std::fs::write(&path2, v.to_string()).unwrap();
    let e = Model::load(&path2).unwrap_err();
    assert!(e.contains("account forest is in the market place"), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["account"]["threshold"] = serde_json::json!([f64::NAN.to_bits()]);
    std::fs::write(&path2, v.to_string()).unwrap();
    let e = Model::load(&path2).unwrap_err();
    assert!(e.contains("damaged"), "{e}");
    std::fs::write(&path2, "{\"format\":\"something else\"}").unwrap();
    assert!(Model::load(&path2).unwrap_err().contains("not a Vigil anomaly model"));
    // Too little to learn from is said, not trained on.
    let e = Model::train(w, &p, 0.0, &market[..10], &account[..10], vec![]).unwrap_err();
    assert!(e.contains("too little activity"), "{e}");
}

#[test]
fn a_configuration_that_enables_it_needs_a_readable_model() {
    let e = Config::from_toml("[detectors.ml_anomaly]\nenabled = true\n").unwrap_err().to_string();
    assert!(e.contains("detectors.ml_anomaly.model") && e.contains("vigil train"), "{e}");
    let mut c = Config::from_toml("[detectors.ml_anomaly]\nenabled = true\nmodel = \"nowhere.json\"\n").unwrap();
    let e = c.load_model(None).unwrap_err().to_string();
    assert!(e.contains("detectors.ml_anomaly.model") && e.contains("nowhere.json"), "{e}");
}
