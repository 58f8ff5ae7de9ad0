//! The detectors, one module each. [`build`] makes a shard's set from the configuration, always in
//! the same order (which fixes the order of alerts one event raises).

use crate::config::Config;
use crate::engine::Detector;

pub mod price_anomaly;
pub mod volume_spike;

/// Every enabled detector, in a fixed order.
pub fn build(config: &Config) -> Vec<Box<dyn Detector>> {
    let mut v: Vec<Box<dyn Detector>> = Vec::new();
    let d = &config.detectors;
    if d.volume_spike.enabled {
        v.push(Box::new(volume_spike::VolumeSpike::new(d.volume_spike.clone())));
    }
    if d.price_anomaly.enabled {
        v.push(Box::new(price_anomaly::PriceAnomaly::new(d.price_anomaly.clone())));
    }
    v
}

/// The names of every detector this build has, for `list-patterns` and the docs.
pub const ALL: [&str; 2] = ["volume_spike", "price_anomaly"];

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
