//! The dashboard's pages, rendered on the server as plain HTML with inline SVG charts. One small
//! embedded script (`assets/app.js`) sends forms to the JSON API, follows server-sent events and
//! steps the order-book replay; nothing is fetched from elsewhere, so the desk may be air-gapped.

use super::api::{self, alert_json, alert_market_json, Access};
use super::{percent_encode, session_cookie, ApiError, Req, Resp, Web};
use serde_json::Value;
use std::fmt::Write;
use vigil_store::{CaseFilter, CaseStatus, User};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

pub use vigil_report::html::esc;

/// A time (ns since the epoch) as `2026-01-05 13:52:07.123` (UTC).
pub fn time(ns: i64) -> String {
    let s = vigil_core::Ts(ns).to_string().replacen('T', " ", 1);
    // `2026-01-05 13:52:07.123456789Z`: to the millisecond.
    match s.find('.') {
        Some(dot) => s[..(dot + 4).min(s.len())].to_string(),
        None => s.trim_end_matches('Z').to_string(),
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn layout(title: &str, user: Option<&User>, active: &str, body: &str) -> String {
    let mut nav = String::new();
    if let Some(u) = user {
        for (href, name) in
            [("/", "Dashboard"), ("/trades", "Trades"), ("/alerts", "Alerts"), ("/cases", "Cases"), ("/simulation", "Simulation"), ("/settings", "Settings")]
        {
            let cls = if name == active { " class=\"on\"" } else { "" };
            let _ = write!(nav, "<a href=\"{href}\"{cls}>{name}</a>");
        }
        let _ = write!(
            nav,
            "<span class=\"who\">{} <small>{}</small></span><form data-api=\"/api/logout\" data-then=\"go:/login\" class=\"inline\"><button id=\"signout\">Sign out</button></form>",
            esc(&u.name),
            u.role.as_str()
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · Vigil</title><link rel=\"stylesheet\" href=\"/assets/app.css\"><link rel=\"icon\" href=\"data:,\"></head><body><header><a class=\"brand\" href=\"/\">Vigil</a><nav>{nav}</nav></header><main>{body}</main><script src=\"/assets/app.js\"></script></body></html>",
        esc(title)
    )
}

fn page(r: &Req, title: &str, active: &str, body: &str) -> Result<Resp, ApiError> {
    Ok(Resp::Html(layout(title, r.user.as_ref(), active, body)))
}

pub fn error_page(code: u16, msg: &str, user: Option<&User>) -> String {
    layout(
        &format!("{code}"),
        user,
        "",
        &format!("<h1>{code}</h1><p class=\"error\" id=\"error\">{}</p><p><a href=\"/\">Back to the dashboard</a></p>", esc(msg)),
    )
}

fn level_badge(l: &str) -> String {
    let l = esc(l);
    format!("<span class=\"lvl {l}\">{l}</span>")
}

// ---------- sign in ----------

fn login_html(next: &str, error: Option<&str>) -> String {
    let err = error.map_or(String::new(), |e| format!("<p class=\"error\" id=\"error\">{}</p>", esc(e)));
    layout(
        "Sign in",
        None,
        "",
        &format!(
            "<section class=\"login\"><h1>Sign in</h1>{err}<form method=\"post\" action=\"/login?next={}\"><label>Name <input name=\"name\" id=\"name\" autocomplete=\"username\" required autofocus></label><label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label><button type=\"submit\" id=\"signin\">Sign in</button></form></section>",
            percent_encode(next)
        ),
    )
}

/// Only a path of this site is followed after signing in (never another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        // Browsers drop tabs and newlines from a URL (`/\t/evil` is `//evil`) and read `\` as `/`:
        // only a path of printable characters, and not `//`.
        Some(n) if n.starts_with('/') && !n.starts_with("//") && n.bytes().all(|b| b > 0x20 && b != 0x7f && b != b'\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

pub fn login_page(_: &Web, r: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Html(login_html(&safe_next(r.query("next")), None)))
}

pub fn login_form(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let form = r.form();
    let field = |k: &str| form.iter().find(|f| f.0 == k).map_or("", |f| f.1.as_str());
    let next = safe_next(r.query("next"));
    match api::sign_in(w, field("name"), field("password")) {
        Ok((_, token)) => Ok(Resp::Redirect(next, Some(session_cookie(Some(&token))))),
        Err(ApiError(401, msg)) => Ok(Resp::Html(login_html(&next, Some(&msg)))),
        Err(e) => Err(e),
    }
}

pub fn asset(_: &Web, r: &Req) -> Result<Resp, ApiError> {
    match r.param("file") {
        "app.css" => Ok(Resp::Bytes("text/css; charset=utf-8", CSS.as_bytes().to_vec(), None)),
        "app.js" => Ok(Resp::Bytes("text/javascript; charset=utf-8", JS.as_bytes().to_vec(), None)),
        f => Err(ApiError(404, format!("no asset {f}"))),
    }
}

// ---------- dashboard ----------

/// The dashboard's numbers: events per second over the last ten minutes, alerts per minute by
/// level over the last hour, alerts by type, open cases, the backlog's age.
pub fn dashboard_figures(w: &Web) -> Result<Value, ApiError> {
    let now = vigil_store::now_ns();
    let rates = w.rates();
    let mut s = w.pool.get()?;
    let since = now - 3600 * 1_000_000_000;
    let rows = s.query_raw("SELECT level, stored_at, type FROM alerts WHERE stored_at >= $1", &[since.into()])?;
    let mut per_minute = vec![[0i64; 4]; 60];
    let mut by_type: std::collections::BTreeMap<String, Vec<i64>> = std::collections::BTreeMap::new();
    for r in rows {
        let l = match r[0].text() {
            Some("critical") => 0,
            Some("high") => 1,
            Some("medium") => 2,
            _ => 3,
        };
        let m = ((r[1].int().unwrap_or(now) - since) / 60_000_000_000).clamp(0, 59) as usize;
        per_minute[m][l] += 1;
        by_type.entry(r[2].text().unwrap_or("").to_string()).or_insert_with(|| vec![0; 60])[m] += 1;
    }
    let backlog = s.query_raw("SELECT MIN(stored_at), COUNT(*) FROM alerts WHERE status = 'active'", &[])?;
    let (oldest, active) = backlog.first().map_or((None, 0), |r| (r[0].int(), r[1].int().unwrap_or(0)));
    let open = s.cases(&CaseFilter { status: Some(CaseStatus::Open), limit: Some(100_000), ..Default::default() })?.len();
    let investigating = s.cases(&CaseFilter { status: Some(CaseStatus::Investigating), limit: Some(100_000), ..Default::default() })?.len();
    let summary = crate::serve::summary(&mut s)?;
    let waiting = s.proposals(true)?.len();
    Ok(serde_json::json!({
        "events_total": api::events_total(w),
        "events_per_second": rates.last().map_or(0.0, |r| r.1),
        "events_per_second_history": rates,
        "alerts_per_minute": per_minute,
        "alerts_per_minute_by_type": by_type,
        "alerts_by_type": summary["by_type"],
        "alerts_by_level": summary["by_level"],
        "active_alerts": active,
        "backlog_age_s": oldest.map(|o| (now - o) as f64 / 1e9),
        "open_cases": open,
        "investigating_cases": investigating,
        "proposals_waiting": waiting,
        "session_running": w.monitor.lock().running,
    }))
}

fn spark(points: &[f64], wd: f64, ht: f64) -> String {
    if points.len() < 2 {
        return format!("<svg class=\"spark\" viewBox=\"0 0 {wd} {ht}\"></svg>");
    }
    let max = points.iter().copied().fold(1e-9, f64::max);
    let step = wd / (points.len() - 1) as f64;
    let pts: Vec<String> = points.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, ht - v / max * (ht - 2.0) - 1.0)).collect();
    format!("<svg class=\"spark\" viewBox=\"0 0 {wd} {ht}\" preserveAspectRatio=\"none\"><polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" points=\"{}\"/></svg>", pts.join(" "))
}

pub fn dashboard(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let f = dashboard_figures(w)?;
    let mut b = String::from("<h1>Dashboard</h1><div id=\"figures\" data-refresh=\"3000\">");
    let hist: Vec<f64> = f["events_per_second_history"].as_array().into_iter().flatten().filter_map(|x| x[1].as_f64()).collect();
    let _ = write!(
        b,
        "<div class=\"cards\"><div class=\"card\"><b id=\"eps\">{}</b><span>events / s</span>{}</div><div class=\"card\"><b id=\"active-alerts\">{}</b><span>active alerts</span></div><div class=\"card\"><b id=\"open-cases\">{}</b><span>open cases ({} investigating)</span></div><div class=\"card\"><b id=\"backlog\">{}</b><span>backlog age (oldest active alert)</span></div><div class=\"card\"><b>{}</b><span>proposals waiting</span></div><div class=\"card\"><b>{}</b><span>events in all</span></div></div>",
        num(f["events_per_second"].as_f64().unwrap_or(0.0).round()),
        spark(&hist, 160.0, 30.0),
        f["active_alerts"],
        f["open_cases"],
        f["investigating_cases"],
        f["backlog_age_s"].as_f64().map_or("none".into(), vigil_report::dur),
        f["proposals_waiting"],
        f["events_total"],
    );
    // Alerts per minute, stacked by level.
    let per: Vec<[i64; 4]> = f["alerts_per_minute"].as_array().into_iter().flatten().map(|m| std::array::from_fn(|i| m[i].as_i64().unwrap_or(0))).collect();
    let max = per.iter().map(|m| m.iter().sum::<i64>()).max().unwrap_or(0).max(1) as f64;
    let mut bars = String::new();
    let colors = ["#b91c1c", "#ea580c", "#ca8a04", "#64748b"];
    for (i, m) in per.iter().enumerate() {
        let mut y = 120.0;
        for (l, n) in m.iter().enumerate() {
            if *n > 0 {
                let h = *n as f64 / max * 115.0;
                y -= h;
                let _ = write!(
                    bars,
                    "<rect x=\"{}\" y=\"{y:.1}\" width=\"9\" height=\"{h:.1}\" fill=\"{}\"><title>{n} {}</title></rect>",
                    i * 10,
                    colors[l],
                    ["critical", "high", "medium", "low"][l]
                );
            }
        }
    }
    let _ = write!(
        b,
        "<h2>Alerts per minute, last hour</h2><svg class=\"chart\" id=\"alerts-chart\" viewBox=\"0 0 600 120\" preserveAspectRatio=\"none\">{bars}</svg><p class=\"legend\"><span class=\"c-critical\">■ critical</span> <span class=\"c-high\">■ high</span> <span class=\"c-medium\">■ medium</span> <span class=\"c-low\">■ low</span> · max {max:.0} a minute</p>"
    );
    b.push_str("<div class=\"two\"><div><h2>By type</h2><table id=\"by-type\"><tr><th>type</th><th>in all</th><th>the last hour, a point a minute</th></tr>");
    for (k, v) in f["alerts_by_type"].as_object().into_iter().flatten() {
        let hour: Vec<f64> = f["alerts_per_minute_by_type"][k].as_array().into_iter().flatten().filter_map(|x| x.as_f64()).collect();
        let _ = write!(
            b,
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"n\">{v}</td><td>{}</td></tr>",
            api::alerts_link("type", k),
            esc(k),
            spark(&hour, 160.0, 20.0)
        );
    }
    b.push_str("</table></div><div><h2>By level</h2><table>");
    for l in ["critical", "high", "medium", "low"] {
        let _ = write!(
            b,
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"n\">{}</td></tr>",
            api::alerts_link("level", l),
            level_badge(l),
            f["alerts_by_level"][l].as_i64().unwrap_or(0)
        );
    }
    b.push_str("</table></div></div></div>");
    page(r, "Dashboard", "Dashboard", &b)
}

// ---------- trades ----------

pub fn trades(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let symbols = w.market.symbols();
    let sym = r.query("symbol").map(str::to_string).or_else(|| symbols.first().cloned());
    let mut b =
        String::from("<h1>Trade stream</h1><form method=\"get\" class=\"filters\"><label>Symbol <select name=\"symbol\" id=\"symbol\" data-autosubmit>");
    for s in &symbols {
        let sel = if Some(s) == sym.as_ref() { " selected" } else { "" };
        let _ = write!(b, "<option{sel}>{}</option>", esc(s));
    }
    b.push_str("</select></label></form>");
    let Some(sym) = sym else {
        b.push_str("<p id=\"empty\">No market yet: start a monitoring session or feed events.</p>");
        return page(r, "Trades", "Trades", &b);
    };
    let list = w.market.last_trades(&sym, 50);
    let prices: Vec<f64> = list.iter().filter_map(|t| t.price).collect();
    let _ = write!(b, "<div class=\"spark-wide\">{}</div>", spark(&prices, 600.0, 60.0));
    let _ = write!(
        b,
        "<table id=\"trades\" data-sse-trades=\"/api/stream/trades?symbol={}\"><thead><tr><th>time</th><th>venue</th><th>price</th><th>qty</th><th>buyer</th><th>seller</th><th>aggressor</th></tr></thead><tbody>",
        percent_encode(&sym)
    );
    for t in list.iter().rev() {
        let acc =
            |a: &Option<std::sync::Arc<str>>| a.as_deref().map_or(String::new(), |x| format!("<a href=\"/accounts/{}\">{}</a>", percent_encode(x), esc(x)));
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(t.ts),
            esc(&t.venue),
            num(t.price.unwrap_or(0.0)),
            num(t.qty.unwrap_or(0.0)),
            acc(&t.account),
            acc(&t.seller),
            t.aggressor.map_or("", |s| s.as_str())
        );
    }
    b.push_str("</tbody></table>");
    page(r, "Trades", "Trades", &b)
}

// ---------- alerts ----------

fn alert_row(a: &Value) -> String {
    let id = a["alert_id"].as_str().unwrap_or("");
    let join = |k: &str| a[k].as_array().into_iter().flatten().filter_map(|x| x.as_str()).map(esc).collect::<Vec<_>>().join(", ");
    format!(
        "<tr data-id=\"{}\"><td>{}</td><td><a href=\"/alerts/{}\">{}</a></td><td>{}</td><td class=\"n\">{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"story\">{}</td></tr>",
        esc(id),
        time(a["ts"].as_i64().unwrap_or(0)),
        percent_encode(id),
        esc(a["type"].as_str().unwrap_or("")),
        level_badge(a["level"].as_str().unwrap_or("")),
        a["risk_score"].as_f64().unwrap_or(0.0),
        esc(a["status"].as_str().unwrap_or("")),
        join("symbols"),
        join("accounts"),
        esc(a["description"].as_str().unwrap_or(""))
    )
}

fn select(name: &str, values: &[&str], chosen: Option<&str>) -> String {
    let mut s = format!("<label>{name} <select name=\"{name}\" id=\"f-{name}\"><option value=\"\">any</option>");
    for v in values {
        let sel = if Some(*v) == chosen { " selected" } else { "" };
        let _ = write!(s, "<option{sel}>{v}</option>");
    }
    s.push_str("</select></label>");
    s
}

pub fn alerts(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let f = api::alert_filter(r)?;
    // The live list resumes after the last alert stored before the list was read: one stored in
    // between comes twice, and the page keeps one.
    let seq = w.monitor.stored_seq();
    let list = w.pool.get()?.alerts(&f)?;
    let types: Vec<&str> = vigil_core::AlertType::ALL.iter().map(|t| t.as_str()).collect();
    let mut b = String::from("<h1>Alerts</h1><form method=\"get\" class=\"filters\" id=\"filters\">");
    b.push_str(&select("type", &types, r.query("type")));
    b.push_str(&select("level", &["critical", "high", "medium", "low"], r.query("level")));
    b.push_str(&select("status", &["active", "resolved", "false_positive", "suppressed"], r.query("status")));
    let _ = write!(
        b,
        "<label>symbol <input name=\"symbol\" id=\"f-symbol\" value=\"{}\" size=\"10\"></label><label>account <input name=\"account\" id=\"f-account\" value=\"{}\" size=\"10\"></label><button id=\"filter\">Filter</button></form>",
        esc(r.query("symbol").unwrap_or("")),
        esc(r.query("account").unwrap_or(""))
    );
    // New alerts are active: a list of another status has nothing to add live.
    let live = matches!(r.query("status"), None | Some("active")) && r.query("before").is_none();
    let mut sse = format!("/api/stream/alerts?after={seq}&");
    for k in ["type", "level", "status", "symbol"] {
        if let Some(v) = r.query(k) {
            let _ = write!(sse, "{k}={}&", percent_encode(v));
        }
    }
    let _ = write!(
        b,
        "<p class=\"hint\">{} shown, newest first{}.</p><table id=\"alerts\" {}><thead><tr><th>time</th><th>type</th><th>level</th><th>risk</th><th>status</th><th>symbols</th><th>accounts</th><th>story</th></tr></thead><tbody>",
        list.len(),
        if live { "; new alerts appear as they are raised" } else { "" },
        if live { format!("data-sse-alerts=\"{}\" data-account=\"{}\"", esc(&sse), esc(r.query("account").unwrap_or(""))) } else { String::new() }
    );
    for a in &list {
        b.push_str(&alert_row(&alert_json(a)));
    }
    b.push_str("</tbody></table>");
    if let Some(last) = list.last().filter(|_| list.len() as i64 == f.limit.unwrap_or(0)) {
        let mut q: Vec<String> = r.query.iter().filter(|(k, v)| k != "before" && !v.is_empty()).map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
        q.push(format!("before={}", percent_encode(&format!("{}:{}", last.alert.ts, last.alert.alert_id))));
        let _ = write!(b, "<p><a href=\"/alerts?{}\" id=\"older\">Older</a></p>", esc(&q.join("&")));
    }
    page(r, "Alerts", "Alerts", &b)
}

/// A measured value beside its threshold: `X` beside `min_X` or `max_X` of the same evidence.
fn evidence_table(e: &serde_json::Map<String, Value>) -> String {
    let mut s =
        String::from("<table class=\"evidence\" id=\"evidence\"><thead><tr><th>measure</th><th>value</th><th>threshold</th><th></th></tr></thead><tbody>");
    for (k, v) in e {
        if k.starts_with("min_") || k.starts_with("max_") {
            let base = &k[4..];
            if e.contains_key(base) {
                continue;
            }
        }
        let show = |v: &Value| match v {
            Value::Number(n) => num(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => esc(s),
            other => {
                let t = other.to_string();
                esc(&if t.len() > 300 { format!("{}…", &t[..t.char_indices().nth(300).map_or(t.len(), |c| c.0)]) } else { t })
            }
        };
        let (th, ok) = match (e.get(&format!("min_{k}")), e.get(&format!("max_{k}"))) {
            (Some(t), _) => (format!("≥ {}", show(t)), v.as_f64().zip(t.as_f64()).map(|(a, b)| a >= b)),
            (_, Some(t)) => (format!("≤ {}", show(t)), v.as_f64().zip(t.as_f64()).map(|(a, b)| a <= b)),
            _ => (String::new(), None),
        };
        let mark = match ok {
            Some(true) => "<span class=\"met\">met</span>",
            Some(false) => "<span class=\"unmet\">not met</span>",
            None => "",
        };
        let _ = write!(s, "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{th}</td><td>{mark}</td></tr>", esc(k), show(v));
    }
    s.push_str("</tbody></table>");
    s
}

/// Price and volume of the window with the suspects' orders marked.
fn market_chart(m: &Value) -> String {
    let events = m["events"].as_array().cloned().unwrap_or_default();
    let (from, to) = (m["from"].as_i64().unwrap_or(0), m["to"].as_i64().unwrap_or(1));
    let span = (to - from).max(1) as f64;
    let prices: Vec<f64> = events.iter().filter_map(|e| e["price"].as_f64()).collect();
    if prices.is_empty() {
        return "<p>No priced events in the window.</p>".into();
    }
    let (lo, hi) = prices.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(*p), b.max(*p)));
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-6).max(1e-9);
    let (lo, hi) = (lo - pad, hi + pad);
    let (wd, ht, vh) = (800.0, 220.0, 60.0);
    let x = |ts: i64| (ts - from) as f64 / span * wd;
    let y = |p: f64| ht - (p - lo) / (hi - lo) * ht;
    let mut svg = format!("<svg class=\"chart\" id=\"price-chart\" viewBox=\"0 0 {wd} {}\">", ht + vh + 10.0);
    let (ws, we) = (x(m["window_start"].as_i64().unwrap_or(from)), x(m["window_end"].as_i64().unwrap_or(to)));
    let _ = write!(
        svg,
        "<rect x=\"{ws:.1}\" y=\"0\" width=\"{:.1}\" height=\"{}\" fill=\"#fef3c7\"><title>the alert's window</title></rect>",
        (we - ws).max(1.0),
        ht + vh + 10.0
    );
    let trades: Vec<&Value> = events.iter().filter(|e| e["type"] == "trade").collect();
    let line: Vec<String> = trades.iter().map(|t| format!("{:.1},{:.1}", x(t["ts"].as_i64().unwrap_or(0)), y(t["price"].as_f64().unwrap_or(lo)))).collect();
    let _ = write!(svg, "<polyline fill=\"none\" stroke=\"#1e293b\" stroke-width=\"1.2\" points=\"{}\"/>", line.join(" "));
    let vmax = trades.iter().filter_map(|t| t["qty"].as_f64()).fold(1e-9, f64::max);
    for t in &trades {
        let h = t["qty"].as_f64().unwrap_or(0.0) / vmax * vh;
        let color = if t["suspect"] == true { "#dc2626" } else { "#94a3b8" };
        let _ =
            write!(svg, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"2\" height=\"{h:.1}\" fill=\"{color}\"/>", x(t["ts"].as_i64().unwrap_or(0)), ht + 10.0 + vh - h);
    }
    // The suspects' orders: ▲ buy, ▼ sell at their price; ✕ where one was cancelled.
    // Each order's price and side (an amend names neither when unchanged).
    let mut at: rustc_hash::FxHashMap<String, (f64, bool)> = rustc_hash::FxHashMap::default();
    for e in events.iter().filter(|e| e["suspect"] == true) {
        let ts = x(e["ts"].as_i64().unwrap_or(0));
        let oid = e["order_id"].as_str().unwrap_or("").to_string();
        match e["type"].as_str() {
            Some("new") | Some("amend") => {
                let known = at.get(&oid).copied();
                let Some(p) = e["price"].as_f64().or(known.map(|k| k.0)) else { continue };
                let buy = match e["side"].as_str() {
                    Some(side) => side == "buy",
                    None => known.is_some_and(|k| k.1),
                };
                at.insert(oid, (p, buy));
                let py = y(p);
                let pts = if buy {
                    format!("{ts:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", py - 5.0, ts - 4.0, py + 3.0, ts + 4.0, py + 3.0)
                } else {
                    format!("{ts:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", py + 5.0, ts - 4.0, py - 3.0, ts + 4.0, py - 3.0)
                };
                let _ = write!(
                    svg,
                    "<polygon class=\"suspect-order\" points=\"{pts}\" fill=\"{}\"><title>{} {} {} @ {}</title></polygon>",
                    if buy { "#16a34a" } else { "#dc2626" },
                    esc(e["account"].as_str().unwrap_or("")),
                    e["type"].as_str().unwrap_or(""),
                    num(e["qty"].as_f64().unwrap_or(0.0)),
                    num(p)
                );
            }
            Some("cancel") => {
                if let Some((p, _)) = at.get(&oid) {
                    let py = y(*p);
                    let _ = write!(
                        svg,
                        "<path d=\"M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}\" stroke=\"#7c3aed\" stroke-width=\"1.5\"><title>cancelled</title></path>",
                        ts - 3.0,
                        py - 3.0,
                        ts + 3.0,
                        py + 3.0,
                        ts - 3.0,
                        py + 3.0,
                        ts + 3.0,
                        py - 3.0
                    );
                }
            }
            _ => {}
        }
    }
    let _ = write!(svg, "<text x=\"2\" y=\"12\" class=\"axis\">{}</text><text x=\"2\" y=\"{}\" class=\"axis\">{}</text></svg>", num(hi), ht - 2.0, num(lo));
    svg.push_str("<p class=\"legend\">Trades (line) and their volume (bars, the suspects' in red); the suspects' orders ▲ buy ▼ sell, ✕ cancelled; the alert's window shaded.</p>");
    svg
}

pub fn alert(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let id = r.param("id");
    let (a, cases, audit) = {
        let mut s = w.pool.get()?;
        let a = s.alert(id)?.ok_or_else(|| ApiError(404, format!("no alert {id}")))?;
        let cases = s.cases_of_alert(id)?;
        let audit = s.audit_of("alert", id)?;
        (a, cases, audit)
    };
    let al = &a.alert;
    let mut b = format!(
        "<h1>{} <small>{}</small></h1><p class=\"story\" id=\"story\">{}</p><dl class=\"facts\"><dt>level</dt><dd>{}</dd><dt>risk</dt><dd>{:.2}</dd><dt>confidence</dt><dd>{:.2}</dd><dt>status</dt><dd id=\"status\">{}</dd><dt>detected</dt><dd>{}</dd><dt>window</dt><dd>{} – {}</dd><dt>venue</dt><dd>{}</dd><dt>symbols</dt><dd>{}</dd><dt>accounts</dt><dd id=\"accounts\">{}</dd></dl>",
        esc(al.kind.as_str()),
        esc(&al.alert_id),
        esc(&al.description),
        level_badge(al.level.as_str()),
        al.risk_score,
        al.confidence,
        esc(a.status.as_str()),
        time(al.ts),
        time(al.window_start),
        time(al.window_end),
        esc(al.venue.as_deref().unwrap_or("all")),
        al.symbols.iter().map(|s| format!("<a href=\"/trades?symbol={}\">{}</a>", percent_encode(s), esc(s))).collect::<Vec<_>>().join(", "),
        al.accounts.iter().map(|s| format!("<a href=\"/accounts/{}\">{}</a>", percent_encode(s), esc(s))).collect::<Vec<_>>().join(", "),
    );
    // Triage and cases.
    b.push_str("<section class=\"actions\">");
    if a.status == vigil_store::Status::Active {
        let _ = write!(
            b,
            "<form data-api=\"/api/alerts/{0}/resolve\" data-then=\"reload\" id=\"triage\"><input name=\"reason\" placeholder=\"reason\" required><button name=\"resolution\" value=\"resolved\" id=\"resolve\">Resolve</button><button name=\"resolution\" value=\"false_positive\" id=\"false-positive\">False positive</button></form>",
            percent_encode(&al.alert_id)
        );
    } else {
        let _ = write!(
            b,
            "<p>{} by {} — {}</p>",
            esc(a.status.as_str()),
            esc(a.status_by.as_deref().unwrap_or("?")),
            esc(a.status_reason.as_deref().unwrap_or(""))
        );
    }
    if cases.is_empty() {
        let _ = write!(
            b,
            "<form data-api=\"/api/cases\" data-then=\"go:/cases/{{case_id}}\" id=\"open-case\"><input type=\"hidden\" name=\"alert_ids\" value=\"{}\" data-list><input name=\"title\" value=\"{} on {}\" size=\"40\" required><button id=\"open-case-btn\">Open a case</button></form>",
            esc(&al.alert_id),
            esc(al.kind.as_str()),
            esc(&al.symbols.join(", "))
        );
    } else {
        b.push_str("<p>In cases: ");
        b.push_str(&cases.iter().map(|c| format!("<a href=\"/cases/{c}\">case {c}</a>")).collect::<Vec<_>>().join(", "));
        b.push_str("</p>");
    }
    b.push_str("<p class=\"msg\"></p></section>");
    b.push_str("<h2>Evidence</h2>");
    b.push_str(&evidence_table(&al.evidence));
    let m = alert_market_json(w, &a, 30.0);
    b.push_str("<h2>Market around the alert</h2>");
    if m["held"] == true {
        if m["partial"] == true || m["cut"] == true {
            let _ = write!(b, "<p class=\"hint\" id=\"partial\">The serve holds this symbol's recent market from {} on: the chart and the replay show that part of the window.</p>", time(m["from"].as_i64().unwrap_or(0)));
        }
        b.push_str(&market_chart(&m));
        let _ = write!(
            b,
            "<h2>Order-book replay</h2><div id=\"replay\" data-src=\"/api/alerts/{}/market\"><div class=\"controls\"><button data-step=\"-100\">«</button><button data-step=\"-1\" id=\"replay-back\">‹ back</button><input type=\"range\" min=\"0\" value=\"0\" id=\"replay-pos\"><button data-step=\"1\" id=\"replay-next\">next ›</button><button data-step=\"100\">»</button> <span id=\"replay-at\"></span></div><div class=\"book\"><table id=\"replay-book\"></table><ol id=\"replay-events\"></ol></div></div>",
            percent_encode(&al.alert_id)
        );
    } else {
        let _ = write!(b, "<p id=\"no-market\">{}</p>", esc(m["reason"].as_str().unwrap_or("")));
    }
    b.push_str("<h2>Audit</h2><table class=\"audit\">");
    for e in &audit {
        let _ = write!(b, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", e.seq, time(e.at), esc(&e.actor), esc(&e.action));
    }
    b.push_str("</table>");
    page(r, &format!("Alert {}", al.alert_id), "Alerts", &b)
}

// ---------- cases ----------

pub fn cases(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let list = w.pool.get()?.cases(&CaseFilter { status: r.query("status").and_then(CaseStatus::parse), assignee: None, limit: Some(500) })?;
    let mut b = String::from("<h1>Cases</h1><form method=\"get\" class=\"filters\">");
    b.push_str(&select("status", &["open", "investigating", "closed"], r.query("status")));
    b.push_str("<button>Filter</button></form><table id=\"cases\"><thead><tr><th>case</th><th>title</th><th>status</th><th>outcome</th><th>assignee</th><th>opened</th><th>alerts</th></tr></thead><tbody>");
    for c in &list {
        let _ = write!(
            b,
            "<tr><td><a href=\"/cases/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td>{5} by {6}</td><td class=\"n\">{7}</td></tr>",
            c.id,
            esc(&c.title),
            c.status.as_str(),
            c.outcome.map_or("", |o| o.as_str()),
            esc(c.assignee.as_deref().unwrap_or("")),
            time(c.opened_at),
            esc(&c.opened_by),
            c.alerts.len()
        );
    }
    b.push_str("</tbody></table>");
    page(r, "Cases", "Cases", &b)
}

pub fn case(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let id = r.id("id")?;
    let c = api::case_full(w, id)?;
    let status = c["status"].as_str().unwrap_or("");
    let mut b = format!(
        "<h1>Case {id} <small>{}</small></h1><dl class=\"facts\"><dt>status</dt><dd id=\"case-status\">{status}</dd><dt>outcome</dt><dd id=\"case-outcome\">{}</dd><dt>assignee</dt><dd>{}</dd><dt>opened</dt><dd>{} by {}</dd></dl>",
        esc(c["title"].as_str().unwrap_or("")),
        esc(c["outcome"].as_str().unwrap_or("")),
        esc(c["assignee"].as_str().unwrap_or("nobody")),
        time(c["opened_at"].as_i64().unwrap_or(0)),
        esc(c["opened_by"].as_str().unwrap_or("")),
    );
    b.push_str("<section class=\"actions\">");
    if status == "open" {
        let _ = write!(b, "<form data-api=\"/api/cases/{id}/investigate\" data-then=\"reload\"><button id=\"investigate\">Investigate</button></form>");
    }
    if status != "closed" {
        let _ = write!(
            b,
            "<form data-api=\"/api/cases/{id}/assign\" data-then=\"reload\"><input name=\"assignee\" placeholder=\"user\" required size=\"10\"><button>Assign</button></form><form data-api=\"/api/cases/{id}/close\" data-then=\"reload\" id=\"close-case\"><select name=\"outcome\" id=\"outcome\"><option>no_violation</option><option>violation</option><option>referred</option></select><input name=\"reason\" id=\"close-reason\" placeholder=\"reason\" required><button id=\"close\">Close (violation and referral take a supervisor)</button></form>"
        );
    } else {
        let _ = write!(b, "<form data-api=\"/api/cases/{id}/reopen\" data-then=\"reload\"><input name=\"reason\" placeholder=\"reason\" required><button>Reopen</button></form>");
    }
    b.push_str("<p class=\"msg\"></p></section>");
    // Four eyes.
    let proposals = c["proposals"].as_array().cloned().unwrap_or_default();
    if !proposals.is_empty() {
        b.push_str("<h2>Approvals (four eyes)</h2><table id=\"proposals\"><thead><tr><th>proposal</th><th>action</th><th>details</th><th>proposed</th><th>decision</th></tr></thead><tbody>");
        for p in &proposals {
            let pid = p["id"].as_i64().unwrap_or(0);
            let decision = match p["decision"].as_str() {
                Some(d) => format!("{} by {}", esc(d), esc(p["decided_by"].as_str().unwrap_or(""))),
                None if r.user.as_ref().is_some_and(|u| Access::Supervisor.allows_role(Some(u.role))) => format!(
                    "<form data-api=\"/api/proposals/{pid}/decide\" data-then=\"reload\" class=\"inline\"><input name=\"reason\" placeholder=\"reason\"><button name=\"approve\" value=\"true\" id=\"approve-{pid}\">Approve</button><button name=\"approve\" value=\"false\" id=\"reject-{pid}\">Reject</button></form>"
                ),
                None => "waiting for a supervisor".into(),
            };
            let _ = write!(
                b,
                "<tr><td>{pid}</td><td>{}</td><td>{}</td><td>{} by {}</td><td class=\"decision\">{decision}</td></tr>",
                esc(p["action"].as_str().unwrap_or("")),
                esc(&p["details"].to_string()),
                time(p["proposed_at"].as_i64().unwrap_or(0)),
                esc(p["proposed_by"].as_str().unwrap_or(""))
            );
        }
        b.push_str("</tbody></table><p class=\"msg\"></p>");
    }
    b.push_str("<h2>Alerts</h2><table id=\"case-alerts\"><thead><tr><th>time</th><th>type</th><th>level</th><th>risk</th><th>status</th><th>symbols</th><th>accounts</th><th>story</th></tr></thead><tbody>");
    for a in c["alert_details"].as_array().into_iter().flatten() {
        b.push_str(&alert_row(a));
    }
    b.push_str("</tbody></table>");
    // Timeline: notes and the audit trail, in time order.
    let mut items: Vec<(i64, String)> = Vec::new();
    for n in c["notes"].as_array().into_iter().flatten() {
        let at = n["at"].as_i64().unwrap_or(0);
        let body = if n["kind"] == "evidence" {
            format!(
                "attached <a href=\"/api/cases/{id}/evidence/{}\">{}</a> ({} bytes, SHA-256 {})",
                n["id"],
                esc(n["body"].as_str().unwrap_or("")),
                n["size"],
                esc(n["sha256"].as_str().unwrap_or(""))
            )
        } else {
            format!("commented: {}", esc(n["body"].as_str().unwrap_or("")))
        };
        items.push((at, format!("<li><time>{}</time> <b>{}</b> {body}</li>", time(at), esc(n["author"].as_str().unwrap_or("")))));
    }
    for e in c["audit"].as_array().into_iter().flatten() {
        let at = e["at"].as_i64().unwrap_or(0);
        items.push((
            at,
            format!(
                "<li class=\"audit\"><time>{}</time> <b>{}</b> {} <small>#{} {}</small></li>",
                time(at),
                esc(e["actor"].as_str().unwrap_or("")),
                esc(e["action"].as_str().unwrap_or("")),
                e["seq"],
                esc(&e["hash"].as_str().unwrap_or("")[..12.min(e["hash"].as_str().unwrap_or("").len())])
            ),
        ));
    }
    items.sort_by_key(|i| i.0);
    b.push_str("<h2>Timeline</h2><ul class=\"timeline\" id=\"timeline\">");
    for (_, li) in &items {
        b.push_str(li);
    }
    let _ = write!(
        b,
        "</ul><form data-api=\"/api/cases/{id}/comments\" data-then=\"reload\" id=\"comment\"><textarea name=\"text\" rows=\"2\" cols=\"60\" required placeholder=\"comment\"></textarea><button>Comment</button></form><p><a href=\"/api/cases/{id}/report?kind=stor&amp;format=html\">STOR (HTML)</a> · <a href=\"/api/cases/{id}/report?kind=sar&amp;format=html\">SAR (HTML)</a> · <a href=\"/api/cases/{id}/report?kind=stor&amp;format=json\">STOR (JSON)</a></p>"
    );
    page(r, &format!("Case {id}"), "Cases", &b)
}

// ---------- account, simulation, settings ----------

pub fn account(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let id = r.param("id");
    let v = api::account_json(w, id)?;
    let rec = &v["recent"];
    let mut b = format!(
        "<h1>Account {}</h1><dl class=\"facts\"><dt>alerts naming it</dt><dd id=\"account-alerts\">{}</dd><dt>highest risk, last 50 alerts</dt><dd>{:.2}</dd><dt>recent orders</dt><dd>{}</dd><dt>cancels</dt><dd>{} (ratio {:.2})</dd><dt>trades</dt><dd>{} ({} lots)</dd><dt>symbols</dt><dd>{}</dd><dt>venues</dt><dd>{}</dd><dt>last seen</dt><dd>{}</dd></dl><p class=\"hint\">Recent activity is what the serve holds of the market since it started.</p>",
        esc(id),
        v["alerts"],
        v["highest_recent_risk"].as_f64().unwrap_or(0.0),
        rec["orders"],
        rec["cancels"],
        rec["cancel_ratio"].as_f64().unwrap_or(0.0),
        rec["trades"],
        num(rec["volume"].as_f64().unwrap_or(0.0)),
        esc(&rec["symbols"].as_array().into_iter().flatten().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")),
        esc(&rec["venues"].as_array().into_iter().flatten().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")),
        rec["last_seen"].as_i64().map_or("—".into(), time),
    );
    b.push_str(&profile_html(&v["profile"]));
    b.push_str("<h2>By type</h2><table>");
    for (k, n) in v["alerts_by_type"].as_object().into_iter().flatten() {
        let _ = write!(b, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", esc(k));
    }
    b.push_str("</table><h2>Recent alerts</h2><table id=\"account-alert-list\"><thead><tr><th>time</th><th>type</th><th>level</th><th>risk</th><th>status</th><th>symbols</th><th>accounts</th><th>story</th></tr></thead><tbody>");
    for a in v["recent_alerts"].as_array().into_iter().flatten() {
        b.push_str(&alert_row(a));
    }
    b.push_str("</tbody></table>");
    page(r, &format!("Account {id}"), "", &b)
}

/// The account's behavioural profile: its risk, its usual and recent activity, and its departures.
fn profile_html(p: &Value) -> String {
    if p.is_null() {
        return "<h2>Profile</h2><p class=\"hint\" id=\"profile\">No profile stored yet: profiles are stored when a session ends and by <code>vigil replay --store</code>.</p>".into();
    }
    let f = |x: &Value| x.as_f64().map_or("—".into(), |x| format!("{x:.2}"));
    let mut b = format!(
        "<h2>Profile</h2><dl class=\"facts\" id=\"profile\"><dt>account risk</dt><dd id=\"account-risk\">{} ({})</dd><dt>its alerts' highest risk</dt><dd>{}</dd><dt>peers</dt><dd>{} ({} accounts)</dd></dl><table><thead><tr><th></th><th>events</th><th>orders</th><th>cancel ratio</th><th>trades</th><th>median order</th><th>instruments</th></tr></thead><tbody>",
        f(&p["risk"]),
        esc(p["level"].as_str().unwrap_or("")),
        f(&p["alert_risk"]),
        esc(p["peer_group"].as_str().unwrap_or("—")),
        p["peer_count"],
    );
    for (label, k) in [("usual", "baseline"), ("recent period", "recent")] {
        let c = &p[k];
        let _ = write!(
            b,
            "<tr><td>{label}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            c["events"],
            c["orders"],
            f(&c["cancel_ratio"]),
            c["trades"],
            f(&c["median_order_size"]),
            esc(&c["instruments"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()),
        );
    }
    b.push_str("</tbody></table><table id=\"departures\"><thead><tr><th>departure</th><th>score</th><th>what</th></tr></thead><tbody>");
    for d in p["departures"].as_array().into_iter().flatten().chain(p["peer_departures"].as_array().into_iter().flatten()) {
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(d["measure"].as_str().unwrap_or("")),
            f(&d["score"]),
            esc(d["detail"].as_str().unwrap_or(""))
        );
    }
    b.push_str("</tbody></table>");
    b
}

pub fn simulation(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let (running, number, symbols, injected) = {
        let s = w.monitor.lock();
        (s.running, s.number, s.request.as_ref().map(|q| q.symbols.join(", ")).unwrap_or_default(), s.injected.clone())
    };
    let mut b = String::from("<h1>Simulation control</h1>");
    if running {
        let _ = write!(b, "<p id=\"sim-state\">Session {number} runs on {}.</p>", esc(&symbols));
        b.push_str("<form data-api=\"/api/simulation/inject\" id=\"inject\"><label>Scenario <select name=\"type\" id=\"scenario\">");
        for t in vigil_sim::SCENARIO_TYPES {
            let _ = write!(b, "<option>{}</option>", t.as_str());
        }
        b.push_str("</select></label><button id=\"inject-btn\">Inject</button></form><p class=\"msg\"></p>");
    } else {
        b.push_str("<p id=\"sim-state\">No simulated session runs.</p>");
        if r.user.as_ref().is_some_and(|u| u.role == vigil_store::Role::Admin) {
            b.push_str("<form data-api=\"/api/start\" data-then=\"reload\" id=\"start\"><label>Symbols <input name=\"symbols\" value=\"BTC-USD,ETH-USD,SOL-USD\" data-list></label><label>Seconds <input name=\"duration_s\" value=\"3600\" data-number></label><label>Speed <input name=\"speed\" value=\"1\" data-number size=\"4\"></label><button>Start</button></form><p class=\"msg\"></p>");
        } else {
            b.push_str("<p>An admin starts sessions.</p>");
        }
    }
    b.push_str("<div id=\"injected-box\" data-refresh=\"2000\">");
    if !injected.is_empty() {
        b.push_str("<h2>Injected</h2><table id=\"injected\"><thead><tr><th>scenario</th><th>by</th><th>placed</th><th>caught</th></tr></thead><tbody>");
        let raised = w.monitor.lock().alerts.clone();
        for x in injected.iter().rev() {
            let caught = x.at.and_then(|at| raised.iter().filter(|a| a.kind == x.kind && a.ts >= at).min_by_key(|a| a.ts).map(|a| (a, at)));
            let placed = match x.placed {
                None => "asked",
                Some(true) => "yes",
                Some(false) => "no room now (every symbol busy)",
            };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{placed}</td><td class=\"caught\">{}</td></tr>",
                x.kind.as_str(),
                esc(&x.by),
                caught.map_or("not yet".into(), |(a, at)| format!(
                    "<a href=\"/alerts/{}\">{} s later (event time)</a>",
                    percent_encode(&a.alert_id),
                    num(((a.ts - at) as f64 / 1e9).round())
                ))
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</div>");
    // From the page's drawing on: an alert raised before the stream connects is not lost.
    let _ = write!(b, "<h2>Live alerts</h2><table id=\"alerts\" data-sse-alerts=\"/api/stream/alerts?after={}\">", w.monitor.stored_seq());
    b.push_str("<thead><tr><th>time</th><th>type</th><th>level</th><th>risk</th><th>status</th><th>symbols</th><th>accounts</th><th>story</th></tr></thead><tbody></tbody></table>");
    page(r, "Simulation", "Simulation", &b)
}

fn toml_rows(prefix: &str, v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                toml_rows(&name, x, out);
            }
        }
        other => {
            let _ = write!(out, "<tr><td>{}</td><td class=\"n\">{}</td></tr>", esc(prefix), esc(&other.to_string()));
        }
    }
}

pub fn settings(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let mut b = String::from("<h1>Settings</h1><p>The detectors' configuration in force (the embedded defaults with the serve's <code>--config</code> laid over them). docs/detectors.md says what each does.</p>");
    for (section, v) in w.monitor.config_json.as_object().into_iter().flatten() {
        if let Value::Object(inner) = v {
            if section == "detectors" {
                for (det, params) in inner {
                    let _ = write!(b, "<h2 id=\"cfg-{0}\">{0}</h2><table class=\"settings\">", esc(det));
                    toml_rows("", params, &mut b);
                    b.push_str("</table>");
                }
                continue;
            }
        }
        let _ = write!(b, "<h2>{}</h2><table class=\"settings\">", esc(section));
        toml_rows("", v, &mut b);
        b.push_str("</table>");
    }
    page(r, "Settings", "Settings", &b)
}
