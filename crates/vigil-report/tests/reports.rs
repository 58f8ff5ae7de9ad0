//! Reports from hand-made cases: what the orders section picks out of an event stream (and what
//! it leaves), the completeness check, the integrity report's counts and metrics, and snapshots of
//! the JSON and HTML (`VIGIL_UPDATE_SNAPSHOTS=1` rewrites them after a deliberate change).

use std::collections::BTreeMap;
use vigil_core::{Alert, AlertType, Cancel, Event, EventKind, Interner, Level, NewOrder, Price, Qty, Side, Trade, Ts};
use vigil_report::case::{self, CaseData, Inputs};
use vigil_report::integrity::{self, Scope};
use vigil_report::reference::{InstrumentRef, Party, Reference, Submitter};
use vigil_report::{Collector, Period, Record};
use vigil_store::{AlertRow, Case, CaseOutcome, CaseStatus, Entry, Note, Proposal, Status, StoredAlert};

const S: i64 = 1_000_000_000;
/// 2026-01-05T14:00:00Z
const T0: i64 = 1_767_621_600 * S;

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}
fn qty(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

/// The Coscia pattern on one instrument, with what must stay out of the report around it.
/// Returns the events and the alert over them.
fn coscia(i: &mut Interner) -> (Vec<Event>, Alert) {
    let (v, sym, other) = (i.venue("cme"), i.symbol("WTI-USD"), i.symbol("NG-F"));
    let (a1, a2, b, c) = (i.account("acct-a"), i.account("acct-a2"), i.account("acct-b"), i.account("acct-c"));
    let (o1, o2) = (i.owner("owner-a"), i.owner("owner-b"));
    let mut evs = Vec::new();
    let mut push = |ts: i64, symbol, kind| -> u64 {
        let seq = evs.len() as u64;
        evs.push(Event { ts: Ts(ts), seq, venue: v, symbol, kind });
        seq
    };
    for (acct, owner) in [(a1, o1), (a2, o1), (b, o2), (c, o2)] {
        push(T0 - 3600 * S, vigil_core::SymbolId::NONE, EventKind::Account { account: acct, owner });
    }
    let new =
        |id: &str, acct, side, p: &str, q: &str| EventKind::New(NewOrder { order_id: id.into(), account: Some(acct), side, price: Some(px(p)), qty: qty(q) });
    // Before the window's margin: not listed.
    push(T0 - 60 * S, sym, new("early", a1, Side::Buy, "79.90", "5"));
    // The genuine buy from the owner's second account, then three sells stacked above.
    push(T0, sym, new("g1", a2, Side::Buy, "80.00", "17"));
    push(T0 + S / 10, sym, new("s1", a1, Side::Sell, "80.02", "122"));
    push(T0 + S / 10 + 1000, sym, new("s2", a1, Side::Sell, "80.03", "85"));
    push(T0 + S / 10 + 2000, sym, new("s3", a1, Side::Sell, "80.04", "54"));
    // Someone else's order and a trade between others: not listed.
    push(T0 + S / 5, sym, new("x1", c, Side::Sell, "80.01", "3"));
    push(
        T0 + S / 4,
        sym,
        EventKind::Trade(Trade {
            trade_id: "t0".into(),
            price: px("80.01"),
            qty: qty("3"),
            buy_account: Some(b),
            sell_account: Some(c),
            buy_order_id: None,
            sell_order_id: Some("x1".into()),
            aggressor: Some(Side::Buy),
        }),
    );
    // The genuine order fills against acct-b, named by order id only.
    let fill_seq = push(
        T0 + S / 2,
        sym,
        EventKind::Trade(Trade {
            trade_id: "t1".into(),
            price: px("80.00"),
            qty: qty("17"),
            buy_account: None,
            sell_account: Some(b),
            buy_order_id: Some("g1".into()),
            sell_order_id: None,
            aggressor: Some(Side::Sell),
        }),
    );
    // The same account on another instrument at the same time: not listed.
    push(T0 + S / 2, other, new("n1", a1, Side::Sell, "3.1", "900"));
    // The cancellations name the order only.
    let mut last = 0;
    for (k, id) in ["s1", "s2", "s3"].iter().enumerate() {
        last = push(T0 + 6 * S / 10 + k as i64, sym, EventKind::Cancel(Cancel { order_id: (*id).into(), account: None, hint: None }));
    }
    // Well after the window's margin: not listed.
    push(T0 + 120 * S, sym, new("late", a1, Side::Sell, "80.10", "100"));
    let mut evidence = serde_json::Map::new();
    for (k, v) in [
        ("pattern", serde_json::json!("cancelled")),
        ("orders", 3.into()),
        ("order_sizes", serde_json::json!([122.0, 85.0, 54.0])),
        ("genuine_size", 17.0.into()),
        ("size_ratio", 15.35.into()),
        ("min_size_ratio", 10.0.into()),
        ("cancel_after_fill_s", 0.1.into()),
        ("max_cancel_delay_s", 4.0.into()),
        ("opposite_trade_seqs", serde_json::json!([fill_seq])),
        ("trigger_seq", last.into()),
    ] {
        evidence.insert(k.into(), v);
    }
    let alert = Alert {
        alert_id: "spoofing-0123456789abcdef".into(),
        kind: AlertType::Spoofing,
        level: Level::Critical,
        risk_score: 0.93,
        confidence: 0.8,
        ts: T0 + 6 * S / 10 + 2,
        window_start: T0 + S / 10,
        window_end: T0 + 6 * S / 10 + 2,
        venue: Some("cme".into()),
        symbols: vec!["WTI-USD".into()],
        accounts: vec!["acct-a".into()],
        description: "acct-a placed 3 sell orders of 122, 85 and 54 WTI-USD at 3 price levels from 80.02 to 80.04 on cme, bought 17 on the other side, and cancelled them 0.5 s after placing, 0.1 s after that fill.".into(),
        evidence,
    };
    (evs, alert)
}

fn records() -> (Vec<Record>, BTreeMap<String, String>, Alert) {
    let mut i = Interner::new();
    let (evs, alert) = coscia(&mut i);
    let names = i.names();
    let mut c = Collector::new(std::slice::from_ref(&alert), 10 * S);
    for e in &evs {
        c.push(e, &names);
    }
    (c.records, c.owners, alert)
}

#[test]
fn an_event_the_evidence_names_is_listed_whoever_it_is_of_and_for_that_alert_only() {
    let mut i = Interner::new();
    let (evs, mut alert) = coscia(&mut i);
    let names = i.names();
    // The evidence also names the trade between two others, and an order well outside the window.
    let seq = |id: &str| {
        evs.iter()
            .find(|e| match &e.kind {
                EventKind::Trade(t) => t.trade_id == id,
                EventKind::New(n) => n.order_id == id,
                _ => false,
            })
            .unwrap()
            .seq
    };
    alert.evidence.insert("trade_seqs".into(), serde_json::json!([seq("t0")]));
    alert.evidence.insert("first_seq".into(), serde_json::json!(seq("late")));
    let mut other = alert.clone();
    other.alert_id = "layering-1".into();
    other.evidence.clear();
    let mut c = Collector::new(&[alert, other], 10 * S);
    for e in &evs {
        c.push(e, &names);
    }
    let t0 = c.records.iter().find(|r| r.id == "t0").expect("the named trade between others");
    assert!(t0.key && !t0.subject);
    assert_eq!((t0.account.as_deref(), t0.counterparty.as_deref()), (Some("acct-b"), Some("acct-c")));
    assert_eq!(t0.alerts, ["spoofing-0123456789abcdef"]);
    let late = c.records.iter().find(|r| r.id == "late").expect("the named order outside the window");
    assert!(late.key && late.subject);
    assert_eq!(late.alerts, ["spoofing-0123456789abcdef"]);
    // The suspects' own events in the window belong to both alerts; the named ones to the first.
    let fill = c.records.iter().find(|r| r.id == "t1").unwrap();
    assert_eq!(fill.alerts, ["spoofing-0123456789abcdef", "layering-1"]);
    assert!(!c.records.iter().any(|r| r.id == "x1" || r.id == "early" || r.id == "n1"));
}

#[test]
fn the_orders_section_holds_the_suspects_orders_and_trades_in_the_window_and_nothing_else() {
    let (recs, owners, _) = records();
    let got: Vec<(&str, &str, &str, Option<&str>, bool)> =
        recs.iter().map(|r| (r.kind, r.id.as_str(), r.account.as_deref().unwrap_or("-"), r.side, r.key)).collect();
    assert_eq!(
        got,
        [
            ("order", "g1", "acct-a2", Some("buy"), false),
            ("order", "s1", "acct-a", Some("sell"), false),
            ("order", "s2", "acct-a", Some("sell"), false),
            ("order", "s3", "acct-a", Some("sell"), false),
            ("trade", "t1", "acct-a2", Some("buy"), true),
            ("cancel", "s1", "acct-a", Some("sell"), false),
            ("cancel", "s2", "acct-a", Some("sell"), false),
            ("cancel", "s3", "acct-a", Some("sell"), true),
        ]
    );
    let fill = &recs[4];
    assert_eq!((fill.counterparty.as_deref(), fill.price.as_deref(), fill.qty.as_deref()), (Some("acct-b"), Some("80"), Some("17")));
    assert_eq!(recs[1].order_type, Some("limit"));
    assert_eq!(recs[1].time, "2026-01-05T14:00:00.100000000Z");
    assert_eq!(owners.get("acct-a2").map(String::as_str), Some("owner-a"));
}

fn case_data(alert: Alert) -> CaseData {
    CaseData {
        case: Case {
            id: 7,
            title: "Layered sells around a genuine buy".into(),
            status: CaseStatus::Closed,
            outcome: Some(CaseOutcome::Violation),
            assignee: Some("ann".into()),
            opened_by: "ann".into(),
            opened_at: T0 + 86_400 * S,
            updated_at: T0 + 3 * 86_400 * S,
            closed_by: Some("ann".into()),
            closed_at: Some(T0 + 3 * 86_400 * S),
            close_reason: Some("spoofing established".into()),
            alerts: vec![alert.alert_id.clone()],
        },
        alerts: vec![StoredAlert {
            alert,
            status: Status::Resolved,
            status_by: Some("ann".into()),
            status_at: Some(T0 + 86_400 * S),
            status_reason: Some("case 7".into()),
        }],
        notes: vec![
            Note {
                id: 1,
                case_id: 7,
                kind: "comment".into(),
                author: "ann".into(),
                at: T0 + 2 * 86_400 * S,
                body: "Repeats on 14 days; always mirrored.".into(),
                size: None,
                sha256: None,
            },
            Note {
                id: 2,
                case_id: 7,
                kind: "evidence".into(),
                author: "ann".into(),
                at: T0 + 2 * 86_400 * S + S,
                body: "orders-export.csv".into(),
                size: Some(5120),
                sha256: Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()),
            },
        ],
        narrative: None,
        audit: vec![Entry {
            seq: 41,
            at: T0 + 86_400 * S,
            actor: "ann".into(),
            action: "case.open".into(),
            object_type: "case".into(),
            object_id: "7".into(),
            details: r#"{"title":"Layered sells around a genuine buy"}"#.into(),
            prev_hash: "00".into(),
            hash: "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00".into(),
        }],
        other_alerts: [("acct-a".to_string(), 2)].into_iter().collect(),
    }
}

fn reference(full: bool) -> Reference {
    let mut r = Reference {
        submitter: Submitter { entity_name: Some("Example Exchange Ltd".into()), person_name: Some("A. Officer".into()), ..Default::default() },
        ..Default::default()
    };
    if full {
        r.submitter = Submitter {
            entity_name: Some("Example Exchange Ltd".into()),
            entity_lei: Some("5493001KJTIIGC8Y1R12".into()),
            entity_type: Some("market operator".into()),
            entity_address: Some("1 Market Street, Dublin".into()),
            person_name: Some("A. Officer".into()),
            person_position: Some("Head of Surveillance".into()),
            email: Some("surveillance@example.com".into()),
            phone: Some("+353 1 000 0000".into()),
            relationship: Some("members' clients".into()),
        };
        for a in ["acct-a", "acct-a2"] {
            r.accounts.insert(
                a.into(),
                Party {
                    name: Some("Jane Trader".into()),
                    birth_date: Some("1980-02-03".into()),
                    national_id: Some("IE1234567T".into()),
                    address: Some("2 Side Street".into()),
                    ..Default::default()
                },
            );
        }
        r.instruments
            .insert("WTI-USD".into(), InstrumentRef { name: Some("Crude oil future".into()), identifier: Some("CLH6".into()), kind: Some("future".into()) });
    }
    r
}

fn inputs(full: bool) -> (CaseData, Inputs) {
    let (recs, owners, alert) = records();
    let inputs = Inputs { reference: reference(full), records: Some(recs), sources: vec!["events.jsonl".into()], owners, now: T0 + 4 * 86_400 * S };
    (case_data(alert), inputs)
}

#[test]
fn the_stor_names_the_persons_by_owner_and_lists_what_is_missing() {
    let (d, inputs) = inputs(false);
    let s = case::stor(&d, &inputs);
    let persons: Vec<(&str, Option<&str>, usize)> = s.persons.iter().map(|p| (p.account.as_str(), p.owner.as_deref(), p.alerts_in_case)).collect();
    assert_eq!(persons, [("acct-a", Some("owner-a"), 1), ("acct-a2", Some("owner-a"), 0)]);
    assert_eq!(s.persons[0].linked_accounts, ["acct-a2"]);
    assert_eq!(s.persons[0].alerts_elsewhere, 2);
    assert_eq!((s.orders_and_transactions.orders, s.orders_and_transactions.trades), (4, 1));
    assert_eq!(s.suspicion.indicators.iter().map(|i| i.code).collect::<Vec<_>>(), ["A(f)"]);
    assert!(!s.suspicion.narrative.reviewed);
    let n = &s.suspicion.narrative.text;
    for needle in ["acct-a", "WTI-USD", "MAR Annex I", "placed 4 orders, cancelled 3 and traded 1 time", "closed as violation by ann"] {
        assert!(n.contains(needle), "narrative lacks {needle:?}: {n}");
    }
    let m = s.missing.join("\n");
    for needle in ["[submitter] entity_lei", "[submitter] phone", "[instruments.WTI-USD] identifier", "narrative is Vigil's draft", "[accounts.acct-a2]"] {
        assert!(m.contains(needle), "missing lacks {needle:?}:\n{m}");
    }
    assert!(!m.contains("entity_name") && !m.contains("person_name") && !m.contains("--events"), "supplied fields listed as missing:\n{m}");
    assert_eq!(s.attachments.len(), 1);
    assert_eq!(s.additional.comments.len(), 1);

    // With everything supplied and a narrative saved, nothing is missing.
    let (mut d, inputs) = self::inputs(true);
    d.narrative = Some(Note { id: 9, case_id: 7, kind: "narrative".into(), author: "ann".into(), at: T0, body: "Edited.".into(), size: None, sha256: None });
    let s = case::stor(&d, &inputs);
    assert_eq!(s.missing, Vec::<String>::new());
    assert_eq!(s.suspicion.narrative.text, "Edited.");

    // Without event files, the orders themselves are asked for.
    let (d, mut inputs) = self::inputs(true);
    inputs.records = None;
    inputs.owners.clear();
    let s = case::stor(&d, &inputs);
    assert!(s.missing.iter().any(|m| m.contains("--events")), "{:?}", s.missing);
    assert!(s.missing.iter().any(|m| m.contains("beneficial owner")), "{:?}", s.missing);
}

#[test]
fn the_sar_has_the_category_amount_and_dates_of_the_case() {
    let (d, inputs) = inputs(false);
    let s = case::sar(&d, &inputs);
    assert_eq!(s.activity.categories.iter().map(|c| (c.code, c.label)).collect::<Vec<_>>(), [("40b", "Market manipulation")]);
    // The subjects traded 17 at 80 (the genuine buy's fill); their orders were 17 × 80 and the
    // three sells.
    assert_eq!(s.activity.amount_involved.as_deref(), Some("1360.00 USD"));
    let ordered = 17.0 * 80.0 + 122.0 * 80.02 + 85.0 * 80.03 + 54.0 * 80.04;
    assert_eq!(s.activity.amounts.len(), 1);
    assert_eq!((s.activity.amounts[0].currency.as_str(), s.activity.amounts[0].ordered.clone()), ("USD", format!("{ordered:.2}")));
    assert_eq!(s.activity.date_from, "2026-01-05T14:00:00.100000000Z");
    assert!(s.missing.iter().all(|m| !m.starts_with("Section")), "{:?}", s.missing);
    assert!(s.missing.iter().any(|m| m.starts_with("Part I:")));
}

/// One alert's row, as a table line.
#[allow(clippy::too_many_arguments)]
fn row(id: &str, kind: &str, level: &str, status: &str, ts: i64, stored_at: i64, status_at: Option<i64>, venue: &str, accounts: &[&str]) -> AlertRow {
    AlertRow {
        alert_id: id.into(),
        kind: kind.into(),
        level: level.into(),
        status: status.into(),
        ts,
        venue: Some(venue.into()),
        symbols: vec!["BTC-USD".into()],
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        stored_at,
        status_at,
    }
}

fn desk() -> (Vec<AlertRow>, Vec<Case>, Vec<Proposal>, Period) {
    let day = 86_400 * S;
    let period = Period { from: T0, to: T0 + 7 * day };
    let rows = vec![
        // Triaged in the period after 60 s, 120 s and 600 s; one of the spoofing two false.
        row("a1", "spoofing", "critical", "resolved", T0 + 10, T0 + 100 * S, Some(T0 + 160 * S), "x", &["acct-1"]),
        row("a2", "spoofing", "high", "false_positive", T0 + 20, T0 + 100 * S, Some(T0 + 220 * S), "x", &["acct-1", "acct-2"]),
        row("a3", "wash_trading", "medium", "resolved", T0 + 30, T0 + 100 * S, Some(T0 + 700 * S), "x", &["acct-3"]),
        // Waiting at the end: stored 2 days before it, active; and one triaged only after the end.
        row("a4", "layering", "low", "active", T0 + 40, T0 + 5 * day, None, "x", &["acct-1"]),
        row("a5", "layering", "high", "resolved", T0 + 50, T0 + 6 * day + 3600 * S, Some(T0 + 8 * day), "x", &["acct-2"]),
        // Suppressed: neither backlog nor triage.
        row("a6", "spoofing", "low", "suppressed", T0 + 60, T0 + 100 * S, Some(T0 + 100 * S), "x", &["acct-9"]),
        // Detected before the period: not counted among its alerts.
        row("a7", "spoofing", "critical", "active", T0 - day, T0 - day, None, "x", &["acct-1"]),
        // Another venue.
        row("b1", "spoofing", "critical", "active", T0 + 70, T0 + 100 * S, None, "y", &["acct-8"]),
    ];
    let case = |id: i64, opened: i64, closed: Option<(i64, CaseOutcome)>, alerts: &[&str]| Case {
        id,
        title: format!("case {id}"),
        status: if closed.is_some() { CaseStatus::Closed } else { CaseStatus::Open },
        outcome: closed.map(|c| c.1),
        assignee: None,
        opened_by: "ann".into(),
        opened_at: opened,
        updated_at: opened,
        closed_by: closed.map(|_| "ann".into()),
        closed_at: closed.map(|c| c.0),
        close_reason: None,
        alerts: alerts.iter().map(|a| a.to_string()).collect(),
    };
    let cases = vec![
        case(1, T0 + day, Some((T0 + 3 * day, CaseOutcome::Violation)), &["a1"]),
        case(2, T0 + day, Some((T0 + 2 * day, CaseOutcome::NoViolation)), &["a3"]),
        case(3, T0 + 2 * day, None, &["a4"]),
        case(4, T0 + 2 * day, None, &["b1"]),
    ];
    let proposal = |id: i64, object: &str, at: i64, decided: Option<i64>| Proposal {
        id,
        action: "case.close".into(),
        object_type: "case".into(),
        object_id: object.into(),
        details: serde_json::json!({}),
        proposed_by: "ann".into(),
        proposed_at: at,
        decision: decided.map(|_| "approved".into()),
        decided_by: decided.map(|_| "sue".into()),
        decided_at: decided,
    };
    let proposals =
        vec![proposal(1, "1", T0 + 3 * day - 7200 * S, Some(T0 + 3 * day)), proposal(2, "3", T0 + 6 * day, None), proposal(3, "4", T0 + 6 * day, None)];
    (rows, cases, proposals, period)
}

#[test]
fn the_integrity_report_counts_the_period_and_measures_the_desk() {
    let (rows, cases, proposals, period) = desk();
    let scope = Scope { venue: Some("x".into()), symbol: None };
    let r = integrity::compute(&rows, &cases, &proposals, period, &scope, period.to);
    assert_eq!(r.alerts.total, 6);
    assert_eq!((r.alerts.by_level.critical, r.alerts.by_level.high, r.alerts.by_level.medium, r.alerts.by_level.low), (1, 2, 1, 2));
    assert_eq!(r.alerts.by_type.iter().map(|t| (t.kind.as_str(), t.total)).collect::<Vec<_>>(), [("spoofing", 3), ("layering", 2), ("wash_trading", 1)]);
    assert_eq!(r.top_accounts[0].name, "acct-1");
    assert_eq!((r.top_accounts[0].alerts, r.top_accounts[0].critical_or_high), (3, 2));
    // Cases with an alert on venue x: 1, 2 and 3.
    assert_eq!((r.cases.opened, r.cases.closed, r.cases.open_at_end), (3, 2, 1));
    assert_eq!(r.cases.outcomes.get("violation"), Some(&1));
    let m = &r.metrics;
    assert_eq!((m.time_to_triage.n, m.time_to_triage.median_s), (3, Some(120.0)));
    assert_eq!(m.time_to_close.n, 2);
    let fp: Vec<(&str, usize, usize)> = m.false_positives.iter().map(|f| (f.kind.as_str(), f.triaged, f.false_positives)).collect();
    assert_eq!(fp, [("spoofing", 2, 1), ("wash_trading", 1, 0)]);
    // a4 (active) and a5 (triaged after the end) wait; a7 too, stored before the period and never triaged.
    assert_eq!(m.backlog.open_alerts, 3);
    assert_eq!(m.backlog.oldest_s, Some(8.0 * 86_400.0));
    assert_eq!(m.backlog.ages.get("4: a week or more"), Some(&1));
    assert_eq!((m.four_eyes.n, m.four_eyes.median_s), (1, Some(7200.0)));
    // The median of an even count is the mean of the middle two.
    let st = integrity::Stat::of(vec![3.0, 1.0, 10.0, 4.0]);
    assert_eq!((st.median_s, st.mean_s), (Some(3.5), Some(4.5)));
    assert_eq!(m.backlog.pending_proposals, 1);

    // The whole market: venue y's alert and case count too.
    let all = integrity::compute(&rows, &cases, &proposals, period, &Scope::default(), period.to);
    assert_eq!((all.alerts.total, all.cases.opened, all.metrics.backlog.pending_proposals), (7, 4, 2));
}

/// Compares with a stored snapshot, or writes it when `VIGIL_UPDATE_SNAPSHOTS` is set.
fn snapshot(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("VIGIL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (VIGIL_UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    if want != got {
        let line = want.lines().zip(got.lines()).position(|(a, b)| a != b).unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name} differs from its snapshot at line {}:\n  want: {:?}\n  got:  {:?}\n(VIGIL_UPDATE_SNAPSHOTS=1 rewrites it after a deliberate change)",
            line + 1,
            want.lines().nth(line),
            got.lines().nth(line)
        );
    }
}

#[test]
fn snapshots_of_the_json_and_html() {
    let (d, inputs) = inputs(false);
    let stor = case::stor(&d, &inputs);
    let sar = case::sar(&d, &inputs);
    let (rows, cases, proposals, period) = desk();
    let integ = integrity::compute(&rows, &cases, &proposals, period, &Scope::default(), period.to);
    let out = |r: &dyn Fn(vigil_report::Format) -> Vec<u8>, f| String::from_utf8(r(f)).unwrap();
    use vigil_report::Format::{Html, Json};
    let w = |f| vigil_report::write(&stor, || stor.doc(), f, inputs.now).unwrap();
    snapshot("stor.json", &out(&w, Json));
    snapshot("stor.html", &out(&w, Html));
    let w = |f| vigil_report::write(&sar, || sar.doc(), f, inputs.now).unwrap();
    snapshot("sar.json", &out(&w, Json));
    snapshot("sar.html", &out(&w, Html));
    let w = |f| vigil_report::write(&integ, || integ.doc(), f, period.to).unwrap();
    snapshot("integrity.json", &out(&w, Json));
    snapshot("integrity.html", &out(&w, Html));
}

#[test]
fn html_escapes_what_people_typed() {
    let (mut d, inputs) = inputs(false);
    d.case.title = "<script>alert('x')</script> & co".into();
    let html = String::from_utf8(vigil_report::write(&(), || case::stor(&d, &inputs).doc(), vigil_report::Format::Html, 0).unwrap()).unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
}

#[cfg(feature = "pdf")]
#[test]
fn the_same_report_gives_the_same_pdf() {
    let (d, inputs) = inputs(true);
    let s = case::stor(&d, &inputs);
    let a = vigil_report::write(&s, || s.doc(), vigil_report::Format::Pdf, inputs.now).unwrap();
    let b = vigil_report::write(&s, || s.doc(), vigil_report::Format::Pdf, inputs.now).unwrap();
    assert!(a.starts_with(b"%PDF-1.4") && a.ends_with(b"%%EOF\n"));
    assert_eq!(a, b);
}
