//! The alert of the spec (`alerts.jsonl`), the closed list of alert types and levels.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertType {
    Spoofing,
    Layering,
    WashTrading,
    PumpAndDump,
    QuoteStuffing,
    MomentumIgnition,
    MarkingTheClose,
    CrossVenueManipulation,
    VolumeSpike,
    PriceAnomaly,
    ConcentratedTrading,
    UnusualTiming,
    PriceDiscrepancy,
    MlAnomaly,
}

impl AlertType {
    pub const ALL: [AlertType; 14] = [
        AlertType::Spoofing,
        AlertType::Layering,
        AlertType::WashTrading,
        AlertType::PumpAndDump,
        AlertType::QuoteStuffing,
        AlertType::MomentumIgnition,
        AlertType::MarkingTheClose,
        AlertType::CrossVenueManipulation,
        AlertType::VolumeSpike,
        AlertType::PriceAnomaly,
        AlertType::ConcentratedTrading,
        AlertType::UnusualTiming,
        AlertType::PriceDiscrepancy,
        AlertType::MlAnomaly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertType::Spoofing => "spoofing",
            AlertType::Layering => "layering",
            AlertType::WashTrading => "wash_trading",
            AlertType::PumpAndDump => "pump_and_dump",
            AlertType::QuoteStuffing => "quote_stuffing",
            AlertType::MomentumIgnition => "momentum_ignition",
            AlertType::MarkingTheClose => "marking_the_close",
            AlertType::CrossVenueManipulation => "cross_venue_manipulation",
            AlertType::VolumeSpike => "volume_spike",
            AlertType::PriceAnomaly => "price_anomaly",
            AlertType::ConcentratedTrading => "concentrated_trading",
            AlertType::UnusualTiming => "unusual_timing",
            AlertType::PriceDiscrepancy => "price_discrepancy",
            AlertType::MlAnomaly => "ml_anomaly",
        }
    }

    pub fn parse(s: &str) -> Option<AlertType> {
        AlertType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Manipulation types are scored against labels with false positives; anomaly types are not
    /// (a news-driven volume spike is a true anomaly), see the spec's scoring rule.
    pub fn is_manipulation(self) -> bool {
        matches!(
            self,
            AlertType::Spoofing
                | AlertType::Layering
                | AlertType::WashTrading
                | AlertType::PumpAndDump
                | AlertType::QuoteStuffing
                | AlertType::MomentumIgnition
                | AlertType::MarkingTheClose
                | AlertType::CrossVenueManipulation
        )
    }
}

impl fmt::Display for AlertType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        [Level::Low, Level::Medium, Level::High, Level::Critical].into_iter().find(|l| l.as_str() == s)
    }
}

/// One alert, field for field as the spec writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: String,
    #[serde(rename = "type")]
    pub kind: AlertType,
    pub level: Level,
    pub risk_score: f64,
    pub confidence: f64,
    pub ts: i64,
    pub window_start: i64,
    pub window_end: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    pub symbols: Vec<String>,
    pub accounts: Vec<String>,
    pub description: String,
    pub evidence: serde_json::Map<String, serde_json::Value>,
}
