//! The periodic market integrity report and the desk's compliance metrics.
//!
//! Two clocks: alerts belong to the period by their detection time (event time: when the
//! behaviour happened, which is what a market's integrity is about); the desk's work — triage,
//! cases, four-eyes decisions, the backlog — by the wall-clock time people acted. A replay of last
//! month's events triaged today is last month's market and today's work.
//!
//! States at the period's end (backlog, open cases, pending proposals) are taken at its end, or now
//! when it has not ended. Cases are counted by their current record: a case closed in the period
//! and reopened since counts as open, not as closed (the audit log holds the history).

use crate::doc::{Block, Doc};
use crate::{dur, time, wall, Result};
use rustc_hash::{FxHashMap as HashMap, FxHashSet};
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_store::{AlertRow, Case, CaseFilter, Proposal, Store};

/// A half-open period `[from, to)`, ns since the epoch.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

/// Which part of the market: a venue, a symbol, both or all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub venue: Option<String>,
    pub symbol: Option<String>,
}

impl Scope {
    fn covers(&self, a: &AlertRow) -> bool {
        self.venue.as_ref().is_none_or(|v| a.venue.as_ref() == Some(v)) && self.symbol.as_ref().is_none_or(|s| a.symbols.contains(s))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TypeRow {
    pub kind: String,
    pub total: usize,
    #[serde(flatten)]
    pub levels: Levels,
}

/// Counts per level, most severe first.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Levels {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

impl Levels {
    fn add(&mut self, level: &str) {
        match level {
            "critical" => self.critical += 1,
            "high" => self.high += 1,
            "medium" => self.medium += 1,
            _ => self.low += 1,
        }
    }
    fn pairs(&self) -> [(&'static str, usize); 4] {
        [("critical", self.critical), ("high", self.high), ("medium", self.medium), ("low", self.low)]
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AlertStats {
    pub total: usize,
    pub by_level: Levels,
    pub by_type: Vec<TypeRow>,
    /// By triage status now.
    pub by_status: BTreeMap<String, usize>,
    /// By UTC day of detection.
    pub by_day: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CaseStats {
    /// Cases in scope opened in the period.
    pub opened: usize,
    /// Cases in scope closed in the period, and how.
    pub closed: usize,
    pub outcomes: BTreeMap<String, usize>,
    /// Cases in scope open at the period's end.
    pub open_at_end: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Top {
    pub name: String,
    pub alerts: usize,
    /// Of them, critical or high.
    pub critical_or_high: usize,
}

/// Count, median, 90th percentile and mean of durations in seconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stat {
    pub n: usize,
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
    pub mean_s: Option<f64>,
}

impl Stat {
    pub fn of(mut xs: Vec<f64>) -> Stat {
        if xs.is_empty() {
            return Stat::default();
        }
        xs.sort_by(f64::total_cmp);
        // Linear interpolation between the closest ranks: the median of an even count is the
        // mean of the middle two.
        let q = |p: f64| {
            let at = p * (xs.len() - 1) as f64;
            let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
            xs[lo] + (xs[hi] - xs[lo]) * (at - lo as f64)
        };
        Stat { n: xs.len(), median_s: Some(q(0.5)), p90_s: Some(q(0.9)), mean_s: Some(xs.iter().sum::<f64>() / xs.len() as f64) }
    }
    fn cells(&self) -> [String; 4] {
        let f = |x: Option<f64>| x.map_or("-".into(), dur);
        [self.n.to_string(), f(self.median_s), f(self.p90_s), f(self.mean_s)]
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FalsePositives {
    pub kind: String,
    /// Alerts triaged in the period.
    pub triaged: usize,
    pub false_positives: usize,
    pub ratio: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Backlog {
    /// Alerts stored by the period's end and not triaged by then (suppressed ones excluded).
    pub open_alerts: usize,
    pub oldest_s: Option<f64>,
    pub median_age_s: Option<f64>,
    /// Ages: under an hour, under a day, under a week, older.
    pub ages: BTreeMap<String, usize>,
    pub open_cases: usize,
    pub pending_proposals: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// Alerts triaged in the period: from reaching the desk to resolved or false positive.
    pub time_to_triage: Stat,
    /// Cases closed in the period: from opened to closed.
    pub time_to_close: Stat,
    pub false_positives: Vec<FalsePositives>,
    pub backlog: Backlog,
    /// Four-eyes proposals decided in the period: from proposed to decided.
    pub four_eyes: Stat,
}

#[derive(Clone, Debug, Serialize)]
pub struct Integrity {
    pub report: &'static str,
    pub generated_at: String,
    pub period_from: String,
    pub period_to: String,
    pub venue: Option<String>,
    pub symbol: Option<String>,
    pub alerts: AlertStats,
    pub cases: CaseStats,
    pub top_accounts: Vec<Top>,
    pub top_instruments: Vec<Top>,
    pub metrics: Metrics,
}

/// How many accounts and instruments the report ranks.
pub const TOP: usize = 10;

fn top(counts: HashMap<String, (usize, usize)>) -> Vec<Top> {
    let mut v: Vec<Top> = counts.into_iter().map(|(name, (alerts, hi))| Top { name, alerts, critical_or_high: hi }).collect();
    v.sort_by(|a, b| b.alerts.cmp(&a.alerts).then(b.critical_or_high.cmp(&a.critical_or_high)).then(a.name.cmp(&b.name)));
    v.truncate(TOP);
    v
}

fn in_period(p: Period, t: i64) -> bool {
    (p.from..p.to).contains(&t)
}

/// Builds the report from the store's alerts, cases and proposals.
pub fn build(store: &mut Store, period: Period, scope: &Scope, now: i64) -> Result<Integrity> {
    let rows = store.alert_rows()?;
    let cases = store.cases(&CaseFilter::default())?;
    let proposals = store.proposals(false)?;
    Ok(compute(&rows, &cases, &proposals, period, scope, now))
}

/// The report from rows already read (kept apart from the store for tests).
pub fn compute(rows: &[AlertRow], cases: &[Case], proposals: &[Proposal], period: Period, scope: &Scope, now: i64) -> Integrity {
    let scoped: Vec<&AlertRow> = rows.iter().filter(|a| scope.covers(a)).collect();
    let detected: Vec<&AlertRow> = scoped.iter().copied().filter(|a| in_period(period, a.ts)).collect();

    let mut by_level = Levels::default();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_day: BTreeMap<String, usize> = BTreeMap::new();
    let mut types: BTreeMap<String, TypeRow> = BTreeMap::new();
    let mut accounts: HashMap<String, (usize, usize)> = HashMap::default();
    let mut instruments: HashMap<String, (usize, usize)> = HashMap::default();
    for a in &detected {
        by_level.add(&a.level);
        *by_status.entry(a.status.clone()).or_default() += 1;
        *by_day.entry(time(a.ts)[..10].to_string()).or_default() += 1;
        let t = types.entry(a.kind.clone()).or_insert(TypeRow { kind: a.kind.clone(), total: 0, levels: Levels::default() });
        t.total += 1;
        t.levels.add(&a.level);
        let hi = usize::from(a.level == "critical" || a.level == "high");
        for x in &a.accounts {
            let e = accounts.entry(x.clone()).or_default();
            e.0 += 1;
            e.1 += hi;
        }
        for s in &a.symbols {
            let name = match &a.venue {
                Some(v) => format!("{s} on {v}"),
                None => s.clone(),
            };
            let e = instruments.entry(name).or_default();
            e.0 += 1;
            e.1 += hi;
        }
    }
    let mut by_type: Vec<TypeRow> = types.into_values().collect();
    by_type.sort_by(|a, b| b.total.cmp(&a.total).then(a.kind.cmp(&b.kind)));

    // Cases in scope: those with an alert in scope (all cases when the scope is everything).
    let in_scope: HashMap<&str, &AlertRow> = scoped.iter().map(|a| (a.alert_id.as_str(), *a)).collect();
    let whole = scope.venue.is_none() && scope.symbol.is_none();
    let cases: Vec<&Case> = cases.iter().filter(|c| whole || c.alerts.iter().any(|id| in_scope.contains_key(id.as_str()))).collect();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut close_times = Vec::new();
    let mut closed = 0;
    for c in &cases {
        if let (Some(at), Some(o)) = (c.closed_at, c.outcome) {
            if in_period(period, at) {
                closed += 1;
                *outcomes.entry(o.as_str().to_string()).or_default() += 1;
                close_times.push((at - c.opened_at) as f64 / 1e9);
            }
        }
    }
    let opened = cases.iter().filter(|c| in_period(period, c.opened_at)).count();

    // The desk's work on the alerts in scope, by when it was done.
    let triaged: Vec<&AlertRow> = scoped
        .iter()
        .copied()
        .filter(|a| (a.status == "resolved" || a.status == "false_positive") && a.status_at.is_some_and(|t| in_period(period, t)))
        .collect();
    let triage = Stat::of(triaged.iter().map(|a| (a.status_at.unwrap_or(a.stored_at) - a.stored_at).max(0) as f64 / 1e9).collect());
    let mut fp: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for a in &triaged {
        let e = fp.entry(a.kind.clone()).or_default();
        e.0 += 1;
        e.1 += usize::from(a.status == "false_positive");
    }
    let false_positives =
        fp.into_iter().map(|(kind, (t, f))| FalsePositives { kind, triaged: t, false_positives: f, ratio: (t > 0).then(|| f as f64 / t as f64) }).collect();
    // The backlog at the period's end, or now if the period has not ended.
    let end = period.to.min(now);
    let open_at_end = cases.iter().filter(|c| c.opened_at < end && c.closed_at.is_none_or(|t| t >= end)).count();
    let waiting: Vec<f64> = scoped
        .iter()
        .filter(|a| a.stored_at < end && a.status != "suppressed" && (a.status == "active" || a.status_at.is_some_and(|t| t >= end)))
        .map(|a| (end - a.stored_at) as f64 / 1e9)
        .collect();
    let mut ages: BTreeMap<String, usize> =
        ["1: under an hour", "2: under a day", "3: under a week", "4: a week or more"].iter().map(|k| (k.to_string(), 0)).collect();
    for &w in &waiting {
        let k = if w < 3600.0 {
            "1: under an hour"
        } else if w < 86_400.0 {
            "2: under a day"
        } else if w < 7.0 * 86_400.0 {
            "3: under a week"
        } else {
            "4: a week or more"
        };
        *ages.entry(k.to_string()).or_default() += 1;
    }
    let age = Stat::of(waiting.clone());
    let case_ids: FxHashSet<String> = cases.iter().map(|c| c.id.to_string()).collect();
    let relevant = |p: &&Proposal| {
        whole || (p.object_type == "case" && case_ids.contains(&p.object_id)) || (p.object_type == "alert" && in_scope.contains_key(p.object_id.as_str()))
    };
    let four_eyes = Stat::of(
        proposals
            .iter()
            .filter(relevant)
            .filter_map(|p| p.decided_at.filter(|t| in_period(period, *t)).map(|t| (t - p.proposed_at).max(0) as f64 / 1e9))
            .collect(),
    );
    let pending = proposals.iter().filter(relevant).filter(|p| p.proposed_at < end && p.decided_at.is_none_or(|t| t >= end)).count();

    Integrity {
        report: "market integrity report",
        generated_at: wall(now),
        period_from: time(period.from),
        period_to: time(period.to),
        venue: scope.venue.clone(),
        symbol: scope.symbol.clone(),
        alerts: AlertStats { total: detected.len(), by_level, by_type, by_status, by_day },
        cases: CaseStats { opened, closed, outcomes, open_at_end },
        top_accounts: top(accounts),
        top_instruments: top(instruments),
        metrics: Metrics {
            time_to_triage: triage,
            time_to_close: Stat::of(close_times),
            false_positives,
            backlog: Backlog {
                open_alerts: waiting.len(),
                oldest_s: waiting.iter().copied().reduce(f64::max),
                median_age_s: age.median_s,
                ages,
                open_cases: open_at_end,
                pending_proposals: pending,
            },
            four_eyes,
        },
    }
}

impl Integrity {
    pub fn doc(&self) -> Doc {
        let mut d = Doc::new("Market integrity report");
        let scope = match (&self.venue, &self.symbol) {
            (None, None) => "all venues and instruments".to_string(),
            (Some(v), None) => format!("venue {v}"),
            (None, Some(s)) => format!("instrument {s}"),
            (Some(v), Some(s)) => format!("{s} on {v}"),
        };
        d.subtitle = vec![format!("Period {} to {}; scope: {scope}", self.period_from, self.period_to), format!("Generated by Vigil on {}", self.generated_at)];
        d.heading("Summary");
        let hi = self.alerts.by_level.critical + self.alerts.by_level.high;
        d.para(format!(
            "Alerts raised on behaviour in the period: {} ({hi} critical or high). Cases: {} opened, {} closed, {} open at the period's end. Alerts awaiting triage at the period's end: {}.",
            self.alerts.total, self.cases.opened, self.cases.closed, self.cases.open_at_end, self.metrics.backlog.open_alerts
        ));
        d.heading("Alerts");
        d.bars("Alerts by level", self.alerts.by_level.pairs().iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.to_string(), *n as f64)).collect());
        d.bars("Alerts by type", self.alerts.by_type.iter().map(|t| (t.kind.replace('_', " "), t.total as f64)).collect());
        let rows = self
            .alerts
            .by_type
            .iter()
            .map(|t| {
                vec![
                    t.kind.clone(),
                    t.total.to_string(),
                    t.levels.critical.to_string(),
                    t.levels.high.to_string(),
                    t.levels.medium.to_string(),
                    t.levels.low.to_string(),
                ]
            })
            .collect();
        d.table(&["type", "total", "critical", "high", "medium", "low"], rows);
        d.bars("Alerts by day of detection", self.alerts.by_day.iter().map(|(k, n)| (k.clone(), *n as f64)).collect());
        d.fields(self.alerts.by_status.iter().map(|(k, n)| (format!("Status now: {}", k.replace('_', " ")), n.to_string())));
        d.heading("Most alerted");
        let tops = |v: &[Top]| v.iter().map(|t| vec![t.name.clone(), t.alerts.to_string(), t.critical_or_high.to_string()]).collect::<Vec<_>>();
        d.sub("Accounts");
        d.table(&["account", "alerts", "critical or high"], tops(&self.top_accounts));
        d.sub("Instruments");
        d.table(&["instrument", "alerts", "critical or high"], tops(&self.top_instruments));
        d.heading("Cases");
        let mut f = vec![
            ("Opened in the period".to_string(), self.cases.opened.to_string()),
            ("Closed in the period".to_string(), self.cases.closed.to_string()),
            ("Open at the period's end".to_string(), self.cases.open_at_end.to_string()),
        ];
        f.extend(self.cases.outcomes.iter().map(|(k, n)| (format!("Closed as {}", k.replace('_', " ")), n.to_string())));
        d.fields(f);
        d.heading("Compliance metrics");
        let m = &self.metrics;
        let stat = |name: &str, s: &Stat| {
            let [n, med, p90, mean] = s.cells();
            vec![name.to_string(), n, med, p90, mean]
        };
        d.table(
            &["measure", "n", "median", "90th percentile", "mean"],
            vec![
                stat("Time to triage (alert stored to triaged)", &m.time_to_triage),
                stat("Time to close (case opened to closed)", &m.time_to_close),
                stat("Four-eyes turnaround (proposed to decided)", &m.four_eyes),
            ],
        );
        d.sub("False-positive ratio per detector (alerts triaged in the period)");
        let fp = m
            .false_positives
            .iter()
            .map(|x| vec![x.kind.clone(), x.triaged.to_string(), x.false_positives.to_string(), x.ratio.map_or("-".into(), |r| format!("{:.1}%", 100.0 * r))])
            .collect();
        d.table(&["type", "triaged", "false positives", "ratio"], fp);
        d.sub("Backlog at the period's end");
        d.fields([
            ("Alerts awaiting triage", m.backlog.open_alerts.to_string()),
            ("Oldest", m.backlog.oldest_s.map_or("-".into(), dur)),
            ("Median age", m.backlog.median_age_s.map_or("-".into(), dur)),
            ("Open cases", m.backlog.open_cases.to_string()),
            ("Proposals awaiting a second person", m.backlog.pending_proposals.to_string()),
        ]);
        d.blocks.push(Block::Bars { title: "Backlog by age".into(), bars: m.backlog.ages.iter().map(|(k, n)| (k[3..].to_string(), *n as f64)).collect() });
        d
    }
}
