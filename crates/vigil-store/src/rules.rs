//! Suppression rules: allow-lists an analyst's desk keeps (a known market maker's cancelling, an
//! arbitrageur's two-venue trading). A rule names an account or a symbol (or both), optionally one
//! alert type and one venue, a reason and an expiry. An alert is suppressed by a symbol's rule, or
//! when rules cover every account it names (a wash trade between an allow-listed maker and someone
//! else stays active). A suppressed alert is still stored, with its
//! evidence, as `suppressed` by the rule — never dropped — so a rule found wrong later leaves every
//! alert it hid to be reviewed. Rules are added and revoked by a supervisor or an admin, and both are
//! in the audit log.

use crate::db::{Conn, Value};
use crate::users::Role;
use crate::{audit, now_ns, txt, Error, Result, Store};
use serde_json::json;
use vigil_core::{Alert, AlertType};

/// A suppression rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: i64,
    /// The alert type it applies to; `None`: every type.
    pub alert_type: Option<AlertType>,
    pub account: Option<String>,
    pub symbol: Option<String>,
    pub venue: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
    /// Nanoseconds since the epoch (wall clock) after which it no longer applies.
    pub expires_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<i64>,
}

impl Rule {
    /// Whether the rule applies at wall-clock time `now`.
    pub fn active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// Whether its type, symbol and venue (those it names) match an alert's.
    fn in_scope(&self, a: &Alert) -> bool {
        self.alert_type.is_none_or(|t| t == a.kind)
            && self.symbol.as_ref().is_none_or(|x| a.symbols.contains(x))
            && self.venue.as_ref().is_none_or(|x| a.venue.as_ref() == Some(x))
    }
}

/// The rule that suppresses an alert, if any: one in scope that names no account (a symbol's
/// rule), or, when every account the alert names is allow-listed by rules in scope, the first of
/// those. An alert naming an allow-listed maker and another account stays active: the other one
/// is not allow-listed.
pub fn suppressing<'a>(rules: &'a [Rule], a: &Alert) -> Option<&'a Rule> {
    let mut scope = rules.iter().filter(|r| r.in_scope(a));
    if let Some(r) = scope.clone().find(|r| r.account.is_none()) {
        return Some(r);
    }
    let covered = !a.accounts.is_empty() && a.accounts.iter().all(|x| scope.clone().any(|r| r.account.as_ref() == Some(x)));
    if covered {
        scope.find(|r| r.account.as_ref().is_some_and(|x| a.accounts.contains(x)))
    } else {
        None
    }
}

/// What a new rule applies to.
#[derive(Clone, Debug, Default)]
pub struct RuleSpec {
    pub alert_type: Option<AlertType>,
    pub account: Option<String>,
    pub symbol: Option<String>,
    pub venue: Option<String>,
    pub reason: String,
    pub expires_at: Option<i64>,
}

const RULE_COLUMNS: &str = "id, alert_type, account, symbol, venue, reason, created_by, created_at, expires_at, revoked_by, revoked_at";

impl Store {
    fn require_rule_keeper(&mut self, actor: &str) -> Result<()> {
        let u = self.require_user(actor, Role::Analyst)?;
        if u.role == Role::Analyst {
            return Err(Error::Denied(format!("{actor} is an analyst; suppression rules are kept by a supervisor or an admin")));
        }
        Ok(())
    }

    /// Adds a suppression rule. It must name an account or a symbol (a whole alert type is turned
    /// off in the configuration, not hidden here) and give a reason.
    pub fn add_rule(&mut self, actor: &str, spec: &RuleSpec) -> Result<i64> {
        self.require_rule_keeper(actor)?;
        if spec.account.is_none() && spec.symbol.is_none() {
            return Err(Error::Invalid("a suppression rule names an account or a symbol".into()));
        }
        if spec.reason.trim().is_empty() {
            return Err(Error::Invalid("a suppression rule needs a reason".into()));
        }
        let at = now_ns();
        if spec.expires_at.is_some_and(|e| e <= at) {
            return Err(Error::Invalid("the rule would expire before it starts".into()));
        }
        self.tx(true, |c| {
            let id = crate::db::next_id(c, "suppressions", "id")?;
            c.exec(
                "INSERT INTO suppressions (id, alert_type, account, symbol, venue, reason, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    id.into(),
                    spec.alert_type.map(|t| t.as_str()).into(),
                    spec.account.as_deref().into(),
                    spec.symbol.as_deref().into(),
                    spec.venue.as_deref().into(),
                    spec.reason.as_str().into(),
                    actor.into(),
                    at.into(),
                    spec.expires_at.into(),
                ],
            )?;
            audit::append(
                c,
                at,
                actor,
                "rule.add",
                "rule",
                &id.to_string(),
                &json!({"alert_type": spec.alert_type.map(|t| t.as_str()), "account": spec.account, "symbol": spec.symbol, "venue": spec.venue, "reason": spec.reason, "expires_at": spec.expires_at}),
            )?;
            Ok(id)
        })
    }

    /// Revokes a rule: alerts from now on are no longer suppressed by it.
    pub fn revoke_rule(&mut self, id: i64, actor: &str, reason: &str) -> Result<()> {
        self.require_rule_keeper(actor)?;
        let at = now_ns();
        self.tx(true, |c| {
            let n =
                c.exec("UPDATE suppressions SET revoked_by = $1, revoked_at = $2 WHERE id = $3 AND revoked_at IS NULL", &[actor.into(), at.into(), id.into()])?;
            if n == 0 {
                return Err(Error::NotFound(format!("no rule {id} in force")));
            }
            audit::append(c, at, actor, "rule.revoke", "rule", &id.to_string(), &json!({"reason": reason}))?;
            Ok(())
        })
    }

    /// Every rule, in force or not, oldest first.
    pub fn rules(&mut self) -> Result<Vec<Rule>> {
        rules(&mut self.conn)
    }
}

pub(crate) fn rules(c: &mut Conn) -> Result<Vec<Rule>> {
    let rows = c.query(&format!("SELECT {RULE_COLUMNS} FROM suppressions ORDER BY id"), &[])?;
    rows.iter().map(|r| rule(r)).collect()
}

fn rule(r: &[Value]) -> Result<Rule> {
    let id = r[0].int().unwrap_or(0);
    let alert_type = match r[1].text() {
        None => None,
        Some(t) => Some(AlertType::parse(t).ok_or_else(|| Error::Db(format!("rule {id}: unknown alert type {t}")))?),
    };
    Ok(Rule {
        id,
        alert_type,
        account: r[2].text().map(str::to_string),
        symbol: r[3].text().map(str::to_string),
        venue: r[4].text().map(str::to_string),
        reason: txt(&r[5]),
        created_by: txt(&r[6]),
        created_at: r[7].int().unwrap_or(0),
        expires_at: r[8].int(),
        revoked_by: r[9].text().map(str::to_string),
        revoked_at: r[10].int(),
    })
}
