//! The detectors, one module each. [`build`] makes a shard's set from the configuration, always in
//! the same order (which fixes the order of alerts one event raises).

use crate::config::Config;
use crate::engine::Detector;

pub mod concentrated_trading;
pub mod fictitious;
pub mod marking_the_close;
pub mod ml_anomaly;
pub mod momentum_ignition;
pub mod price_anomaly;
pub mod price_discrepancy;
pub mod pump_and_dump;
pub mod quote_stuffing;
pub mod unusual_timing;
pub mod volume_spike;
pub mod wash_trading;

use vigil_core::AlertType;

/// Sorts accounts by name. What reaches an alert (the order of its accounts, its id, which of two
/// equal candidates is named) never depends on interned ids, whose order is the order in which a
/// process first met the names: a Kafka worker meets one partition's, `vigil replay` the whole
/// stream's, and both must raise the same alerts.
pub fn sort_by_name(accounts: &mut [vigil_core::ids::AccountId], names: &vigil_core::Names) {
    accounts.sort_by_cached_key(|a| names.account(*a));
}

/// Two accounts in the order of their names (see [`sort_by_name`]).
pub fn by_name(names: &vigil_core::Names, a: vigil_core::ids::AccountId, b: vigil_core::ids::AccountId) -> std::cmp::Ordering {
    if a == b {
        return std::cmp::Ordering::Equal;
    }
    names.account(a).cmp(&names.account(b))
}

/// Accounts' names, sorted and joined: a key for a group that does not depend on interned ids.
pub fn names_key(accounts: &[vigil_core::ids::AccountId], names: &vigil_core::Names) -> Vec<u8> {
    let mut v: Vec<std::sync::Arc<str>> = accounts.iter().map(|a| names.account(*a)).collect();
    v.sort_unstable();
    v.iter().flat_map(|n| n.as_bytes().iter().copied().chain(std::iter::once(0))).collect()
}

/// Every enabled detector, in a fixed order.
pub fn build(config: &Config) -> Vec<Box<dyn Detector>> {
    let mut v: Vec<Box<dyn Detector>> = Vec::new();
    let d = &config.detectors;
    if d.spoofing.enabled || d.layering.enabled || d.cross_venue_manipulation.enabled {
        v.push(Box::new(fictitious::Fictitious::new(d.spoofing.clone(), d.layering.clone(), d.cross_venue_manipulation.clone())));
    }
    if d.wash_trading.enabled {
        v.push(Box::new(wash_trading::WashTrading::new(d.wash_trading.clone())));
    }
    if d.pump_and_dump.enabled {
        v.push(Box::new(pump_and_dump::PumpAndDump::new(d.pump_and_dump.clone())));
    }
    if d.quote_stuffing.enabled {
        v.push(Box::new(quote_stuffing::QuoteStuffing::new(d.quote_stuffing.clone())));
    }
    if d.momentum_ignition.enabled {
        v.push(Box::new(momentum_ignition::MomentumIgnition::new(d.momentum_ignition.clone())));
    }
    if d.marking_the_close.enabled {
        v.push(Box::new(marking_the_close::MarkingTheClose::new(d.marking_the_close.clone())));
    }
    if d.volume_spike.enabled {
        v.push(Box::new(volume_spike::VolumeSpike::new(d.volume_spike.clone())));
    }
    if d.price_anomaly.enabled {
        v.push(Box::new(price_anomaly::PriceAnomaly::new(d.price_anomaly.clone())));
    }
    if d.concentrated_trading.enabled {
        v.push(Box::new(concentrated_trading::ConcentratedTrading::new(d.concentrated_trading.clone())));
    }
    if d.unusual_timing.enabled {
        v.push(Box::new(unusual_timing::UnusualTiming::new(d.unusual_timing.clone())));
    }
    if d.price_discrepancy.enabled {
        v.push(Box::new(price_discrepancy::PriceDiscrepancy::new(d.price_discrepancy.clone())));
    }
    // Scores with a loaded model when enabled; always cuts windows for `vigil train`'s collector.
    if d.ml_anomaly.enabled || d.ml_anomaly.collect.0.is_some() {
        if let Some(m) = ml_anomaly::MlAnomaly::new(d.ml_anomaly.clone()) {
            v.push(Box::new(m));
        }
    }
    v
}

/// One entry of the catalogue `vigil list-patterns` prints.
pub struct Pattern {
    pub kind: AlertType,
    /// The detector module (and `vigil.toml` section) that raises it.
    pub module: &'static str,
    pub description: &'static str,
    pub indicators: &'static str,
    pub basis: &'static str,
}

/// Every alert type this build raises, with what it looks for.
pub const CATALOGUE: [Pattern; 14] = [
    Pattern {
        kind: AlertType::Spoofing,
        module: "fictitious",
        description: "Large visible orders cancelled quickly with little fill while the same party executes on the other side.",
        indicators: "order size vs genuine opposite order and displayed depth; lifetime; fill ratio; opposite fill then cancel; repetition",
        basis: "CEA 4c(a)(5)(C); EU MAR Annex I(A)(f), Annex II 1(c)",
    },
    Pattern {
        kind: AlertType::Layering,
        module: "fictitious",
        description: "Orders stacked at successive price levels on one side, cancelled together after opposite execution or repriced away from the touch.",
        indicators: "distinct price levels; amends without fills; distance from the touch; opposite execution",
        basis: "EU MAR Annex I(A)(f), Annex II 1(d); CEA 4c(a)(5)(C); Coscia, Sarao",
    },
    Pattern {
        kind: AlertType::WashTrading,
        module: "wash_trading",
        description: "Trades without change of beneficial ownership: self-trades, same-owner trades, closed rings of accounts.",
        indicators: "buyer and seller party; ring strongly connected; members flat within 1 %; internal volume share",
        basis: "FINRA 5210, 6140(b); CEA 4c(a)(2)(A); EU MAR Annex I(A)(c)",
    },
    Pattern {
        kind: AlertType::PumpAndDump,
        module: "pump_and_dump",
        description: "A burst of concentrated aggressive buying that lifts the price, then the fall that follows.",
        indicators: "rush orders; trade count, buy volume and price over 25 s vs baseline; top buyers' share; fall from peak",
        basis: "EU MAR Annex I(A)(a)/(b); La Morgia et al. 2020",
    },
    Pattern {
        kind: AlertType::QuoteStuffing,
        module: "quote_stuffing",
        description: "One account's burst of order messages, nearly all cancelled.",
        indicators: "messages per second; cancel ratio; rate vs the account's usual rate",
        basis: "EU MAR Annex II 1(c), 1(e)",
    },
    Pattern {
        kind: AlertType::MomentumIgnition,
        module: "momentum_ignition",
        description: "Passive orders on one side, aggressive trades on the other that move the price, then the passive orders filled (or, the attempt, still resting ahead of the push).",
        indicators: "aggressive trades and share; price move against the usual 10 s move; passive fill after the move, or bait orders set out ahead of it",
        basis: "EU MAR Annex I(A)(d)/(e), Annex II 1(a)/(c), Art. 15 (attempts); ESMA, IOSCO",
    },
    Pattern {
        kind: AlertType::MarkingTheClose,
        module: "marking_the_close",
        description: "One party's aggressive trades moving the price just before a close, fixing or funding time.",
        indicators: "aggressive trades in the window; share of volume; price move toward the reference time",
        basis: "EU MAR Annex I(A)(g), Annex II 1(b); CFTC v. Optiver (2008)",
    },
    Pattern {
        kind: AlertType::CrossVenueManipulation,
        module: "fictitious",
        description: "Spoofing or layering on one venue while the same party trades the instrument on another.",
        indicators: "spoofing and layering indicators; opposite execution on another venue",
        basis: "EU MAR Art. 12(1)(a),(c) across venues",
    },
    Pattern {
        kind: AlertType::VolumeSpike,
        module: "volume_spike",
        description: "A window's traded volume far above the instrument's robust rolling baseline.",
        indicators: "volume vs median, MAD and busiest baseline window",
        basis: "EU MAR Annex I(A)(a)",
    },
    Pattern {
        kind: AlertType::PriceAnomaly,
        module: "price_anomaly",
        description: "A price move far beyond the instrument's own volatility, or beyond an absolute band.",
        indicators: "move vs rolling, long-memory and fast volatility; absolute move",
        basis: "EU MAR Annex I(A)(b),(g)",
    },
    Pattern {
        kind: AlertType::ConcentratedTrading,
        module: "concentrated_trading",
        description: "One account party to a large share of an instrument's volume.",
        indicators: "top account share; Herfindahl index; trades in the window",
        basis: "EU MAR Annex I(A)(a)",
    },
    Pattern {
        kind: AlertType::UnusualTiming,
        module: "unusual_timing",
        description: "An account active far outside its usual hours, or many accounts ordering in the same instant.",
        indicators: "hours from the account's usual hours; distinct accounts per instant vs the busiest recent instant",
        basis: "EU MAR Annex I(A); ESMA MAR guidelines",
    },
    Pattern {
        kind: AlertType::PriceDiscrepancy,
        module: "price_discrepancy",
        description: "One venue's price apart from the other venues' for the same instrument, for longer than arbitrage allows.",
        indicators: "deviation from the other venues' median; persistence",
        basis: "EU MAR Art. 12(1)(a)(ii) across venues",
    },
    Pattern {
        kind: AlertType::MlAnomaly,
        module: "ml_anomaly",
        description: "A window of an instrument's, or of one account's, activity unlike the windows a trained Isolation Forest learnt as normal; the evidence names the features that made it odd.",
        indicators: "market: volume and price volatility, volume-price correlation, Herfindahl, trade frequency, cancel rate, book imbalance, spread, rush orders; account: order-to-trade ratio, cancel latency, size vs own median, side switching, hour share, cancel ratio, message rate",
        basis: "EU MAR Art. 16 (detection of suspicious orders and transactions); Liu, Ting and Zhou 2008",
    },
];

/// An order's fills or cancel within this long of its placement happened on arrival: a marketable
/// order's sweep and the cancel of its unfilled rest (immediate-or-cancel) are one act, not an
/// order that rested (a feed may stamp them a few microseconds apart).
pub(crate) const ON_ARRIVAL: i64 = 1_000_000;

/// The sizes of an instrument's last `RecentSizes::N` orders to rest (a ring), for its typical
/// order size: large for the market is judged against their median.
#[derive(Default)]
pub(crate) struct RecentSizes {
    sizes: Vec<f64>,
    next: usize,
}

impl RecentSizes {
    pub(crate) const N: usize = 512;

    pub(crate) fn push(&mut self, size: f64) {
        if self.sizes.len() < Self::N {
            self.sizes.push(size);
        } else {
            self.sizes[self.next] = size;
            self.next = (self.next + 1) % Self::N;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.sizes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Their median; `None` before the first.
    pub(crate) fn median(&self) -> Option<f64> {
        median(&mut self.sizes.clone())
    }
}

/// Median of a small sample (the baselines are tens of windows); `None` when empty.
pub(crate) fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    Some(if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 })
}

/// Per-slot state, grown as instruments appear.
pub(crate) fn slot<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if v.len() <= i {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

/// A number for a sentence: at most 6 significant digits, no trailing zeros.
pub(crate) fn num(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (6 - 1 - x.abs().log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A multiple or a percentage for a sentence: 1 decimal from 10 up, 2 below (`27.2`, `3.43`).
pub(crate) fn short(x: f64) -> String {
    if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `HH:MM:SS` UTC of an event time.
pub(crate) fn clock(ts: vigil_core::Ts) -> String {
    let s = ts.to_string();
    s[11..19].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        assert_eq!(num(1234.5678), "1234.57");
        assert_eq!(num(0.0123456789), "0.0123457");
        assert_eq!(num(3.0), "3");
        assert_eq!(short(27.1531), "27.2");
        assert_eq!(short(3.20424), "3.20");
        assert_eq!(clock(vigil_core::Ts(1_340_285_400_000_000_000)), "13:30:00");
    }
}
