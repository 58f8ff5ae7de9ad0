//! Streaming readers for the spec's JSON Lines and CSV, in constant memory: one reused line
//! buffer, no per-line allocation for ids of up to 24 bytes.

use crate::decode::{column, Record, COLUMNS};
use crate::flatjson::{for_each_member, JsonValue};
use crate::reject::{Reject, RejectCode};
use crate::ReadError;
use std::borrow::Cow;
use std::io::BufRead;
use std::sync::Arc;
use vigil_core::{Event, Interner};

/// What a reader yields: an event (its `seq` is its line number) or a reject.
#[derive(Debug)]
pub enum Item {
    Event(Event),
    Reject(Reject),
}

/// A source of events from one file.
pub trait EventReader: Send {
    /// The next event or reject; `Ok(None)` at the end; `Err` when the file itself cannot be read
    /// further (an I/O error, a corrupt compressed stream).
    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError>;
    /// The file's name as reports show it.
    fn file(&self) -> &Arc<str>;
}

/// The longest line a reader keeps. A longer one is rejected (its first bytes kept as its raw
/// text), so a file without line breaks cannot make a reader hold the whole file.
pub const MAX_LINE: usize = 1 << 20;

/// Appends one line, through its `\n`, to `buf`, keeping at most `max` bytes of it. Returns the
/// bytes consumed (0 at the end of input) and whether the line was longer than `max`.
pub fn read_line_capped<R: BufRead + ?Sized>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<(usize, bool)> {
    let (mut consumed, mut long) = (0, false);
    let start = buf.len();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((consumed, long));
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let room = max.saturating_sub(buf.len() - start);
        if take > room {
            long = true;
        }
        buf.extend_from_slice(&avail[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, long));
        }
    }
}

/// The reject of a line that is not UTF-8.
pub(crate) fn not_utf8(file: &Arc<str>, line: u64, bytes: &[u8], e: std::str::Utf8Error) -> Item {
    let reason = format!("not valid UTF-8 at byte {}", e.valid_up_to() + 1);
    Item::Reject(Reject { file: file.clone(), line, field: None, code: RejectCode::InvalidEncoding, reason, raw: lossy(bytes) })
}

/// The reject of a line longer than [`MAX_LINE`].
pub(crate) fn too_long(file: &Arc<str>, line: u64, code: RejectCode, start: &[u8]) -> Item {
    let raw = lossy(&start[..start.len().min(200)]);
    Item::Reject(Reject { file: file.clone(), line, field: None, code, reason: format!("the line is longer than {} bytes", MAX_LINE), raw })
}

pub(crate) fn lossy(b: &[u8]) -> String {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    let b = b.strip_suffix(b"\r").unwrap_or(b);
    String::from_utf8_lossy(b).into_owned()
}

/// The spec's JSON Lines.
pub struct JsonlReader<R> {
    r: R,
    file: Arc<str>,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead + Send> JsonlReader<R> {
    pub fn new(r: R, file: Arc<str>) -> Self {
        JsonlReader { r, file, line: 0, buf: Vec::with_capacity(512) }
    }
}

impl<R: BufRead + Send> EventReader for JsonlReader<R> {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        loop {
            self.buf.clear();
            let (n, long) = read_line_capped(&mut self.r, &mut self.buf, MAX_LINE).map_err(|e| ReadError::at(&self.file, self.line + 1, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if let Some(item) = jsonl_line(&self.file, self.line, &self.buf, long, interner) {
                return Ok(Some(item));
            }
        }
    }
}

/// One JSON line (`line` is its 1-based number, `long` whether it was cut at [`MAX_LINE`]): the
/// event or the reject it makes, or `None` for a blank line.
pub fn jsonl_line(file: &Arc<str>, line: u64, bytes: &[u8], long: bool, interner: &mut Interner) -> Option<Item> {
    if long {
        return Some(too_long(file, line, RejectCode::InvalidJson, bytes));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(l) => l,
        Err(e) => return Some(not_utf8(file, line, bytes, e)),
    };
    let text = if line == 1 { text.trim_start_matches('\u{feff}') } else { text };
    if text.bytes().all(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let mut rec = Record::default();
    let mut dup: Option<&'static str> = None;
    let mut seen = 0u32;
    let parsed = for_each_member(text, |k, v: JsonValue<'_>| {
        if let Some(c) = column(k) {
            if seen & (1 << c) != 0 {
                dup = Some(COLUMNS[c]);
                return Err(());
            }
            seen |= 1 << c;
            if v != JsonValue::Null {
                rec.fields[c] = Some(v);
            }
        }
        Ok(())
    });
    let reject = |field, code, reason: String| Item::Reject(Reject { file: file.clone(), line, field, code, reason, raw: lossy(text.as_bytes()) });
    Some(match parsed {
        Err(Err(e)) => reject(None, RejectCode::InvalidJson, format!("{} at byte {}", e.msg, e.offset + 1)),
        Err(Ok(())) => reject(dup, RejectCode::InvalidJson, "the field appears twice".into()),
        Ok(()) => match rec.decode(interner) {
            Ok(mut ev) => {
                ev.seq = line;
                Item::Event(ev)
            }
            Err(e) => reject(e.field, e.code, e.reason),
        },
    })
}

/// The spec's CSV: a header row naming the columns (in the spec's order or any other), read with
/// the `csv` crate, whose line numbers count line breaks inside quoted fields (a record after blank
/// lines is numbered from the first of them).
pub struct CsvReader<R: std::io::Read> {
    r: csv::Reader<R>,
    file: Arc<str>,
    map: Arc<Vec<Option<usize>>>,
    /// Lines before the first the `csv` crate reads (a block of a larger file).
    lines_before: u64,
    rec: csv::ByteRecord,
}

impl<R: std::io::Read + Send> CsvReader<R> {
    /// Reads the header row; a file without a usable one is an error.
    pub fn new(r: R, file: Arc<str>) -> Result<Self, ReadError> {
        let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(true).buffer_capacity(1 << 16).from_reader(r);
        let header =
            r.byte_headers().map_err(|e| ReadError::Format { file: file.to_string(), line: 1, msg: format!("cannot read the CSV header: {e}") })?.clone();
        let map = Arc::new(csv_columns(&header, &file)?);
        Ok(CsvReader { r, file, map, lines_before: 0, rec: csv::ByteRecord::new() })
    }

    /// Records without a header row, numbered from `lines_before + 1`, mapped by `map` (a block
    /// of a file whose header was read elsewhere).
    pub fn records(r: R, file: Arc<str>, map: Arc<Vec<Option<usize>>>, lines_before: u64) -> Self {
        let r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(r);
        CsvReader { r, file, map, lines_before, rec: csv::ByteRecord::new() }
    }

    /// The columns the header named.
    pub fn columns(&self) -> &Arc<Vec<Option<usize>>> {
        &self.map
    }
}

impl<R: std::io::Read + Send> EventReader for CsvReader<R> {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        let more = match self.r.read_byte_record(&mut self.rec) {
            Ok(m) => m,
            Err(e) => {
                let line = self.lines_before + e.position().map_or(0, |p| p.line());
                return match e.into_kind() {
                    csv::ErrorKind::Io(io) => Err(ReadError::at(&self.file, line, io)),
                    other => Ok(Some(Item::Reject(Reject {
                        file: self.file.clone(),
                        line,
                        field: None,
                        code: RejectCode::InvalidCsv,
                        reason: format!("{other:?}"),
                        raw: String::new(),
                    }))),
                };
            }
        };
        if !more {
            return Ok(None);
        }
        let line = self.lines_before + self.rec.position().map_or(0, |p| p.line());
        Ok(Some(csv_record(&self.file, line, &self.rec, &self.map, interner)))
    }
}

/// Whether a CSV line, begun inside a quoted field or not, ends inside one: the `csv` crate's rules
/// (a quote opens a quoted field only at a field's start; `""` inside one is a quote). Lines
/// without quotes outside a quoted field take the fast path.
pub(crate) fn ends_in_quotes(line: &[u8], quoted: bool) -> bool {
    if !quoted && memchr::memchr(b'"', line).is_none() {
        return false;
    }
    #[derive(PartialEq)]
    enum S {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut s = if quoted { S::Quoted } else { S::FieldStart };
    for &c in line {
        s = match (s, c) {
            (S::Quoted, b'"') => S::QuoteInQuoted,
            (S::Quoted, _) => S::Quoted,
            (S::QuoteInQuoted, b'"') => S::Quoted,
            (S::FieldStart, b'"') => S::Quoted,
            (_, b',' | b'\n' | b'\r') => S::FieldStart,
            _ => S::Unquoted,
        };
    }
    s == S::Quoted
}

/// The column of each CSV field, from the header row; an error names what is missing.
pub fn csv_columns(header: &csv::ByteRecord, file: &str) -> Result<Vec<Option<usize>>, ReadError> {
    // A byte-order mark some spreadsheet programs write is not part of the first column's name.
    let map: Vec<Option<usize>> = header.iter().map(|h| std::str::from_utf8(h).ok().and_then(|h| column(h.trim_start_matches('\u{feff}').trim()))).collect();
    for need in ["ts", "type"] {
        if !map.iter().flatten().any(|&c| COLUMNS[c] == need) {
            return Err(ReadError::Format {
                file: file.to_string(),
                line: 1,
                msg: format!("the CSV header has no `{need}` column; expected the spec's columns: {}", COLUMNS.join(",")),
            });
        }
    }
    Ok(map)
}

/// One CSV record (starting on `line`): the event or the reject it makes.
pub fn csv_record(file: &Arc<str>, line: u64, rec: &csv::ByteRecord, map: &[Option<usize>], interner: &mut Interner) -> Item {
    let raw = || {
        let fields: Vec<String> = rec.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        fields.join(",")
    };
    let reject = |field, code, reason: String| Item::Reject(Reject { file: file.clone(), line, field, code, reason, raw: raw() });
    if rec.as_slice().len() > MAX_LINE {
        return too_long(file, line, RejectCode::InvalidCsv, rec.as_slice());
    }
    if rec.len() > map.len() {
        return reject(None, RejectCode::InvalidCsv, format!("{} fields, but the header has {}", rec.len(), map.len()));
    }
    // One UTF-8 check for the whole record; fields are then sliced from it.
    let all = match std::str::from_utf8(rec.as_slice()) {
        Ok(all) => all,
        Err(e) => {
            let bad = (0..rec.len()).find(|&i| rec.range(i).is_some_and(|r| r.contains(&e.valid_up_to())));
            return reject(bad.and_then(|i| map[i]).map(|c| COLUMNS[c]), RejectCode::InvalidEncoding, "not valid UTF-8".into());
        }
    };
    let mut fields = Record::default();
    for (i, c) in map.iter().enumerate().take(rec.len()) {
        let (Some(c), Some(r)) = (*c, rec.range(i)) else { continue };
        if r.is_empty() {
            continue;
        }
        match all.get(r) {
            Some(s) => fields.fields[c] = Some(JsonValue::Str(Cow::Borrowed(s))),
            None => return reject(Some(COLUMNS[c]), RejectCode::InvalidEncoding, "not valid UTF-8".into()),
        }
    }
    match fields.decode(interner) {
        Ok(mut ev) => {
            ev.seq = line;
            Item::Event(ev)
        }
        Err(e) => reject(e.field, e.code, e.reason),
    }
}
