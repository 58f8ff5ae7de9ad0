//! The API's OpenAPI 3.1 description, written from the route table itself: every route the server
//! answers is in it with its parameters, body, answers and who may call it (`x-vigil-access`).

use super::api::{Access, ROUTES};
use serde_json::{json, Map, Value};

fn schema(ty: &str) -> Value {
    match ty {
        "array" => json!({"type": "array", "items": {"type": "string"}}),
        t => json!({"type": t}),
    }
}

/// The schema of what a JSON route answers, where it is one of the named ones.
fn answer_schema(path: &str) -> Value {
    let r = |n: &str| json!({"$ref": format!("#/components/schemas/{n}")});
    match path {
        "/api/alerts" => json!({"type": "array", "items": r("Alert")}),
        "/api/alerts/{id}" => r("Alert"),
        "/api/cases" => json!({"type": "array", "items": r("Case")}),
        "/api/cases/{id}" => r("Case"),
        "/api/proposals" => json!({"type": "array", "items": r("Proposal")}),
        "/api/audit" => json!({"type": "array", "items": r("AuditEntry")}),
        _ => json!({}),
    }
}

/// The named schemas: the spec's alert (with its triage), a case, a proposal, an audit entry.
fn schemas() -> Value {
    let ns = json!({"type": "integer", "description": "nanoseconds since the epoch"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "Error": {"type": "object", "properties": {"error": {"type": "string", "description": "starts with the field at fault, where there is one"}}, "required": ["error"]},
        "Alert": {
            "type": "object",
            "description": "The spec's alert (../shared/spec/events.md) with its triage state.",
            "properties": {
                "alert_id": {"type": "string"},
                "type": {"type": "string", "enum": super::api::TYPES},
                "level": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
                "risk_score": {"type": "number", "minimum": 0, "maximum": 1},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "ts": ns, "window_start": ns, "window_end": ns,
                "venue": {"type": "string"},
                "symbols": strings, "accounts": strings,
                "description": {"type": "string"},
                "evidence": {"type": "object"},
                "status": {"type": "string", "enum": ["active", "resolved", "false_positive", "suppressed"]},
                "status_by": {"type": "string"}, "status_at": ns, "status_reason": {"type": ["string", "null"]},
                "cases": {"type": "array", "items": {"type": "integer"}},
                "audit": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
            },
            "required": ["alert_id", "type", "level", "risk_score", "confidence", "ts", "window_start", "window_end", "symbols", "accounts", "description", "evidence", "status"],
        },
        "Case": {
            "type": "object",
            "properties": {
                "case_id": {"type": "integer"}, "title": {"type": "string"},
                "status": {"type": "string", "enum": ["open", "investigating", "closed"]},
                "outcome": {"type": ["string", "null"], "enum": ["no_violation", "violation", "referred", null]},
                "assignee": {"type": ["string", "null"]}, "opened_by": {"type": "string"}, "opened_at": ns, "updated_at": ns,
                "closed_by": {"type": ["string", "null"]}, "closed_at": {"type": ["integer", "null"]}, "close_reason": {"type": ["string", "null"]},
                "alerts": strings,
            },
            "required": ["case_id", "title", "status", "opened_by", "opened_at", "alerts"],
        },
        "Proposal": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"}, "action": {"type": "string"}, "object_type": {"type": "string"}, "object_id": {"type": "string"},
                "details": {"type": "object"}, "proposed_by": {"type": "string"}, "proposed_at": ns,
                "decision": {"type": ["string", "null"]}, "decided_by": {"type": ["string", "null"]}, "decided_at": {"type": ["integer", "null"]},
            },
            "required": ["id", "action", "object_type", "object_id", "proposed_by", "proposed_at"],
        },
        "AuditEntry": {
            "type": "object",
            "properties": {
                "seq": {"type": "integer"}, "at": ns, "actor": {"type": "string"}, "action": {"type": "string"},
                "object_type": {"type": "string"}, "object_id": {"type": "string"}, "details": {}, "hash": {"type": "string"},
            },
            "required": ["seq", "at", "actor", "action", "object_type", "object_id", "hash"],
        },
    })
}

fn content(answers: &str) -> Value {
    match answers {
        "json" => json!({"application/json": {"schema": {}}}),
        "sse" => json!({"text/event-stream": {"schema": {"type": "string"}}}),
        "text" => json!({"text/plain": {"schema": {"type": "string"}}}),
        "html" => json!({"text/html": {"schema": {"type": "string"}}}),
        _ => json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}),
    }
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES.iter().filter(|r| !super::api::is_page(r.path) || r.path == "/login") {
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        for q in r.query {
            let mut s = schema(q.ty);
            if !q.values.is_empty() {
                s["enum"] = json!(q.values);
            }
            params.push(json!({"name": q.name, "in": "query", "required": false, "description": q.doc, "schema": s}));
        }
        let mut responses = Map::new();
        if r.answers == "redirect" {
            responses.insert("303".into(), json!({"description": "Signed in: to `next`, with the session cookie."}));
        } else {
            let mut c = content(r.answers);
            if r.answers == "json" {
                c["application/json"]["schema"] = answer_schema(r.path);
            }
            responses.insert("200".into(), json!({"description": "OK", "content": c}));
        }
        let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}});
        responses.insert("400".into(), json!({"description": "Bad input: the message names the field.", "content": error}));
        if r.access != Access::Public {
            responses.insert("401".into(), json!({"description": "No valid credential.", "content": error}));
            responses.insert("403".into(), json!({"description": "The caller's role may not.", "content": error}));
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": operation_id(r.method, r.path),
            "parameters": params,
            "responses": responses,
            "x-vigil-access": r.access.as_str(),
        });
        if r.access != Access::Public {
            op["security"] = json!([{"bearer": []}, {"session": []}]);
        }
        if !r.body.is_empty() {
            let mut props = Map::new();
            let mut req = Vec::new();
            for (name, ty, needed, doc) in r.body {
                let mut s = schema(ty);
                s["description"] = (*doc).into();
                props.insert((*name).into(), s);
                if *needed {
                    req.push(*name);
                }
            }
            let media = if r.path == "/login" { "application/x-www-form-urlencoded" } else { "application/json" };
            op["requestBody"] = json!({"required": true, "content": {media: {"schema": {"type": "object", "properties": props, "required": req}}}});
        } else if r.path == "/api/v1/events" {
            op["requestBody"] = json!({"required": true, "content": {"application/x-ndjson": {"schema": {"type": "string", "description": "The spec's events, one JSON object per line."}}}});
        } else if r.path == "/api/cases/{id}/evidence" {
            op["requestBody"] = json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Vigil",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Trade surveillance: alerts, cases, reports, live ingest and monitoring. Every route is checked against one role policy (x-vigil-access); programs send `Authorization: Bearer <token>` (vigil user token), the browser its session cookie. Changes made with the cookie must carry `X-Requested-With: vigil`.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": super::COOKIE},
            },
            "schemas": schemas(),
        },
    })
}

fn operation_id(method: &str, path: &str) -> String {
    let mut s = method.to_lowercase();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        s.push('_');
        s.push_str(&part.replace(['{', '}'], "").replace(['.', '-'], "_"));
    }
    s
}
