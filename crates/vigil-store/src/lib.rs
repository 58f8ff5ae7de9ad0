//! Vigil's data layer: the alerts the engine raises and their triage, cases, stored progress, users
//! and API tokens, four-eyes proposals, and the hash-chained audit log of every action — on SQLite (the
//! default: one file) or PostgreSQL (shared by many workers), with the same migrations and queries.
//!
//! Every change of state and its audit entry are written in one transaction: there is no action
//! without its entry, and no entry without its action.

pub mod audit;
mod cases;
pub mod db;
mod rules;
mod schema;
pub mod testing;
mod users;

pub use audit::{Entry, Verification};
pub use cases::{Case, CaseFilter, CaseOutcome, CaseStatus, Note, MAX_EVIDENCE_BYTES};
pub use db::Value;
pub use rules::{suppressing, Rule, RuleSpec};
pub use users::{Role, User};

use db::Conn;
use serde_json::json;
use vigil_core::{Alert, Level};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Db(String),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Nanoseconds since the Unix epoch, wall clock: the time of a person's action (the engine's
/// detections keep their event time; this is when someone triaged, approved or logged in).
#[allow(clippy::disallowed_methods)]
pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// An alert as stored: the engine's alert and its triage.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlert {
    pub alert: Alert,
    pub status: Status,
    pub status_by: Option<String>,
    pub status_at: Option<i64>,
    pub status_reason: Option<String>,
}

/// Triage status of an alert.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Resolved,
    FalsePositive,
    /// Matched a suppression rule when stored (`status_by` names it): kept, not shown as active.
    Suppressed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Resolved => "resolved",
            Status::FalsePositive => "false_positive",
            Status::Suppressed => "suppressed",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "active" => Status::Active,
            "resolved" => Status::Resolved,
            "false_positive" => Status::FalsePositive,
            "suppressed" => Status::Suppressed,
            _ => return None,
        })
    }
}

/// Which alerts to list.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    pub level: Option<Level>,
    pub status: Option<Status>,
    pub limit: Option<i64>,
    /// The alert type (`spoofing`, …).
    pub kind: Option<String>,
    /// Alerts naming this symbol, or this account (exact, case-sensitive).
    pub symbol: Option<String>,
    pub account: Option<String>,
    /// Paging back: alerts listed after the one detected at this time (ns) with this id (without
    /// an id, every alert detected before the time).
    pub before: Option<(i64, Option<String>)>,
}

/// What an action did: done, or waiting for a second person (four eyes).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Done,
    Proposed(i64),
}

/// A four-eyes proposal.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    pub id: i64,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: serde_json::Value,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

/// An alert's triage, without its text and evidence: what reports count.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRow {
    pub alert_id: String,
    pub kind: String,
    pub level: String,
    pub status: String,
    /// Event time of the detection.
    pub ts: i64,
    pub venue: Option<String>,
    pub symbols: Vec<String>,
    pub accounts: Vec<String>,
    /// Wall-clock time it reached the store, and of its triage.
    pub stored_at: i64,
    pub status_at: Option<i64>,
}

pub struct Store {
    conn: Conn,
    location: String,
}

const ALERT_COLUMNS: &str = "alert_id, type, level, risk_score, confidence, ts, window_start, window_end, venue, symbols, accounts, description, evidence, status, status_by, status_at, status_reason";

impl Store {
    /// Opens (creating if needed) and migrates the store at `location`: a PostgreSQL connection
    /// string (`postgres://…` or `host=… user=…`) or a SQLite file path (`sqlite:` prefix optional).
    pub fn open(location: &str) -> Result<Store> {
        let conn = if location.starts_with("postgres://") || location.starts_with("postgresql://") || location.contains("host=") {
            let client = postgres::Client::connect(location, postgres::NoTls)
                .map_err(|e| Error::Db(format!("postgresql: cannot connect to {}: {e}", redact(location))))?;
            Conn::Pg(Box::new(client))
        } else {
            let path = location.strip_prefix("sqlite:").unwrap_or(location);
            if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::Db(format!("sqlite: cannot create {}: {e}", dir.display())))?;
            }
            let c = rusqlite::Connection::open(path).map_err(|e| Error::Db(format!("sqlite: cannot open {path}: {e}")))?;
            // WAL: readers (the CLI) alongside the writer (`vigil serve`); FULL: a committed batch
            // survives a power cut, and group commit pays the sync once per batch.
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                .map_err(|e| Error::Db(format!("sqlite: {path}: {e}")))?;
            Conn::Sqlite(c)
        };
        let mut store = Store { conn, location: redact(location) };
        store.migrate()?;
        Ok(store)
    }

    /// `sqlite` or `postgresql`.
    pub fn backend(&self) -> &'static str {
        self.conn.backend()
    }

    /// Where the store is (a PostgreSQL password is not repeated).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn migrate(&mut self) -> Result<()> {
        // Workers starting together on a new PostgreSQL database would race to create the same
        // tables (`IF NOT EXISTS` is no lock there): one migrates at a time, under an advisory
        // lock held for the session. SQLite's own file lock serialises its writers.
        let pg = self.conn.backend() == "postgresql";
        if pg {
            self.conn.batch("SELECT pg_advisory_lock(8675309)")?;
        }
        let r = self.migrate_locked();
        if pg {
            let _ = self.conn.batch("SELECT pg_advisory_unlock(8675309)");
        }
        r
    }

    fn migrate_locked(&mut self) -> Result<()> {
        self.conn.batch("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")?;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            self.conn.begin(false)?;
            let done = self.conn.query("SELECT version FROM schema_migrations WHERE version = $1", &[version.into()]);
            let r = match done {
                Ok(rows) if !rows.is_empty() => Ok(()),
                Ok(_) => self.conn.batch(sql).and_then(|_| {
                    self.conn.exec("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &[version.into(), now_ns().into()]).map(|_| ())
                }),
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => self.conn.batch("COMMIT")?,
                Err(e) => {
                    let _ = self.conn.batch("ROLLBACK");
                    return Err(Error::Db(format!("migration {version}: {e}")));
                }
            }
        }
        Ok(())
    }

    /// Stores accounts' profiles (account, JSON), each replacing the one stored before, in one
    /// transaction.
    pub fn save_profiles(&mut self, profiles: &[(String, String)]) -> Result<usize> {
        let at = now_ns();
        self.tx(false, |c| {
            for (account, body) in profiles {
                c.exec(
                    "INSERT INTO profiles (account, updated_at, body) VALUES ($1, $2, $3) \
                     ON CONFLICT (account) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body",
                    &[account.as_str().into(), at.into(), body.as_str().into()],
                )?;
            }
            Ok(profiles.len())
        })
    }

    /// An account's stored profile (JSON).
    pub fn profile(&mut self, account: &str) -> Result<Option<String>> {
        Ok(self.conn.query("SELECT body FROM profiles WHERE account = $1", &[account.into()])?.first().map(|r| txt(&r[0])))
    }

    /// Every stored profile (JSON), by account.
    pub fn profiles(&mut self) -> Result<Vec<String>> {
        Ok(self.conn.query("SELECT body FROM profiles ORDER BY account", &[])?.iter().map(|r| txt(&r[0])).collect())
    }

    /// The highest risk among an account's alerts that are neither false positives nor suppressed
    /// by a rule (0 without any).
    pub fn account_alert_risk(&mut self, account: &str) -> Result<f64> {
        // As `alerts_naming`: LIKE on the JSON list narrows, the parsed list decides.
        let quoted = serde_json::to_string(account).unwrap_or_default();
        let pattern = format!("%{}%", quoted.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let rows = self.conn.query(
            "SELECT accounts, risk_score FROM alerts WHERE accounts LIKE $1 ESCAPE '\\' AND status NOT IN ('false_positive', 'suppressed')",
            &[pattern.into()],
        )?;
        Ok(rows
            .iter()
            .filter(|r| serde_json::from_str::<Vec<String>>(&txt(&r[0])).is_ok_and(|v| v.iter().any(|a| a == account)))
            .filter_map(|r| r[1].real())
            .fold(0.0, f64::max))
    }

    /// Every account's highest alert risk, as [`Store::account_alert_risk`], in one pass.
    pub fn alert_risk_by_account(&mut self) -> Result<std::collections::BTreeMap<String, f64>> {
        let rows = self.conn.query("SELECT accounts, risk_score FROM alerts WHERE status NOT IN ('false_positive', 'suppressed')", &[])?;
        let mut m = std::collections::BTreeMap::new();
        for r in &rows {
            let risk = r[1].real().unwrap_or(0.0);
            for a in serde_json::from_str::<Vec<String>>(&txt(&r[0])).unwrap_or_default() {
                let e = m.entry(a).or_insert(0.0f64);
                *e = e.max(risk);
            }
        }
        Ok(m)
    }

    /// Runs `f` in a transaction (`serial`: it appends to the audit log), committing on success.
    pub(crate) fn tx<T>(&mut self, serial: bool, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.conn.begin(serial)?;
        match f(&mut self.conn) {
            Ok(v) => {
                self.conn.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Stores a batch of the engine's alerts and, in the same transaction, how far the source has
    /// been read (group commit: one transaction, one sync, for the whole batch). An alert already
    /// stored (same id: ids are stable across re-runs) is skipped, so replaying after a crash from
    /// the stored progress neither loses nor duplicates. An alert a suppression rule in force
    /// matches is stored as `suppressed` by it. Returns the number newly stored.
    pub fn insert_alerts(&mut self, alerts: &[Alert], progress: Option<(&str, i64)>) -> Result<usize> {
        self.insert_alerts_at(alerts, progress.as_slice())
    }

    /// [`Store::insert_alerts`] with the progress of several sources (a Kafka worker's
    /// partitions), all in the alerts' transaction. A source's position never goes back: a batch
    /// from a worker that has lost the partition to another cannot undo the newer one's progress.
    pub fn insert_alerts_at(&mut self, alerts: &[Alert], progress: &[(&str, i64)]) -> Result<usize> {
        Ok(self.insert_alerts_new(alerts, progress)?.len())
    }

    /// As `insert_alerts_at`, saying which of `alerts` (by index) were new: stored now rather than
    /// already there.
    pub fn insert_alerts_new(&mut self, alerts: &[Alert], progress: &[(&str, i64)]) -> Result<Vec<usize>> {
        let at = now_ns();
        self.tx(true, |c| {
            let rules: Vec<Rule> = rules::rules(c)?.into_iter().filter(|r| r.active(at)).collect();
            let mut chain = audit::Chain::read(c)?;
            let mut added = Vec::new();
            for (i, a) in alerts.iter().enumerate() {
                let rule = rules::suppressing(&rules, a);
                let (status, by, reason, when) = match rule {
                    Some(r) => ("suppressed", Some(format!("rule:{}", r.id)), Some(r.reason.as_str()), Some(at)),
                    None => ("active", None, None, None),
                };
                let n = c.exec(
                    "INSERT INTO alerts (alert_id, type, level, risk_score, confidence, ts, window_start, window_end, venue, symbols, accounts, description, evidence, status, stored_at, status_by, status_reason, status_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $14, $16, $17, $18) ON CONFLICT (alert_id) DO NOTHING",
                    &[
                        a.alert_id.as_str().into(),
                        a.kind.as_str().into(),
                        a.level.as_str().into(),
                        a.risk_score.into(),
                        a.confidence.into(),
                        a.ts.into(),
                        a.window_start.into(),
                        a.window_end.into(),
                        a.venue.as_deref().into(),
                        json!(a.symbols).to_string().into(),
                        json!(a.accounts).to_string().into(),
                        a.description.as_str().into(),
                        serde_json::Value::Object(a.evidence.clone()).to_string().into(),
                        at.into(),
                        status.into(),
                        by.as_deref().into(),
                        reason.into(),
                        when.into(),
                    ],
                )?;
                if n > 0 {
                    added.push(i);
                    let mut details = json!({"type": a.kind.as_str(), "level": a.level.as_str(), "risk_score": a.risk_score});
                    if let Some(r) = rule {
                        details["suppressed_by"] = r.id.into();
                    }
                    chain.push(c, at, "engine", "alert.raise", "alert", &a.alert_id, &details)?;
                }
            }
            chain.write(c)?;
            for (source, position) in progress {
                c.exec(
                    "INSERT INTO progress (source, position, updated_at) VALUES ($1, $2, $3) ON CONFLICT (source) DO UPDATE SET
                     position = CASE WHEN excluded.position > progress.position THEN excluded.position ELSE progress.position END, updated_at = excluded.updated_at",
                    &[(*source).into(), (*position).into(), at.into()],
                )?;
            }
            Ok(added)
        })
    }

    /// Every source's stored position whose name starts with `prefix`.
    pub fn progress_like(&mut self, prefix: &str) -> Result<Vec<(String, i64)>> {
        let rows = self.conn.query("SELECT source, position FROM progress ORDER BY source", &[])?;
        Ok(rows.iter().map(|r| (txt(&r[0]), r[1].int().unwrap_or(0))).filter(|(s, _)| s.starts_with(prefix)).collect())
    }

    /// How far `source` has been read, as last stored with a batch of alerts.
    pub fn progress(&mut self, source: &str) -> Result<Option<i64>> {
        Ok(self.conn.query("SELECT position FROM progress WHERE source = $1", &[source.into()])?.first().and_then(|r| r[0].int()))
    }

    pub fn alert(&mut self, id: &str) -> Result<Option<StoredAlert>> {
        let rows = self.conn.query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = $1"), &[id.into()])?;
        rows.first().map(|r| stored_alert(r)).transpose()
    }

    /// Alerts, newest first (by detection time, then id).
    pub fn alerts(&mut self, f: &AlertFilter) -> Result<Vec<StoredAlert>> {
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1");
        let mut params: Vec<Value> = Vec::new();
        if let Some(l) = f.level {
            params.push(l.as_str().into());
            sql.push_str(&format!(" AND level = ${}", params.len()));
        }
        if let Some(s) = f.status {
            params.push(s.as_str().into());
            sql.push_str(&format!(" AND status = ${}", params.len()));
        }
        if let Some(k) = &f.kind {
            params.push(k.as_str().into());
            sql.push_str(&format!(" AND type = ${}", params.len()));
        }
        match &f.before {
            Some((t, None)) => {
                params.push((*t).into());
                sql.push_str(&format!(" AND ts < ${}", params.len()));
            }
            // The list's order (ts descending, then id): what comes after (t, id).
            Some((t, Some(id))) => {
                params.push((*t).into());
                params.push(id.as_str().into());
                let (a, b) = (params.len() - 1, params.len());
                sql.push_str(&format!(" AND (ts < ${a} OR (ts = ${a} AND alert_id > ${b}))"));
            }
            None => {}
        }
        // The lists are JSON arrays of strings: a name matches as JSON writes it, quotes included,
        // by a case-sensitive substring test (LIKE ignores case in SQLite).
        let find = if self.backend() == "sqlite" { "instr" } else { "strpos" };
        for (col, v) in [("symbols", &f.symbol), ("accounts", &f.account)] {
            if let Some(v) = v {
                params.push(serde_json::to_string(v).unwrap_or_default().into());
                sql.push_str(&format!(" AND {find}({col}, ${}) > 0", params.len()));
            }
        }
        sql.push_str(" ORDER BY ts DESC, alert_id");
        if let Some(n) = f.limit {
            params.push(n.into());
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        self.conn.query(&sql, &params)?.iter().map(|r| stored_alert(r)).collect()
    }

    /// Counts of alerts by (type, level, status).
    pub fn alert_counts(&mut self) -> Result<Vec<(String, String, String, i64)>> {
        let rows = self.conn.query("SELECT type, level, status, COUNT(*) FROM alerts GROUP BY type, level, status ORDER BY type, level, status", &[])?;
        Ok(rows.iter().map(|r| (txt(&r[0]), txt(&r[1]), txt(&r[2]), r[3].int().unwrap_or(0))).collect())
    }

    /// How many alerts fall in each fifth of the risk score: `[0, 0.2)`, … `[0.8, 1]`.
    pub fn risk_histogram(&mut self) -> Result<[i64; 5]> {
        let rows = self.conn.query("SELECT risk_score FROM alerts", &[])?;
        let mut h = [0i64; 5];
        for r in rows {
            let x = r[0].real().unwrap_or(0.0);
            h[((x * 5.0).floor().max(0.0) as usize).min(4)] += 1;
        }
        Ok(h)
    }

    /// Triage: `active` → `resolved` or `false_positive`, by `actor`, with a reason. Marking a
    /// critical alert a false positive takes a second person (a supervisor): it becomes a proposal.
    pub fn resolve(&mut self, alert_id: &str, status: Status, actor: &str, reason: &str) -> Result<Outcome> {
        if !matches!(status, Status::Resolved | Status::FalsePositive) {
            return Err(Error::Invalid("an alert is resolved as resolved or false_positive".into()));
        }
        let user = self.require_user(actor, Role::Analyst)?;
        let a = self.alert(alert_id)?.ok_or_else(|| Error::NotFound(format!("no alert {alert_id}")))?;
        if a.status != Status::Active && a.status != Status::Suppressed {
            return Err(Error::Invalid(format!("alert {alert_id} is already {} (by {})", a.status.as_str(), a.status_by.as_deref().unwrap_or("?"))));
        }
        if status == Status::FalsePositive && a.alert.level == Level::Critical {
            let id = self.propose(&user.name, "alert.false_positive", "alert", alert_id, json!({"reason": reason}))?;
            return Ok(Outcome::Proposed(id));
        }
        let at = now_ns();
        self.tx(true, |c| {
            set_status(c, alert_id, status, actor, reason, at)?;
            audit::append(c, at, actor, &format!("alert.{}", status.as_str()), "alert", alert_id, &json!({"reason": reason}))?;
            Ok(Outcome::Done)
        })
    }

    fn propose(&mut self, actor: &str, action: &str, object_type: &str, object_id: &str, details: serde_json::Value) -> Result<i64> {
        let at = now_ns();
        self.tx(true, |c| {
            let open = c.query("SELECT id FROM proposals WHERE action = $1 AND object_id = $2 AND decision IS NULL", &[action.into(), object_id.into()])?;
            if let Some(r) = open.first() {
                return Err(Error::Invalid(format!("proposal {} for this is already waiting for a supervisor", r[0].int().unwrap_or(0))));
            }
            let id = crate::db::next_id(c, "proposals", "id")?;
            c.exec(
                "INSERT INTO proposals (id, action, object_type, object_id, details, proposed_by, proposed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[id.into(), action.into(), object_type.into(), object_id.into(), details.to_string().into(), actor.into(), at.into()],
            )?;
            audit::append(c, at, actor, "proposal.open", object_type, object_id, &json!({"proposal": id, "action": action, "details": details}))?;
            Ok(id)
        })
    }

    pub fn proposals(&mut self, open_only: bool) -> Result<Vec<Proposal>> {
        let sql = format!(
            "SELECT id, action, object_type, object_id, details, proposed_by, proposed_at, decision, decided_by, decided_at FROM proposals{} ORDER BY id",
            if open_only { " WHERE decision IS NULL" } else { "" }
        );
        let rows = self.conn.query(&sql, &[])?;
        Ok(rows
            .iter()
            .map(|r| Proposal {
                id: r[0].int().unwrap_or(0),
                action: txt(&r[1]),
                object_type: txt(&r[2]),
                object_id: txt(&r[3]),
                details: serde_json::from_str(&txt(&r[4])).unwrap_or(serde_json::Value::Null),
                proposed_by: txt(&r[5]),
                proposed_at: r[6].int().unwrap_or(0),
                decision: r[7].text().map(str::to_string),
                decided_by: r[8].text().map(str::to_string),
                decided_at: r[9].int(),
            })
            .collect())
    }

    /// A supervisor other than the proposer approves (`true`) or rejects a proposal; an approved
    /// one is carried out in the same transaction.
    pub fn decide(&mut self, proposal: i64, actor: &str, approve: bool, reason: &str) -> Result<()> {
        let user = self.require_user(actor, Role::Supervisor)?;
        let p = self.proposals(false)?.into_iter().find(|p| p.id == proposal).ok_or_else(|| Error::NotFound(format!("no proposal {proposal}")))?;
        if p.decision.is_some() {
            return Err(Error::Invalid(format!("proposal {proposal} was already decided by {}", p.decided_by.as_deref().unwrap_or("?"))));
        }
        if p.proposed_by == user.name {
            return Err(Error::Denied(format!("{actor} proposed this: four eyes take a second person")));
        }
        let at = now_ns();
        let decision = if approve { "approved" } else { "rejected" };
        self.tx(true, |c| {
            c.exec(
                "UPDATE proposals SET decision = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND decision IS NULL",
                &[decision.into(), actor.into(), at.into(), proposal.into()],
            )?;
            audit::append(
                c,
                at,
                actor,
                &format!("proposal.{decision}"),
                &p.object_type,
                &p.object_id,
                &json!({"proposal": proposal, "action": p.action, "proposed_by": p.proposed_by, "reason": reason}),
            )?;
            if approve {
                match p.action.as_str() {
                    "alert.false_positive" => {
                        let why = p.details["reason"].as_str().unwrap_or("");
                        set_status(c, &p.object_id, Status::FalsePositive, &p.proposed_by, why, at)?;
                        audit::append(
                            c,
                            at,
                            actor,
                            "alert.false_positive",
                            "alert",
                            &p.object_id,
                            &json!({"reason": why, "proposed_by": p.proposed_by, "proposal": proposal}),
                        )?;
                    }
                    "case.close" => cases::apply_close(c, &p.object_id, &p.details, &p.proposed_by, actor, proposal, at)?,
                    other => return Err(Error::Invalid(format!("proposal {proposal}: unknown action {other}"))),
                }
            }
            Ok(())
        })
    }

    /// The log's entries after `after`, at most `limit`.
    pub fn audit_entries(&mut self, after: i64, limit: i64) -> Result<Vec<Entry>> {
        audit::entries(&mut self.conn, after, limit)
    }

    /// The log's entries about one object (`case`, `alert`, …), oldest first.
    pub fn audit_of(&mut self, object_type: &str, object_id: &str) -> Result<Vec<Entry>> {
        audit::entries_of(&mut self.conn, object_type, object_id)
    }

    /// How many alerts name `account` (exactly), by type.
    pub fn alert_types_naming(&mut self, account: &str) -> Result<Vec<(String, i64)>> {
        let find = if self.backend() == "sqlite" { "instr" } else { "strpos" };
        let quoted = serde_json::to_string(account).unwrap_or_default();
        let rows =
            self.conn.query(&format!("SELECT type, COUNT(*) FROM alerts WHERE {find}(accounts, $1) > 0 GROUP BY type ORDER BY type"), &[quoted.into()])?;
        Ok(rows.iter().map(|r| (txt(&r[0]), r[1].int().unwrap_or(0))).collect())
    }

    /// How many alerts name an account, without `except` (a case's own alerts).
    pub fn alerts_naming(&mut self, account: &str, except: &[String]) -> Result<i64> {
        // `accounts` is a JSON array of strings: match the name as JSON writes it, with LIKE's
        // wildcards escaped.
        let quoted = serde_json::to_string(account).unwrap_or_default();
        let pattern = format!("%{}%", quoted.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let mut params: Vec<Value> = vec![pattern.into()];
        let mut sql = String::from("SELECT accounts FROM alerts WHERE accounts LIKE $1 ESCAPE '\\'");
        for id in except {
            params.push(id.as_str().into());
            sql.push_str(&format!(" AND alert_id <> ${}", params.len()));
        }
        // LIKE narrows (SQLite's ignores ASCII case); the parsed list decides.
        let rows = self.conn.query(&sql, &params)?;
        Ok(rows.iter().filter(|r| serde_json::from_str::<Vec<String>>(&txt(&r[0])).is_ok_and(|v| v.iter().any(|a| a == account))).count() as i64)
    }

    /// Every alert's type, level, time, parties and triage (no text or evidence), oldest first:
    /// what periodic reports and compliance metrics count.
    pub fn alert_rows(&mut self) -> Result<Vec<AlertRow>> {
        let rows = self
            .conn
            .query("SELECT alert_id, type, level, status, ts, venue, symbols, accounts, stored_at, status_at FROM alerts ORDER BY ts, alert_id", &[])?;
        rows.iter()
            .map(|r| {
                let bad = |what: &str| Error::Db(format!("alert {}: {what}", txt(&r[0])));
                Ok(AlertRow {
                    alert_id: txt(&r[0]),
                    kind: txt(&r[1]),
                    level: txt(&r[2]),
                    status: txt(&r[3]),
                    ts: r[4].int().unwrap_or(0),
                    venue: r[5].text().map(str::to_string),
                    symbols: serde_json::from_str(&txt(&r[6])).map_err(|_| bad("symbols"))?,
                    accounts: serde_json::from_str(&txt(&r[7])).map_err(|_| bad("accounts"))?,
                    stored_at: r[8].int().unwrap_or(0),
                    status_at: r[9].int(),
                })
            })
            .collect()
    }

    /// Checks the whole audit chain; see [`audit`].
    pub fn audit_verify(&mut self) -> Result<Verification> {
        audit::verify(&mut self.conn)
    }

    /// Appends an entry for an action taken outside the store's own methods (a configuration
    /// change, an export), in its own transaction.
    pub fn audit(&mut self, actor: &str, action: &str, object_type: &str, object_id: &str, details: serde_json::Value) -> Result<Entry> {
        let at = now_ns();
        self.tx(true, |c| audit::append(c, at, actor, action, object_type, object_id, &details))
    }

    /// Appends several entries in one transaction (one sync: group commit), for bulk actions such
    /// as an import. Each is (actor, action, object type, object id, details).
    pub fn audit_batch(&mut self, entries: &[(&str, &str, &str, &str, serde_json::Value)]) -> Result<Vec<Entry>> {
        let at = now_ns();
        self.tx(true, |c| {
            let mut chain = audit::Chain::read(c)?;
            let out = entries.iter().map(|(actor, action, ty, id, details)| chain.push(c, at, actor, action, ty, id, details)).collect::<Result<Vec<_>>>()?;
            chain.write(c)?;
            Ok(out)
        })
    }

    /// Raw SQL, for tools and tests that must reach under the API (tamper tests do).
    pub fn execute_raw(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.conn.exec(sql, params)
    }
    pub fn query_raw(&mut self, sql: &str, params: &[Value]) -> Result<Vec<db::Row>> {
        self.conn.query(sql, params)
    }
}

fn set_status(c: &mut Conn, alert_id: &str, status: Status, actor: &str, reason: &str, at: i64) -> Result<()> {
    let n = c.exec(
        "UPDATE alerts SET status = $1, status_by = $2, status_at = $3, status_reason = $4 WHERE alert_id = $5 AND status IN ('active', 'suppressed')",
        &[status.as_str().into(), actor.into(), at.into(), reason.into(), alert_id.into()],
    )?;
    if n == 0 {
        return Err(Error::Invalid(format!("alert {alert_id} is not active (nor suppressed)")));
    }
    Ok(())
}

fn txt(v: &Value) -> String {
    v.text().unwrap_or("").to_string()
}

fn stored_alert(r: &[Value]) -> Result<StoredAlert> {
    let bad = |what: &str| Error::Db(format!("alert {}: {what}", txt(&r[0])));
    let kind = vigil_core::AlertType::parse(&txt(&r[1])).ok_or_else(|| bad("unknown type"))?;
    let level = Level::parse(&txt(&r[2])).ok_or_else(|| bad("unknown level"))?;
    let evidence = match serde_json::from_str(&txt(&r[12])) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(bad("evidence is not a JSON object")),
    };
    Ok(StoredAlert {
        alert: Alert {
            alert_id: txt(&r[0]),
            kind,
            level,
            risk_score: r[3].real().unwrap_or(0.0),
            confidence: r[4].real().unwrap_or(0.0),
            ts: r[5].int().unwrap_or(0),
            window_start: r[6].int().unwrap_or(0),
            window_end: r[7].int().unwrap_or(0),
            venue: r[8].text().map(str::to_string),
            symbols: serde_json::from_str(&txt(&r[9])).map_err(|_| bad("symbols"))?,
            accounts: serde_json::from_str(&txt(&r[10])).map_err(|_| bad("accounts"))?,
            description: txt(&r[11]),
            evidence,
        },
        status: Status::parse(&txt(&r[13])).ok_or_else(|| bad("unknown status"))?,
        status_by: r[14].text().map(str::to_string),
        status_at: r[15].int(),
        status_reason: r[16].text().map(str::to_string),
    })
}

/// A connection string without its password.
fn redact(location: &str) -> String {
    if let Some(i) = location.find("password=") {
        let end = location[i..].find(' ').map_or(location.len(), |e| i + e);
        return format!("{}password=***{}", &location[..i], &location[end..]);
    }
    if let (Some(s), Some(at)) = (location.find("://"), location.find('@')) {
        if let Some(colon) = location[s + 3..at].find(':') {
            return format!("{}:***{}", &location[..s + 3 + colon], &location[at..]);
        }
    }
    location.to_string()
}
