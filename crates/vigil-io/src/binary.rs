//! A compact binary form of one event, for message queues (`vigil publish --encoding binary`): a
//! version byte, a 32-bit mask of the spec's columns present (little-endian), then each present
//! column's text as in the spec's CSV (a varint length and the UTF-8 bytes), in column order. It
//! keeps the spec's exact decimals and is read back through the same checks as JSON and CSV, so a
//! record is accepted or refused for the same reasons; it drops the JSON keys and quotes.

use crate::decode::{Record, COLUMNS};
use crate::flatjson::JsonValue;
use crate::read::Item;
use crate::reject::{Reject, RejectCode};
use std::borrow::Cow;
use std::sync::Arc;
use vigil_core::{Event, Interner, Names};

/// The first byte of every encoded event.
pub const VERSION: u8 = 1;

/// Appends `ev` to `out`.
pub fn encode(ev: &Event, names: &Names, out: &mut Vec<u8>) {
    let cols = crate::write::columns(ev, names);
    let mask: u32 = cols.iter().enumerate().filter(|(_, c)| c.is_some()).fold(0, |m, (i, _)| m | (1 << i));
    out.push(VERSION);
    out.extend_from_slice(&mask.to_le_bytes());
    for c in cols.iter().flatten() {
        let mut n = c.len() as u64;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(c.as_bytes());
    }
}

/// One encoded event (`line`: its number in the source, such as a message offset): the event or
/// the reject it makes.
pub fn decode(file: &Arc<str>, line: u64, bytes: &[u8], interner: &mut Interner) -> Item {
    let reject = |field: Option<&'static str>, reason: String| {
        Item::Reject(Reject { file: file.clone(), line, field, code: RejectCode::InvalidEncoding, reason, raw: hex(&bytes[..bytes.len().min(256)]) })
    };
    if bytes.first() != Some(&VERSION) || bytes.len() < 5 {
        return reject(None, format!("not a version-{VERSION} binary event"));
    }
    let mask = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    if mask >> COLUMNS.len() != 0 {
        return reject(None, format!("column mask {mask:#x} names columns beyond the spec's {}", COLUMNS.len()));
    }
    let mut rec = Record::default();
    let mut at = 5;
    for (c, name) in COLUMNS.iter().enumerate() {
        if mask & (1 << c) == 0 {
            continue;
        }
        let mut len: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = bytes.get(at) else {
                return reject(Some(name), "the record ends inside a length".into());
            };
            at += 1;
            len |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift >= 28 {
                return reject(Some(name), "a length of more than 4 bytes".into());
            }
        }
        let Some(len) = usize::try_from(len).ok().filter(|l| *l <= bytes.len() - at) else {
            return reject(Some(name), format!("a {len}-byte value past the record's end"));
        };
        let raw = &bytes[at..at + len];
        at += len;
        match std::str::from_utf8(raw) {
            Ok(s) => rec.fields[c] = Some(JsonValue::Str(Cow::Borrowed(s))),
            Err(_) => return reject(Some(name), "not valid UTF-8".into()),
        }
    }
    if at != bytes.len() {
        return reject(None, format!("{} bytes after the last column", bytes.len() - at));
    }
    match rec.decode(interner) {
        Ok(mut ev) => {
            ev.seq = line;
            Item::Event(ev)
        }
        Err(e) => Item::Reject(Reject { file: file.clone(), line, field: e.field, code: e.code, reason: e.reason, raw: hex(&bytes[..bytes.len().min(256)]) }),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{EventReader, JsonlReader};

    #[test]
    fn every_event_of_a_file_round_trips_and_is_smaller_than_its_json() {
        let text = concat!(
            r#"{"ts":1,"type":"new","venue":"X","symbol":"BTC-USD","order_id":"o1","account":"a","side":"buy","price":"100.25","qty":"2"}"#,
            "\n",
            r#"{"ts":2,"type":"amend","venue":"X","symbol":"BTC-USD","order_id":"o1","qty":"1.5"}"#,
            "\n",
            r#"{"ts":3,"type":"trade","venue":"X","symbol":"BTC-USD","trade_id":"t1","price":"100.25","qty":"1","buy_account":"a","sell_account":"b","aggressor":"sell"}"#,
            "\n",
            r#"{"ts":4,"type":"quote","venue":"X","symbol":"BTC-USD","bid":"100","bid_qty":"3","ask":"101"}"#,
            "\n",
            r#"{"ts":5,"type":"cancel","venue":"X","symbol":"BTC-USD","order_id":"o1"}"#,
            "\n",
            r#"{"ts":6,"type":"account","account":"a","owner":"o"}"#,
            "\n"
        );
        let mut r = JsonlReader::new(text.as_bytes(), "t.jsonl".into());
        let mut it = Interner::new();
        let mut back = Interner::new();
        let file: Arc<str> = "bin".into();
        let mut n = 0;
        while let Some(item) = r.next(&mut it).unwrap() {
            let Item::Event(ev) = item else { panic!("a reject in the sample") };
            let mut buf = Vec::new();
            encode(&ev, &it.names(), &mut buf);
            let json_len = text.lines().nth(n).unwrap().len();
            assert!(buf.len() * 2 < json_len + 40, "{} bytes against {json_len}", buf.len());
            let Item::Event(got) = decode(&file, ev.seq, &buf, &mut back) else { panic!("event {n} did not decode") };
            let mut a = Vec::new();
            let mut b = Vec::new();
            crate::write::EventWriter::new(&mut a, crate::write::OutFormat::Jsonl).write(&ev, &it.names()).unwrap();
            crate::write::EventWriter::new(&mut b, crate::write::OutFormat::Jsonl).write(&got, &back.names()).unwrap();
            assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            n += 1;
        }
        assert_eq!(n, 6);
    }

    #[test]
    fn damaged_records_are_refused_with_a_reason_never_a_panic() {
        let mut it = Interner::new();
        let file: Arc<str> = "bin".into();
        let mut r = JsonlReader::new(&br#"{"ts":1,"type":"new","venue":"X","symbol":"S","order_id":"o","side":"buy","price":"1","qty":"2"}"#[..], "t".into());
        let Some(Item::Event(ev)) = r.next(&mut it).unwrap() else { panic!() };
        let mut good = Vec::new();
        encode(&ev, &it.names(), &mut good);
        // Every truncation, and every single-byte change, is an event or a reject.
        for cut in 0..good.len() {
            assert!(matches!(decode(&file, 1, &good[..cut], &mut it), Item::Reject(_)), "cut at {cut}");
        }
        for i in 0..good.len() {
            for v in [0u8, 0x7f, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                let _ = decode(&file, 1, &b, &mut it);
            }
        }
        let Item::Reject(r) = decode(&file, 9, b"{\"ts\":1}", &mut it) else { panic!() };
        assert!(r.reason.contains("binary") && r.line == 9, "{}", r.reason);
    }
}
