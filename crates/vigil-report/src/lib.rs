//! Reports that leave the building: a suspicious transaction and order report (STOR, EU MAR
//! Art. 16, in the template of Commission Delegated Regulation (EU) 2016/957) and a SAR-style
//! export for US filers, both filled from a case, its alerts and their evidence, its comments and
//! attachments, and the orders behind it; a periodic market integrity report with the desk's
//! compliance metrics. Each report is its data (the JSON export), laid out once as a [`doc::Doc`]
//! that the HTML and PDF writers render.

pub mod case;
pub mod doc;
pub mod html;
pub mod indicators;
pub mod integrity;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod records;
pub mod reference;

pub use case::{CaseData, Sar, Stor};
pub use integrity::{Integrity, Period};
pub use records::{Collector, Record};
pub use reference::Reference;

use serde::Serialize;
use vigil_core::Ts;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] vigil_store::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The formats a report is written in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
    Pdf,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "json" => Format::Json,
            "html" => Format::Html,
            "pdf" => Format::Pdf,
            _ => return None,
        })
    }
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Html => "html",
            Format::Pdf => "pdf",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
            Format::Pdf => "application/pdf",
        }
    }
}

/// Whether this build writes PDF (the `pdf` feature).
pub const PDF: bool = cfg!(feature = "pdf");

/// Writes a report: its data as JSON, or its document as HTML or PDF. `generated_at` (ns) dates the
/// PDF file, so the same report gives the same bytes.
pub fn write<T: Serialize>(report: &T, doc: impl FnOnce() -> doc::Doc, format: Format, generated_at: i64) -> Result<Vec<u8>> {
    match format {
        Format::Json => {
            let mut v = serde_json::to_vec_pretty(report).map_err(|e| Error::Invalid(format!("cannot write the report as JSON: {e}")))?;
            v.push(b'\n');
            Ok(v)
        }
        Format::Html => Ok(html::render(&doc()).into_bytes()),
        #[cfg(feature = "pdf")]
        Format::Pdf => {
            let t = Ts(generated_at).to_string();
            let date: String = t.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
            Ok(pdf::render(&doc(), &date))
        }
        #[cfg(not(feature = "pdf"))]
        Format::Pdf => {
            let _ = generated_at;
            Err(Error::Invalid("this build writes no PDF: build vigil with the `pdf` feature (on by default)".into()))
        }
    }
}

/// A report that left the building, as the audit log records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    /// `stor`, `sar`, `integrity`: the entry's action is `report.<this>`.
    pub report: &'static str,
    /// What it is about: (`case`, its id) or (`report`, the period and scope).
    pub object_type: &'static str,
    pub object_id: String,
    pub format: Format,
    /// How many items the completeness check still lists (case reports).
    pub missing: Option<usize>,
}

/// Records in the audit log that a report was handed out: who, which report about what, the
/// format, and the SHA-256 of the bytes, so the file filed can be matched to the log later. The
/// actor must be an analyst or above. Called once the bytes are written or sent.
pub fn record_export(store: &mut vigil_store::Store, actor: &str, e: &Export, bytes: &[u8]) -> Result<String> {
    use sha2::{Digest, Sha256};
    store.require_user(actor, vigil_store::Role::Analyst)?;
    let sha: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    let mut details = serde_json::json!({"format": e.format.extension(), "bytes": bytes.len(), "sha256": sha});
    if let Some(m) = e.missing {
        details["missing"] = m.into();
    }
    store.audit(actor, &format!("report.{}", e.report), e.object_type, &e.object_id, details)?;
    Ok(sha)
}

/// A time (ns since the epoch) as RFC 3339 in UTC, to the second where it has no fraction.
pub fn time(ns: i64) -> String {
    let s = Ts(ns).to_string();
    match s.strip_suffix(".000000000Z") {
        Some(whole) => format!("{whole}Z"),
        None => s,
    }
}

/// A wall-clock time of a person's action (ns), to the second: RFC 3339 in UTC.
pub fn wall(ns: i64) -> String {
    time(ns.div_euclid(1_000_000_000) * 1_000_000_000)
}

/// A duration in seconds, short: `0.6 s`, `12 min`, `3.5 h`, `2.0 d`.
pub fn dur(s: f64) -> String {
    if !s.is_finite() {
        return "-".into();
    }
    if s < 60.0 {
        format!("{} s", num(s))
    } else if s < 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    }
}

/// A number with at most 4 significant decimals and no trailing zeros.
pub fn num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
