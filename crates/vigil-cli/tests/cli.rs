//! The `vigil` binary end to end: replay determinism across thread counts, bad input, formats.

use std::path::{Path, PathBuf};
use std::process::Command;
use vigil_core::{Interner, Ts};
use vigil_io::{EventWriter, OutFormat};
use vigil_sim::{Injection, Synth, SynthConfig};

const MIN: i64 = 60_000_000_000;
const T0: i64 = 1_767_261_600_000_000_000;

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn write_market(path: &Path, format: OutFormat) {
    let cfg = SynthConfig {
        seed: 3,
        symbols: 10,
        venues: 2,
        rate: 15.0,
        start: Ts(T0),
        injections: vec![
            Injection::VolumeSurge { symbol: 1, at: Ts(T0 + 40 * MIN), duration_ns: 2 * MIN, factor: 15.0 },
            Injection::PriceJump { symbol: 6, at: Ts(T0 + 50 * MIN), fraction: -0.09 },
            Injection::VolumeSurge { symbol: 9, at: Ts(T0 + 55 * MIN), duration_ns: 2 * MIN, factor: 15.0 },
        ],
        ..Default::default()
    };
    let mut interner = Interner::new();
    let synth = Synth::new(cfg, &mut interner);
    let names = interner.names();
    let mut w = EventWriter::new(std::io::BufWriter::new(std::fs::File::create(path).unwrap()), format);
    for ev in synth.take_while(|e| e.ts.0 < T0 + 60 * MIN) {
        w.write(&ev, &names).unwrap();
    }
    w.flush().unwrap();
}

fn replay(files: &[&Path], extra: &[&str], out: &Path) -> (std::process::Output, serde_json::Value) {
    let summary = out.with_extension("summary.json");
    let mut c = vigil();
    c.arg("replay");
    for f in files {
        c.arg(f);
    }
    c.args(["--alerts-out", out.to_str().unwrap(), "--summary-json", summary.to_str().unwrap(), "--quiet"]).args(extra);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    (o, s)
}

#[test]
fn replay_writes_byte_identical_alerts_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    write_market(&events, OutFormat::Jsonl);
    let mut outputs = Vec::new();
    for threads in ["1", "2", "4"] {
        let out = dir.path().join(format!("alerts-{threads}.jsonl"));
        let (_, s) = replay(&[&events], &["--threads", threads], &out);
        assert_eq!(s["rejected"], 0);
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(!outputs[0].is_empty());
    let text = String::from_utf8(outputs[0].clone()).unwrap();
    let alerts: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The injected surges and the jump are caught, on the right symbols.
    let has = |t: &str, s: &str| alerts.iter().any(|a| a["type"] == t && a["symbols"][0] == s);
    assert!(has("volume_spike", "SYM1-USD") && has("volume_spike", "SYM9-USD") && has("price_anomaly", "SYM6-USD"), "{text}");
    for a in &alerts {
        for k in [
            "alert_id",
            "type",
            "level",
            "risk_score",
            "confidence",
            "ts",
            "window_start",
            "window_end",
            "venue",
            "symbols",
            "accounts",
            "description",
            "evidence",
        ] {
            // The spec: `venue` is absent when the alert is about several.
            let several = k == "venue" && (a["type"] == "cross_venue_manipulation" || a["type"] == "price_discrepancy");
            assert!(several || a.get(k).is_some(), "alert without {k}: {a}");
        }
    }
    assert_eq!(outputs[0], outputs[1], "1 and 2 threads differ");
    assert_eq!(outputs[0], outputs[2], "1 and 4 threads differ");
    // And a second run of the same input is the same again.
    let again = dir.path().join("again.jsonl");
    replay(&[&events], &["--threads", "2"], &again);
    assert_eq!(std::fs::read(&again).unwrap(), outputs[0]);
}

#[test]
fn csv_gzip_and_jsonl_of_one_market_give_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("m.jsonl");
    let csv = dir.path().join("m.csv");
    write_market(&jsonl, OutFormat::Jsonl);
    write_market(&csv, OutFormat::Csv);
    let gz = dir.path().join("m.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    std::io::copy(&mut std::fs::File::open(&csv).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    let (_, sa) = replay(&[&jsonl], &[], &a);
    let (_, sb) = replay(&[&csv], &[], &b);
    let (_, sc) = replay(&[&gz], &[], &c);
    assert_eq!(sa["events"], sb["events"]);
    assert_eq!(sb["events"], sc["events"]);
    assert!(sa["events"].as_u64().unwrap() > 50_000);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(std::fs::read(&b).unwrap(), std::fs::read(&c).unwrap());
}

const GOOD_AND_BAD: &str = r#"{"ts": 1700000000000000000, "type": "account", "account": "A1", "owner": "O1"}
{"ts": 1700000000000000000, "type": "new", "venue": "binance", "symbol": "BTC-USDT", "order_id": "1", "account": "A1", "side": "buy", "price": "50000.5", "qty": "0.25"}
{"ts": 1700000000001000000, "type": "new", "venue": "binance", "symbol": "BTC-USDT", "order_id": "2", "account": "A2", "side": "sell", "price": 50010, "qty": 1
{"ts": 1700000000002000000, "type": "new", "venue": "binance", "symbol": "BTC-USDT", "order_id": "3", "account": "A2", "side": "sell", "price": "50010", "qty": true}
{"ts": 1700000000003000000, "type": "new", "venue": "binance", "symbol": "BTC-USDT", "order_id": "4", "account": "A2", "side": "sell", "price": "50010", "qty": "-3"}
{"ts": "2023-11-14T22:13:20.004Z", "type": "new", "venue": "binance", "symbol": "BTC-USDT", "order_id": "5", "account": "A2", "side": "sell", "price": "50010", "qty": "2"}
{"ts": 1700000000005000000, "type": "teleport", "venue": "binance", "symbol": "BTC-USDT"}
{"ts": 1700000000006000000, "type": "trade", "venue": "binance", "symbol": "BTC-USDT", "trade_id": "T1", "price": "50000.5", "qty": "0.25", "buy_order_id": "1", "sell_order_id": "9", "aggressor": "sell"}
{"ts": 1699999999000000000, "type": "cancel", "venue": "binance", "symbol": "BTC-USDT", "order_id": "5"}
{"ts": 1700000000007000000, "type": "trade", "venue": "binance", "symbol": "BTC-USDT", "trade_id": "T1", "price": "50000.5", "qty": "0.1"}
{"ts": 1700000000008000000, "type": "cancel", "venue": "binance", "symbol": "BTC-USDT", "order_id": "no-such-order"}
{"ts": 1700000000009000000, "type": "quote", "venue": "binance", "symbol": "BTC-USDT", "bid": "50000", "bid_qty": "1", "ask": "50001", "ask_qty": "2"}
{"ts": 1700000000010000000, "type": "amend", "venue": "binance", "symbol": "BTC-USDT", "order_id": "5", "qty": "1.5"}
{"ts": 1700000000011000000, "type": "new", "venue": "binance", "symbol": "BTC-USDT", "order_id": "6", "side": "sell", "price": "1.123456789", "qty": "1"}
"#;

#[test]
fn bad_lines_are_reported_with_line_and_reason_and_good_ones_processed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.jsonl");
    std::fs::write(&input, GOOD_AND_BAD).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let out = dir.path().join("alerts.jsonl");
    let (o, s) = replay(&[&input], &["--rejects", rejects.to_str().unwrap()], &out);
    assert!(o.status.success());
    // Good: lines 1, 2, 6, 8, 11, 12, 13.
    assert_eq!(s["events"], 7, "{s}");
    assert_eq!(s["records"], 14);
    assert_eq!(s["rejected"], 7);
    assert_eq!(s["unknown_cancels"], 1, "the cancel of an unknown order is counted");
    assert_eq!(s["unknown_trade_orders"], 1, "the trade leg naming unknown order 9 is counted");
    let mut r: Vec<serde_json::Value> = std::fs::read_to_string(&rejects).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Rejects are written as found: a duplicate is found after reordering, so sort by line.
    r.sort_by_key(|x| x["line"].as_u64());
    let got: Vec<(u64, String, Option<String>)> =
        r.iter().map(|x| (x["line"].as_u64().unwrap(), x["code"].as_str().unwrap().to_string(), x["field"].as_str().map(String::from))).collect();
    let want = vec![
        (3, "invalid_json".to_string(), None),
        (4, "invalid_field".to_string(), Some("qty".to_string())),
        (5, "invalid_qty".to_string(), Some("qty".to_string())),
        (7, "unknown_type".to_string(), Some("type".to_string())),
        (9, "out_of_order".to_string(), Some("ts".to_string())),
        (10, "duplicate_trade_id".to_string(), Some("trade_id".to_string())),
        (14, "invalid_decimal".to_string(), Some("price".to_string())),
    ];
    assert_eq!(got, want);
    for x in &r {
        assert!(x["file"].as_str().unwrap().ends_with("mixed.jsonl"));
        assert!(!x["reason"].as_str().unwrap().is_empty());
        assert!(!x["raw"].as_str().unwrap().is_empty(), "the rejected record is kept: {x}");
    }
    assert!(r[0]["reason"].as_str().unwrap().contains("truncated"), "{}", r[0]);
    assert!(r[2]["reason"].as_str().unwrap().contains("got -3"), "{}", r[2]);
    assert!(r[3]["reason"].as_str().unwrap().contains("teleport"), "{}", r[3]);
    assert_eq!(s["rejected_by_reason"]["duplicate_trade_id"], 1);

    // The summary on the terminal says the same.
    let o = vigil().args(["replay", input.to_str().unwrap(), "--alerts-out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rejected") && err.contains("out_of_order 1") && err.contains("mixed.jsonl:3"), "{err}");
}

#[test]
fn bad_csv_rows_are_reported_too() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.csv");
    let text = "ts,type,venue,symbol,order_id,account,side,price,qty,trade_id,buy_account,sell_account,buy_order_id,sell_order_id,aggressor,bid,bid_qty,ask,ask_qty,owner\n\
1700000000000000000,new,coinbase,ETH-USD,1,A,buy,2000.5,3,,,,,,,,,,,\n\
1700000000001000000,new,coinbase,ETH-USD,2,A,sideways,2000.5,3,,,,,,,,,,,\n\
1700000000002000000,trade,coinbase,ETH-USD,,,,2000.5,1,X9,A,B,1,,sell,,,,,\n\
1700000000003000000,new,coinbase\n\
not-a-time,cancel,coinbase,ETH-USD,1,,,,,,,,,,,,,,,\n\
1700000000004000000,cancel,coinbase,ETH-USD,1,,,,,,,,,,,,,,,\n";
    std::fs::write(&input, text).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let (_, s) = replay(&[&input], &["--rejects", rejects.to_str().unwrap()], &dir.path().join("a"));
    assert_eq!(s["events"], 3, "{s}");
    let r: Vec<serde_json::Value> = std::fs::read_to_string(&rejects).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(u64, &str, &str)> = r.iter().map(|x| (x["line"].as_u64().unwrap(), x["code"].as_str().unwrap(), x["field"].as_str().unwrap_or(""))).collect();
    assert_eq!(got, vec![(3, "invalid_field", "side"), (5, "missing_field", "symbol"), (6, "invalid_timestamp", "ts")]);
}

#[test]
fn unreadable_input_is_a_clear_error() {
    let o = vigil().args(["replay", "/nonexistent/x.jsonl"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/x.jsonl"));
    let o = vigil().args(["replay", "Cargo.toml"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format"), "{}", String::from_utf8_lossy(&o.stderr));
    // A gzip file cut short: what was read is processed, the error names the file, exit 2.
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("cut.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, GOOD_AND_BAD.repeat(200).as_bytes()).unwrap();
    let bytes = enc.finish().unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    let o = vigil().args(["replay", gz.to_str().unwrap(), "--quiet"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cut.jsonl.gz"), "{}", String::from_utf8_lossy(&o.stderr));
    // Beside a good file, the good file is still read to its end.
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, GOOD_AND_BAD).unwrap();
    let summary = dir.path().join("s.json");
    let o = vigil()
        .args([
            "replay",
            gz.to_str().unwrap(),
            good.to_str().unwrap(),
            "--quiet",
            "--alerts-out",
            dir.path().join("a").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert!(s["read_error"].as_str().unwrap().contains("cut.jsonl.gz"));
    assert!(s["events"].as_u64().unwrap() > 7, "the good file's events and what was read of the cut one: {s}");
}

#[test]
fn config_default_is_the_whole_commented_configuration() {
    let o = vigil().args(["config", "default"]).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("# Volume spike") && text.contains("multiplier = 3.0") && text.contains("absolute_move = 0.15"));
    let dir = tempfile::tempdir().unwrap();
    let p: PathBuf = dir.path().join("vigil.toml");
    std::fs::write(&p, &text).unwrap();
    assert!(vigil().args(["config", "check", p.to_str().unwrap()]).status().unwrap().success());
    std::fs::write(&p, "[detectors.volume_spike]\nmultiplyer = 2\n").unwrap();
    let o = vigil().args(["config", "check", p.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("multiplyer"));
}

#[test]
fn lobster_replays_with_few_alerts_on_a_normal_day() {
    let Some(dir) = vigil_io::shared_data_dir() else { panic!("shared/data not found: set VIGIL_DATA_DIR") };
    let zip = dir.join("lobster/LOBSTER_SampleFile_AMZN_2012-06-21_5.zip");
    let tmp = tempfile::tempdir().unwrap();
    let (_, s) = replay(&[&zip], &["--format", "lobster"], &tmp.path().join("a.jsonl"));
    assert_eq!(s["rejected"], 0);
    assert!(s["events"].as_u64().unwrap() > 150_000);
    // Seven minutes of 5-10 times the median volume, each 1.5 times the busiest ordinary minute of
    // the half hour before: volume spikes, nothing else.
    assert!(s["alerts"].as_u64().unwrap() <= 8, "{s}");
    assert_eq!(s["alerts_by_type"].as_object().unwrap().keys().collect::<Vec<_>>(), ["volume_spike"], "{s}");
    // Venue health: NASDAQ's traders prefer round lots (multiples of 100 shares), which also
    // makes the first digit 1 far commoner than Benford's law says.
    let h = &s["venue_health"]["nasdaq"];
    assert!(h["trades"].as_u64().unwrap() > 10_000, "{h}");
    assert_eq!(h["clustering"], "round sizes preferred", "{h}");
    assert!(h["round10_ratio"].as_f64().unwrap() > 3.0, "{h}");
    assert!(h["first_digit_share"][0].as_f64().unwrap() > 0.301, "{h}");
}

#[test]
fn simulate_writes_a_labelled_market_that_eval_scores_from_events_or_alerts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let d = dir.to_str().unwrap();
    let small =
        ["--minutes", "3", "--warmup-minutes", "12", "--symbols", "3", "--per-type", "1", "--scenarios", "quote_stuffing,unusual_timing,price_discrepancy"];
    let o = vigil().args(["simulate", "--out", d]).args(small).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["events.jsonl", "events.csv", "labels.jsonl"] {
        assert!(dir.join(f).metadata().unwrap().len() > 0, "{f}");
    }
    let labels = std::fs::read_to_string(dir.join("labels.jsonl")).unwrap();
    assert_eq!(labels.lines().count(), 3, "{labels}");
    // Replaying the events, and scoring the alerts a replay wrote, give the same table.
    let eval = vigil().args(["eval", d, "--format", "json"]).output().unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let alerts = dir.join("alerts.jsonl");
    let (_, _) = replay(&[&dir.join("events.csv")], &[], &alerts);
    let scored = vigil()
        .args(["eval", "--alerts", alerts.to_str().unwrap(), "--labels", dir.join("labels.jsonl").to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&eval.stdout), String::from_utf8_lossy(&scored.stdout));
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(report["labels"], 3);
    let stuffing = report["types"].as_array().unwrap().iter().find(|t| t["type"] == "quote_stuffing").unwrap();
    assert_eq!(stuffing["detected"], 1, "{report}");
    // A floor the run cannot meet fails it.
    let o = vigil().args(["eval", d, "--min-f1", "1.01"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn list_patterns_prints_the_catalogue_in_every_format() {
    let out = vigil().args(["list-patterns", "--format", "csv"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["name", "description", "indicators", "default_risk", "detector", "basis"]);
    let names: Vec<String> = r.records().map(|x| x.unwrap()[0].to_string()).collect();
    for t in ["spoofing", "layering", "wash_trading", "pump_and_dump", "quote_stuffing", "momentum_ignition", "marking_the_close", "cross_venue_manipulation"] {
        assert!(names.iter().any(|n| n == t), "{t} in {names:?}");
    }
    let out = vigil().args(["list-patterns", "--format", "json"]).output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), names.len());
    assert!(lines.iter().all(|l| l["basis"].as_str().is_some_and(|b| !b.is_empty())));
}
