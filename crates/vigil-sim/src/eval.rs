//! Scoring alerts against labels, exactly by the spec's rule:
//! - an alert matches a label when the types are equal, the label's symbol is among the alert's
//!   symbols, the two share an account wherever both name accounts, and the alert's `ts` lies in
//!   `[start, end + 60 s]`;
//! - a label is detected when an alert matches it; its latency is the first matching alert's `ts`
//!   minus the label's start;
//! - an alert of a manipulation type that matches no label is a false positive; an anomaly alert
//!   that matches none is noise (reported, not a false positive).
//!
//! Per type: recall, precision, F1, median and p95 latency, alerts per detected label. Overall:
//! the macro average over the types that have labels or false positives (a type with false
//! positives and no label has precision 0 and no recall).

use crate::sim::Label;
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_core::{Alert, AlertType};

/// How long after a label's end an alert still counts.
pub const GRACE_NS: i64 = 60_000_000_000;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TypeScore {
    #[serde(rename = "type")]
    pub kind: String,
    pub manipulation: bool,
    pub labels: usize,
    pub detected: usize,
    pub recall: Option<f64>,
    pub alerts: usize,
    /// Alerts of this type that matched a label.
    pub matched_alerts: usize,
    pub false_positives: usize,
    /// Anomaly alerts matching no label.
    pub noise: usize,
    pub precision: Option<f64>,
    pub f1: Option<f64>,
    pub latency_median_s: Option<f64>,
    pub latency_p95_s: Option<f64>,
    pub alerts_per_detected: Option<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub types: Vec<TypeScore>,
    pub labels: usize,
    pub alerts: usize,
    pub macro_recall: Option<f64>,
    pub macro_precision: Option<f64>,
    pub macro_f1: Option<f64>,
    /// Labels no alert matched, for the analyst: id, type, symbol, start.
    pub missed: Vec<String>,
}

pub fn matches(a: &Alert, l: &Label) -> bool {
    a.kind.as_str() == l.kind
        && a.symbols.contains(&l.symbol)
        && (a.accounts.is_empty() || l.accounts.is_empty() || a.accounts.iter().any(|x| l.accounts.contains(x)))
        && a.ts >= l.start
        && a.ts <= l.end + GRACE_NS
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank.
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[k - 1])
}

fn mean(xs: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = xs.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn score(alerts: &[Alert], labels: &[Label]) -> Report {
    score_runs(&[(alerts, labels)])
}

#[derive(Default)]
struct Acc {
    manipulation: bool,
    labels: usize,
    detected: usize,
    alerts: usize,
    matched: usize,
    unmatched: usize,
    latencies: Vec<f64>,
}

/// Scores several independent runs (seeds) together: each run's alerts are matched with its own
/// labels only, and the counts are summed.
pub fn score_runs(runs: &[(&[Alert], &[Label])]) -> Report {
    let mut kinds: BTreeMap<String, Acc> = BTreeMap::new();
    let mut missed = Vec::new();
    let (mut n_labels, mut n_alerts) = (0, 0);
    for (run, &(alerts, labels)) in runs.iter().enumerate() {
        n_labels += labels.len();
        n_alerts += alerts.len();
        let mut first: Vec<Option<i64>> = vec![None; labels.len()];
        for a in alerts {
            let acc = kinds.entry(a.kind.as_str().to_string()).or_default();
            acc.manipulation = a.kind.is_manipulation();
            acc.alerts += 1;
            let mut any = false;
            for (k, l) in labels.iter().enumerate() {
                if matches(a, l) {
                    any = true;
                    if first[k].is_none_or(|t| a.ts < t) {
                        first[k] = Some(a.ts);
                    }
                }
            }
            if any {
                acc.matched += 1;
            } else {
                acc.unmatched += 1;
            }
        }
        for (l, f) in labels.iter().zip(&first) {
            let acc = kinds.entry(l.kind.clone()).or_default();
            acc.manipulation = AlertType::parse(&l.kind).is_some_and(|k| k.is_manipulation());
            acc.labels += 1;
            match f {
                Some(t) => {
                    acc.detected += 1;
                    acc.latencies.push((t - l.start) as f64 / 1e9);
                }
                None => missed.push(format!("run {}: {} ({} {} {:?} from {})", run + 1, l.id, l.symbol, l.venue, l.accounts, l.start)),
            }
        }
    }
    let mut types = Vec::new();
    for (kind, mut acc) in kinds {
        acc.latencies.sort_by(f64::total_cmp);
        let (fp, noise) = if acc.manipulation { (acc.unmatched, 0) } else { (0, acc.unmatched) };
        let detected = acc.detected;
        let recall = (acc.labels > 0).then(|| detected as f64 / acc.labels as f64);
        let precision = (detected + fp > 0).then(|| detected as f64 / (detected + fp) as f64);
        let f1 = match (recall, precision) {
            (None, None) => None,
            (Some(r), Some(p)) if r + p > 0.0 => Some(2.0 * r * p / (r + p)),
            _ => Some(0.0),
        };
        types.push(TypeScore {
            kind,
            manipulation: acc.manipulation,
            labels: acc.labels,
            detected,
            recall,
            alerts: acc.alerts,
            matched_alerts: acc.matched,
            false_positives: fp,
            noise,
            precision,
            f1,
            latency_median_s: quantile(&acc.latencies, 0.5),
            latency_p95_s: quantile(&acc.latencies, 0.95),
            alerts_per_detected: (detected > 0).then(|| acc.matched as f64 / detected as f64),
        });
    }
    // The macro average covers the types a run could be judged on: those with labels, and those
    // whose alerts were false positives.
    let judged: Vec<&TypeScore> = types.iter().filter(|t| t.labels > 0 || t.false_positives > 0).collect();
    Report {
        labels: n_labels,
        alerts: n_alerts,
        macro_recall: mean(judged.iter().map(|t| t.recall)),
        macro_precision: mean(judged.iter().map(|t| t.precision)),
        macro_f1: mean(judged.iter().map(|t| t.f1)),
        types,
        missed,
    }
}

fn f(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

impl Report {
    /// The table as Markdown (also readable as plain text).
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| type | labels | detected | recall | alerts | false positives | noise | precision | F1 | latency median (s) | latency p95 (s) | alerts per detected |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for t in &self.types {
            s += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                t.kind,
                t.labels,
                t.detected,
                f(t.recall, 2),
                t.alerts,
                t.false_positives,
                t.noise,
                f(t.precision, 2),
                f(t.f1, 2),
                f(t.latency_median_s, 1),
                f(t.latency_p95_s, 1),
                f(t.alerts_per_detected, 1)
            );
        }
        s += &format!(
            "| **macro** | {} | | **{}** | {} | | | **{}** | **{}** | | | |\n",
            self.labels,
            f(self.macro_recall, 3),
            self.alerts,
            f(self.macro_precision, 3),
            f(self.macro_f1, 3)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(kind: AlertType, ts: i64, sym: &str, accts: &[&str]) -> Alert {
        Alert {
            alert_id: format!("a{ts}"),
            kind,
            level: vigil_core::Level::High,
            risk_score: 0.7,
            confidence: 0.8,
            ts,
            window_start: ts,
            window_end: ts,
            venue: None,
            symbols: vec![sym.into()],
            accounts: accts.iter().map(|s| s.to_string()).collect(),
            description: String::new(),
            evidence: Default::default(),
        }
    }

    fn label(kind: &str, sym: &str, accts: &[&str], start: i64, end: i64) -> Label {
        Label {
            id: format!("{kind}-{start}"),
            kind: kind.into(),
            venue: "v".into(),
            symbol: sym.into(),
            accounts: accts.iter().map(|s| s.to_string()).collect(),
            start,
            end,
        }
    }

    const S: i64 = 1_000_000_000;

    #[test]
    fn the_spec_rule() {
        let labels = vec![
            label("spoofing", "A", &["x"], 100 * S, 110 * S),
            label("spoofing", "A", &["y"], 500 * S, 510 * S),
            label("volume_spike", "B", &[], 0, 10 * S),
        ];
        let alerts = vec![
            // Matches the first label: inside its span, sharing the account.
            alert(AlertType::Spoofing, 105 * S, "A", &["x", "z"]),
            // Again, within the 60 s grace: counts once for recall, not a false positive.
            alert(AlertType::Spoofing, 169 * S, "A", &["x"]),
            // Past the grace: a false positive.
            alert(AlertType::Spoofing, 171 * S, "A", &["x"]),
            // Before the start: a false positive.
            alert(AlertType::Spoofing, 499 * S, "A", &["y"]),
            // Wrong account: a false positive.
            alert(AlertType::Spoofing, 505 * S, "A", &["q"]),
            // The anomaly: one matches (no accounts on the label), one elsewhere is noise.
            alert(AlertType::VolumeSpike, 30 * S, "B", &[]),
            alert(AlertType::VolumeSpike, 30 * S, "C", &[]),
        ];
        let r = score(&alerts, &labels);
        let sp = r.types.iter().find(|t| t.kind == "spoofing").unwrap();
        assert_eq!((sp.labels, sp.detected, sp.false_positives, sp.matched_alerts), (2, 1, 3, 2));
        assert_eq!(sp.recall, Some(0.5));
        assert_eq!(sp.precision, Some(0.25));
        assert_eq!(sp.latency_median_s, Some(5.0));
        assert_eq!(sp.alerts_per_detected, Some(2.0));
        let vs = r.types.iter().find(|t| t.kind == "volume_spike").unwrap();
        assert_eq!((vs.detected, vs.false_positives, vs.noise), (1, 0, 1));
        assert_eq!(vs.precision, Some(1.0));
        assert_eq!(vs.latency_median_s, Some(30.0));
        assert_eq!(r.missed.len(), 1);
        let f1 = 2.0 * 0.5 * 0.25 / 0.75;
        assert!((r.macro_f1.unwrap() - (f1 + 1.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn false_positives_of_an_unlabelled_type_count_against_the_macro() {
        let labels = vec![label("layering", "A", &["x"], 0, 10 * S)];
        let alerts = vec![alert(AlertType::Layering, S, "A", &["x"]), alert(AlertType::WashTrading, S, "A", &["x"])];
        let r = score(&alerts, &labels);
        assert_eq!(r.macro_precision, Some(0.5));
        assert_eq!(r.macro_recall, Some(1.0));
        assert_eq!(r.macro_f1, Some(0.5));
    }
}
