//! The store on both backends: every test runs on a SQLite file and on a real PostgreSQL server
//! (Debian's, started on loopback for this test binary).

use std::sync::OnceLock;
use vigil_core::{Alert, AlertType, Level};
use vigil_store::testing::TempPostgres;
use vigil_store::{AlertFilter, CaseFilter, CaseOutcome, CaseStatus, Error, Outcome, Role, RuleSpec, Status, Store, Value};

static PG: OnceLock<TempPostgres> = OnceLock::new();

/// Runs `f` on a fresh SQLite store and a fresh PostgreSQL database.
fn both(name: &str, f: impl Fn(&mut Store)) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path().join("vigil.db").to_str().unwrap()).unwrap();
    assert_eq!(s.backend(), "sqlite");
    f(&mut s);
    let pg = PG.get_or_init(TempPostgres::start);
    let mut s = Store::open(&pg.database(name)).unwrap();
    assert_eq!(s.backend(), "postgresql");
    f(&mut s);
}

fn alert(id: &str, level: Level, ts: i64) -> Alert {
    let mut evidence = serde_json::Map::new();
    evidence.insert("orders".into(), serde_json::json!([1, 2, 3]));
    Alert {
        alert_id: id.into(),
        kind: AlertType::Spoofing,
        level,
        risk_score: 0.8,
        confidence: 0.9,
        ts,
        window_start: ts - 5,
        window_end: ts,
        venue: Some("nasdaq".into()),
        symbols: vec!["AMZN-USD".into()],
        accounts: vec!["a1".into()],
        description: format!("alert {id}"),
        evidence,
    }
}

/// An admin (the bootstrap), two analysts and two supervisors.
fn people(s: &mut Store) {
    s.add_user("root", Role::Admin, "correct horse battery", None).unwrap();
    for (n, r) in [("ann", Role::Analyst), ("bob", Role::Analyst), ("sue", Role::Supervisor), ("sam", Role::Supervisor)] {
        s.add_user(n, r, "correct horse battery", Some("root")).unwrap();
    }
}

#[test]
fn migrations_are_idempotent_and_alerts_are_stored_once_with_progress() {
    both("alerts", |s| {
        let a = [alert("a1", Level::High, 100), alert("a2", Level::Low, 200), alert("a3", Level::Critical, 300)];
        assert_eq!(s.insert_alerts(&a, Some(("feed", 10))).unwrap(), 3);
        // A restart replays from before the stored progress: what was stored is not stored twice.
        let again = [alert("a2", Level::Low, 200), alert("a3", Level::Critical, 300), alert("a4", Level::Medium, 400)];
        assert_eq!(s.insert_alerts(&again, Some(("feed", 20))).unwrap(), 1);
        assert_eq!(s.progress("feed").unwrap(), Some(20));
        assert_eq!(s.progress("other").unwrap(), None);
        let all = s.alerts(&AlertFilter::default()).unwrap();
        assert_eq!(all.iter().map(|a| a.alert.alert_id.as_str()).collect::<Vec<_>>(), ["a4", "a3", "a2", "a1"], "newest first");
        assert_eq!(all[1].alert, a[2], "stored field for field");
        assert_eq!(all[0].status, Status::Active);
        let crit = s.alerts(&AlertFilter { level: Some(Level::Critical), ..Default::default() }).unwrap();
        assert_eq!(crit.len(), 1);
        assert_eq!(s.alerts(&AlertFilter { limit: Some(2), ..Default::default() }).unwrap().len(), 2);
        // Type, symbol, account (exact: case and whole names) and paging back in time.
        let mut other = alert("a5", Level::Low, 500);
        other.kind = AlertType::WashTrading;
        other.symbols = vec!["ETH-USD".into()];
        other.accounts = vec!["A1".into(), "b\"q".into()];
        assert_eq!(s.insert_alerts(&[other], None).unwrap(), 1);
        let ids = |s: &mut Store, f: AlertFilter| s.alerts(&f).unwrap().into_iter().map(|a| a.alert.alert_id).collect::<Vec<_>>();
        assert_eq!(ids(s, AlertFilter { kind: Some("wash_trading".into()), ..Default::default() }), ["a5"]);
        assert_eq!(ids(s, AlertFilter { symbol: Some("AMZN-USD".into()), ..Default::default() }), ["a4", "a3", "a2", "a1"]);
        assert_eq!(ids(s, AlertFilter { symbol: Some("AMZN".into()), ..Default::default() }), Vec::<String>::new());
        assert_eq!(ids(s, AlertFilter { account: Some("a1".into()), ..Default::default() }), ["a4", "a3", "a2", "a1"]);
        assert_eq!(ids(s, AlertFilter { account: Some("A1".into()), ..Default::default() }), ["a5"]);
        assert_eq!(ids(s, AlertFilter { account: Some("b\"q".into()), ..Default::default() }), ["a5"]);
        assert_eq!(ids(s, AlertFilter { before: Some((300, None)), account: Some("a1".into()), ..Default::default() }), ["a2", "a1"]);
        // Paging on (time, id): two alerts of one instant, split across pages, both listed.
        let mut twin = alert("a0", Level::Low, 300);
        twin.symbols = vec!["ZZ-USD".into()];
        assert_eq!(s.insert_alerts(&[twin], None).unwrap(), 1);
        let first = ids(s, AlertFilter { limit: Some(3), ..Default::default() });
        assert_eq!(first, ["a5", "a4", "a0"]);
        let next = ids(s, AlertFilter { limit: Some(3), before: Some((300, Some("a0".into()))), ..Default::default() });
        assert_eq!(next, ["a3", "a2", "a1"]);
        // Four raise entries, one per alert stored.
        let log = s.audit_entries(0, 100).unwrap();
        assert_eq!(log.iter().filter(|e| e.action == "alert.raise").count(), 6);
        assert!(s.audit_verify().unwrap().failure.is_none());
    });
}

#[test]
fn reopening_a_sqlite_store_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/vigil.db");
    {
        let mut s = Store::open(path.to_str().unwrap()).unwrap();
        s.insert_alerts(&[alert("x", Level::Low, 1)], Some(("f", 5))).unwrap();
    }
    let mut s = Store::open(&format!("sqlite:{}", path.display())).unwrap();
    assert_eq!(s.progress("f").unwrap(), Some(5));
    assert_eq!(s.alerts(&AlertFilter::default()).unwrap().len(), 1);
    assert_eq!(s.audit_verify().unwrap().entries, 1);
}

#[test]
fn triage_takes_a_user_and_a_critical_false_positive_takes_four_eyes() {
    both("triage", |s| {
        people(s);
        s.insert_alerts(&[alert("h", Level::High, 1), alert("c", Level::Critical, 2)], None).unwrap();
        // Nobody unknown acts.
        assert!(matches!(s.resolve("h", Status::Resolved, "mallory", "x"), Err(Error::Denied(_))));
        assert_eq!(s.resolve("h", Status::Resolved, "ann", "reviewed: a market maker").unwrap(), Outcome::Done);
        let h = s.alert("h").unwrap().unwrap();
        assert_eq!((h.status, h.status_by.as_deref(), h.status_reason.as_deref()), (Status::Resolved, Some("ann"), Some("reviewed: a market maker")));
        assert!(matches!(s.resolve("h", Status::FalsePositive, "bob", "x"), Err(Error::Invalid(_))), "already resolved");
        // A critical alert marked a false positive is a proposal until a supervisor approves.
        let Outcome::Proposed(p) = s.resolve("c", Status::FalsePositive, "sue", "duplicate of h").unwrap() else { panic!("four eyes") };
        assert_eq!(s.alert("c").unwrap().unwrap().status, Status::Active);
        assert!(matches!(s.resolve("c", Status::FalsePositive, "ann", "again"), Err(Error::Invalid(_))), "one open proposal");
        assert!(matches!(s.decide(p, "sue", true, "ok"), Err(Error::Denied(_))), "not the proposer");
        assert!(matches!(s.decide(p, "bob", true, "ok"), Err(Error::Denied(_))), "not an analyst");
        assert!(matches!(s.decide(p, "root", true, "ok"), Err(Error::Denied(_))), "an admin approves nothing");
        s.decide(p, "sam", true, "agreed").unwrap();
        let c = s.alert("c").unwrap().unwrap();
        assert_eq!((c.status, c.status_by.as_deref()), (Status::FalsePositive, Some("sue")));
        assert!(matches!(s.decide(p, "sam", true, "again"), Err(Error::Invalid(_))), "decided once");
        let actions: Vec<String> = s.audit_entries(0, 100).unwrap().into_iter().map(|e| format!("{} {} {}", e.actor, e.action, e.object_id)).collect();
        for want in [
            "ann alert.resolved h",
            "sue proposal.open c",
            "sam proposal.approved c",
            "sam alert.false_positive c",
            "bootstrap user.add root",
            "root user.add sue",
        ] {
            assert!(actions.contains(&want.to_string()), "{want} in {actions:#?}");
        }
        assert!(s.audit_verify().unwrap().failure.is_none());
    });
}

#[test]
fn a_rejected_proposal_changes_nothing() {
    both("reject", |s| {
        people(s);
        s.insert_alerts(&[alert("c", Level::Critical, 2)], None).unwrap();
        let Outcome::Proposed(p) = s.resolve("c", Status::FalsePositive, "ann", "looks fine").unwrap() else { panic!() };
        s.decide(p, "sue", false, "it is not fine").unwrap();
        assert_eq!(s.alert("c").unwrap().unwrap().status, Status::Active);
        assert!(s.proposals(true).unwrap().is_empty());
        assert_eq!(s.proposals(false).unwrap()[0].decision.as_deref(), Some("rejected"));
    });
}

#[test]
fn a_case_lives_from_alerts_to_a_four_eyes_closing_and_back() {
    both("cases", |s| {
        people(s);
        s.insert_alerts(&[alert("a1", Level::High, 1), alert("a2", Level::Medium, 2), alert("a3", Level::Low, 3)], None).unwrap();
        assert!(matches!(s.open_case("mallory", "x", &["a1"]), Err(Error::Denied(_))), "nobody unknown opens a case");
        assert!(matches!(s.open_case("ann", "layering in AMZN", &["nope"]), Err(Error::NotFound(_))));
        assert!(matches!(s.open_case("ann", "no alerts", &[]), Err(Error::Invalid(_))));
        assert!(s.cases(&CaseFilter::default()).unwrap().is_empty(), "a failed open leaves nothing behind");
        let id = s.open_case("ann", "layering in AMZN", &["a1", "a2"]).unwrap();
        let c = s.case(id).unwrap().unwrap();
        assert_eq!((c.status, c.opened_by.as_str(), c.alerts.clone()), (CaseStatus::Open, "ann", vec!["a1".to_string(), "a2".to_string()]));
        // More alerts later; linking one twice is a no-op; a second case may share an alert.
        s.link_alerts(id, "bob", &["a3", "a1"]).unwrap();
        assert_eq!(s.case(id).unwrap().unwrap().alerts.len(), 3);
        let other = s.open_case("bob", "same account elsewhere", &["a3"]).unwrap();
        assert_eq!(s.cases_of_alert("a3").unwrap(), vec![id, other]);
        // Assigned to a user that exists, commented, evidence attached and read back intact.
        assert!(matches!(s.assign_case(id, "ann", "nobody"), Err(Error::Denied(_))));
        s.assign_case(id, "ann", "bob").unwrap();
        assert_eq!(s.cases(&CaseFilter { assignee: Some("bob".into()), ..Default::default() }).unwrap().iter().map(|c| c.id).collect::<Vec<_>>(), vec![id]);
        s.comment_case(id, "bob", "orders cancelled 0.6 s after each fill").unwrap();
        let content = b"order_id,ts\n17,100\n".to_vec();
        let (note, sha) = s.attach_evidence(id, "bob", "orders.csv", &content).unwrap();
        assert_eq!(sha.len(), 64);
        assert_eq!(s.evidence(note).unwrap(), ("orders.csv".to_string(), content));
        let notes = s.case_notes(id).unwrap();
        assert_eq!(notes.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(), ["comment", "evidence"]);
        assert_eq!(notes[1].sha256.as_deref(), Some(sha.as_str()));
        // open -> investigating -> a violation, which takes a supervisor other than the proposer.
        assert!(matches!(s.close_case(id, "bob", CaseOutcome::Violation, ""), Err(Error::Invalid(_))), "a reason is required");
        s.investigate_case(id, "bob").unwrap();
        assert!(matches!(s.investigate_case(id, "bob"), Err(Error::Invalid(_))));
        let Outcome::Proposed(p) = s.close_case(id, "sue", CaseOutcome::Violation, "spoofing, repeated").unwrap() else { panic!("four eyes") };
        assert_eq!(s.case(id).unwrap().unwrap().status, CaseStatus::Investigating, "nothing closes before approval");
        assert!(matches!(s.decide(p, "sue", true, "ok"), Err(Error::Denied(_))), "not the proposer");
        assert!(matches!(s.decide(p, "bob", true, "ok"), Err(Error::Denied(_))), "not an analyst");
        s.decide(p, "sam", true, "agreed").unwrap();
        let c = s.case(id).unwrap().unwrap();
        assert_eq!((c.status, c.outcome, c.closed_by.as_deref()), (CaseStatus::Closed, Some(CaseOutcome::Violation), Some("sue")));
        // A closed case takes no more alerts or evidence (comments still), and is reopened with a reason.
        assert!(matches!(s.link_alerts(id, "ann", &["a3"]), Err(Error::Invalid(_))));
        assert!(matches!(s.attach_evidence(id, "ann", "late.txt", b"x"), Err(Error::Invalid(_))));
        s.comment_case(id, "ann", "the regulator asked for the file").unwrap();
        assert!(matches!(s.reopen_case(id, "ann", "new alerts"), Err(Error::Denied(_))), "a four-eyes closing is reopened by a supervisor");
        s.reopen_case(id, "sam", "new alerts on the same account").unwrap();
        let c = s.case(id).unwrap().unwrap();
        assert_eq!((c.status, c.outcome), (CaseStatus::Investigating, None));
        // No violation closes at once; a referral is four eyes again, and a rejection changes nothing.
        let Outcome::Proposed(p) = s.close_case(id, "bob", CaseOutcome::Referred, "to the FCA").unwrap() else { panic!() };
        s.decide(p, "sue", false, "not yet").unwrap();
        assert_eq!(s.case(id).unwrap().unwrap().status, CaseStatus::Investigating);
        assert_eq!(s.close_case(other, "bob", CaseOutcome::NoViolation, "an arbitrageur").unwrap(), Outcome::Done);
        assert_eq!(s.cases(&CaseFilter { status: Some(CaseStatus::Closed), ..Default::default() }).unwrap().len(), 1);
        // Every step is in the log, and the log holds.
        let actions: Vec<String> =
            s.audit_entries(0, 1000).unwrap().into_iter().filter(|e| e.object_type == "case").map(|e| format!("{} {}", e.actor, e.action)).collect();
        let want = [
            "ann case.open",
            "bob case.link",
            "bob case.open",
            "ann case.assign",
            "bob case.comment",
            "bob case.evidence",
            "bob case.investigate",
            "sue proposal.open",
            "sam proposal.approved",
            "sam case.close",
            "ann case.comment",
            "sam case.reopen",
            "bob proposal.open",
            "sue proposal.rejected",
            "bob case.close",
        ];
        assert_eq!(actions, want, "{actions:#?}");
        assert!(s.audit_verify().unwrap().failure.is_none());
    });
}

#[test]
fn tampered_evidence_is_refused() {
    both("evidence", |s| {
        people(s);
        s.insert_alerts(&[alert("a1", Level::High, 1)], None).unwrap();
        let id = s.open_case("ann", "t", &["a1"]).unwrap();
        let (note, _) = s.attach_evidence(id, "ann", "f.bin", &[0, 1, 2, 255]).unwrap();
        s.execute_raw("UPDATE case_notes SET content = $1 WHERE id = $2", &["00010203".into(), note.into()]).unwrap();
        assert!(matches!(s.evidence(note), Err(Error::Db(m)) if m.contains("SHA-256")));
    });
}

#[test]
fn suppression_rules_keep_what_they_hide_and_are_audited() {
    both("rules", |s| {
        people(s);
        let mm = RuleSpec { account: Some("a1".into()), alert_type: Some(AlertType::Spoofing), reason: "registered market maker".into(), ..Default::default() };
        assert!(matches!(s.add_rule("ann", &mm), Err(Error::Denied(_))), "an analyst keeps no rules");
        assert!(
            matches!(s.add_rule("sue", &RuleSpec { reason: "everything".into(), ..Default::default() }), Err(Error::Invalid(_))),
            "a rule names an account or a symbol"
        );
        assert!(matches!(s.add_rule("sue", &RuleSpec { reason: " ".into(), ..mm.clone() }), Err(Error::Invalid(_))), "a rule has a reason");
        let r = s.add_rule("sue", &mm).unwrap();
        // Another symbol only, with a venue that does not match: no effect.
        s.add_rule("root", &RuleSpec { symbol: Some("AMZN-USD".into()), venue: Some("elsewhere".into()), reason: "venue test".into(), ..Default::default() })
            .unwrap();
        let mut other = alert("b", Level::High, 2);
        other.accounts = vec!["a2".into()];
        let mut wash = alert("w", Level::High, 3);
        wash.kind = AlertType::WashTrading;
        let mut pair = alert("p", Level::High, 4);
        pair.accounts = vec!["a1".into(), "a2".into()];
        assert_eq!(s.insert_alerts(&[alert("a", Level::High, 1), other, wash, pair], None).unwrap(), 4);
        assert_eq!(s.alert("p").unwrap().unwrap().status, Status::Active, "a2 is not allow-listed");
        let a = s.alert("a").unwrap().unwrap();
        assert_eq!(
            (a.status, a.status_by.as_deref(), a.status_reason.as_deref()),
            (Status::Suppressed, Some(format!("rule:{r}").as_str()), Some("registered market maker"))
        );
        assert_eq!(a.alert.evidence["orders"], serde_json::json!([1, 2, 3]), "kept whole");
        assert_eq!(s.alert("b").unwrap().unwrap().status, Status::Active, "another account");
        assert_eq!(s.alert("w").unwrap().unwrap().status, Status::Active, "another type");
        // Nobody suppresses an alert by hand; a suppressed alert can still be reviewed.
        assert!(matches!(s.resolve("b", Status::Suppressed, "ann", "hide"), Err(Error::Invalid(_))));
        assert_eq!(s.resolve("a", Status::Resolved, "ann", "checked the maker").unwrap(), Outcome::Done);
        // Revoked: the next alert of the account is active again; expired rules are refused.
        assert!(matches!(s.revoke_rule(r, "ann", "x"), Err(Error::Denied(_))));
        s.revoke_rule(r, "sam", "no longer a maker").unwrap();
        assert!(matches!(s.revoke_rule(r, "sam", "again"), Err(Error::NotFound(_))));
        s.insert_alerts(&[alert("a9", Level::High, 9)], None).unwrap();
        assert_eq!(s.alert("a9").unwrap().unwrap().status, Status::Active);
        assert!(matches!(s.add_rule("sue", &RuleSpec { expires_at: Some(1), ..mm.clone() }), Err(Error::Invalid(_))));
        let rules = s.rules().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].revoked_by.as_deref(), Some("sam"));
        let log: Vec<String> =
            s.audit_entries(0, 1000).unwrap().into_iter().map(|e| format!("{} {} {} {}", e.actor, e.action, e.object_id, e.details)).collect();
        assert!(log.iter().any(|l| l.starts_with(&format!("sue rule.add {r} "))), "{log:#?}");
        assert!(log.iter().any(|l| l.starts_with(&format!("sam rule.revoke {r} "))), "{log:#?}");
        assert!(log.iter().any(|l| l.starts_with("engine alert.raise a ") && l.contains(&format!("\"suppressed_by\":{r}"))), "{log:#?}");
        assert!(s.audit_verify().unwrap().failure.is_none());
    });
}

/// Builds a log of a few entries and returns the store's entry count.
fn logged(s: &mut Store) -> u64 {
    people(s);
    for i in 0..5 {
        s.audit("root", "rule.change", "rule", &format!("r{i}"), serde_json::json!({"i": i})).unwrap();
    }
    let v = s.audit_verify().unwrap();
    assert_eq!(v.failure, None);
    v.entries
}

#[test]
fn audit_verify_catches_a_flipped_byte() {
    both("flip", |s| {
        logged(s);
        let before = s.query_raw("SELECT details FROM audit_log WHERE seq = 7", &[]).unwrap()[0][0].clone();
        let changed = before.text().unwrap().replace("\"i\":1", "\"i\":9");
        assert_ne!(Value::from(changed.as_str()), before);
        s.execute_raw("UPDATE audit_log SET details = $1 WHERE seq = 7", &[changed.into()]).unwrap();
        let v = s.audit_verify().unwrap();
        let (seq, why) = v.failure.expect("caught");
        assert_eq!(seq, 7, "{why}");
        assert!(why.contains("does not match its hash"), "{why}");
        assert_eq!(v.entries, 6, "the six before it hold");
        // One character of the actor, too.
        s.execute_raw("UPDATE audit_log SET details = $1 WHERE seq = 7", &[before]).unwrap();
        assert_eq!(s.audit_verify().unwrap().failure, None);
        s.execute_raw("UPDATE audit_log SET actor = 'rooT' WHERE seq = 8", &[]).unwrap();
        assert_eq!(s.audit_verify().unwrap().failure.map(|f| f.0), Some(8));
    });
}

#[test]
fn audit_verify_catches_a_deleted_row() {
    both("delete", |s| {
        logged(s);
        s.execute_raw("DELETE FROM audit_log WHERE seq = 4", &[]).unwrap();
        let (seq, why) = s.audit_verify().unwrap().failure.expect("caught");
        assert_eq!(seq, 4, "{why}");
        assert!(why.contains("missing"), "{why}");
    });
}

#[test]
fn audit_verify_catches_a_deleted_last_row() {
    both("delete_last", |s| {
        let n = logged(s) as i64;
        s.execute_raw("DELETE FROM audit_log WHERE seq = $1", &[n.into()]).unwrap();
        let (seq, why) = s.audit_verify().unwrap().failure.expect("caught");
        assert_eq!(seq, n, "{why}");
        assert!(why.contains("removed from the end"), "{why}");
    });
}

#[test]
fn audit_verify_catches_two_swapped_rows() {
    both("swap", |s| {
        logged(s);
        // Swap entries 5 and 6 whole (every column but the position).
        let cols = "at, actor, action, object_type, object_id, details, prev_hash, hash";
        let r5 = s.query_raw(&format!("SELECT {cols} FROM audit_log WHERE seq = 5"), &[]).unwrap().remove(0);
        let r6 = s.query_raw(&format!("SELECT {cols} FROM audit_log WHERE seq = 6"), &[]).unwrap().remove(0);
        for (seq, r) in [(5i64, r6), (6, r5)] {
            let mut p = r;
            p.push(seq.into());
            s.execute_raw("UPDATE audit_log SET at = $1, actor = $2, action = $3, object_type = $4, object_id = $5, details = $6, prev_hash = $7, hash = $8 WHERE seq = $9", &p).unwrap();
        }
        let (seq, why) = s.audit_verify().unwrap().failure.expect("caught");
        assert_eq!(seq, 5, "{why}");
    });
}

#[test]
fn users_passwords_and_tokens() {
    both("users", |s| {
        // No default account; the first is an admin.
        assert!(s.users().unwrap().is_empty());
        assert!(matches!(s.add_user("ann", Role::Analyst, "correct horse battery", None), Err(Error::Invalid(_))));
        assert!(matches!(s.add_user("root", Role::Admin, "short", None), Err(Error::Invalid(_))));
        s.add_user("root", Role::Admin, "correct horse battery", None).unwrap();
        assert!(matches!(s.add_user("ann", Role::Analyst, "correct horse battery", None), Err(Error::Denied(_))), "then an admin adds users");
        s.add_user("ann", Role::Analyst, "another long password", Some("root")).unwrap();
        assert!(matches!(s.add_user("bob", Role::Analyst, "another long password", Some("ann")), Err(Error::Denied(_))));
        assert!(matches!(s.add_user("ann", Role::Analyst, "another long password", Some("root")), Err(Error::Invalid(_))), "exists");
        // Argon2id, salted: the same password hashes differently for two users.
        let hashes: Vec<String> =
            s.query_raw("SELECT password_hash FROM users ORDER BY name", &[]).unwrap().iter().map(|r| r[0].text().unwrap().to_string()).collect();
        assert!(hashes.iter().all(|h| h.starts_with("$argon2id$v=19$")), "{hashes:?}");
        assert!(s.check_password("ann", "another long password").unwrap());
        assert!(!s.check_password("ann", "another long passwore").unwrap());
        assert!(!s.check_password("nobody", "another long password").unwrap());
        // Tokens: 256 bits, shown once, stored hashed; expiry and revocation end them.
        let t = s.issue_token("ann", 3600, "ann").unwrap();
        assert_eq!(t.len(), 4 + 64);
        assert_eq!(s.check_token(&t).unwrap().map(|u| u.name), Some("ann".into()));
        assert!(s.query_raw("SELECT token_hash FROM tokens", &[]).unwrap().iter().all(|r| r[0].text() != Some(&t[..])));
        assert!(s.check_token("vgl_00").unwrap().is_none());
        assert!(matches!(s.issue_token("root", 60, "ann"), Err(Error::Denied(_))), "an analyst issues its own only");
        let t2 = s.issue_token("ann", 3600, "root").unwrap();
        assert_ne!(t, t2);
        s.revoke_token(&t, "ann").unwrap();
        assert!(s.check_token(&t).unwrap().is_none());
        assert!(s.check_token(&t2).unwrap().is_some());
        s.execute_raw("UPDATE tokens SET expires_at = 1", &[]).unwrap();
        assert!(s.check_token(&t2).unwrap().is_none(), "expired");
        assert!(s.audit_verify().unwrap().failure.is_none());
    });
}

#[test]
fn what_reports_read_narratives_audit_entries_alert_rows_and_decision_times() {
    both("reporting", |s| {
        people(s);
        s.insert_alerts(&[alert("r1", Level::High, 100), alert("r2", Level::Critical, 200)], None).unwrap();
        let case = s.open_case("ann", "two alerts", &["r1", "r2"]).unwrap();
        assert_eq!(s.narrative(case).unwrap(), None);
        assert!(matches!(s.set_narrative(case, "ann", "  "), Err(Error::Invalid(_))));
        assert!(matches!(s.set_narrative(case, "nobody", "text"), Err(Error::Denied(_) | Error::NotFound(_))));
        s.set_narrative(case, "ann", "first draft").unwrap();
        s.set_narrative(case, "bob", "second, edited").unwrap();
        let n = s.narrative(case).unwrap().unwrap();
        assert_eq!((n.body.as_str(), n.author.as_str(), n.kind.as_str()), ("second, edited", "bob", "narrative"));
        // The case's own audit entries, oldest first; others' are not among them.
        s.resolve("r1", Status::Resolved, "bob", "seen").unwrap();
        let log = s.audit_of("case", &case.to_string()).unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions.first(), Some(&"case.open"));
        assert_eq!(actions.iter().filter(|a| **a == "case.narrative").count(), 2);
        assert!(log.iter().all(|e| e.object_id == case.to_string() && e.object_type == "case"));
        assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
        // The narrative's text is not in the log, its hash is.
        assert!(log.iter().any(|e| e.details.contains("sha256")) && !log.iter().any(|e| e.details.contains("second, edited")));
        let rows = s.alert_rows().unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.alert_id.as_str(), r.status.as_str(), r.level.as_str())).collect::<Vec<_>>(),
            [("r1", "resolved", "high"), ("r2", "active", "critical")]
        );
        assert!(rows[0].status_at.unwrap() >= rows[0].stored_at && rows[1].status_at.is_none());
        assert_eq!(rows[0].accounts, ["a1"]);
        // Alerts naming an account, the case's own left out; LIKE's wildcards and case do not match.
        let mut odd = alert("r3", Level::Low, 300);
        odd.accounts = vec!["a_1%\"x".into(), "A1".into()];
        s.insert_alerts(&[odd], None).unwrap();
        assert_eq!(s.alerts_naming("a1", &[]).unwrap(), 2);
        assert_eq!(s.alerts_naming("a1", &["r1".to_string()]).unwrap(), 1);
        assert_eq!(s.alerts_naming("A1", &[]).unwrap(), 1);
        assert_eq!(s.alerts_naming("a_1%\"x", &[]).unwrap(), 1);
        assert_eq!(s.alerts_naming("ab1%\"x", &[]).unwrap(), 0);
        // A proposal's decision time.
        let Outcome::Proposed(p) = s.close_case(case, "ann", CaseOutcome::Violation, "spoofing").unwrap() else { panic!("four eyes") };
        assert_eq!(s.proposals(false).unwrap().iter().find(|x| x.id == p).unwrap().decided_at, None);
        s.decide(p, "sue", true, "agreed").unwrap();
        let decided = s.proposals(false).unwrap().into_iter().find(|x| x.id == p).unwrap();
        assert!(decided.decided_at.unwrap() >= decided.proposed_at);
        // A narrative may still be saved on the closed case (reports are filed after closing).
        s.set_narrative(case, "ann", "final").unwrap();
        assert_eq!(s.narrative(case).unwrap().unwrap().body, "final");
    });
}

#[test]
fn profiles_replace_by_account_and_an_accounts_risk_leaves_out_false_positives() {
    both("profiles", |s| {
        people(s);
        assert_eq!(s.save_profiles(&[("a1".into(), "{\"v\":1}".into()), ("b_%".into(), "{\"v\":2}".into())]).unwrap(), 2);
        assert_eq!(s.save_profiles(&[("a1".into(), "{\"v\":3}".into())]).unwrap(), 1);
        assert_eq!(s.profile("a1").unwrap().as_deref(), Some("{\"v\":3}"), "the later profile replaces the earlier");
        assert_eq!(s.profiles().unwrap(), ["{\"v\":3}", "{\"v\":2}"], "by account name");
        assert_eq!(s.profile("nobody").unwrap(), None);
        // Two alerts naming a1 (0.8 each, as `alert` makes them); one is then a false positive.
        let mut low = alert("p1", Level::Medium, 10);
        low.risk_score = 0.55;
        s.insert_alerts(&[alert("p0", Level::High, 5), low], None).unwrap();
        assert_eq!(s.account_alert_risk("a1").unwrap(), 0.8);
        assert_eq!(s.resolve("p0", Status::FalsePositive, "ann", "a market maker").unwrap(), Outcome::Done);
        assert_eq!(s.account_alert_risk("a1").unwrap(), 0.55);
        assert_eq!(s.alert_risk_by_account().unwrap().get("a1"), Some(&0.55));
        // LIKE's wildcards in a name match only that name.
        assert_eq!(s.account_alert_risk("a_").unwrap(), 0.0);
    });
}
