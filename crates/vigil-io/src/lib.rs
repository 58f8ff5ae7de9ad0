//! Vigil's file readers and writers. Every reader streams in constant memory, turns each record
//! into an [`vigil_core::Event`] or a [`Reject`] naming the file, line, field and reason, and never
//! stops on a bad record. [`open`] picks the reader from the file name (`.jsonl`, `.csv`, either
//! `.gz`, `.parquet`; LOBSTER, Tardis, Binance public data and ccxt CSVs by `--format`), and
//! [`EventStream`] merges files into one ordered stream.

pub mod ahead;
pub mod binary;
pub mod decode;
pub mod exchcsv;
pub mod flatjson;
pub mod lobster;
pub mod parallel;
pub mod parquet;
pub mod read;
pub mod reject;
pub mod stream;
pub mod symbols;
pub mod tardis;
pub mod write;

pub use ahead::{ReadAhead, Remapper};
pub use parallel::Parallel;
pub use read::{CsvReader, EventReader, Item, JsonlReader};
pub use reject::{Reject, RejectCode, RejectSink};
pub use stream::{EventStream, Reorder, StreamOptions, StreamStats, TradeDedup};
pub use write::{EventWriter, OutFormat};

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A file that cannot be read at all, or no further.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: {source}")]
    Open { file: String, source: std::io::Error },
    #[error("{file}:{line}: read failed: {source}")]
    Io { file: String, line: u64, source: std::io::Error },
    #[error("{file}:{line}: {msg}")]
    Format { file: String, line: u64, msg: String },
}

impl ReadError {
    pub fn at(file: &str, line: u64, source: std::io::Error) -> Self {
        ReadError::Io { file: file.to_string(), line, source }
    }
}

/// The input formats.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    Lobster,
    /// Tardis.dev downloadable CSVs.
    Tardis,
    /// Binance public data (data.binance.vision) trades and aggTrades CSVs, plain, gzip or zip.
    BinanceCsv,
    /// Trades as saved from ccxt into CSV.
    Ccxt,
    /// Parquet with the spec's columns.
    Parquet,
    /// Recorded exchange websocket traffic, read by the venue's connector (crate `vigil-feed`).
    Capture,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "lobster" => Some(Format::Lobster),
            "tardis" => Some(Format::Tardis),
            "binance" | "binance-csv" => Some(Format::BinanceCsv),
            "ccxt" => Some(Format::Ccxt),
            "parquet" => Some(Format::Parquet),
            "capture" => Some(Format::Capture),
            _ => None,
        }
    }

    /// From the file name: `.jsonl`/`.ndjson`/`.json`, `.csv`, each optionally `.gz`; `.parquet`.
    pub fn from_path(path: &str) -> Option<Format> {
        let p = path.strip_suffix(".gz").unwrap_or(path);
        let ext = p.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// Counts the bytes read from a file (compressed bytes for `.gz`), for a progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

const BUF: usize = 1 << 18;

/// Opens `path` with the reader its format needs. `progress` counts bytes read.
pub fn open(path: &str, format: Option<Format>, progress: Arc<AtomicU64>) -> Result<Box<dyn EventReader>, ReadError> {
    open_threaded(path, format, progress, 0)
}

/// Like [`open`], but reading on threads of its own when `parse_threads` > 0: JSON Lines and CSV parsed on
/// that many threads ([`Parallel`]), LOBSTER read ahead on one ([`ReadAhead`]). Events,
/// rejects and ids are the same as [`open`]'s.
pub fn open_threaded(path: &str, format: Option<Format>, progress: Arc<AtomicU64>, parse_threads: usize) -> Result<Box<dyn EventReader>, ReadError> {
    let format = match format.or_else(|| Format::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(ReadError::Format {
                file: path.to_string(),
                line: 0,
                msg: "cannot tell the format from the file name (.jsonl, .csv, optionally .gz; .parquet): give --format jsonl|csv|lobster|tardis|binance|ccxt|parquet|capture".into(),
            })
        }
    };
    let file: Arc<str> = Arc::from(path);
    match format {
        Format::Parquet => {
            let reader: Box<dyn EventReader> = Box::new(parquet::ParquetReader::open(path)?);
            return Ok(if parse_threads > 0 { Box::new(ReadAhead::new(reader)) } else { reader });
        }
        Format::Capture => {
            return Err(ReadError::Format { file: path.to_string(), line: 0, msg: "a websocket capture is read by the venue's connector (vigil-feed)".into() });
        }
        Format::BinanceCsv if path.ends_with(".zip") => {
            // data.binance.vision serves each day or month as a zip of one CSV, gigabytes for a
            // busy month: it is unpacked to a temporary file and read from there, in constant memory.
            let (name, f) = zip_member_to_temp(path, ".csv")?;
            let r = BufReader::with_capacity(BUF, Counting { inner: f, count: progress });
            let reader: Box<dyn EventReader> = Box::new(exchcsv::BinanceCsvReader::new(r, file, &name)?);
            return Ok(if parse_threads > 0 { Box::new(ReadAhead::new(reader)) } else { reader });
        }
        _ => {}
    }
    if format == Format::Lobster && path.ends_with(".zip") {
        let (name, data) = lobster_zip_member(path)?;
        let reader: Box<dyn EventReader> = Box::new(lobster::LobsterReader::new(std::io::Cursor::new(data), file, &name)?);
        return Ok(if parse_threads > 0 { Box::new(ReadAhead::new(reader)) } else { reader });
    }
    let f = File::open(path).map_err(|source| ReadError::Open { file: path.to_string(), source })?;
    let counted = Counting { inner: f, count: progress };
    let r: Box<dyn BufRead + Send> = if path.ends_with(".gz") {
        Box::new(BufReader::with_capacity(BUF, flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUF, counted))))
    } else {
        Box::new(BufReader::with_capacity(BUF, counted))
    };
    let reader: Box<dyn EventReader> = match format {
        Format::Jsonl if parse_threads > 0 => return Ok(Box::new(Parallel::jsonl(r, file, parse_threads))),
        Format::Csv if parse_threads > 1 => return Ok(Box::new(Parallel::csv(r, file, parse_threads)?)),
        Format::Jsonl => Box::new(JsonlReader::new(r, file)),
        Format::Csv => Box::new(CsvReader::new(r, file)?),
        Format::Lobster => {
            let name = path.strip_suffix(".gz").unwrap_or(path).to_string();
            Box::new(lobster::LobsterReader::new(r, file, &name)?)
        }
        Format::Tardis => Box::new(tardis::TardisReader::new(r, file)?),
        Format::BinanceCsv => {
            let name = path.strip_suffix(".gz").unwrap_or(path).to_string();
            Box::new(exchcsv::BinanceCsvReader::new(r, file, &name)?)
        }
        Format::Ccxt => Box::new(exchcsv::CcxtCsvReader::new(r, file, "ccxt")?),
        Format::Parquet | Format::Capture => unreachable!("opened above"),
    };
    Ok(if parse_threads > 0 { Box::new(ReadAhead::new(reader)) } else { reader })
}

/// The message file inside a LOBSTER sample zip, read into memory (a day is a few megabytes).
pub fn lobster_zip_member(path: &str) -> Result<(String, Vec<u8>), ReadError> {
    lobster_zip_file(path, "_message_")
}

/// The member of a LOBSTER zip whose name contains `part` (`_message_` or `_orderbook_`).
pub fn lobster_zip_file(path: &str, part: &str) -> Result<(String, Vec<u8>), ReadError> {
    zip_member(
        path,
        |name| name.contains(part) && name.ends_with(".csv"),
        &format!("*{part}*.csv"),
        |m| {
            // The declared size is only a hint: a corrupt archive must not size the allocation.
            let mut data = Vec::with_capacity((m.size() as usize).min(64 << 20));
            m.read_to_end(&mut data).map(|_| data)
        },
    )
}

/// The first member of a zip whose name ends with `suffix`, unpacked into an unnamed temporary
/// file (created, then unlinked while open), open at its start.
pub fn zip_member_to_temp(path: &str, suffix: &str) -> Result<(String, File), ReadError> {
    use std::io::{Seek, SeekFrom};
    use std::sync::atomic::AtomicUsize;
    static N: AtomicUsize = AtomicUsize::new(0);
    zip_member(
        path,
        |name| name.ends_with(suffix),
        &format!("*{suffix}"),
        |m| {
            let tmp =
                std::env::temp_dir().join(format!("vigil-{}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed), suffix.trim_start_matches('.')));
            let mut out = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&tmp)?;
            let _ = std::fs::remove_file(&tmp);
            std::io::copy(m, &mut out)?;
            out.seek(SeekFrom::Start(0))?;
            Ok(out)
        },
    )
}

/// Finds the first member of the zip at `path` whose name `wanted` accepts and reads it with `read`.
fn zip_member<T>(
    path: &str,
    wanted: impl Fn(&str) -> bool,
    describe: &str,
    read: impl FnOnce(&mut zip::read::ZipFile<'_, File>) -> std::io::Result<T>,
) -> Result<(String, T), ReadError> {
    let fmt = |msg: String| ReadError::Format { file: path.to_string(), line: 0, msg };
    let f = File::open(path).map_err(|source| ReadError::Open { file: path.to_string(), source })?;
    let mut z = zip::ZipArchive::new(f).map_err(|e| fmt(format!("not a zip archive: {e}")))?;
    for i in 0..z.len() {
        let mut m = z.by_index(i).map_err(|e| fmt(format!("zip member {i}: {e}")))?;
        let name = m.name().to_string();
        if wanted(&name) {
            let v = read(&mut m).map_err(|e| ReadError::at(path, 0, e))?;
            return Ok((name, v));
        }
    }
    Err(fmt(format!("no member named {describe} in the archive")))
}

/// Where the project's shared public data lives (`shared/data`: LOBSTER, Tardis, exchange
/// captures): `$VIGIL_DATA_DIR`, else the nearest `shared/data` above the workspace.
pub fn shared_data_dir() -> Option<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("VIGIL_DATA_DIR") {
        return Some(d.into());
    }
    // Where cargo runs the tests from (its variable at run time, the working directory), then
    // where this crate was compiled: artifacts may be shared by checkouts of one target directory.
    let mut starts: Vec<std::path::PathBuf> = Vec::new();
    starts.extend(std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from));
    starts.extend(std::env::current_dir().ok());
    starts.push(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    starts.iter().flat_map(|s| s.ancestors().map(|a| a.join("shared").join("data")).collect::<Vec<_>>()).find(|p| p.join("lobster").is_dir())
}
