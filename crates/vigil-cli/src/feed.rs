//! Live market data into the engine (`vigil start --source binance|coinbase|kraken`), a local
//! exchange that replays a recorded capture (`vigil feed-server`), and `vigil convert`.

use crate::replay::{self, AlertFile, Run};
use anyhow::{bail, Context};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_core::Alert;
use vigil_feed::health::{Limits, Monitor};
use vigil_feed::live::{Feed, Options};
use vigil_io::{EventStream, Format, OutFormat, RejectSink, StreamOptions};

/// `vigil start --source <venue>`: the venue's public feed, normalised, into every detector.
pub fn start_live(a: &crate::serve::StartArgs, db: &crate::desk::Db) -> anyhow::Result<ExitCode> {
    let symbols: Vec<String> = a.symbols.iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect();
    if symbols.is_empty() {
        bail!("--symbols names no symbol");
    }
    let venue = vigil_feed::venue(&a.source, &symbols).map_err(anyhow::Error::msg)?;
    let mut opts = Options::new(a.url.as_deref().unwrap_or(venue.default_url()));
    opts.rest_url = a.rest_url.clone();
    opts.limits = Limits {
        max_silence_ns: vigil_core::time::parse_duration(&a.max_silence).map_err(anyhow::Error::msg).context("--max-silence")?,
        max_skew_ns: vigil_core::time::parse_duration(&a.max_skew).map_err(anyhow::Error::msg).context("--max-skew")?,
    };
    opts.max_attempts = a.max_attempts;
    if let Some(d) = a.duration {
        if !(d > 0.0 && d.is_finite()) {
            bail!("--duration must be a positive number of seconds");
        }
        opts.stop_at = Some(crate::wall::now() + Duration::from_secs_f64(d));
    }
    let out: Option<Box<dyn Write + Send>> = match &a.completeness {
        Some(p) => Some(Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?))),
        None => None,
    };
    let mut monitor = Monitor::new(&a.source, opts.limits.clone(), out);
    monitor.keep = false;
    let url = opts.url.clone();
    let feed = Feed::new(venue, opts, monitor);
    let config = replay::load_config(a.config.as_deref())?.without_profiles();
    let alerts = AlertFile::create(Some(a.alerts_out.as_deref().unwrap_or("-")))?;
    alerts.lock().unwrap_or_else(|e| e.into_inner()).flush_each = true;
    // Stored as they come: an interrupted run keeps every alert it raised.
    let mut store = if a.store { Some(db.open()?) } else { None };
    let source = format!("live:{}", a.source);
    eprintln!("vigil start: {} {} from {url}{}", a.source, symbols.join(","), a.duration.map_or(" until interrupted".to_string(), |d| format!(" for {d} s")));
    let stored = Arc::new(Mutex::new((0usize, None::<String>)));
    let tally = stored.clone();
    let feed_stats = Arc::new(Mutex::new(None));
    let (summary, rejects) = replay::execute(Run {
        files: &[],
        format: None,
        config: &config,
        threads: 1,
        alerts,
        rejects: None,
        progress: false,
        parse_threads: 0,
        on_alert: Some(Box::new(move |al: &Alert| {
            eprintln!("  {} {} {}: {}", al.level.as_str(), al.kind.as_str(), al.symbols.join(","), al.description);
            if let Some(s) = &mut store {
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                match s.insert_alerts(std::slice::from_ref(al), None) {
                    Ok(n) => t.0 += n,
                    Err(e) => {
                        if t.1.is_none() {
                            eprintln!("vigil: alerts cannot be stored in the store: {e:#}");
                        }
                        t.1.get_or_insert(format!("{e:#}"));
                    }
                }
            }
        })),
        readers: vec![Box::new(FeedReader { feed, report: feed_stats.clone() })],
        completeness: None,
        live: true,
    })?;
    summary.print(&rejects);
    if let Some((stats, counts, sent)) = feed_stats.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let s: vigil_feed::live::Stats = stats;
        eprintln!(
            "feed: {} connections, {} messages, {} events, {} unreadable, {} snapshots fetched, {} books requested afresh",
            s.connections, s.messages, s.events, s.rejected, s.snapshots_fetched, s.resubscribes
        );
        eprintln!("messages {sent}");
        if !counts.is_empty() {
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            eprintln!("completeness: {}{}", parts.join(", "), a.completeness.as_ref().map_or(String::new(), |p| format!(" (records in {p})")));
        }
    }
    if a.store {
        let (added, error) = std::mem::take(&mut *stored.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(e) = error {
            bail!("alerts could not be stored: {e}");
        }
        let mut s = db.open()?;
        s.insert_alerts(&[], Some((&source, summary.events as i64)))?;
        eprintln!("stored {added} new alerts in {}", s.location());
    }
    Ok(ExitCode::SUCCESS)
}

/// The feed as the engine's reader; at the end it hands back its counters.
struct FeedReader {
    feed: Feed,
    report: Arc<Mutex<Option<FeedReport>>>,
}

/// A feed's counters, its completeness records by kind, and what the venue sent.
type FeedReport = (vigil_feed::live::Stats, Vec<(String, u64)>, String);

impl vigil_io::EventReader for FeedReader {
    fn next(&mut self, interner: &mut vigil_core::Interner) -> Result<Option<vigil_io::Item>, vigil_io::ReadError> {
        let r = self.feed.next(interner)?;
        if r.is_none() {
            let mut counts: Vec<(String, u64)> = self.feed.monitor.counts.iter().map(|(k, n)| (k.to_string(), *n)).collect();
            counts.sort();
            *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some((self.feed.stats.clone(), counts, self.feed.describe()));
        }
        Ok(r)
    }
    fn file(&self) -> &Arc<str> {
        self.feed.file()
    }
}

#[derive(clap::Args)]
pub struct FeedServerArgs {
    /// A capture of recorded websocket traffic (shared/data/exchange-ws: BINANCE.…, COINBASE.…, KRAKEN.…).
    pub capture: String,
    /// 1 replays with the capture's own timing, 10 ten times faster, 0 as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// The websocket port (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The REST port, for Binance's depth snapshots (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub rest_port: u16,
    /// Cut the first connection after this many messages (to watch a client recover).
    #[arg(long)]
    pub drop_after: Option<usize>,
    /// Messages lost while the client reconnects.
    #[arg(long, default_value_t = 0)]
    pub lost: usize,
}

/// `vigil feed-server`: a local exchange replaying a capture, for `vigil start --url` offline.
pub fn feed_server(a: FeedServerArgs) -> anyhow::Result<ExitCode> {
    let venue = vigil_feed::capture::venue_of(&a.capture).context("the capture's file name must start with BINANCE, COINBASE or KRAKEN")?;
    let lines = vigil_feed::capture::read(&a.capture)?;
    let opts = vigil_feed::replay::ServerOptions { speed: a.speed, drop_after: a.drop_after, lost_on_drop: a.lost };
    let server = vigil_feed::replay::ReplayServer::start_on(venue, lines, opts, &format!("127.0.0.1:{}", a.port), &format!("127.0.0.1:{}", a.rest_port))?;
    println!("{venue} replay: websocket {} REST {}", server.ws_url(), server.rest_url());
    println!("try: vigil start --source {venue} --symbols <symbols> --url {} --rest-url {}", server.ws_url(), server.rest_url());
    std::io::stdout().flush()?;
    server.join();
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// Input files, read like `vigil replay` reads them.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// The output file: .jsonl or .csv (the spec's formats), optionally .gz; `-` for JSON Lines on standard output.
    #[arg(long, short)]
    pub output: String,
    /// The input format where the file name does not say (see `vigil replay --help`).
    #[arg(long)]
    pub format: Option<String>,
    /// Write every rejected record here, one JSON object a line.
    #[arg(long)]
    pub rejects: Option<String>,
}

/// `vigil convert`: any input format into the spec's JSON Lines or CSV, in event-time order.
pub fn convert(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let format = replay::parse_format(a.format.as_deref())?;
    let readers = replay::open_readers(&a.files, format, Arc::default(), 0, None)?;
    let rejects: Option<Box<dyn Write + Send>> = match &a.rejects {
        Some(p) => Some(Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?))),
        None => None,
    };
    let mut stream = EventStream::new(readers, &StreamOptions::default(), vigil_core::Interner::new(), RejectSink::new(rejects));
    let (sink, out_format) = if a.output == "-" {
        (Sink::Stdout(BufWriter::new(std::io::stdout())), OutFormat::Jsonl)
    } else {
        let plain = a.output.strip_suffix(".gz").unwrap_or(&a.output);
        let f = match Format::from_path(plain) {
            Some(Format::Csv) => OutFormat::Csv,
            Some(Format::Jsonl) => OutFormat::Jsonl,
            _ => bail!("{}: the output is written as .jsonl or .csv (optionally .gz)", a.output),
        };
        let file = BufWriter::new(File::create(&a.output).with_context(|| format!("cannot create {}", a.output))?);
        let w =
            if a.output.ends_with(".gz") { Sink::Gz(Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()))) } else { Sink::File(file) };
        (w, f)
    };
    let mut w = vigil_io::EventWriter::new(sink, out_format);
    let names = stream.names();
    let mut n = 0u64;
    while let Some(ev) = stream.next_event() {
        w.write(&ev, &names).with_context(|| format!("cannot write {}", a.output))?;
        n += 1;
    }
    w.flush().with_context(|| format!("cannot write {}", a.output))?;
    w.into_inner().finish().with_context(|| format!("cannot write {}", a.output))?;
    stream.rejects.finish().context("cannot write the rejects")?;
    let s = stream.stats();
    eprintln!("converted {n} events from {} file(s) into {}: {} rejected, {} reordered", a.files.len(), a.output, stream.rejects.total(), s.reordered);
    for (reason, k) in stream.rejects.by_reason() {
        eprintln!("  rejected {reason}: {k}");
    }
    for r in &stream.rejects.examples {
        eprintln!("  {r}");
    }
    if let Some(e) = stream.errors().first() {
        eprintln!("vigil: the input could not be read to the end: {e}");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `convert` writes: a file, a gzip file (finished explicitly, so no error is lost), or standard output.
enum Sink {
    File(BufWriter<File>),
    Gz(Box<flate2::write::GzEncoder<BufWriter<File>>>),
    Stdout(BufWriter<std::io::Stdout>),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(w) => w.write(b),
            Sink::Gz(w) => w.write(b),
            Sink::Stdout(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(w) => w.flush(),
            Sink::Gz(w) => w.flush(),
            Sink::Stdout(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::File(mut w) => w.flush(),
            Sink::Gz(w) => w.finish()?.flush(),
            Sink::Stdout(mut w) => w.flush(),
        }
    }
}
