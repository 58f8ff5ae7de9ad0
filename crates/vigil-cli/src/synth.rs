//! `vigil synth` writes the benchmark's synthetic market to a file; `vigil demo` simulates a
//! labelled market with every kind of manipulation injected, replays it through the same path as
//! `vigil replay`, and scores the alerts against the labels.

use crate::replay::{execute, group, AlertFile, Run};
use anyhow::Context as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use vigil_core::{Interner, Ts};
use vigil_io::{EventWriter, OutFormat};
use vigil_sim::{Seasonality, Synth, SynthConfig};

#[derive(clap::Args)]
pub struct SynthArgs {
    /// How many events.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 8)]
    pub symbols: usize,
    #[arg(long, default_value_t = 1)]
    pub venues: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mean events a second per instrument.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// The file to write: .jsonl or .csv, optionally .gz.
    #[arg(long)]
    pub out: String,
}

fn writer(path: &str) -> anyhow::Result<(Box<dyn Write>, OutFormat)> {
    let format = match vigil_io::Format::from_path(path) {
        Some(vigil_io::Format::Csv) => OutFormat::Csv,
        Some(vigil_io::Format::Jsonl) => OutFormat::Jsonl,
        _ => anyhow::bail!("{path}: the name must end in .jsonl or .csv (optionally .gz)"),
    };
    let f = BufWriter::with_capacity(1 << 20, File::create(path).with_context(|| format!("cannot create {path}"))?);
    let w: Box<dyn Write> = if path.ends_with(".gz") { Box::new(flate2::write::GzEncoder::new(f, flate2::Compression::fast())) } else { Box::new(f) };
    Ok((w, format))
}

fn write_events(cfg: SynthConfig, count: Option<u64>, until: Option<Ts>, path: &str) -> anyhow::Result<u64> {
    let mut interner = Interner::new();
    let synth = Synth::new(cfg, &mut interner);
    let names = interner.names();
    let (w, format) = writer(path)?;
    let mut out = EventWriter::new(w, format);
    let mut n = 0;
    for ev in synth {
        if count.is_some_and(|c| n >= c) || until.is_some_and(|u| ev.ts >= u) {
            break;
        }
        out.write(&ev, &names).with_context(|| format!("cannot write {path}"))?;
        n += 1;
    }
    out.flush()?;
    drop(out.into_inner());
    Ok(n)
}

pub fn write(a: SynthArgs) -> anyhow::Result<()> {
    let cfg = SynthConfig {
        seed: a.seed,
        symbols: a.symbols,
        venues: a.venues,
        rate: a.rate,
        seasonality: Seasonality::UShape { day_ns: 6 * 3_600 * 1_000_000_000 },
        clustering: 0.5,
        ..Default::default()
    };
    let n = write_events(cfg, Some(a.events), None, &a.out)?;
    eprintln!("vigil synth: wrote {} events to {}", group(n), a.out);
    Ok(())
}

/// The scoring demo's settings (`vigil demo --score`).
pub struct DemoArgs {
    /// Where to keep the demo's files (events.jsonl, labels.jsonl, alerts.jsonl).
    pub dir: String,
    pub seed: u64,
    /// A vigil.toml; its keys override the defaults.
    pub config: Option<String>,
}

pub fn demo(a: DemoArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("cannot create {}", a.dir))?;
    let cfg = vigil_sim::SimConfig { seed: a.seed, ..Default::default() };
    eprintln!(
        "vigil demo: a simulated market of {} symbols on {} venues: {} minutes of ordinary trading, then {} minutes with {} kinds of manipulation and anomaly injected and labelled, and look-alikes that must not alert.",
        cfg.symbols,
        cfg.venues,
        cfg.warmup_ns / 60_000_000_000,
        cfg.duration_ns / 60_000_000_000,
        cfg.scenarios.len()
    );
    let mut interner = Interner::new();
    let mut sim = vigil_sim::Simulator::new(cfg, &mut interner);
    let names = interner.names();
    let events = format!("{}/events.jsonl", a.dir);
    let labels_path = format!("{}/labels.jsonl", a.dir);
    let alerts_path = format!("{}/alerts.jsonl", a.dir);
    let (w, format) = writer(&events)?;
    let mut out = EventWriter::new(w, format);
    let (mut t, end) = (sim.config().start.0, sim.end());
    let mut buf = Vec::new();
    let mut n = 0u64;
    while t < end {
        t = (t + 1_000_000_000).min(end);
        sim.advance(t, &mut buf);
        for ev in buf.drain(..) {
            out.write(&ev, &names).with_context(|| format!("cannot write {events}"))?;
            n += 1;
        }
    }
    out.flush()?;
    drop(out.into_inner());
    let labels = sim.finish();
    let mut lf = BufWriter::new(File::create(&labels_path).with_context(|| format!("cannot create {labels_path}"))?);
    for l in &labels {
        serde_json::to_writer(&mut lf, l)?;
        lf.write_all(b"\n")?;
    }
    lf.flush()?;
    eprintln!("vigil demo: wrote {} events to {events} and {} labels to {labels_path}; replaying the events through every detector...", group(n), labels.len());
    let config = crate::replay::load_config(a.config.as_deref())?.without_profiles();
    let threads = crate::replay::threads(&config, None)?;
    let files = [events];
    let collected = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let c = collected.clone();
    let (summary, _rejects) = execute(Run {
        files: &files,
        format: None,
        config: &config,
        threads,
        alerts: AlertFile::create(Some(&alerts_path))?,
        rejects: None,
        progress: true,
        parse_threads: 0,
        on_alert: Some(Box::new(move |al| {
            if al.kind.is_manipulation() {
                println!("[{}] {} {}: {}", al.level.as_str(), Ts(al.ts), al.kind, al.description);
            }
            c.lock().unwrap_or_else(|e| e.into_inner()).push(al.clone());
        })),
        readers: Vec::new(),
        completeness: None,
        live: false,
    })?;
    eprintln!(
        "vigil demo: {} events, {} alerts in {:.2} s ({} events/s); alerts written to {alerts_path} (anomalies not printed above)",
        group(summary.events),
        summary.alerts,
        summary.seconds,
        group(summary.events_per_second as u64)
    );
    let alerts = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    println!("\nHow the alerts score against the labels (docs/evaluation.md explains the rule):\n");
    print!("{}", vigil_sim::eval::score(&alerts, &labels).markdown());
    Ok(ExitCode::SUCCESS)
}
