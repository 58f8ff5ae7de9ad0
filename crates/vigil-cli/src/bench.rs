//! `vigil bench`: generates N events in memory, then measures the engine on them: one shard on
//! one core (the engine alone, no I/O), and the threaded engine as `replay` runs it. Reports the
//! median of the runs, in events a second.

use crate::replay::group;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use vigil_core::Interner;
use vigil_detect::{Config, Engine, Shard};
use vigil_sim::{Synth, SynthConfig};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Events to generate.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: usize,
    #[arg(long, default_value_t = 16)]
    pub symbols: usize,
    /// Shards for the threaded run (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also measure each detector alone on one shard, against the engine with none: its cost in
    /// nanoseconds an event.
    #[arg(long)]
    pub per_detector: bool,
}

fn group_digits(x: f64) -> String {
    group(x as u64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let mut interner = Interner::new();
    let t = crate::wall::now();
    let events: Vec<_> = Synth::new(SynthConfig { seed: a.seed, symbols: a.symbols, ..Default::default() }, &mut interner).take(a.events).collect();
    let names = interner.names();
    eprintln!("vigil bench: generated {} events over {} instruments in {:.2} s", group(events.len() as u64), a.symbols, t.elapsed().as_secs_f64());
    // As `vigil replay` runs without `--store`: account profiles are counted only where they are
    // stored; their cost is measured apart (`--per-detector`).
    let config = Config::default().without_profiles();
    let runs = a.runs.max(1);

    let mut single = Vec::new();
    let mut alerts = 0;
    for _ in 0..runs {
        let mut shard = Shard::new(&config, names.clone());
        let mut out = Vec::new();
        let t = crate::wall::now();
        for e in &events {
            shard.process(e, &mut out);
        }
        single.push(events.len() as f64 / t.elapsed().as_secs_f64());
        alerts = out.len();
    }
    let threads = crate::replay::threads(&config, a.threads)?;
    let mut threaded = Vec::new();
    for _ in 0..runs {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let t = crate::wall::now();
        let mut engine = Engine::start(
            &config,
            threads,
            names.clone(),
            Box::new(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            }),
        );
        for e in &events {
            engine.push(e.clone());
        }
        engine.finish().map_err(anyhow::Error::msg)?;
        threaded.push(events.len() as f64 / t.elapsed().as_secs_f64());
        anyhow::ensure!(count.load(Ordering::Relaxed) as usize == alerts, "the threaded engine raised a different number of alerts");
    }
    let (s, m) = (median(single.clone()), median(threaded.clone()));
    let mut costs = serde_json::Map::new();
    if a.per_detector {
        let rate = |c: &Config| {
            let mut v = Vec::new();
            for _ in 0..runs {
                let mut shard = Shard::new(c, names.clone());
                let mut out = Vec::new();
                let t = crate::wall::now();
                for e in &events {
                    shard.process(e, &mut out);
                }
                v.push(events.len() as f64 / t.elapsed().as_secs_f64());
            }
            median(v)
        };
        // `ml_anomaly` scores with a model: one trained on these very events (what it learnt does
        // not change what scoring costs).
        // Too few windows to learn from (a small --events) leaves it out.
        let ml_config = match with_model(&config, &events, &names) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("vigil bench: ml_anomaly is not measured: {e:#}");
                None
            }
        };
        let none = rate(&config.only(&[]));
        costs.insert("none_events_per_sec".into(), serde_json::json!(none.round()));
        // The account profiles (`replay --store`, the serve's sessions), beside the book and party activity.
        let mut with_profiles = config.only(&[]);
        with_profiles.profiles.enabled = true;
        let counted = rate(&with_profiles);
        let ns = (1e9 / counted - 1e9 / none).max(0.0);
        costs.insert("profiles".into(), serde_json::json!((ns * 10.0).round() / 10.0));
        if !a.json {
            println!("  {:<26} {:>7.1} ns/event  (with the book and party activity: {} events/s)", "account profiles", ns, group_digits(counted));
        }
        costs.insert("all_events_per_sec".into(), serde_json::json!(s.round()));
        // Spoofing, layering and cross-venue manipulation are one detector module.
        for group in [
            &["spoofing", "layering", "cross_venue_manipulation"][..],
            &["wash_trading"],
            &["pump_and_dump"],
            &["quote_stuffing"],
            &["momentum_ignition"],
            &["marking_the_close"],
            &["volume_spike"],
            &["price_anomaly"],
            &["concentrated_trading"],
            &["unusual_timing"],
            &["price_discrepancy"],
            &["ml_anomaly"],
        ] {
            let Some(c) = (if group[0] == "ml_anomaly" { ml_config.as_ref() } else { Some(&config) }) else { continue };
            let r = rate(&c.only(group));
            let ns = (1e9 / r - 1e9 / none).max(0.0);
            costs.insert(group[0].to_string(), serde_json::json!((ns * 10.0).round() / 10.0));
            if !a.json {
                println!("  {:<26} {:>7.1} ns/event  (alone: {} events/s)", group.join("+"), ns, group_digits(r));
            }
        }
        let all_ml = ml_config.as_ref().map(&rate);
        if let Some(r) = all_ml {
            costs.insert("all_with_ml_events_per_sec".into(), serde_json::json!(r.round()));
        }
        if !a.json {
            println!(
                "  book and party activity only: {} events/s; every detector: {} events/s; and ml_anomaly: {} events/s",
                group_digits(none),
                group_digits(s),
                all_ml.map_or("-".into(), group_digits)
            );
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({"events": events.len(), "runs": runs, "single_shard_events_per_sec": s, "threaded_events_per_sec": m, "threads": threads, "alerts": alerts, "single_runs": single, "threaded_runs": threaded, "detector_cost_ns": costs})
        );
    } else {
        println!("engine alone, 1 shard on 1 core: {} events/s (median of {runs})", group(s as u64));
        println!("engine, {threads} shard thread(s), fed from this thread: {} events/s (median of {runs})", group(m as u64));
        println!("alerts raised: {alerts}");
    }
    Ok(())
}

/// The configuration with `ml_anomaly` on, scoring with a model trained on `events`.
fn with_model(config: &Config, events: &[vigil_core::Event], names: &Arc<vigil_core::Names>) -> anyhow::Result<Config> {
    use vigil_detect::config::Shared;
    let mut c = config.only(&[]);
    let collected = Arc::new(std::sync::Mutex::new(vigil_detect::detectors::ml_anomaly::Collected::default()));
    c.detectors.ml_anomaly.collect = Shared(Some(collected.clone()));
    let mut shard = Shard::new(&c, names.clone());
    let mut out = Vec::new();
    for e in events {
        shard.process(e, &mut out);
    }
    drop(shard);
    let rows = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    let m = &config.detectors.ml_anomaly;
    let windows = vigil_detect::ml::Windows { window_ns: m.window.0, min_trades: m.min_trades, min_events: m.min_events };
    let model =
        vigil_detect::ml::Model::train(windows, &vigil_ml::Params::default(), 0.001, &rows.market, &rows.account, Vec::new()).map_err(anyhow::Error::msg)?;
    let mut c = config.clone();
    c.detectors.ml_anomaly.enabled = true;
    c.detectors.ml_anomaly.model = "(trained on the benchmark's events)".into();
    c.detectors.ml_anomaly.loaded = Shared(Some(Arc::new(model)));
    Ok(c)
}
