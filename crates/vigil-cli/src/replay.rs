//! `vigil replay FILE... --alerts-out PATH`, as the spec's last section says: read the files (the
//! format from the extension, or `--format`), run every detector in event time, write every alert,
//! print a summary. Exit 0 when the input was read, even with rejected lines.

use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vigil_core::{Alert, Interner};
use vigil_detect::{Config, Engine, ShardStats};
use vigil_io::{EventReader, EventStream, Format, RejectSink, StreamOptions, StreamStats};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Event files: .jsonl or .csv (the spec's formats), optionally .gz; other formats by --format.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Where to write the alerts, one JSON object a line (`-` or absent: standard output).
    #[arg(long)]
    pub alerts_out: Option<String>,
    /// The input format, where the file name does not say: jsonl, csv, lobster (NASDAQ message
    /// files or their zip), tardis (Tardis.dev CSVs: trades, quotes, incremental_book_L2,
    /// book_snapshot_N), binance (data.binance.vision trades and aggTrades CSVs), ccxt (trade CSVs),
    /// parquet (the spec's columns), capture (recorded Binance, Coinbase or Kraken websocket traffic).
    #[arg(long)]
    pub format: Option<String>,
    /// A vigil.toml; its keys override the defaults (`vigil config default` prints them).
    #[arg(long)]
    pub config: Option<String>,
    /// Shards (threads); the alerts are the same for any number. Default: the configuration's
    /// `engine.threads`, and 0 there means one per core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Threads that parse each input file (JSON Lines; CSV from 2). Default: one per core.
    #[arg(long)]
    pub parse_threads: Option<usize>,
    /// Write every rejected line (file, line, field, reason, raw text) here, one JSON object a line.
    #[arg(long)]
    pub rejects: Option<String>,
    /// Also write the summary as JSON here.
    #[arg(long)]
    pub summary_json: Option<String>,
    /// No progress bar and no summary on the terminal.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also store the alerts in the store (`--db`): each once, however often the input is replayed.
    #[arg(long)]
    pub store: bool,
    /// For recorded websocket captures (`--format capture`): write the data-completeness records
    /// (silences, sequence gaps, checksum failures, clock skew between venue and receive time) here.
    #[arg(long)]
    pub completeness: Option<String>,
}

pub fn load_config(path: Option<&str>) -> anyhow::Result<Config> {
    read_config(path, true)
}

/// A configuration, with the `ml_anomaly` model it names read when `model` (`vigil train` reads
/// its windows' settings from a configuration whose model it is about to replace).
pub fn read_config(path: Option<&str>, model: bool) -> anyhow::Result<Config> {
    match path {
        None => Ok(Config::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read the configuration {p}"))?;
            let mut c = Config::from_toml(&text).with_context(|| format!("configuration {p}"))?;
            if model {
                c.load_model(std::path::Path::new(p).parent()).with_context(|| format!("configuration {p}"))?;
            }
            Ok(c)
        }
    }
}

/// Shards to run: `--threads`, else the configuration's, where 0 means one per core.
pub fn threads(config: &Config, arg: Option<usize>) -> anyhow::Result<usize> {
    match arg.unwrap_or(config.engine.threads) {
        0 => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        n if n > MAX_THREADS => bail!("{n} threads is more than the {MAX_THREADS} the engine runs"),
        n => Ok(n),
    }
}

const MAX_THREADS: usize = 1024;

/// What a run did, for the terminal and for `--summary-json`.
#[derive(serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub records: u64,
    pub events: u64,
    pub rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub reordered: u64,
    pub unknown_cancels: u64,
    pub unknown_amends: u64,
    pub unknown_trade_orders: u64,
    pub duplicate_orders: u64,
    pub instruments: u64,
    pub alerts: u64,
    pub alerts_by_type: BTreeMap<String, u64>,
    pub suppressed_repeats: u64,
    /// Per venue: the first-digit law and round-size clustering of trade sizes.
    pub venue_health: BTreeMap<String, vigil_detect::health::Health>,
    pub threads: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub read_error: Option<String>,
    /// The accounts' behavioural profiles, for the store.
    #[serde(skip)]
    pub profiles: Vec<vigil_detect::profile::Profile>,
}

impl Summary {
    pub fn print(&self, rejects: &RejectSink) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(
            e,
            "vigil replay: {} events from {} file(s) in {:.2} s: {} events/s on {} shard(s)",
            group(self.events),
            self.files,
            self.seconds,
            group(self.events_per_second as u64),
            self.threads
        );
        let _ = writeln!(e, "  records read    {:>12}", group(self.records));
        let _ = writeln!(e, "  accepted        {:>12}", group(self.events));
        let _ = writeln!(e, "  rejected        {:>12}{}", group(self.rejected), by(&self.rejected_by_reason));
        let _ = writeln!(e, "  reordered       {:>12}   (out of order within the tolerance, put back in order)", group(self.reordered));
        let _ = writeln!(
            e,
            "  unknown orders  {:>12}   (cancels {}, amends {}, trade legs {})",
            group(self.unknown_cancels + self.unknown_amends + self.unknown_trade_orders),
            self.unknown_cancels,
            self.unknown_amends,
            self.unknown_trade_orders
        );
        let _ = writeln!(e, "  instruments     {:>12}", group(self.instruments));
        let _ = writeln!(e, "  alerts          {:>12}{}", group(self.alerts), by(&self.alerts_by_type));
        let _ = writeln!(e, "  repeats merged  {:>12}   (continuations of an alerted behaviour)", group(self.suppressed_repeats));
        for (v, h) in &self.venue_health {
            let _ = writeln!(
                e,
                "  venue health    {v}: {} trades; first digits {} (MAD {:.4} from Benford's); {}{}",
                group(h.trades),
                h.benford,
                h.benford_mad,
                h.clustering,
                h.round10_ratio.map_or(String::new(), |r| format!(" (multiples of 10 lots {r:.2}x a size-blind rate)"))
            );
        }
        for r in rejects.examples.iter().take(5) {
            let _ = writeln!(e, "  reject: {r}");
        }
        if self.rejected > 5 {
            let _ = writeln!(e, "  (first 5 rejects shown; --rejects PATH keeps them all)");
        }
    }
}

fn by(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("   ({})", parts.join(", "))
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Writes alerts as JSON lines from the engine's collector thread; remembers the first error.
pub struct AlertFile {
    out: Option<BufWriter<Box<dyn Write + Send>>>,
    error: Option<std::io::Error>,
    /// Flush after every alert (a live feed: an interrupted run loses none).
    pub flush_each: bool,
}

impl AlertFile {
    pub fn create(path: Option<&str>) -> anyhow::Result<Arc<Mutex<AlertFile>>> {
        let out: Option<BufWriter<Box<dyn Write + Send>>> = match path {
            None => None,
            Some("-") => Some(BufWriter::new(Box::new(std::io::stdout()))),
            Some(p) => Some(BufWriter::with_capacity(1 << 16, Box::new(File::create(p).with_context(|| format!("cannot create {p}"))?))),
        };
        Ok(Arc::new(Mutex::new(AlertFile { out, error: None, flush_each: false })))
    }
    pub fn write(&mut self, a: &Alert) {
        if let (Some(out), None) = (&mut self.out, &self.error) {
            let flush = self.flush_each;
            let res = serde_json::to_writer(&mut *out, a).map_err(std::io::Error::from).and_then(|_| out.write_all(b"\n"));
            if let Err(e) = res.and_then(|_| if flush { out.flush() } else { Ok(()) }) {
                self.error = Some(e);
            }
        }
    }
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(out) = &mut self.out {
            out.flush()?;
        }
        Ok(())
    }
}

/// A callback for each alert as it is written.
pub type OnAlert = Box<dyn FnMut(&Alert) + Send>;

/// Everything `replay` and `demo` share: files in, alerts out, a summary back.
pub struct Run<'a> {
    pub files: &'a [String],
    pub format: Option<Format>,
    pub config: &'a Config,
    pub threads: usize,
    pub alerts: Arc<Mutex<AlertFile>>,
    pub rejects: Option<Box<dyn Write + Send>>,
    pub progress: bool,
    /// Parser threads a file (0: one per core).
    pub parse_threads: usize,
    /// Called with each alert as it is written (the demo prints some).
    pub on_alert: Option<OnAlert>,
    /// Sources besides the files (a live feed).
    pub readers: Vec<Box<dyn EventReader>>,
    /// Where captures' data-completeness records go.
    pub completeness: Option<Arc<Mutex<BufWriter<File>>>>,
    /// A live feed: each event goes through the engine at once (not in batches), so its alerts come
    /// seconds after the behaviour, however quiet the market.
    pub live: bool,
}

/// The formats `--format` names.
pub const FORMATS: &str = "jsonl, csv, lobster, tardis, binance, ccxt, parquet or capture";

pub fn parse_format(f: Option<&str>) -> anyhow::Result<Option<Format>> {
    match f {
        None => Ok(None),
        Some(f) => match Format::parse(f) {
            Some(f) => Ok(Some(f)),
            None => bail!("unknown --format {f:?}: {FORMATS}"),
        },
    }
}

/// A reader for each file: recorded websocket captures through their venue's connector (checked
/// for completeness into `completeness`, where given), the rest by `vigil_io`.
pub fn open_readers(
    files: &[String],
    format: Option<Format>,
    counter: Arc<AtomicU64>,
    parse_threads: usize,
    completeness: Option<&Arc<Mutex<BufWriter<File>>>>,
) -> anyhow::Result<Vec<Box<dyn EventReader>>> {
    let mut readers: Vec<Box<dyn EventReader>> = Vec::new();
    for f in files {
        if format == Some(Format::Capture) {
            let mut r = vigil_feed::capture::CaptureReader::open(f)?;
            if let Some(out) = completeness {
                let venue = vigil_feed::capture::venue_of(f).unwrap_or("?");
                let mut m = vigil_feed::health::Monitor::new(venue, vigil_feed::health::Limits::default(), Some(Box::new(Shared(out.clone()))));
                m.keep = false;
                r.monitor = Some(m);
            }
            readers.push(Box::new(r));
        } else {
            readers.push(vigil_io::open_threaded(f, format, counter.clone(), parse_threads)?);
        }
    }
    Ok(readers)
}

/// The event stream of files as `vigil replay` reads them (readers, reordering, duplicate trade
/// ids, positions), without the engine: for commands that read events to publish or to report.
/// Rejected lines go to `rejects` where given, and are counted.
pub fn stream_of(files: &[String], format: Option<&str>, config: &Config, rejects: Option<Box<dyn Write + Send>>) -> anyhow::Result<EventStream> {
    let format = parse_format(format)?;
    // Parsing threads per file, unless there are many files.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if files.len() > MAX_READ_AHEAD { 0 } else { cores };
    let readers = open_readers(files, format, Arc::new(AtomicU64::new(0)), threads, None)?;
    let opts = StreamOptions {
        reorder_tolerance_ns: config.engine.reorder_tolerance.0,
        dedup_window_ns: config.engine.dedup_window.0,
        dedup_max_ids: config.engine.dedup_max_ids,
    };
    Ok(EventStream::new(readers, &opts, Interner::new(), RejectSink::new(rejects)))
}

/// One completeness file written by the monitors of several captures.
struct Shared(Arc<Mutex<BufWriter<File>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// Files read ahead on threads of their own, at most.
const MAX_READ_AHEAD: usize = 16;

pub fn execute(run: Run<'_>) -> anyhow::Result<(Summary, RejectSink)> {
    let format = run.format;
    let counter = Arc::new(AtomicU64::new(0));
    let mut readers: Vec<Box<dyn EventReader>> = Vec::new();
    let mut total_bytes = 0u64;
    // Each file is parsed on a thread of its own, ahead of the engine; past a few files the
    // threads and their buffers would cost more than they give, and files are read in place.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parse_threads = if run.files.len() > MAX_READ_AHEAD {
        0
    } else if run.parse_threads == 0 {
        cores
    } else {
        run.parse_threads
    };
    for f in run.files {
        total_bytes += std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    }
    readers.extend(open_readers(run.files, format, counter.clone(), parse_threads, run.completeness.as_ref())?);
    readers.extend(run.readers);
    let opts = StreamOptions {
        // A live feed's events are in order already (its clock never goes back); holding them for
        // the tolerance would hold a quiet market's last trade until the next event.
        reorder_tolerance_ns: if run.live { 0 } else { run.config.engine.reorder_tolerance.0 },
        dedup_window_ns: run.config.engine.dedup_window.0,
        dedup_max_ids: run.config.engine.dedup_max_ids,
    };
    let mut stream = EventStream::new(readers, &opts, Interner::new(), RejectSink::new(run.rejects));
    let alerts = run.alerts.clone();
    let mut on_alert = run.on_alert;
    let sink = Box::new(move |a: Alert| {
        if let Some(f) = &mut on_alert {
            f(&a);
        }
        alerts.lock().unwrap_or_else(|e| e.into_inner()).write(&a);
    });
    let bar = (run.progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total_bytes);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {eta} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let started = crate::wall::now();
    let mut engine = Engine::start(run.config, run.threads, stream.names(), sink);
    let mut n: u64 = 0;
    while let Some(ev) = stream.next_event() {
        engine.push(ev);
        if run.live {
            engine.flush();
        }
        n += 1;
        if n & 0xFFFF == 0 {
            if let Some(b) = &bar {
                b.set_position(counter.load(Ordering::Relaxed));
                b.set_message(format!("{} events", group(n)));
            }
        }
    }
    let errors: Vec<String> = stream.errors().iter().map(|e| e.to_string()).collect();
    let read_error = (!errors.is_empty()).then(|| errors.join("; "));
    let stats: ShardStats = engine.finish().map_err(anyhow::Error::msg)?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    run.alerts.lock().unwrap_or_else(|e| e.into_inner()).finish().context("cannot write the alerts")?;
    stream.rejects.finish().context("cannot write the rejects")?;
    let s: StreamStats = stream.stats();
    let summary = Summary {
        files: run.files.len(),
        records: s.records,
        events: s.events,
        rejected: stream.rejects.total(),
        rejected_by_reason: stream.rejects.by_reason().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        reordered: s.reordered,
        unknown_cancels: stats.book.unknown_cancels,
        unknown_amends: stats.book.unknown_amends,
        unknown_trade_orders: stats.book.unknown_trade_orders,
        duplicate_orders: stats.book.duplicate_orders,
        instruments: stats.instruments,
        alerts: stats.alerts.values().sum(),
        alerts_by_type: stats.alerts.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect(),
        suppressed_repeats: stats.suppressed.values().sum(),
        venue_health: {
            let names = stream.names();
            stats.health.venues.iter().map(|(v, c)| (names.venue(*v).to_string(), c.report())).collect()
        },
        threads: run.threads,
        seconds,
        events_per_second: if seconds > 0.0 { s.events as f64 / seconds } else { 0.0 },
        read_error,
        profiles: stats.profiles.named(&stream.names()),
    };
    let rejects = std::mem::take(&mut stream.rejects);
    Ok((summary, rejects))
}

pub fn run(a: ReplayArgs, db: &crate::desk::Db) -> anyhow::Result<ExitCode> {
    let mut store = if a.store { Some(db.open()?) } else { None };
    let kept: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let keep = kept.clone();
    let mut config = load_config(a.config.as_deref())?;
    if store.is_none() {
        config = config.without_profiles();
    }
    let format = parse_format(a.format.as_deref())?;
    let rejects: Option<Box<dyn Write + Send>> = match &a.rejects {
        None => None,
        Some(p) => Some(Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?))),
    };
    let threads = threads(&config, a.threads)?;
    let alerts = AlertFile::create(Some(a.alerts_out.as_deref().unwrap_or("-")))?;
    if a.completeness.is_some() && format != Some(Format::Capture) {
        bail!("--completeness applies to recorded websocket captures (--format capture)");
    }
    let completeness = match &a.completeness {
        Some(p) => Some(Arc::new(Mutex::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?)))),
        None => None,
    };
    let (summary, rejects) = execute(Run {
        files: &a.files,
        format,
        config: &config,
        threads,
        alerts,
        rejects,
        progress: !a.quiet,
        parse_threads: a.parse_threads.unwrap_or(0),
        on_alert: if store.is_some() { Some(Box::new(move |al: &Alert| keep.lock().unwrap_or_else(|e| e.into_inner()).push(al.clone()))) } else { None },
        readers: Vec::new(),
        completeness: completeness.clone(),
        live: false,
    })?;
    if let Some(c) = &completeness {
        c.lock().unwrap_or_else(|e| e.into_inner()).flush().context("cannot write the completeness records")?;
    }
    if !a.quiet {
        summary.print(&rejects);
    }
    if let Some(s) = &mut store {
        let alerts = std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()));
        let source = format!("replay:{}", a.files.join(","));
        let mut added = 0;
        // Group commit: a transaction (and one sync) per thousand alerts.
        for chunk in alerts.chunks(1000) {
            added += s.insert_alerts(chunk, Some((&source, summary.events as i64)))?;
        }
        let profiled = crate::accounts::store_profiles(s, &summary.profiles)?;
        if !a.quiet {
            eprintln!("stored {added} new alerts of {} and {profiled} account profiles in {} ({})", alerts.len(), s.location(), s.backend());
        }
    }
    if let Some(p) = &a.summary_json {
        std::fs::write(p, serde_json::to_string_pretty(&summary)? + "\n").with_context(|| format!("cannot write {p}"))?;
    }
    if let Some(e) = &summary.read_error {
        eprintln!("vigil: the input could not be read to the end: {e}");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
