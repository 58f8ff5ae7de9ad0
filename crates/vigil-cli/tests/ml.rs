//! `vigil train` and `ml_anomaly` end to end, on the simulator's markets: a model trained on two
//! hours of normal activity names the windows of pumps (the market) and of quote stuffers (the
//! account) in a market it has not seen, explains them, stays nearly quiet on another normal half
//! hour with its market makers' heavy cancelling, and is the same file for the same seed.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn vigil(args: &[&str]) -> std::process::Output {
    let o = Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).output().unwrap();
    assert!(o.status.success(), "vigil {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn simulate(dir: &Path, name: &str, minutes: &str, warmup: &str, scenarios: &str, seed: &str) -> String {
    let out = dir.join(name);
    vigil(&[
        "simulate",
        "--minutes",
        minutes,
        "--warmup-minutes",
        warmup,
        "--symbols",
        "2",
        "--venues",
        "1",
        "--rate",
        "5",
        "--scenarios",
        scenarios,
        "--per-type",
        "2",
        "--no-hard-negatives",
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
    ]);
    // The CSV copy is not needed here.
    std::fs::remove_file(out.join("events.csv")).unwrap();
    out.to_str().unwrap().to_string()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn replay(config: &Path, events: &str, out: &Path, threads: &str) -> Vec<Value> {
    vigil(&["replay", "--config", config.to_str().unwrap(), "--quiet", "--threads", threads, "--alerts-out", out.to_str().unwrap(), events]);
    lines(out).into_iter().filter(|a| a["type"] == "ml_anomaly").collect()
}

#[test]
fn a_trained_model_names_pumps_and_quote_stuffers_and_explains_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let normal = simulate(d, "normal", "120", "0", "none", "21");
    let model = d.join("model.json");
    let o = vigil(&["train", "--events", &format!("{normal}/events.jsonl"), "--out", model.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("market windows") && text.contains("rush_orders") && text.contains("cancel_latency"), "{text}");
    // The same input and seed, the same model, to the byte.
    let again = d.join("again.json");
    vigil(&["train", "--quiet", "--events", &format!("{normal}/events.jsonl"), "--out", again.to_str().unwrap()]);
    assert_eq!(std::fs::read(&model).unwrap(), std::fs::read(&again).unwrap());

    // The configuration names the model relative to itself.
    let config = d.join("vigil.toml");
    std::fs::write(&config, "[detectors.ml_anomaly]\nenabled = true\nmodel = \"model.json\"\n").unwrap();

    let scenes = simulate(d, "scenes", "20", "5", "pump_and_dump,quote_stuffing", "22");
    let labels = lines(&Path::new(&scenes).join("labels.jsonl"));
    assert_eq!(labels.len(), 4);
    let events = format!("{scenes}/events.jsonl");
    let alerts = replay(&config, &events, &d.join("a1.jsonl"), "1");
    assert_eq!(alerts, replay(&config, &events, &d.join("a2.jsonl"), "2"), "the same alerts on any number of threads");
    for l in &labels {
        let (start, end) = (l["start"].as_i64().unwrap(), l["end"].as_i64().unwrap() + 60_000_000_000);
        let in_time = |a: &&Value| a["symbols"][0] == l["symbol"] && (start..=end).contains(&a["ts"].as_i64().unwrap());
        let hit: Vec<&Value> = if l["type"] == "pump_and_dump" {
            alerts.iter().filter(in_time).filter(|a| a["evidence"]["scope"] == "market").collect()
        } else {
            alerts.iter().filter(in_time).filter(|a| a["accounts"] == l["accounts"]).collect()
        };
        assert!(!hit.is_empty(), "{l} has no ml_anomaly: {alerts:#?}");
        let a = hit[0];
        let ev = &a["evidence"];
        assert!(ev["score"].as_f64().unwrap() >= ev["min_score"].as_f64().unwrap());
        let features = ev["features"].as_array().unwrap();
        assert_eq!(features.len(), if ev["scope"] == "market" { 9 } else { 7 });
        let total: f64 = features.iter().map(|f| f["contribution"].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-3, "contributions sum to one: {total}");
        for f in features {
            for k in ["feature", "value", "percentile", "train_median", "train_p99"] {
                assert!(!f[k].is_null(), "{k} in {f}");
            }
        }
        let top: Vec<&str> = features[..3].iter().map(|f| f["feature"].as_str().unwrap()).collect();
        let description = a["description"].as_str().unwrap();
        assert!(description.contains(&top[0].replace('_', " ")), "{description}");
        if l["type"] == "quote_stuffing" {
            // Orders cancelled within milliseconds, by the hundred: what made the window odd.
            assert!(top.contains(&"cancel_latency"), "{top:?}");
            assert!(description.starts_with(l["accounts"][0].as_str().unwrap()), "{description}");
            let latency = features.iter().find(|f| f["feature"] == "cancel_latency").unwrap();
            assert!(latency["value"].as_f64().unwrap() < 0.1 && latency["percentile"].as_f64().unwrap() < 1.0, "{latency}");
        }
    }
    // Another normal half hour: its market makers cancel most of what they quote, its takers come
    // and go; at most a window or two is odder than anything in the two hours learnt.
    let quiet = simulate(d, "quiet", "30", "0", "none", "23");
    let alerts = replay(&config, &format!("{quiet}/events.jsonl"), &d.join("q.jsonl"), "2");
    assert!(alerts.len() <= 2, "{alerts:#?}");

    // A model of another version is refused by name.
    let old = std::fs::read_to_string(&model).unwrap().replacen("\"version\":2", "\"version\":1", 1);
    std::fs::write(&model, old).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_vigil")).args(["replay", "--config", config.to_str().unwrap(), &events]).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("model.json") && e.contains("version 1") && e.contains("vigil train"), "{e}");
}

#[test]
fn account_profiles_are_stored_and_show_a_stuffers_departures_and_risk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scenes = simulate(d, "scenes", "20", "5", "quote_stuffing", "22");
    let labels = lines(&Path::new(&scenes).join("labels.jsonl"));
    let db = d.join("desk.db");
    let db = db.to_str().unwrap();
    let o = vigil(&["replay", "--db", db, "--store", "--alerts-out", d.join("a.jsonl").to_str().unwrap(), &format!("{scenes}/events.jsonl")]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("account profiles"), "{}", String::from_utf8_lossy(&o.stderr));
    let stuffer = labels[0]["accounts"][0].as_str().unwrap();
    let o = vigil(&["accounts", "show", stuffer, "--db", db, "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["account"], stuffer);
    assert!(v["recent"]["cancel_ratio"].as_f64().unwrap() > 0.95, "{v:#}");
    // Its quote-stuffing alert and its departures from its peers (accounts of its instrument and
    // about its activity) both count: the risk is above the alert's.
    let alert_risk = v["alert_risk"].as_f64().unwrap();
    assert!(alert_risk > 0.5, "{v:#}");
    assert!(v["risk"].as_f64().unwrap() > alert_risk, "{v:#}");
    assert!(v["peer_count"].as_u64().unwrap() >= 5, "{v:#}");
    let cancel = v["peer_departures"].as_array().unwrap().iter().find(|d| d["measure"] == "peer_cancel_ratio").unwrap();
    assert!(cancel["value"].as_f64().unwrap() > 0.95 && cancel["score"].as_f64().unwrap() > 0.3, "{cancel}");
    // The list puts the stuffers first; a market maker (heavy cancelling, every minute) is not
    // among the risky: its peers are the other busy accounts.
    let o = vigil(&["accounts", "list", "--db", db, "--format", "json", "--limit", "1000"]);
    let rows: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let stuffers: Vec<&str> = labels.iter().map(|l| l["accounts"][0].as_str().unwrap()).collect();
    let top: Vec<&str> = rows[..2].iter().map(|r| r["account"].as_str().unwrap()).collect();
    assert!(stuffers.iter().all(|s| top.contains(s)), "{:#?}", &rows[..5]);
    let busiest = rows.iter().max_by_key(|r| r["events"].as_str().unwrap().parse::<u64>().unwrap()).unwrap();
    assert!(busiest["risk"].as_str().unwrap().parse::<f64>().unwrap() < 0.5, "{busiest}");
    // An account without a profile is said so.
    let o = Command::new(env!("CARGO_BIN_EXE_vigil")).args(["accounts", "show", "nobody", "--db", db]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no profile of account \"nobody\""));
}
