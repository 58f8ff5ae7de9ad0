//! Rejected input: never fatal, never silently dropped. Each reject names the file, the line, the
//! field and the reason, is counted by reason, and is written with its raw text to the reject file
//! when one is asked for.

use rustc_hash::FxHashMap;
use std::io::Write;
use std::sync::Arc;

/// Why a record was refused; the summary counts by this code.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectCode {
    /// Not a JSON object, or truncated.
    InvalidJson,
    /// A CSV row that cannot be read.
    InvalidCsv,
    /// The line is not UTF-8.
    InvalidEncoding,
    /// A required field is absent or empty.
    MissingField,
    /// A field has the wrong JSON type or an unreadable value.
    InvalidField,
    /// A price or quantity that is not an exact decimal with at most 8 places.
    InvalidDecimal,
    /// A quantity that is zero or negative.
    InvalidQty,
    InvalidTimestamp,
    UnknownType,
    /// Earlier than the latest event seen by more than the reorder tolerance.
    OutOfOrder,
    DuplicateTradeId,
    /// A LOBSTER row that cannot be read.
    InvalidLobster,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InvalidJson => "invalid_json",
            RejectCode::InvalidCsv => "invalid_csv",
            RejectCode::InvalidEncoding => "invalid_encoding",
            RejectCode::MissingField => "missing_field",
            RejectCode::InvalidField => "invalid_field",
            RejectCode::InvalidDecimal => "invalid_decimal",
            RejectCode::InvalidQty => "invalid_qty",
            RejectCode::InvalidTimestamp => "invalid_timestamp",
            RejectCode::UnknownType => "unknown_type",
            RejectCode::OutOfOrder => "out_of_order",
            RejectCode::DuplicateTradeId => "duplicate_trade_id",
            RejectCode::InvalidLobster => "invalid_lobster",
        }
    }
}

/// One refused record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub file: Arc<str>,
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    /// The field at fault, where one is.
    pub field: Option<&'static str>,
    pub code: RejectCode,
    pub reason: String,
    /// The record as read (lossily decoded if it was not UTF-8).
    pub raw: String,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(field) = self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{} ({})", self.reason, self.code.as_str())
    }
}

#[derive(serde::Serialize)]
struct RejectLine<'a> {
    file: &'a str,
    line: u64,
    field: Option<&'a str>,
    code: &'a str,
    reason: &'a str,
    raw: &'a str,
}

/// Counts rejects by code and writes them, one JSON object a line, where asked.
pub struct RejectSink {
    counts: FxHashMap<RejectCode, u64>,
    out: Option<Box<dyn Write + Send>>,
    /// The first few, kept for the summary.
    pub examples: Vec<Reject>,
    write_error: Option<std::io::Error>,
}

impl Default for RejectSink {
    fn default() -> Self {
        Self::new(None)
    }
}

impl RejectSink {
    pub const EXAMPLES: usize = 10;

    pub fn new(out: Option<Box<dyn Write + Send>>) -> Self {
        RejectSink { counts: FxHashMap::default(), out, examples: Vec::new(), write_error: None }
    }

    pub fn push(&mut self, r: Reject) {
        *self.counts.entry(r.code).or_default() += 1;
        if let Some(out) = &mut self.out {
            let line = RejectLine { file: &r.file, line: r.line, field: r.field, code: r.code.as_str(), reason: &r.reason, raw: &r.raw };
            let res = serde_json::to_writer(&mut *out, &line).map_err(std::io::Error::from).and_then(|_| out.write_all(b"\n"));
            if let Err(e) = res {
                self.write_error.get_or_insert(e);
            }
        }
        if self.examples.len() < Self::EXAMPLES {
            self.examples.push(r);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn count(&self, code: RejectCode) -> u64 {
        self.counts.get(&code).copied().unwrap_or(0)
    }

    /// Counts by reason, largest first, then by name.
    pub fn by_reason(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<_> = self.counts.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// Flushes the reject file; reports the first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.write_error.take() {
            return Err(e);
        }
        if let Some(out) = &mut self.out {
            out.flush()?;
        }
        Ok(())
    }
}
