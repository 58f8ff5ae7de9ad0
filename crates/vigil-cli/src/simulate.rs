//! `vigil simulate` writes a labelled market (events in both of the spec's formats, and labels);
//! `vigil eval` replays labelled events through the engine, or takes an alerts file, and scores
//! the alerts against the labels by the spec's rule, optionally across a parameter sweep or a list
//! of seeds simulated in memory.

use crate::replay::{execute, group, load_config, threads, AlertFile, Run};
use anyhow::{bail, Context as _};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::sync::{Arc, Mutex};
use vigil_core::{Alert, AlertType, Interner};
use vigil_detect::{Config, Engine};
use vigil_io::{EventWriter, OutFormat};
use vigil_sim::eval::{score_runs, Report};
use vigil_sim::{Label, SimConfig, Simulator, SCENARIO_TYPES};

const MINUTE_NS: f64 = 60e9;

#[derive(clap::Args, Clone)]
pub struct SimArgs {
    /// Minutes of the labelled span (scenarios and look-alikes are injected in it).
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Minutes of background before it, so the detectors' baselines exist.
    #[arg(long, default_value_t = 25.0)]
    pub warmup_minutes: f64,
    /// How many symbols, or their names, comma-separated (`BTC-USD,ETH-USD`).
    #[arg(long, default_value = "6")]
    pub symbols: String,
    #[arg(long, default_value_t = 2)]
    pub venues: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Scenario types to inject, comma-separated (`all`, the default, or `none`).
    #[arg(long, default_value = "all")]
    pub scenarios: String,
    /// How many of each scenario type.
    #[arg(long, default_value_t = 2)]
    pub per_type: usize,
    /// No unlabelled look-alikes (news, large orders cancelled, worked orders, hedges).
    #[arg(long)]
    pub no_hard_negatives: bool,
    /// Background actions a second on the median venue-symbol.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
}

impl SimArgs {
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let scenarios = match self.scenarios.as_str() {
            "all" => SCENARIO_TYPES.to_vec(),
            "none" | "" => Vec::new(),
            list => {
                let mut v = Vec::new();
                for name in list.split(',').map(str::trim) {
                    match AlertType::parse(name) {
                        Some(t) if SCENARIO_TYPES.contains(&t) => v.push(t),
                        _ => bail!(
                            "--scenarios: unknown scenario {name:?}; the types are {}",
                            SCENARIO_TYPES.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    }
                }
                v
            }
        };
        if !(self.minutes > 0.0 && self.warmup_minutes >= 0.0 && self.rate > 0.0) {
            bail!("--minutes and --rate must be positive, --warmup-minutes not negative");
        }
        let (count, symbol_names) = match self.symbols.trim().parse::<usize>() {
            Ok(n) => (n.max(1), Vec::new()),
            Err(_) => {
                let names: Vec<String> = self.symbols.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
                if names.is_empty() {
                    bail!("--symbols: a count, or names comma-separated");
                }
                (names.len(), names)
            }
        };
        Ok(SimConfig {
            seed: self.seed,
            warmup_ns: (self.warmup_minutes * MINUTE_NS) as i64,
            duration_ns: (self.minutes * MINUTE_NS) as i64,
            symbols: symbol_names.len().max(count),
            symbol_names,
            venues: self.venues.max(1),
            scenarios,
            per_type: self.per_type,
            hard_negatives: !self.no_hard_negatives,
            rate: self.rate,
            ..Default::default()
        })
    }
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// The directory to write events.jsonl, events.csv and labels.jsonl into.
    #[arg(long)]
    pub out: String,
}

fn create(path: &std::path::Path) -> anyhow::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(1 << 20, File::create(path).with_context(|| format!("cannot create {}", path.display()))?))
}

pub fn simulate(a: SimulateArgs) -> anyhow::Result<()> {
    let cfg = a.sim.config()?;
    let dir = std::path::Path::new(&a.out);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let started = crate::wall::now();
    let mut it = Interner::new();
    let mut sim = Simulator::new(cfg, &mut it);
    let names = it.names();
    let mut jsonl = EventWriter::new(create(&dir.join("events.jsonl"))?, OutFormat::Jsonl);
    let mut csv = EventWriter::new(create(&dir.join("events.csv"))?, OutFormat::Csv);
    let (mut t, end) = (sim.config().start.0, sim.end());
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut generating = 0.0;
    while t < end {
        t = (t + 1_000_000_000).min(end);
        let g = crate::wall::now();
        sim.advance(t, &mut buf);
        generating += g.elapsed().as_secs_f64();
        for ev in buf.drain(..) {
            jsonl.write(&ev, &names).context("cannot write events.jsonl")?;
            csv.write(&ev, &names).context("cannot write events.csv")?;
            n += 1;
        }
    }
    jsonl.flush()?;
    csv.flush()?;
    let labels = sim.finish();
    let mut lf = create(&dir.join("labels.jsonl"))?;
    for l in &labels {
        serde_json::to_writer(&mut lf, l)?;
        lf.write_all(b"\n")?;
    }
    lf.flush()?;
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for l in &labels {
        *by.entry(l.kind.as_str()).or_default() += 1;
    }
    eprintln!(
        "vigil simulate: {} events and {} labels in {} ({:.2} s, generated at {} events/s)",
        group(n),
        labels.len(),
        dir.display(),
        started.elapsed().as_secs_f64(),
        group((n as f64 / generating.max(1e-9)) as u64)
    );
    eprintln!("  labels: {}", by.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    if !sim.unplaced.is_empty() {
        eprintln!("  not placed (no room, or too few venues): {}", sim.unplaced_names().join(", "));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A directory written by `vigil simulate` (events.jsonl and labels.jsonl).
    pub dir: Option<String>,
    /// The events to replay (instead of DIR/events.jsonl).
    #[arg(long)]
    pub events: Option<String>,
    /// The labels (instead of DIR/labels.jsonl).
    #[arg(long)]
    pub labels: Option<String>,
    /// Score this alerts file instead of replaying.
    #[arg(long)]
    pub alerts: Option<String>,
    /// Simulate these seeds in memory and score them together (`1,2,3` or `1..10`); the
    /// simulation options below apply.
    #[arg(long)]
    pub seeds: Option<String>,
    #[command(flatten)]
    pub sim: SimArgs,
    /// A vigil.toml for the detectors.
    #[arg(long)]
    pub config: Option<String>,
    /// Precision and recall against a parameter: DETECTOR.PARAM=FROM..TO:STEPS.
    #[arg(long)]
    pub sweep: Option<String>,
    /// text, markdown or json.
    #[arg(long, default_value = "text")]
    pub format: String,
    #[arg(long)]
    pub threads: Option<usize>,
    /// Fail (exit 3) when the macro F1 is below this.
    #[arg(long)]
    pub min_f1: Option<f64>,
    /// List the labels no alert matched.
    #[arg(long)]
    pub missed: bool,
}

/// One JSON object a line (blank lines skipped); a bad line is an error naming the file and line.
fn read_jsonl<T: serde::de::DeserializeOwned>(path: &str, what: &str) -> anyhow::Result<Vec<T>> {
    let f = BufReader::new(File::open(path).with_context(|| format!("cannot open {path}"))?);
    let mut out = Vec::new();
    for (n, line) in f.lines().enumerate() {
        let line = line.with_context(|| format!("{path}: line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).with_context(|| format!("{path}: line {}: not {what}", n + 1))?);
    }
    Ok(out)
}

fn read_labels(path: &str) -> anyhow::Result<Vec<Label>> {
    read_jsonl(path, "a label")
}

fn read_alerts(path: &str) -> anyhow::Result<Vec<Alert>> {
    read_jsonl(path, "an alert")
}

/// Replays event files through the engine and returns the alerts.
fn replay_files(files: &[String], config: &Config, threads: usize) -> anyhow::Result<Vec<Alert>> {
    let collected = Arc::new(Mutex::new(Vec::new()));
    let c = collected.clone();
    let (summary, _) = execute(Run {
        files,
        format: None,
        config,
        threads,
        alerts: AlertFile::create(None)?,
        rejects: None,
        progress: false,
        parse_threads: 0,
        on_alert: Some(Box::new(move |a: &Alert| c.lock().unwrap_or_else(|e| e.into_inner()).push(a.clone()))),
        readers: Vec::new(),
        completeness: None,
        live: false,
    })?;
    if let Some(e) = summary.read_error {
        bail!("the events could not be read to the end: {e}");
    }
    let mut v = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    v.sort_by(|a, b| (a.ts, &a.alert_id).cmp(&(b.ts, &b.alert_id)));
    Ok(v)
}

/// Simulates `cfg` and runs the engine on it as it is generated (a second of market at a time).
pub fn simulate_and_detect(cfg: SimConfig, config: &Config, threads: usize) -> anyhow::Result<Scored> {
    let mut it = Interner::new();
    let mut sim = Simulator::new(cfg, &mut it);
    let collected = Arc::new(Mutex::new(Vec::new()));
    let c = collected.clone();
    let mut engine = Engine::start(config, threads, it.names(), Box::new(move |a: Alert| c.lock().unwrap_or_else(|e| e.into_inner()).push(a)));
    let (mut t, end) = (sim.config().start.0, sim.end());
    let mut buf = Vec::new();
    while t < end {
        t = (t + 1_000_000_000).min(end);
        sim.advance(t, &mut buf);
        for ev in buf.drain(..) {
            engine.push(ev);
        }
    }
    let labels = sim.finish();
    engine.finish().map_err(anyhow::Error::msg)?;
    let mut v = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    v.sort_by(|a, b| (a.ts, &a.alert_id).cmp(&(b.ts, &b.alert_id)));
    Ok((v, labels))
}

/// One simulated run: the alerts raised and the labels.
pub type Scored = (Vec<Alert>, Vec<Label>);

/// Each seed simulated and detected, the seeds spread over the cores (one engine shard each).
pub fn run_seeds(base: &SimConfig, seeds: &[u64], config: &Config) -> anyhow::Result<Vec<Scored>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(seeds.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<anyhow::Result<Scored>>>> = Mutex::new((0..seeds.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= seeds.len() {
                    break;
                }
                let r = simulate_and_detect(SimConfig { seed: seeds[k], ..base.clone() }, config, 1);
                results.lock().unwrap_or_else(|e| e.into_inner())[k] = Some(r);
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a seed was not run")))).collect()
}

fn parse_seeds(s: &str) -> anyhow::Result<Vec<u64>> {
    let bad = || anyhow::anyhow!("--seeds {s:?}: expected a list like 1,2,3 or a range like 1..10");
    if let Some((a, b)) = s.split_once("..") {
        let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if b < a {
            return Err(bad());
        }
        return Ok((a..=b).collect());
    }
    s.split(',').map(|x| x.trim().parse().map_err(|_| bad())).collect()
}

/// One parameter sweep: detector, parameter, values.
struct Sweep {
    detector: String,
    param: String,
    values: Vec<f64>,
}

fn parse_sweep(s: &str) -> anyhow::Result<Sweep> {
    let bad = || anyhow::anyhow!("--sweep {s:?}: expected DETECTOR.PARAM=FROM..TO:STEPS, e.g. spoofing.min_size_ratio=3..20:8");
    let (key, range) = s.split_once('=').ok_or_else(bad)?;
    let (detector, param) = key.split_once('.').ok_or_else(bad)?;
    let (range, steps) = range.split_once(':').ok_or_else(bad)?;
    let (from, to) = range.split_once("..").ok_or_else(bad)?;
    let (from, to): (f64, f64) = (from.trim().parse().map_err(|_| bad())?, to.trim().parse().map_err(|_| bad())?);
    let steps: usize = steps.trim().parse().map_err(|_| bad())?;
    if steps == 0 {
        return Err(bad());
    }
    // Rounded, so 0.1 steps print as 0.3 rather than 0.30000000000000004.
    let values =
        (0..steps).map(|k| if steps == 1 { from } else { from + (to - from) * k as f64 / (steps - 1) as f64 }).map(|v| (v * 1e9).round() / 1e9).collect();
    Ok(Sweep { detector: detector.trim().to_string(), param: param.trim().to_string(), values })
}

/// The configuration with one detector parameter set (the rest from `base`, a TOML text).
fn with_param(base: &str, detector: &str, param: &str, value: f64) -> anyhow::Result<Config> {
    let mut doc: toml::Table = toml::from_str(base).context("the configuration")?;
    let detectors = doc.entry("detectors").or_insert_with(|| toml::Value::Table(Default::default()));
    let Some(detectors) = detectors.as_table_mut() else { bail!("[detectors] is not a table") };
    let section = detectors.entry(detector).or_insert_with(|| toml::Value::Table(Default::default()));
    let Some(section) = section.as_table_mut() else { bail!("[detectors.{detector}] is not a table") };
    // Integers stay integers where the default is one.
    let default: toml::Table = toml::from_str(vigil_detect::DEFAULT_TOML)?;
    let is_int = default.get("detectors").and_then(|d| d.get(detector)).and_then(|d| d.get(param)).is_some_and(|v| v.is_integer());
    let known = default.get("detectors").and_then(|d| d.get(detector)).and_then(|d| d.get(param)).is_some();
    if !known {
        bail!("--sweep: there is no parameter {param} in [detectors.{detector}] (see `vigil config default`)");
    }
    section.insert(param.to_string(), if is_int { toml::Value::Integer(value.round() as i64) } else { toml::Value::Float(value) });
    Config::from_toml(&toml::to_string(&doc)?).with_context(|| format!("{detector}.{param} = {value}"))
}

pub fn eval(a: EvalArgs) -> anyhow::Result<std::process::ExitCode> {
    let base_toml = match &a.config {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read the configuration {p}"))?,
        None => String::new(),
    };
    let config = load_config(a.config.as_deref())?.without_profiles();
    let threads = threads(&config, a.threads)?;
    // Where the runs come from: alerts already written, events to replay, or seeds to simulate.
    let score_with = |config: &Config| -> anyhow::Result<Report> {
        if let Some(seeds) = &a.seeds {
            let runs = run_seeds(&a.sim.config()?, &parse_seeds(seeds)?, config)?;
            let refs: Vec<(&[Alert], &[Label])> = runs.iter().map(|(x, l)| (x.as_slice(), l.as_slice())).collect();
            return Ok(score_runs(&refs));
        }
        let dir = a.dir.as_deref();
        let labels_path = a.labels.clone().or_else(|| dir.map(|d| format!("{d}/labels.jsonl")));
        let Some(labels_path) = labels_path else { bail!("vigil eval needs DIR, --labels with --events or --alerts, or --seeds") };
        let labels = read_labels(&labels_path)?;
        let alerts = match (&a.alerts, &a.events) {
            (Some(p), _) => read_alerts(p)?,
            (None, Some(e)) => replay_files(std::slice::from_ref(e), config, threads)?,
            (None, None) => match dir {
                Some(d) => replay_files(&[format!("{d}/events.jsonl")], config, threads)?,
                None => bail!("vigil eval needs DIR or --events (or --alerts) with --labels"),
            },
        };
        Ok(score_runs(&[(&alerts, &labels)]))
    };
    if let Some(s) = &a.sweep {
        let sweep = parse_sweep(s)?;
        if a.alerts.is_some() {
            bail!("--sweep replays the events for each value: give events or seeds, not --alerts");
        }
        let kinds: Vec<&str> = vigil_detect::detectors::CATALOGUE.iter().filter(|p| p.module == sweep.detector).map(|p| p.kind.as_str()).collect();
        let mut rows = Vec::new();
        for &v in &sweep.values {
            let cfg = with_param(&base_toml, &sweep.detector, &sweep.param, v)?;
            let r = score_with(&cfg)?;
            rows.push((v, r));
        }
        print_sweep(&a.format, &sweep, &kinds, &rows)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let report = score_with(&config)?;
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&report)?),
        "markdown" | "md" => print!("{}", report.markdown()),
        "text" => {
            print!("{}", report.markdown());
            if a.missed && !report.missed.is_empty() {
                println!("\nmissed:");
                for m in &report.missed {
                    println!("  {m}");
                }
            }
        }
        f => bail!("unknown --format {f:?}: text, markdown or json"),
    }
    if let Some(floor) = a.min_f1 {
        let f1 = report.macro_f1.unwrap_or(0.0);
        if f1 < floor {
            eprintln!("vigil eval: macro F1 {f1:.3} is below the floor {floor:.3}");
            return Ok(std::process::ExitCode::from(3));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn print_sweep(format: &str, sweep: &Sweep, kinds: &[&str], rows: &[(f64, Report)]) -> anyhow::Result<()> {
    let pick = |r: &Report, k: &str| r.types.iter().find(|t| t.kind == k).cloned();
    if format == "json" {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(x, r)| {
                serde_json::json!({
                    "value": x,
                    "macro_precision": r.macro_precision, "macro_recall": r.macro_recall, "macro_f1": r.macro_f1,
                    "types": kinds.iter().filter_map(|k| pick(r, k)).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"detector": sweep.detector, "param": sweep.param, "rows": v}))?);
        return Ok(());
    }
    let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    let mut head = format!("| {}.{} |", sweep.detector, sweep.param);
    let mut rule = String::from("|---:|");
    for k in kinds {
        head += &format!(" {k} precision | {k} recall | {k} alerts |");
        rule += "---:|---:|---:|";
    }
    head += " macro precision | macro recall | macro F1 |";
    rule += "---:|---:|---:|";
    println!("{head}\n{rule}");
    for (x, r) in rows {
        let mut line = format!("| {x} |");
        for k in kinds {
            let t = pick(r, k);
            line += &format!(" {} | {} | {} |", fmt(t.as_ref().and_then(|t| t.precision)), fmt(t.as_ref().and_then(|t| t.recall)), t.map_or(0, |t| t.alerts));
        }
        line += &format!(" {} | {} | {} |", fmt(r.macro_precision), fmt(r.macro_recall), fmt(r.macro_f1));
        println!("{line}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub sim: SimArgs,
    /// Event-time seconds per wall-clock second for the labelled span (1 = real time; 0 = as fast
    /// as the machine allows). The warm-up always runs as fast as it can.
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    /// A vigil.toml for the detectors.
    #[arg(long)]
    pub config: Option<String>,
    /// Print anomaly alerts too, not only manipulation.
    #[arg(long)]
    pub all: bool,
    /// The labelled span: seconds ("90"), or a duration ("10m", "90s", "1h"); overrides --minutes.
    #[arg(long)]
    pub duration: Option<String>,
}

/// `vigil test`: the live simulator feeding the engine directly, in (accelerated) real time; alerts
/// are printed as they are raised, and the run is scored against its labels at the end.
pub fn live(a: TestArgs) -> anyhow::Result<std::process::ExitCode> {
    let mut cfg = a.sim.config()?;
    if let Some(d) = &a.duration {
        // Plain seconds ("90"), or with a unit ("90s", "10m").
        cfg.duration_ns = match d.trim().parse::<f64>() {
            Ok(secs) if secs.is_finite() => (secs * 1e9) as i64,
            _ => vigil_core::time::parse_duration(d).map_err(|e| anyhow::anyhow!("--duration: {e}"))?,
        };
        if cfg.duration_ns <= 0 {
            bail!("--duration must be positive");
        }
    }
    if a.speed < 0.0 || !a.speed.is_finite() {
        bail!("--speed must be 0 (as fast as possible) or positive");
    }
    let config = load_config(a.config.as_deref())?.without_profiles();
    let threads = threads(&config, None)?;
    let mut it = Interner::new();
    let mut sim = Simulator::new(cfg, &mut it);
    let (span_start, end) = sim.span();
    let collected = Arc::new(Mutex::new(Vec::new()));
    let c = collected.clone();
    let all = a.all;
    let mut engine = Engine::start(
        &config,
        threads,
        it.names(),
        Box::new(move |al: Alert| {
            if all || al.kind.is_manipulation() {
                println!("[{}] {} {}: {}", al.level.as_str(), vigil_core::Ts(al.ts), al.kind, al.description);
            }
            c.lock().unwrap_or_else(|e| e.into_inner()).push(al);
        }),
    );
    eprintln!(
        "vigil test: {} symbols on {} venues; {:.0} minutes of warm-up at full speed, then {:.0} minutes {} with {} scenarios injected",
        sim.config().symbols,
        sim.config().venues,
        sim.config().warmup_ns as f64 / MINUTE_NS,
        sim.config().duration_ns as f64 / MINUTE_NS,
        if a.speed == 0.0 { "as fast as possible".to_string() } else { format!("at {}x real time", a.speed) },
        sim.planned().iter().filter(|p| p.1).count()
    );
    if !sim.unplaced.is_empty() {
        eprintln!("  not placed (no room in the span, or too few venues): {}", sim.unplaced_names().join(", "));
    }
    let step = 100_000_000;
    let (mut t, mut n) = (sim.config().start.0, 0u64);
    let mut buf = Vec::new();
    let mut paced_from: Option<std::time::Instant> = None;
    while t < end {
        t = (t + step).min(end);
        sim.advance(t, &mut buf);
        n += buf.len() as u64;
        for ev in buf.drain(..) {
            engine.push(ev);
        }
        if t > span_start && a.speed > 0.0 {
            engine.flush();
            let from = *paced_from.get_or_insert_with(crate::wall::now);
            let due = std::time::Duration::from_secs_f64((t - span_start) as f64 / 1e9 / a.speed);
            if let Some(wait) = due.checked_sub(from.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let labels = sim.finish();
    engine.finish().map_err(anyhow::Error::msg)?;
    let alerts = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
    eprintln!("vigil test: {} events, {} alerts, {} labels", group(n), alerts.len(), labels.len());
    print!("{}", score_runs(&[(&alerts, &labels)]).markdown());
    Ok(std::process::ExitCode::SUCCESS)
}
