//! Normalising recorded exchange JSON into events: the three captures of shared/data/exchange-ws,
//! each message parsed, applied to the venue's book (Kraken's checksum verified) and turned into
//! events, looped. Throughput is in messages.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_core::{Interner, Ts};
use vigil_feed::capture::{self, Line};
use vigil_feed::Emit;

fn messages(name: &str) -> Vec<(Ts, String)> {
    let dir = vigil_io::shared_data_dir().expect("shared/data");
    let path = dir.join("exchange-ws").join(name);
    capture::read(&path.to_string_lossy())
        .expect("capture")
        .into_iter()
        .filter_map(|l| match l {
            Line::Received { ts, text } => Some((ts, text)),
            _ => None,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("normalise");
    let venues = [("binance", "BINANCE.ws.1.0"), ("coinbase", "COINBASE.ws.28.0"), ("kraken", "KRAKEN.ws.50.0")];
    // The three captures one after the other, each through its own connector: the figure the
    // connectors are held to (at least a million messages a second on one core).
    let all: Vec<(&str, Vec<(Ts, String)>)> = venues.iter().map(|(v, f)| (*v, messages(f))).collect();
    g.throughput(Throughput::Elements(all.iter().map(|(_, m)| m.len() as u64).sum()));
    g.bench_function("all-captures", |b| {
        let mut interner = Interner::new();
        let mut vs: Vec<Box<dyn vigil_feed::Venue>> = all.iter().map(|(v, _)| vigil_feed::venue(v, &[]).unwrap()).collect();
        let (mut events, mut notices) = (Vec::new(), Vec::new());
        b.iter(|| {
            for (v, (_, msgs)) in vs.iter_mut().zip(&all) {
                v.on_connect();
                for (ts, text) in msgs {
                    let mut e = Emit::new(&mut interner, &mut events, &mut notices);
                    v.on_message(text, *ts, &mut e).unwrap();
                    events.clear();
                    notices.clear();
                }
            }
        })
    });
    for (venue, file) in venues {
        let msgs = messages(file);
        g.throughput(Throughput::Elements(msgs.len() as u64));
        g.bench_function(venue, |b| {
            let mut interner = Interner::new();
            let mut v = vigil_feed::venue(venue, &[]).unwrap();
            let (mut events, mut notices) = (Vec::new(), Vec::new());
            b.iter(|| {
                // A new connection each loop: the capture starts with its snapshots again.
                v.on_connect();
                for (ts, text) in &msgs {
                    let mut e = Emit::new(&mut interner, &mut events, &mut notices);
                    v.on_message(text, *ts, &mut e).unwrap();
                    events.clear();
                    notices.clear();
                }
            })
        });
    }
    let snaps: Vec<(Ts, String)> = messages("KRAKEN.ws.50.0").into_iter().filter(|(_, t)| t.contains("\"as\"")).collect();
    g.throughput(Throughput::Elements(snaps.len() as u64));
    g.bench_function("kraken-snapshots-only", |b| {
        let mut interner = Interner::new();
        let mut v = vigil_feed::venue("kraken", &[]).unwrap();
        let (mut events, mut notices) = (Vec::new(), Vec::new());
        b.iter(|| {
            v.on_connect();
            for (ts, text) in &snaps {
                let mut e = Emit::new(&mut interner, &mut events, &mut notices);
                v.on_message(text, *ts, &mut e).unwrap();
                events.clear();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
