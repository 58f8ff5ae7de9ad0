//! Book throughput on a realistic mix: orders arrive near the touch, most are cancelled, some trade.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_book::Book;
use vigil_core::{Cancel, Event, EventKind, NewOrder, Price, Qty, Side, SymbolId, Trade, Ts, VenueId};

fn flow(n: usize) -> Vec<Event> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut live: Vec<(u64, Side, i64)> = Vec::new();
    let mut next = 0u64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = rnd();
        let kind = if live.len() < 50 || r % 100 < 45 {
            let side = if r & 1 == 0 { Side::Buy } else { Side::Sell };
            let off = ((r >> 8) % 20) as i64;
            let px = if side == Side::Buy { 10_000 - off } else { 10_001 + off };
            next += 1;
            live.push((next, side, px));
            EventKind::New(NewOrder {
                order_id: next.to_string().into(),
                account: None,
                side,
                price: Some(Price::from_int(px)),
                qty: Qty::from_int(1 + (r >> 20) as i64 % 100),
            })
        } else {
            let k = (r >> 16) as usize % live.len();
            let (id, side, px) = live.swap_remove(k);
            if r % 100 < 88 {
                EventKind::Cancel(Cancel { order_id: id.to_string().into(), account: None, hint: None })
            } else {
                let (b, s) = if side == Side::Buy { (Some(id.to_string().into()), None) } else { (None, Some(id.to_string().into())) };
                EventKind::Trade(Trade {
                    trade_id: i.to_string().into(),
                    price: Price::from_int(px),
                    qty: Qty::from_int(1000),
                    buy_account: None,
                    sell_account: None,
                    buy_order_id: b,
                    sell_order_id: s,
                    aggressor: Some(side.opposite()),
                })
            }
        };
        out.push(Event { ts: Ts(i as i64), seq: i as u64, venue: VenueId(0), symbol: SymbolId(0), kind });
    }
    out
}

fn bench(c: &mut Criterion) {
    let events = flow(100_000);
    let mut g = c.benchmark_group("book");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("apply_100k", |b| {
        b.iter(|| {
            let mut book = Book::new();
            for e in &events {
                criterion::black_box(book.apply(e));
            }
            book.open_orders()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
