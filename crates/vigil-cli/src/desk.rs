//! The desk's commands on the store: users, alerts and their triage, cases, suppression rules,
//! four-eyes approvals, the audit log. They act on the local database (`--db`, else `VIGIL_DB`, else `vigil.db` here): a SQLite
//! file, or a PostgreSQL connection string.

use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use vigil_core::Level;
use vigil_store::{AlertFilter, Outcome, Role, Status, Store, StoredAlert};

#[derive(clap::Args, Clone)]
pub struct Db {
    /// The store: a SQLite file or a PostgreSQL connection string (default: $VIGIL_DB, else vigil.db).
    #[arg(long, global = true)]
    pub db: Option<String>,
}

impl Db {
    pub fn location(&self) -> String {
        self.db.clone().or_else(|| std::env::var("VIGIL_DB").ok()).unwrap_or_else(|| "vigil.db".into())
    }
    pub fn open(&self) -> anyhow::Result<Store> {
        let loc = self.location();
        Store::open(&loc).with_context(|| format!("cannot open the store {loc}"))
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Default, PartialEq)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
}

#[derive(clap::Subcommand)]
pub enum UserCmd {
    /// Add a user; the password is read from $VIGIL_PASSWORD or the first line of standard input.
    /// On an empty store the first user is an admin and needs no --as.
    Add {
        name: String,
        #[arg(long, value_parser = ["analyst", "supervisor", "admin"])]
        role: String,
        /// The admin adding the user.
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// List users.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke an API token (its owner or an admin); the token is read from $VIGIL_TOKEN or standard input.
    RevokeToken {
        #[arg(long = "as")]
        actor: String,
    },
    /// Issue an API token (printed once; only its hash is kept).
    Token {
        name: String,
        /// Lifetime in days.
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long = "as")]
        actor: String,
    },
}

#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; names the first entry that fails (exit 4).
    Verify,
    /// Print the log's entries.
    Log {
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

#[derive(clap::Args)]
pub struct AlertsArgs {
    #[arg(long, value_parser = ["critical", "high", "medium", "low"])]
    pub level: Option<String>,
    #[arg(long, value_parser = ["active", "resolved", "false_positive", "suppressed"])]
    pub status: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct ResolveArgs {
    #[arg(long)]
    pub alert_id: String,
    #[arg(long, value_parser = ["resolved", "false_positive"])]
    pub resolution: String,
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Who resolves it (default: the user of $VIGIL_TOKEN through a running serve, else $VIGIL_USER).
    #[arg(long = "as")]
    pub actor: Option<String>,
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The proposal to decide (`vigil proposals` lists the open ones).
    pub proposal: i64,
    /// Reject instead of approving.
    #[arg(long)]
    pub reject: bool,
    #[arg(long, default_value = "")]
    pub reason: String,
    #[arg(long = "as")]
    pub actor: Option<String>,
}

pub(crate) fn actor(a: &Option<String>) -> anyhow::Result<String> {
    match a.clone().or_else(|| std::env::var("VIGIL_USER").ok()) {
        Some(u) => Ok(u),
        None => bail!("who is acting? --as NAME or VIGIL_USER"),
    }
}

fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("VIGIL_PASSWORD") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        eprint!("password (echoed; prefer VIGIL_PASSWORD or a pipe): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn user(db: &Db, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let mut s = db.open()?;
    match cmd {
        UserCmd::Add { name, role, actor } => {
            let role = Role::parse(&role).expect("clap checked the role");
            let u = s.add_user(&name, role, &password()?, actor.as_deref())?;
            println!("added {} ({})", u.name, u.role.as_str());
        }
        UserCmd::List { format } => {
            let rows: Vec<Vec<String>> =
                s.users()?.into_iter().map(|u| vec![u.name, u.role.as_str().into(), if u.disabled { "disabled" } else { "enabled" }.into()]).collect();
            print_rows(format, &["name", "role", "state"], &rows);
        }
        UserCmd::RevokeToken { actor } => {
            let token = match std::env::var("VIGIL_TOKEN") {
                Ok(t) => t,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim().to_string()
                }
            };
            s.revoke_token(&token, &actor)?;
            println!("token revoked");
        }
        UserCmd::Token { name, days, actor } => {
            println!("{}", s.issue_token(&name, days.saturating_mul(86_400), &actor)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(db: &Db, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    let mut s = db.open()?;
    match cmd {
        AuditCmd::Verify => {
            let v = s.audit_verify()?;
            match v.failure {
                None => {
                    match &v.head {
                        Some((seq, hash)) => println!("audit log intact: {} entries; head {seq} {hash}", v.entries),
                        None => println!("audit log intact: empty"),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some((seq, why)) => {
                    eprintln!("vigil: audit log broken at entry {seq}: {why} ({} entries before it hold)", v.entries);
                    Ok(ExitCode::from(4))
                }
            }
        }
        AuditCmd::Log { after, limit, format } => {
            let rows: Vec<Vec<String>> = s
                .audit_entries(after, limit)?
                .into_iter()
                .map(|e| {
                    vec![
                        e.seq.to_string(),
                        vigil_core::Ts(e.at).to_string(),
                        e.actor,
                        e.action,
                        format!("{}:{}", e.object_type, e.object_id),
                        e.details,
                        vigil_store::audit::short(&e.hash),
                    ]
                })
                .collect();
            print_rows(format, &["seq", "at", "actor", "action", "object", "details", "hash"], &rows);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// From the running serve when one answers, else from the local store.
pub fn alerts(db: &Db, a: AlertsArgs, server: &str) -> anyhow::Result<ExitCode> {
    let list: Vec<StoredAlert> = match crate::serve::Client::find(server) {
        Some(c) => {
            let mut q = format!("/api/alerts?limit={}", a.limit);
            for (k, v) in [("level", &a.level), ("status", &a.status)] {
                if let Some(v) = v {
                    q.push_str(&format!("&{k}={v}"));
                }
            }
            let v = c.get(&q)?;
            let mut out = Vec::new();
            for x in v.as_array().into_iter().flatten() {
                let status = x["status"].as_str().and_then(Status::parse).context("the serve sent an alert without a status")?;
                let mut x = x.clone();
                let mut triage = serde_json::Map::new();
                if let Some(o) = x.as_object_mut() {
                    for k in ["status", "status_by", "status_at", "status_reason"] {
                        if let Some(v) = o.remove(k) {
                            triage.insert(k.into(), v);
                        }
                    }
                }
                let text = |k: &str| triage.get(k).and_then(|v| v.as_str()).map(str::to_string);
                out.push(StoredAlert {
                    alert: serde_json::from_value(x)?,
                    status,
                    status_by: text("status_by"),
                    status_at: triage.get("status_at").and_then(|v| v.as_i64()),
                    status_reason: text("status_reason"),
                });
            }
            out
        }
        None => {
            let f = AlertFilter {
                level: a.level.as_deref().and_then(Level::parse),
                status: a.status.as_deref().and_then(Status::parse),
                limit: Some(a.limit),
                ..Default::default()
            };
            db.open()?.alerts(&f)?
        }
    };
    if a.format == Format::Json {
        for x in &list {
            let mut v = serde_json::to_value(&x.alert)?;
            v["status"] = x.status.as_str().into();
            println!("{v}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = list.iter().map(row).collect();
    print_rows(a.format, &["alert_id", "time", "type", "level", "risk", "status", "symbols", "accounts", "description"], &rows);
    Ok(ExitCode::SUCCESS)
}

fn row(x: &StoredAlert) -> Vec<String> {
    alert_row(&x.alert, Some(x.status))
}

/// An alert as a listing's row; the status column only for stored alerts.
pub fn alert_row(a: &vigil_core::Alert, status: Option<Status>) -> Vec<String> {
    let mut r = vec![a.alert_id.clone(), vigil_core::Ts(a.ts).to_string(), a.kind.as_str().into(), a.level.as_str().into(), format!("{:.2}", a.risk_score)];
    r.extend(status.map(|s| s.as_str().to_string()));
    r.extend([a.symbols.join(" "), a.accounts.join(" "), a.description.clone()]);
    r
}

/// Through the running serve when there is one and $VIGIL_TOKEN names the user; else on the store
/// as `--as`.
pub fn resolve(db: &Db, a: ResolveArgs, server: &str) -> anyhow::Result<ExitCode> {
    let status = Status::parse(&a.resolution).expect("clap checked the resolution");
    let token = std::env::var("VIGIL_TOKEN").ok().filter(|_| a.actor.is_none());
    let outcome = match token.as_deref().and_then(|t| crate::serve::Client::find(server).map(|c| (c, t))) {
        Some((c, t)) => {
            let v = c.post_as(&format!("/api/alerts/{}/resolve", a.alert_id), t, &serde_json::json!({"resolution": a.resolution, "reason": a.reason}))?;
            match v["proposal"].as_i64() {
                Some(p) => Outcome::Proposed(p),
                None => Outcome::Done,
            }
        }
        None => db.open()?.resolve(&a.alert_id, status, &actor(&a.actor)?, &a.reason)?,
    };
    match outcome {
        Outcome::Done => println!("{} {}", a.alert_id, status.as_str()),
        Outcome::Proposed(p) => println!("{} is critical: proposal {p} waits for a supervisor (vigil approve {p})", a.alert_id),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn approve(db: &Db, a: ApproveArgs) -> anyhow::Result<ExitCode> {
    let mut s = db.open()?;
    s.decide(a.proposal, &actor(&a.actor)?, !a.reject, &a.reason)?;
    println!("proposal {} {}", a.proposal, if a.reject { "rejected" } else { "approved" });
    Ok(ExitCode::SUCCESS)
}

pub fn proposals(db: &Db, format: Format) -> anyhow::Result<ExitCode> {
    let mut s = db.open()?;
    let rows: Vec<Vec<String>> = s
        .proposals(true)?
        .into_iter()
        .map(|p| vec![p.id.to_string(), p.action, format!("{}:{}", p.object_type, p.object_id), p.proposed_by, p.details.to_string()])
        .collect();
    print_rows(format, &["id", "action", "object", "proposed_by", "details"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// The ANSI colour of an alert level.
fn level_colour(level: &str) -> Option<&'static str> {
    Some(match level {
        "critical" => "1;31",
        "high" => "31",
        "medium" => "33",
        "low" => "2",
        _ => return None,
    })
}

/// A listing as an aligned table, JSON objects (one a line) or CSV.
pub fn print_rows(format: Format, header: &[&str], rows: &[Vec<String>]) {
    match format {
        Format::Json => {
            for r in rows {
                let m: serde_json::Map<String, serde_json::Value> = header.iter().zip(r).map(|(h, v)| (h.to_string(), v.clone().into())).collect();
                println!("{}", serde_json::Value::Object(m));
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let _ = w.write_record(header);
            for r in rows {
                let _ = w.write_record(r);
            }
            let _ = w.flush();
        }
        Format::Table => {
            let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
            for r in rows {
                for (i, v) in r.iter().enumerate() {
                    width[i] = width[i].max(v.chars().count().min(60));
                }
            }
            // Levels in colour on a terminal, unless NO_COLOR is set (https://no-color.org).
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let level_col = header.iter().position(|h| *h == "level");
            let line = |cells: Vec<String>, body: bool| {
                let last = cells.len() - 1;
                let s: Vec<String> = cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let padded = if i == last { c.clone() } else { format!("{c:<w$}", w = width[i]) };
                        match level_colour(&c).filter(|_| colour && body && Some(i) == level_col) {
                            Some(code) => format!("\x1b[{code}m{padded}\x1b[0m"),
                            None => padded,
                        }
                    })
                    .collect();
                println!("{}", s.join("  ").trim_end());
            };
            line(header.iter().map(|h| h.to_uppercase()).collect(), false);
            for r in rows {
                line(r.clone(), true);
            }
            if rows.is_empty() {
                println!("(none)");
            }
        }
    }
}

#[derive(clap::Subcommand)]
pub enum CasesCmd {
    /// Open a case from one or more alerts.
    Open {
        #[arg(long, required = true, num_args = 1..)]
        alert_id: Vec<String>,
        #[arg(long)]
        title: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// List cases, most recently changed first.
    List {
        #[arg(long, value_parser = ["open", "investigating", "closed"])]
        status: Option<String>,
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// A case with its alerts, comments and evidence.
    Show {
        case_id: i64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Link more alerts to a case.
    Link {
        case_id: i64,
        #[arg(long, required = true, num_args = 1..)]
        alert_id: Vec<String>,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Assign a case to a user.
    Assign {
        case_id: i64,
        #[arg(long)]
        to: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Add a comment.
    Comment {
        case_id: i64,
        #[arg(long)]
        text: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Attach a file as evidence (kept in the store with its SHA-256).
    Attach {
        case_id: i64,
        file: std::path::PathBuf,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Write an evidence file back out, checked against its SHA-256.
    Evidence {
        note_id: i64,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// open -> investigating.
    Investigate {
        case_id: i64,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Close with an outcome; violation and referred wait for a supervisor's approval (four eyes).
    Close {
        case_id: i64,
        #[arg(long, value_parser = ["no_violation", "violation", "referred"])]
        outcome: String,
        #[arg(long)]
        reason: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// Reopen a closed case.
    Reopen {
        case_id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
}

fn case_row(c: &vigil_store::Case) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.status.as_str().into(),
        c.outcome.map_or("", |o| o.as_str()).into(),
        c.assignee.clone().unwrap_or_default(),
        c.opened_by.clone(),
        vigil_core::Ts(c.updated_at).to_string(),
        c.alerts.join(" "),
        c.title.clone(),
    ]
}

const CASE_HEADER: [&str; 8] = ["case_id", "status", "outcome", "assignee", "opened_by", "updated", "alerts", "title"];

pub fn cases(db: &Db, cmd: CasesCmd) -> anyhow::Result<ExitCode> {
    use vigil_store::{CaseFilter, CaseOutcome, CaseStatus};
    let mut s = db.open()?;
    match cmd {
        CasesCmd::Open { alert_id, title, actor: a } => {
            let ids: Vec<&str> = alert_id.iter().map(String::as_str).collect();
            let id = s.open_case(&actor(&a)?, &title, &ids)?;
            println!("case {id} opened from {}", ids.join(", "));
        }
        CasesCmd::List { status, assignee, limit, format } => {
            let f = CaseFilter { status: status.as_deref().and_then(CaseStatus::parse), assignee, limit: Some(limit) };
            let rows: Vec<Vec<String>> = s.cases(&f)?.iter().map(case_row).collect();
            print_rows(format, &CASE_HEADER, &rows);
        }
        CasesCmd::Show { case_id, format } => {
            let c = s.case(case_id)?.with_context(|| format!("no case {case_id}"))?;
            let notes = s.case_notes(case_id)?;
            if format == Format::Json {
                let v = serde_json::json!({
                    "case_id": c.id, "title": c.title, "status": c.status.as_str(), "outcome": c.outcome.map(|o| o.as_str()),
                    "assignee": c.assignee, "opened_by": c.opened_by, "opened_at": c.opened_at, "updated_at": c.updated_at,
                    "closed_by": c.closed_by, "closed_at": c.closed_at, "close_reason": c.close_reason, "alerts": c.alerts,
                    "notes": notes.iter().map(|n| serde_json::json!({"id": n.id, "kind": n.kind, "author": n.author, "at": n.at, "body": n.body, "size": n.size, "sha256": n.sha256})).collect::<Vec<_>>(),
                });
                println!("{v}");
                return Ok(ExitCode::SUCCESS);
            }
            print_rows(format, &CASE_HEADER, &[case_row(&c)]);
            if format == Format::Table {
                if let Some(r) = &c.close_reason {
                    println!("closed by {} at {}: {r}", c.closed_by.as_deref().unwrap_or("?"), vigil_core::Ts(c.closed_at.unwrap_or(0)));
                }
                println!();
                let rows: Vec<Vec<String>> = notes
                    .iter()
                    .map(|n| {
                        let what = match (&n.sha256, n.size) {
                            (Some(h), Some(z)) => format!("{} ({z} bytes, sha256 {})", n.body, &h[..16]),
                            _ => n.body.clone(),
                        };
                        vec![n.id.to_string(), vigil_core::Ts(n.at).to_string(), n.author.clone(), n.kind.clone(), what]
                    })
                    .collect();
                print_rows(format, &["note", "at", "author", "kind", "text"], &rows);
            }
        }
        CasesCmd::Link { case_id, alert_id, actor: a } => {
            let ids: Vec<&str> = alert_id.iter().map(String::as_str).collect();
            s.link_alerts(case_id, &actor(&a)?, &ids)?;
            println!("case {case_id}: linked {}", ids.join(", "));
        }
        CasesCmd::Assign { case_id, to, actor: a } => {
            s.assign_case(case_id, &actor(&a)?, &to)?;
            println!("case {case_id} assigned to {to}");
        }
        CasesCmd::Comment { case_id, text, actor: a } => {
            let n = s.comment_case(case_id, &actor(&a)?, &text)?;
            println!("case {case_id}: note {n}");
        }
        CasesCmd::Attach { case_id, file, actor: a } => {
            let content = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
            let (n, sha) = s.attach_evidence(case_id, &actor(&a)?, &name, &content)?;
            println!("case {case_id}: evidence {n}, {name}, {} bytes, sha256 {sha}", content.len());
        }
        CasesCmd::Evidence { note_id, out } => {
            let (name, content) = s.evidence(note_id)?;
            std::fs::write(&out, &content).with_context(|| format!("cannot write {}", out.display()))?;
            println!("{name}: {} bytes to {}", content.len(), out.display());
        }
        CasesCmd::Investigate { case_id, actor: a } => {
            s.investigate_case(case_id, &actor(&a)?)?;
            println!("case {case_id} investigating");
        }
        CasesCmd::Close { case_id, outcome, reason, actor: a } => {
            let o = CaseOutcome::parse(&outcome).expect("clap checked the outcome");
            match s.close_case(case_id, &actor(&a)?, o, &reason)? {
                Outcome::Done => println!("case {case_id} closed: {outcome}"),
                Outcome::Proposed(p) => println!("case {case_id}: closing as {outcome} is proposal {p}, waiting for a supervisor (vigil approve {p})"),
            }
        }
        CasesCmd::Reopen { case_id, reason, actor: a } => {
            s.reopen_case(case_id, &actor(&a)?, &reason)?;
            println!("case {case_id} reopened");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand)]
pub enum RulesCmd {
    /// Add a suppression rule (a supervisor or an admin): alerts it matches are stored as suppressed.
    Add {
        /// The account it applies to.
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        symbol: Option<String>,
        #[arg(long)]
        venue: Option<String>,
        /// One alert type (default: every type).
        #[arg(long = "type")]
        alert_type: Option<String>,
        #[arg(long)]
        reason: String,
        /// Expires after this many days (default: never).
        #[arg(long)]
        days: Option<i64>,
        #[arg(long = "as")]
        actor: Option<String>,
    },
    /// List the rules, in force or not.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a rule.
    Revoke {
        id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long = "as")]
        actor: Option<String>,
    },
}

pub fn rules(db: &Db, cmd: RulesCmd) -> anyhow::Result<ExitCode> {
    let mut s = db.open()?;
    match cmd {
        RulesCmd::Add { account, symbol, venue, alert_type, reason, days, actor: a } => {
            let alert_type = match alert_type {
                None => None,
                Some(t) => Some(vigil_core::AlertType::parse(&t).with_context(|| format!("--type {t}: not an alert type (vigil list-patterns)"))?),
            };
            let expires_at = days.map(|d| vigil_store::now_ns().saturating_add(d.saturating_mul(86_400_000_000_000)));
            let id = s.add_rule(&actor(&a)?, &vigil_store::RuleSpec { alert_type, account, symbol, venue, reason, expires_at })?;
            println!("rule {id} in force");
        }
        RulesCmd::List { format } => {
            let now = vigil_store::now_ns();
            let rows: Vec<Vec<String>> = s
                .rules()?
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        if r.active(now) {
                            "in force"
                        } else if r.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "expired"
                        }
                        .into(),
                        r.alert_type.map_or("*", |t| t.as_str()).into(),
                        r.account.clone().unwrap_or_else(|| "*".into()),
                        r.symbol.clone().unwrap_or_else(|| "*".into()),
                        r.venue.clone().unwrap_or_else(|| "*".into()),
                        r.created_by.clone(),
                        r.expires_at.map_or(String::new(), |e| vigil_core::Ts(e).to_string()),
                        r.reason.clone(),
                    ]
                })
                .collect();
            print_rows(format, &["id", "state", "type", "account", "symbol", "venue", "by", "expires", "reason"], &rows);
        }
        RulesCmd::Revoke { id, reason, actor: a } => {
            s.revoke_rule(id, &actor(&a)?, &reason)?;
            println!("rule {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
