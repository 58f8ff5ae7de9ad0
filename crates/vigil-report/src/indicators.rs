//! The manipulation indicators of EU MAR (Regulation (EU) No 596/2014) Annex I, Section A, and
//! which of them each alert type measures. Section 3 of a STOR names the indicators that apply and
//! why; the "why" is each alert's evidence.

use serde::Serialize;
use vigil_core::AlertType;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Indicator {
    /// `A(a)` … `A(g)`.
    pub code: &'static str,
    pub text: &'static str,
}

/// MAR Annex I, Section A: indicators of manipulative behaviour relating to false or misleading
/// signals and to price securing (abridged from the Regulation's text).
pub const ANNEX_I_A: [Indicator; 7] = [
    Indicator {
        code: "A(a)",
        text: "orders or transactions representing a significant proportion of the daily volume in the instrument, in particular when they lead to a significant change in its price",
    },
    Indicator {
        code: "A(b)",
        text: "orders or transactions by persons with a significant buying or selling position in the instrument leading to significant changes in its price",
    },
    Indicator { code: "A(c)", text: "transactions leading to no change in beneficial ownership" },
    Indicator {
        code: "A(d)",
        text: "orders, transactions or cancellations including position reversals in a short period, representing a significant proportion of the daily volume and possibly associated with significant price changes",
    },
    Indicator {
        code: "A(e)",
        text: "orders or transactions concentrated within a short time span in the trading session and leading to a price change which is subsequently reversed",
    },
    Indicator {
        code: "A(f)",
        text: "orders that change the representation of the best bid or offer prices, or more generally of the order book, and are removed before they are executed",
    },
    Indicator {
        code: "A(g)",
        text: "orders or transactions at or around a specific time when reference prices, settlement prices and valuations are calculated, leading to price changes which affect them",
    },
];

/// The Annex I indicators an alert type measures (empty: it supports a suspicion without being
/// one of them by itself, like a venue's price departing from the others').
pub fn for_type(t: AlertType) -> Vec<Indicator> {
    let codes: &[&str] = match t {
        AlertType::Spoofing | AlertType::Layering | AlertType::QuoteStuffing | AlertType::CrossVenueManipulation => &["A(f)"],
        AlertType::WashTrading => &["A(c)"],
        AlertType::PumpAndDump => &["A(a)", "A(b)", "A(e)"],
        AlertType::MomentumIgnition => &["A(d)", "A(e)"],
        AlertType::MarkingTheClose => &["A(g)"],
        AlertType::VolumeSpike | AlertType::PriceAnomaly => &["A(a)"],
        AlertType::ConcentratedTrading => &["A(a)", "A(b)"],
        AlertType::UnusualTiming | AlertType::PriceDiscrepancy | AlertType::MlAnomaly => &[],
    };
    ANNEX_I_A.iter().filter(|i| codes.contains(&i.code)).copied().collect()
}

/// The category of a US SAR an alert type falls in: (code, label). FinCEN SAR (the 2018 form),
/// Part II item 40, securities/futures/options: a insider trading, b market manipulation,
/// c misappropriation, d unauthorized pooling, e wash trading, z other.
pub fn sar_category(t: AlertType) -> (&'static str, &'static str) {
    match t {
        AlertType::WashTrading => ("40e", "Wash trading"),
        AlertType::Spoofing
        | AlertType::Layering
        | AlertType::PumpAndDump
        | AlertType::QuoteStuffing
        | AlertType::MomentumIgnition
        | AlertType::MarkingTheClose
        | AlertType::CrossVenueManipulation
        | AlertType::ConcentratedTrading => ("40b", "Market manipulation"),
        _ => ("40z", "Other"),
    }
}
