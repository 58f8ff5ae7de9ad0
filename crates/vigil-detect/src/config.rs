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
pub struct SpoofingConfig {
    pub enabled: bool,
    pub max_lifetime: Duration,
    pub max_fill_ratio: f64,
    pub min_size_ratio: f64,
    pub min_depth_share: f64,
    pub depth_levels: usize,
    pub max_cancel_delay: Duration,
    pub max_fill_wait: Duration,
    pub max_same_side: f64,
    pub min_typical_ratio: f64,
    pub min_episodes: usize,
    pub repeat_window: Duration,
    pub weak_repeat_window: Duration,
    pub single_depth_share: f64,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LayeringConfig {
    pub enabled: bool,
    pub min_levels: usize,
    pub min_levels_first: usize,
    pub min_size_ratio: f64,
    pub min_depth_share: f64,
    pub min_typical_ratio: f64,
    pub min_amends: u32,
    pub window: Duration,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrossVenueConfig {
    pub enabled: bool,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WashTradingConfig {
    pub enabled: bool,
    pub window: Duration,
    pub min_trades: u32,
    pub ring_windows: Vec<Duration>,
    pub net_margin: f64,
    pub min_ring_trades: u32,
    pub max_ring_size: usize,
    pub min_internal_share: f64,
    pub cycle_window: Duration,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PumpAndDumpConfig {
    pub enabled: bool,
    pub chunk: Duration,
    pub window_chunks: usize,
    pub baseline_chunks: usize,
    pub min_baseline_chunks: usize,
    pub volume_multiplier: f64,
    pub trades_multiplier: f64,
    pub min_rise: f64,
    pub crowd_min_rise: f64,
    pub min_rush_orders: u32,
    pub min_top_share: f64,
    pub rush_buyers: u32,
    pub rush_gap: Duration,
    pub min_rush_bursts: u32,
    pub dump_fraction: f64,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuoteStuffingConfig {
    pub enabled: bool,
    pub window: Duration,
    pub min_messages: u32,
    pub min_cancel_ratio: f64,
    pub rate_multiplier: f64,
    pub max_order_life: Duration,
    pub max_requote_share: f64,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MomentumIgnitionConfig {
    pub enabled: bool,
    pub window: Duration,
    pub min_aggressive_trades: u32,
    pub min_move: f64,
    pub min_move_sigmas: f64,
    pub min_move_floor: f64,
    pub min_share: f64,
    pub min_bait_orders: u32,
    pub bait_span: Duration,
    pub attempt_min_trades: u32,
    pub attempt_min_move_sigmas: f64,
    pub attempt_min_share: f64,
    pub attempt_max_bait_sigmas: f64,
    pub attempt_max_bait_lead: Duration,
    pub short_push_min_levels: usize,
    pub short_push_max_bait_sigmas: f64,
    pub short_push_min_typical_ratio: f64,
    pub single_min_move_sigmas: f64,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarkingTheCloseConfig {
    pub enabled: bool,
    pub every: Duration,
    pub reference_times: Vec<String>,
    pub window: Duration,
    pub min_trades: u32,
    pub min_move: f64,
    pub min_share: f64,
    pub final_window: Duration,
    pub final_gap: Duration,
    pub min_final_share: f64,
    pub min_final_fraction: f64,
    pub max_other_way: f64,
    pub max_other_way_window: f64,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceDiscrepancyConfig {
    pub enabled: bool,
    pub threshold: f64,
    pub staleness: Duration,
    pub persistence: Duration,
    pub rejoin: Duration,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConcentratedTradingConfig {
    pub enabled: bool,
    pub window: Duration,
    pub min_trades: u32,
    pub top_share: f64,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UnusualTimingConfig {
    pub enabled: bool,
    pub min_history_events: u32,
    pub min_history_span: Duration,
    pub min_hours_away: u32,
    pub quiet_share: f64,
    pub instant: Duration,
    pub min_accounts: usize,
    pub record_multiplier: f64,
    pub baseline_instants: usize,
    pub min_rhythm_minutes: u32,
    pub min_rhythm_span: Duration,
    pub min_rhythm_share: f64,
    pub min_off_rhythm: usize,
    pub off_rhythm_window: Duration,
    pub cooldown: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlAnomalyConfig {
    pub enabled: bool,
    /// The model file (`vigil train`); relative to the configuration file's directory.
    pub model: String,
    /// Overrides the model's threshold when above 0.
    pub threshold: f64,
    /// Used by `vigil train` and recorded in the model; scoring uses the model's.
    pub window: Duration,
    pub min_trades: u32,
    pub min_events: u32,
    /// Features named in an alert's sentence, at most.
    pub explain_features: usize,
    pub cooldown: Duration,
    /// The model, once read ([`Config::load_model`]).
    #[serde(skip)]
    pub loaded: Shared<crate::ml::Model>,
    /// Set by `vigil train`: windows are collected here instead of scored.
    #[serde(skip)]
    pub collect: Shared<std::sync::Mutex<crate::detectors::ml_anomaly::Collected>>,
}

/// Something a configuration carries that is not read from its file (a loaded model, a collector):
/// shared by the shards' copies, equal only to itself.
#[derive(Debug)]
pub struct Shared<T>(pub Option<std::sync::Arc<T>>);

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(None)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, o: &Self) -> bool {
        match (&self.0, &o.0) {
            (None, None) => true,
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DetectorsConfig {
    pub spoofing: SpoofingConfig,
    pub layering: LayeringConfig,
    pub wash_trading: WashTradingConfig,
    pub pump_and_dump: PumpAndDumpConfig,
    pub quote_stuffing: QuoteStuffingConfig,
    pub momentum_ignition: MomentumIgnitionConfig,
    pub marking_the_close: MarkingTheCloseConfig,
    pub cross_venue_manipulation: CrossVenueConfig,
    pub volume_spike: VolumeSpikeConfig,
    pub price_anomaly: PriceAnomalyConfig,
    pub concentrated_trading: ConcentratedTradingConfig,
    pub unusual_timing: UnusualTimingConfig,
    pub price_discrepancy: PriceDiscrepancyConfig,
    pub ml_anomaly: MlAnomalyConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfilesConfig {
    pub enabled: bool,
    pub period: Duration,
    pub baseline_block: Duration,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub engine: EngineConfig,
    pub profiles: ProfilesConfig,
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
        let base = Config::effective_toml(text)?;
        let cfg: Config = base.try_into().map_err(|e: toml::de::Error| ConfigError(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration in force as TOML: the embedded defaults with `text` laid over them
    /// (what `from_toml` reads, and what the dashboard's settings page shows).
    pub fn effective_toml(text: &str) -> Result<toml::Value, ConfigError> {
        let mut base: toml::Value = toml::from_str(DEFAULT_TOML).expect("the embedded default configuration parses");
        let user: toml::Value = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        merge(&mut base, user);
        Ok(base)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let v = &self.detectors.volume_spike;
        let bad = |k: &str, why: &str| Err(ConfigError(format!("{k}: {why}")));
        let d = &self.detectors;
        let fractions = [
            ("detectors.spoofing.max_fill_ratio", d.spoofing.max_fill_ratio),
            ("detectors.spoofing.min_depth_share", d.spoofing.min_depth_share),
            ("detectors.layering.min_depth_share", d.layering.min_depth_share),
            ("detectors.wash_trading.net_margin", d.wash_trading.net_margin),
            ("detectors.wash_trading.min_internal_share", d.wash_trading.min_internal_share),
            ("detectors.pump_and_dump.min_top_share", d.pump_and_dump.min_top_share),
            ("detectors.pump_and_dump.dump_fraction", d.pump_and_dump.dump_fraction),
            ("detectors.quote_stuffing.min_cancel_ratio", d.quote_stuffing.min_cancel_ratio),
            ("detectors.quote_stuffing.max_requote_share", d.quote_stuffing.max_requote_share),
            ("detectors.momentum_ignition.min_share", d.momentum_ignition.min_share),
            ("detectors.momentum_ignition.attempt_min_share", d.momentum_ignition.attempt_min_share),
            ("detectors.marking_the_close.min_share", d.marking_the_close.min_share),
            ("detectors.concentrated_trading.top_share", d.concentrated_trading.top_share),
            ("detectors.unusual_timing.quiet_share", d.unusual_timing.quiet_share),
            ("detectors.marking_the_close.min_final_fraction", d.marking_the_close.min_final_fraction),
            ("detectors.marking_the_close.max_other_way", d.marking_the_close.max_other_way),
            ("detectors.marking_the_close.max_other_way_window", d.marking_the_close.max_other_way_window),
        ];
        for (k, x) in fractions {
            if !(0.0..=1.0).contains(&x) {
                return bad(k, "must be a fraction between 0 and 1");
            }
        }
        let positive = [
            ("detectors.spoofing.min_size_ratio", d.spoofing.min_size_ratio),
            ("detectors.layering.min_size_ratio", d.layering.min_size_ratio),
            ("detectors.spoofing.min_typical_ratio", d.spoofing.min_typical_ratio),
            ("detectors.layering.min_typical_ratio", d.layering.min_typical_ratio),
            ("detectors.pump_and_dump.volume_multiplier", d.pump_and_dump.volume_multiplier),
            ("detectors.pump_and_dump.trades_multiplier", d.pump_and_dump.trades_multiplier),
            ("detectors.pump_and_dump.min_rise", d.pump_and_dump.min_rise),
            ("detectors.pump_and_dump.crowd_min_rise", d.pump_and_dump.crowd_min_rise),
            ("detectors.quote_stuffing.rate_multiplier", d.quote_stuffing.rate_multiplier),
            ("detectors.momentum_ignition.min_move", d.momentum_ignition.min_move),
            ("detectors.momentum_ignition.min_move_sigmas", d.momentum_ignition.min_move_sigmas),
            ("detectors.momentum_ignition.min_move_floor", d.momentum_ignition.min_move_floor),
            ("detectors.momentum_ignition.attempt_min_move_sigmas", d.momentum_ignition.attempt_min_move_sigmas),
            ("detectors.momentum_ignition.attempt_max_bait_sigmas", d.momentum_ignition.attempt_max_bait_sigmas),
            ("detectors.momentum_ignition.single_min_move_sigmas", d.momentum_ignition.single_min_move_sigmas),
            ("detectors.momentum_ignition.short_push_max_bait_sigmas", d.momentum_ignition.short_push_max_bait_sigmas),
            ("detectors.momentum_ignition.short_push_min_typical_ratio", d.momentum_ignition.short_push_min_typical_ratio),
            ("detectors.marking_the_close.min_move", d.marking_the_close.min_move),
            ("detectors.price_discrepancy.threshold", d.price_discrepancy.threshold),
            ("detectors.unusual_timing.record_multiplier", d.unusual_timing.record_multiplier),
            ("detectors.marking_the_close.min_final_share", d.marking_the_close.min_final_share),
            ("detectors.unusual_timing.min_rhythm_share", d.unusual_timing.min_rhythm_share),
            ("detectors.spoofing.single_depth_share", d.spoofing.single_depth_share),
        ];
        for (k, x) in positive {
            if x.is_nan() || x <= 0.0 {
                return bad(k, "must be > 0");
            }
        }
        let rw = d.wash_trading.ring_windows.len();
        if !(1..=crate::detectors::wash_trading::MAX_RING_WINDOWS).contains(&rw) || d.wash_trading.ring_windows.iter().any(|w| w.0 <= 0) {
            return bad("detectors.wash_trading.ring_windows", "one or two positive spans");
        }
        if d.marking_the_close.min_final_share > 1.0 || d.unusual_timing.min_rhythm_share > 1.0 {
            return bad("detectors.marking_the_close.min_final_share", "min_final_share and unusual_timing.min_rhythm_share are fractions up to 1");
        }
        if d.spoofing.max_same_side.is_nan() || d.spoofing.max_same_side < 0.0 || d.spoofing.max_fill_wait.0 <= 0 {
            return bad("detectors.spoofing.max_same_side", "must be >= 0 (and max_fill_wait > 0)");
        }
        if d.unusual_timing.min_off_rhythm == 0 || d.unusual_timing.off_rhythm_window.0 <= 0 {
            return bad("detectors.unusual_timing.min_off_rhythm", "must be at least 1 (and off_rhythm_window > 0)");
        }
        // A chain's links must still be in the ring graph, which keeps an account while any of its
        // trades is in the longest ring window.
        let longest = d.wash_trading.ring_windows.iter().map(|w| w.0).max().unwrap_or(0);
        if d.wash_trading.cycle_window.0 <= 0 || d.wash_trading.cycle_window.0 >= longest {
            return bad("detectors.wash_trading.cycle_window", "must be positive and shorter than the longest of ring_windows");
        }
        if d.layering.min_levels < 2 {
            return bad("detectors.layering.min_levels", "must be at least 2");
        }
        if d.layering.min_levels_first < d.layering.min_levels {
            return bad("detectors.layering.min_levels_first", "must be at least min_levels");
        }
        if d.pump_and_dump.crowd_min_rise > d.pump_and_dump.min_rise {
            return bad("detectors.pump_and_dump.crowd_min_rise", "must be at most min_rise");
        }
        if d.spoofing.min_episodes == 0 {
            return bad("detectors.spoofing.min_episodes", "must be at least 1");
        }
        // The party's episodes are kept for `spoofing.repeat_window`: a longer window for weak ones
        // would count no more of them.
        if d.spoofing.weak_repeat_window.0 > d.spoofing.repeat_window.0 {
            return bad("detectors.spoofing.weak_repeat_window", "must be at most repeat_window");
        }
        let m = &d.momentum_ignition;
        if m.min_bait_orders == 0 || m.attempt_min_trades == 0 {
            return bad("detectors.momentum_ignition.min_bait_orders", "min_bait_orders and attempt_min_trades must be at least 1");
        }
        if m.short_push_min_levels != 0 && m.short_push_min_levels < m.min_bait_orders as usize {
            return bad("detectors.momentum_ignition.short_push_min_levels", "must be 0 (no short pushes) or at least min_bait_orders");
        }
        if m.short_push_max_bait_sigmas > m.attempt_max_bait_sigmas {
            return bad("detectors.momentum_ignition.short_push_max_bait_sigmas", "must be at most attempt_max_bait_sigmas");
        }
        if m.attempt_max_bait_sigmas < m.attempt_min_move_sigmas {
            return bad("detectors.momentum_ignition.attempt_max_bait_sigmas", "must be at least attempt_min_move_sigmas");
        }
        if m.attempt_max_bait_lead.0 <= 0 {
            return bad("detectors.momentum_ignition.attempt_max_bait_lead", "must be positive");
        }
        if m.bait_span.0 > m.window.0 {
            return bad("detectors.momentum_ignition.bait_span", "must be at most window (the bait is placed within it)");
        }
        if d.pump_and_dump.window_chunks == 0 || d.pump_and_dump.min_baseline_chunks > d.pump_and_dump.baseline_chunks {
            return bad("detectors.pump_and_dump.min_baseline_chunks", "must be at most baseline_chunks (and window_chunks > 0)");
        }
        if d.pump_and_dump.rush_buyers < 2 {
            return bad("detectors.pump_and_dump.rush_buyers", "must be at least 2 (a rush is several hands in one millisecond)");
        }
        if d.pump_and_dump.min_rush_bursts == 0 || d.pump_and_dump.min_rush_orders == 0 {
            return bad("detectors.pump_and_dump.min_rush_bursts", "min_rush_bursts and min_rush_orders must be at least 1");
        }
        // The ring search's buffers hold 16 members (`could_ring`); a closing ring is searched
        // through each member's last four sales, kept small by following only members that have
        // traded little else since.
        if !(2..=16).contains(&d.wash_trading.max_ring_size) {
            return bad("detectors.wash_trading.max_ring_size", "must be 2 to 16");
        }
        if let Err(e) = crate::detectors::marking_the_close::reference_offsets(&d.marking_the_close) {
            return bad("detectors.marking_the_close.reference_times", &e);
        }
        if v.baseline_windows == 0 || v.min_baseline_windows > v.baseline_windows {
            return bad("detectors.volume_spike.min_baseline_windows", "must be at most baseline_windows, which must be > 0");
        }
        if v.multiplier.is_nan() || v.multiplier < 1.0 || v.mad_multiplier.is_nan() || v.mad_multiplier < 0.0 {
            return bad("detectors.volume_spike.multiplier", "must be >= 1 (and mad_multiplier >= 0)");
        }
        if self.profiles.baseline_block.0 < self.profiles.period.0 {
            return bad("profiles.baseline_block", "must be at least a period");
        }
        let ml = &d.ml_anomaly;
        if ml.enabled && ml.model.trim().is_empty() {
            return bad("detectors.ml_anomaly.model", "enabled needs a model file (train one with `vigil train --events FILE... --out MODEL`)");
        }
        if !(0.0..1.0).contains(&ml.threshold) {
            return bad("detectors.ml_anomaly.threshold", "must be at least 0 (the model's) and below 1");
        }
        if ml.explain_features == 0 || ml.min_events == 0 {
            return bad("detectors.ml_anomaly.explain_features", "explain_features and min_events must be at least 1");
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

impl Config {
    /// Each detector section's `enabled` switch, by section name.
    pub fn switches(&mut self) -> Vec<(&'static str, &mut bool)> {
        let d = &mut self.detectors;
        vec![
            ("spoofing", &mut d.spoofing.enabled),
            ("layering", &mut d.layering.enabled),
            ("cross_venue_manipulation", &mut d.cross_venue_manipulation.enabled),
            ("wash_trading", &mut d.wash_trading.enabled),
            ("pump_and_dump", &mut d.pump_and_dump.enabled),
            ("quote_stuffing", &mut d.quote_stuffing.enabled),
            ("momentum_ignition", &mut d.momentum_ignition.enabled),
            ("marking_the_close", &mut d.marking_the_close.enabled),
            ("volume_spike", &mut d.volume_spike.enabled),
            ("price_anomaly", &mut d.price_anomaly.enabled),
            ("concentrated_trading", &mut d.concentrated_trading.enabled),
            ("unusual_timing", &mut d.unusual_timing.enabled),
            ("price_discrepancy", &mut d.price_discrepancy.enabled),
            ("ml_anomaly", &mut d.ml_anomaly.enabled),
        ]
    }

    /// This configuration without account profiles (for runs that never store them: their
    /// counts would only take memory).
    pub fn without_profiles(mut self) -> Config {
        self.profiles.enabled = false;
        self
    }

    /// This configuration with only the named detector sections enabled.
    pub fn only(&self, names: &[&str]) -> Config {
        let mut c = self.clone();
        for (name, on) in c.switches() {
            *on = names.contains(&name);
        }
        c
    }

    /// Reads the model `[detectors.ml_anomaly]` names, when that detector is enabled; a relative
    /// path is taken from `base` (the configuration file's directory).
    pub fn load_model(&mut self, base: Option<&std::path::Path>) -> Result<(), ConfigError> {
        let m = &mut self.detectors.ml_anomaly;
        if !m.enabled {
            return Ok(());
        }
        let path = std::path::Path::new(&m.model);
        let path = match base {
            Some(b) if path.is_relative() => b.join(path),
            _ => path.to_path_buf(),
        };
        let model = crate::ml::Model::load(&path).map_err(|e| ConfigError(format!("detectors.ml_anomaly.model: {e}")))?;
        m.loaded = Shared(Some(std::sync::Arc::new(model)));
        Ok(())
    }

    /// How long the shard keeps each party's trades: as long as the longest look-back of the
    /// detectors that read them.
    pub fn activity_horizon(&self) -> i64 {
        let d = &self.detectors;
        d.spoofing.max_lifetime.0.max(d.layering.window.0).max(d.momentum_ignition.window.0) + 1_000_000_000
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
        // Episodes are kept for `repeat_window`: a longer window for weak ones would see no more.
        let e = Config::from_toml("[detectors.spoofing]\nweak_repeat_window = \"20m\"\n").unwrap_err();
        assert!(e.0.contains("detectors.spoofing.weak_repeat_window") && e.0.contains("repeat_window"), "{e}");
        assert!(Config::from_toml("[detectors.spoofing]\nweak_repeat_window = \"10m\"\n").is_ok());
    }
}
