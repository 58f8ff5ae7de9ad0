//! The connectors on the recorded exchange traffic of shared/data/exchange-ws: every message parses,
//! Kraken's own checksums verify the rebuilt books, and over a real websocket a dropped
//! connection is detected, reported and recovered from.

use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use vigil_core::{EventKind, Interner, Ts};
use vigil_feed::capture::{self, Line};
use vigil_feed::health::{Limits, Monitor};
use vigil_feed::live::{Feed, Options};
use vigil_feed::replay::{ReplayServer, ServerOptions};
use vigil_feed::{Emit, Notice, Venue};
use vigil_io::{EventReader, Item};

/// Symbol → (bids, asks), price → size.
type Books = BTreeMap<String, (BTreeMap<i64, i64>, BTreeMap<i64, i64>)>;

fn capture_path(name: &str) -> String {
    let dir = vigil_io::shared_data_dir().expect("shared/data is missing: set VIGIL_DATA_DIR");
    dir.join("exchange-ws").join(name).to_string_lossy().into_owned()
}

fn received(name: &str) -> Vec<(Ts, String)> {
    capture::read(&capture_path(name))
        .unwrap()
        .into_iter()
        .filter_map(|l| match l {
            Line::Received { ts, text } => Some((ts, text)),
            _ => None,
        })
        .collect()
}

struct Run {
    venue: Box<dyn Venue>,
    events: Vec<vigil_core::Event>,
    notices: Vec<Notice>,
    errors: Vec<String>,
}

fn run(venue: &str, name: &str) -> Run {
    let mut v = vigil_feed::venue(venue, &[]).unwrap();
    let mut i = Interner::new();
    let (mut events, mut notices, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for (ts, text) in received(name) {
        let mut e = Emit::new(&mut i, &mut events, &mut notices);
        if let Err(msg) = v.on_message(&text, ts, &mut e) {
            errors.push(format!("{msg}: {}", &text[..text.len().min(200)]));
        }
    }
    Run { venue: v, events, notices, errors }
}

fn count(events: &[vigil_core::Event], kind: &str) -> usize {
    events.iter().filter(|e| e.kind.event_type().as_str() == kind).count()
}

#[test]
fn every_kraken_message_parses_and_every_checksum_holds() {
    let msgs = received("KRAKEN.ws.50.0");
    let with_checksum = msgs.iter().filter(|(_, t)| t.contains("\"c\":\"")).count();
    let r = run("kraken", "KRAKEN.ws.50.0");
    assert!(r.errors.is_empty(), "{:?}", &r.errors[..r.errors.len().min(5)]);
    assert_eq!(r.venue.counts().messages as usize, msgs.len());
    // Kraken's CRC32 of its top ten levels agrees with the rebuilt book after every update.
    assert_eq!(r.venue.checksums(), (with_checksum as u64, 0));
    assert!(with_checksum > 4000);
    assert!(r.notices.is_empty(), "{:?}", r.notices);
    assert_eq!(r.venue.counts().used.get("book_snapshot"), Some(&10));
    assert_eq!(r.venue.counts().used.get("heartbeat"), Some(&31));
    assert!(r.venue.book("XBT/CHF").is_some_and(|b| !b.bids.is_empty() && !b.asks.is_empty()));
    assert!(count(&r.events, "quote") > 0 && count(&r.events, "new") > 1000);
}

/// The books of a Coinbase capture rebuilt independently of the connector, from the JSON itself.
fn coinbase_books(msgs: &[(Ts, String)]) -> Books {
    let mut books: Books = BTreeMap::new();
    let fx = |v: &Value| vigil_core::fixed::parse_fixed(v.as_str().unwrap().as_bytes()).unwrap();
    for (_, t) in msgs {
        let v: Value = serde_json::from_str(t).unwrap();
        let Some(pid) = v["product_id"].as_str() else { continue };
        let b = books.entry(pid.to_string()).or_default();
        match v["type"].as_str().unwrap() {
            "snapshot" => {
                *b = Default::default();
                for (k, side) in [("bids", 0), ("asks", 1)] {
                    for l in v[k].as_array().unwrap() {
                        let m = if side == 0 { &mut b.0 } else { &mut b.1 };
                        m.insert(fx(&l[0]), fx(&l[1]));
                    }
                }
            }
            "l2update" => {
                for c in v["changes"].as_array().unwrap() {
                    let m = if c[0] == "buy" { &mut b.0 } else { &mut b.1 };
                    let (p, q) = (fx(&c[1]), fx(&c[2]));
                    if q == 0 {
                        m.remove(&p);
                    } else {
                        m.insert(p, q);
                    }
                }
            }
            _ => {}
        }
    }
    books.retain(|_, b| !b.0.is_empty() || !b.1.is_empty());
    books
}

#[test]
fn every_coinbase_message_parses_into_books_and_trades() {
    let msgs = received("COINBASE.ws.28.0");
    let r = run("coinbase", "COINBASE.ws.28.0");
    assert!(r.errors.is_empty(), "{:?}", &r.errors[..r.errors.len().min(5)]);
    assert_eq!(r.venue.counts().messages as usize, msgs.len());
    let matches = msgs.iter().filter(|(_, t)| t.contains("\"type\":\"match\"") || t.contains("\"type\":\"last_match\"")).count();
    assert_eq!(count(&r.events, "trade"), matches, "every match a trade (no duplicates in the capture)");
    let gaps: Vec<&Notice> = r.notices.iter().filter(|n| matches!(n, Notice::Gap { .. })).collect();
    assert!(gaps.is_empty(), "the capture is complete: {gaps:?}");
    for (pid, (bids, asks)) in coinbase_books(&msgs) {
        let b = r.venue.book(&pid).unwrap();
        assert_eq!((&b.bids, &b.asks), (&bids, &asks), "{pid}");
    }
}

#[test]
fn every_binance_message_parses() {
    for name in ["BINANCE.ws.1.0", "BINANCE_FUTURES.ws.1.0"] {
        let msgs = received(name);
        let r = run("binance", name);
        assert!(r.errors.is_empty(), "{name}: {:?}", &r.errors[..r.errors.len().min(5)]);
        let c = r.venue.counts();
        assert_eq!(c.messages as usize, msgs.len(), "{name}");
        assert!(c.unused.get("kline_1m").copied().unwrap_or(0) > 0, "{name}: candles are counted, not errors");
        let agg = msgs.iter().filter(|(_, t)| t.contains("@aggTrade")).count();
        assert_eq!(c.used.get("aggTrade").copied().unwrap_or(0) as usize, agg, "{name}");
        // A capture holds no REST snapshot: each book asks for one once and waits.
        let asked = r.notices.iter().filter(|n| matches!(n, Notice::NeedSnapshot { .. })).count();
        let symbols: std::collections::BTreeSet<String> = msgs.iter().filter_map(|(_, t)| vigil_feed::binance::depth_ids(t)).map(|(s, _, _)| s).collect();
        assert_eq!(asked, symbols.len(), "{name}");
        assert!(count(&r.events, "quote") > 0);
    }
}

#[test]
fn replay_format_capture_reads_a_capture_as_events() {
    let mut r = capture::CaptureReader::open(&capture_path("KRAKEN.ws.50.0")).unwrap();
    let mut i = Interner::new();
    let (mut events, mut rejects, mut last) = (0, 0, i64::MIN);
    while let Some(item) = r.next(&mut i).unwrap() {
        match item {
            Item::Event(e) => {
                assert!(e.ts.0 >= last, "event time never goes back");
                last = e.ts.0;
                events += 1;
            }
            Item::Reject(_) => rejects += 1,
        }
    }
    assert_eq!(rejects, 0);
    assert!(events > 8000, "{events}");
    assert_eq!(r.replayed.messages, received("KRAKEN.ws.50.0").len() as u64);
}

fn opts(url: &str) -> Options {
    let mut o = Options::new(url);
    o.read_tick = Duration::from_millis(20);
    o.backoff_min = Duration::from_millis(20);
    o.backoff_max = Duration::from_millis(100);
    o.max_attempts = Some(3);
    o.ping_every = Duration::from_millis(100);
    // The capture is from 2021: its venue times are years behind the clock that receives them.
    o.limits = Limits { max_silence_ns: 30_000_000_000, max_skew_ns: i64::MAX / 4 };
    o
}

fn drain(feed: &mut Feed) -> Vec<vigil_core::Event> {
    let mut i = Interner::new();
    let mut out = Vec::new();
    while let Some(item) = feed.next(&mut i).unwrap() {
        match item {
            Item::Event(e) => out.push(e),
            Item::Reject(r) => panic!("rejected: {r}"),
        }
    }
    out
}

#[test]
fn kraken_reconnects_and_its_checksums_hold_on_the_recovered_book() {
    let lines = capture::read(&capture_path("KRAKEN.ws.50.0")).unwrap();
    let server = ReplayServer::start("kraken", lines, ServerOptions { speed: 40.0, drop_after: Some(1500), lost_on_drop: 300 }).unwrap();
    let venue = vigil_feed::venue("kraken", &["BTC-CHF".into()]).unwrap();
    let mut feed = Feed::new(venue, opts(&server.ws_url()), Monitor::new("kraken", Limits::default(), None));
    let events = drain(&mut feed);
    assert_eq!(feed.stats.connections, 2);
    assert!(feed.monitor.count("reconnect") >= 1);
    let (ok, failed) = feed.venue.checksums();
    assert_eq!(failed, 0, "the book rebuilt from the fresh snapshot matches Kraken's checksums");
    let total = received("KRAKEN.ws.50.0").iter().filter(|(_, t)| t.contains("\"c\":\"")).count() as u64;
    assert!(ok > 1000 && ok < total, "updates before and after the cut are verified, the lost ones are not: {ok} of {total}");
    assert!(server.stats.pings.load(std::sync::atomic::Ordering::SeqCst) > 0, "the client pings");
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::Quote(_))));
    drop(server);
}

#[test]
fn coinbase_reports_the_trades_lost_while_away_and_recovers_its_books() {
    let lines = capture::read(&capture_path("COINBASE.ws.28.0")).unwrap();
    let msgs = received("COINBASE.ws.28.0");
    let (drop_after, lost) = (3000, 600);
    // The drop is counted from the first message sent; the lost window follows it.
    let lost_msgs = &msgs[drop_after..drop_after + lost];
    let mut lost_products: Vec<String> = lost_msgs
        .iter()
        .filter(|(_, t)| t.contains("\"type\":\"match\""))
        .map(|(_, t)| serde_json::from_str::<Value>(t).unwrap()["product_id"].as_str().unwrap().to_string())
        .collect();
    lost_products.sort();
    lost_products.dedup();
    let server = ReplayServer::start("coinbase", lines, ServerOptions { speed: 40.0, drop_after: Some(drop_after), lost_on_drop: lost }).unwrap();
    let venue = vigil_feed::venue("coinbase", &["SKL-USD".into()]).unwrap();
    let mut feed = Feed::new(venue, opts(&server.ws_url()), Monitor::new("coinbase", Limits::default(), None));
    let events = drain(&mut feed);
    assert_eq!(feed.stats.connections, 2);
    let mut gap_products: Vec<String> = feed.monitor.records.iter().filter(|r| r.kind == "sequence_gap").filter_map(|r| r.symbol.clone()).collect();
    gap_products.sort();
    gap_products.dedup();
    // A product whose lost trade is followed by another trade or a heartbeat shows the gap.
    assert!(!lost_products.is_empty());
    for p in &gap_products {
        assert!(lost_products.contains(p), "{p} reported a gap but lost no trade");
    }
    assert!(!gap_products.is_empty(), "lost trades of {lost_products:?} are reported");
    for (pid, (bids, asks)) in coinbase_books(&msgs) {
        let b = feed.venue.book(&pid).unwrap();
        assert_eq!((&b.bids, &b.asks), (&bids, &asks), "{pid}: the book after the fresh snapshot is the venue's");
    }
    assert!(!events.is_empty());
}

#[test]
fn binance_joins_rest_snapshots_to_the_diffs_after_a_reconnect() {
    let lines = capture::read(&capture_path("BINANCE.ws.1.0")).unwrap();
    let msgs = received("BINANCE.ws.1.0");
    let server = ReplayServer::start("binance", lines, ServerOptions { speed: 40.0, drop_after: Some(120), lost_on_drop: 20 }).unwrap();
    let venue = vigil_feed::venue("binance", &["NKN-USDT".into(), "BLZ-ETH".into(), "LRC-BTC".into(), "RUNE-EUR".into()]).unwrap();
    let mut o = opts(&server.ws_url());
    o.rest_url = Some(server.rest_url());
    let mut feed = Feed::new(venue, o, Monitor::new("binance", Limits::default(), None));
    drain(&mut feed);
    assert_eq!(feed.stats.connections, 2);
    assert!(feed.stats.snapshots_fetched >= 4, "{}", feed.stats.snapshots_fetched);
    // The books from the diffs alone, as the test server holds them.
    let mut books: Books = BTreeMap::new();
    let fx = |v: &Value| vigil_core::fixed::parse_fixed(v.as_str().unwrap().as_bytes()).unwrap();
    for (_, t) in &msgs {
        let v: Value = serde_json::from_str(t).unwrap();
        let d = &v["data"];
        if d["e"] != "depthUpdate" {
            continue;
        }
        let b = books.entry(d["s"].as_str().unwrap().to_string()).or_default();
        for (k, side) in [("b", 0), ("a", 1)] {
            for l in d[k].as_array().unwrap() {
                let m = if side == 0 { &mut b.0 } else { &mut b.1 };
                let (p, q) = (fx(&l[0]), fx(&l[1]));
                if q == 0 {
                    m.remove(&p);
                } else {
                    m.insert(p, q);
                }
            }
        }
    }
    for (s, (bids, asks)) in books {
        let b = feed.venue.book(&s).unwrap_or_else(|| panic!("no book of {s}"));
        assert_eq!((&b.bids, &b.asks), (&bids, &asks), "{s}");
    }
}

/// Every venue's parser on damaged traffic: real messages cut short, bytes flipped, numbers
/// swapped for huge or negative ones, and random text. A message may be refused; nothing panics,
/// and a refused message changes no book.
const ALPHABET: &[u8] = b"{}[]\",:0123456789abce-. ";

#[test]
fn damaged_messages_are_refused_never_panicked_on() {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for (venue, name) in [("kraken", "KRAKEN.ws.50.0"), ("coinbase", "COINBASE.ws.28.0"), ("binance", "BINANCE.ws.1.0")] {
        let msgs = received(name);
        let mut v = vigil_feed::venue(venue, &[]).unwrap();
        let mut i = Interner::new();
        let (mut events, mut notices) = (Vec::new(), Vec::new());
        let (mut refused, mut tried) = (0, 0);
        for (k, (ts, text)) in msgs.iter().enumerate() {
            // The real message first, so books exist to damage.
            let mut e = Emit::new(&mut i, &mut events, &mut notices);
            v.on_message(text, *ts, &mut e).unwrap();
            if k % 7 != 0 {
                continue;
            }
            let b = text.as_bytes();
            let damaged: Vec<String> = vec![
                String::from_utf8_lossy(&b[..(next() as usize) % b.len().max(1)]).into_owned(),
                {
                    let mut c = b.to_vec();
                    let at = (next() as usize) % c.len().max(1);
                    if let Some(x) = c.get_mut(at) {
                        *x = ALPHABET[(next() as usize) % ALPHABET.len()];
                    }
                    String::from_utf8_lossy(&c).into_owned()
                },
                text.replacen(|ch: char| ch.is_ascii_digit(), "99999999999999999999", 1),
                text.replace("\"0.", "\"-0."),
                (0..(next() % 40)).map(|_| char::from(ALPHABET[(next() as usize) % ALPHABET.len()])).collect(),
            ];
            for d in damaged {
                tried += 1;
                let symbol = text.rsplit('"').nth(1).unwrap_or_default().to_string();
                let before = v.book(&symbol).cloned();
                let mut e = Emit::new(&mut i, &mut events, &mut notices);
                if v.on_message(&d, *ts, &mut e).is_err() {
                    refused += 1;
                    assert_eq!(v.book(&symbol).cloned(), before, "{venue}: a refused message changed the {symbol} book: {d}");
                }
                // Put the real book back for the next real message.
                let mut e = Emit::new(&mut i, &mut events, &mut notices);
                v.on_connect();
                let _ = v.on_message(text, *ts, &mut e);
            }
            events.clear();
            notices.clear();
        }
        assert!(tried > 100 && refused > tried / 3, "{venue}: {refused} of {tried} refused");
    }
}

#[test]
fn binance_keeps_its_connection_when_rest_snapshots_fail() {
    let lines = capture::read(&capture_path("BINANCE.ws.1.0")).unwrap();
    let server = ReplayServer::start("binance", lines, ServerOptions { speed: 40.0, drop_after: None, lost_on_drop: 0 }).unwrap();
    let venue = vigil_feed::venue("binance", &["NKN-USDT".into()]).unwrap();
    let mut o = opts(&server.ws_url());
    // A REST endpoint that refuses every connection.
    o.rest_url = Some("http://127.0.0.1:9".into());
    o.max_attempts = Some(2);
    let mut feed = Feed::new(venue, o, Monitor::new("binance", Limits::default(), None));
    let events = drain(&mut feed);
    assert_eq!(feed.stats.connections, 1, "the trades and tickers kept flowing on the one connection");
    assert_eq!(feed.stats.snapshots_fetched, 0);
    assert!(feed.monitor.count("venue_error") >= 1, "each failed fetch is recorded");
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::Trade(_))));
    assert!(events.iter().all(|e| !matches!(e.kind, EventKind::New(_))), "no book without a snapshot");
}
