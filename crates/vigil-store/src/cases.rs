//! Cases: an investigation opened from one or more alerts. More alerts are linked later; a case is
//! assigned, commented on and given evidence (files, kept in the store with their SHA-256); its life
//! is open → investigating → closed with an outcome (no violation, violation, referred to the
//! regulator), and a closed case can be reopened. Closing as a violation or a referral takes four
//! eyes: it becomes a proposal that a supervisor other than the proposer approves. Every action is
//! in the audit log, in the same transaction as the change.

use crate::db::{Conn, Value};
use crate::users::Role;
use crate::{audit, now_ns, txt, Error, Outcome, Result, Store};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Where a case is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CaseStatus {
    Open,
    Investigating,
    Closed,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Investigating => "investigating",
            CaseStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<CaseStatus> {
        Some(match s {
            "open" => CaseStatus::Open,
            "investigating" => CaseStatus::Investigating,
            "closed" => CaseStatus::Closed,
            _ => return None,
        })
    }
}

/// How a case was closed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CaseOutcome {
    NoViolation,
    Violation,
    Referred,
}

impl CaseOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseOutcome::NoViolation => "no_violation",
            CaseOutcome::Violation => "violation",
            CaseOutcome::Referred => "referred",
        }
    }
    pub fn parse(s: &str) -> Option<CaseOutcome> {
        Some(match s {
            "no_violation" => CaseOutcome::NoViolation,
            "violation" => CaseOutcome::Violation,
            "referred" => CaseOutcome::Referred,
            _ => return None,
        })
    }
    /// Outcomes that take a second person.
    pub fn four_eyes(self) -> bool {
        self != CaseOutcome::NoViolation
    }
}

/// A case as listed.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub id: i64,
    pub title: String,
    pub status: CaseStatus,
    pub outcome: Option<CaseOutcome>,
    pub assignee: Option<String>,
    pub opened_by: String,
    pub opened_at: i64,
    pub updated_at: i64,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub close_reason: Option<String>,
    /// The linked alerts' ids, in the order they were linked.
    pub alerts: Vec<String>,
}

/// A comment or a piece of evidence on a case.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub id: i64,
    pub case_id: i64,
    /// `comment` or `evidence`.
    pub kind: String,
    pub author: String,
    pub at: i64,
    /// The comment, or the evidence's file name.
    pub body: String,
    /// Evidence only: its size and SHA-256 (hex).
    pub size: Option<i64>,
    pub sha256: Option<String>,
}

/// Which cases to list.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    pub assignee: Option<String>,
    pub limit: Option<i64>,
}

/// Evidence files are kept in the store; larger ones belong in a document system, referenced by a
/// comment.
pub const MAX_EVIDENCE_BYTES: usize = 16 << 20;

const CASE_COLUMNS: &str = "case_id, title, status, outcome, assignee, opened_by, opened_at, updated_at, closed_by, closed_at, close_reason";

impl Store {
    /// Opens a case from one or more alerts (each must exist).
    pub fn open_case(&mut self, actor: &str, title: &str, alert_ids: &[&str]) -> Result<i64> {
        self.require_user(actor, Role::Analyst)?;
        let title = title.trim();
        if title.is_empty() {
            return Err(Error::Invalid("a case needs a title".into()));
        }
        if alert_ids.is_empty() {
            return Err(Error::Invalid("a case is opened from at least one alert".into()));
        }
        let at = now_ns();
        self.tx(true, |c| {
            let id = crate::db::next_id(c, "cases", "case_id")?;
            c.exec(
                "INSERT INTO cases (case_id, title, status, opened_by, opened_at, updated_at) VALUES ($1, $2, 'open', $3, $4, $4)",
                &[id.into(), title.into(), actor.into(), at.into()],
            )?;
            audit::append(c, at, actor, "case.open", "case", &id.to_string(), &json!({"title": title, "alerts": alert_ids}))?;
            link(c, id, alert_ids, actor, at)?;
            Ok(id)
        })
    }

    /// Links more alerts to a case that is not closed.
    pub fn link_alerts(&mut self, case_id: i64, actor: &str, alert_ids: &[&str]) -> Result<()> {
        self.require_user(actor, Role::Analyst)?;
        let at = now_ns();
        self.tx(true, |c| {
            not_closed(c, case_id)?;
            let n = link(c, case_id, alert_ids, actor, at)?;
            if n > 0 {
                audit::append(c, at, actor, "case.link", "case", &case_id.to_string(), &json!({"alerts": alert_ids}))?;
                touch(c, case_id, at)?;
            }
            Ok(())
        })
    }

    /// Assigns a case to a user (an analyst or above).
    pub fn assign_case(&mut self, case_id: i64, actor: &str, assignee: &str) -> Result<()> {
        self.require_user(actor, Role::Analyst)?;
        let to = self.require_user(assignee, Role::Analyst)?;
        let case = self.require_case(case_id)?;
        let at = now_ns();
        self.tx(true, |c| {
            not_closed(c, case_id)?;
            c.exec("UPDATE cases SET assignee = $1, updated_at = $2 WHERE case_id = $3", &[to.name.as_str().into(), at.into(), case_id.into()])?;
            audit::append(c, at, actor, "case.assign", "case", &case_id.to_string(), &json!({"assignee": to.name, "was": case.assignee}))?;
            Ok(())
        })
    }

    /// Adds a comment (also to a closed case: a note after the fact is still a note).
    pub fn comment_case(&mut self, case_id: i64, actor: &str, text: &str) -> Result<i64> {
        self.require_user(actor, Role::Analyst)?;
        self.require_case(case_id)?;
        if text.trim().is_empty() {
            return Err(Error::Invalid("an empty comment".into()));
        }
        let at = now_ns();
        self.tx(true, |c| {
            let id = add_note(c, case_id, "comment", actor, at, text, None)?;
            audit::append(c, at, actor, "case.comment", "case", &case_id.to_string(), &json!({"note": id, "text": text}))?;
            touch(c, case_id, at)?;
            Ok(id)
        })
    }

    /// Attaches a file as evidence; the log records its name, size and SHA-256, so a file changed
    /// afterwards no longer matches its entry.
    pub fn attach_evidence(&mut self, case_id: i64, actor: &str, name: &str, content: &[u8]) -> Result<(i64, String)> {
        self.require_user(actor, Role::Analyst)?;
        if content.len() > MAX_EVIDENCE_BYTES {
            return Err(Error::Invalid(format!("{name}: {} bytes; evidence kept in the store is at most {MAX_EVIDENCE_BYTES}", content.len())));
        }
        let sha = audit::hex(&Sha256::digest(content));
        let at = now_ns();
        self.tx(true, |c| {
            not_closed(c, case_id)?;
            let id = add_note(c, case_id, "evidence", actor, at, name, Some((content, &sha)))?;
            audit::append(
                c,
                at,
                actor,
                "case.evidence",
                "case",
                &case_id.to_string(),
                &json!({"note": id, "name": name, "size": content.len(), "sha256": sha}),
            )?;
            touch(c, case_id, at)?;
            Ok((id, sha))
        })
    }

    /// An evidence file's content, checked against the SHA-256 recorded when it was attached.
    pub fn evidence(&mut self, note_id: i64) -> Result<(String, Vec<u8>)> {
        let rows = self.conn.query("SELECT body, content, sha256 FROM case_notes WHERE id = $1 AND kind = 'evidence'", &[note_id.into()])?;
        let r = rows.first().ok_or_else(|| Error::NotFound(format!("no evidence {note_id}")))?;
        let content = unhex(r[1].text().unwrap_or("")).ok_or_else(|| Error::Db(format!("evidence {note_id}: stored content is not hex")))?;
        if audit::hex(&Sha256::digest(&content)) != txt(&r[2]) {
            return Err(Error::Db(format!("evidence {note_id}: content does not match its recorded SHA-256")));
        }
        Ok((txt(&r[0]), content))
    }

    /// open → investigating.
    pub fn investigate_case(&mut self, case_id: i64, actor: &str) -> Result<()> {
        self.require_user(actor, Role::Analyst)?;
        let case = self.require_case(case_id)?;
        if case.status != CaseStatus::Open {
            return Err(Error::Invalid(format!("case {case_id} is {}, not open", case.status.as_str())));
        }
        let at = now_ns();
        self.tx(true, |c| {
            let n =
                c.exec("UPDATE cases SET status = 'investigating', updated_at = $1 WHERE case_id = $2 AND status = 'open'", &[at.into(), case_id.into()])?;
            if n == 0 {
                return Err(Error::Invalid(format!("case {case_id} is no longer open")));
            }
            audit::append(c, at, actor, "case.investigate", "case", &case_id.to_string(), &json!({}))?;
            Ok(())
        })
    }

    /// Closes a case with an outcome. No violation closes at once; violation and referred become a
    /// proposal a supervisor other than `actor` approves (four eyes).
    pub fn close_case(&mut self, case_id: i64, actor: &str, outcome: CaseOutcome, reason: &str) -> Result<Outcome> {
        let user = self.require_user(actor, Role::Analyst)?;
        let case = self.require_case(case_id)?;
        if case.status == CaseStatus::Closed {
            return Err(Error::Invalid(format!("case {case_id} is already closed ({})", case.outcome.map_or("?", |o| o.as_str()))));
        }
        if reason.trim().is_empty() {
            return Err(Error::Invalid("closing a case takes a reason".into()));
        }
        if outcome.four_eyes() {
            let id = self.propose(&user.name, "case.close", "case", &case_id.to_string(), json!({"outcome": outcome.as_str(), "reason": reason}))?;
            return Ok(Outcome::Proposed(id));
        }
        let at = now_ns();
        self.tx(true, |c| {
            close(c, case_id, outcome, actor, reason, at)?;
            audit::append(c, at, actor, "case.close", "case", &case_id.to_string(), &json!({"outcome": outcome.as_str(), "reason": reason}))?;
            Ok(Outcome::Done)
        })
    }

    /// closed → investigating, with a reason. A case closed as a violation or a referral (a
    /// four-eyes decision) is reopened by a supervisor only.
    pub fn reopen_case(&mut self, case_id: i64, actor: &str, reason: &str) -> Result<()> {
        let user = self.require_user(actor, Role::Analyst)?;
        let case = self.require_case(case_id)?;
        if case.status != CaseStatus::Closed {
            return Err(Error::Invalid(format!("case {case_id} is {}, not closed", case.status.as_str())));
        }
        if case.outcome.is_some_and(CaseOutcome::four_eyes) && user.role != Role::Supervisor {
            return Err(Error::Denied(format!(
                "case {case_id} was closed as {} by four eyes: a supervisor reopens it",
                case.outcome.map_or("?", |o| o.as_str())
            )));
        }
        if reason.trim().is_empty() {
            return Err(Error::Invalid("reopening a case takes a reason".into()));
        }
        let at = now_ns();
        self.tx(true, |c| {
            let n = c.exec(
                "UPDATE cases SET status = 'investigating', outcome = NULL, closed_by = NULL, closed_at = NULL, close_reason = NULL, updated_at = $1 WHERE case_id = $2 AND status = 'closed' AND outcome IS NOT DISTINCT FROM $3",
                &[at.into(), case_id.into(), case.outcome.map(|o| o.as_str()).into()],
            )?;
            if n == 0 {
                return Err(Error::Invalid(format!("case {case_id} changed meanwhile: look again")));
            }
            audit::append(c, at, actor, "case.reopen", "case", &case_id.to_string(), &json!({"reason": reason, "was": case.outcome.map(|o| o.as_str())}))?;
            Ok(())
        })
    }

    pub fn case(&mut self, case_id: i64) -> Result<Option<Case>> {
        let rows = self.conn.query(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1"), &[case_id.into()])?;
        match rows.first() {
            None => Ok(None),
            Some(r) => {
                let mut case = case_row(r)?;
                case.alerts = case_alerts(&mut self.conn, case_id)?;
                Ok(Some(case))
            }
        }
    }

    fn require_case(&mut self, case_id: i64) -> Result<Case> {
        self.case(case_id)?.ok_or_else(|| Error::NotFound(format!("no case {case_id}")))
    }

    /// Cases, most recently changed first.
    pub fn cases(&mut self, f: &CaseFilter) -> Result<Vec<Case>> {
        let mut sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1");
        let mut params: Vec<Value> = Vec::new();
        if let Some(s) = f.status {
            params.push(s.as_str().into());
            sql.push_str(&format!(" AND status = ${}", params.len()));
        }
        if let Some(a) = &f.assignee {
            params.push(a.as_str().into());
            sql.push_str(&format!(" AND assignee = ${}", params.len()));
        }
        sql.push_str(" ORDER BY updated_at DESC, case_id DESC");
        if let Some(n) = f.limit {
            params.push(n.into());
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        let rows = self.conn.query(&sql, &params)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut case = case_row(r)?;
            case.alerts = case_alerts(&mut self.conn, case.id)?;
            out.push(case);
        }
        Ok(out)
    }

    /// A case's comments and evidence, oldest first.
    pub fn case_notes(&mut self, case_id: i64) -> Result<Vec<Note>> {
        let rows =
            self.conn.query("SELECT id, case_id, kind, author, at, body, size, sha256 FROM case_notes WHERE case_id = $1 ORDER BY id", &[case_id.into()])?;
        Ok(rows
            .iter()
            .map(|r| Note {
                id: r[0].int().unwrap_or(0),
                case_id: r[1].int().unwrap_or(0),
                kind: txt(&r[2]),
                author: txt(&r[3]),
                at: r[4].int().unwrap_or(0),
                body: txt(&r[5]),
                size: r[6].int(),
                sha256: r[7].text().map(str::to_string),
            })
            .collect())
    }

    /// Saves the narrative a report will carry (an analyst's edit of the drafted one); the latest
    /// saved is the one in force. Allowed on a closed case: reports are often filed after closing.
    /// The audit entry keeps the text's SHA-256.
    pub fn set_narrative(&mut self, case_id: i64, actor: &str, text: &str) -> Result<i64> {
        self.require_user(actor, Role::Analyst)?;
        self.require_case(case_id)?;
        if text.trim().is_empty() {
            return Err(Error::Invalid("an empty narrative".into()));
        }
        let sha = audit::hex(&Sha256::digest(text.as_bytes()));
        let at = now_ns();
        self.tx(true, |c| {
            let id = add_note(c, case_id, "narrative", actor, at, text, None)?;
            audit::append(c, at, actor, "case.narrative", "case", &case_id.to_string(), &json!({"note": id, "sha256": sha, "chars": text.chars().count()}))?;
            touch(c, case_id, at)?;
            Ok(id)
        })
    }

    /// The narrative in force for a case: the latest saved, if any.
    pub fn narrative(&mut self, case_id: i64) -> Result<Option<Note>> {
        Ok(self.case_notes(case_id)?.into_iter().rev().find(|n| n.kind == "narrative"))
    }

    /// The cases an alert is linked to.
    pub fn cases_of_alert(&mut self, alert_id: &str) -> Result<Vec<i64>> {
        let rows = self.conn.query("SELECT case_id FROM case_alerts WHERE alert_id = $1 ORDER BY case_id", &[alert_id.into()])?;
        Ok(rows.iter().filter_map(|r| r[0].int()).collect())
    }
}

/// Carries out an approved closing proposal (from [`Store::decide`], inside its transaction).
pub(crate) fn apply_close(c: &mut Conn, case_id: &str, details: &serde_json::Value, proposed_by: &str, approver: &str, proposal: i64, at: i64) -> Result<()> {
    let id: i64 = case_id.parse().map_err(|_| Error::Invalid(format!("proposal {proposal}: case id {case_id:?}")))?;
    let outcome = details["outcome"].as_str().and_then(CaseOutcome::parse).ok_or_else(|| Error::Invalid(format!("proposal {proposal}: no outcome")))?;
    let reason = details["reason"].as_str().unwrap_or("");
    close(c, id, outcome, proposed_by, reason, at)?;
    audit::append(
        c,
        at,
        approver,
        "case.close",
        "case",
        case_id,
        &json!({"outcome": outcome.as_str(), "reason": reason, "proposed_by": proposed_by, "proposal": proposal}),
    )?;
    Ok(())
}

fn close(c: &mut Conn, case_id: i64, outcome: CaseOutcome, by: &str, reason: &str, at: i64) -> Result<()> {
    let n = c.exec(
        "UPDATE cases SET status = 'closed', outcome = $1, closed_by = $2, closed_at = $3, close_reason = $4, updated_at = $3 WHERE case_id = $5 AND status <> 'closed'",
        &[outcome.as_str().into(), by.into(), at.into(), reason.into(), case_id.into()],
    )?;
    if n == 0 {
        return Err(Error::Invalid(format!("case {case_id} is already closed")));
    }
    Ok(())
}

/// Links the alerts not yet linked; every one must exist. Returns how many were new.
fn link(c: &mut Conn, case_id: i64, alert_ids: &[&str], actor: &str, at: i64) -> Result<usize> {
    let mut n = 0;
    for id in alert_ids {
        if c.query("SELECT 1 FROM alerts WHERE alert_id = $1", &[(*id).into()])?.is_empty() {
            return Err(Error::NotFound(format!("no alert {id}")));
        }
        n += c.exec(
            "INSERT INTO case_alerts (case_id, alert_id, linked_by, linked_at) VALUES ($1, $2, $3, $4) ON CONFLICT (case_id, alert_id) DO NOTHING",
            &[case_id.into(), (*id).into(), actor.into(), at.into()],
        )? as usize;
    }
    Ok(n)
}

/// Refuses a change to a case that is closed, read inside the change's transaction.
fn not_closed(c: &mut Conn, case_id: i64) -> Result<()> {
    let rows = c.query("SELECT status FROM cases WHERE case_id = $1", &[case_id.into()])?;
    match rows.first().map(|r| txt(&r[0])) {
        None => Err(Error::NotFound(format!("no case {case_id}"))),
        Some(s) if s == "closed" => Err(Error::Invalid(format!("case {case_id} is closed: reopen it first"))),
        Some(_) => Ok(()),
    }
}

fn touch(c: &mut Conn, case_id: i64, at: i64) -> Result<()> {
    c.exec("UPDATE cases SET updated_at = $1 WHERE case_id = $2", &[at.into(), case_id.into()])?;
    Ok(())
}

fn add_note(c: &mut Conn, case_id: i64, kind: &str, author: &str, at: i64, body: &str, file: Option<(&[u8], &str)>) -> Result<i64> {
    let id = crate::db::next_id(c, "case_notes", "id")?;
    c.exec(
        "INSERT INTO case_notes (id, case_id, kind, author, at, body, size, sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            id.into(),
            case_id.into(),
            kind.into(),
            author.into(),
            at.into(),
            body.into(),
            file.map(|f| f.0.len() as i64).into(),
            file.map(|f| f.1).into(),
            file.map(|f| audit::hex(f.0)).as_deref().into(),
        ],
    )?;
    Ok(id)
}

fn case_row(r: &[Value]) -> Result<Case> {
    let id = r[0].int().unwrap_or(0);
    Ok(Case {
        id,
        title: txt(&r[1]),
        status: CaseStatus::parse(&txt(&r[2])).ok_or_else(|| Error::Db(format!("case {id}: unknown status")))?,
        outcome: r[3].text().and_then(CaseOutcome::parse),
        assignee: r[4].text().map(str::to_string),
        opened_by: txt(&r[5]),
        opened_at: r[6].int().unwrap_or(0),
        updated_at: r[7].int().unwrap_or(0),
        closed_by: r[8].text().map(str::to_string),
        closed_at: r[9].int(),
        close_reason: r[10].text().map(str::to_string),
        alerts: Vec::new(),
    })
}

fn case_alerts(c: &mut Conn, case_id: i64) -> Result<Vec<String>> {
    let rows = c.query("SELECT alert_id FROM case_alerts WHERE case_id = $1 ORDER BY linked_at, alert_id", &[case_id.into()])?;
    Ok(rows.iter().map(|r| txt(&r[0])).collect())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
