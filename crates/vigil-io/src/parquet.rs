//! Parquet files with the spec's columns (`ts, type, venue, symbol, order_id, …`), as pandas,
//! polars, Spark or DuckDB write them: any subset of the columns, in any order, compressed with
//! snappy, gzip, LZ4 or zstd. Each row goes through the same decoding as a CSV row, so the rules
//! and the rejects are the same; a row's number (from 1) stands for its line.
//!
//! Column types: text columns are strings; `ts` is an integer of nanoseconds, a timestamp
//! (milli-, micro- or nanoseconds) or an RFC 3339 string; prices and quantities are strings,
//! integers, decimals (exact) or floating point (written as the shortest decimal that reads back
//! as the same double, then kept exactly).

use crate::decode::{column, Record, COLUMNS};
use crate::flatjson::JsonValue;
use crate::reject::{Reject, RejectCode};
use crate::{EventReader, Item, ReadError};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use std::borrow::Cow;
use std::sync::Arc;
use vigil_core::Interner;

pub struct ParquetReader {
    file: Arc<str>,
    rows: RowIter<'static>,
    row: u64,
}

impl ParquetReader {
    pub fn open(path: &str) -> Result<Self, ReadError> {
        let f = std::fs::File::open(path).map_err(|source| ReadError::Open { file: path.to_string(), source })?;
        let r = SerializedFileReader::new(f).map_err(|e| ReadError::Format {
            file: path.to_string(),
            line: 0,
            msg: format!("not a readable Parquet file: {e}"),
        })?;
        let schema = r.metadata().file_metadata().schema_descr();
        let names: Vec<String> = schema.columns().iter().map(|c| c.name().to_string()).collect();
        for need in ["ts", "type"] {
            if !names.iter().any(|n| n == need) {
                return Err(ReadError::Format { file: path.to_string(), line: 0, msg: format!("no `{need}` column (columns: {})", names.join(", ")) });
            }
        }
        Ok(ParquetReader { file: Arc::from(path), rows: r.into_iter(), row: 0 })
    }
}

/// A decimal's unscaled big-endian two's-complement bytes and scale, as decimal text.
fn decimal_text(bytes: &[u8], scale: i32) -> Option<String> {
    // Parquet decimals have at most 38 digits; a larger scale in a file's metadata is not a decimal.
    if bytes.is_empty() || bytes.len() > 16 || !(0..=38).contains(&scale) {
        return None;
    }
    let mut v: i128 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
    for b in bytes {
        v = (v << 8) | i128::from(*b);
    }
    let neg = v < 0;
    let digits = v.unsigned_abs().to_string();
    let scale = scale.max(0) as usize;
    let body = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!("{}.{}", &digits[..digits.len() - scale], &digits[digits.len() - scale..])
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    Some(if neg { format!("-{body}") } else { body })
}

/// A field's text as the decoder reads it; `Ok(None)` for null; `Err` names what the type is.
fn text(col: usize, f: &Field) -> Result<Option<(String, bool)>, String> {
    let ts = col == crate::decode::TS;
    Ok(Some(match f {
        Field::Null => return Ok(None),
        Field::Str(s) => (s.clone(), false),
        Field::Bytes(b) => (std::str::from_utf8(b.data()).map_err(|_| "bytes that are not UTF-8".to_string())?.to_string(), false),
        Field::Byte(x) => (x.to_string(), true),
        Field::Short(x) => (x.to_string(), true),
        Field::Int(x) => (x.to_string(), true),
        Field::Long(x) => (x.to_string(), true),
        Field::UByte(x) => (x.to_string(), true),
        Field::UShort(x) => (x.to_string(), true),
        Field::UInt(x) => (x.to_string(), true),
        Field::ULong(x) => (x.to_string(), true),
        Field::TimestampMillis(ms) if ts => (ms.checked_mul(1_000_000).ok_or("a timestamp out of range")?.to_string(), true),
        Field::TimestampMicros(us) if ts => (us.checked_mul(1_000).ok_or("a timestamp out of range")?.to_string(), true),
        Field::Float(x) if x.is_finite() => (x.to_string(), true),
        Field::Double(x) if x.is_finite() => (x.to_string(), true),
        Field::Float(_) | Field::Double(_) => return Err("a number that is not finite".into()),
        Field::Decimal(d) => (decimal_text(d.data(), d.scale()).ok_or("a decimal wider than 128 bits or with a scale beyond 38")?, true),
        other => return Err(format!("a value of an unsupported Parquet type ({other})")),
    }))
}

impl EventReader for ParquetReader {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        let row = match self.rows.next() {
            None => return Ok(None),
            Some(Err(e)) => return Err(ReadError::Format { file: self.file.to_string(), line: self.row + 1, msg: format!("row {}: {e}", self.row + 1) }),
            Some(Ok(r)) => r,
        };
        self.row += 1;
        let line = self.row;
        let mut vals: [Option<(String, bool)>; 20] = Default::default();
        let raw = || row.to_string();
        for (name, f) in row.get_column_iter() {
            let Some(c) = column(name) else { continue };
            match text(c, f) {
                Ok(v) => vals[c] = v,
                Err(reason) => {
                    let reason = format!("{} is {reason}", COLUMNS[c]);
                    return Ok(Some(Item::Reject(Reject {
                        file: self.file.clone(),
                        line,
                        field: Some(COLUMNS[c]),
                        code: RejectCode::InvalidField,
                        reason,
                        raw: raw(),
                    })));
                }
            }
        }
        let mut rec = Record::default();
        for (c, v) in vals.iter().enumerate() {
            rec.fields[c] = v.as_ref().map(|(s, num)| if *num { JsonValue::Num(s.as_str()) } else { JsonValue::Str(Cow::Borrowed(s.as_str())) });
        }
        Ok(Some(match rec.decode(interner) {
            Ok(mut ev) => {
                ev.seq = line;
                Item::Event(ev)
            }
            Err(e) => Item::Reject(Reject { file: self.file.clone(), line, field: e.field, code: e.code, reason: e.reason, raw: raw() }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal_text(&[0x30, 0x39], 2).as_deref(), Some("123.45"));
        assert_eq!(decimal_text(&[0xff, 0xff], 3).as_deref(), Some("-0.001"));
        assert_eq!(decimal_text(&[0x05], 0).as_deref(), Some("5"));
        assert_eq!(decimal_text(&[], 0), None);
        assert_eq!(decimal_text(&[1], i32::MAX), None);
    }
}
