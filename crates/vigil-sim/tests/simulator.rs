//! The labelled simulator: deterministic per seed; a default run holds every scenario type with
//! labels and the look-alikes; its books never trade without matching orders; scenarios can be
//! injected while it runs.

use std::collections::BTreeMap;
use vigil_core::{AlertType, Event, EventKind, Interner, Side};
use vigil_sim::{Label, SimConfig, Simulator, SCENARIO_TYPES};

const MINUTE: i64 = 60_000_000_000;

/// A run's events, labels, names and planned scenarios.
type Run = (Vec<Event>, Vec<Label>, Interner, Vec<(AlertType, bool)>);

fn run(cfg: SimConfig) -> Run {
    let mut it = Interner::new();
    let sim = Simulator::new(cfg, &mut it);
    let planned = sim.planned();
    let (events, labels) = sim.run();
    (events, labels, it, planned)
}

fn small(seed: u64) -> SimConfig {
    SimConfig { seed, symbols: 3, warmup_ns: 3 * MINUTE, duration_ns: 4 * MINUTE, per_type: 1, ..Default::default() }
}

#[test]
fn the_same_seed_gives_the_same_market_and_labels() {
    let (a, la, _, _) = run(small(7));
    let (b, lb, _, _) = run(small(7));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the events differ");
    assert_eq!(la, lb);
    let (c, _, _, _) = run(small(8));
    assert!(a != c, "another seed, another market");
}

/// Replays the events as a venue's book would and checks every trade against it: both orders were
/// placed before on that venue, are open with at least the traded quantity, the price is within
/// both limits, and the aggressor is the later order.
fn check_matching(events: &[Event]) {
    struct Open {
        side: Side,
        price: Option<i64>,
        qty: i64,
        seq: u64,
    }
    let mut open: BTreeMap<(u32, String), Open> = BTreeMap::new();
    let mut trades = 0;
    for (k, e) in events.iter().enumerate() {
        if k > 0 {
            assert!(events[k - 1].ts <= e.ts, "events out of time order at {k}");
        }
        let v = e.venue.0;
        match &e.kind {
            EventKind::New(n) => {
                let prev = open.insert((v, n.order_id.to_string()), Open { side: n.side, price: n.price.map(|p| p.0), qty: n.qty.0, seq: e.seq });
                assert!(prev.is_none(), "order id {} reused", n.order_id);
            }
            EventKind::Amend(a) => {
                let o = open.get_mut(&(v, a.order_id.to_string())).unwrap_or_else(|| panic!("amend of unknown order {}", a.order_id));
                if let Some(p) = a.price {
                    o.price = Some(p.0);
                }
                if let Some(q) = a.qty {
                    o.qty = q.0;
                }
            }
            EventKind::Cancel(c) => {
                let o = open.remove(&(v, c.order_id.to_string())).unwrap_or_else(|| panic!("cancel of unknown order {}", c.order_id));
                assert!(o.qty > 0, "cancel of a filled order");
            }
            EventKind::Trade(t) => {
                trades += 1;
                let (b, s) = (t.buy_order_id.as_ref().expect("buy order named"), t.sell_order_id.as_ref().expect("sell order named"));
                let (bseq, sseq) = {
                    let bo = &open[&(v, b.to_string())];
                    let so = &open[&(v, s.to_string())];
                    assert_eq!((bo.side, so.side), (Side::Buy, Side::Sell));
                    assert!(bo.qty >= t.qty.0 && so.qty >= t.qty.0, "trade {} larger than an order's open quantity", t.trade_id);
                    assert!(bo.price.is_none_or(|p| p >= t.price.0) && so.price.is_none_or(|p| p <= t.price.0), "trade {} outside a limit", t.trade_id);
                    (bo.seq, so.seq)
                };
                let aggressor = t.aggressor.expect("aggressor named");
                assert_eq!(aggressor == Side::Buy, bseq > sseq, "the aggressor of {} is the later order", t.trade_id);
                for id in [b, s] {
                    let o = open.get_mut(&(v, id.to_string())).expect("open");
                    o.qty -= t.qty.0;
                    if o.qty == 0 {
                        open.remove(&(v, id.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(trades > 1000, "{trades} trades");
}

#[test]
fn a_default_run_holds_every_scenario_with_labels_and_its_books_match_orders() {
    let cfg = SimConfig::default();
    let (warmup, duration, start) = (cfg.warmup_ns, cfg.duration_ns, cfg.start.0);
    assert_eq!(duration, 10 * MINUTE);
    let (events, labels, it, planned) = run(cfg);
    for t in SCENARIO_TYPES {
        assert!(labels.iter().any(|l| l.kind == t.as_str()), "no {} label", t.as_str());
    }
    // The look-alikes are there too, unlabelled.
    assert!(planned.iter().filter(|(_, labelled)| !labelled).count() >= 5, "{planned:?}");
    let names = it.names();
    for l in &labels {
        assert!(l.start >= start + warmup && l.end <= start + warmup + duration + MINUTE && l.start <= l.end, "{l:?}");
        assert!(events.iter().any(|e| names.symbol(e.symbol).as_ref() == l.symbol), "{l:?}");
        let manipulation = AlertType::parse(&l.kind).is_some_and(|k| k.is_manipulation());
        assert!(!manipulation || !l.accounts.is_empty(), "a manipulation label names its accounts: {l:?}");
    }
    // Market makers cancel most of what they place: cancels outnumber trades.
    let cancels = events.iter().filter(|e| matches!(e.kind, EventKind::Cancel(_))).count();
    let trades = events.iter().filter(|e| matches!(e.kind, EventKind::Trade(_))).count();
    assert!(cancels > trades, "{cancels} cancels, {trades} trades");
    check_matching(&events);
}

#[test]
fn a_scenario_injected_while_running_is_labelled() {
    let mut it = Interner::new();
    let cfg = SimConfig { scenarios: Vec::new(), hard_negatives: false, symbols: 2, warmup_ns: 0, duration_ns: 5 * MINUTE, ..Default::default() };
    let start = cfg.start.0;
    let mut sim = Simulator::new(cfg, &mut it);
    let mut events = Vec::new();
    sim.advance(start + MINUTE, &mut events);
    assert!(sim.labels().is_empty());
    assert!(sim.inject(&mut it, AlertType::QuoteStuffing));
    sim.advance(start + 3 * MINUTE, &mut events);
    let labels = sim.finish();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(labels[0].kind, "quote_stuffing");
    assert!(labels[0].start > start + MINUTE);
    check_matching(&events);
}
