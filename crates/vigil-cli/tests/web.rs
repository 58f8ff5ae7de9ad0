//! The HTTP API and the dashboard: every route called as every role and as nobody against the
//! policy table below (the spec: a change of who may call what must change this table too), the
//! OpenAPI document checked by an independent validator, server-sent events, metrics, bad input,
//! and the desk's routine in headless Chromium.

mod common;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

/// One test at a time: each runs a serve and a simulated market, and the timings a desk sees
/// (the demo's first minute, an injected scenario caught) are not measured on a machine shared
/// with four other markets.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The wall clock, for the tests' deadlines.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Who may call what: `public`, `user` (any role), `supervisor`, `lead` (supervisor or admin),
/// `admin`.
const POLICY: &[(&str, &str, &str)] = &[
    ("GET", "/api/health", "public"),
    ("GET", "/api/openapi.json", "public"),
    ("POST", "/api/login", "public"),
    ("GET", "/login", "public"),
    ("POST", "/login", "public"),
    ("GET", "/assets/{file}", "public"),
    ("POST", "/api/logout", "user"),
    ("GET", "/api/me", "user"),
    ("GET", "/api/status", "user"),
    ("GET", "/api/summary", "user"),
    ("GET", "/api/session", "user"),
    ("GET", "/api/dashboard", "user"),
    ("GET", "/api/alerts", "user"),
    ("GET", "/api/alerts/{id}", "user"),
    ("GET", "/api/alerts/{id}/market", "user"),
    ("POST", "/api/alerts/{id}/resolve", "user"),
    ("GET", "/api/cases", "user"),
    ("POST", "/api/cases", "user"),
    ("GET", "/api/cases/{id}", "user"),
    ("POST", "/api/cases/{id}/alerts", "user"),
    ("POST", "/api/cases/{id}/assign", "user"),
    ("POST", "/api/cases/{id}/comments", "user"),
    ("POST", "/api/cases/{id}/evidence", "user"),
    ("GET", "/api/cases/{id}/evidence/{note}", "user"),
    ("POST", "/api/cases/{id}/investigate", "user"),
    ("POST", "/api/cases/{id}/close", "user"),
    ("POST", "/api/cases/{id}/reopen", "user"),
    ("POST", "/api/cases/{id}/narrative", "user"),
    ("GET", "/api/cases/{id}/report", "user"),
    ("GET", "/api/reports/integrity", "user"),
    ("GET", "/api/proposals", "user"),
    ("GET", "/api/accounts/{id}", "user"),
    ("GET", "/api/market", "user"),
    ("GET", "/api/market/{symbol}/trades", "user"),
    ("GET", "/api/stream/alerts", "user"),
    ("GET", "/api/stream/trades", "user"),
    ("GET", "/api/patterns", "user"),
    ("GET", "/api/config", "user"),
    ("GET", "/api/rules", "user"),
    ("GET", "/api/audit", "user"),
    ("GET", "/api/audit/verify", "user"),
    ("POST", "/api/simulation/inject", "user"),
    ("POST", "/api/tokens", "user"),
    ("POST", "/api/tokens/revoke", "user"),
    ("GET", "/metrics", "user"),
    ("POST", "/api/proposals/{id}/decide", "supervisor"),
    ("POST", "/api/rules", "lead"),
    ("POST", "/api/rules/{id}/revoke", "lead"),
    ("GET", "/api/users", "admin"),
    ("POST", "/api/users", "admin"),
    ("POST", "/api/start", "admin"),
    ("POST", "/api/stop", "admin"),
    ("POST", "/api/v1/events", "admin"),
    ("GET", "/", "user"),
    ("GET", "/trades", "user"),
    ("GET", "/alerts", "user"),
    ("GET", "/alerts/{id}", "user"),
    ("GET", "/cases", "user"),
    ("GET", "/cases/{id}", "user"),
    ("GET", "/accounts/{id}", "user"),
    ("GET", "/simulation", "user"),
    ("GET", "/settings", "user"),
];

fn allowed(access: &str, role: Option<&str>) -> bool {
    match (access, role) {
        ("public", _) => true,
        (_, None) => false,
        ("user", Some(_)) => true,
        ("supervisor", Some(r)) => r == "supervisor",
        ("lead", Some(r)) => r == "supervisor" || r == "admin",
        ("admin", Some(r)) => r == "admin",
        _ => false,
    }
}

/// One HTTP/1.1 exchange on a fresh connection: status, headers (lower-case names), body. A
/// stream's answer is read up to its headers only.
fn call(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A body refused by its length may be cut short by the answer.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let mut end = None;
    loop {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if end.is_none() {
            end = raw.windows(4).position(|w| w == b"\r\n\r\n");
        }
        if let Some(e) = end {
            let head = String::from_utf8_lossy(&raw[..e]).to_lowercase();
            if head.contains("text/event-stream") {
                break;
            }
        }
    }
    let e = end.unwrap_or_else(|| panic!("{method} {path}: no answer"));
    let text = String::from_utf8_lossy(&raw[..e]).into_owned();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = text.lines().skip(1).filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_lowercase(), v.to_string())).collect();
    (code, headers, raw[e + 4..].to_vec())
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn get_json(url: &str, path: &str, token: &str) -> Value {
    let (code, _, body) = call(url, "GET", path, &[("Authorization", &bearer(token))], b"");
    assert_eq!(code, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn post_json(url: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let (code, _, b) = call(url, "POST", path, &[("Authorization", &bearer(token)), ("Content-Type", "application/json")], body.to_string().as_bytes());
    (code, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn vigil(db: &str, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_vigil")).args(args).args(["--db", db]).env("VIGIL_PASSWORD", PASSWORD).output().unwrap();
    assert!(o.status.success(), "vigil {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// A serve on a fresh store with an admin, an analyst and two supervisors, and their tokens.
struct Desk {
    _dir: tempfile::TempDir,
    db: String,
    child: Child,
    url: String,
    tokens: Vec<(&'static str, String)>,
}

impl Desk {
    fn new() -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vigil.db").to_str().unwrap().to_string();
        vigil(&db, &["user", "add", "root", "--role", "admin"]);
        for (n, r) in [("ann", "analyst"), ("sue", "supervisor"), ("sam", "supervisor")] {
            vigil(&db, &["user", "add", n, "--role", r, "--as", "root"]);
        }
        let tokens = [("admin", "root"), ("analyst", "ann"), ("supervisor", "sue")]
            .into_iter()
            .map(|(role, name)| (role, vigil(&db, &["user", "token", name, "--as", name]).trim().to_string()))
            .collect();
        let (child, url) = common::serve(&db);
        Desk { _dir: dir, db, child, url, tokens }
    }
    fn token(&self, role: &str) -> &str {
        &self.tokens.iter().find(|t| t.0 == role).unwrap().1
    }
    /// Starts a simulated session and waits for `n` stored alerts.
    fn session(&self, symbols: &[&str], speed: f64, per_type: usize, n: usize) -> Vec<Value> {
        let (code, v) = post_json(
            &self.url,
            "/api/start",
            self.token("admin"),
            &json!({"symbols": symbols, "duration_s": 3600, "speed": speed, "seed": 2, "per_type": per_type}),
        );
        assert_eq!(code, 200, "{v}");
        let t0 = now();
        loop {
            let list = get_json(&self.url, "/api/alerts?limit=1000", self.token("analyst"));
            if list.as_array().unwrap().len() >= n || t0.elapsed() > Duration::from_secs(240) {
                return list.as_array().unwrap().clone();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fills a route's path parameters.
fn fill(path: &str, alert: &str) -> String {
    path.replace("{id}", if path.contains("alerts/") { alert } else { "1" }).replace("{file}", "app.css").replace("{note}", "1").replace("{symbol}", "BTC-USD")
}

#[test]
fn every_route_as_every_role_and_as_nobody_follows_the_policy_table() {
    let _one = one_at_a_time();
    let desk = Desk::new();
    let alerts = desk.session(&["BTC-USD"], 60.0, 1, 1);
    let alert = alerts[0]["alert_id"].as_str().unwrap().to_string();
    // The document lists every API route of the table with its access, and nothing else.
    let (code, _, doc) = call(&desk.url, "GET", "/api/openapi.json", &[], b"");
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (m, op) in ops.as_object().unwrap() {
            documented.push((m.to_uppercase(), path.clone(), op["x-vigil-access"].as_str().unwrap().to_string()));
        }
    }
    let words = |a: &str| match a {
        "public" => "public",
        "user" => "analyst, supervisor, admin",
        "supervisor" => "supervisor",
        "lead" => "supervisor, admin",
        _ => "admin",
    };
    let is_page = |p: &str| !(p.starts_with("/api/") || p == "/metrics" || p.starts_with("/assets/"));
    let expected: Vec<(String, String, String)> =
        POLICY.iter().filter(|(_, p, _)| !is_page(p) || *p == "/login").map(|(m, p, a)| (m.to_string(), p.to_string(), words(a).to_string())).collect();
    let mut a = documented.clone();
    let mut b = expected.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the OpenAPI document and the policy table");

    let roles = [None, Some("analyst"), Some("supervisor"), Some("admin")];
    let mut calls = 0;
    for (method, path, access) in POLICY {
        for role in roles {
            // Signing out ends the token used: a throwaway one.
            let token = match role {
                Some(r) if *path == "/api/logout" => {
                    let name = match r {
                        "analyst" => "ann",
                        "supervisor" => "sue",
                        _ => "root",
                    };
                    vigil(&desk.db, &["user", "token", name, "--as", name]).trim().to_string()
                }
                Some(r) => desk.token(r).to_string(),
                None => String::new(),
            };
            let auth = bearer(&token);
            let headers: Vec<(&str, &str)> =
                if role.is_some() { vec![("Authorization", &auth), ("Content-Type", "application/json")] } else { vec![("Content-Type", "application/json")] };
            let body: &[u8] = if *method == "POST" { b"{}" } else { b"" };
            let target = fill(path, &alert);
            let (code, h, b) = call(&desk.url, method, &target, &headers, body);
            calls += 1;
            let what =
                format!("{method} {target} as {}: {code} {}", role.unwrap_or("nobody"), String::from_utf8_lossy(&b).chars().take(200).collect::<String>());
            match role {
                _ if allowed(access, role) => assert!(code != 401 && code != 403 && code < 500, "{what}"),
                None if is_page(path) => {
                    let to = h.iter().find(|(k, _)| k == "location").map(|(_, v)| v.as_str()).unwrap_or("");
                    assert!(code == 303 && to.starts_with("/login?next="), "{what} → {to}");
                }
                None => {
                    assert_eq!(code, 401, "{what}");
                    assert!(String::from_utf8_lossy(&b).contains("token"), "{what}");
                }
                Some(r) => {
                    assert_eq!(code, 403, "{what}");
                    assert!(String::from_utf8_lossy(&b).contains(r), "the refusal names the caller's role: {what}");
                }
            }
        }
    }
    assert_eq!(calls, POLICY.len() * roles.len());
    // What is not in the table does not exist.
    assert_eq!(call(&desk.url, "GET", "/api/secret", &[("Authorization", &bearer(desk.token("admin")))], b"").0, 404);
    assert_eq!(call(&desk.url, "DELETE", "/api/alerts", &[("Authorization", &bearer(desk.token("admin")))], b"").0, 405);
    // A token that is not one is refused, not taken for nobody.
    assert_eq!(call(&desk.url, "GET", "/api/health", &[("Authorization", "Bearer vgl_nope")], b"").0, 401);
}

#[test]
fn streams_metrics_sign_in_and_bad_input() {
    let _one = one_at_a_time();
    let desk = Desk::new();
    let url = desk.url.clone();
    let analyst = desk.token("analyst").to_string();
    // Subscribe to alerts and trades before anything happens.
    let stream_with = |path: &str, headers: &str| {
        let addr = url.trim_start_matches("http://").to_string();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {analyst}\r\n{headers}\r\n").unwrap();
        s
    };
    let stream = |path: &str| stream_with(path, "");
    let mut alerts_sse = stream("/api/stream/alerts");
    let mut trades_sse = stream("/api/stream/trades?symbol=ETH-USD");
    let stored = desk.session(&["BTC-USD", "ETH-USD"], 60.0, 1, 3);
    assert!(stored.len() >= 3);
    let read_until = |s: &mut std::net::TcpStream, what: &str| {
        let mut got = Vec::new();
        let mut buf = [0u8; 16384];
        while !String::from_utf8_lossy(&got).contains(what) {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended before {what}");
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let text = read_until(&mut alerts_sse, "event: alert");
    assert!(text.to_lowercase().contains("content-type: text/event-stream"), "{text}");
    let data = text.lines().skip_while(|l| !l.starts_with("event: alert")).find_map(|l| l.strip_prefix("data: ")).unwrap();
    let a: Value = serde_json::from_str(data).unwrap();
    assert!(a["alert_id"].is_string() && a["description"].is_string() && a["status"] == "active", "{a}");
    let text = read_until(&mut trades_sse, "event: trade");
    let data = text.lines().skip_while(|l| !l.starts_with("event: trade")).find_map(|l| l.strip_prefix("data: ")).unwrap();
    let t: Value = serde_json::from_str(data).unwrap();
    assert!(t["symbol"] == "ETH-USD" && t["price"].as_f64().unwrap() > 0.0, "only the symbol asked: {t}");
    // A list resumes after the last alert it had, without a gap: after an id of an earlier run of
    // the server, every alert stored, numbered in the order stored (`RUN-N`); a reconnect's
    // Last-Event-ID wins over `after`.
    let ids = |text: &str| -> Vec<(String, u64, String)> {
        let mut out = Vec::new();
        let mut id = None;
        for l in text.lines() {
            if let Some(n) = l.strip_prefix("id: ") {
                id = Some(n.trim().to_string());
            } else if let Some(d) = l.strip_prefix("data: ") {
                let i: String = id.take().expect("an alert event has an id");
                let n = i.split_once('-').unwrap().1.parse().unwrap();
                out.push((i, n, serde_json::from_str::<Value>(d).unwrap()["alert_id"].as_str().unwrap().to_string()));
            }
        }
        out
    };
    // Up to the end of the third event.
    let third = |mut s: std::net::TcpStream| {
        let mut text = String::new();
        while !text.match_indices("\ndata: ").nth(2).is_some_and(|(i, _)| text[i + 1..].contains("\n\n")) {
            text.push_str(&read_until(&mut s, "\n"));
        }
        text
    };
    let listed: Vec<&str> = stored.iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
    let text = third(stream("/api/stream/alerts?after=1-7"));
    let resumed = ids(&text);
    assert_eq!(resumed.iter().map(|x| x.1).take(3).collect::<Vec<_>>(), [1, 2, 3], "{text}");
    assert!(resumed.iter().take(3).all(|x| listed.contains(&x.2.as_str())), "the alerts stored: {resumed:?} {listed:?}");
    let reconnected = ids(&third(stream_with("/api/stream/alerts?after=1-7", &format!("Last-Event-ID: {}\r\n", resumed[1].0))));
    assert_eq!(reconnected.first(), resumed.get(2), "resumed after the id the reconnect had");
    // What a filter leaves out comes as an id alone (a browser keeps it for a reconnect).
    let text = read_until(&mut stream("/api/stream/alerts?after=1-7&symbol=NOPE-USD"), &format!("id: {}\n", resumed[2].0));
    assert!(!text.contains("data: ") && !text.contains("event: alert"), "{text}");

    // Metrics: requests by route and code, events, alerts; a streams gauge.
    let (code, h, body) = call(&url, "GET", "/metrics", &[("Authorization", &bearer(&analyst))], b"");
    assert_eq!(code, 200);
    assert!(h.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/plain; version=0.0.4")));
    let m = String::from_utf8(body).unwrap();
    let value = |name: &str| m.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse::<f64>().ok()).unwrap_or(-1.0);
    assert!(value("vigil_events_total ") > 1000.0, "{m}");
    assert!(value("vigil_alerts_stored_total ") >= 3.0);
    assert!(value("vigil_sse_clients ") >= 2.0);
    assert!(value("vigil_http_requests_total{method=\"GET\",route=\"/api/alerts\",code=\"200\"}") >= 1.0, "{m}");
    assert!(m.contains("vigil_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/alerts\",le=\"+Inf\"}"));
    assert!(m.contains("vigil_alerts{type="));

    // Bad input: a 4xx naming the field, never a 500.
    let admin = desk.token("admin").to_string();
    let bad: &[(&str, &str, &str, u16, &str)] = &[
        ("GET", "/api/alerts?level=loud", "", 400, "level:"),
        ("GET", "/api/alerts?limit=0", "", 400, "limit:"),
        ("GET", "/api/stream/alerts?after=-1", "", 400, "after:"),
        ("GET", "/api/stream/alerts?after=soon", "", 400, "after:"),
        ("GET", "/api/alerts?limit=ten", "", 400, "limit:"),
        ("GET", "/api/alerts?colour=red", "", 400, "colour:"),
        ("GET", "/api/cases?status=sleeping", "", 400, "status:"),
        ("GET", "/api/cases/abc", "", 400, "id:"),
        ("GET", "/api/alerts/nope", "", 404, "nope"),
        ("POST", "/api/cases", "not json", 400, "body:"),
        ("POST", "/api/cases", "[1]", 400, "body:"),
        ("POST", "/api/cases", "{\"title\": \"t\"}", 400, "alert_ids:"),
        ("POST", "/api/cases", "{\"alert_ids\": [\"nope\"]}", 400, "title:"),
        ("POST", "/api/cases", "{\"alert_ids\": [\"nope\"], \"title\": \"t\"}", 404, "nope"),
        ("POST", "/api/cases", "{\"alert_ids\": 7, \"title\": \"t\"}", 400, "alert_ids:"),
        ("POST", "/api/alerts/x/resolve", "{\"resolution\": \"maybe\"}", 400, "resolution:"),
        ("POST", "/api/start", "{\"symbols\": []}", 400, "duration_s"),
        ("POST", "/api/users", "{\"name\": \"x\", \"role\": \"boss\", \"password\": \"p\"}", 400, "role:"),
        ("POST", "/api/rules", "{\"reason\": \"mm\", \"days\": -1, \"account\": \"a\"}", 400, "days:"),
        ("POST", "/api/simulation/inject", "{\"type\": \"ml_anomaly\"}", 400, "type:"),
        ("POST", "/api/tokens", "{\"days\": 0}", 400, "days:"),
    ];
    for (method, path, body, want, names) in bad {
        let (code, _, b) = call(&url, method, path, &[("Authorization", &bearer(&admin)), ("Content-Type", "application/json")], body.as_bytes());
        let text = String::from_utf8_lossy(&b);
        assert!(code == *want && text.contains(names), "{method} {path} {body}: {code} {text}");
    }
    let (code, _, b) = call(&url, "POST", "/api/cases/1/comments", &[("Authorization", &bearer(&admin)), ("Content-Length", "1048577")], b"");
    assert_eq!(code, 413, "{}", String::from_utf8_lossy(&b));

    // Signing in: a cookie for the browser and a token; a change by cookie needs the page's header.
    let (code, v) = post_json(&url, "/api/login", "", &json!({"name": "ann", "password": "wrong"}));
    assert_eq!(code, 401, "{v}");
    let (code, h, b) =
        call(&url, "POST", "/api/login", &[("Content-Type", "application/json")], json!({"name": "ann", "password": PASSWORD}).to_string().as_bytes());
    assert_eq!(code, 200);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["role"], "analyst");
    let cookie = h.iter().find(|(k, _)| k == "set-cookie").map(|(_, v)| v.clone()).unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_string();
    assert_eq!(call(&url, "GET", "/api/me", &[("Cookie", &cookie)], b"").0, 200);
    let id = stored[0]["alert_id"].as_str().unwrap();
    let body = json!({"alert_ids": [id], "title": "by cookie"}).to_string();
    let (code, _, b) = call(&url, "POST", "/api/cases", &[("Cookie", &cookie), ("Content-Type", "application/json")], body.as_bytes());
    assert!(code == 403 && String::from_utf8_lossy(&b).contains("X-Requested-With"), "a cross-site form cannot act: {code}");
    let (code, _, b) =
        call(&url, "POST", "/api/cases", &[("Cookie", &cookie), ("Content-Type", "application/json"), ("X-Requested-With", "vigil")], body.as_bytes());
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&b));
    // Signing out ends the session at once.
    assert_eq!(call(&url, "POST", "/api/logout", &[("Cookie", &cookie), ("X-Requested-With", "vigil")], b"").0, 200);
    assert_eq!(call(&url, "GET", "/api/me", &[("Cookie", &cookie)], b"").0, 401);
    // After signing in, only a path of this site is followed.
    let form = format!("name=ann&password={}", PASSWORD.replace(' ', "+"));
    let (code, h, _) = call(&url, "POST", "/login?next=//evil.example/", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
    assert_eq!(code, 303);
    assert_eq!(h.iter().find(|(k, _)| k == "location").unwrap().1, "/");
    let (_, h, _) =
        call(&url, "POST", "/api/login", &[("Content-Type", "application/json")], json!({"name": "ann", "password": PASSWORD}).to_string().as_bytes());
    let cookie2 = h.iter().find(|(k, _)| k == "set-cookie").map(|(_, v)| v.split(';').next().unwrap().to_string()).unwrap();
    // Browsers drop tabs from URLs: `/<TAB>/evil.example` would be another site.
    let (code, h, _) = call(&url, "POST", "/login?next=%2F%09%2Fevil.example%2F", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
    assert_eq!((code, h.iter().find(|(k, _)| k == "location").unwrap().1.as_str()), (303, "/"));
    // Another site may not sign a browser in (login CSRF), nor use its cookie, even to read.
    let (code, _, _) =
        call(&url, "POST", "/login", &[("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://evil.example")], form.as_bytes());
    assert_eq!(code, 403);
    let (code, _, _) = call(&url, "GET", "/api/cases/1/report", &[("Cookie", &cookie2), ("Sec-Fetch-Site", "cross-site")], b"");
    assert_eq!(code, 401, "the cookie of a request from another site is not used");
    assert_eq!(call(&url, "GET", "/api/me", &[("Cookie", &cookie2), ("Sec-Fetch-Site", "same-origin")], b"").0, 200);
    // Who calls is known before a body is read: a stranger's huge upload is refused unread.
    let (code, _, _) = call(&url, "POST", "/api/v1/events", &[("Content-Length", "100000000")], b"");
    assert_eq!(code, 401);
    let (code, _, _) = call(&url, "POST", "/api/v1/events", &[("Authorization", &bearer(&admin)), ("Content-Length", "100000000")], b"");
    assert_eq!(code, 413);
    assert_eq!(call(&url, "HEAD", "/api/alerts", &[("Authorization", &bearer(&analyst))], b"").0, 405);
    // Guessing a password: five failures, then the name waits.
    for _ in 0..5 {
        assert_eq!(post_json(&url, "/api/login", "", &json!({"name": "sam", "password": "guess"})).0, 401);
    }
    let (code, v) = post_json(&url, "/api/login", "", &json!({"name": "sam", "password": PASSWORD}));
    assert!(code == 429 && v["error"].as_str().unwrap().starts_with("name:"), "{code} {v}");
    // Pages run only Vigil's own script.
    let (_, h, _) = call(&url, "GET", "/login", &[], b"");
    assert!(h.iter().any(|(k, v)| k == "content-security-policy" && v.contains("default-src 'self'")), "{h:?}");
    // When the session ends, its accounts' profiles are stored: the account's answer and page carry
    // its risk, its usual and recent activity and its departures.
    // An account an alert names, else the simulator's first (a market maker).
    let suspect = stored.iter().find_map(|a| a["accounts"].as_array().and_then(|x| x.first()).and_then(|x| x.as_str())).unwrap_or("t1").to_string();
    let admin = desk.token("admin").to_string();
    assert_eq!(post_json(&url, "/api/stop", &admin, &json!({})).0, 200);
    let t0 = now();
    let profile = loop {
        let v = get_json(&url, &format!("/api/accounts/{suspect}"), &analyst);
        if !v["profile"].is_null() || t0.elapsed() > Duration::from_secs(60) {
            break v["profile"].clone();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(profile["account"], suspect.as_str(), "{profile}");
    let risk = profile["risk"].as_f64().unwrap();
    assert!(risk >= profile["alert_risk"].as_f64().unwrap() && risk <= 1.0, "{profile}");
    assert!(profile["recent"]["events"].as_u64().unwrap() + profile["baseline"]["events"].as_u64().unwrap() > 0, "{profile}");
    let (code, _, page) = call(&url, "GET", &format!("/accounts/{suspect}"), &[("Authorization", &bearer(&analyst))], b"");
    let page = String::from_utf8_lossy(&page);
    assert!(code == 200 && page.contains("id=\"account-risk\"") && page.contains("id=\"departures\""), "{code} {page}");
}

/// A Python with selenium and openapi-spec-validator from PyPI: `$VIGIL_PYTHON`, else the tests'
/// virtual environment in `~/.cache/vigil-py` (made once, behind a lock).
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("VIGIL_PYTHON") {
        return PathBuf::from(p);
    }
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let venv = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into())).join(".cache/vigil-py");
    let py = venv.join("bin/python");
    let ready = || Command::new(&py).args(["-c", "import selenium, openapi_spec_validator"]).status().is_ok_and(|s| s.success());
    if !ready() {
        if !py.exists() {
            let s = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 for the browser tests");
            assert!(s.success(), "python3 -m venv {}", venv.display());
        }
        let s = Command::new(&py).args(["-m", "pip", "install", "-q", "selenium", "openapi-spec-validator"]).status().unwrap();
        assert!(s.success(), "pip install selenium openapi-spec-validator");
    }
    py
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1_and_the_answers_fit_it() {
    let _one = one_at_a_time();
    let desk = Desk::new();
    let alerts = desk.session(&["BTC-USD"], 60.0, 1, 2);
    let id = alerts[0]["alert_id"].as_str().unwrap();
    let (code, v) = post_json(&desk.url, "/api/cases", desk.token("analyst"), &json!({"alert_ids": [id], "title": "schema"}));
    assert_eq!(code, 200, "{v}");
    let (_, _, doc) = call(&desk.url, "GET", "/api/openapi.json", &[], b"");
    let dir = desk._dir.path();
    std::fs::write(dir.join("openapi.json"), &doc).unwrap();
    let t = desk.token("analyst");
    for (name, path) in [
        ("alerts", "/api/alerts?limit=1000"),
        ("alert", &format!("/api/alerts/{id}")),
        ("cases", "/api/cases"),
        ("case", "/api/cases/1"),
        ("audit", "/api/audit"),
    ] {
        std::fs::write(dir.join(format!("{name}.json")), get_json(&desk.url, path, t).to_string()).unwrap();
    }
    // The document by openapi-spec-validator; each answer by jsonschema against the document's
    // schema of its route.
    let script = r#"
import json, sys
from openapi_spec_validator import validate
from jsonschema import Draft202012Validator
d = sys.argv[1]
doc = json.load(open(d + "/openapi.json"))
validate(doc)
for name, path in [("alerts", "/api/alerts"), ("alert", "/api/alerts/{id}"), ("cases", "/api/cases"), ("case", "/api/cases/{id}"), ("audit", "/api/audit")]:
    schema = dict(doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    assert schema, path
    schema["components"] = doc["components"]
    Draft202012Validator(schema).validate(json.load(open(d + "/" + name + ".json")))
print("valid")
"#;
    let o = Command::new(python()).args(["-c", script]).arg(dir).output().unwrap();
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("valid"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_desks_routine_in_headless_chromium() {
    let _one = one_at_a_time();
    for tool in ["chromium", "chromedriver"] {
        assert!(
            Command::new("sh").args(["-c", &format!("command -v {tool}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success()),
            "{tool} is missing: apt-get install chromium chromium-driver (.ci/run does)"
        );
    }
    let desk = Desk::new();
    // Only injected scenarios: the spoofing alert is the injected one's.
    desk.session(&["BTC-USD", "ETH-USD"], 5.0, 0, 0);
    let shots = std::env::var("VIGIL_SCREENSHOTS").map(PathBuf::from).unwrap_or_else(|_| desk._dir.path().join("shots"));
    let o = Command::new(python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser.py"))
        .args([&desk.url, shots.to_str().unwrap(), "ann", PASSWORD, "sue", PASSWORD])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    for page in ["login", "dashboard", "simulation", "alert", "alerts", "trades", "cases", "account", "settings", "case"] {
        assert!(shots.join(format!("{page}.png")).metadata().is_ok_and(|m| m.len() > 10_000), "{page}.png");
    }
    // The spoofing alert's market is held, the suspect's events marked (what the page drew).
    let spoof = get_json(&desk.url, "/api/alerts?type=spoofing", desk.token("analyst"));
    let id = spoof[0]["alert_id"].as_str().unwrap();
    let m = get_json(&desk.url, &format!("/api/alerts/{id}/market"), desk.token("analyst"));
    assert_eq!(m["held"], true, "{m}");
    assert!(m["events"].as_array().unwrap().iter().any(|e| e["suspect"] == true && e["type"] == "new"), "{m}");
    assert!(!m["book_before"].as_array().unwrap().is_empty() && m["book_before"][0]["order_id"].is_string(), "{m}");
    // The approval is in the audit log under the supervisor.
    let log = vigil(&desk.db, &["audit", "log", "--limit", "100000", "--format", "json"]);
    assert!(log.lines().any(|l| l.contains("\"actor\":\"sue\"") && l.contains("proposal.approve")), "{log}");
}

#[test]
fn the_demo_shows_trades_and_its_first_alerts_within_a_minute() {
    let _one = one_at_a_time();
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["demo", "--dir", dir.path().to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let _child = Kill(child);
    // The banner: the address, then the three users with their passwords.
    let (mut url, mut users) = (String::new(), Vec::new());
    let mut line = String::new();
    while users.len() < 3 {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the demo ended before its banner");
        if let Some(u) = line.split_whitespace().find(|w| w.starts_with("http://")).filter(|_| line.contains("dashboard")) {
            url = u.trim_end_matches('/').to_string();
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() == 3 && w[2].starts_with('(') {
            users.push((w[0].to_string(), w[1].to_string(), w[2].trim_matches(['(', ')']).to_string()));
        }
    }
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let roles: Vec<&str> = users.iter().map(|u| u.2.as_str()).collect();
    assert_eq!(roles, ["admin", "supervisor", "analyst"]);
    assert!(users.iter().all(|u| u.1.len() >= 16), "random passwords of 16 characters");
    // A newcomer signs in as the analyst and waits for trades and alerts.
    let (code, v) = post_json(&url, "/api/login", "", &json!({"name": users[2].0, "password": users[2].1}));
    assert_eq!(code, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let (mut trades, mut alerts) = (0, 0);
    while now().duration_since(t0) < Duration::from_secs(60) && (trades == 0 || alerts == 0) {
        std::thread::sleep(Duration::from_millis(500));
        trades = get_json(&url, "/api/market/BTC-USD/trades?limit=10", &token).as_array().unwrap().len();
        alerts = get_json(&url, "/api/alerts?limit=10", &token).as_array().unwrap().len();
    }
    let took = now().duration_since(t0).as_secs_f64();
    assert!(trades > 0 && alerts > 0, "after {took:.0} s: {trades} trades, {alerts} alerts");
    eprintln!("the demo: trades and {alerts} alerts {took:.1} s after it started");
}
