//! `vigil start --source <venue>` on a local exchange replaying recorded traffic, `vigil replay
//! --format capture|tardis`, and `vigil convert`, end to end through the binary.

use std::process::Command;
use vigil_feed::replay::{ReplayServer, ServerOptions};

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

fn shared(rel: &str) -> String {
    vigil_io::shared_data_dir().expect("shared/data").join(rel).to_string_lossy().into_owned()
}

#[test]
fn start_runs_a_venue_feed_live_through_a_dropped_connection() {
    let dir = tempfile::tempdir().unwrap();
    let lines = vigil_feed::capture::read(&shared("exchange-ws/KRAKEN.ws.50.0")).unwrap();
    let server = ReplayServer::start("kraken", lines, ServerOptions { speed: 20.0, drop_after: Some(1500), lost_on_drop: 300 }).unwrap();
    let comp = dir.path().join("completeness.jsonl");
    let alerts = dir.path().join("alerts.jsonl");
    let out = vigil()
        .args(["start", "--source", "kraken", "--symbols", "BTC-CHF,ETH-CHF", "--url", &server.ws_url(), "--duration", "30", "--max-attempts", "2"])
        .args(["--max-skew", "100000d", "--completeness", comp.to_str().unwrap(), "--alerts-out", alerts.to_str().unwrap()])
        .args(["--store", "--db", dir.path().join("vigil.db").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Two connections: the one the server cut and the one that recovered; then the server is gone
    // and the attempts run out long before the duration.
    assert!(err.contains("feed: 2 connections"), "{err}");
    assert!(err.contains(" 0 unreadable"), "{err}");
    assert!(err.contains("rejected                   0"), "{err}");
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&comp).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(records.iter().any(|r| r["kind"] == "reconnect" && r["venue"] == "kraken"), "{records:?}");
    assert!(!records.iter().any(|r| r["kind"] == "checksum_mismatch"), "the recovered books pass Kraken's checksums: {records:?}");
    assert!(alerts.exists());
    assert!(err.contains("stored 0 new alerts in"), "{err}");
    assert!(err.contains("checksums") && err.contains("failed"), "the run reports what the venue sent: {err}");
}

#[test]
fn replay_and_convert_read_the_formats_people_have() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = vigil()
        .args(["replay", "--format", "capture", &shared("exchange-ws/COINBASE.ws.28.0"), "--quiet", "--alerts-out"])
        .arg(dir.path().join("a.jsonl"))
        .arg("--summary-json")
        .arg(&summary)
        .arg("--completeness")
        .arg(dir.path().join("c.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["rejected"], 0);
    // The capture's own receive times checked as live: complete (no gap, no silence past 30 s).
    let records = std::fs::read_to_string(dir.path().join("c.jsonl")).unwrap();
    assert!(records.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"] == "clock_skew"), "{records}");
    assert!(s["events"].as_u64().unwrap() > 9000, "{s}");

    let csv = dir.path().join("trades.csv.gz");
    let out = vigil()
        .args(["convert", "--format", "tardis", &shared("tardis/binance-futures_trades_BTCUSDT_2020-02-22_sample.csv"), "-o"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("converted 9999 events"));
    // The converted file is the spec's CSV and replays as such, event for event.
    let out =
        vigil().args(["replay", "--quiet", "--alerts-out"]).arg(dir.path().join("b.jsonl")).arg("--summary-json").arg(&summary).arg(&csv).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!((s["events"].as_u64(), s["rejected"].as_u64()), (Some(9999), Some(0)), "{s}");

    let out = vigil().args(["replay", "--format", "nonsense", "x.csv"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tardis, binance, ccxt, parquet or capture"));
}
