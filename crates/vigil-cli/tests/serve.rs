//! `vigil serve` as a desk uses it: a new user's day through the running process, and a crash
//! (SIGKILL in the middle of ingesting) after which nothing stored is lost or stored twice.

mod common;

use common::serve;
use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

/// `vigil`, as the admin whose token `admin` kept beside the store (the serve takes a token).
fn vigil(db: &str, server: &str, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
    c.args(args).args(["--db", db, "--server", server]).env("VIGIL_PASSWORD", "correct horse battery").env("NO_COLOR", "1");
    if let Ok(t) = std::fs::read_to_string(format!("{db}.token")) {
        c.env("VIGIL_TOKEN", t.trim());
    }
    c.output().unwrap()
}

/// Makes the admin `root` and keeps its token beside the store for `vigil`.
fn admin(db: &str) {
    ok(db, "", &["user", "add", "root", "--role", "admin"]);
    let t = ok(db, "", &["user", "token", "root", "--as", "root"]);
    std::fs::write(format!("{db}.token"), t.trim()).unwrap();
}

fn ok(db: &str, server: &str, args: &[&str]) -> String {
    let o = vigil(db, server, args);
    assert!(o.status.success(), "vigil {args:?}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn ids(csv: &str) -> Vec<String> {
    csv.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect()
}

#[test]
fn a_new_users_day_through_vigil_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigil.db");
    let db = db.to_str().unwrap();
    admin(db);
    let (mut server, url) = serve(db);
    let status = ok(db, &url, &["status", "--format", "json"]);
    assert!(status.contains("\"serve\":true") && status.contains("\"running\":false"), "{status}");
    // Without a token the serve refuses, and says how to get one.
    let o = Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--db", db, "--server", &url]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("VIGIL_TOKEN"), "{}", String::from_utf8_lossy(&o.stderr));
    ok(db, &url, &["user", "add", "ann", "--role", "analyst", "--as", "root"]);
    ok(db, &url, &["user", "add", "sue", "--role", "supervisor", "--as", "root"]);
    // Monitor two symbols for a few seconds (the simulated source at 60x): alerts appear.
    let raised = ok(db, &url, &["start", "--symbols", "BTC-USD,ETH-USD", "--duration", "4", "--speed", "60", "--format", "csv"]);
    let raised = ids(&raised);
    assert!(raised.len() >= 3, "{raised:?}");
    let status = ok(db, &url, &["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["alerts_stored"].as_u64(), Some(raised.len() as u64), "{status}");
    assert_eq!(v["session"]["symbols"], serde_json::json!(["BTC-USD", "ETH-USD"]));
    let stored = ids(&ok(db, &url, &["alerts", "--limit", "1000", "--format", "csv"]));
    assert_eq!(stored.iter().collect::<BTreeSet<_>>(), raised.iter().collect::<BTreeSet<_>>());
    let summary = ok(db, &url, &["summary", "--format", "json"]);
    assert!(summary.contains("\"recommendations\""), "{summary}");
    // Triage one through the serve's API with ann's token; the store records ann.
    let token = ok(db, &url, &["user", "token", "ann", "--as", "ann"]).trim().to_string();
    let with_token = |args: &[&str], t: &str| {
        Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).args(["--db", db, "--server", &url]).env("VIGIL_TOKEN", t).output().unwrap()
    };
    let o = with_token(&["resolve", "--alert-id", &raised[0], "--resolution", "resolved", "--reason", "reviewed"], &token);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("resolved") || out.contains("proposal"), "{out}");
    let log = ok(db, &url, &["audit", "log", "--limit", "100000", "--format", "json"]);
    assert!(log.lines().any(|l| l.contains(&raised[0]) && l.contains("\"actor\":\"ann\"")), "{log}");
    // A revoked token is refused; so is none.
    let o = with_token(&["user", "revoke-token", "--as", "ann"], &token);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = with_token(&["resolve", "--alert-id", &raised[2], "--resolution", "resolved"], &token);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("401"), "{}", String::from_utf8_lossy(&o.stderr));
    // Open a case from another alert, propose closing it as a violation; a supervisor approves.
    let out = ok(db, &url, &["cases", "open", "--alert-id", &raised[1], "--title", "first case", "--as", "ann"]);
    let case = out.split_whitespace().nth(1).unwrap().to_string();
    ok(db, &url, &["cases", "investigate", &case, "--as", "ann"]);
    let out = ok(db, &url, &["cases", "close", &case, "--outcome", "violation", "--reason", "pattern repeated", "--as", "ann"]);
    let p = out.split("proposal ").nth(1).unwrap().split(',').next().unwrap().to_string();
    ok(db, &url, &["approve", &p, "--as", "sue"]);
    assert!(ok(db, &url, &["cases", "list", "--format", "csv"]).contains(&format!("{case},closed,violation")));
    let v = ok(db, &url, &["audit", "verify"]);
    assert!(v.starts_with("audit log intact:"), "{v}");
    // A long session is ended by vigil stop; a second one is refused while it runs.
    let long = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["start", "--symbols", "CCC-USD", "--duration", "600", "--db", db, "--server", &url])
        .env("VIGIL_TOKEN", std::fs::read_to_string(format!("{db}.token")).unwrap().trim())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = false;
    for _ in 0..500 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        running = ok(db, &url, &["status", "--format", "json"]).contains("\"running\":true");
        if running {
            break;
        }
    }
    assert!(running, "the session started");
    let o = vigil(db, &url, &["start", "--symbols", "DDD-USD", "--duration", "1"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("a session is running"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ok(db, &url, &["stop"]).trim(), "session stopping");
    let mut long = long;
    assert!(long.wait().unwrap().success(), "the stopped session's start returns (it would run 600 s)");
    let v: serde_json::Value = serde_json::from_str(&ok(db, &url, &["status", "--format", "json"])).unwrap();
    assert_eq!(v["running"], false);
    let ran_s = (v["session"]["ended_at"].as_i64().unwrap() - v["session"]["started_at"].as_i64().unwrap()) / 1_000_000_000;
    assert!(ran_s < 300, "stopped after {ran_s} s of the 600 asked");
    server.kill().unwrap();
    server.wait().unwrap();
    // With no serve, status says so and still reads the store.
    let status = ok(db, &url, &["status", "--format", "json"]);
    assert!(!status.contains("\"serve\"") && status.contains(&format!("\"alerts\":{}", raised.len())), "{status}");
}

#[test]
fn sigkill_while_ingesting_then_restart_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["start", "--symbols", "AAA-USD,BBB-USD", "--duration", "6", "--speed", "60", "--seed", "3", "--format", "csv"];
    // The reference: the same session, uninterrupted, with no serve (in-process).
    let ref_db = dir.path().join("ref.db");
    let nobody = "http://127.0.0.1:9";
    let reference: BTreeSet<String> = ids(&ok(ref_db.to_str().unwrap(), nobody, &args)).into_iter().collect();
    assert!(reference.len() >= 3, "{reference:?}");
    // The same session on a serve, killed with SIGKILL once some alerts are stored.
    let db = dir.path().join("vigil.db");
    let db = db.to_str().unwrap();
    admin(db);
    let (mut server, url) = serve(db);
    let client = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .args(["--db", db, "--server", &url])
        .env("VIGIL_TOKEN", std::fs::read_to_string(format!("{db}.token")).unwrap().trim())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stored = 0;
    for _ in 0..600 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let s: serde_json::Value = serde_json::from_str(&ok(db, &url, &["status", "--format", "json"])).unwrap();
        stored = s["alerts_stored"].as_u64().unwrap_or(0);
        if stored >= 1 && s["running"].as_bool() == Some(true) {
            break;
        }
    }
    assert!(stored >= 1, "nothing stored before the kill");
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let mut client = client;
    let _ = client.wait();
    let before: BTreeSet<String> = ids(&ok(db, nobody, &["alerts", "--limit", "100000", "--format", "csv"])).into_iter().collect();
    assert!(!before.is_empty() && before.len() < reference.len(), "killed mid-way: {} of {}", before.len(), reference.len());
    assert!(before.is_subset(&reference));
    // Restart and run the session again: the store ends with exactly the reference's alerts.
    let (mut server, url) = serve(db);
    ok(db, &url, &args);
    server.kill().unwrap();
    server.wait().unwrap();
    let after = ids(&ok(db, nobody, &["alerts", "--limit", "100000", "--format", "csv"]));
    assert_eq!(after.len(), after.iter().collect::<BTreeSet<_>>().len(), "no alert twice");
    assert_eq!(after.into_iter().collect::<BTreeSet<_>>(), reference);
    let log = ok(db, nobody, &["audit", "log", "--limit", "100000", "--format", "json"]);
    assert_eq!(log.lines().filter(|l| l.contains("alert.raise")).count(), reference.len(), "each alert raised once in the log");
    assert!(ok(db, nobody, &["audit", "verify"]).starts_with("audit log intact:"));
}
