//! Rebuilds the book from each LOBSTER sample's message file and compares it with the sample's
//! orderbook file on every row.
//!
//! LOBSTER's message file carries only the events inside the requested depth (N levels): an order
//! placed, or cancelled, while its level is deeper than N leaves no message. So when a level
//! enters the visible window from beyond it — because a level above it emptied, without a message
//! at its price — its size exists only in the orderbook file. The rebuild takes exactly that from
//! the file (and forgets levels it still holds that the file shows are gone), and the test asserts
//! that every such level lies beyond every level carried over from the row before: the oracle only
//! ever supplies the window's edge. Every level that stays in the window, and every level a message
//! touches, must match from the events alone; and depth only ever comes into view on the side
//! where a message just emptied a visible level.

use std::collections::BTreeSet;
use vigil_book::Book;
use vigil_core::{Interner, Price, Qty, Side};
use vigil_io::lobster::{parse_book_row, parse_message, Converter, FileName};

const EMPTY_ASK: i64 = 9_999_999_999;

fn window(book: &Book, side: Side, n: usize) -> Vec<(i64, i64)> {
    book.side(side).iter().take(n).map(|l| (l.price.0 / 10_000, l.qty.0 / 100_000_000)).collect()
}

fn oracle(row: &[[i64; 4]], side: Side) -> Vec<(i64, i64)> {
    row.iter().map(|l| if side == Side::Sell { (l[0], l[1]) } else { (l[2], l[3]) }).filter(|&(p, q)| q > 0 && p.abs() != EMPTY_ASK).collect()
}

struct Outcome {
    rows: usize,
    revealed: usize,
    forgotten: usize,
}

fn check(sample: &str) -> Outcome {
    let dir = vigil_io::shared_data_dir().expect("shared/data not found: set VIGIL_DATA_DIR");
    let zip = dir.join("lobster").join(sample);
    let zip = zip.to_str().unwrap();
    let (msg_name, msgs) = vigil_io::lobster_zip_member(zip).unwrap();
    let (_, books) = vigil_io::lobster_zip_file(zip, "_orderbook_").unwrap();
    let name = FileName::parse(&msg_name).unwrap();
    let n = name.levels;
    let msgs = String::from_utf8(msgs).unwrap();
    let books = String::from_utf8(books).unwrap();
    let msgs: Vec<&str> = msgs.lines().collect();
    let rows: Vec<Vec<[i64; 4]>> = books.lines().map(|l| parse_book_row(l).unwrap()).collect();
    assert_eq!(msgs.len(), rows.len(), "{sample}: one orderbook row per message");
    assert!(rows.iter().all(|r| r.len() == n));

    let mut interner = Interner::new();
    let mut conv = Converter::new(interner.venue("nasdaq"), interner.symbol(&name.ticker), name.midnight_utc());
    let mut book = Book::new();

    // The book before the first message: the first row with that message undone.
    let first = parse_message(msgs[0]).unwrap();
    for side in [Side::Buy, Side::Sell] {
        for (p, q) in oracle(&rows[0], side) {
            book.set_level(side, Price(p * 10_000), Qty::from_int(q));
        }
    }
    if matches!(first.kind, 1..=4) {
        let side = first.side();
        let at = book.side(side).get(first.fixed_price()).map_or(0, |l| l.qty.0);
        let undo = if first.kind == 1 { -first.size } else { first.size };
        book.set_level(side, first.fixed_price(), Qty(at + undo * 100_000_000));
    }

    let (mut revealed, mut forgotten) = (0, 0);
    let mut prev = [window(&book, Side::Buy, n), window(&book, Side::Sell, n)];
    for (i, line) in msgs.iter().enumerate() {
        let m = parse_message(line).unwrap_or_else(|e| panic!("{sample}:{}: {e}", i + 1));
        if let Some(ev) = conv.convert(&m, i as u64 + 1) {
            book.apply(&ev);
        }
        for (k, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
            let want = oracle(&rows[i], side);
            let before: BTreeSet<i64> = prev[k].iter().map(|l| l.0).collect();
            let touched = |p: i64| matches!(m.kind, 1..=4) && m.side() == side && m.price == p;
            let fresh = |p: i64| !before.contains(&p) && !touched(p);
            // Levels carried over from the last row, and the worst of them.
            let carried: Vec<i64> = want.iter().map(|l| l.0).filter(|&p| !fresh(p)).collect();
            let edge = |p: i64| carried.iter().all(|&c| if side == Side::Buy { p < c } else { p > c });
            // Depth can only come into view when a message on this side emptied a visible level.
            let emptied = matches!(m.kind, 2..=4) && m.side() == side && before.contains(&m.price) && book.side(side).get(m.fixed_price()).is_none();
            for &(p, q) in &want {
                if fresh(p) && book.side(side).get(Price(p * 10_000)).map(|l| l.qty) != Some(Qty::from_int(q)) {
                    assert!(edge(p), "{sample} row {}: level {p} entered inside the window, not at its edge", i + 1);
                    assert!(emptied, "{sample} row {}: level {p} came into view without a message emptying a level", i + 1);
                    book.set_level(side, Price(p * 10_000), Qty::from_int(q));
                    revealed += 1;
                }
            }
            loop {
                let stale: Vec<i64> = window(&book, side, n).into_iter().map(|l| l.0).filter(|&p| fresh(p) && !want.iter().any(|w| w.0 == p)).collect();
                if stale.is_empty() {
                    break;
                }
                for p in stale {
                    assert!(edge(p), "{sample} row {}: stale level {p} inside the window", i + 1);
                    assert!(emptied, "{sample} row {}: stale level {p} came into view without a message emptying a level", i + 1);
                    book.set_level(side, Price(p * 10_000), Qty::ZERO);
                    forgotten += 1;
                }
            }
            let got = window(&book, side, n);
            assert_eq!(got, want, "{sample} row {} ({line}): {side:?} side differs from the orderbook file", i + 1);
            prev[k] = got;
        }
    }
    Outcome { rows: msgs.len(), revealed, forgotten }
}

macro_rules! sample {
    ($test:ident, $file:literal, $rows:literal) => {
        #[test]
        fn $test() {
            let o = check($file);
            assert_eq!(o.rows, $rows);
            eprintln!("{}: {} rows equal; {} levels entered from beyond the depth, {} stale levels forgotten", $file, o.rows, o.revealed, o.forgotten);
        }
    };
}

sample!(aapl_level_1, "LOBSTER_SampleFile_AAPL_2012-06-21_1.zip", 118_497);
sample!(amzn_level_1, "LOBSTER_SampleFile_AMZN_2012-06-21_1.zip", 57_515);
sample!(amzn_level_5, "LOBSTER_SampleFile_AMZN_2012-06-21_5.zip", 155_935);
sample!(goog_level_1, "LOBSTER_SampleFile_GOOG_2012-06-21_1.zip", 49_482);
sample!(goog_level_5, "LOBSTER_SampleFile_GOOG_2012-06-21_5.zip", 112_673);
sample!(goog_level_10, "LOBSTER_SampleFile_GOOG_2012-06-21_10.zip", 147_916);

#[test]
fn reader_streams_a_sample_as_events() {
    let dir = vigil_io::shared_data_dir().unwrap();
    let path = dir.join("lobster/LOBSTER_SampleFile_AMZN_2012-06-21_1.zip");
    let mut r = vigil_io::open(path.to_str().unwrap(), Some(vigil_io::Format::Lobster), Default::default()).unwrap();
    let mut interner = Interner::new();
    let (mut events, mut rejects, mut first) = (0, 0, None);
    while let Some(item) = r.next(&mut interner).unwrap() {
        match item {
            vigil_io::Item::Event(e) => {
                first.get_or_insert(e.ts);
                events += 1
            }
            vigil_io::Item::Reject(_) => rejects += 1,
        }
    }
    assert_eq!(rejects, 0);
    assert!(events > 57_000 && events <= 57_515, "{events}");
    assert_eq!(first.unwrap().to_string()[..16], *"2012-06-21T13:30");
}
