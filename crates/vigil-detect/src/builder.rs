//! From a detector's [`Signal`] to the spec's [`Alert`]: a stable id derived from the detector and
//! the events involved, a risk score and level from how far past its threshold the behaviour went,
//! and suppression of repeats of one behaviour within the detector's cooldown.

use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use vigil_core::{AccountId, Alert, AlertType, Level, Names, SymbolId, Ts, VenueId};
use xxhash_rust::xxh3::Xxh3;

/// What a detector found, before it becomes an alert.
#[derive(Clone, Debug)]
pub struct Signal {
    pub kind: AlertType,
    /// The detection moment (event time).
    pub ts: Ts,
    pub window_start: Ts,
    pub window_end: Ts,
    pub venue: Option<VenueId>,
    pub symbols: Vec<SymbolId>,
    pub accounts: Vec<AccountId>,
    /// Measured value over threshold (≥ 1 when the threshold is crossed).
    pub severity: f64,
    /// How much data the judgement stands on, in [0, 1].
    pub confidence: f64,
    /// Identifies the behaviour, so repeats can be recognised; must include the instrument.
    pub behaviour: u64,
    /// Repeats of the same behaviour within this span of event time are suppressed.
    pub cooldown: i64,
    /// Identifies the key events (trade ids, order ids), for the stable alert id.
    pub identity: u64,
    pub description: String,
    pub evidence: Map<String, Value>,
}

impl Signal {
    /// A repeat of a behaviour still within its cooldown: it extends the episode and is counted as
    /// suppressed, and costs no text (see [`crate::Context::repeat`]).
    pub fn repeat(kind: AlertType, ts: Ts, behaviour: u64, cooldown: i64) -> Signal {
        Signal {
            kind,
            ts,
            window_start: ts,
            window_end: ts,
            venue: None,
            symbols: Vec::new(),
            accounts: Vec::new(),
            severity: 1.0,
            confidence: 0.0,
            behaviour,
            cooldown,
            identity: 0,
            description: String::new(),
            evidence: Map::new(),
        }
    }
}

/// Hashes the parts that identify a behaviour or a set of events.
pub fn key(parts: &[&[u8]]) -> u64 {
    let mut h = Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u32).to_le_bytes());
        h.update(p);
    }
    h.digest()
}

/// Rounds for output: scores to 4 decimals, so that text is stable and readable.
pub fn round(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

/// The risk of each type at its threshold: the pattern's default risk in the catalogue. Manipulation
/// types start high (an alert at threshold is already worth an analyst's look); anomalies start low.
pub fn base_risk(kind: AlertType) -> f64 {
    match kind {
        AlertType::PumpAndDump | AlertType::CrossVenueManipulation => 0.75,
        AlertType::Spoofing | AlertType::Layering | AlertType::WashTrading => 0.7,
        AlertType::MomentumIgnition | AlertType::MarkingTheClose => 0.65,
        AlertType::QuoteStuffing => 0.6,
        AlertType::PriceAnomaly | AlertType::PriceDiscrepancy => 0.45,
        AlertType::VolumeSpike | AlertType::ConcentratedTrading | AlertType::MlAnomaly => 0.4,
        AlertType::UnusualTiming => 0.35,
    }
}

/// Risk in [0, 1], the one place it is derived. `severity` is the measured value over its
/// threshold (1 at the threshold); `confidence` how much data the judgement stands on. From the
/// type's [`base_risk`] at the threshold, risk rises toward a ceiling (0.98 for manipulation, 0.8
/// for anomalies, which are not accusations) as the behaviour goes further past it — tanh(ln s):
/// 2× the threshold goes 60 % of the way, 3× 80 % — and is scaled by 0.85 + 0.15 × confidence.
pub fn risk_score(kind: AlertType, severity: f64, confidence: f64) -> f64 {
    let base = base_risk(kind);
    let ceiling = if kind.is_manipulation() { 0.98 } else { 0.8 };
    let s = if severity.is_finite() { severity.max(1.0) } else { 1.0 };
    let c = if confidence.is_finite() { confidence.clamp(0.0, 1.0) } else { 0.0 };
    (base + (ceiling - base) * s.ln().tanh()) * (0.85 + 0.15 * c)
}

/// The level an analyst sorts by: critical from 0.85, high from 0.65, medium from 0.5, else low.
/// A manipulation alert at its threshold with full confidence is high; an anomaly is low or medium.
pub fn level(risk: f64) -> Level {
    if risk >= 0.85 {
        Level::Critical
    } else if risk >= 0.65 {
        Level::High
    } else if risk >= 0.5 {
        Level::Medium
    } else {
        Level::Low
    }
}

/// Turns signals into alerts, one per behaviour per cooldown.
#[derive(Default)]
pub struct AlertBuilder {
    /// Behaviour → when it was last signalled.
    last: FxHashMap<u64, i64>,
    /// Signals suppressed as repeats, by type.
    pub suppressed: FxHashMap<AlertType, u64>,
}

impl AlertBuilder {
    /// Whether a signal of this behaviour at `ts` would be suppressed as a repeat.
    pub fn in_cooldown(&self, kind: AlertType, behaviour: u64, ts: Ts, cooldown: i64) -> bool {
        let b = behaviour ^ (kind as u64).rotate_left(56);
        self.last.get(&b).is_some_and(|&prev| ts.0.saturating_sub(prev) < cooldown)
    }

    /// The alert for `s`, or `None` if it repeats a behaviour still within its cooldown (each
    /// repeat extends the episode, so a behaviour that goes on is one alert).
    pub fn build(&mut self, s: Signal, names: &Names) -> Option<Alert> {
        let b = s.behaviour ^ (s.kind as u64).rotate_left(56);
        if let Some(prev) = self.last.insert(b, s.ts.0) {
            if s.ts.0.saturating_sub(prev) < s.cooldown {
                *self.suppressed.entry(s.kind).or_default() += 1;
                return None;
            }
        }
        let venue = s.venue.map(|v| names.venue(v).to_string());
        let symbols: Vec<String> = s.symbols.iter().map(|&x| names.symbol(x).to_string()).collect();
        let accounts: Vec<String> = s.accounts.iter().map(|&a| names.account(a).to_string()).collect();
        let mut h = Xxh3::new();
        h.update(s.kind.as_str().as_bytes());
        // Every field and list is length-prefixed, so no two different alerts hash the same text.
        let mut field = |b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(venue.as_deref().unwrap_or("").as_bytes());
        for list in [&symbols, &accounts] {
            field(&(list.len() as u64).to_le_bytes());
            for x in list.iter() {
                field(x.as_bytes());
            }
        }
        h.update(&s.window_start.0.to_le_bytes());
        h.update(&s.identity.to_le_bytes());
        let risk = round(risk_score(s.kind, s.severity, s.confidence), 4);
        Some(Alert {
            alert_id: format!("{}-{:016x}", s.kind.as_str(), h.digest()),
            kind: s.kind,
            level: level(risk),
            risk_score: risk,
            confidence: round(s.confidence.clamp(0.0, 1.0), 4),
            ts: s.ts.0,
            window_start: s.window_start.0,
            window_end: s.window_end.0,
            venue,
            symbols,
            accounts,
            description: s.description,
            evidence: s.evidence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_rises_with_severity_and_levels_follow() {
        assert!((risk_score(AlertType::Spoofing, 1.0, 1.0) - 0.7).abs() < 1e-12);
        assert_eq!(level(risk_score(AlertType::Spoofing, 1.0, 1.0)), Level::High);
        assert!(risk_score(AlertType::Spoofing, 3.0, 1.0) > 0.9);
        assert!(risk_score(AlertType::Spoofing, 3.0, 0.0) < risk_score(AlertType::Spoofing, 3.0, 1.0));
        assert!(risk_score(AlertType::VolumeSpike, 100.0, 1.0) <= 0.8);
        assert_eq!(level(risk_score(AlertType::VolumeSpike, 1.0, 1.0)), Level::Low);
        assert_eq!(level(0.9), Level::Critical);
        assert_eq!(level(0.4), Level::Low);
        assert_eq!(risk_score(AlertType::Spoofing, f64::NAN, f64::NAN), 0.7 * 0.85);
    }
}
