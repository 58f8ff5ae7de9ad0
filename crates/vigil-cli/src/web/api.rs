//! The route table — the one policy every request is checked against — and the JSON API's
//! handlers. A route not in [`ROUTES`] does not exist; a route names who may call it.

use super::{market::Tick, pages, percent_encode, session_cookie, ApiError, Req, Resp, Web, SESSION_TTL_S};
use axum::body::Body;
use axum::http::Response;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use vigil_core::{AlertType, Level};
use vigil_store::{AlertFilter, CaseFilter, CaseOutcome, CaseStatus, Role, Status, StoredAlert, User};

/// Who may call a route. Deny by default: a route must name one.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (health, the API's description, signing in).
    Public,
    /// Any signed-in user: analyst, supervisor or admin.
    User,
    /// A supervisor (four-eyes decisions).
    Supervisor,
    /// A supervisor or an admin (suppression rules).
    Lead,
    /// An admin (users, monitoring sessions, feeding events).
    Admin,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::User => "analyst, supervisor, admin",
            Access::Supervisor => "supervisor",
            Access::Lead => "supervisor, admin",
            Access::Admin => "admin",
        }
    }
    /// Whether a user of `role` may call it.
    pub fn allows_role(self, role: Option<Role>) -> bool {
        match (self, role) {
            (Access::Public, _) => true,
            (_, None) => false,
            (Access::User, Some(_)) => true,
            (Access::Supervisor, Some(r)) => r == Role::Supervisor,
            (Access::Lead, Some(r)) => r == Role::Supervisor || r == Role::Admin,
            (Access::Admin, Some(r)) => r == Role::Admin,
        }
    }
    pub fn allows(self, user: Option<&User>, route: &Route) -> Result<(), ApiError> {
        if self.allows_role(user.map(|u| u.role)) {
            return Ok(());
        }
        match user {
            None => {
                Err(ApiError(401, format!("{} {} takes a signed-in user: sign in, or send a bearer token (vigil user token NAME)", route.method, route.path)))
            }
            Some(u) => Err(ApiError(403, format!("{} is {}: {} {} is for {}", u.name, u.role.as_str(), route.method, route.path, self.as_str()))),
        }
    }
}

/// A query parameter a route takes.
pub struct Param {
    pub name: &'static str,
    pub doc: &'static str,
    /// `string`, `integer`, `number` or `boolean`.
    pub ty: &'static str,
    /// The values it may take (empty: any of its type).
    pub values: &'static [&'static str],
}

const fn p(name: &'static str, ty: &'static str, doc: &'static str) -> Param {
    Param { name, doc, ty, values: &[] }
}
const fn pe(name: &'static str, values: &'static [&'static str], doc: &'static str) -> Param {
    Param { name, doc, ty: "string", values }
}

pub type Handler = fn(&Web, &Req) -> Result<Resp, ApiError>;

/// One route.
pub struct Route {
    pub method: &'static str,
    /// `{name}` is a path parameter.
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub query: &'static [Param],
    /// The JSON body's fields: (name, type, required, description); empty: no body.
    pub body: &'static [(&'static str, &'static str, bool, &'static str)],
    /// What it answers: `json`, `html`, `sse`, `text`, `file`, `redirect`.
    pub answers: &'static str,
    pub handler: Handler,
}

impl Route {
    /// The largest body it takes.
    pub fn body_limit(&self, ingest_limit: usize) -> usize {
        match self.path {
            "/api/v1/events" => ingest_limit,
            "/api/cases/{id}/evidence" => vigil_store::MAX_EVIDENCE_BYTES,
            _ => 1 << 20,
        }
    }

    /// Every query parameter is one the route declares, of its type and values.
    pub fn check_query(&self, q: &[(String, String)]) -> Result<(), ApiError> {
        for (k, v) in q {
            let Some(p) = self.query.iter().find(|p| p.name == k) else {
                let takes: Vec<&str> = self.query.iter().map(|p| p.name).collect();
                return Err(ApiError::bad(
                    k,
                    format!(
                        "{} {} takes no such query parameter{}",
                        self.method,
                        self.path,
                        if takes.is_empty() { String::new() } else { format!(" (it takes {})", takes.join(", ")) }
                    ),
                ));
            };
            if v.is_empty() {
                continue;
            }
            let ok = match p.ty {
                "integer" => v.parse::<i64>().is_ok(),
                "number" => v.parse::<f64>().is_ok_and(f64::is_finite),
                "boolean" => v == "true" || v == "false",
                _ => true,
            };
            if !ok {
                return Err(ApiError::bad(k, format!("{v:?} is not a {}", if p.ty == "integer" { "whole number" } else { p.ty })));
            }
            if !p.values.is_empty() && !p.values.contains(&v.as_str()) {
                return Err(ApiError::bad(k, format!("{v:?} is not one of {}", p.values.join(", "))));
            }
        }
        Ok(())
    }
}

const LEVELS: &[&str] = &["critical", "high", "medium", "low"];
const STATUSES: &[&str] = &["active", "resolved", "false_positive", "suppressed"];
const CASE_STATUSES: &[&str] = &["open", "investigating", "closed"];
/// The alert types' names, in `AlertType::ALL`'s order (a test holds them equal).
pub const TYPES: &[&str] = &[
    "spoofing",
    "layering",
    "wash_trading",
    "pump_and_dump",
    "quote_stuffing",
    "momentum_ignition",
    "marking_the_close",
    "cross_venue_manipulation",
    "volume_spike",
    "price_anomaly",
    "concentrated_trading",
    "unusual_timing",
    "price_discrepancy",
    "ml_anomaly",
];

const ALERT_QUERY: &[Param] = &[
    pe("type", TYPES, "Only alerts of this type."),
    pe("level", LEVELS, "Only alerts of this level."),
    pe("status", STATUSES, "Only alerts in this triage state."),
    p("symbol", "string", "Only alerts naming this symbol (exact)."),
    p("account", "string", "Only alerts naming this account (exact)."),
    p(
        "before",
        "string",
        "The next page: `TS:ID`, the time (ns since the epoch) and id of the last alert of this one (or `TS` alone: alerts detected before it).",
    ),
    p("limit", "integer", "At most this many, newest first (1 to 100000; default 100)."),
];
const STREAM_QUERY: &[Param] = &[
    pe("type", TYPES, "Only this type."),
    pe("level", LEVELS, "Only this level."),
    pe("status", STATUSES, "Only alerts stored in this state (active, or suppressed by a rule)."),
    p("symbol", "string", "Only alerts naming this symbol."),
    p(
        "after",
        "string",
        "Resume after the alert with this event id (`RUN-N`: the server's run and the alert's number in the order stored): those stored since come first, from the last 4096 held, after a `lagged` event when older ones are no longer held (counting alerts of every kind). An id of an earlier run resumes from the first held. A reconnect's Last-Event-ID header overrides it.",
    ),
];

/// Every route the server has. The order is the OpenAPI document's.
pub static ROUTES: &[Route] = &[
    // Open to all.
    Route {
        method: "GET",
        path: "/api/health",
        access: Access::Public,
        summary: "Liveness and version.",
        query: &[],
        body: &[],
        answers: "json",
        handler: health,
    },
    Route {
        method: "GET",
        path: "/api/openapi.json",
        access: Access::Public,
        summary: "This API's OpenAPI 3.1 description.",
        query: &[],
        body: &[],
        answers: "json",
        handler: openapi,
    },
    Route {
        method: "POST",
        path: "/api/login",
        access: Access::Public,
        summary: "Sign in: sets the browser's session cookie and returns the session's token (valid 12 h).",
        query: &[],
        body: &[("name", "string", true, "The user."), ("password", "string", true, "The password.")],
        answers: "json",
        handler: login,
    },
    Route {
        method: "GET",
        path: "/login",
        access: Access::Public,
        summary: "The sign-in page.",
        query: &[p("next", "string", "Where to go after.")],
        body: &[],
        answers: "html",
        handler: pages::login_page,
    },
    Route {
        method: "POST",
        path: "/login",
        access: Access::Public,
        summary: "The sign-in form (name, password, next).",
        query: &[p("next", "string", "Where to go after.")],
        body: &[],
        answers: "redirect",
        handler: pages::login_form,
    },
    Route {
        method: "GET",
        path: "/assets/{file}",
        access: Access::Public,
        summary: "The dashboard's script and style, embedded in the binary.",
        query: &[],
        body: &[],
        answers: "file",
        handler: pages::asset,
    },
    // Any user.
    Route {
        method: "POST",
        path: "/api/logout",
        access: Access::User,
        summary: "End this session (revokes its token, clears the cookie).",
        query: &[],
        body: &[],
        answers: "json",
        handler: logout,
    },
    Route { method: "GET", path: "/api/me", access: Access::User, summary: "Who is calling.", query: &[], body: &[], answers: "json", handler: me },
    Route {
        method: "GET",
        path: "/api/status",
        access: Access::User,
        summary: "The monitoring session, live ingest, totals and key thresholds.",
        query: &[],
        body: &[],
        answers: "json",
        handler: status,
    },
    Route {
        method: "GET",
        path: "/api/summary",
        access: Access::User,
        summary: "Alerts by level, type and status, the risk distribution, recommendations.",
        query: &[],
        body: &[],
        answers: "json",
        handler: summary,
    },
    Route {
        method: "GET",
        path: "/api/session",
        access: Access::User,
        summary: "The current (or last) monitoring session and the alerts it raised.",
        query: &[],
        body: &[],
        answers: "json",
        handler: session,
    },
    Route {
        method: "GET",
        path: "/api/dashboard",
        access: Access::User,
        summary: "The dashboard's figures: events per second, alerts by type and level per minute, open cases, backlog age.",
        query: &[],
        body: &[],
        answers: "json",
        handler: dashboard,
    },
    Route {
        method: "GET",
        path: "/api/alerts",
        access: Access::User,
        summary: "Stored alerts, newest first.",
        query: ALERT_QUERY,
        body: &[],
        answers: "json",
        handler: alerts,
    },
    Route {
        method: "GET",
        path: "/api/alerts/{id}",
        access: Access::User,
        summary: "One alert with its triage, the cases it is in and its audit entries.",
        query: &[],
        body: &[],
        answers: "json",
        handler: alert,
    },
    Route {
        method: "GET",
        path: "/api/alerts/{id}/market",
        access: Access::User,
        summary: "The market around an alert: the book before its window and every event of the window (suspects marked), while the serve still holds them.",
        query: &[p("pad_s", "number", "Seconds before and after the window (default 30).")],
        body: &[],
        answers: "json",
        handler: alert_market,
    },
    Route {
        method: "POST",
        path: "/api/alerts/{id}/resolve",
        access: Access::User,
        summary: "Triage: resolved or false_positive (a critical false positive becomes a proposal for a supervisor).",
        query: &[],
        body: &[("resolution", "string", true, "resolved or false_positive"), ("reason", "string", false, "Why.")],
        answers: "json",
        handler: resolve,
    },
    Route {
        method: "GET",
        path: "/api/cases",
        access: Access::User,
        summary: "Cases, newest first.",
        query: &[
            pe("status", CASE_STATUSES, "Only cases in this state."),
            p("assignee", "string", "Only cases assigned to this user."),
            p("limit", "integer", "At most this many (default 100)."),
        ],
        body: &[],
        answers: "json",
        handler: cases,
    },
    Route {
        method: "POST",
        path: "/api/cases",
        access: Access::User,
        summary: "Open a case from one or more alerts.",
        query: &[],
        body: &[("alert_ids", "array", true, "The alerts, by id."), ("title", "string", true, "The case's title.")],
        answers: "json",
        handler: open_case,
    },
    Route {
        method: "GET",
        path: "/api/cases/{id}",
        access: Access::User,
        summary: "A case: its alerts, notes, proposals and audit entries.",
        query: &[],
        body: &[],
        answers: "json",
        handler: case,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/alerts",
        access: Access::User,
        summary: "Link more alerts to a case.",
        query: &[],
        body: &[("alert_ids", "array", true, "The alerts, by id.")],
        answers: "json",
        handler: link,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/assign",
        access: Access::User,
        summary: "Assign a case to a user.",
        query: &[],
        body: &[("assignee", "string", true, "The user.")],
        answers: "json",
        handler: assign,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/comments",
        access: Access::User,
        summary: "Comment on a case.",
        query: &[],
        body: &[("text", "string", true, "The comment.")],
        answers: "json",
        handler: comment,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/evidence",
        access: Access::User,
        summary: "Attach a file to a case: the body is the file (up to 16 MiB); its SHA-256 is kept and audited.",
        query: &[p("name", "string", "The file's name (required).")],
        body: &[],
        answers: "json",
        handler: evidence,
    },
    Route {
        method: "GET",
        path: "/api/cases/{id}/evidence/{note}",
        access: Access::User,
        summary: "Download a case's evidence file.",
        query: &[],
        body: &[],
        answers: "file",
        handler: evidence_file,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/investigate",
        access: Access::User,
        summary: "Start investigating a case (open → investigating).",
        query: &[],
        body: &[],
        answers: "json",
        handler: investigate,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/close",
        access: Access::User,
        summary: "Close a case (violation or referred: a proposal for a supervisor, four eyes).",
        query: &[],
        body: &[("outcome", "string", true, "no_violation, violation or referred"), ("reason", "string", false, "Why.")],
        answers: "json",
        handler: close_case,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/reopen",
        access: Access::User,
        summary: "Reopen a closed case.",
        query: &[],
        body: &[("reason", "string", true, "Why.")],
        answers: "json",
        handler: reopen,
    },
    Route {
        method: "POST",
        path: "/api/cases/{id}/narrative",
        access: Access::User,
        summary: "Set the case's narrative (the report's story).",
        query: &[],
        body: &[("text", "string", true, "The narrative.")],
        answers: "json",
        handler: narrative,
    },
    Route {
        method: "GET",
        path: "/api/cases/{id}/report",
        access: Access::User,
        summary: "A case's regulatory report (STOR or SAR) as JSON, HTML or PDF; the export is audited.",
        query: &[pe("kind", &["stor", "sar"], "The report (default stor)."), pe("format", &["json", "html", "pdf"], "The format (default json).")],
        body: &[],
        answers: "file",
        handler: case_report,
    },
    Route {
        method: "GET",
        path: "/api/reports/integrity",
        access: Access::User,
        summary: "The market integrity report of a period; the export is audited.",
        query: &[
            p("from", "string", "The first day (2026-01-31) or an RFC 3339 time (required)."),
            p("to", "string", "The last day or a time (required)."),
            p("venue", "string", "Only this venue."),
            p("symbol", "string", "Only this symbol."),
            pe("format", &["json", "html", "pdf"], "The format (default json)."),
        ],
        body: &[],
        answers: "file",
        handler: integrity_report,
    },
    Route {
        method: "GET",
        path: "/api/proposals",
        access: Access::User,
        summary: "Four-eyes proposals.",
        query: &[p("all", "boolean", "Decided ones too (default: only those waiting).")],
        body: &[],
        answers: "json",
        handler: proposals,
    },
    Route {
        method: "GET",
        path: "/api/accounts/{id}",
        access: Access::User,
        summary: "An account: its alerts, its recent activity, and its behavioural profile (usual and recent activity, departures from both and from its peers, account risk; null until one is stored).",
        query: &[],
        body: &[],
        answers: "json",
        handler: account,
    },
    Route {
        method: "GET",
        path: "/api/market",
        access: Access::User,
        summary: "The symbols the serve holds recent events of, with their span.",
        query: &[],
        body: &[],
        answers: "json",
        handler: market,
    },
    Route {
        method: "GET",
        path: "/api/market/{symbol}/trades",
        access: Access::User,
        summary: "A symbol's last trades, oldest first.",
        query: &[p("limit", "integer", "At most this many (default 100, at most 10000).")],
        body: &[],
        answers: "json",
        handler: trades,
    },
    Route {
        method: "GET",
        path: "/api/stream/alerts",
        access: Access::User,
        summary: "Alerts as they are stored, with their triage state (server-sent events named `alert`).",
        query: STREAM_QUERY,
        body: &[],
        answers: "sse",
        handler: stream_alerts,
    },
    Route {
        method: "GET",
        path: "/api/stream/trades",
        access: Access::User,
        summary: "Trades as they happen (server-sent events named `trade`).",
        query: &[p("symbol", "string", "Only this symbol.")],
        body: &[],
        answers: "sse",
        handler: stream_trades,
    },
    Route {
        method: "GET",
        path: "/api/patterns",
        access: Access::User,
        summary: "The catalogue of alert types: description, indicators, default risk, basis.",
        query: &[],
        body: &[],
        answers: "json",
        handler: patterns,
    },
    Route {
        method: "GET",
        path: "/api/config",
        access: Access::User,
        summary: "The detectors' configuration in force.",
        query: &[],
        body: &[],
        answers: "json",
        handler: config,
    },
    Route { method: "GET", path: "/api/rules", access: Access::User, summary: "Suppression rules.", query: &[], body: &[], answers: "json", handler: rules },
    Route {
        method: "GET",
        path: "/api/audit",
        access: Access::User,
        summary: "Audit log entries, oldest first.",
        query: &[
            p("after", "integer", "Entries after this sequence number (default 0)."),
            p("limit", "integer", "At most this many (default 100, at most 10000)."),
        ],
        body: &[],
        answers: "json",
        handler: audit,
    },
    Route {
        method: "GET",
        path: "/api/audit/verify",
        access: Access::User,
        summary: "Check the audit log's hash chain.",
        query: &[],
        body: &[],
        answers: "json",
        handler: audit_verify,
    },
    Route {
        method: "POST",
        path: "/api/simulation/inject",
        access: Access::User,
        summary: "Inject a labelled scenario into the running simulated market; it starts a second later.",
        query: &[],
        body: &[("type", "string", true, "The alert type the scenario stands for.")],
        answers: "json",
        handler: inject,
    },
    Route {
        method: "POST",
        path: "/api/tokens",
        access: Access::User,
        summary: "Issue an API token (your own; an admin's for anyone). Shown once.",
        query: &[],
        body: &[("user", "string", false, "Whose (default: yours)."), ("days", "integer", false, "Valid for (default 90).")],
        answers: "json",
        handler: issue_token,
    },
    Route {
        method: "POST",
        path: "/api/tokens/revoke",
        access: Access::User,
        summary: "Revoke an API token (your own; an admin's for anyone).",
        query: &[],
        body: &[("token", "string", true, "The token, whole.")],
        answers: "json",
        handler: revoke_token,
    },
    Route {
        method: "GET",
        path: "/metrics",
        access: Access::User,
        summary: "Prometheus metrics (scrape with a bearer token).",
        query: &[],
        body: &[],
        answers: "text",
        handler: metrics,
    },
    // Supervisors.
    Route {
        method: "POST",
        path: "/api/proposals/{id}/decide",
        access: Access::Supervisor,
        summary: "Approve or reject a four-eyes proposal (not one's own).",
        query: &[],
        body: &[("approve", "boolean", true, "Approve (true) or reject."), ("reason", "string", false, "Why.")],
        answers: "json",
        handler: decide,
    },
    // Supervisors and admins.
    Route {
        method: "POST",
        path: "/api/rules",
        access: Access::Lead,
        summary: "Add a suppression rule (an account or a symbol, optionally a type and a venue).",
        query: &[],
        body: &[
            ("account", "string", false, "The account."),
            ("symbol", "string", false, "The symbol."),
            ("type", "string", false, "Only this alert type."),
            ("venue", "string", false, "Only this venue."),
            ("reason", "string", true, "Why."),
            ("days", "number", false, "Expires after (default: never)."),
        ],
        answers: "json",
        handler: add_rule,
    },
    Route {
        method: "POST",
        path: "/api/rules/{id}/revoke",
        access: Access::Lead,
        summary: "Revoke a suppression rule.",
        query: &[],
        body: &[("reason", "string", true, "Why.")],
        answers: "json",
        handler: revoke_rule,
    },
    // Admins.
    Route { method: "GET", path: "/api/users", access: Access::Admin, summary: "Users and roles.", query: &[], body: &[], answers: "json", handler: users },
    Route {
        method: "POST",
        path: "/api/users",
        access: Access::Admin,
        summary: "Add a user.",
        query: &[],
        body: &[
            ("name", "string", true, "The name."),
            ("role", "string", true, "analyst, supervisor or admin"),
            ("password", "string", true, "At least 12 characters."),
        ],
        answers: "json",
        handler: add_user,
    },
    Route {
        method: "POST",
        path: "/api/start",
        access: Access::Admin,
        summary: "Start a monitoring session on the simulated market.",
        query: &[],
        body: &[
            ("symbols", "array", true, "Symbol names."),
            ("duration_s", "number", true, "Wall-clock seconds."),
            ("speed", "number", false, "Event-time seconds per wall-clock second (default 1)."),
            ("seed", "integer", false, "The simulator's seed (default 1)."),
        ],
        answers: "json",
        handler: start,
    },
    Route {
        method: "POST",
        path: "/api/stop",
        access: Access::Admin,
        summary: "Stop the monitoring session.",
        query: &[],
        body: &[],
        answers: "json",
        handler: stop,
    },
    Route {
        method: "POST",
        path: "/api/v1/events",
        access: Access::Admin,
        summary: "Live ingest: a batch of the spec's JSON Lines, journaled before the answer; rejected lines are listed with field and reason.",
        query: &[],
        body: &[],
        answers: "json",
        handler: post_events,
    },
    // The dashboard's pages.
    Route { method: "GET", path: "/", access: Access::User, summary: "Dashboard.", query: &[], body: &[], answers: "html", handler: pages::dashboard },
    Route {
        method: "GET",
        path: "/trades",
        access: Access::User,
        summary: "The live trades of a symbol.",
        query: &[p("symbol", "string", "The symbol.")],
        body: &[],
        answers: "html",
        handler: pages::trades,
    },
    Route {
        method: "GET",
        path: "/alerts",
        access: Access::User,
        summary: "Alerts, filtered, live.",
        query: ALERT_QUERY,
        body: &[],
        answers: "html",
        handler: pages::alerts,
    },
    Route {
        method: "GET",
        path: "/alerts/{id}",
        access: Access::User,
        summary: "An alert: story, evidence, charts, order-book replay, triage.",
        query: &[],
        body: &[],
        answers: "html",
        handler: pages::alert,
    },
    Route {
        method: "GET",
        path: "/cases",
        access: Access::User,
        summary: "Cases.",
        query: &[pe("status", CASE_STATUSES, "Only cases in this state.")],
        body: &[],
        answers: "html",
        handler: pages::cases,
    },
    Route {
        method: "GET",
        path: "/cases/{id}",
        access: Access::User,
        summary: "A case: alerts, timeline, comments, approvals, audit.",
        query: &[],
        body: &[],
        answers: "html",
        handler: pages::case,
    },
    Route {
        method: "GET",
        path: "/accounts/{id}",
        access: Access::User,
        summary: "An account's profile and recent alerts.",
        query: &[],
        body: &[],
        answers: "html",
        handler: pages::account,
    },
    Route {
        method: "GET",
        path: "/simulation",
        access: Access::User,
        summary: "Simulation control: inject a scenario and watch it get caught.",
        query: &[],
        body: &[],
        answers: "html",
        handler: pages::simulation,
    },
    Route {
        method: "GET",
        path: "/settings",
        access: Access::User,
        summary: "The detector thresholds in force.",
        query: &[],
        body: &[],
        answers: "html",
        handler: pages::settings,
    },
];

/// What a request's method and path are.
pub enum Found {
    Route(usize, Vec<(&'static str, String)>),
    /// The path exists with other methods.
    Method(Vec<&'static str>),
    Nothing,
}

/// Finds the route of `method` and `path`; path parameters are percent-decoded.
pub fn find(method: &str, path: &str) -> Found {
    let segs: Vec<&str> = path.split('/').collect();
    let mut methods = Vec::new();
    for (i, r) in ROUTES.iter().enumerate() {
        let pat: Vec<&str> = r.path.split('/').collect();
        if pat.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let ok = pat.iter().zip(&segs).all(|(p, s)| match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !s.is_empty() => {
                params.push((name, super::percent_decode(s)));
                true
            }
            Some(_) => false,
            None => p == s,
        });
        if !ok {
            continue;
        }
        if r.method == method {
            return Found::Route(i, params);
        }
        methods.push(r.method);
    }
    if methods.is_empty() {
        Found::Nothing
    } else {
        Found::Method(methods)
    }
}

/// Pages answer people (an error page, a redirect to sign in); the rest answer programs (JSON).
pub fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics" || path.starts_with("/assets/"))
}

// ---------- shared pieces ----------

fn text(b: &Value, k: &str) -> String {
    b[k].as_str().unwrap_or("").to_string()
}

fn required(b: &Value, k: &str) -> Result<String, ApiError> {
    match b.get(k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::bad(k, "required")),
        Some(_) => Err(ApiError::bad(k, "a string is expected")),
    }
}

fn string_list(b: &Value, k: &str) -> Result<Vec<String>, ApiError> {
    match b.get(k) {
        Some(Value::Array(a)) if !a.is_empty() => {
            a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(|| ApiError::bad(k, "a list of strings is expected"))).collect()
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()),
        Some(Value::Array(_)) | None | Some(Value::Null) | Some(Value::String(_)) => Err(ApiError::bad(k, "at least one is required")),
        Some(_) => Err(ApiError::bad(k, "a list of strings is expected")),
    }
}

fn outcome(o: vigil_store::Outcome) -> Resp {
    match o {
        vigil_store::Outcome::Done => Resp::Json(json!({"done": true})),
        vigil_store::Outcome::Proposed(id) => Resp::Json(json!({"done": false, "proposal": id, "note": "this takes a supervisor's approval (four eyes)"})),
    }
}

/// An alert as the API gives it: the spec's alert with its triage.
pub fn alert_json(x: &StoredAlert) -> Value {
    let mut v = serde_json::to_value(&x.alert).unwrap_or(Value::Null);
    v["status"] = x.status.as_str().into();
    if let Some(b) = &x.status_by {
        v["status_by"] = b.as_str().into();
        v["status_at"] = x.status_at.into();
        v["status_reason"] = x.status_reason.as_deref().into();
    }
    v
}

pub fn case_json(c: &vigil_store::Case) -> Value {
    json!({
        "case_id": c.id, "title": c.title, "status": c.status.as_str(), "outcome": c.outcome.map(|o| o.as_str()),
        "assignee": c.assignee, "opened_by": c.opened_by, "opened_at": c.opened_at, "updated_at": c.updated_at,
        "closed_by": c.closed_by, "closed_at": c.closed_at, "close_reason": c.close_reason, "alerts": c.alerts,
    })
}

pub fn entry_json(e: &vigil_store::Entry) -> Value {
    json!({
        "seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "object_type": e.object_type, "object_id": e.object_id,
        "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::String(e.details.clone())), "hash": e.hash,
    })
}

pub fn proposal_json(p: &vigil_store::Proposal) -> Value {
    json!({
        "id": p.id, "action": p.action, "object_type": p.object_type, "object_id": p.object_id, "details": p.details,
        "proposed_by": p.proposed_by, "proposed_at": p.proposed_at, "decision": p.decision, "decided_by": p.decided_by, "decided_at": p.decided_at,
    })
}

fn limit(r: &Req, default: i64, max: i64) -> Result<i64, ApiError> {
    match r.query("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad("limit", format!("{v:?} is not a whole number from 1 to {max}"))),
        },
    }
}

/// The alert filter of a query (the API's and the alerts page's).
pub fn alert_filter(r: &Req) -> Result<AlertFilter, ApiError> {
    Ok(AlertFilter {
        level: r.query("level").and_then(Level::parse),
        status: r.query("status").and_then(Status::parse),
        kind: r.query("type").map(str::to_string),
        symbol: r.query("symbol").map(str::to_string),
        account: r.query("account").map(str::to_string),
        before: match r.query("before") {
            None => None,
            Some(b) => {
                let (t, id) = b.split_once(':').map_or((b, None), |(t, id)| (t, Some(id.to_string())));
                Some((t.parse().map_err(|_| ApiError::bad("before", format!("{b:?} is not TS or TS:ID (a time in ns since the epoch, an alert id)")))?, id))
            }
        },
        limit: Some(limit(r, 100, 100_000)?),
    })
}

// ---------- handlers ----------

fn health(_: &Web, _: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(json!({"ok": true, "version": env!("CARGO_PKG_VERSION")})))
}

fn openapi(_: &Web, _: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(super::openapi::document()))
}

/// Checks a name and password; on success, a new token valid for a login's lifetime.
pub fn sign_in(w: &Web, name: &str, password: &str) -> Result<(User, String), ApiError> {
    let mut s = w.pool.get()?;
    let refused = || ApiError(401, "the name or the password is wrong".into());
    // The password first, whether the name exists or not (the store takes as long either way).
    if !w.logins.check(name, || Ok(s.check_password(name, password)?))? {
        return Err(refused());
    }
    let user = s.user(name)?.filter(|u| !u.disabled).ok_or_else(refused)?;
    let token = s.issue_token(name, SESSION_TTL_S, name)?;
    Ok((user, token))
}

fn login(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let (name, password) = (required(&b, "name")?, required(&b, "password")?);
    let (user, token) = sign_in(w, &name, &password)?;
    let cookie = session_cookie(Some(&token));
    Ok(Resp::JsonCookie(json!({"user": user.name, "role": user.role.as_str(), "token": token, "expires_in_s": SESSION_TTL_S}), cookie))
}

fn logout(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let user = r.user()?;
    if let Some(t) = &r.token {
        w.pool.get()?.revoke_token(t, &user.name)?;
    }
    w.auth.forget_all();
    Ok(Resp::JsonCookie(json!({"signed_out": user.name}), session_cookie(None)))
}

fn me(_: &Web, r: &Req) -> Result<Resp, ApiError> {
    let u = r.user()?;
    Ok(Resp::Json(json!({"name": u.name, "role": u.role.as_str()})))
}

fn status(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    let mut v = crate::serve::status(Some(&w.monitor), &mut *w.pool.get()?)?;
    v["ingest"] = json!({
        "accepted": w.ingest.accepted.load(Ordering::Relaxed),
        "rejected": w.ingest.rejected.load(Ordering::Relaxed),
        "last_seq": w.ingest.last_seq(),
        "journal": w.ingest.journal().display().to_string(),
    });
    Ok(Resp::Json(v))
}

fn summary(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(crate::serve::summary(&mut *w.pool.get()?)?))
}

fn session(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    let s = w.monitor.lock();
    Ok(Resp::Json(json!({
        "number": s.number, "running": s.running, "request": s.request, "started_at": s.started_at, "ended_at": s.ended_at,
        "error": s.error, "alerts": s.alerts, "injected": s.injected.iter().map(|i| json!({"type": i.kind.as_str(), "by": i.by, "placed": i.placed, "at": i.at})).collect::<Vec<_>>(),
    })))
}

/// Events handled so far (simulated sessions and live ingest).
pub fn events_total(w: &Web) -> u64 {
    w.monitor.events.load(Ordering::Relaxed) + w.ingest.accepted.load(Ordering::Relaxed)
}

fn dashboard(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(pages::dashboard_figures(w)?))
}

fn alerts(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let f = alert_filter(r)?;
    // The same question at the same store version has the same answer.
    let version = w.cache.version();
    let key = format!("{f:?}");
    if let Some(hit) = version.and_then(|v| w.cache.get(&key, v)) {
        return Ok(Resp::JsonBytes(hit));
    }
    let list = w.pool.get()?.alerts(&f)?;
    let bytes = axum::body::Bytes::from(Value::Array(list.iter().map(alert_json).collect()).to_string());
    if let Some(v) = version {
        w.cache.put(key, v, bytes.clone());
    }
    Ok(Resp::JsonBytes(bytes))
}

fn alert(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let id = r.param("id");
    let mut s = w.pool.get()?;
    let a = s.alert(id)?.ok_or_else(|| ApiError(404, format!("no alert {id}")))?;
    let mut v = alert_json(&a);
    v["cases"] = json!(s.cases_of_alert(id)?);
    v["audit"] = Value::Array(s.audit_of("alert", id)?.iter().map(entry_json).collect());
    Ok(Resp::Json(v))
}

/// The book as it stood before `ticks[from..]`: live orders by id, replayed from what is held.
pub fn book_before(ticks: &[Tick]) -> Book {
    let mut book = rustc_hash::FxHashMap::default();
    for t in ticks {
        apply(&mut book, t);
    }
    book
}

/// Live orders by id: side, price, open quantity, account.
pub type Book = rustc_hash::FxHashMap<String, (vigil_core::Side, f64, f64, Option<Arc<str>>)>;

fn apply(book: &mut Book, t: &Tick) {
    match t.kind {
        "new" => {
            if let (Some(o), Some(side), Some(price), Some(qty)) = (&t.order, t.side, t.price, t.qty) {
                book.insert(o.to_string(), (side, price, qty, t.account.clone()));
            }
        }
        "amend" => {
            if let Some(e) = t.order.as_ref().and_then(|o| book.get_mut(o.as_str())) {
                if let Some(p) = t.price {
                    e.1 = p;
                }
                if let Some(q) = t.qty {
                    e.2 = q;
                }
            }
        }
        "cancel" => {
            if let Some(o) = &t.order {
                book.remove(o.as_str());
            }
        }
        "trade" => {
            if let Some((b, s)) = &t.orders {
                for o in [b, s].into_iter().flatten() {
                    if let Some(e) = book.get_mut(o.as_str()) {
                        e.2 -= t.qty.unwrap_or(0.0);
                        if e.2 <= 1e-12 {
                            book.remove(o.as_str());
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Events of an alert's window shown at most (the earliest are folded into the book before).
const MAX_WINDOW_EVENTS: usize = 20_000;

/// The market around an alert, for its charts and replay: the book as it stood before the events
/// shown (replayed from everything held before them), and the events, the suspects' marked.
pub fn alert_market_json(w: &Web, a: &StoredAlert, pad_s: f64) -> Value {
    let pad = (pad_s.clamp(0.0, 3600.0) * 1e9) as i64;
    let Some(symbol) = a.alert.symbols.first() else { return json!({"held": false, "reason": "the alert names no symbol"}) };
    let (from, to) = (a.alert.window_start - pad, a.alert.window_end.max(a.alert.ts) + pad);
    let Some((first, last)) = w.market.span(symbol) else {
        return json!({"held": false, "symbol": symbol, "reason": "the serve holds no events of this symbol (it keeps the recent market of what it monitors since it started)"});
    };
    // Some of the window must be held (a long window — a day's wash ring — may be held in part).
    let end = a.alert.window_end.max(a.alert.ts);
    if first > end || last < a.alert.window_start {
        return json!({"held": false, "symbol": symbol, "reason": "the window is older than the recent market the serve holds"});
    }
    // Every simulated session replays the same event times: a session's market shows only its
    // own alerts.
    if let Some(session) = w.market.source(symbol).filter(|s| s.starts_with("session:")) {
        let s = w.monitor.lock();
        if format!("session:{}", s.number) != session || !s.alerts.iter().any(|x| x.alert_id == a.alert.alert_id) {
            return json!({"held": false, "symbol": symbol, "reason": format!("the serve now holds the market of another run of this symbol ({session})")});
        }
    }
    let partial = first > a.alert.window_start;
    let from = from.max(first);
    let mut held = w.market.window(symbol, i64::MIN, to, usize::MAX);
    let mut start = held.partition_point(|t| t.ts < from);
    let mut stop = held.len();
    let cut = stop - start > MAX_WINDOW_EVENTS;
    if cut {
        // The window first; of the margins, what room is left, as much before as after.
        let ws = held.partition_point(|t| t.ts < a.alert.window_start).max(start);
        let we = held.partition_point(|t| t.ts <= end);
        if we - ws >= MAX_WINDOW_EVENTS {
            (start, stop) = (ws, ws + MAX_WINDOW_EVENTS);
        } else {
            let room = MAX_WINDOW_EVENTS - (we - ws);
            start = ws - (room / 2).min(ws - start);
            stop = (start + MAX_WINDOW_EVENTS).min(stop);
        }
    }
    held.truncate(stop);
    let shown = held.split_off(start);
    let book = book_before(&held);
    let mut levels: Vec<Value> = book
        .iter()
        .map(|(id, (side, price, qty, acc))| json!({"order_id": id, "side": side.as_str(), "price": price, "qty": qty, "account": acc.as_deref()}))
        .collect();
    levels.sort_by(|x, y| {
        x["price"]
            .as_f64()
            .partial_cmp(&y["price"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| x["order_id"].as_str().cmp(&y["order_id"].as_str()))
    });
    let suspects: Vec<&str> = a.alert.accounts.iter().map(String::as_str).collect();
    let events: Vec<Value> = shown
        .iter()
        .map(|t| {
            let mut v = t.json();
            let named = [t.account.as_deref(), t.seller.as_deref()].into_iter().flatten().any(|x| suspects.contains(&x));
            v["suspect"] = named.into();
            v
        })
        .collect();
    let (from, to) = if cut { (shown.first().map_or(from, |t| t.ts), shown.last().map_or(to, |t| t.ts)) } else { (from, to) };
    json!({
        "held": true, "symbol": symbol, "from": from, "to": to, "window_start": a.alert.window_start, "window_end": a.alert.window_end,
        "suspects": suspects, "book_before": levels, "events": events, "cut": cut, "partial": partial,
    })
}

fn alert_market(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let id = r.param("id");
    let a = w.pool.get()?.alert(id)?.ok_or_else(|| ApiError(404, format!("no alert {id}")))?;
    let pad = r.query("pad_s").and_then(|p| p.parse().ok()).unwrap_or(30.0);
    Ok(Resp::Json(alert_market_json(w, &a, pad)))
}

fn resolve(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let user = r.user()?;
    let res = required(&b, "resolution")?;
    let status = Status::parse(&res)
        .filter(|s| matches!(s, Status::Resolved | Status::FalsePositive))
        .ok_or_else(|| ApiError::bad("resolution", "resolved or false_positive"))?;
    Ok(outcome(w.pool.get()?.resolve(r.param("id"), status, &user.name, &text(&b, "reason"))?))
}

fn cases(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let f = CaseFilter {
        status: r.query("status").and_then(CaseStatus::parse),
        assignee: r.query("assignee").map(str::to_string),
        limit: Some(limit(r, 100, 10_000)?),
    };
    Ok(Resp::Json(Value::Array(w.pool.get()?.cases(&f)?.iter().map(case_json).collect())))
}

fn open_case(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let ids = string_list(&b, "alert_ids")?;
    let title = required(&b, "title")?;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    Ok(Resp::Json(json!({"case_id": w.pool.get()?.open_case(&r.user()?.name, &title, &ids)?})))
}

/// A case with everything about it.
pub fn case_full(w: &Web, id: i64) -> Result<Value, ApiError> {
    let mut s = w.pool.get()?;
    let c = s.case(id)?.ok_or_else(|| ApiError(404, format!("no case {id}")))?;
    let mut v = case_json(&c);
    let mut alerts = Vec::new();
    for a in &c.alerts {
        if let Some(x) = s.alert(a)? {
            alerts.push(alert_json(&x));
        }
    }
    v["alert_details"] = Value::Array(alerts);
    v["notes"] = Value::Array(
        s.case_notes(id)?
            .iter()
            .map(|n| json!({"id": n.id, "kind": n.kind, "author": n.author, "at": n.at, "body": n.body, "size": n.size, "sha256": n.sha256}))
            .collect(),
    );
    v["narrative"] = s.narrative(id)?.map(|n| n.body).into();
    let key = id.to_string();
    v["proposals"] = Value::Array(s.proposals(false)?.iter().filter(|p| p.object_type == "case" && p.object_id == key).map(proposal_json).collect());
    v["audit"] = Value::Array(s.audit_of("case", &key)?.iter().map(entry_json).collect());
    Ok(v)
}

fn case(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(case_full(w, r.id("id")?)?))
}

fn link(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let ids = string_list(&b, "alert_ids")?;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    w.pool.get()?.link_alerts(r.id("id")?, &r.user()?.name, &ids)?;
    Ok(Resp::Json(json!({"done": true})))
}

fn assign(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    w.pool.get()?.assign_case(r.id("id")?, &r.user()?.name, &required(&b, "assignee")?)?;
    Ok(Resp::Json(json!({"done": true})))
}

fn comment(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let id = w.pool.get()?.comment_case(r.id("id")?, &r.user()?.name, &required(&b, "text")?)?;
    Ok(Resp::Json(json!({"note": id})))
}

fn evidence(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let name = r.query("name").ok_or_else(|| ApiError::bad("name", "required: the file's name"))?;
    if r.body.is_empty() {
        return Err(ApiError::bad("body", "the file is empty"));
    }
    let (note, sha) = w.pool.get()?.attach_evidence(r.id("id")?, &r.user()?.name, name, &r.body)?;
    Ok(Resp::Json(json!({"note": note, "sha256": sha, "size": r.body.len()})))
}

fn evidence_file(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let (case_id, note) = (r.id("id")?, r.id("note")?);
    let mut s = w.pool.get()?;
    if !s.case_notes(case_id)?.iter().any(|n| n.id == note && n.kind == "evidence") {
        return Err(ApiError(404, format!("case {case_id} has no evidence {note}")));
    }
    let (name, bytes) = s.evidence(note)?;
    Ok(Resp::Bytes("application/octet-stream", bytes, Some(name.replace(['"', '\\', '\r', '\n'], "_"))))
}

fn investigate(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    w.pool.get()?.investigate_case(r.id("id")?, &r.user()?.name)?;
    Ok(Resp::Json(json!({"done": true})))
}

fn close_case(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let o = CaseOutcome::parse(&required(&b, "outcome")?).ok_or_else(|| ApiError::bad("outcome", "no_violation, violation or referred"))?;
    Ok(outcome(w.pool.get()?.close_case(r.id("id")?, &r.user()?.name, o, &text(&b, "reason"))?))
}

fn reopen(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    w.pool.get()?.reopen_case(r.id("id")?, &r.user()?.name, &required(&b, "reason")?)?;
    Ok(Resp::Json(json!({"done": true})))
}

fn narrative(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let id = w.pool.get()?.set_narrative(r.id("id")?, &r.user()?.name, &required(&b, "text")?)?;
    Ok(Resp::Json(json!({"note": id})))
}

fn report_format(r: &Req) -> Result<vigil_report::Format, ApiError> {
    let f = r.query("format").unwrap_or("json");
    let format = vigil_report::Format::parse(f).ok_or_else(|| ApiError::bad("format", format!("{f:?} is not json, html or pdf")))?;
    if format == vigil_report::Format::Pdf && !vigil_report::PDF {
        return Err(ApiError::bad("format", "this build writes no PDF (the `pdf` feature)"));
    }
    Ok(format)
}

fn case_report(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let user = r.user()?;
    let format = report_format(r)?;
    let case_id = r.id("id")?;
    let kind = match r.query("kind").unwrap_or("stor") {
        "sar" => crate::report::Kind::Sar,
        _ => crate::report::Kind::Stor,
    };
    let mut st = w.pool.get()?;
    if st.case(case_id)?.is_none() {
        return Err(ApiError(404, format!("no case {case_id}")));
    }
    let sources = crate::report::Sources::default();
    let now = vigil_store::now_ns();
    let req = crate::report::CaseRequest { case_id, kind, format, sources: &sources, reference: w.reference.clone(), actor: &user.name, now };
    let (bytes, export) = crate::report::case_report(&mut st, req)?;
    vigil_report::record_export(&mut st, &user.name, &export, &bytes)?;
    Ok(Resp::Bytes(format.content_type(), bytes, Some(format!("{}-case-{case_id}.{}", kind.as_str(), format.extension()))))
}

fn integrity_report(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let user = r.user()?;
    let format = report_format(r)?;
    let bound = |k: &str, end: bool| -> Result<i64, ApiError> {
        let v = r.query(k).ok_or_else(|| ApiError::bad(k, "a date (2026-01-31) or an RFC 3339 time is required"))?;
        crate::report::bound(v, end, k).map_err(|e| ApiError(400, format!("{e:#}")))
    };
    let (from, to) = (bound("from", false)?, bound("to", true)?);
    if to <= from {
        return Err(ApiError::bad("to", "the period is empty (to must be after from)"));
    }
    let mut st = w.pool.get()?;
    let now = vigil_store::now_ns();
    let (bytes, export) =
        crate::report::integrity_report(&mut st, from, to, r.query("venue").map(str::to_string), r.query("symbol").map(str::to_string), format, now)?;
    vigil_report::record_export(&mut st, &user.name, &export, &bytes)?;
    Ok(Resp::Bytes(format.content_type(), bytes, Some(format!("integrity.{}", format.extension()))))
}

fn proposals(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let all = r.query("all") == Some("true");
    Ok(Resp::Json(Value::Array(w.pool.get()?.proposals(!all)?.iter().map(proposal_json).collect())))
}

/// An account's alerts and recent activity.
pub fn account_json(w: &Web, id: &str) -> Result<Value, ApiError> {
    let (list, types, profile) = {
        let mut s = w.pool.get()?;
        let profile = crate::accounts::profile_json(&mut s, id)?;
        (s.alerts(&AlertFilter { account: Some(id.to_string()), limit: Some(50), ..Default::default() })?, s.alert_types_naming(id)?, profile)
    };
    let total: i64 = types.iter().map(|t| t.1).sum();
    let by_type: Map<String, Value> = types.into_iter().map(|(t, n)| (t, json!(n))).collect();
    let (mut orders, mut cancels, mut trades, mut volume) = (0u64, 0u64, 0u64, 0.0f64);
    let (mut symbols, mut venues) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    let mut last = None;
    for sym in w.market.symbols() {
        for t in w.market.window(&sym, i64::MIN, i64::MAX, usize::MAX) {
            let named = t.account.as_deref() == Some(id) || t.seller.as_deref() == Some(id);
            if !named {
                continue;
            }
            match t.kind {
                "new" => orders += 1,
                "cancel" => cancels += 1,
                "trade" => {
                    trades += 1;
                    volume += t.qty.unwrap_or(0.0);
                }
                _ => {}
            }
            symbols.insert(t.symbol.to_string());
            venues.insert(t.venue.to_string());
            last = last.max(Some(t.ts));
        }
    }
    let risk = list.iter().filter(|a| a.status != Status::FalsePositive).map(|a| a.alert.risk_score).fold(0.0f64, f64::max);
    Ok(json!({
        "account": id,
        "alerts": total,
        "alerts_by_type": by_type,
        "highest_recent_risk": risk,
        "recent": {"orders": orders, "cancels": cancels, "cancel_ratio": if orders > 0 { cancels as f64 / orders as f64 } else { 0.0 }, "trades": trades, "volume": volume, "symbols": symbols, "venues": venues, "last_seen": last},
        "recent_alerts": list.iter().map(alert_json).collect::<Vec<_>>(),
        "profile": profile,
    }))
}

fn account(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(account_json(w, r.param("id"))?))
}

fn market(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    let v: Vec<Value> = w.market.symbols().iter().map(|s| json!({"symbol": s, "span": w.market.span(s)})).collect();
    Ok(Resp::Json(Value::Array(v)))
}

fn trades(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let n = limit(r, 100, 10_000)? as usize;
    Ok(Resp::Json(Value::Array(w.market.last_trades(r.param("symbol"), n).iter().map(Tick::json).collect())))
}

/// What a stream carries.
pub enum Stream {
    Alerts { kind: Option<AlertType>, level: Option<Level>, status: Option<Status>, symbol: Option<String>, after: Option<u64> },
    Trades { symbol: Option<String> },
}

fn stream_alerts(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    // A reconnect says the last id it had; an id of another kind resumes nothing.
    let after = match (r.last_event_id.as_deref().and_then(|v| w.monitor.event_number(v)), r.query("after")) {
        (Some(n), _) => Some(n),
        (None, Some(v)) => Some(w.monitor.event_number(v).ok_or_else(|| ApiError::bad("after", format!("{v:?} is not an alert's event id (RUN-N)")))?),
        (None, None) => None,
    };
    Ok(Resp::Sse(Stream::Alerts {
        after,
        kind: r.query("type").and_then(AlertType::parse),
        level: r.query("level").and_then(Level::parse),
        status: r.query("status").and_then(Status::parse),
        symbol: r.query("symbol").map(str::to_string),
    }))
}

fn stream_trades(_: &Web, r: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Sse(Stream::Trades { symbol: r.query("symbol").map(str::to_string) }))
}

/// Decrements the stream gauge when a stream ends.
struct Gauge(Arc<Web>);
impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.metrics.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A server-sent event stream. A client too slow to keep up is told how many it missed (an
/// event named `lagged`) rather than silently skipped.
pub fn sse(web: Arc<Web>, s: Stream) -> Response<Body> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::response::IntoResponse;
    use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};
    use tokio_stream::StreamExt;
    web.metrics.sse_clients.fetch_add(1, Ordering::Relaxed);
    let gauge = Arc::new(Gauge(web.clone()));
    let lagged = |n: u64| Some(Ok::<_, std::convert::Infallible>(Event::default().event("lagged").data(json!({"missed": n}).to_string())));
    let keep = KeepAlive::new().interval(std::time::Duration::from_secs(15));
    match s {
        Stream::Alerts { kind, level, status, symbol, after } => {
            let g = gauge.clone();
            // Without `after`, only what is stored from now on.
            let (missed, held, live) = match after {
                None => (0, Vec::new(), web.monitor.stored_live.subscribe()),
                Some(n) => web.monitor.stored_after(n),
            };
            let monitor = web.monitor.clone();
            let event = move |(n, x): (u64, Arc<StoredAlert>)| {
                let a = &x.alert;
                let wanted = kind.is_none_or(|k| a.kind == k)
                    && level.is_none_or(|l| a.level == l)
                    && status.is_none_or(|s| x.status == s)
                    && symbol.as_ref().is_none_or(|s| a.symbols.contains(s));
                let id = Event::default().id(monitor.event_id(n));
                // An alert filtered out still moves the client's last id (an event without data
                // is not dispatched), so that a reconnect resumes after it, not before.
                Some(Ok(if wanted { id.event("alert").data(alert_json(&x).to_string()) } else { id }))
            };
            let first = (missed > 0).then(|| lagged(missed)).flatten();
            let held = tokio_stream::iter(first.into_iter().chain(held.into_iter().filter_map(event.clone())));
            let st = held.chain(BroadcastStream::new(live).filter_map(move |x| {
                let _ = &g;
                match x {
                    Ok(x) => event(x),
                    Err(BroadcastStreamRecvError::Lagged(n)) => lagged(n),
                }
            }));
            Sse::new(st).keep_alive(keep).into_response()
        }
        Stream::Trades { symbol } => {
            let g = gauge.clone();
            let st = BroadcastStream::new(web.market.trades.subscribe()).filter_map(move |x| {
                let _ = &g;
                match x {
                    Ok(t) => symbol.as_ref().is_none_or(|s| &*t.symbol == s.as_str()).then(|| Ok(Event::default().event("trade").data(t.json().to_string()))),
                    Err(BroadcastStreamRecvError::Lagged(n)) => lagged(n),
                }
            });
            Sse::new(st).keep_alive(keep).into_response()
        }
    }
}

fn patterns(_: &Web, _: &Req) -> Result<Resp, ApiError> {
    let v: Vec<Value> = vigil_detect::detectors::CATALOGUE
        .iter()
        .map(|p| {
            json!({"name": p.kind.as_str(), "description": p.description, "indicators": p.indicators, "default_risk": vigil_detect::builder::base_risk(p.kind), "detector": p.module, "basis": p.basis})
        })
        .collect();
    Ok(Resp::Json(Value::Array(v)))
}

fn config(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(w.monitor.config_json.clone()))
}

fn rule_json(r: &vigil_store::Rule) -> Value {
    json!({
        "id": r.id, "type": r.alert_type.map(|t| t.as_str()), "account": r.account, "symbol": r.symbol, "venue": r.venue, "reason": r.reason,
        "created_by": r.created_by, "created_at": r.created_at, "expires_at": r.expires_at, "revoked_by": r.revoked_by, "revoked_at": r.revoked_at,
        "active": r.active(vigil_store::now_ns()),
    })
}

fn rules(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    Ok(Resp::Json(Value::Array(w.pool.get()?.rules()?.iter().map(rule_json).collect())))
}

fn audit(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let after = r.query("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    Ok(Resp::Json(Value::Array(w.pool.get()?.audit_entries(after, limit(r, 100, 10_000)?)?.iter().map(entry_json).collect())))
}

fn audit_verify(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    let v = w.pool.get()?.audit_verify()?;
    Ok(Resp::Json(json!({"entries": v.entries, "intact": v.failure.is_none(), "failure": v.failure.map(|(seq, why)| json!({"entry": seq, "reason": why}))})))
}

fn inject(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let t = required(&b, "type")?;
    let kind = AlertType::parse(&t).filter(|k| vigil_sim::SCENARIO_TYPES.contains(k)).ok_or_else(|| {
        ApiError::bad(
            "type",
            format!("{t:?} is not a scenario the simulator injects ({})", vigil_sim::SCENARIO_TYPES.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")),
        )
    })?;
    let n = w.monitor.inject(kind, &r.user()?.name).map_err(|e| ApiError(409, format!("{e:#}")))?;
    Ok(Resp::Json(json!({"queued": kind.as_str(), "session": n})))
}

fn issue_token(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let me = r.user()?;
    let user = b["user"].as_str().filter(|u| !u.is_empty()).unwrap_or(&me.name).to_string();
    let days = match &b["days"] {
        Value::Null => 90,
        v => v.as_i64().filter(|d| (1..=365).contains(d)).ok_or_else(|| ApiError::bad("days", "a whole number from 1 to 365"))?,
    };
    let token = w.pool.get()?.issue_token(&user, days * 86_400, &me.name)?;
    Ok(Resp::Json(json!({"user": user, "token": token, "days": days})))
}

fn revoke_token(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    w.pool.get()?.revoke_token(&required(&b, "token")?, &r.user()?.name)?;
    w.auth.forget_all();
    Ok(Resp::Json(json!({"revoked": true})))
}

fn metrics(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    use std::fmt::Write;
    let mut out = String::new();
    let m = &w.monitor;
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n");
    };
    counter(&mut out, "vigil_events_total", "Events handed to the engine (simulated sessions and live ingest).", events_total(w));
    counter(&mut out, "vigil_ingest_accepted_total", "Live-ingest events accepted and journaled.", w.ingest.accepted.load(Ordering::Relaxed));
    counter(&mut out, "vigil_ingest_rejected_total", "Live-ingest records rejected (kept in the rejects file).", w.ingest.rejected.load(Ordering::Relaxed));
    counter(&mut out, "vigil_alerts_raised_total", "Alerts raised by the engine.", m.sent.load(Ordering::Relaxed));
    counter(&mut out, "vigil_alerts_stored_total", "Alerts stored.", m.stored.load(Ordering::Relaxed));
    let _ = write!(
        out,
        "# HELP vigil_session_running Whether a monitoring session runs.\n# TYPE vigil_session_running gauge\nvigil_session_running {}\n",
        u8::from(m.lock().running)
    );
    let _ = write!(
        out,
        "# HELP vigil_sse_clients Open server-sent event streams.\n# TYPE vigil_sse_clients gauge\nvigil_sse_clients {}\n",
        w.metrics.sse_clients.load(Ordering::Relaxed)
    );
    let _ = write!(
        out,
        "# HELP vigil_uptime_seconds Since the serve started.\n# TYPE vigil_uptime_seconds gauge\nvigil_uptime_seconds {:.3}\n",
        w.metrics.started.elapsed().as_secs_f64()
    );
    out.push_str("# HELP vigil_alerts Stored alerts by type, level and status.\n# TYPE vigil_alerts gauge\n");
    for (t, l, s, n) in w.pool.get()?.alert_counts()? {
        let _ = writeln!(out, "vigil_alerts{{type=\"{t}\",level=\"{l}\",status=\"{s}\"}} {n}");
    }
    w.metrics.http_text(&mut out);
    Ok(Resp::Bytes("text/plain; version=0.0.4; charset=utf-8", out.into_bytes(), None))
}

fn decide(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let approve = match &b["approve"] {
        Value::Bool(x) => *x,
        Value::String(s) if s == "true" || s == "false" => s == "true",
        _ => return Err(ApiError::bad("approve", "true or false is required")),
    };
    w.pool.get()?.decide(r.id("id")?, &r.user()?.name, approve, &text(&b, "reason"))?;
    Ok(Resp::Json(json!({"done": true, "approved": approve})))
}

fn add_rule(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let opt = |k: &str| b[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let alert_type = match opt("type") {
        None => None,
        Some(t) => Some(AlertType::parse(&t).ok_or_else(|| ApiError::bad("type", format!("{t:?} is not an alert type")))?),
    };
    let expires_at = match &b["days"] {
        Value::Null => None,
        v => {
            let d = v.as_f64().filter(|d| *d > 0.0 && *d <= 3650.0).ok_or_else(|| ApiError::bad("days", "a number of days from 0 to 3650"))?;
            Some(vigil_store::now_ns() + (d * 86_400e9) as i64)
        }
    };
    let spec =
        vigil_store::RuleSpec { alert_type, account: opt("account"), symbol: opt("symbol"), venue: opt("venue"), reason: required(&b, "reason")?, expires_at };
    if spec.account.is_none() && spec.symbol.is_none() {
        return Err(ApiError::bad("account", "a rule names an account or a symbol (or both)"));
    }
    Ok(Resp::Json(json!({"rule": w.pool.get()?.add_rule(&r.user()?.name, &spec)?})))
}

fn revoke_rule(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    w.pool.get()?.revoke_rule(r.id("id")?, &r.user()?.name, &required(&b, "reason")?)?;
    Ok(Resp::Json(json!({"done": true})))
}

fn users(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    let v: Vec<Value> =
        w.pool.get()?.users()?.iter().map(|u| json!({"name": u.name, "role": u.role.as_str(), "created_at": u.created_at, "disabled": u.disabled})).collect();
    Ok(Resp::Json(Value::Array(v)))
}

fn add_user(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let b = r.json()?;
    let role_s = required(&b, "role")?;
    let role = Role::parse(&role_s).ok_or_else(|| ApiError::bad("role", format!("{role_s:?} is not analyst, supervisor or admin")))?;
    let u = w.pool.get()?.add_user(&required(&b, "name")?, role, &required(&b, "password")?, Some(&r.user()?.name))?;
    w.auth.forget_all();
    Ok(Resp::Json(json!({"name": u.name, "role": u.role.as_str()})))
}

fn start(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let req: crate::serve::StartRequest = serde_json::from_slice(&r.body).map_err(|e| ApiError::bad("body", e))?;
    req.check().map_err(|e| ApiError(400, format!("{e:#}")))?;
    let n = w.monitor.start(req).map_err(|e| ApiError(409, format!("{e:#}")))?;
    Ok(Resp::Json(json!({"session": n})))
}

fn stop(w: &Web, _: &Req) -> Result<Resp, ApiError> {
    let running = w.monitor.lock().running;
    w.monitor.stop.store(true, Ordering::SeqCst);
    Ok(Resp::Json(json!({"stopped": running})))
}

fn post_events(w: &Web, r: &Req) -> Result<Resp, ApiError> {
    let user = r.user()?;
    let out = w.ingest.submit(&format!("api:{}", user.name), &r.body).map_err(|e| ApiError(503, format!("{e:#}")))?;
    Ok(Resp::Json(json!({
        "rejected_count": out.rejected_total,
        "accepted": out.accepted,
        "last_seq": out.last_seq,
        "rejected": out.rejected.iter().map(|r| json!({"line": r.line, "field": r.field, "code": r.code.as_str(), "reason": r.reason})).collect::<Vec<_>>(),
    })))
}

/// A link to the alerts page with one filter.
pub fn alerts_link(k: &str, v: &str) -> String {
    format!("/alerts?{k}={}", percent_encode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_filter_knows_every_alert_type() {
        let all: Vec<&str> = AlertType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(TYPES, all.as_slice());
    }

    #[test]
    fn routes_are_unique_and_found_with_their_parameters() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(!ROUTES[..i].iter().any(|o| o.method == r.method && o.path == r.path), "{} {} twice", r.method, r.path);
        }
        match find("GET", "/api/alerts/spoofing-1%2Fx") {
            Found::Route(i, p) => {
                assert_eq!(ROUTES[i].path, "/api/alerts/{id}");
                assert_eq!(p, vec![("id", "spoofing-1/x".to_string())]);
            }
            _ => panic!("not found"),
        }
        assert!(matches!(find("DELETE", "/api/alerts"), Found::Method(m) if m == ["GET"]));
        assert!(matches!(find("GET", "/api/nothing"), Found::Nothing));
        assert!(matches!(find("GET", "/api/alerts/"), Found::Nothing), "an empty id is no id");
    }

    #[test]
    fn the_book_before_a_window_follows_new_amend_cancel_and_fills() {
        let t = |kind: &'static str, order: &str, side: Option<vigil_core::Side>, price: Option<f64>, qty: Option<f64>| Tick {
            ts: 0,
            venue: "v".into(),
            symbol: "S".into(),
            kind,
            order: (!order.is_empty()).then(|| order.into()),
            side,
            price,
            qty,
            account: Some("a".into()),
            seller: None,
            orders: None,
            aggressor: None,
        };
        let buy = Some(vigil_core::Side::Buy);
        let sell = Some(vigil_core::Side::Sell);
        let mut fill = t("trade", "", None, Some(10.0), Some(3.0));
        fill.orders = Some((Some("b1".into()), Some("s9".into())));
        let ticks = [
            t("new", "b1", buy, Some(10.0), Some(5.0)),
            t("new", "b2", buy, Some(9.0), Some(4.0)),
            t("new", "s1", sell, Some(11.0), Some(2.0)),
            t("amend", "b2", None, Some(9.5), Some(6.0)),
            t("cancel", "s1", None, None, None),
            fill.clone(),
            t("new", "m1", buy, None, Some(1.0)),
        ];
        let book = book_before(&ticks);
        let mut ids: Vec<&String> = book.keys().collect();
        ids.sort();
        assert_eq!(ids, ["b1", "b2"], "the cancelled order and the market order are not resting");
        assert_eq!((book["b1"].1, book["b1"].2), (10.0, 2.0), "a fill takes its quantity off");
        assert_eq!((book["b2"].1, book["b2"].2), (9.5, 6.0), "an amend sets price and open quantity");
        let mut more = ticks.to_vec();
        fill.qty = Some(2.0);
        more.push(fill);
        assert!(!book_before(&more).contains_key("b1"), "filled in full: gone");
    }

    #[test]
    fn query_parameters_are_checked_by_name_type_and_value() {
        let r = ROUTES.iter().find(|r| r.path == "/api/alerts").unwrap();
        let q = |k: &str, v: &str| r.check_query(&[(k.to_string(), v.to_string())]);
        assert!(q("level", "high").is_ok());
        assert!(q("level", "").is_ok(), "an empty value is no value");
        let e = q("level", "loud").unwrap_err();
        assert_eq!(e.0, 400);
        assert!(e.1.starts_with("level: "), "{}", e.1);
        assert!(q("limit", "ten").unwrap_err().1.starts_with("limit: "));
        assert!(q("lvl", "high").unwrap_err().1.contains("no such query parameter"));
    }
}
