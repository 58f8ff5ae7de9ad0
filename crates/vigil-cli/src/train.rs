//! `vigil train`: learns normal activity for `ml_anomaly`. The event files are read as `vigil
//! replay` reads them and run through one shard with only the window cutter of `ml_anomaly`, which
//! hands every window's features here instead of scoring them (the same code that scores them
//! later); the two forests are grown on those rows and written, with what they were trained on, to
//! the model file a configuration names.

use crate::replay::{group, read_config, stream_of};
use anyhow::Context as _;
use std::io::Write;
use std::sync::{Arc, Mutex};
use vigil_detect::config::Shared;
use vigil_detect::detectors::ml_anomaly::Collected;
use vigil_detect::ml::{Model, Scope, Windows};
use vigil_detect::Shard;

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Event files of normal activity (as `vigil replay` reads them).
    #[arg(long, num_args = 1.., required = true)]
    pub events: Vec<String>,
    /// The model file to write.
    #[arg(long)]
    pub out: String,
    /// The input format when the file name does not say (as `vigil replay --format`).
    #[arg(long)]
    pub format: Option<String>,
    /// A configuration: its `[detectors.ml_anomaly]` window, min_trades and min_events cut the windows.
    #[arg(long)]
    pub config: Option<String>,
    /// The share of training windows taken to be anomalous: the threshold is the score above all
    /// but this share of them (0: the highest score of a training window, so that only a window
    /// odder than any the model saw alerts).
    #[arg(long, default_value_t = 0.001)]
    pub contamination: f64,
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    #[arg(long, default_value_t = 256)]
    pub subsample: usize,
    /// The same seed and input give the same model.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write rejected lines here (one JSON object a line).
    #[arg(long)]
    pub rejects: Option<String>,
    /// No summary on the terminal.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn train(a: TrainArgs) -> anyhow::Result<()> {
    let mut config = read_config(a.config.as_deref(), false)?.only(&[]).without_profiles();
    let collected = Arc::new(Mutex::new(Collected::default()));
    config.detectors.ml_anomaly.collect = Shared(Some(collected.clone()));
    let m = &config.detectors.ml_anomaly;
    let windows = Windows { window_ns: m.window.0, min_trades: m.min_trades, min_events: m.min_events };
    let rejects: Option<Box<dyn Write + Send>> = match &a.rejects {
        Some(p) => Some(Box::new(std::fs::File::create(p).with_context(|| format!("cannot create {p}"))?)),
        None => None,
    };
    let started = crate::wall::now();
    let mut stream = stream_of(&a.events, a.format.as_deref(), &config, rejects)?;
    // One shard: the windows reach the forests in input order, so the model depends only on the input.
    let mut shard = Shard::new(&config, stream.names());
    let mut out = Vec::new();
    let mut events = 0u64;
    while let Some(ev) = stream.next_event() {
        shard.process(&ev, &mut out);
        events += 1;
    }
    if let Some(e) = stream.errors().first() {
        anyhow::bail!("{e}");
    }
    stream.rejects.finish().context("cannot write the rejects")?;
    drop(shard);
    let c = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    let params = vigil_ml::Params { trees: a.trees, subsample: a.subsample, seed: a.seed };
    let model = Model::train(windows, &params, a.contamination, &c.market, &c.account, a.events.clone()).map_err(anyhow::Error::msg)?;
    model.save(std::path::Path::new(&a.out)).map_err(anyhow::Error::msg)?;
    if !a.quiet {
        println!(
            "{} events ({} rejected) in {:.1} s: {} market windows, {} account windows of {} s",
            group(events),
            group(stream.rejects.total()),
            started.elapsed().as_secs_f64(),
            group(c.market.len() as u64),
            group(c.account.len() as u64),
            model.windows.window_ns as f64 / 1e9
        );
        for scope in [Scope::Market, Scope::Account] {
            let Some(p) = model.part(scope) else {
                println!("{}: too few windows for a forest (at least 32); nothing of this kind will be scored", scope.as_str());
                continue;
            };
            println!(
                "{}: {} trees on {} windows; threshold {:.4} (score median {:.4})",
                scope.as_str(),
                params.trees,
                p.rows,
                p.threshold,
                p.score_quantiles[50]
            );
            println!("  {:<26} {:>12} {:>12} {:>12}", "feature", "median", "p99", "max");
            for (j, (name, _, _)) in scope.features().iter().enumerate() {
                let q = p.feature_quantiles(j);
                println!("  {:<26} {:>12.4} {:>12.4} {:>12.4}", name, q[50], q[99], q[100]);
            }
        }
        println!("model written to {}; enable it with [detectors.ml_anomaly] enabled = true, model = {:?}", a.out, a.out);
    }
    Ok(())
}
