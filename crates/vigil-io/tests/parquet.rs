//! Parquet files written by pyarrow (scripts/make-parquet-fixtures.py) with the spec's columns in
//! three encodings — timestamps and exact decimals under snappy, integer nanoseconds and doubles
//! under zstd, strings under gzip — read to the same events as the same rows in JSON Lines, with
//! the one bad row rejected by its row number and field.

use std::path::PathBuf;
use std::sync::Arc;
use vigil_core::{Event, Interner};
use vigil_io::{Format, Item, RejectCode};

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("data").join(name).to_string_lossy().into_owned()
}

fn read(path: &str, format: Option<Format>) -> (Vec<Event>, Vec<vigil_io::Reject>) {
    let mut r = vigil_io::open(path, format, Arc::default()).unwrap();
    let mut i = Interner::new();
    let (mut ev, mut rej) = (Vec::new(), Vec::new());
    while let Some(x) = r.next(&mut i).unwrap() {
        match x {
            Item::Event(mut e) => {
                e.seq = 0;
                ev.push(e)
            }
            Item::Reject(r) => rej.push(r),
        }
    }
    (ev, rej)
}

#[test]
fn parquet_reads_like_the_same_rows_in_json_lines() {
    let (want, none) = read(&data("events-parquet.jsonl"), None);
    assert!(none.is_empty());
    assert_eq!(want.len(), 7);
    for name in ["events-snappy.parquet", "events-zstd.parquet", "events-gzip.parquet"] {
        let (got, rejects) = read(&data(name), None);
        assert_eq!(got, want, "{name}");
        assert_eq!(rejects.len(), 1, "{name}");
        let r = &rejects[0];
        assert_eq!((r.line, r.field, r.code), (8, Some("qty"), RejectCode::InvalidQty), "{name}: {r}");
        assert!(r.to_string().contains(name), "the reject names the file: {r}");
    }
}

#[test]
fn a_file_that_is_not_parquet_is_a_clear_error() {
    let e = vigil_io::open(&data("events-parquet.jsonl"), Some(Format::Parquet), Arc::default()).err().expect("not Parquet");
    assert!(e.to_string().contains("not a readable Parquet file"), "{e}");
}
