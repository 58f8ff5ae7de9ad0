//! From simulated spoofing to a filed report, end to end through the `vigil` command: the
//! simulator's spoofing is replayed into the store, an alert becomes a case, and the case's STOR and
//! SAR (JSON, HTML, PDF) carry the real orders and accounts of the event file; the PDF renders
//! (pdftoppm to PNG, as Debian's poppler-utils does it); the export is in the audit log with the
//! file's SHA-256; the serve offers the same downloads to a user with a token.

mod common;

use std::collections::BTreeMap as HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};

fn vigil(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .args(["--db", db, "--server", "http://127.0.0.1:9"])
        .env("VIGIL_PASSWORD", "correct horse battery")
        .env_remove("VIGIL_REFERENCE")
        .output()
        .unwrap()
}

fn ok(db: &str, args: &[&str]) -> String {
    let o = vigil(db, args);
    assert!(o.status.success(), "vigil {args:?}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Every order's account and every trade's accounts in an event file, by id.
fn index(events: &Path) -> (HashMap<String, String>, HashMap<String, (String, String)>) {
    let mut orders = HashMap::new();
    let mut trades = HashMap::new();
    for line in std::fs::read_to_string(events).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        match v["type"].as_str() {
            Some("new") => {
                orders.insert(s("order_id"), s("account"));
            }
            Some("trade") => {
                trades.insert(s("trade_id"), (s("buy_account"), s("sell_account")));
            }
            _ => {}
        }
    }
    (orders, trades)
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// Renders a PDF's first page to PNG with pdftoppm and returns the PNG's size; extracts its text.
fn render(pdf: &Path) -> (u64, String) {
    let prefix = pdf.with_extension("");
    let o = Command::new("pdftoppm").args(["-png", "-r", "60", "-f", "1", "-l", "1"]).arg(pdf).arg(&prefix).output();
    let o = o.unwrap_or_else(|e| panic!("pdftoppm: {e} (Debian's poppler-utils; .ci/run installs it)"));
    assert!(o.status.success(), "pdftoppm refused {}: {}", pdf.display(), String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read_dir(pdf.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "png") && p.file_name().unwrap().to_string_lossy().starts_with(&*prefix.file_name().unwrap().to_string_lossy())
        })
        .expect("a PNG of the first page");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{}", png.display());
    let text = Command::new("pdftotext").arg(pdf).arg("-").output().expect("pdftotext");
    assert!(text.status.success());
    (bytes.len() as u64, String::from_utf8_lossy(&text.stdout).into_owned())
}

/// A GET on the serve, with a token; returns the status, the content type and the body.
fn get(url: &str, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ty = head.lines().find_map(|l| l.split_once(": ").filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v)).unwrap_or("").to_string();
    (code, ty, raw[split + 4..].to_vec())
}

#[test]
fn simulated_spoofing_to_alert_to_case_to_stor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("vigil.db");
    let db = db.to_str().unwrap();
    let sim = d.join("sim");
    ok(
        db,
        &["simulate", "--minutes", "4", "--warmup-minutes", "10", "--symbols", "2", "--scenarios", "spoofing", "--seed", "3", "--out", sim.to_str().unwrap()],
    );
    let events = sim.join("events.jsonl");
    let ev = events.to_str().unwrap();
    let alerts = d.join("alerts.jsonl");
    ok(db, &["replay", ev, "--alerts-out", alerts.to_str().unwrap(), "--store", "-q"]);
    let alert: serde_json::Value = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|a| a["type"] == "spoofing")
        .expect("the simulated spoofing is caught");
    let id = alert["alert_id"].as_str().unwrap();
    let spoofer = alert["accounts"][0].as_str().unwrap();
    ok(db, &["user", "add", "root", "--role", "admin"]);
    ok(db, &["user", "add", "ann", "--role", "analyst", "--as", "root"]);
    ok(db, &["cases", "open", "--alert-id", id, "--title", "spoofing around genuine fills", "--as", "ann"]);
    ok(db, &["cases", "comment", "1", "--text", "the large orders never trade", "--as", "ann"]);
    let exhibit = d.join("exhibit.csv");
    std::fs::write(&exhibit, "order,qty\n1,2\n").unwrap();
    ok(db, &["cases", "attach", "1", exhibit.to_str().unwrap(), "--as", "ann"]);

    // No one unidentified exports a report.
    assert!(!vigil(db, &["report", "stor", "--case", "1", "--events", ev]).status.success());
    // The STOR as JSON: the case's real orders, from the event file.
    let json = ok(db, &["report", "stor", "--case", "1", "--events", ev, "--as", "ann"]);
    let stor: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (orders, trades) = index(&events);
    let records = stor["orders_and_transactions"]["records"].as_array().unwrap();
    assert!(records.len() >= 3, "{json}");
    for r in records {
        let (kind, rid, acct) = (r["kind"].as_str().unwrap(), r["id"].as_str().unwrap(), r["account"].as_str().unwrap_or(""));
        match kind {
            "trade" => {
                let (b, s) = &trades[rid];
                assert!(acct == b || acct == s, "trade {rid} is not {acct}'s");
            }
            _ => assert_eq!(orders.get(rid).map(String::as_str), Some(acct), "{kind} of order {rid}"),
        }
    }
    // The spoof orders the evidence measured are there, placed by the alerted account and cancelled.
    let sizes: Vec<f64> = alert["evidence"]["order_sizes"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    for size in &sizes {
        assert!(
            records.iter().any(|r| r["kind"] == "order" && r["account"] == spoofer && r["qty"].as_str().unwrap().parse::<f64>().unwrap() == *size),
            "no order of {size} by {spoofer}: {json}"
        );
    }
    assert!(records.iter().any(|r| r["kind"] == "cancel" && r["account"] == spoofer && r["key"] == true), "{json}");
    // The opposite-side fill the evidence names, whichever account of the owner made it.
    assert!(records.iter().any(|r| r["kind"] == "trade" && r["key"] == true), "{json}");
    let persons: Vec<&str> = stor["persons"].as_array().unwrap().iter().map(|p| p["account"].as_str().unwrap()).collect();
    assert_eq!(persons[0], spoofer);
    assert!(stor["persons"][0]["owner"].is_string());
    assert_eq!(stor["suspicion"]["alerts"][0]["alert_id"], id);
    assert_eq!(stor["suspicion"]["indicators"][0]["code"], "A(f)");
    assert_eq!(stor["attachments"][0]["name"], "exhibit.csv");
    assert_eq!(stor["additional"]["comments"][0]["text"], "the large orders never trade");
    let missing = stor["missing"].as_array().unwrap();
    assert!(missing.iter().any(|m| m.as_str().unwrap().contains("[submitter] entity_name")), "{missing:?}");

    // With a reference file and an edited narrative, the completeness list shrinks to nothing.
    let mut reference = String::from(
        "[submitter]\nentity_name = \"Example Exchange\"\nentity_lei = \"5493001KJTIIGC8Y1R12\"\nentity_type = \"market operator\"\nentity_address = \"1 Market St\"\nperson_name = \"A. Officer\"\nperson_position = \"Head of Surveillance\"\nemail = \"s@example.com\"\nphone = \"+1 555 0100\"\n",
    );
    for p in &persons {
        reference.push_str(&format!("\n[accounts.{p}]\nname = \"Person {p}\"\nbirth_date = \"1980-01-01\"\nnational_id = \"ID-{p}\"\naddress = \"1 Road\"\n"));
    }
    for i in stor["orders_and_transactions"]["instruments"].as_array().unwrap() {
        reference.push_str(&format!("\n[instruments.{}]\nidentifier = \"XS0000000001\"\n", i["symbol"].as_str().unwrap()));
    }
    let reference_file = d.join("reference.toml");
    std::fs::write(&reference_file, &reference).unwrap();
    let draft = ok(db, &["report", "narrative", "--case", "1", "--events", ev]);
    assert!(draft.contains(spoofer) && draft.contains("Annex I"), "{draft}");
    let edited = d.join("narrative.txt");
    std::fs::write(&edited, format!("{draft}\nReviewed: the pattern repeats across the session.\n")).unwrap();
    ok(db, &["report", "narrative", "--case", "1", "--set", edited.to_str().unwrap(), "--as", "ann"]);
    let json = ok(db, &["report", "stor", "--case", "1", "--events", ev, "--reference", reference_file.to_str().unwrap(), "--as", "ann"]);
    let full: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(full["missing"], serde_json::json!([]), "{json}");
    assert!(full["suspicion"]["narrative"]["text"].as_str().unwrap().ends_with("Reviewed: the pattern repeats across the session."));
    assert_eq!(full["suspicion"]["narrative"]["reviewed"], true);
    // A bad reference file is named with the line and field.
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "[submitter]\nentity_nme = \"x\"\n").unwrap();
    let o = vigil(db, &["report", "stor", "--case", "1", "--reference", bad.to_str().unwrap(), "--as", "ann"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("bad.toml") && err.contains("entity_nme") && err.contains("line 2"), "{err}");

    // HTML and PDF of the same report; the PDF renders and holds the same orders.
    let html = ok(db, &["report", "stor", "--case", "1", "--events", ev, "--format", "html", "--as", "ann"]);
    let first_order = records.iter().find(|r| r["kind"] == "order").unwrap()["id"].as_str().unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains(spoofer) && html.contains(first_order) && html.contains("Section 6"));
    let pdf = d.join("stor.pdf");
    ok(
        db,
        &[
            "report",
            "stor",
            "--case",
            "1",
            "--events",
            ev,
            "--format",
            "pdf",
            "--out",
            pdf.to_str().unwrap(),
            "--reference",
            reference_file.to_str().unwrap(),
            "--as",
            "ann",
        ],
    );
    let (png, text) = render(&pdf);
    assert!(png > 5_000, "a first page of {png} bytes is blank");
    for needle in [spoofer, first_order, "Section 2", "Example Exchange"] {
        assert!(text.contains(needle), "the PDF's text lacks {needle:?}");
    }
    // The export is in the audit log, with the file's hash.
    let mut store = vigil_store::Store::open(db).unwrap();
    let log = store.audit_of("case", "1").unwrap();
    let pdf_entry = log.iter().rev().find(|e| e.action == "report.stor").unwrap();
    assert!(pdf_entry.details.contains(&sha256_hex(&pdf)) && pdf_entry.details.contains("\"pdf\"") && pdf_entry.actor == "ann", "{}", pdf_entry.details);
    assert!(store.audit_verify().unwrap().failure.is_none());

    // The SAR from the same case.
    let sar: serde_json::Value = serde_json::from_str(&ok(db, &["report", "sar", "--case", "1", "--events", ev, "--as", "ann"])).unwrap();
    assert_eq!(sar["activity"]["categories"][0]["label"], "Market manipulation");
    let amount = sar["activity"]["amount_involved"].as_str().unwrap();
    assert!(amount.split(' ').next().unwrap().parse::<f64>().unwrap() > 0.0 && amount.ends_with(" USD"), "{amount}");
    assert_eq!(sar["subjects"][0]["account"], spoofer);
    let sar_pdf = d.join("sar.pdf");
    ok(db, &["report", "sar", "--case", "1", "--format", "pdf", "--out", sar_pdf.to_str().unwrap(), "--as", "ann"]);
    assert!(render(&sar_pdf).1.contains("Part V - Narrative"));

    // The integrity report of the alerts' day counts them all.
    let day = &alert["ts"].as_i64().map(|t| vigil_core::Ts(t).to_string()).unwrap()[..10];
    assert!(!vigil(db, &["report", "integrity", "--from", day, "--to", day]).status.success(), "it ranks accounts: who asks?");
    let integ: serde_json::Value = serde_json::from_str(&ok(db, &["report", "integrity", "--from", day, "--to", day, "--as", "ann"])).unwrap();
    let raised = std::fs::read_to_string(&alerts).unwrap().lines().count();
    assert_eq!(integ["alerts"]["total"].as_u64(), Some(raised as u64));
    assert_eq!(integ["cases"]["opened"].as_u64(), Some(0), "the case was opened today, not on the alerts' day");
    for bad in ["2026-02-30", "20260105"] {
        let o = vigil(db, &["report", "integrity", "--from", bad, "--to", day, "--as", "ann"]);
        assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--from"), "{bad}");
    }
    let ipdf = d.join("integrity.pdf");
    ok(db, &["report", "integrity", "--from", day, "--to", day, "--format", "pdf", "--out", ipdf.to_str().unwrap(), "--as", "ann"]);
    assert!(render(&ipdf).1.contains("Compliance metrics"));
    let entry = vigil_store::Store::open(db).unwrap().audit_entries(0, 100_000).unwrap().into_iter().rev().find(|e| e.action == "report.integrity").unwrap();
    assert!(entry.details.contains(&sha256_hex(&ipdf)) && entry.object_id.contains(day), "{entry:?}");

    // The serve's downloads: a token is needed, the parameters are checked, the PDF is the same report.
    let token = ok(db, &["user", "token", "ann", "--as", "ann"]).trim().to_string();
    let (mut child, url) = common::serve(db);
    let (code, _, _) = get(&url, "/api/cases/1/report?format=pdf", None);
    assert_eq!(code, 401);
    let (code, _, body) = get(&url, "/api/cases/1/report?format=xml", Some(&token));
    assert!(code == 400 && String::from_utf8_lossy(&body).contains("format"), "{code}");
    let (code, _, _) = get(&url, "/api/cases/99/report", Some(&token));
    assert_eq!(code, 404);
    let (code, ty, body) = get(&url, "/api/cases/1/report?kind=stor&format=pdf", Some(&token));
    assert_eq!((code, ty.as_str()), (200, "application/pdf"));
    let served = d.join("served.pdf");
    std::fs::write(&served, &body).unwrap();
    assert!(render(&served).1.contains(spoofer));
    let (code, ty, body) = get(&url, &format!("/api/reports/integrity?from={day}T00%3A00%3A00%2B00%3A00&to={day}&format=html"), Some(&token));
    assert!(code == 200 && ty.starts_with("text/html") && String::from_utf8_lossy(&body).contains("Market integrity report"), "{code}");
    // Scoped to a symbol that is not there: an empty report, not an error.
    let (code, _, body) = get(&url, &format!("/api/reports/integrity?from={day}&to={day}&symbol=NO%2DSUCH&venue="), Some(&token));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(code == 200 && v["alerts"]["total"] == 0 && v["symbol"] == "NO-SUCH" && v["venue"].is_null(), "{v}");
    let (code, _, body) = get(&url, &format!("/api/reports/integrity?from={day}"), Some(&token));
    assert!(code == 400 && String::from_utf8_lossy(&body).contains("to:"), "{code}");
    let _ = child.kill();
    let _ = child.wait();
}
