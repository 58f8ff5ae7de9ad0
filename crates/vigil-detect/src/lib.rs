//! Vigil's detection engine: the [`Detector`] trait, the detectors, the alert builder and the
//! deterministic sharded [`Engine`]. Detection is a pure function of the event stream.

pub mod activity;
pub mod builder;
pub mod config;
pub mod detectors;
pub mod engine;
pub mod health;
pub mod ml;
pub mod profile;

pub use builder::{AlertBuilder, Signal};
pub use config::{Config, ConfigError, DEFAULT_TOML};
pub use engine::{Context, Detector, Engine, Instrument, Shard, ShardStats};
