//! `vigil.toml`: the engine's settings and each detector's parameters. The defaults *are* the
//! commented file `vigil config default` prints (it is parsed to make [`Config::default`]), so the
//! documentation and the behaviour cannot drift apart.

use serde::{Deserialize, Deserializer};
use vigil_core::time::parse_duration;

/// The default configuration, with comments.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// A span of event time in nanoseconds, written `"60s"` in the file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Duration(pub i64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ns = parse_duration(&s).map_err(serde::de::Error::custom)?;
        if ns <= 0 {
            return Err(serde::de::Error::custom(format!("duration {s:?} must be positive")));
        }
        Ok(Duration(ns))
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub threads: usize,
    pub reorder_tolerance: Duration,
    pub dedup_window: Duration,
    pub dedup_max_ids: usize,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpikeConfig {
    pub enabled: bool,
    pub window: Duration,
    pub baseline_windows: usize,
    pub min_baseline_windows: usize,
    pub multiplier: f64,
    pub mad_multiplier: f64,
    pub record_multiplier: f64,
    pub min_trades: u32,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceAnomalyConfig {
    pub enabled: bool,
    pub window: Duration,
    pub baseline_windows: usize,
    pub min_baseline_windows: usize,
    pub long_halflife_windows: usize,
    pub sigma_multiplier: f64,
    pub min_move: f64,
    pub absolute_move: f64,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DetectorsConfig {
    pub volume_spike: VolumeSpikeConfig,
    pub price_anomaly: PriceAnomalyConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub engine: EngineConfig,
    pub detectors: DetectorsConfig,
}

/// A configuration file that cannot be used; the message names the key and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Default for Config {
    fn default() -> Self {
        toml::from_str(DEFAULT_TOML).expect("the embedded default configuration parses")
    }
}

impl Config {
    /// Reads a configuration: the user's keys over the defaults. Unknown keys are errors, so a
    /// misspelt threshold never silently keeps its default.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut base: toml::Value = toml::from_str(DEFAULT_TOML).expect("the embedded default configuration parses");
        let user: toml::Value = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        merge(&mut base, user);
        let cfg: Config = base.try_into().map_err(|e: toml::de::Error| ConfigError(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let v = &self.detectors.volume_spike;
        let bad = |k: &str, why: &str| Err(ConfigError(format!("{k}: {why}")));
        if v.baseline_windows == 0 || v.min_baseline_windows > v.baseline_windows {
            return bad("detectors.volume_spike.min_baseline_windows", "must be at most baseline_windows, which must be > 0");
        }
        if v.multiplier.is_nan() || v.multiplier < 1.0 || v.mad_multiplier.is_nan() || v.mad_multiplier < 0.0 {
            return bad("detectors.volume_spike.multiplier", "must be >= 1 (and mad_multiplier >= 0)");
        }
        let p = &self.detectors.price_anomaly;
        if p.baseline_windows == 0 || p.min_baseline_windows > p.baseline_windows {
            return bad("detectors.price_anomaly.min_baseline_windows", "must be at most baseline_windows, which must be > 0");
        }
        if p.sigma_multiplier.is_nan()
            || p.sigma_multiplier <= 0.0
            || p.min_move.is_nan()
            || p.min_move < 0.0
            || p.absolute_move.is_nan()
            || p.absolute_move <= 0.0
        {
            return bad("detectors.price_anomaly", "sigma_multiplier and absolute_move must be > 0, min_move >= 0");
        }
        Ok(())
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_file() {
        let c = Config::default();
        assert_eq!(c.detectors.volume_spike.multiplier, 3.0);
        assert_eq!(c.detectors.volume_spike.window, Duration(60_000_000_000));
        assert_eq!(c.detectors.price_anomaly.absolute_move, 0.15);
        assert_eq!(c.engine.reorder_tolerance, Duration(5_000_000));
        assert_eq!(Config::from_toml("").unwrap(), c);
    }

    #[test]
    fn user_keys_override_and_typos_fail() {
        let c = Config::from_toml("[detectors.volume_spike]\nmultiplier = 4.5\n").unwrap();
        assert_eq!(c.detectors.volume_spike.multiplier, 4.5);
        assert_eq!(c.detectors.volume_spike.min_trades, 5);
        let e = Config::from_toml("[detectors.volume_spike]\nmultiplyer = 4.5\n").unwrap_err();
        assert!(e.0.contains("multiplyer"), "{e}");
        let e = Config::from_toml("[engine]\nreorder_tolerance = \"5 fortnights\"\n").unwrap_err();
        assert!(e.0.contains("unknown unit"), "{e}");
        let e = Config::from_toml("[detectors.volume_spike]\nmultiplier = 0.5\n").unwrap_err();
        assert!(e.0.contains("multiplier"), "{e}");
    }
}
