//! The reports filed from a case: the STOR (EU) and the SAR-style export (US), built from the same
//! gathered case data, with a completeness check listing what the analyst must still supply.

use crate::doc::{opt, Block, Doc};
use crate::indicators::{self, Indicator};
use crate::records::Record;
use crate::reference::{Party, Reference, Submitter};
use crate::{num, time, wall, Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use vigil_core::{Alert, AlertType};
use vigil_store::{Case, Entry, Note, Store, StoredAlert};

/// Everything the store holds about a case.
#[derive(Clone, Debug)]
pub struct CaseData {
    pub case: Case,
    /// Its alerts, in the order they were linked.
    pub alerts: Vec<StoredAlert>,
    /// Comments and evidence, oldest first.
    pub notes: Vec<Note>,
    /// The narrative an analyst saved, if any (else the report drafts one).
    pub narrative: Option<Note>,
    /// The audit log's entries about the case.
    pub audit: Vec<Entry>,
    /// For each account the alerts name: how many alerts outside this case also name it.
    pub other_alerts: BTreeMap<String, usize>,
}

/// Reads a case and what hangs on it.
pub fn gather(store: &mut Store, case_id: i64) -> Result<CaseData> {
    let case = store.case(case_id)?.ok_or_else(|| Error::NotFound(format!("no case {case_id}")))?;
    let mut alerts = Vec::with_capacity(case.alerts.len());
    for id in &case.alerts {
        alerts.push(store.alert(id)?.ok_or_else(|| Error::NotFound(format!("case {case_id}: its alert {id} is not in the store")))?);
    }
    let all = store.case_notes(case_id)?;
    let narrative = all.iter().rev().find(|n| n.kind == "narrative").cloned();
    let notes = all.into_iter().filter(|n| n.kind != "narrative").collect();
    let audit = store.audit_of("case", &case_id.to_string())?;
    let mut other_alerts: BTreeMap<String, usize> = BTreeMap::new();
    for a in alerts.iter().flat_map(|a| a.alert.accounts.iter()) {
        if !other_alerts.contains_key(a) {
            let n = store.alerts_naming(a, &case.alerts)?;
            other_alerts.insert(a.clone(), n.max(0) as usize);
        }
    }
    Ok(CaseData { case, alerts, notes, narrative, audit, other_alerts })
}

#[derive(Clone, Debug, Serialize)]
pub struct CaseSummary {
    pub id: i64,
    pub title: String,
    pub status: &'static str,
    pub outcome: Option<&'static str>,
    pub opened_by: String,
    pub opened_at: String,
    pub assignee: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    pub close_reason: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Instrument {
    pub symbol: String,
    pub venues: Vec<String>,
    pub name: Option<String>,
    pub identifier: Option<String>,
    pub kind: Option<String>,
}

/// Section 2.
#[derive(Clone, Debug, Serialize)]
pub struct Transactions {
    pub instruments: Vec<Instrument>,
    /// Where the records come from: the event files read, or none.
    pub source: Vec<String>,
    pub orders: usize,
    pub trades: usize,
    pub records: Vec<Record>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IndicatorUse {
    pub code: &'static str,
    pub text: &'static str,
    /// The alerts that measured it.
    pub alerts: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AlertBrief {
    pub alert_id: String,
    pub kind: AlertType,
    pub level: &'static str,
    pub risk_score: f64,
    pub confidence: f64,
    pub detected_at: String,
    pub window_start: String,
    pub window_end: String,
    pub venue: Option<String>,
    pub symbols: Vec<String>,
    pub accounts: Vec<String>,
    pub status: &'static str,
    /// The detector's one-sentence story.
    pub story: String,
    /// Its measured values and the thresholds they crossed.
    pub evidence: serde_json::Map<String, serde_json::Value>,
}

/// Section 3.
#[derive(Clone, Debug, Serialize)]
pub struct Suspicion {
    pub breach: &'static str,
    pub indicators: Vec<IndicatorUse>,
    pub alerts: Vec<AlertBrief>,
    pub narrative: Narrative,
}

#[derive(Clone, Debug, Serialize)]
pub struct Narrative {
    pub text: String,
    /// False: Vigil's draft, not yet reviewed and saved by an analyst.
    pub reviewed: bool,
    pub by: Option<String>,
    pub at: Option<String>,
}

/// Section 4: a person suspected, by account.
#[derive(Clone, Debug, Serialize)]
pub struct Person {
    pub account: String,
    pub owner: Option<String>,
    /// Other accounts of the same owner the alerts name.
    pub linked_accounts: Vec<String>,
    pub identity: Party,
    pub alerts_in_case: usize,
    pub alerts_elsewhere: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comment {
    pub author: String,
    pub at: String,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct History {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    /// The entry's hash in the tamper-evident chain.
    pub hash: String,
}

/// Section 5.
#[derive(Clone, Debug, Serialize)]
pub struct Additional {
    pub comments: Vec<Comment>,
    pub history: Vec<History>,
}

/// Section 6.
#[derive(Clone, Debug, Serialize)]
pub struct Attachment {
    pub name: String,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub added_by: String,
    pub at: String,
}

/// A suspicious transaction and order report.
#[derive(Clone, Debug, Serialize)]
pub struct Stor {
    pub report: &'static str,
    pub template: &'static str,
    pub generated_at: String,
    pub case: CaseSummary,
    /// 1. The entity and person submitting.
    pub submitter: Submitter,
    /// 2. The orders and transactions.
    pub orders_and_transactions: Transactions,
    /// 3. The nature of the suspicion.
    pub suspicion: Suspicion,
    /// 4. The persons whose orders or transactions are suspected.
    pub persons: Vec<Person>,
    /// 5. Additional information.
    pub additional: Additional,
    /// 6. Documents attached.
    pub attachments: Vec<Attachment>,
    /// What the analyst must still supply before filing.
    pub missing: Vec<String>,
}

/// The inputs of a case report beyond the store.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub reference: Reference,
    /// The case's orders and trades, from event files ([`crate::Collector`]); `None`: none given.
    pub records: Option<Vec<Record>>,
    /// The event files they came from.
    pub sources: Vec<String>,
    /// Account → owner, from the events' reference data.
    pub owners: BTreeMap<String, String>,
    /// Report time (ns, wall clock).
    pub now: i64,
}

fn summary(c: &Case) -> CaseSummary {
    CaseSummary {
        id: c.id,
        title: c.title.clone(),
        status: c.status.as_str(),
        outcome: c.outcome.map(|o| o.as_str()),
        opened_by: c.opened_by.clone(),
        opened_at: wall(c.opened_at),
        assignee: c.assignee.clone(),
        closed_by: c.closed_by.clone(),
        closed_at: c.closed_at.map(wall),
        close_reason: c.close_reason.clone(),
    }
}

fn brief(s: &StoredAlert) -> AlertBrief {
    let a = &s.alert;
    AlertBrief {
        alert_id: a.alert_id.clone(),
        kind: a.kind,
        level: a.level.as_str(),
        risk_score: a.risk_score,
        confidence: a.confidence,
        detected_at: time(a.ts),
        window_start: time(a.window_start),
        window_end: time(a.window_end),
        venue: a.venue.clone(),
        symbols: a.symbols.clone(),
        accounts: a.accounts.clone(),
        status: s.status.as_str(),
        story: a.description.clone(),
        evidence: a.evidence.clone(),
    }
}

fn instruments(alerts: &[&Alert], records: Option<&[Record]>, r: &Reference) -> Vec<Instrument> {
    let mut venues: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for a in alerts {
        for s in &a.symbols {
            let v = venues.entry(s.clone()).or_default();
            v.extend(a.venue.clone());
        }
    }
    for rec in records.unwrap_or(&[]) {
        venues.entry(rec.symbol.clone()).or_default().insert(rec.venue.clone());
    }
    venues
        .into_iter()
        .map(|(symbol, v)| {
            let known = r.instruments.get(&symbol).cloned().unwrap_or_default();
            Instrument { symbol, venues: v.into_iter().collect(), name: known.name, identifier: known.identifier, kind: known.kind }
        })
        .collect()
}

fn indicator_uses(alerts: &[&Alert]) -> Vec<IndicatorUse> {
    let mut by: BTreeMap<&'static str, (Indicator, Vec<String>)> = BTreeMap::new();
    for a in alerts {
        for i in indicators::for_type(a.kind) {
            by.entry(i.code).or_insert((i, Vec::new())).1.push(a.alert_id.clone());
        }
    }
    by.into_values().map(|(i, alerts)| IndicatorUse { code: i.code, text: i.text, alerts }).collect()
}

/// The accounts the alerts name, in first-named order, then the other accounts of their owners
/// that act in the records, with their owners (from the events' reference data) and identities
/// (from the reference file).
fn persons(d: &CaseData, inputs: &Inputs) -> Vec<Person> {
    let mut order: Vec<String> = Vec::new();
    for a in &d.alerts {
        for x in &a.alert.accounts {
            if !order.contains(x) {
                order.push(x.clone());
            }
        }
    }
    let owners: BTreeSet<&String> = order.iter().filter_map(|a| inputs.owners.get(a)).collect();
    for r in inputs.records.iter().flatten() {
        if let Some(a) = &r.account {
            if !order.contains(a) && inputs.owners.get(a).is_some_and(|o| owners.contains(o)) {
                order.push(a.clone());
            }
        }
    }
    order
        .iter()
        .map(|acct| {
            let owner = inputs.owners.get(acct).cloned();
            let linked = order.iter().filter(|o| *o != acct && owner.is_some() && inputs.owners.get(*o) == owner.as_ref()).cloned().collect();
            Person {
                account: acct.clone(),
                owner,
                linked_accounts: linked,
                identity: inputs.reference.accounts.get(acct).cloned().unwrap_or_default(),
                alerts_in_case: d.alerts.iter().filter(|a| a.alert.accounts.contains(acct)).count(),
                alerts_elsewhere: d.other_alerts.get(acct).copied().unwrap_or(0),
            }
        })
        .collect()
}

fn label(t: AlertType) -> String {
    t.as_str().replace('_', " ")
}

fn list(xs: &[String]) -> String {
    match xs.len() {
        0 => String::new(),
        1 => xs[0].clone(),
        n => format!("{} and {}", xs[..n - 1].join(", "), xs[n - 1]),
    }
}

/// Vigil's draft of the narrative: what was seen, when, by whom, which indicators it meets, and
/// what the case has established. The analyst edits it before filing.
pub fn draft_narrative(d: &CaseData, records: Option<&[Record]>) -> String {
    let alerts: Vec<&Alert> = d.alerts.iter().map(|a| &a.alert).collect();
    let mut accounts: Vec<String> = Vec::new();
    let mut symbols: Vec<String> = Vec::new();
    let mut venues: Vec<String> = Vec::new();
    for a in &alerts {
        for x in &a.accounts {
            if !accounts.contains(x) {
                accounts.push(x.clone());
            }
        }
        for x in &a.symbols {
            if !symbols.contains(x) {
                symbols.push(x.clone());
            }
        }
        if let Some(v) = &a.venue {
            if !venues.contains(v) {
                venues.push(v.clone());
            }
        }
    }
    let from = alerts.iter().map(|a| a.window_start).min().unwrap_or(0);
    let to = alerts.iter().map(|a| a.window_end).max().unwrap_or(0);
    let mut kinds: Vec<String> = Vec::new();
    for a in &alerts {
        if !kinds.contains(&label(a.kind)) {
            kinds.push(label(a.kind));
        }
    }
    let mut out = format!(
        "Between {} and {} (UTC), Vigil's surveillance raised {} alert{} of {} on {}{} involving account{} {}.",
        time(from),
        time(to),
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" },
        list(&kinds),
        list(&symbols),
        if venues.is_empty() { String::new() } else { format!(" on {}", list(&venues)) },
        if accounts.len() == 1 { "" } else { "s" },
        list(&accounts),
    );
    for a in &alerts {
        out.push_str(&format!("\n\nAt {}, {} ({}, risk {:.2}): {}", time(a.ts), label(a.kind), a.level.as_str(), a.risk_score, a.description));
    }
    let uses = indicator_uses(&alerts);
    if !uses.is_empty() {
        let parts: Vec<String> = uses.iter().map(|u| format!("{} ({})", u.code, u.text)).collect();
        out.push_str(&format!("\n\nThe behaviour meets the indicators of market manipulation of MAR Annex I, Section {}.", parts.join("; ")));
    }
    if let Some(recs) = records {
        let orders = recs.iter().filter(|r| r.kind == "order").count();
        let cancels = recs.iter().filter(|r| r.kind == "cancel").count();
        let trades = recs.iter().filter(|r| r.kind == "trade").count();
        out.push_str(&format!(
            "\n\nIn the alerts' windows these accounts placed {orders} order{}, cancelled {cancels} and traded {trades} time{} in the instrument{} (section 2).",
            if orders == 1 { "" } else { "s" },
            if trades == 1 { "" } else { "s" },
            if symbols.len() == 1 { "" } else { "s" },
        ));
    }
    let c = &d.case;
    out.push_str(&format!("\n\nCase {} (\"{}\") was opened by {} on {}", c.id, c.title, c.opened_by, wall(c.opened_at)));
    match (c.outcome, &c.closed_by, c.closed_at) {
        (Some(o), Some(by), Some(at)) => out.push_str(&format!(" and closed as {} by {} on {}.", o.as_str().replace('_', " "), by, wall(at))),
        _ => out.push_str(&format!("; it is {}.", c.status.as_str())),
    }
    match d.notes.iter().filter(|n| n.kind == "comment").count() {
        0 => {}
        1 => out.push_str(" The investigation's comment is in section 5."),
        n => out.push_str(&format!(" The investigation's {n} comments are in section 5.")),
    }
    out
}

fn missing_submitter(s: &Submitter, out: &mut Vec<String>) {
    let fields = [
        (&s.entity_name, "entity_name", "the name of the reporting entity"),
        (&s.entity_lei, "entity_lei", "the entity's LEI"),
        (&s.entity_type, "entity_type", "the type of entity (investment firm, market operator, …)"),
        (&s.entity_address, "entity_address", "the entity's address"),
        (&s.person_name, "person_name", "the name of the person submitting"),
        (&s.person_position, "person_position", "the submitting person's position"),
        (&s.email, "email", "a contact e-mail"),
        (&s.phone, "phone", "a contact telephone number"),
    ];
    for (v, key, what) in fields {
        if v.as_deref().is_none_or(|x| x.trim().is_empty()) {
            out.push(format!("Section 1: {what} (reference file: [submitter] {key})"));
        }
    }
}

fn missing_persons(persons: &[Person], out: &mut Vec<String>) {
    for p in persons {
        let i = &p.identity;
        let mut lacks = Vec::new();
        for (v, what) in [(&i.name, "name"), (&i.birth_date, "birth_date"), (&i.national_id, "national_id"), (&i.address, "address")] {
            if v.as_deref().is_none_or(|x| x.trim().is_empty()) {
                lacks.push(what);
            }
        }
        if !lacks.is_empty() {
            out.push(format!("Section 4: account {}: {} (reference file: [accounts.{}])", p.account, lacks.join(", "), p.account));
        }
        if p.owner.is_none() {
            out.push(format!("Section 4: account {}: its beneficial owner (no `account` reference event for it in the event files)", p.account));
        }
    }
}

fn missing_instruments(is: &[Instrument], out: &mut Vec<String>) {
    for i in is {
        if i.identifier.as_deref().is_none_or(|x| x.trim().is_empty()) {
            out.push(format!("Section 2: the identifier (ISIN or other) of {} (reference file: [instruments.{}] identifier)", i.symbol, i.symbol));
        }
    }
}

fn missing_records(inputs: &Inputs, out: &mut Vec<String>) {
    match &inputs.records {
        None => out.push("Section 2: the orders and transactions themselves: give the event files the alerts were raised on (--events)".into()),
        Some(r) if r.is_empty() => out.push("Section 2: the event files given hold no order or trade of the case's accounts in the alerts' windows".into()),
        Some(_) => {}
    }
}

fn narrative(d: &CaseData, records: Option<&[Record]>) -> Narrative {
    match &d.narrative {
        Some(n) => Narrative { text: n.body.clone(), reviewed: true, by: Some(n.author.clone()), at: Some(wall(n.at)) },
        None => Narrative { text: draft_narrative(d, records), reviewed: false, by: None, at: None },
    }
}

/// Builds the STOR for a case.
pub fn stor(d: &CaseData, inputs: &Inputs) -> Stor {
    let alerts: Vec<&Alert> = d.alerts.iter().map(|a| &a.alert).collect();
    let records = inputs.records.clone().unwrap_or_default();
    let instruments = instruments(&alerts, inputs.records.as_deref(), &inputs.reference);
    let persons = persons(d, inputs);
    let narrative = narrative(d, inputs.records.as_deref());
    let mut missing = Vec::new();
    missing_submitter(&inputs.reference.submitter, &mut missing);
    missing_records(inputs, &mut missing);
    missing_instruments(&instruments, &mut missing);
    if !narrative.reviewed {
        missing.push(format!("Section 3: the narrative is Vigil's draft: review it and save it (vigil report narrative --case {} --set FILE)", d.case.id));
    }
    missing_persons(&persons, &mut missing);
    Stor {
        report: "STOR",
        template: "Suspicious transaction and order report, Commission Delegated Regulation (EU) 2016/957, Annex (MAR Art. 16)",
        generated_at: wall(inputs.now),
        case: summary(&d.case),
        submitter: inputs.reference.submitter.clone(),
        orders_and_transactions: Transactions {
            instruments,
            source: inputs.sources.clone(),
            orders: records.iter().filter(|r| r.kind == "order").count(),
            trades: records.iter().filter(|r| r.kind == "trade").count(),
            records,
        },
        suspicion: Suspicion {
            breach: "market manipulation (MAR Art. 12 and 15), including attempted",
            indicators: indicator_uses(&alerts),
            alerts: d.alerts.iter().map(brief).collect(),
            narrative,
        },
        persons,
        additional: Additional {
            comments: d
                .notes
                .iter()
                .filter(|n| n.kind == "comment")
                .map(|n| Comment { author: n.author.clone(), at: wall(n.at), text: n.body.clone() })
                .collect(),
            history: d
                .audit
                .iter()
                .map(|e| History {
                    seq: e.seq,
                    at: wall(e.at),
                    actor: e.actor.clone(),
                    action: e.action.clone(),
                    details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
                    hash: e.hash.clone(),
                })
                .collect(),
        },
        attachments: d
            .notes
            .iter()
            .filter(|n| n.kind == "evidence")
            .map(|n| Attachment { name: n.body.clone(), size: n.size, sha256: n.sha256.clone(), added_by: n.author.clone(), at: wall(n.at) })
            .collect(),
        missing,
    }
}

/// A SAR category and the alerts behind it.
#[derive(Clone, Debug, Serialize)]
pub struct Category {
    pub code: &'static str,
    pub label: &'static str,
    pub alerts: Vec<String>,
}

/// Part II of a SAR: the suspicious activity.
#[derive(Clone, Debug, Serialize)]
pub struct Activity {
    pub date_from: String,
    pub date_to: String,
    /// The subjects' traded notional (price × quantity) in the records, with its currency, when it
    /// is in one currency.
    pub amount_involved: Option<String>,
    /// Traded and ordered notional per quote currency.
    pub amounts: Vec<Amount>,
    pub amount_basis: String,
    pub categories: Vec<Category>,
    pub instruments: Vec<Instrument>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Amount {
    pub currency: String,
    pub traded: String,
    pub ordered: String,
}

/// A SAR-style export for US filers.
#[derive(Clone, Debug, Serialize)]
pub struct Sar {
    pub report: &'static str,
    pub form: &'static str,
    pub generated_at: String,
    pub case: CaseSummary,
    /// Part I: the subjects.
    pub subjects: Vec<Person>,
    /// Part II.
    pub activity: Activity,
    /// Parts III and IV: the institution and its contact.
    pub filer: Submitter,
    /// Part V.
    pub narrative: Narrative,
    pub records: Vec<Record>,
    pub attachments: Vec<Attachment>,
    pub missing: Vec<String>,
}

/// The notional of the subjects' trades and of the orders they placed, per quote currency (the
/// part of the symbol after its last `-`, as Vigil names instruments; the whole symbol otherwise).
fn amounts(records: &[Record]) -> Vec<Amount> {
    let mut by: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.subject) {
        let (Some(p), Some(q)) = (r.price.as_deref().and_then(|p| p.parse::<f64>().ok()), r.qty.as_deref().and_then(|q| q.parse::<f64>().ok())) else {
            continue;
        };
        let currency = r.symbol.rsplit_once('-').map_or(r.symbol.as_str(), |x| x.1).to_string();
        let e = by.entry(currency).or_default();
        match r.kind {
            "trade" => e.0 += p * q,
            "order" => e.1 += p * q,
            _ => {}
        }
    }
    by.into_iter().map(|(currency, (traded, ordered))| Amount { currency, traded: format!("{traded:.2}"), ordered: format!("{ordered:.2}") }).collect()
}

/// Builds the SAR-style export for a case, from the same data as the STOR.
pub fn sar(d: &CaseData, inputs: &Inputs) -> Sar {
    let s = stor(d, inputs);
    let alerts: Vec<&Alert> = d.alerts.iter().map(|a| &a.alert).collect();
    let mut cats: BTreeMap<&'static str, Category> = BTreeMap::new();
    for a in &alerts {
        let (code, label) = indicators::sar_category(a.kind);
        cats.entry(code).or_insert(Category { code, label, alerts: Vec::new() }).alerts.push(a.alert_id.clone());
    }
    let from = alerts.iter().map(|a| a.window_start).min().unwrap_or(0);
    let to = alerts.iter().map(|a| a.window_end).max().unwrap_or(0);
    let records = s.orders_and_transactions.records;
    let amounts = amounts(&records);
    // The form's one amount: the subjects' executed trades (their orders' notional where they
    // traded nothing), when they are in one currency.
    let amount = match amounts.as_slice() {
        [a] if a.traded != "0.00" => Some(format!("{} {}", a.traded, a.currency)),
        [a] if a.ordered != "0.00" => Some(format!("{} {} (orders placed; nothing traded)", a.ordered, a.currency)),
        _ => None,
    };
    let mut missing: Vec<String> = s
        .missing
        .into_iter()
        .map(|m| {
            m.replace("Section 1:", "Parts III-IV (filer):").replace("Section 2:", "Part II:").replace("Section 3:", "Part V:").replace("Section 4:", "Part I:")
        })
        .collect();
    if amount.is_none() {
        missing.push(if amounts.len() > 1 {
            format!(
                "Part II: the amount involved in US dollars (the subjects traded in {})",
                amounts.iter().map(|a| a.currency.as_str()).collect::<Vec<_>>().join(", ")
            )
        } else {
            "Part II: the amount involved (no priced orders or trades of the subjects in the records; give --events, or state it)".into()
        });
    }
    Sar {
        report: "SAR",
        form: "Suspicious activity report, FinCEN SAR (BSA E-Filing, 2018 form), securities and futures industries",
        generated_at: s.generated_at,
        case: s.case,
        subjects: s.persons,
        activity: Activity {
            date_from: time(from),
            date_to: time(to),
            amount_involved: amount,
            amounts,
            amount_basis: "price × quantity of the subjects' trades (orders placed, separately) listed in the records: the alerts' windows and their margin, in each instrument's quote currency"
                .into(),
            categories: cats.into_values().collect(),
            instruments: s.orders_and_transactions.instruments,
        },
        filer: s.submitter,
        narrative: s.suspicion.narrative,
        records,
        attachments: s.attachments,
        missing,
    }
}

fn records_table(doc: &mut Doc, records: &[Record]) {
    let rows = records
        .iter()
        .map(|r| {
            vec![
                r.time.clone(),
                r.venue.clone(),
                r.symbol.clone(),
                format!("{}{}", r.kind, if r.key { " *" } else { "" }),
                r.id.clone(),
                r.account.clone().unwrap_or_default(),
                r.side.unwrap_or("").to_string(),
                r.price.clone().unwrap_or_default(),
                r.qty.clone().unwrap_or_default(),
                r.order_type.unwrap_or("").to_string(),
                r.counterparty.clone().unwrap_or_default(),
            ]
        })
        .collect();
    doc.table(&["time (UTC)", "venue", "instrument", "event", "order / trade id", "account", "side", "price", "volume", "order type", "counterparty"], rows);
    if records.iter().any(|r| r.key) {
        doc.para("* named in an alert's evidence.");
    }
}

fn instruments_table(doc: &mut Doc, is: &[Instrument]) {
    let rows = is.iter().map(|i| vec![i.symbol.clone(), opt(&i.name), opt(&i.identifier), opt(&i.kind), i.venues.join(", ")]).collect();
    doc.table(&["instrument", "name", "identifier", "type", "venues"], rows);
}

fn alerts_blocks(doc: &mut Doc, alerts: &[AlertBrief]) {
    for a in alerts {
        doc.sub(format!("{} - {} ({}, risk {:.2}, confidence {:.2})", a.alert_id, label(a.kind), a.level, a.risk_score, a.confidence));
        doc.para(a.story.clone());
        doc.fields([
            ("Detected at", a.detected_at.clone()),
            ("Window", format!("{} to {}", a.window_start, a.window_end)),
            ("Venue", a.venue.clone().unwrap_or_else(|| "-".into())),
            ("Instruments", dash(a.symbols.join(", "))),
            ("Accounts", dash(a.accounts.join(", "))),
            ("Triage status", a.status.to_string()),
        ]);
        let ev = a.evidence.iter().map(|(k, v)| vec![k.clone(), evidence_value(v)]).collect();
        doc.table(&["evidence", "value"], ev);
    }
}

/// A value that is known to be empty (an alert about a whole market names no account).
fn dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

fn evidence_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        serde_json::Value::Number(n) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        serde_json::Value::Array(xs) => xs.iter().map(evidence_value).collect::<Vec<_>>().join(", "),
        x => x.to_string(),
    }
}

fn person_fields(p: &Person) -> Vec<(String, String)> {
    let i = &p.identity;
    vec![
        ("Account".into(), p.account.clone()),
        ("Beneficial owner".into(), opt(&p.owner)),
        ("Other accounts of the owner in the case".into(), if p.linked_accounts.is_empty() { "none".into() } else { p.linked_accounts.join(", ") }),
        ("Name".into(), opt(&i.name)),
        ("Date of birth".into(), opt(&i.birth_date)),
        ("National identifier".into(), opt(&i.national_id)),
        ("Address".into(), opt(&i.address)),
        ("Client identifier".into(), opt(&i.client_id)),
        ("Employment".into(), opt(&i.employment)),
        ("Relationship with the issuer".into(), opt(&i.relationship_to_issuer)),
        ("Alerts in this case / elsewhere".into(), format!("{} / {}", p.alerts_in_case, p.alerts_elsewhere)),
    ]
}

fn submitter_fields(s: &Submitter) -> Vec<(String, String)> {
    vec![
        ("Reporting entity".into(), opt(&s.entity_name)),
        ("LEI".into(), opt(&s.entity_lei)),
        ("Type of entity".into(), opt(&s.entity_type)),
        ("Address".into(), opt(&s.entity_address)),
        ("Person submitting".into(), opt(&s.person_name)),
        ("Position".into(), opt(&s.person_position)),
        ("E-mail".into(), opt(&s.email)),
        ("Telephone".into(), opt(&s.phone)),
        ("Relationship with the persons reported".into(), opt(&s.relationship)),
    ]
}

fn case_line(c: &CaseSummary) -> String {
    let mut s = format!("Case {}: {} - {}", c.id, c.title, c.status);
    if let Some(o) = c.outcome {
        s.push_str(&format!(" ({})", o.replace('_', " ")));
    }
    s
}

fn narrative_note(n: &Narrative) -> String {
    match (&n.by, &n.at) {
        (Some(by), Some(at)) => format!("Narrative reviewed and saved by {by} on {at}."),
        _ => "Narrative drafted by Vigil from the alerts; not yet reviewed.".into(),
    }
}

fn attachments_table(doc: &mut Doc, a: &[Attachment]) {
    let rows = a
        .iter()
        .map(|x| {
            vec![x.name.clone(), x.size.map(|s| s.to_string()).unwrap_or_default(), x.sha256.clone().unwrap_or_default(), x.added_by.clone(), x.at.clone()]
        })
        .collect();
    doc.table(&["file", "bytes", "SHA-256", "added by", "at"], rows);
}

impl Stor {
    /// The report laid out in the template's six sections.
    pub fn doc(&self) -> Doc {
        let mut d = Doc::new(format!("Suspicious transaction and order report (STOR) - case {}", self.case.id));
        d.subtitle = vec![self.template.to_string(), case_line(&self.case), format!("Generated by Vigil on {}", self.generated_at)];
        d.heading("Completeness");
        d.blocks.push(Block::Missing(self.missing.clone()));
        d.heading("Section 1 - Identity of the entity and person submitting the STOR");
        d.fields(submitter_fields(&self.submitter));
        d.heading("Section 2 - Transactions and orders");
        d.sub("Financial instruments");
        instruments_table(&mut d, &self.orders_and_transactions.instruments);
        d.sub(format!("Orders and transactions ({} orders, {} trades)", self.orders_and_transactions.orders, self.orders_and_transactions.trades));
        if self.orders_and_transactions.source.is_empty() {
            d.para("No event files were given: the orders are described by the alerts' evidence in section 3.");
        } else {
            d.para(format!("From the event files {}.", self.orders_and_transactions.source.join(", ")));
        }
        records_table(&mut d, &self.orders_and_transactions.records);
        d.heading("Section 3 - Description of the nature of the suspicion");
        d.fields([("Type of suspected breach", self.suspicion.breach.to_string())]);
        d.sub("Indicators (MAR Annex I, Section A)");
        let ind = self.suspicion.indicators.iter().map(|i| vec![i.code.to_string(), i.text.to_string(), i.alerts.join(", ")]).collect();
        d.table(&["indicator", "text", "measured by"], ind);
        d.sub("Narrative");
        d.para(self.suspicion.narrative.text.clone());
        d.para(narrative_note(&self.suspicion.narrative));
        d.sub("Alerts and their evidence");
        alerts_blocks(&mut d, &self.suspicion.alerts);
        d.heading("Section 4 - Identity of the persons whose orders or transactions are suspicious");
        for p in &self.persons {
            d.sub(format!("Account {}", p.account));
            d.fields(person_fields(p));
        }
        d.heading("Section 5 - Additional information");
        d.sub("The investigation's comments");
        let c = self.additional.comments.iter().map(|c| vec![c.at.clone(), c.author.clone(), c.text.clone()]).collect();
        d.table(&["at", "by", "comment"], c);
        d.sub("The case's history (audit log, hash-chained)");
        let h = self
            .additional
            .history
            .iter()
            .map(|h| vec![h.seq.to_string(), h.at.clone(), h.actor.clone(), h.action.clone(), vigil_store::audit::short(&h.hash)])
            .collect();
        d.table(&["entry", "at", "by", "action", "hash"], h);
        d.heading("Section 6 - Documentation attached");
        attachments_table(&mut d, &self.attachments);
        d
    }
}

impl Sar {
    pub fn doc(&self) -> Doc {
        let mut d = Doc::new(format!("Suspicious activity report (SAR) - case {}", self.case.id));
        d.subtitle = vec![self.form.to_string(), case_line(&self.case), format!("Generated by Vigil on {}", self.generated_at)];
        d.heading("Completeness");
        d.blocks.push(Block::Missing(self.missing.clone()));
        d.heading("Part I - Subject information");
        for p in &self.subjects {
            d.sub(format!("Subject: account {}", p.account));
            d.fields(person_fields(p));
        }
        d.heading("Part II - Suspicious activity information");
        d.fields([
            ("Date or date range", format!("{} to {}", self.activity.date_from, self.activity.date_to)),
            ("Amount involved", self.activity.amount_involved.clone().unwrap_or_default()),
            (
                "Notional per currency",
                dash(
                    self.activity.amounts.iter().map(|a| format!("{}: traded {}, ordered {}", a.currency, a.traded, a.ordered)).collect::<Vec<_>>().join("; "),
                ),
            ),
            ("Basis of the amount", self.activity.amount_basis.clone()),
        ]);
        let cats = self.activity.categories.iter().map(|c| vec![c.code.to_string(), c.label.to_string(), c.alerts.join(", ")]).collect();
        d.sub("Securities / futures / options (item 40)");
        d.table(&["item", "category", "alerts"], cats);
        d.sub("Instruments");
        instruments_table(&mut d, &self.activity.instruments);
        d.sub("Orders and trades");
        records_table(&mut d, &self.records);
        d.heading("Parts III and IV - Filing institution and contact");
        d.fields(submitter_fields(&self.filer));
        d.heading("Part V - Narrative");
        d.para(self.narrative.text.clone());
        d.para(narrative_note(&self.narrative));
        d.heading("Attachments");
        attachments_table(&mut d, &self.attachments);
        d
    }
}
