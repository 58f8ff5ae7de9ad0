//! The manipulation and anomaly detectors on what they must catch — the published patterns of the
//! Coscia, Sarao and CFTC spoofing cases among them — and on the look-alikes they must not flag.
//! Every scenario runs inside a background market: market makers quoting three levels a side and
//! re-quoting (cancelling most of what they place), noise traders taking liquidity, all matched by
//! price-time priority, so every trade names real orders.

use vigil_core::{AccountId, Alert, AlertType, Event, Interner, Side};
use vigil_detect::{Config, Shard};
use vigil_sim::{merge, Market, Rng};

const SEC: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const STEP: i64 = 100 * MS;
const T0: i64 = 1_767_261_600_000_000_000; // 2026-01-01T10:00:00Z
const TICK: f64 = 0.01;

/// The background: two market makers and thirty noise traders.
struct Crowd {
    rng: Rng,
    mms: Vec<AccountId>,
    noise: Vec<AccountId>,
    quotes: Vec<Vec<u64>>,
    mid: f64,
    /// Probability a maker re-quotes in a step.
    requote: f64,
    /// Probability a noise trader takes in a step.
    take: f64,
    /// Makers re-centre on the last trade (so a sustained move carries the quotes along).
    follow: bool,
    /// Ticks from the mid to the makers' best quotes.
    gap: i64,
}

impl Crowd {
    fn new(it: &mut Interner, seed: u64) -> Self {
        Crowd {
            rng: Rng::new(seed),
            mms: vec![it.account("mm1"), it.account("mm2")],
            noise: (0..30).map(|i| it.account(&format!("n{i}"))).collect(),
            quotes: vec![Vec::new(), Vec::new()],
            mid: 100.0,
            requote: 0.3,
            take: 0.3,
            follow: false,
            gap: 1,
        }
    }

    fn step(&mut self, m: &mut Market, ts: i64) {
        if self.rng.f64() < 0.05 {
            self.mid += if self.rng.f64() < 0.5 { TICK } else { -TICK };
        }
        if self.follow {
            if let Some(p) = m.last_price() {
                self.mid = p;
            }
        }
        for k in 0..self.mms.len() {
            if self.rng.f64() < self.requote || self.quotes[k].is_empty() {
                for id in std::mem::take(&mut self.quotes[k]) {
                    m.cancel(ts, id);
                }
                for lvl in self.gap..self.gap + 3 {
                    let size = 5.0 + self.rng.below(10) as f64;
                    let bid = round(self.mid - lvl as f64 * TICK);
                    let ask = round(self.mid + lvl as f64 * TICK);
                    let b = m.order(ts, self.mms[k], Side::Buy, Some(bid), size);
                    let a = m.order(ts, self.mms[k], Side::Sell, Some(ask), size);
                    self.quotes[k].extend([b, a]);
                }
            }
        }
        if self.rng.f64() < self.take {
            let who = self.noise[self.rng.below(self.noise.len() as u64) as usize];
            let side = if self.rng.f64() < 0.5 { Side::Buy } else { Side::Sell };
            m.order(ts, who, side, None, 1.0 + self.rng.below(4) as f64);
        }
    }
}

fn round(p: f64) -> f64 {
    (p / TICK).round() * TICK
}

fn run(events: &[Event], it: &Interner) -> Vec<Alert> {
    let mut shard = Shard::new(&Config::default(), it.names());
    let mut out = Vec::new();
    for e in events {
        shard.process(e, &mut out);
    }
    out.into_iter().map(|(_, _, a)| a).collect()
}

fn of(alerts: &[Alert], t: AlertType) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.kind == t).collect()
}

fn manipulation(alerts: &[Alert]) -> Vec<&Alert> {
    alerts.iter().filter(|a| a.kind.is_manipulation()).collect()
}

/// Runs the background for `secs` seconds with `scenario` called at every step.
fn market(seed: u64, secs: i64, mut scenario: impl FnMut(&mut Market, &mut Crowd, i64, i64)) -> (Vec<Event>, Interner) {
    let mut it = Interner::new();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, seed);
    for step in 0..secs * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        scenario(&mut m, &mut crowd, ts, step);
    }
    (m.events, it)
}

#[test]
fn background_market_raises_no_manipulation_alert() {
    // Market makers cancelling most of their quotes, hard (one re-quotes every step), are the
    // normal of a venue.
    for seed in 1..=3 {
        let (events, it) = market(seed, 1800, |_, c, _, _| c.requote = if seed == 3 { 1.0 } else { 0.3 });
        let alerts = run(&events, &it);
        assert!(manipulation(&alerts).is_empty(), "seed {seed}: {:#?}", manipulation(&alerts));
    }
}

/// Coscia (2011): a genuine 17-lot buy, then sells of 122, 85 and 54 lots on successive ticks
/// above the best ask, all cancelled within about 0.6 s once the buy fills; repeated, mirrored.
#[test]
fn golden_coscia_is_layering() {
    let mut it = Interner::new();
    let coscia = it.account("coscia");
    let seller = it.account("hit");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 7);
    let mut layers: Vec<u64> = Vec::new();
    let mut episodes = 0;
    for step in 0..1200 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let phase = step % 600; // one episode a minute
        let mirrored = (step / 600) % 2 == 1;
        let (genuine, spoof) = if mirrored { (Side::Sell, Side::Buy) } else { (Side::Buy, Side::Sell) };
        if step >= 3000 && phase == 0 {
            let (bb, ba) = (m.best_bid().unwrap(), m.best_ask().unwrap());
            // The genuine order improves the touch, so it is first in line.
            let gp = if genuine == Side::Buy { round(bb + TICK) } else { round(ba - TICK) };
            m.order(ts, coscia, genuine, Some(gp), 17.0);
            let away = if spoof == Side::Sell { ba } else { bb };
            for (k, size) in [122.0, 85.0, 54.0].into_iter().enumerate() {
                let p = if spoof == Side::Sell { round(away + (k as f64 + 1.0) * TICK) } else { round(away - (k as f64 + 1.0) * TICK) };
                layers.push(m.order(ts + MS, coscia, spoof, Some(p), size));
            }
        }
        if step >= 3000 && phase == 3 {
            // Others, drawn by the apparent pressure, trade with the genuine order.
            m.order(ts, seller, spoof, None, 17.0);
        }
        if step >= 3000 && phase == 6 {
            for id in layers.drain(..) {
                m.cancel(ts, id);
            }
            episodes += 1;
        }
    }
    let alerts = run(&m.events, &it);
    let layering = of(&alerts, AlertType::Layering);
    assert!(episodes >= 10);
    let sells: Vec<_> = layering.iter().filter(|a| a.evidence["side"] == "sell").collect();
    // One alert per episode (each a minute apart, beyond the cooldown), none of them spoofing.
    assert_eq!(layering.len(), episodes, "{:#?}", manipulation(&alerts));
    assert!(manipulation(&alerts).iter().all(|a| a.kind == AlertType::Layering && a.accounts == ["coscia"]), "{:#?}", manipulation(&alerts));
    let a = sells[0];
    assert!(a.description.contains("3 sell orders of 122, 85 and 54"), "{}", a.description);
    assert!(a.description.contains("bought 17 on the other side"), "{}", a.description);
    assert_eq!(a.evidence["price_levels"], 3);
    assert!(a.evidence["lifetime_s"].as_f64().unwrap() < 0.7);
    assert!(layering.iter().any(|a| a.evidence["side"] == "buy"), "the mirrored pattern is caught too");
    // Repetition raises confidence.
    assert!(layering.last().unwrap().confidence > layering[0].confidence);
}

/// Sarao (2009-15): 4-6 large sell orders one tick apart, kept 3-4 levels from the best ask,
/// modified constantly, never executed, while trading on the other side.
#[test]
fn golden_sarao_repriced_layer_is_layering() {
    let mut it = Interner::new();
    let sarao = it.account("sarao");
    let mut layer: Vec<u64> = Vec::new();
    let (events, it) = {
        let mut m = Market::new(&mut it, "testx", "ABC-USD");
        let mut crowd = Crowd::new(&mut it, 11);
        for step in 0..900 * SEC / STEP {
            let ts = T0 + step * STEP;
            crowd.step(&mut m, ts);
            if step < 3000 {
                continue;
            }
            let ba = m.best_ask().unwrap_or(crowd.mid + TICK);
            // Keep the layer 4-8 ticks above the best ask: each order re-priced every step.
            let target = |k: usize, wiggle: bool| round(ba + (4 + k) as f64 * TICK + if wiggle { TICK } else { 0.0 });
            if layer.is_empty() {
                for k in 0..5 {
                    layer.push(m.order(ts, sarao, Side::Sell, Some(target(k, false)), 300.0));
                }
            } else {
                for (k, &id) in layer.iter().enumerate() {
                    m.amend(ts, id, target(k, step % 2 == 0));
                }
            }
            if step % 50 == 25 {
                m.order(ts, sarao, Side::Buy, None, 3.0);
            }
        }
        (m.events, it)
    };
    let alerts = run(&events, &it);
    let layering = of(&alerts, AlertType::Layering);
    assert!(!layering.is_empty(), "{:#?}", manipulation(&alerts));
    assert!(manipulation(&alerts).iter().all(|a| a.kind == AlertType::Layering && a.accounts == ["sarao"]), "{:#?}", manipulation(&alerts));
    let a = layering[0];
    assert_eq!(a.evidence["pattern"], "repriced");
    assert_eq!(a.evidence["orders"], 5);
    assert!(a.description.contains("repricing"), "{}", a.description);
    // Raised within seconds of the layer becoming a pattern (10 amends at 10 a second).
    assert!(a.ts - (T0 + 300 * SEC) < 5 * SEC, "{}", a.ts - T0);
}

/// The CFTC pattern Eventus describes: spoof orders 10-50 times the genuine size, cancelled about
/// 2 s after the genuine order fills; spoof fill rate 2 % against 89 % for genuine orders.
#[test]
fn golden_cftc_pattern_is_spoofing() {
    let mut it = Interner::new();
    let sp = it.account("spoofer");
    let hit = it.account("hit");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 5);
    // A wider spread, so the genuine order and the spoof can each improve their side.
    crowd.gap = 3;
    let mut spoof = None;
    let mut episodes = 0;
    for step in 0..1500 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step < 3000 {
            continue;
        }
        let phase = step % 900;
        // The spoof sits at the touch: others stay away meanwhile so the fills are the pattern's.
        crowd.take = if phase < 30 { 0.0 } else { 0.3 };
        let size = [10.0, 25.0, 50.0][(step / 900) as usize % 3] * 4.0;
        match phase {
            0 => {
                let (bb, ba) = (m.best_bid().unwrap(), m.best_ask().unwrap());
                m.order(ts, sp, Side::Sell, Some(round(ba - TICK)), 4.0);
                spoof = Some(m.order(ts + MS, sp, Side::Buy, Some(round(bb + TICK)), size));
                // 2 % of the spoof fills.
                m.order(ts + 2 * MS, hit, Side::Sell, None, size * 0.02);
            }
            5 => {
                // 89 % of the genuine order fills.
                m.order(ts, hit, Side::Buy, None, 3.56);
            }
            25 => {
                m.cancel(ts, spoof.take().unwrap());
                episodes += 1;
            }
            _ => {}
        }
    }
    let alerts = run(&m.events, &it);
    let spoofing = of(&alerts, AlertType::Spoofing);
    assert_eq!(spoofing.len(), episodes, "{:#?}", manipulation(&alerts));
    assert!(manipulation(&alerts).iter().all(|a| a.kind == AlertType::Spoofing && a.accounts == ["spoofer"]), "{:#?}", manipulation(&alerts));
    let a = spoofing[0];
    assert!((a.evidence["cancel_after_fill_s"].as_f64().unwrap() - 2.0).abs() < 0.01, "{:?}", a.evidence);
    assert!((a.evidence["fill_ratio"].as_f64().unwrap() - 0.02).abs() < 1e-9);
    assert!((a.evidence["genuine_fill_ratio"].as_f64().unwrap() - 0.89).abs() < 1e-9);
    assert!(a.evidence["size_ratio"].as_f64().unwrap() >= 10.0);
    assert!(a.description.starts_with("spoofer placed a buy order of 100 ABC-USD"), "{}", a.description);
}

#[test]
fn genuine_large_order_cancelled_after_the_market_moved_away_is_not_spoofing() {
    let mut it = Interner::new();
    let whale = it.account("whale");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 9);
    let mut order = None;
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        match step % 600 {
            100 => order = Some(m.order(ts, whale, Side::Buy, Some(round(m.best_bid().unwrap() - TICK)), 200.0)),
            // The market rises away from it...
            110..=130 => crowd.mid += TICK,
            // ...and the whale cancels, having traded nothing on the other side.
            140 => m.cancel(ts, order.take().unwrap()),
            // Later it buys at market (the same side): still no opposite execution.
            160 => {
                m.order(ts, whale, Side::Buy, None, 5.0);
            }
            _ => {}
        }
    }
    let alerts = run(&m.events, &it);
    assert!(manipulation(&alerts).is_empty(), "{:#?}", manipulation(&alerts));
}

#[test]
fn spoofing_on_one_venue_while_trading_on_another_is_cross_venue() {
    let mut it = Interner::new();
    let sp = it.account("xspoof");
    let hit = it.account("hit");
    let arb = it.account("arb");
    let mut a = Market::new(&mut it, "venuea", "ABC-USD");
    let mut b = Market::new(&mut it, "venueb", "ABC-USD");
    let mut ca = Crowd::new(&mut it, 21);
    let mut cb = Crowd::new(&mut it, 22);
    let mut spoof = None;
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        ca.step(&mut a, ts);
        cb.step(&mut b, ts);
        // An arbitrageur buys on one venue and sells on the other in the same second: no alert.
        if step % 37 == 0 {
            a.order(ts, arb, Side::Buy, None, 2.0);
            b.order(ts + 300 * MS, arb, Side::Sell, None, 2.0);
        }
        if step < 3000 {
            continue;
        }
        // Takers on venue A stay off the spoof meanwhile, so it fills little.
        ca.take = if step % 600 < 30 { 0.0 } else { 0.3 };
        match step % 600 {
            0 => {
                // A large buy on venue A to lift the price everywhere...
                spoof = Some(a.order(ts, sp, Side::Buy, Some(round(a.best_bid().unwrap())), 150.0));
                // ...while it sells on venue B.
                b.order(ts + 10 * MS, sp, Side::Sell, Some(round(b.best_ask().unwrap() - TICK)), 5.0);
            }
            10 => {
                b.order(ts, hit, Side::Buy, None, 5.0);
            }
            20 => a.cancel(ts, spoof.take().unwrap()),
            _ => {}
        }
    }
    let events = merge(&[&a, &b]);
    let alerts = run(&events, &it);
    let cross = of(&alerts, AlertType::CrossVenueManipulation);
    assert_eq!(cross.len(), 10, "{:#?}", manipulation(&alerts));
    assert!(manipulation(&alerts).iter().all(|x| x.kind == AlertType::CrossVenueManipulation && x.accounts == ["xspoof"]), "{:#?}", manipulation(&alerts));
    assert!(cross[0].venue.is_none());
    assert!(cross[0].description.contains("on another venue"), "{}", cross[0].description);
}
