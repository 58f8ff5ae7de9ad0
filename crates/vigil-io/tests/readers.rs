//! Readers, reordering and the duplicate check, at the library level.

use std::io::Write;
use std::sync::Arc;
use vigil_core::{EventKind, Interner, Ts};
use vigil_io::{CsvReader, EventReader, EventStream, Item, JsonlReader, ReadAhead, RejectCode, RejectSink, StreamOptions};

fn jsonl(text: &str) -> Box<dyn EventReader> {
    Box::new(JsonlReader::new(std::io::Cursor::new(text.as_bytes().to_vec()), Arc::from("t.jsonl")))
}

fn drain(mut r: Box<dyn EventReader>) -> (Vec<vigil_core::Event>, Vec<vigil_io::Reject>) {
    let mut i = Interner::new();
    let (mut ev, mut rj) = (Vec::new(), Vec::new());
    while let Some(x) = r.next(&mut i).unwrap() {
        match x {
            Item::Event(e) => ev.push(e),
            Item::Reject(r) => rj.push(r),
        }
    }
    (ev, rj)
}

fn line(ts: i64, id: &str) -> String {
    format!(r#"{{"ts": {ts}, "type": "trade", "venue": "v", "symbol": "S-X", "trade_id": "{id}", "price": "1", "qty": "1"}}"#)
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_data() {
    let (ev, rj) = drain(jsonl(&format!("\u{feff}{}\n", line(1, "a"))));
    assert_eq!((ev.len(), rj.len()), (1, 0));
    let csv = "\u{feff}ts,type,venue,symbol,trade_id,price,qty\n5,trade,v,S-X,t1,1.5,2\n";
    let r = CsvReader::new(std::io::Cursor::new(csv.as_bytes().to_vec()), Arc::from("t.csv")).unwrap();
    let (ev, rj) = drain(Box::new(r));
    assert_eq!((ev.len(), rj.len()), (1, 0));
    assert_eq!(ev[0].ts, Ts(5));
}

#[test]
fn names_are_normalised_and_decimals_exact() {
    let (ev, _) = drain(jsonl(
        r#"{"ts": "2024-01-01T00:00:00.5Z", "type": "new", "venue": "Binance", "symbol": "btc-usdt", "order_id": 17, "side": "buy", "price": 0.1, "qty": "3.00000001"}"#,
    ));
    let EventKind::New(n) = &ev[0].kind else { panic!() };
    assert_eq!(n.price.unwrap().raw(), 10_000_000);
    assert_eq!(n.qty.raw(), 300_000_001);
    assert_eq!(n.order_id.as_str(), "17");
    assert_eq!(ev[0].ts, Ts(1_704_067_200_500_000_000));
}

fn stream(text: &str, opts: StreamOptions) -> (Vec<(i64, u64)>, EventStream) {
    let mut s = EventStream::new(vec![jsonl(text)], &opts, Interner::new(), RejectSink::default());
    let mut out = Vec::new();
    while let Some(e) = s.next_event() {
        out.push((e.ts.0, e.seq));
    }
    (out, s)
}

#[test]
fn jitter_within_the_tolerance_is_reordered_and_later_events_rejected() {
    let ms = 1_000_000;
    let text = [line(10 * ms, "a"), line(12 * ms, "b"), line(9 * ms, "c"), line(14 * ms, "d"), line(5 * ms, "e"), line(14 * ms, "f")].join("\n");
    let (out, s) = stream(&text, StreamOptions { reorder_tolerance_ns: 5 * ms, ..Default::default() });
    let ts: Vec<i64> = out.iter().map(|x| x.0 / ms).collect();
    assert_eq!(ts, vec![9, 10, 12, 14, 14]);
    assert_eq!(out.iter().map(|x| x.1).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5], "seq is the position in the stream");
    assert_eq!(s.stats().reordered, 1);
    assert_eq!(s.rejects.count(RejectCode::OutOfOrder), 1);
    assert_eq!(s.rejects.examples[0].line, 5);
}

#[test]
fn duplicate_trade_ids_are_remembered_for_the_window_only() {
    let s = 1_000_000_000;
    let text = [line(0, "x"), line(s, "x"), line(700 * s, "x"), line(701 * s, "y")].join("\n");
    let (out, st) = stream(&text, StreamOptions { dedup_window_ns: 600 * s, ..Default::default() });
    assert_eq!(out.len(), 3, "the repeat a second later is rejected; one 700 s later is a new trade");
    assert_eq!(st.rejects.count(RejectCode::DuplicateTradeId), 1);
    // The same id on another venue, or for another symbol, is another trade.
    let other = format!("{}\n{}\n{}", line(0, "x"), line(1, "x").replace("\"v\"", "\"w\""), line(2, "x").replace("S-X", "S-Y"));
    assert_eq!(stream(&other, StreamOptions::default()).0.len(), 3);
}

#[test]
fn files_merge_by_event_time_with_deterministic_ids() {
    let a = [line(1, "a1"), line(3, "a2"), line(5, "a3")].join("\n");
    let b = [line(2, "b1"), line(4, "b2")].join("\n").replace("S-X", "S-Y");
    let run = |ahead: bool| {
        let mk = |t: &str| if ahead { Box::new(ReadAhead::new(jsonl(t))) as Box<dyn EventReader> } else { jsonl(t) };
        let mut s = EventStream::new(vec![mk(&a), mk(&b)], &StreamOptions::default(), Interner::new(), RejectSink::default());
        let mut v = Vec::new();
        while let Some(e) = s.next_event() {
            v.push((e.ts.0, e.symbol.0, s.names().symbol(e.symbol).to_string()));
        }
        v
    };
    let plain = run(false);
    assert_eq!(plain.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    for _ in 0..20 {
        let ahead = run(true);
        assert_eq!(ahead.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert_eq!(
            ahead.iter().map(|x| (x.1, x.2.clone())).collect::<Vec<_>>(),
            vec![(0, "S-X".into()), (1, "S-Y".into()), (0, "S-X".into()), (1, "S-Y".into()), (0, "S-X".into())]
        );
    }
}

#[test]
fn gzip_is_read_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("e.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), flate2::Compression::fast());
    for k in 0..1000 {
        writeln!(enc, "{}", line(k, &k.to_string())).unwrap();
    }
    enc.finish().unwrap();
    let (ev, rj) = drain(vigil_io::open(p.to_str().unwrap(), None, Default::default()).unwrap());
    assert_eq!((ev.len(), rj.len()), (1000, 0));
}

#[test]
fn an_endless_line_is_rejected_without_holding_the_file() {
    let long = format!("{{\"ts\": 1, \"type\": \"{}\"}}", "x".repeat(3 << 20));
    let (ev, rj) = drain(jsonl(&format!("{long}\n{}\n", line(2, "a"))));
    assert_eq!(ev.len(), 1);
    assert_eq!(rj.len(), 1);
    assert_eq!((rj[0].line, rj[0].code), (1, RejectCode::InvalidJson));
    assert!(rj[0].reason.contains("longer than"), "{}", rj[0].reason);
    assert!(rj[0].raw.len() <= 200);
}

#[test]
fn a_field_named_twice_is_rejected_even_after_null() {
    let (ev, rj) = drain(jsonl(r#"{"ts": 1, "type": "trade", "venue": "v", "symbol": "S", "trade_id": "t", "price": "1", "qty": null, "qty": "-1"}"#));
    assert!(ev.is_empty());
    assert_eq!((rj[0].field, rj[0].code), (Some("qty"), RejectCode::InvalidJson));
}

#[test]
fn timestamps_outside_a_sane_range_are_rejected() {
    let (ev, rj) = drain(jsonl(
        &[
            line(-5, "a"),
            line(1_700_000_000, "b").replace("1700000000", "-9223372036854775807"),
            line(9_000_000_000_000_000_000, "c"),
            line(1_700_000_000_000_000_000, "d"),
        ]
        .join("\n"),
    ));
    assert_eq!(ev.len(), 1);
    assert!(rj.iter().all(|r| r.code == RejectCode::InvalidTimestamp && r.field == Some("ts")), "{rj:?}");
    assert_eq!(rj.len(), 3);
}

#[test]
fn a_bad_lobster_row_is_a_reject_not_the_end_of_the_file() {
    let rows: &[u8] = b"34200.1,1,5,10,1000000,1\n34200.2,1,6,\xff\xfe,1000000,1\n34200.3,9,7,10,1000000,1\n34200.4,3,5,10,1000000,1\n";
    let r =
        vigil_io::lobster::LobsterReader::new(std::io::Cursor::new(rows.to_vec()), Arc::from("x"), "AAPL_2012-06-21_34200000_57600000_message_1.csv").unwrap();
    let (ev, rj) = drain(Box::new(r));
    assert_eq!(ev.len(), 2);
    assert_eq!(rj.iter().map(|r| (r.line, r.code)).collect::<Vec<_>>(), vec![(2, RejectCode::InvalidEncoding), (3, RejectCode::InvalidLobster)]);
}

proptest::proptest! {
    /// Lines assembled from the pieces event lines are made of (keys, quotes, numbers, escapes,
    /// separators, truncations) never panic a reader, and each gives exactly one event or reject.
    #[test]
    fn json_shaped_garbage_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
        "{", "}", "\"", ":", ",", " ", "\"ts\"", "\"type\"", "\"trade\"", "\"new\"", "\"qty\"", "\"price\"", "\"venue\"", "\"symbol\"",
        "\"order_id\"", "\"side\"", "\"buy\"", "1", "-1", "0.5", "1e308", "1e-400", "99999999999999999999", "\"1e9\"", "null", "true",
        "\\u", "\\ud800", "\\\"", "é", "\"2024-02-30T00:00:00Z\"", "1700000000000000000", "[", "\"\u{feff}\"",
    ]), 0..40)) {
        let line = parts.concat();
        let (ev, rj) = drain(jsonl(&line));
        proptest::prop_assert!(ev.len() + rj.len() <= 1);
        if !line.trim().is_empty() {
            proptest::prop_assert_eq!(ev.len() + rj.len(), 1);
        }
    }

    #[test]
    fn csv_shaped_garbage_never_panics(cells in proptest::collection::vec(proptest::sample::select(vec![
        "", "1700000000000000000", "new", "trade", "cancel", "v", "S-X", "1", "-1", "1.5", "buy", "x", "\"", "\"a,b\"", "1e5", "é", "\u{0}",
    ]), 0..25)) {
        let text = format!("ts,type,venue,symbol,order_id,account,side,price,qty,trade_id\n{}\n", cells.join(","));
        if let Ok(r) = CsvReader::new(std::io::Cursor::new(text.into_bytes()), Arc::from("g.csv")) {
            let (ev, rj) = drain(Box::new(r));
            proptest::prop_assert!(ev.len() + rj.len() <= 2);
        }
    }
}

#[test]
fn a_csv_field_that_is_not_utf8_is_named() {
    let mut text = b"ts,type,venue,symbol,order_id,account,side,price,qty\n1,new,v,S-X,1,".to_vec();
    text.extend_from_slice(b"\xffA,buy,1,1\n2,new,v,S-X,2,B,buy,1,1\n");
    let r = CsvReader::new(std::io::Cursor::new(text), Arc::from("u.csv")).unwrap();
    let (ev, rj) = drain(Box::new(r));
    assert_eq!(ev.len(), 1);
    assert_eq!((rj[0].line, rj[0].field, rj[0].code), (2, Some("account"), RejectCode::InvalidEncoding));
}

/// The parallel reader's output against the one-thread reader's, naming the first difference.
fn assert_same(many: &(Vec<vigil_core::Event>, Vec<RejectKey>), one: &(Vec<vigil_core::Event>, Vec<RejectKey>), workers: usize) {
    let first = many.1.iter().zip(&one.1).position(|(a, b)| a != b);
    assert!(
        first.is_none() && many.1.len() == one.1.len(),
        "rejects with {workers} workers differ at {first:?}: {:?} vs {:?}",
        first.map(|i| &many.1[i]),
        first.map(|i| &one.1[i])
    );
    assert!(many.0 == one.0, "events with {workers} workers");
}

/// A reject as compared across readers: line, code, field, reason.
type RejectKey = (u64, RejectCode, Option<&'static str>, String);

fn items_debug(items: (Vec<vigil_core::Event>, Vec<vigil_io::Reject>)) -> (Vec<vigil_core::Event>, Vec<RejectKey>) {
    (items.0, items.1.into_iter().map(|r| (r.line, r.code, r.field, r.reason)).collect())
}

#[test]
fn parsing_on_many_threads_gives_exactly_what_one_thread_gives() {
    // Several blocks' worth of lines: good events on many symbols and accounts, and every kind of bad line.
    let mut text = String::from("\u{feff}");
    for k in 0..40_000u64 {
        let l = match k % 97 {
            0 => "{\"ts\": 1, \"type\": \"tra".to_string(),
            1 => String::new(),
            2 => format!(r#"{{"ts": {k}, "type": "new", "venue": "v", "symbol": "S{}", "order_id": "{k}", "side": "up", "qty": "1"}}"#, k % 13),
            3 => "x".repeat(MAX + 10),
            _ => format!(
                r#"{{"ts": {k}, "type": "new", "venue": "v{}", "symbol": "S{}", "order_id": "{k}", "account": "A{}", "side": "buy", "price": "{}.5", "qty": "{}"}}"#,
                k % 3,
                k % 13,
                k % 101,
                k % 1000,
                1 + k % 7
            ),
        };
        text.push_str(&l);
        text.push('\n');
    }
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"{\"ts\": 5, \"type\": \"cancel\", \"venue\": \"v\", \"symbol\": \"\xff\", \"order_id\": \"1\"}\n");
    let one = items_debug(drain(jsonl_bytes(&bytes)));
    assert!(one.0.len() > 35_000 && one.1.len() > 1_000, "{} events, {} rejects", one.0.len(), one.1.len());
    for workers in [1, 2, 3] {
        let r = vigil_io::Parallel::jsonl(Box::new(std::io::Cursor::new(bytes.clone())), Arc::from("t.jsonl"), workers);
        assert_same(&items_debug(drain(Box::new(r))), &one, workers);
    }
}

const MAX: usize = vigil_io::read::MAX_LINE;

fn jsonl_bytes(b: &[u8]) -> Box<dyn EventReader> {
    Box::new(JsonlReader::new(std::io::Cursor::new(b.to_vec()), Arc::from("t.jsonl")))
}

#[test]
fn a_cut_gzip_read_in_parallel_gives_what_was_read_then_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for k in 0..200_000 {
        writeln!(enc, "{}", line(k, &k.to_string())).unwrap();
    }
    let full = enc.finish().unwrap();
    std::fs::write(&p, &full[..full.len() / 2]).unwrap();
    let mut r = vigil_io::open_threaded(p.to_str().unwrap(), None, Default::default(), 2).unwrap();
    let mut i = Interner::new();
    let mut n = 0;
    let err = loop {
        match r.next(&mut i) {
            Ok(Some(Item::Event(_))) => n += 1,
            Ok(Some(Item::Reject(_))) => {}
            Ok(None) => panic!("a cut file must end in an error"),
            Err(e) => break e,
        }
    };
    assert!(n > 10_000, "{n} events read before the cut");
    assert!(err.to_string().contains("cut.jsonl.gz"), "{err}");
    assert!(matches!(r.next(&mut i), Ok(None)), "after the error, the reader is exhausted");
}

#[test]
fn csv_parsed_on_many_threads_gives_exactly_what_one_thread_gives() {
    let mut text = String::from("ts,type,venue,symbol,order_id,account,side,price,qty,trade_id\n");
    for k in 0..30_000u64 {
        let row = match k % 89 {
            0 => format!("{k},new,v,S1,\"{k}\nwith a line break\",A,buy,1,1,"),
            1 => format!("{k},new,v,S2,o{k},\"acc, with \"\"quotes\"\"\",sell,2.5,3,"),
            2 => format!("{k},new,v,S3,o\"{k},A,buy,1,1,"),
            3 => format!("{k},new,v,S3,o{k},A,up,1,1,"),
            4 => String::new(),
            5 => format!("{k},new,v,S4,o{k},\"{}\",buy,1,1,", "y".repeat(MAX + 5)),
            6 => format!("{k},trade,v,S5,,,,1,1,t{k},a,b,c,d,e,f,g"),
            _ => format!("{k},new,v{},S{},o{k},A{},buy,{}.25,{},", k % 3, k % 11, k % 71, k % 500, 1 + k % 9),
        };
        text.push_str(&row);
        text.push('\n');
    }
    let bytes = text.into_bytes();
    let one = items_debug(drain(Box::new(CsvReader::new(std::io::Cursor::new(bytes.clone()), Arc::from("t.csv")).unwrap())));
    assert!(one.0.len() > 25_000 && one.1.len() > 1_000, "{} events, {} rejects", one.0.len(), one.1.len());
    assert_eq!(one.1.iter().filter(|r| r.1 == RejectCode::InvalidCsv && r.3.contains("longer than")).count(), 338, "every over-long record is rejected");
    for workers in [1, 2, 3] {
        let r = vigil_io::Parallel::csv(Box::new(std::io::Cursor::new(bytes.clone())), Arc::from("t.csv"), workers).unwrap();
        assert_same(&items_debug(drain(Box::new(r))), &one, workers);
    }
}

#[test]
fn a_binance_public_data_zip_is_read_from_its_csv_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("BTCUSDT-trades-2024-01-01.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    z.start_file("BTCUSDT-trades-2024-01-01.csv", zip::write::SimpleFileOptions::default()).unwrap();
    z.write_all(
        b"4135281,42283.58000000,0.00180000,76.11044400,1704067200125,True,True\n4135282,42283.59000000,0.00050000,21.14179500,1704067200340,False,True\n",
    )
    .unwrap();
    z.finish().unwrap();
    let mut r = vigil_io::open(path.to_str().unwrap(), Some(vigil_io::Format::BinanceCsv), std::sync::Arc::default()).unwrap();
    let mut i = vigil_core::Interner::new();
    let mut n = 0;
    while let Some(item) = r.next(&mut i).unwrap() {
        assert!(matches!(item, vigil_io::Item::Event(_)), "{item:?}");
        n += 1;
    }
    assert_eq!(n, 2);
    assert_eq!(&*i.names().symbol(vigil_core::SymbolId(0)), "BTC-USDT");
}
