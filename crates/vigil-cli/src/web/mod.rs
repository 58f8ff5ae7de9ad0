//! The HTTP side of `vigil serve`: the JSON API, the dashboard's pages, server-sent events and
//! Prometheus metrics, on one axum server.
//!
//! Every request goes through [`dispatch`]: the route is looked up in one table
//! ([`api::ROUTES`]); what is not in it does not exist (404). The route names who may call it
//! (public, any user, supervisor, admin); the caller is a bearer token (programs) or a login
//! session's cookie (the browser), both the store's API tokens. Then the query is checked against
//! the parameters the route declares (a 400 names the field), the body against its limit (413),
//! and the handler runs on a blocking thread with a store connection from a small pool. The same
//! table writes the OpenAPI document, so the document and the server cannot disagree.

pub mod api;
pub mod market;
pub mod openapi;
pub mod pages;

use crate::ingest::Ingest;
use crate::serve::Monitor;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use rustc_hash::FxHashMap;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_store::{Store, User};

/// The login session's cookie.
pub const COOKIE: &str = "vigil_session";
/// How long a login lasts.
pub const SESSION_TTL_S: i64 = 12 * 3600;
/// On PostgreSQL (no store version to watch), how long a checked token is believed before the
/// store is asked again: a token revoked by another process stops working within this; one
/// revoked through this server at once.
const TOKEN_CACHE: Duration = Duration::from_secs(2);
/// On SQLite, how long a checked token is believed while the store does not change (its expiry
/// passing is no change to the store).
const TOKEN_CACHE_MAX: Duration = Duration::from_secs(30);

/// Everything a handler may use.
pub struct Web {
    pub monitor: Arc<Monitor>,
    pub ingest: Arc<Ingest>,
    pub pool: Pool,
    pub reference: vigil_report::Reference,
    pub auth: Auth,
    pub logins: Logins,
    pub metrics: Metrics,
    pub market: Arc<market::Market>,
    pub ingest_limit: usize,
    /// Events per second, sampled each second for the last ten minutes: (epoch s, rate).
    rates: Mutex<std::collections::VecDeque<(i64, f64)>>,
    pub cache: Cache,
}

/// Answers of the alert list, kept while the store is unchanged. SQLite says when any connection
/// (this process's writer and handlers, or another process's) has committed since a connection
/// last looked (`PRAGMA data_version`): one connection watches, and an answer is reused only at the
/// version it was made at. PostgreSQL has no such counter: nothing is cached there.
pub struct Cache {
    watch: Mutex<Option<Store>>,
    entries: Mutex<FxHashMap<String, (i64, axum::body::Bytes)>>,
}

impl Cache {
    fn new(location: &str) -> anyhow::Result<Cache> {
        let s = Store::open(location)?;
        let watch = (s.backend() == "sqlite").then_some(s);
        Ok(Cache { watch: Mutex::new(watch), entries: Mutex::default() })
    }
    /// The store's version now; `None`: not known (no caching).
    pub fn version(&self) -> Option<i64> {
        let mut w = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let rows = w.as_mut()?.query_raw("PRAGMA data_version", &[]).ok()?;
        rows.first().and_then(|r| r[0].int())
    }
    pub fn get(&self, key: &str, version: i64) -> Option<axum::body::Bytes> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(key).filter(|e| e.0 == version).map(|e| e.1.clone())
    }
    /// Keeps an answer of at most 1 MiB; at most 64 MiB in all (older versions go first).
    pub fn put(&self, key: String, version: i64, bytes: axum::body::Bytes) {
        if bytes.len() > 1 << 20 {
            return;
        }
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = e.values().map(|v| v.1.len()).sum();
        if e.len() >= 256 || held + bytes.len() > 64 << 20 {
            e.retain(|_, v| v.0 == version);
            let held: usize = e.values().map(|v| v.1.len()).sum();
            if e.len() >= 256 || held + bytes.len() > 64 << 20 {
                e.clear();
            }
        }
        e.insert(key, (version, bytes));
    }
}

impl Web {
    pub fn rates(&self) -> Vec<(i64, f64)> {
        self.rates.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect()
    }
}

/// Samples the event rate once a second.
async fn sample_rates(web: Arc<Web>) {
    let mut last = (crate::wall::now(), api::events_total(&web));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = (crate::wall::now(), api::events_total(&web));
        let dt = now.0.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = now.1.saturating_sub(last.1) as f64 / dt;
        last = now;
        let mut r = web.rates.lock().unwrap_or_else(|e| e.into_inner());
        if r.len() >= 600 {
            r.pop_front();
        }
        r.push_back((crate::wall::epoch_ns() / 1_000_000_000, rate));
    }
}

/// An API error: the status and a message that names the field or the reason.
#[derive(Debug)]
pub struct ApiError(pub u16, pub String);

impl ApiError {
    pub fn bad(field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError(400, format!("{field}: {why}"))
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<vigil_store::Error>() {
            Ok(e) => e.into(),
            Err(e) => ApiError(500, format!("{e:#}")),
        }
    }
}

/// A store's refusal as an HTTP status: who may not (403), what is not there (404), what cannot
/// be done (409), what failed (500).
impl From<vigil_store::Error> for ApiError {
    fn from(e: vigil_store::Error) -> Self {
        let code = match e {
            vigil_store::Error::Denied(_) => 403,
            vigil_store::Error::NotFound(_) => 404,
            vigil_store::Error::Invalid(_) => 409,
            vigil_store::Error::Db(_) => 500,
        };
        ApiError(code, e.to_string())
    }
}

impl From<vigil_report::Error> for ApiError {
    fn from(e: vigil_report::Error) -> Self {
        match e {
            vigil_report::Error::Store(e) => e.into(),
            vigil_report::Error::NotFound(m) => ApiError(404, m),
            vigil_report::Error::Invalid(m) => ApiError(400, m),
        }
    }
}

/// What a handler answers.
pub enum Resp {
    Json(Value),
    /// JSON already written.
    JsonBytes(axum::body::Bytes),
    /// JSON with a `Set-Cookie` (login, logout).
    JsonCookie(Value, String),
    Html(String),
    /// A file: content type, bytes, and a download name when it is an attachment.
    Bytes(&'static str, Vec<u8>, Option<String>),
    /// 303 See Other, with a cookie to set when given.
    Redirect(String, Option<String>),
    /// A stream of server-sent events.
    Sse(api::Stream),
}

/// A request as a handler sees it.
pub struct Req {
    pub user: Option<User>,
    /// The credential used, when there was one.
    pub token: Option<String>,
    pub params: Vec<(&'static str, String)>,
    pub query: Vec<(String, String)>,
    /// The last event id a reconnecting event stream had (its Last-Event-ID header).
    pub last_event_id: Option<String>,
    pub body: axum::body::Bytes,
}

impl Req {
    /// A path parameter (the route guarantees it).
    pub fn param(&self, k: &str) -> &str {
        self.params.iter().find(|p| p.0 == k).map_or("", |p| p.1.as_str())
    }
    /// A path parameter that is a number.
    pub fn id(&self, k: &str) -> Result<i64, ApiError> {
        self.param(k).parse().map_err(|_| ApiError::bad(k, format!("{:?} is not a number", self.param(k))))
    }
    /// A query parameter; an empty value is no value.
    pub fn query(&self, k: &str) -> Option<&str> {
        self.query.iter().find(|q| q.0 == k).map(|q| q.1.as_str()).filter(|v| !v.is_empty())
    }
    /// The user (routes that reach a handler with `Access::User` or above have one).
    pub fn user(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(|| ApiError(401, "sign in, or send a bearer token".into()))
    }
    /// The body as a JSON object (an empty body is `{}`); a form body is read as its fields.
    pub fn json(&self) -> Result<Value, ApiError> {
        let text = std::str::from_utf8(&self.body).map_err(|e| ApiError::bad("body", format!("not UTF-8: {e}")))?;
        if text.trim().is_empty() {
            return Ok(json!({}));
        }
        let v: Value = serde_json::from_str(text).map_err(|e| ApiError::bad("body", format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err(ApiError::bad("body", "a JSON object is expected"));
        }
        Ok(v)
    }
    /// An `application/x-www-form-urlencoded` body's fields.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_query(&String::from_utf8_lossy(&self.body))
    }
}

/// Store connections for handlers: SQLite in WAL mode reads on many connections at once.
pub struct Pool {
    location: String,
    idle: Mutex<Vec<Store>>,
}

pub struct Pooled<'a> {
    store: Option<Store>,
    pool: &'a Pool,
}

impl Pool {
    pub fn new(location: &str) -> anyhow::Result<Pool> {
        let first = Store::open(location)?;
        Ok(Pool { location: location.to_string(), idle: Mutex::new(vec![first]) })
    }
    pub fn get(&self) -> Result<Pooled<'_>, ApiError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let store = match idle {
            Some(s) => s,
            None => Store::open(&self.location)?,
        };
        Ok(Pooled { store: Some(store), pool: self })
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("held until dropped")
    }
}
impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        self.store.as_mut().expect("held until dropped")
    }
}
impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < 8 {
            if let Some(s) = self.store.take() {
                idle.push(s);
            }
        }
    }
}

/// Tokens checked recently, so that a busy client does not cost a store query per request. On
/// SQLite an answer holds while the store is unchanged (any commit — a revocation by another
/// process included — makes the next request ask again); on PostgreSQL for 2 s.
/// A token's user, the store version it was checked at, and when.
type Checked = (User, Option<i64>, Instant);

#[derive(Default)]
pub struct Auth {
    cache: Mutex<FxHashMap<String, Checked>>,
    /// Bumped by `forget_all`: a check that began before it does not cache its answer.
    generation: AtomicU64,
}

impl Auth {
    /// The cached answer for `token` at store version `version`, if there is one.
    pub fn cached(&self, token: &str, version: Option<i64>) -> Option<User> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (u, v, at) = cache.get(token)?;
        // Unchanged store, and not for long either way: a token's expiry is checked again.
        let fresh = match version {
            Some(now) => *v == Some(now) && at.elapsed() < TOKEN_CACHE_MAX,
            None => at.elapsed() < TOKEN_CACHE,
        };
        fresh.then(|| u.clone())
    }

    /// Asks the store, and keeps a valid answer.
    pub fn check(&self, pool: &Pool, token: &str, version: Option<i64>) -> Result<Option<User>, ApiError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let user = pool.get()?.check_token(token)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        match &user {
            Some(u) if self.generation.load(Ordering::SeqCst) == generation => {
                cache.insert(token.to_string(), (u.clone(), version, crate::wall::now()));
            }
            _ => {
                cache.remove(token);
            }
        }
        Ok(user)
    }

    /// Forgets every cached token (after a logout, a revocation or a change of users).
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Sign-ins checked at once (each is an Argon2 check: 19 MiB and tens of milliseconds), and the
/// failures a name may have in a row before it waits.
pub struct Logins {
    permits: tokio::sync::Semaphore,
    failures: Mutex<FxHashMap<String, (u32, Instant)>>,
}

/// Failed sign-ins of one name before it waits [`LOCKOUT`].
const MAX_FAILURES: u32 = 5;
const LOCKOUT: Duration = Duration::from_secs(60);

impl Default for Logins {
    fn default() -> Self {
        Logins { permits: tokio::sync::Semaphore::new(2), failures: Mutex::default() }
    }
}

impl Logins {
    /// Checks `name`'s password, two at a time, refusing a name with too many recent failures.
    ///
    /// An attempt counts as a failure before it is checked (and is taken back if it succeeds), so
    /// that attempts made at once cannot pass the count together; when both checks are busy the
    /// answer is 503 at once, rather than a thread held waiting.
    pub fn check(&self, name: &str, f: impl FnOnce() -> Result<bool, ApiError>) -> Result<bool, ApiError> {
        let _permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => return Err(ApiError(503, "two sign-ins are being checked: try again in a moment".into())),
        };
        {
            let mut fails = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if fails.len() > 10_000 {
                fails.retain(|_, (_, at)| at.elapsed() < LOCKOUT);
            }
            let e = fails.entry(name.to_string()).or_insert((0, crate::wall::now()));
            if e.1.elapsed() >= LOCKOUT {
                e.0 = 0;
            }
            if e.0 >= MAX_FAILURES {
                let wait = LOCKOUT.saturating_sub(e.1.elapsed()).as_secs() + 1;
                return Err(ApiError(429, format!("name: {MAX_FAILURES} failed sign-ins in a row for {name}; try again in {wait} s")));
            }
            e.0 += 1;
            e.1 = crate::wall::now();
        }
        let ok = f()?;
        if ok {
            self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        }
        Ok(ok)
    }
}

/// Latency buckets of the request histogram, seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
/// The status codes counted apart; the rest are `other`.
const CODES: [u16; 13] = [200, 303, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503];

/// Request counters per route, lock-free.
pub struct RouteStats {
    codes: [AtomicU64; CODES.len() + 1],
    buckets: [AtomicU64; BUCKETS.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

pub struct Metrics {
    pub routes: Vec<RouteStats>,
    pub unmatched: AtomicU64,
    pub wrong_method: AtomicU64,
    pub sse_clients: AtomicI64,
    pub started: Instant,
}

impl Metrics {
    fn new(n: usize) -> Metrics {
        let stats = || RouteStats {
            codes: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        };
        Metrics {
            routes: (0..n).map(|_| stats()).collect(),
            unmatched: AtomicU64::new(0),
            wrong_method: AtomicU64::new(0),
            sse_clients: AtomicI64::new(0),
            started: crate::wall::now(),
        }
    }
    fn record(&self, route: usize, code: u16, took: Duration) {
        let Some(r) = self.routes.get(route) else { return };
        let i = CODES.iter().position(|c| *c == code).unwrap_or(CODES.len());
        r.codes[i].fetch_add(1, Ordering::Relaxed);
        let s = took.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|b| s <= *b) {
            r.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        r.sum_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        r.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The request metrics in Prometheus' text format.
    pub fn http_text(&self, out: &mut String) {
        use std::fmt::Write;
        out.push_str("# HELP vigil_http_requests_total HTTP requests answered, by route and status code.\n# TYPE vigil_http_requests_total counter\n");
        for (r, s) in api::ROUTES.iter().zip(&self.routes) {
            for (i, c) in s.codes.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    let code = CODES.get(i).map_or("other".to_string(), |c| c.to_string());
                    let _ = writeln!(out, "vigil_http_requests_total{{method=\"{}\",route=\"{}\",code=\"{code}\"}} {n}", r.method, r.path);
                }
            }
        }
        let _ = writeln!(out, "vigil_http_requests_total{{method=\"\",route=\"unmatched\",code=\"404\"}} {}", self.unmatched.load(Ordering::Relaxed));
        let _ = writeln!(out, "vigil_http_requests_total{{method=\"\",route=\"unmatched\",code=\"405\"}} {}", self.wrong_method.load(Ordering::Relaxed));
        out.push_str("# HELP vigil_http_request_duration_seconds Time to answer, by route (streams: to the first byte).\n# TYPE vigil_http_request_duration_seconds histogram\n");
        for (r, s) in api::ROUTES.iter().zip(&self.routes) {
            let count = s.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let labels = format!("method=\"{}\",route=\"{}\"", r.method, r.path);
            let mut cum = 0;
            for (b, n) in BUCKETS.iter().zip(&s.buckets) {
                cum += n.load(Ordering::Relaxed);
                let _ = writeln!(out, "vigil_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {cum}");
            }
            let _ = writeln!(out, "vigil_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "vigil_http_request_duration_seconds_sum{{{labels}}} {}", s.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
            let _ = writeln!(out, "vigil_http_request_duration_seconds_count{{{labels}}} {count}");
        }
    }
}

/// Splits a query string (or a form body) into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&').filter(|kv| !kv.is_empty()).map(|kv| kv.split_once('=').unwrap_or((kv, ""))).map(|(k, v)| (percent_decode(k), percent_decode(v))).collect()
}

/// A query value with its percent-escapes decoded and `+` as a space; a malformed escape is kept.
pub fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push((hex(b[i + 1]).unwrap_or(0) * 16 + hex(b[i + 2]).unwrap_or(0)) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value.
pub fn percent_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn cookie_token(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn bearer(h: &HeaderMap) -> Option<String> {
    h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(|t| t.trim().to_string())
}

/// The cookie that holds a login (`None`: the one that ends it).
pub fn session_cookie(token: Option<&str>) -> String {
    match token {
        Some(t) => format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_S}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    }
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error_response(page: bool, code: u16, msg: &str, user: Option<&User>) -> Response<Body> {
    if page {
        let mut r = Response::new(Body::from(pages::error_page(code, msg, user)));
        *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        r
    } else {
        json_response(code, &json!({"error": msg}))
    }
}

fn redirect(to: &str, cookie: Option<&str>) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

/// Serves `web` on `listener` until the process ends.
pub async fn run(listener: tokio::net::TcpListener, web: Arc<Web>) -> anyhow::Result<()> {
    let app = axum::Router::new().fallback(dispatch).with_state(web);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Every request: route, credentials, policy, input checks, the handler, metrics.
async fn dispatch(axum::extract::State(web): axum::extract::State<Arc<Web>>, req: Request<Body>) -> Response<Body> {
    let t0 = crate::wall::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let page = api::is_page(&path);
    let (index, route, params) = match api::find(parts.method.as_str(), &path) {
        api::Found::Route(i, params) => (i, &api::ROUTES[i], params),
        api::Found::Method(allowed) => {
            web.metrics.wrong_method.fetch_add(1, Ordering::Relaxed);
            let mut r = error_response(page, 405, &format!("{} {path}: this path takes {}", parts.method, allowed.join(", ")), None);
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
        api::Found::Nothing => {
            web.metrics.unmatched.fetch_add(1, Ordering::Relaxed);
            return error_response(page, 404, &format!("no such endpoint: {} {path}", parts.method), None);
        }
    };
    let mut response = answer(&web, route, params, parts, body, page).await;
    web.metrics.record(index, response.status().as_u16(), t0.elapsed());
    harden(&mut response);
    response
}

/// Headers every answer carries: no sniffing, no framing, no referrer to elsewhere, and for pages
/// a content policy that runs only Vigil's own script and style.
fn harden(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if h.get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"text/html")) {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        );
    }
}

async fn answer(
    web: &Arc<Web>,
    route: &'static api::Route,
    params: Vec<(&'static str, String)>,
    parts: axum::http::request::Parts,
    body: Body,
    page: bool,
) -> Response<Body> {
    let refuse = |code: u16, msg: &str, user: Option<&User>| error_response(page, code, msg, user);
    // A body refused unread is read away after the answer (a little of it, for a while), so that a
    // client still sending it gets the answer rather than a reset connection.
    struct Unread(Option<Body>);
    impl Drop for Unread {
        fn drop(&mut self) {
            if let (Some(body), Ok(rt)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
                rt.spawn(async move {
                    use tokio_stream::StreamExt;
                    let mut data = body.into_data_stream();
                    let mut seen = 0usize;
                    let until = tokio::time::Instant::now() + Duration::from_secs(30);
                    while seen < 64 << 20 {
                        match tokio::time::timeout_at(until.min(tokio::time::Instant::now() + Duration::from_secs(5)), data.next()).await {
                            Ok(Some(Ok(chunk))) => seen += chunk.len(),
                            _ => break,
                        }
                    }
                });
            }
        }
    }
    let mut body = Unread(Some(body));
    let query = parse_query(parts.uri.query().unwrap_or(""));
    // Programs send a bearer token; the browser its login cookie.
    let from_cookie = bearer(&parts.headers).is_none();
    let token = bearer(&parts.headers).or_else(|| cookie_token(&parts.headers));
    let changes = parts.method != Method::GET;
    // Another site may make a browser send requests here: with the login cookie, or to sign in
    // (which would set the attacker's session). Browsers say where a request comes from.
    let text = |k: &str| parts.headers.get(k).and_then(|v| v.to_str().ok());
    // Browsers say where a request comes from (Sec-Fetch-Site: computed by the browser against
    // the page, so a reverse proxy changes nothing); older ones only by Origin, compared with the
    // host asked for (a proxy's forwarded host when there is one: no page can set that header).
    let cross_site = match text("sec-fetch-site") {
        Some(s) => s != "same-origin" && s != "none",
        None => text("origin").is_some_and(|o| {
            let host = text("x-forwarded-host").or(text("host")).unwrap_or("");
            o != format!("http://{host}") && o != format!("https://{host}")
        }),
    };
    if cross_site && changes && route.access == api::Access::Public {
        return refuse(403, "a sign-in from another site: Vigil takes sign-ins from its own page only", None);
    }
    // The login cookie on a request from elsewhere (a link from another site, an image) is not
    // used: such a request is anonymous (a page asks to sign in; nothing is done as the user).
    let token = if cross_site && from_cookie { None } else { token };
    // And a change made with the cookie must come from Vigil's own script (a header no form sets).
    if from_cookie && token.is_some() && changes && route.access != api::Access::Public && text("x-requested-with") != Some("vigil") {
        return refuse(403, "a change made with a login cookie must come from Vigil's own pages (X-Requested-With: vigil)", None);
    }
    // Who calls, and may they: before any body is read.
    let version = web.cache.version();
    let user = match &token {
        None => None,
        Some(t) => match web.auth.cached(t, version) {
            Some(u) => Some(u),
            None => {
                let (w, t) = (web.clone(), t.clone());
                match tokio::task::spawn_blocking(move || w.auth.check(&w.pool, &t, version)).await {
                    Ok(Ok(u)) => u,
                    Ok(Err(ApiError(code, msg))) => return refuse(code, &msg, None),
                    Err(e) => return refuse(500, &format!("the token check failed: {e}"), None),
                }
            }
        },
    };
    if token.is_some() && user.is_none() && !from_cookie {
        return refuse(401, "the token is unknown, expired or revoked", None);
    }
    if let Err(ApiError(code, msg)) = route.access.allows(user.as_ref(), route) {
        if code == 401 && page {
            return redirect(&format!("/login?next={}", percent_encode(parts.uri.path_and_query().map_or("/", |p| p.as_str()))), None);
        }
        return refuse(code, &msg, user.as_ref());
    }
    if let Err(ApiError(code, msg)) = route.check_query(&query) {
        return refuse(code, &msg, user.as_ref());
    }
    let limit = route.body_limit(web.ingest_limit);
    let declared = text("content-length").and_then(|l| l.parse::<u64>().ok());
    if declared.is_some_and(|l| l > limit as u64) {
        return refuse(413, &format!("the body is larger than {limit} bytes; send smaller batches"), user.as_ref());
    }
    let bytes = match axum::body::to_bytes(body.0.take().unwrap_or_default(), limit).await {
        Ok(b) => b,
        Err(e) if e.to_string().contains("length limit") => {
            return refuse(413, &format!("the body is larger than {limit} bytes; send smaller batches"), user.as_ref())
        }
        Err(e) => return refuse(400, &format!("body: unreadable: {e}"), user.as_ref()),
    };
    let w = web.clone();
    let last_event_id = text("last-event-id").map(str::to_string);
    let outcome = tokio::task::spawn_blocking(move || -> Result<Resp, (ApiError, Option<User>)> {
        let req = Req { user, token, params, query, last_event_id, body: bytes };
        (route.handler)(&w, &req).map_err(|e| (e, req.user.clone()))
    })
    .await;
    match outcome {
        Ok(Ok(resp)) => render(web, resp),
        Ok(Err((ApiError(code, msg), user))) => error_response(page, code, &msg, user.as_ref()),
        Err(e) => error_response(page, 500, &format!("the handler failed: {e}"), None),
    }
}

fn render(web: &Arc<Web>, resp: Resp) -> Response<Body> {
    match resp {
        Resp::Json(v) => json_response(200, &v),
        Resp::JsonBytes(b) => {
            let mut r = Response::new(Body::from(b));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Resp::JsonCookie(v, cookie) => {
            let mut r = json_response(200, &v);
            if let Ok(c) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, c);
            }
            r
        }
        Resp::Html(s) => {
            let mut r = Response::new(Body::from(s));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Resp::Bytes(ty, bytes, name) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
            if let Some(v) = name.and_then(|n| HeaderValue::from_str(&format!("attachment; filename=\"{n}\"")).ok()) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Resp::Redirect(to, cookie) => redirect(&to, cookie.as_deref()),
        Resp::Sse(s) => api::sse(web.clone(), s),
    }
}

/// Binds `addr` and serves on a runtime of its own (two workers); returns the bound address.
pub fn start(addr: &str, web: Arc<Web>) -> anyhow::Result<(std::net::SocketAddr, tokio::runtime::Runtime)> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).max_blocking_threads(64).enable_all().thread_name("vigil-http").build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    rt.spawn(sample_rates(web.clone()));
    rt.spawn(async move {
        if let Err(e) = run(listener, web).await {
            eprintln!("vigil serve: the HTTP server stopped: {e:#}");
        }
    });
    Ok((local, rt))
}

/// A new `Web` over the serve's parts.
pub fn new(
    monitor: Arc<Monitor>,
    ingest: Arc<Ingest>,
    location: &str,
    reference: vigil_report::Reference,
    market: Arc<market::Market>,
    ingest_limit: usize,
) -> anyhow::Result<Arc<Web>> {
    Ok(Arc::new(Web {
        monitor,
        ingest,
        pool: Pool::new(location)?,
        reference,
        auth: Auth::default(),
        logins: Logins::default(),
        metrics: Metrics::new(api::ROUTES.len()),
        market,
        ingest_limit,
        rates: Mutex::default(),
        cache: Cache::new(location)?,
    }))
}
