use super::*;
use vigil_core::{Amend, Cancel, NewOrder, SymbolId, Trade, VenueId};

fn ev(ts: i64, kind: EventKind) -> Event {
    Event { ts: Ts(ts), seq: ts as u64, venue: VenueId(0), symbol: SymbolId(0), kind }
}
fn new(id: &str, side: Side, px: i64, q: i64) -> Event {
    ev(1, EventKind::New(NewOrder { order_id: id.into(), account: None, side, price: Some(Price::from_int(px)), qty: Qty::from_int(q) }))
}
fn cancel(id: &str) -> Event {
    ev(2, EventKind::Cancel(Cancel { order_id: id.into(), account: None, hint: None }))
}
fn levels(l: &Ladder) -> Vec<(i64, i64, u32)> {
    l.iter().map(|l| (l.price.0 / vigil_core::fixed::SCALE, l.qty.0 / vigil_core::fixed::SCALE, l.orders)).collect()
}

#[test]
fn levels_aggregate_orders_best_first() {
    let mut b = Book::new();
    b.apply(&new("1", Side::Buy, 100, 5));
    b.apply(&new("2", Side::Buy, 101, 3));
    b.apply(&new("3", Side::Buy, 100, 2));
    b.apply(&new("4", Side::Sell, 103, 1));
    b.apply(&new("5", Side::Sell, 102, 4));
    assert_eq!(levels(b.bids()), vec![(101, 3, 1), (100, 7, 2)]);
    assert_eq!(levels(b.asks()), vec![(102, 4, 1), (103, 1, 1)]);
    assert_eq!(b.best_bid(), Some(Price::from_int(101)));
    assert_eq!(b.bids().rank(Price::from_int(100)), Some(1));
    assert_eq!(b.bids().depth(2), Qty::from_int(10));
}

#[test]
fn cancel_amend_trade() {
    let mut b = Book::new();
    b.apply(&new("1", Side::Buy, 100, 5));
    b.apply(&new("2", Side::Buy, 100, 2));
    match b.apply(&cancel("2")) {
        BookChange::Cancelled(o) => assert_eq!(o.qty, Qty::from_int(2)),
        c => panic!("{c:?}"),
    }
    assert_eq!(levels(b.bids()), vec![(100, 5, 1)]);
    // Amend: move the price.
    b.apply(&ev(3, EventKind::Amend(Amend { order_id: "1".into(), account: None, price: Some(Price::from_int(99)), qty: Some(Qty::from_int(4)), hint: None })));
    assert_eq!(levels(b.bids()), vec![(99, 4, 1)]);
    // Partial then full fill.
    let t = |q: i64| {
        ev(
            4,
            EventKind::Trade(Trade {
                trade_id: "t".into(),
                price: Price::from_int(99),
                qty: Qty::from_int(q),
                buy_account: None,
                sell_account: None,
                buy_order_id: Some("1".into()),
                sell_order_id: None,
                aggressor: Some(Side::Sell),
            }),
        )
    };
    b.apply(&t(1));
    assert_eq!(levels(b.bids()), vec![(99, 3, 1)]);
    b.apply(&t(3));
    assert!(b.bids().is_empty());
    assert_eq!(b.open_orders(), 0);
}

#[test]
fn unknown_orders_are_counted_and_hints_reduce_depth() {
    let mut b = Book::new();
    b.set_level(Side::Sell, Price::from_int(105), Qty::from_int(10));
    assert_eq!(b.apply(&cancel("nope")), BookChange::Unknown);
    assert_eq!(b.stats.unknown_cancels, 1);
    assert_eq!(levels(b.asks()), vec![(105, 10, 0)]);
    b.apply(&ev(
        5,
        EventKind::Cancel(Cancel {
            order_id: "old".into(),
            account: None,
            hint: Some(LevelHint { side: Side::Sell, price: Price::from_int(105), qty: Qty::from_int(4) }),
        }),
    ));
    assert_eq!(levels(b.asks()), vec![(105, 6, 0)]);
    // A buyer-initiated trade against an unknown resting sell order takes depth off the ask.
    b.apply(&ev(
        6,
        EventKind::Trade(Trade {
            trade_id: "t".into(),
            price: Price::from_int(105),
            qty: Qty::from_int(6),
            buy_account: None,
            sell_account: None,
            buy_order_id: None,
            sell_order_id: Some("old2".into()),
            aggressor: Some(Side::Buy),
        }),
    ));
    assert!(b.asks().is_empty());
    assert_eq!(b.stats.unknown_trade_orders, 1);
    b.apply(&new("x", Side::Buy, 1, 1));
    b.apply(&new("x", Side::Buy, 1, 1));
    assert_eq!(b.stats.duplicate_orders, 1);
}

#[test]
fn slots_are_dense_and_reused() {
    let mut b = Book::new();
    let slot = |c: BookChange| match c {
        BookChange::Added(o) | BookChange::Cancelled(o) => o.slot,
        c => panic!("{c:?}"),
    };
    assert_eq!(slot(b.apply(&new("a", Side::Buy, 10, 1))), 0);
    assert_eq!(slot(b.apply(&new("b", Side::Buy, 10, 1))), 1);
    assert_eq!(slot(b.apply(&cancel("a"))), 0);
    assert_eq!(slot(b.apply(&new("c", Side::Sell, 11, 1))), 0, "a freed slot is reused");
    assert_eq!(b.order("c").unwrap().slot, 0);
    assert_eq!(b.order("b").unwrap().slot, 1);
    assert_eq!(b.slots(), 2);
}

proptest::proptest! {
    /// Whatever the sequence, each level equals the sum of its known orders (no unattributed depth
    /// is ever set here), levels are strictly ordered, and none is empty.
    #[test]
    fn levels_match_orders(ops in proptest::collection::vec((0u8..4, 0u8..20, 90i64..110, 1i64..50, proptest::bool::ANY), 1..300)) {
        let mut b = Book::new();
        for (i, (op, id, px, q, buy)) in ops.into_iter().enumerate() {
            let id = format!("o{id}");
            let side = if buy { Side::Buy } else { Side::Sell };
            let kind = match op {
                0 => EventKind::New(NewOrder { order_id: id.as_str().into(), account: None, side, price: Some(Price::from_int(px)), qty: Qty::from_int(q) }),
                1 => EventKind::Cancel(Cancel { order_id: id.as_str().into(), account: None, hint: None }),
                2 => EventKind::Amend(Amend { order_id: id.as_str().into(), account: None, price: Some(Price::from_int(px)), qty: Some(Qty::from_int(q - 10)), hint: None }),
                _ => EventKind::Trade(Trade { trade_id: "t".into(), price: Price::from_int(px), qty: Qty::from_int(q), buy_account: None, sell_account: None, buy_order_id: Some(id.as_str().into()), sell_order_id: Some(id.as_str().into()), aggressor: None }),
            };
            b.apply(&ev(i as i64, kind));
        }
        for side in [Side::Buy, Side::Sell] {
            let mut expect: std::collections::BTreeMap<Price, (Qty, u32)> = Default::default();
            for (_, o) in b.iter_orders().filter(|(_, o)| o.side == side) {
                let e = expect.entry(o.price).or_default();
                e.0 += o.qty;
                e.1 += 1;
            }
            let mut got: Vec<_> = b.side(side).iter().map(|l| (l.price, (l.qty, l.orders))).collect();
            got.sort();
            let want: Vec<_> = expect.into_iter().collect();
            proptest::prop_assert_eq!(got, want);
            let prices: Vec<_> = b.side(side).iter().map(|l| l.price).collect();
            for w in prices.windows(2) {
                proptest::prop_assert!(b.side(side).better(w[0], w[1]));
            }
        }
    }
}
