//! `vigil synth` writes a synthetic market to a file; `vigil demo` makes one with anomalies
//! injected and replays it through the same path as `vigil replay`.

use crate::replay::{execute, group, AlertFile, Run};
use anyhow::Context as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use vigil_core::{Interner, Ts};
use vigil_io::{EventWriter, OutFormat};
use vigil_sim::{Injection, Seasonality, Synth, SynthConfig};

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

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to keep the demo's files (events.jsonl, alerts.jsonl).
    #[arg(long, default_value = "vigil-demo")]
    pub dir: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// A vigil.toml; its keys override the defaults.
    #[arg(long)]
    pub config: Option<String>,
}

pub fn demo(a: DemoArgs) -> anyhow::Result<ExitCode> {
    const MIN: i64 = 60_000_000_000;
    std::fs::create_dir_all(&a.dir).with_context(|| format!("cannot create {}", a.dir))?;
    let start = Ts(1_767_261_600_000_000_000);
    let cfg = SynthConfig {
        seed: a.seed,
        symbols: 6,
        venues: 2,
        rate: 25.0,
        start,
        clustering: 0.5,
        seasonality: Seasonality::UShape { day_ns: 120 * MIN },
        injections: vec![
            Injection::VolumeSurge { symbol: 2, at: Ts(start.0 + 45 * MIN), duration_ns: 3 * MIN, factor: 15.0 },
            Injection::PriceJump { symbol: 4, at: Ts(start.0 + 80 * MIN), fraction: 0.07 },
        ],
        ..Default::default()
    };
    let events = format!("{}/events.jsonl", a.dir);
    let alerts_path = format!("{}/alerts.jsonl", a.dir);
    eprintln!("vigil demo: a synthetic market of 6 instruments on 2 venues for two hours, with a volume surge on SYM2-USD at 10:45 and a 7% price jump on SYM4-USD at 11:20 injected.");
    let n = write_events(cfg, None, Some(Ts(start.0 + 120 * MIN)), &events)?;
    eprintln!("vigil demo: wrote {} events to {events}; replaying them through every detector...", group(n));
    let config = crate::replay::load_config(a.config.as_deref())?;
    let threads = crate::replay::threads(&config, None)?;
    let files = [events];
    let (summary, _rejects) = execute(Run {
        files: &files,
        format: None,
        config: &config,
        threads,
        alerts: AlertFile::create(Some(&alerts_path))?,
        rejects: None,
        progress: true,
        parse_threads: 0,
        on_alert: Some(Box::new(|a| println!("[{}] {} {}: {}", a.level.as_str(), Ts(a.ts), a.kind, a.description))),
    })?;
    eprintln!(
        "vigil demo: {} events, {} alerts in {:.2} s ({} events/s); alerts written to {alerts_path}",
        group(summary.events),
        summary.alerts,
        summary.seconds,
        group(summary.events_per_second as u64)
    );
    Ok(ExitCode::SUCCESS)
}
