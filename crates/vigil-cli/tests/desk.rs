//! The desk on a local store, through the `vigil` command: alerts replayed into the store once,
//! users, triage with four eyes, and `vigil audit verify` on a sound and a tampered log — on a
//! SQLite file and on a real PostgreSQL server.

use std::process::{Command, Output};
use vigil_store::testing::TempPostgres;

fn vigil(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .args(["--db", db, "--server", "http://127.0.0.1:9"])
        .env("VIGIL_PASSWORD", "correct horse battery")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn ok(db: &str, args: &[&str]) -> String {
    let o = vigil(db, args);
    assert!(o.status.success(), "vigil {args:?}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn day(db: &str, dir: &std::path::Path) {
    let sim = dir.join("sim");
    let sim = sim.to_str().unwrap();
    ok(db, &["simulate", "--minutes", "3", "--warmup-minutes", "10", "--symbols", "3", "--seed", "5", "--out", sim]);
    let events = format!("{sim}/events.jsonl");
    let alerts = dir.join("alerts.jsonl");
    ok(db, &["replay", &events, "--alerts-out", alerts.to_str().unwrap(), "--store", "-q"]);
    let raised = std::fs::read_to_string(&alerts).unwrap().lines().count();
    assert!(raised > 2, "{raised}");
    // Replayed again (a restart from the start): nothing stored twice.
    ok(db, &["replay", &events, "--alerts-out", alerts.to_str().unwrap(), "--store", "-q"]);
    let listed = ok(db, &["alerts", "--limit", "100000", "--format", "csv"]);
    assert_eq!(listed.lines().count() - 1, raised, "{listed}");
    // No default account: the first user is an admin, made by a command.
    assert!(!vigil(db, &["user", "add", "ann", "--role", "analyst"]).status.success());
    ok(db, &["user", "add", "root", "--role", "admin"]);
    ok(db, &["user", "add", "ann", "--role", "analyst", "--as", "root"]);
    ok(db, &["user", "add", "sue", "--role", "supervisor", "--as", "root"]);
    let first = listed.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let out = ok(db, &["resolve", "--alert-id", &first, "--resolution", "false_positive", "--as", "ann", "--reason", "a maker re-quoting"]);
    let resolved = ok(db, &["alerts", "--status", "false_positive", "--format", "json"]);
    if out.contains("proposal") {
        // A critical alert: the supervisor approves.
        let id = out.split("proposal ").nth(1).unwrap().split(' ').next().unwrap();
        assert!(resolved.is_empty());
        assert!(!vigil(db, &["approve", id, "--as", "ann"]).status.success(), "an analyst approves nothing");
        ok(db, &["approve", id, "--as", "sue"]);
    } else {
        assert!(resolved.contains(&first), "{resolved}");
    }
    // A case from two alerts: evidence attached and read back, a violation closed by four eyes.
    let second = listed.lines().nth(2).unwrap().split(',').next().unwrap().to_string();
    let out = ok(db, &["cases", "open", "--alert-id", &first, &second, "--title", "layering, account t1", "--as", "ann"]);
    let case = out.split_whitespace().nth(1).unwrap().to_string();
    ok(db, &["cases", "assign", &case, "--to", "ann", "--as", "ann"]);
    ok(db, &["cases", "comment", &case, "--text", "cancels follow each fill", "--as", "ann"]);
    let file = dir.join("orders.csv");
    std::fs::write(&file, "order_id,ts\n1,2\n").unwrap();
    let out = ok(db, &["cases", "attach", &case, file.to_str().unwrap(), "--as", "ann"]);
    let note = out.split("evidence ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let back = dir.join("back.csv");
    ok(db, &["cases", "evidence", &note, "--out", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&file).unwrap());
    ok(db, &["cases", "investigate", &case, "--as", "ann"]);
    let out = ok(db, &["cases", "close", &case, "--outcome", "violation", "--reason", "spoofing", "--as", "ann"]);
    let p = out.split("proposal ").nth(1).unwrap().split(',').next().unwrap().to_string();
    let shown = ok(db, &["cases", "show", &case, "--format", "json"]);
    assert!(shown.contains("\"status\":\"investigating\""), "{shown}");
    assert!(!vigil(db, &["approve", &p, "--as", "ann"]).status.success(), "not by the proposer");
    ok(db, &["approve", &p, "--as", "sue"]);
    let listed = ok(db, &["cases", "list", "--status", "closed", "--format", "csv"]);
    assert!(listed.lines().nth(1).unwrap().starts_with(&format!("{case},closed,violation,ann")), "{listed}");
    let shown = ok(db, &["cases", "show", &case]);
    assert!(shown.contains("orders.csv") && shown.contains("cancels follow each fill"), "{shown}");
    let o = vigil(db, &["cases", "link", &case, "--alert-id", &first, "--as", "ann"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("closed"), "a closed case takes no alerts");
    // An allow-list: an analyst cannot add one; the supervisor's rule is listed and revoked.
    assert!(!vigil(db, &["rules", "add", "--account", "t1", "--reason", "maker", "--as", "ann"]).status.success());
    let out = ok(db, &["rules", "add", "--account", "t1", "--type", "spoofing", "--reason", "registered maker", "--days", "30", "--as", "sue"]);
    let rule = out.split_whitespace().nth(1).unwrap().to_string();
    assert!(ok(db, &["rules", "list", "--format", "csv"]).contains(&format!("{rule},in force,spoofing,t1")));
    ok(db, &["rules", "revoke", &rule, "--reason", "no longer a maker", "--as", "sue"]);
    assert!(ok(db, &["rules", "list", "--format", "csv"]).contains(&format!("{rule},revoked")));
    let v = ok(db, &["audit", "verify"]);
    assert!(v.starts_with("audit log intact:"), "{v}");
    let log = ok(db, &["audit", "log", "--limit", "100000", "--format", "json"]);
    assert!(log.contains("\"action\":\"alert.false_positive\""), "{log}");
    assert_eq!(log.lines().filter(|l| l.contains("alert.raise")).count(), raised);
}

fn tamper(db: &str) {
    let mut s = vigil_store::Store::open(db).unwrap();
    s.execute_raw("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", &[]).unwrap();
    let o = vigil(db, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken at entry 3"), "{err}");
}

#[test]
fn a_day_at_the_desk_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigil.db");
    day(db.to_str().unwrap(), dir.path());
    tamper(db.to_str().unwrap());
}

#[test]
fn a_day_at_the_desk_on_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let pg = TempPostgres::start();
    let db = pg.database("desk");
    day(&db, dir.path());
    tamper(&db);
}
