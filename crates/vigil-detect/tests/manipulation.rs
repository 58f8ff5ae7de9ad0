//! The manipulation and anomaly detectors on what they must catch — the published patterns of the
//! Coscia, Sarao and CFTC spoofing cases among them — and on the look-alikes they must not flag.
//! Every scenario runs inside a background market: market makers quoting three levels a side and
//! re-quoting (cancelling most of what they place), noise traders taking liquidity, all matched by
//! price-time priority, so every trade names real orders.

use vigil_core::{AccountId, Alert, AlertType, Event, Interner, Side};
use vigil_detect::{Config, Engine, Shard};
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
    run_with(&Config::default(), events, it)
}

fn run_with(config: &Config, events: &[Event], it: &Interner) -> Vec<Alert> {
    let mut shard = Shard::new(config, it.names());
    let mut out = Vec::new();
    for e in events {
        shard.process(e, &mut out);
    }
    out.into_iter().map(|(_, _, a)| a).collect()
}

/// The events through an [`Engine`] of `threads` shards.
fn engine_run(events: &[Event], it: &Interner, threads: usize) -> Vec<Alert> {
    let alerts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = alerts.clone();
    let mut engine = Engine::start(&Config::default(), threads, it.names(), Box::new(move |a| sink.lock().unwrap().push(a)));
    for e in events {
        engine.push(e.clone());
    }
    engine.finish().unwrap();
    let v = alerts.lock().unwrap().clone();
    v
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
    // One alert per episode (each a minute apart, beyond the cooldown), none of them spoofing,
    // from the second: the first alone is held, as a single episode of spoofing is.
    assert_eq!(layering.len(), episodes - 1, "{:#?}", manipulation(&alerts));
    assert_eq!(layering[0].evidence["episodes_in_repeat_window"], 2);
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

/// Coscia's stack of three, in two variants the published pattern leaves open: the genuine order,
/// unfilled, pulled and sent again as an immediate-or-cancel one (`chase`; the cancel of its rest
/// is no pull of a resting order), and the nearest layer moved back
/// onto the next one's price, so the three rest at two prices (`squeeze`). Each is still layering:
/// the genuine interest rested before the stack, and the stack went in at three levels.
fn coscia_variant(chase: bool, squeeze: bool, episodes: &mut usize) -> Vec<Alert> {
    let mut it = Interner::new();
    let coscia = it.account("coscia");
    let seller = it.account("hit");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 7);
    let (mut layers, mut genuine_id, mut away) = (Vec::new(), 0, 0.0);
    for step in 0..1200 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let phase = step % 600;
        if step < 3000 {
            continue;
        }
        match phase {
            0 => {
                let (bb, ba) = (m.best_bid().unwrap(), m.best_ask().unwrap());
                // Behind the touch when it is to be chased (it does not fill where it rests).
                let gp = if chase { round(bb - 2.0 * TICK) } else { round(bb + TICK) };
                genuine_id = m.order(ts, coscia, Side::Buy, Some(gp), 17.0);
                away = ba;
                for (k, size) in [122.0, 85.0, 54.0].into_iter().enumerate() {
                    layers.push(m.order(ts + MS, coscia, Side::Sell, Some(round(ba + (k as f64 + 1.0) * TICK)), size));
                }
            }
            2 if squeeze => m.amend(ts, layers[0], round(away + 2.0 * TICK)),
            3 if chase => {
                // Taking what the makers offer at the touch, never its own layers beyond it.
                m.cancel(ts, genuine_id);
                // Immediate-or-cancel: what the touch does not fill is cancelled at once.
                let ask = m.best_ask().unwrap().min(round(away));
                let ioc = m.order(ts, coscia, Side::Buy, Some(ask), 17.0);
                if m.is_open(ioc) {
                    m.cancel(ts, ioc);
                }
            }
            3 => {
                m.order(ts, seller, Side::Sell, None, 17.0);
            }
            6 => {
                for id in layers.drain(..) {
                    m.cancel(ts, id);
                }
                *episodes += 1;
            }
            _ => {}
        }
    }
    run(&m.events, &it)
}

#[test]
fn a_coscia_stack_whose_genuine_order_is_chased_or_whose_layers_are_moved_together_is_layering() {
    for (chase, squeeze) in [(true, false), (false, true)] {
        let mut episodes = 0;
        let alerts = coscia_variant(chase, squeeze, &mut episodes);
        let man = manipulation(&alerts);
        // One alert an episode from the second (the first alone is held).
        assert_eq!(man.len(), episodes - 1, "chase {chase}, squeeze {squeeze}: {man:#?}");
        assert!(man.iter().all(|a| a.kind == AlertType::Layering && a.accounts == ["coscia"]), "chase {chase}, squeeze {squeeze}: {man:#?}");
        // The evidence says what the type was decided on.
        assert!(man.iter().all(|a| a.evidence["price_levels_counted"] == 3), "{man:#?}");
        if squeeze {
            assert!(man.iter().all(|a| a.evidence["price_levels"] == 2 && a.description.contains("(3 levels counting where they went in")), "{man:#?}");
        }
    }
}

/// Coscia's pattern in a deep book (twelve makers): the stack (or one order of its whole size) is
/// about a sixth of the displayed depth of its side.
fn in_a_deep_book(sizes: &[f64], episodes: &mut usize) -> Vec<Alert> {
    coscia_among(12, 4.0, sizes, episodes)
}

/// Coscia's pattern among `makers` market makers (quoting 5-14 at three levels a side): a genuine
/// buy of `genuine` a tick inside the spread, a sell stack of `sizes` from a tick above the best
/// ask, a seller meeting the buy, the stack cancelled. Every minute.
fn coscia_among(makers: usize, genuine: f64, sizes: &[f64], episodes: &mut usize) -> Vec<Alert> {
    let mut it = Interner::new();
    let coscia = it.account("coscia");
    let seller = it.account("hit");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 11);
    crowd.mms = (0..makers).map(|i| it.account(&format!("mm{i}"))).collect();
    crowd.quotes = vec![Vec::new(); makers];
    let (mut layers, mut genuine_id, mut rested) = (Vec::new(), 0, false);
    for step in 0..1200 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step < 3000 {
            continue;
        }
        match step % 600 {
            0 => {
                let (bb, ba) = (m.best_bid().unwrap(), m.best_ask().unwrap());
                genuine_id = m.order(ts, coscia, Side::Buy, Some(round(bb + TICK)), genuine);
                // Makers quoting about different mids can leave a one-tick spread: then it took.
                rested = m.open_qty(genuine_id) == genuine;
                for (k, size) in sizes.iter().enumerate() {
                    layers.push(m.order(ts + MS, coscia, Side::Sell, Some(round(ba + (k as f64 + 1.0) * TICK)), *size));
                }
            }
            3 => {
                m.order(ts, seller, Side::Sell, None, genuine);
            }
            6 => {
                for id in layers.drain(..) {
                    m.cancel(ts, id);
                }
                // An episode when the genuine order rested and the seller met it (a maker's
                // better bid can have come first).
                if rested && m.open_qty(genuine_id) < genuine {
                    *episodes += 1;
                }
                if m.is_open(genuine_id) {
                    m.cancel(ts, genuine_id);
                }
            }
            _ => {}
        }
    }
    run(&m.events, &it)
}

#[test]
fn a_layer_is_held_to_half_the_depth_share_a_single_spoof_order_is() {
    // Three orders at three prices: seen by their shape as well as their size.
    let mut episodes = 0;
    let alerts = in_a_deep_book(&[26.0, 20.0, 14.0], &mut episodes);
    assert!(episodes >= 10, "{episodes}");
    let man = manipulation(&alerts);
    assert_eq!(man.len(), episodes - 1, "{man:#?}");
    assert!(man.iter().all(|a| a.kind == AlertType::Layering && a.accounts == ["coscia"]), "{man:#?}");
    let share = man[0].evidence["depth_share"].as_f64().unwrap();
    assert!((0.1..0.2).contains(&share), "{share}: a layer spoofing's size test would not pass");
    // The same size in one order is one large order among many: not spoofing.
    let alerts = in_a_deep_book(&[60.0], &mut 0);
    assert!(manipulation(&alerts).is_empty(), "{:#?}", manipulation(&alerts));
    // Nor with token orders beside it at two more prices: they are no levels of a stack.
    let alerts = in_a_deep_book(&[60.0, 3.0, 2.0], &mut 0);
    assert!(manipulation(&alerts).is_empty(), "{:#?}", manipulation(&alerts));
}

/// In a book of large quotes (two makers quoting 5-14 a level), a stack of 16 at three prices is
/// under 2.5 times the median order, spoofing's test of an order large for the market, but at
/// least the median order and, with its depth share, a third of its side's book: layering's
/// tests. One order of 16 is not spoofing.
#[test]
fn a_layer_among_large_quotes_need_only_be_larger_than_the_median_order() {
    let mut episodes = 0;
    let alerts = coscia_among(2, 1.0, &[7.0, 5.0, 4.0], &mut episodes);
    assert!(episodes >= 10, "{episodes}");
    let man = manipulation(&alerts);
    assert_eq!(man.len(), episodes - 1, "{man:#?}");
    assert!(man.iter().all(|a| a.kind == AlertType::Layering && a.accounts == ["coscia"]), "{man:#?}");
    let typical = man[0].evidence["typical_order_size"].as_f64().unwrap();
    assert!((16.0 / 2.5..16.0).contains(&typical), "{typical}: the median order");
    assert_eq!(man[0].evidence["min_typical_ratio"], 1.0);
    let alerts = coscia_among(2, 1.0, &[16.0], &mut 0);
    assert!(manipulation(&alerts).is_empty(), "{:#?}", manipulation(&alerts));
}

/// A party's buy ladder of three from a tick above the makers' best bid, its small sell a tick
/// below their best ask (the makers quote two ticks from the mid); a seller takes `take` out of
/// the ladder's top order; a buyer meets the small sell; the party cancels the ladder. Every
/// minute.
fn ladder_taken(take: f64) -> Vec<Alert> {
    let mut it = Interner::new();
    let party = it.account("ladder");
    let (seller, buyer) = (it.account("s"), it.account("b"));
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 5);
    crowd.gap = 2;
    let mut ladder = Vec::new();
    for step in 0..1200 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step < 3000 {
            continue;
        }
        match step % 600 {
            0 => {
                let (bb, ba) = (m.best_bid().unwrap(), m.best_ask().unwrap());
                m.order(ts, party, Side::Sell, Some(round(ba - TICK)), 4.0);
                for (k, size) in [40.0, 35.0, 30.0].into_iter().enumerate() {
                    ladder.push(m.order(ts + MS, party, Side::Buy, Some(round(bb + (1.0 - k as f64) * TICK)), size));
                }
            }
            2 => {
                m.order(ts, seller, Side::Sell, None, take);
            }
            3 => {
                m.order(ts, buyer, Side::Buy, None, 4.0);
            }
            6 => {
                for id in ladder.drain(..) {
                    if m.is_open(id) {
                        m.cancel(ts, id);
                    }
                }
            }
            _ => {}
        }
    }
    run(&m.events, &it)
}

#[test]
fn a_layer_the_market_took_a_little_of_is_layering_a_ladder_it_filled_is_not() {
    // A tenth of the stack taken: the risk a spoofer runs when the market comes to its nearest
    // layer, not the party trading that side.
    let alerts = ladder_taken(10.0);
    let layering = of(&alerts, AlertType::Layering);
    assert!(layering.len() >= 5 && layering.iter().all(|a| a.accounts == ["ladder"]), "{:#?}", manipulation(&alerts));
    // Over a quarter taken: a ladder placed to fill, filling. The party buys.
    let alerts = ladder_taken(36.0);
    assert!(manipulation(&alerts).is_empty(), "{:#?}", manipulation(&alerts));
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
    // The first episode alone is held (an ordinary large order cancelled by chance looks the
    // same); every episode from the second within 10 minutes alerts.
    assert_eq!(spoofing.len(), episodes - 1, "{:#?}", manipulation(&alerts));
    assert!(manipulation(&alerts).iter().all(|a| a.kind == AlertType::Spoofing && a.accounts == ["spoofer"]), "{:#?}", manipulation(&alerts));
    let a = spoofing[0];
    assert!((a.evidence["cancel_after_fill_s"].as_f64().unwrap() - 2.0).abs() < 0.01, "{:?}", a.evidence);
    assert!((a.evidence["fill_ratio"].as_f64().unwrap() - 0.02).abs() < 1e-9);
    assert!((a.evidence["genuine_fill_ratio"].as_f64().unwrap() - 0.89).abs() < 1e-9);
    assert!(a.evidence["size_ratio"].as_f64().unwrap() >= 10.0);
    assert_eq!(a.evidence["episodes_in_repeat_window"], 2);
    assert!(a.description.starts_with("spoofer placed a buy order of 200 ABC-USD"), "{}", a.description);
    assert!(a.description.ends_with("It is the party's episode 2 of orders cancelled after drawing a fill in this book within 600 s."), "{}", a.description);
}

/// Three spoof orders a tick apart placed first, then a small genuine buy at market that they
/// drew, cancelled a second later, twice: spoofing with a few orders, not layering (Coscia's
/// layers follow a genuine order already resting; a stack placed first needs four levels).
#[test]
fn a_three_order_stack_placed_before_the_genuine_order_is_spoofing() {
    // The genuine order sent at once, or resting after the stack went in, then pulled and sent
    // again as a marketable one: it came after the stack either way.
    for resend in [false, true] {
        let mut it = Interner::new();
        let sp = it.account("spoofer");
        let mut m = Market::new(&mut it, "testx", "ABC-USD");
        let mut crowd = Crowd::new(&mut it, 9);
        let (mut stack, mut genuine) = (Vec::new(), 0);
        for step in 0..900 * SEC / STEP {
            let ts = T0 + step * STEP;
            crowd.step(&mut m, ts);
            let phase = step % 1200;
            if step < 3000 {
                continue;
            }
            match phase {
                0 => {
                    let bb = m.best_bid().unwrap();
                    for (k, size) in [90.0, 110.0, 100.0].into_iter().enumerate() {
                        stack.push(m.order(ts, sp, Side::Buy, Some(round(bb - (k as f64 + 1.0) * TICK)), size));
                    }
                }
                2 if resend => {
                    genuine = m.order(ts, sp, Side::Sell, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 6.0);
                }
                5 => {
                    if resend {
                        m.cancel(ts, genuine);
                    }
                    m.order(ts, sp, Side::Sell, None, 6.0);
                }
                15 => {
                    for id in stack.drain(..) {
                        m.cancel(ts, id);
                    }
                }
                _ => {}
            }
        }
        let alerts = run(&m.events, &it);
        let man = manipulation(&alerts);
        assert!(!man.is_empty(), "resend {resend}");
        assert!(man.iter().all(|a| a.kind == AlertType::Spoofing && a.accounts == ["spoofer"]), "resend {resend}: {man:#?}");
        assert_eq!(man[0].evidence["price_levels"], 3);
    }
}

/// CFTC-pattern episodes a minute and a half apart, the spoof order of each the given size against
/// a genuine order of 4; returns the spoofing alerts.
fn cftc_episodes(sizes: &[f64]) -> Vec<Alert> {
    cftc_with(&Config::default(), sizes, Cftc::default())
}

/// How a CFTC-pattern episode of [`cftc_with`] goes.
struct Cftc {
    /// When the genuine sell goes in after the spoof bid (before it where negative).
    genuine_at: i64,
    /// A second sell of the party's, of 2, goes in 0.3 s later at the best ask and fills too.
    second: bool,
    /// The spoof bid's price in ticks from the best bid.
    ticks: f64,
    /// The genuine sell, 1 of it filled, is pulled and the rest sold at market at once.
    chase: bool,
}

impl Default for Cftc {
    fn default() -> Self {
        Cftc { genuine_at: -MS, second: false, ticks: 1.0, chase: false }
    }
}

fn cftc_with(config: &Config, sizes: &[f64], how: Cftc) -> Vec<Alert> {
    let mut it = Interner::new();
    let sp = it.account("spoofer");
    let hit = it.account("hit");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 5);
    crowd.gap = 3;
    let (mut spoof, mut genuine) = (None, None);
    for step in 0..(300 + 90 * sizes.len() as i64) * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step < 3000 {
            continue;
        }
        let phase = step % 900;
        crowd.take = if phase < 30 { 0.0 } else { 0.3 };
        let Some(&size) = sizes.get(((step - 3000) / 900) as usize) else { continue };
        let lead = -how.genuine_at;
        match phase {
            // A genuine order a step or more ahead: the spoof bid goes in that much later.
            p if lead >= STEP && p == lead / STEP => {
                let bb = m.best_bid().unwrap();
                spoof = Some(m.order(ts + lead % STEP, sp, Side::Buy, Some(round(bb + how.ticks * TICK)), size));
            }
            0 if lead >= STEP => {
                genuine = Some(m.order(ts, sp, Side::Sell, Some(round(m.best_ask().unwrap() - TICK)), 4.0));
            }
            0 => {
                let (bb, ba) = (m.best_bid().unwrap(), m.best_ask().unwrap());
                let bid = round(bb + how.ticks * TICK);
                if how.genuine_at < 0 {
                    genuine = Some(m.order(ts, sp, Side::Sell, Some(round(ba - TICK)), 4.0));
                    spoof = Some(m.order(ts - how.genuine_at, sp, Side::Buy, Some(bid), size));
                } else {
                    spoof = Some(m.order(ts, sp, Side::Buy, Some(bid), size));
                    genuine = Some(m.order(ts + how.genuine_at, sp, Side::Sell, Some(round(ba - TICK)), 4.0));
                }
            }
            2 if how.chase => {
                m.order(ts, hit, Side::Buy, None, 1.0);
            }
            4 if how.chase => {
                m.cancel(ts, genuine.take().unwrap());
                m.order(ts, sp, Side::Sell, None, 3.0);
            }
            3 if how.second => {
                let ba = m.best_ask().unwrap();
                m.order(ts, sp, Side::Sell, Some(ba), 2.0);
            }
            5 if !how.chase => {
                m.order(ts, hit, Side::Buy, None, if how.second { 5.56 } else { 3.56 });
            }
            25 => m.cancel(ts, spoof.take().unwrap()),
            _ => {}
        }
    }
    let alerts = run_with(config, &m.events, &it);
    of(&alerts, AlertType::Spoofing).into_iter().cloned().collect()
}

/// A spoofer's orders vary in size: an earlier episode at 7.5 times its genuine order, under the
/// 10 times an alert needs but over half of it, is a repetition of the pattern; the episode at 15
/// times that follows it alerts as the party's second. The other way round too: the weak episode
/// after a full one (held alone) alerts as its repeat, within `weak_repeat_window` (the episodes
/// are 90 s apart: with a 60 s window it does not). An episode at 3.75 times is no repetition, and
/// weak episodes alone never alert.
#[test]
fn a_spoofing_episode_at_half_the_size_test_counts_as_a_repetition() {
    let alerts = cftc_episodes(&[30.0, 60.0]);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].evidence["episodes_in_repeat_window"], 2);
    assert!((alerts[0].evidence["size_ratio"].as_f64().unwrap() - 15.0).abs() < 1e-9, "{:?}", alerts[0].evidence);
    assert_eq!(alerts[0].evidence["weak_episode"], false);
    let after = cftc_episodes(&[60.0, 30.0]);
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0].evidence["episodes_in_repeat_window"], 2);
    assert_eq!(after[0].evidence["weak_episode"], true);
    assert!((after[0].evidence["size_ratio"].as_f64().unwrap() - 7.5).abs() < 1e-9, "{:?}", after[0].evidence);
    for sizes in [[15.0, 60.0], [60.0, 15.0], [30.0, 30.0]] {
        let alerts = cftc_episodes(&sizes);
        assert!(alerts.is_empty(), "{sizes:?}: {alerts:#?}");
    }
    let mut config = Config::default();
    config.detectors.spoofing.weak_repeat_window = vigil_detect::config::Duration(60 * SEC);
    let late = cftc_with(&config, &[60.0, 30.0], Cftc::default());
    assert!(late.is_empty(), "{late:#?}");
    // Two full episodes alert at the second, as before.
    assert_eq!(cftc_episodes(&[60.0, 60.0]).len(), 1);
}

/// The same for the test against the instrument's typical order: with that bar at 55 lots, an
/// episode of 45 (within half of it, and 11 times the genuine order) counts toward repetition, and
/// the 60-lot episode after it alerts as the party's second (and the 45 after a 60 as its repeat);
/// one of 25 (under half the bar) does not count, and the 60 after it is a single episode, held.
#[test]
fn a_spoofing_episode_at_half_the_typical_size_test_counts_as_a_repetition() {
    let base = cftc_episodes(&[60.0, 60.0]);
    assert_eq!(base.len(), 1, "{base:#?}");
    let typical = base[0].evidence["typical_order_size"].as_f64().unwrap();
    let mut config = Config::default();
    config.detectors.spoofing.min_typical_ratio = 55.0 / typical;
    let alerts = cftc_with(&config, &[45.0, 60.0], Cftc::default());
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].evidence["episodes_in_repeat_window"], 2);
    assert!(cftc_with(&config, &[25.0, 60.0], Cftc::default()).is_empty());
    let after = cftc_with(&config, &[60.0, 45.0], Cftc::default());
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after[0].evidence["weak_episode"], true);
    assert_eq!(after[0].evidence["total_size"], 45.0);
    assert!(cftc_with(&config, &[60.0, 25.0], Cftc::default()).is_empty());
}

/// One CFTC-pattern episode alone, its order about the size of the book at its level, is held:
/// a trader's large order cancelled by chance after a small fill looks the same. The same episode
/// with an order many times the book's depth alerts at once, if it also has the spoof's sequence:
/// one genuine order, placed with the spoof (a millisecond before it or after it) or later, filled,
/// and then the spoof cancelled. Where the genuine order was there 0.3 s first, or the
/// party's sells filled from two orders while the bid rested, it is held for a repetition like any
/// other (a genuine order pulled and sent again at
/// once as a marketable one is still one).
#[test]
fn a_single_spoofing_episode_alerts_only_when_it_dwarfs_the_book_in_the_spoofs_sequence() {
    let after = || Cftc { genuine_at: MS, ..Cftc::default() };
    let single = |size: f64, how: Cftc| cftc_with(&Config::default(), &[size], how);
    assert!(single(60.0, after()).is_empty());
    let big = single(400.0, after());
    assert_eq!(big.len(), 1, "{big:#?}");
    assert!(big[0].evidence["depth_share"].as_f64().unwrap() >= 2.0, "{:?}", big[0].evidence);
    assert_eq!(big[0].evidence["episodes_in_repeat_window"], 1);
    assert_eq!(big[0].evidence["opposite_orders"], 1);
    assert!(big[0].evidence["genuine_placed_after_s"].as_f64().unwrap() > 0.0, "{:?}", big[0].evidence);
    let with = single(400.0, Cftc::default());
    assert_eq!(with.len(), 1, "{with:#?}");
    let first = single(400.0, Cftc { genuine_at: -300 * MS, ..Cftc::default() });
    assert!(first.is_empty(), "{first:#?}");
    let busy = single(400.0, Cftc { second: true, ..after() });
    assert!(busy.is_empty(), "{busy:#?}");
    // A genuine order partly filled, then pulled and sold at market at once, is one interest,
    // chased: the spoof's sequence still.
    let chased = single(400.0, Cftc { chase: true, ticks: -1.0, ..after() });
    assert_eq!(chased.len(), 1, "{chased:#?}");
    assert_eq!(chased[0].evidence["opposite_orders"], 2);
    // Repeated, both are the pattern.
    assert_eq!(cftc_with(&Config::default(), &[400.0, 400.0], Cftc { genuine_at: -300 * MS, ..Cftc::default() }).len(), 1);
    assert_eq!(cftc_with(&Config::default(), &[400.0, 400.0], Cftc { second: true, ..after() }).len(), 1);
}

/// The depth a spoof order is measured against is the best `depth_levels` levels of its side
/// without the order itself; an order placed deeper than them is not among them, so it is not
/// taken off them (which left nothing, an infinite share, and a single episode alerting).
#[test]
fn a_spoof_order_deeper_than_the_depth_levels_is_measured_against_them_whole() {
    let mut config = Config::default();
    config.detectors.spoofing.depth_levels = 2;
    let deep = |size: f64| cftc_with(&config, &[size], Cftc { genuine_at: MS, ticks: -5.0, ..Cftc::default() });
    // The best two bid levels hold about 40: 60 is about 1.5 times them, held as a single episode.
    assert!(deep(60.0).is_empty(), "{:#?}", deep(60.0));
    let big = deep(400.0);
    assert_eq!(big.len(), 1, "{big:#?}");
    let share = big[0].evidence["depth_share"].as_f64().unwrap();
    assert!((4.0..20.0).contains(&share), "{share}");
}

/// The look-alike of the CFTC pattern: a trader's large order, cancelled 8 s after a fill of its
/// own on the other side. Long after the fill, the cancel is not tied to it: not spoofing.
#[test]
fn large_order_cancelled_long_after_an_opposite_fill_is_not_spoofing() {
    let mut it = Interner::new();
    let trader = it.account("trader");
    let hit = it.account("hit");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 5);
    crowd.gap = 3;
    let mut big = None;
    for step in 0..1500 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step < 3000 {
            continue;
        }
        let phase = step % 900;
        crowd.take = if phase < 90 { 0.0 } else { 0.3 };
        match phase {
            0 => {
                let (bb, ba) = (m.best_bid().unwrap(), m.best_ask().unwrap());
                m.order(ts, trader, Side::Sell, Some(round(ba - TICK)), 4.0);
                big = Some(m.order(ts + MS, trader, Side::Buy, Some(round(bb + TICK)), 100.0));
            }
            5 => {
                m.order(ts, hit, Side::Buy, None, 4.0);
            }
            85 => {
                m.cancel(ts, big.take().unwrap());
            }
            _ => {}
        }
    }
    let alerts = run(&m.events, &it);
    assert!(manipulation(&alerts).is_empty(), "{:#?}", manipulation(&alerts));
}

/// A trader's large bid resting two ticks behind the best bid; `then` is what the trader does `at` steps later, and
/// the bid is cancelled 1.5 s after that. Repeated every 90 s.
fn large_bid_then(then: impl Fn(&mut Market, AccountId, i64, f64), at: i64) -> (Vec<Event>, Interner) {
    let mut it = Interner::new();
    let trader = it.account("trader");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 5);
    crowd.gap = 3;
    let (mut big, mut price) = (None, 0.0);
    for step in 0..1500 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step < 3000 {
            continue;
        }
        let phase = step % 900;
        crowd.take = if phase < at + 20 { 0.0 } else { 0.3 };
        if phase == 0 {
            price = round(m.best_bid().unwrap() - 2.0 * TICK);
            big = Some(m.order(ts, trader, Side::Buy, Some(price), 100.0));
        } else if phase == at {
            then(&mut m, trader, ts, price);
        } else if phase == at + 15 {
            m.cancel(ts, big.take().unwrap());
        }
    }
    (m.events, it)
}

/// An ordinary large bid that rested 20 s before its owner sold (to the bids above it), then went
/// 1.5 s later: the sale came too long after the bid to be what the bid was placed to draw.
#[test]
fn large_order_resting_long_before_an_opposite_trade_is_not_spoofing() {
    let sell = |m: &mut Market, trader, ts, bid: f64| {
        let _ = m.order(ts, trader, Side::Sell, Some(round(bid + TICK)), 4.0);
    };
    let (events, it) = large_bid_then(sell, 200);
    assert!(manipulation(&run(&events, &it)).is_empty(), "{:#?}", manipulation(&run(&events, &it)));
    // The same with no bound on the wait is the pattern: the test can fail.
    let mut loose = Config::default();
    loose.detectors.spoofing.max_fill_wait = vigil_detect::config::Duration(60 * SEC);
    assert!(!of(&run_with(&loose, &events, &it), AlertType::Spoofing).is_empty());
}

/// A busy two-way trader: while its large bid rests it sells 4 at market and buys 6 at market. It
/// wants to buy; its bid did not draw the sale.
#[test]
fn a_two_way_trader_buying_while_its_large_bid_rests_is_not_spoofing() {
    let busy = |m: &mut Market, trader, ts, _| {
        m.order(ts, trader, Side::Sell, None, 4.0);
        m.order(ts + 300 * MS, trader, Side::Buy, None, 6.0);
    };
    let (events, it) = large_bid_then(busy, 10);
    assert!(manipulation(&run(&events, &it)).is_empty(), "{:#?}", manipulation(&run(&events, &it)));
    let mut loose = Config::default();
    loose.detectors.spoofing.max_same_side = 10.0;
    assert!(!of(&run_with(&loose, &events, &it), AlertType::Spoofing).is_empty());
    // Selling alone, it is spoofing.
    let sell = |m: &mut Market, trader, ts, _| {
        let _ = m.order(ts, trader, Side::Sell, None, 4.0);
    };
    let (events, it) = large_bid_then(sell, 10);
    assert!(!of(&run(&events, &it), AlertType::Spoofing).is_empty());
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

/// A buy order of 150 at the best bid on venue A while the party sells `genuine` on venue B and a
/// buyer meets it; the order cancelled 2 s after placing. Every `period` steps from minute 5 (an
/// arbitrageur trades both venues throughout).
fn spoof_here_sell_there(genuine: f64, period: i64) -> Vec<Alert> {
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
        ca.take = if (step - 3000) % period < 30 { 0.0 } else { 0.3 };
        match (step - 3000) % period {
            0 => {
                // A large buy on venue A to lift the price everywhere...
                spoof = Some(a.order(ts, sp, Side::Buy, Some(round(a.best_bid().unwrap())), 150.0));
                // ...while it sells on venue B.
                b.order(ts + 10 * MS, sp, Side::Sell, Some(round(b.best_ask().unwrap() - TICK)), genuine);
            }
            10 => {
                b.order(ts, hit, Side::Buy, None, genuine);
            }
            20 => a.cancel(ts, spoof.take().unwrap()),
            _ => {}
        }
    }
    run(&merge(&[&a, &b]), &it)
}

#[test]
fn spoofing_on_one_venue_while_trading_on_another_is_cross_venue() {
    let alerts = spoof_here_sell_there(5.0, 600);
    let cross = of(&alerts, AlertType::CrossVenueManipulation);
    assert_eq!(cross.len(), 10, "{:#?}", manipulation(&alerts));
    assert!(manipulation(&alerts).iter().all(|x| x.kind == AlertType::CrossVenueManipulation && x.accounts == ["xspoof"]), "{:#?}", manipulation(&alerts));
    assert!(cross[0].venue.is_none());
    assert!(cross[0].description.contains("on another venue"), "{}", cross[0].description);
    assert_eq!(cross[0].evidence["weak_episode"], false);
}

/// A spoof at 7.5 times the order it drew on the other venue (short of the 10 times asked, but
/// more than half of it) is a weak episode: alone, or its repeat 5 minutes later, it raises
/// nothing (a large order cancelled by chance), but repeated every minute it alerts from the
/// second episode on. At 3.75 times it never counts.
#[test]
fn a_weak_cross_venue_spoof_repeated_within_two_minutes_is_cross_venue() {
    let alerts = spoof_here_sell_there(20.0, 600);
    let cross = of(&alerts, AlertType::CrossVenueManipulation);
    assert!(manipulation(&alerts).iter().all(|x| x.kind == AlertType::CrossVenueManipulation && x.accounts == ["xspoof"]), "{:#?}", manipulation(&alerts));
    // Episodes at minutes 5 to 14: the first is held, each later one alerts.
    assert_eq!(cross.iter().map(|a| (a.ts - T0) / (60 * SEC)).collect::<Vec<_>>(), (6..15).collect::<Vec<_>>(), "{cross:#?}");
    let ratio = cross[0].evidence["size_ratio"].as_f64().unwrap();
    assert!((5.0..10.0).contains(&ratio), "{ratio}");
    assert_eq!(cross[0].evidence["weak_episode"], true);
    assert_eq!(cross[0].evidence["episodes_in_repeat_window"], 2);
    assert!(cross[0].description.contains("episode 2 of orders cancelled after drawing a fill in this book within 120 s"), "{}", cross[0].description);
    for (genuine, period) in [(20.0, 3000), (40.0, 600)] {
        let alerts = spoof_here_sell_there(genuine, period);
        assert!(manipulation(&alerts).is_empty(), "{genuine} every {period} steps: {:#?}", manipulation(&alerts));
    }
}

/// A buy stack of `sizes` from the best bid down on venue A, in a deep book (twelve makers), while
/// the party sells 4 on venue B and a buyer meets it; the stack cancelled. Every minute.
fn stack_here_trade_there(sizes: &[f64]) -> Vec<Alert> {
    let mut it = Interner::new();
    let sp = it.account("xlayer");
    let hit = it.account("hit");
    let mut a = Market::new(&mut it, "venuea", "ABC-USD");
    let mut b = Market::new(&mut it, "venueb", "ABC-USD");
    let mut ca = Crowd::new(&mut it, 21);
    ca.mms = (0..12).map(|i| it.account(&format!("mm{i}"))).collect();
    ca.quotes = vec![Vec::new(); 12];
    let mut cb = Crowd::new(&mut it, 22);
    let mut stack = Vec::new();
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        ca.step(&mut a, ts);
        cb.step(&mut b, ts);
        if step < 3000 {
            continue;
        }
        ca.take = if step % 600 < 30 { 0.0 } else { 0.3 };
        match step % 600 {
            0 => {
                let bb = a.best_bid().unwrap();
                for (k, size) in sizes.iter().enumerate() {
                    stack.push(a.order(ts, sp, Side::Buy, Some(round(bb - k as f64 * TICK)), *size));
                }
                b.order(ts + 10 * MS, sp, Side::Sell, Some(round(b.best_ask().unwrap() - TICK)), 4.0);
            }
            10 => {
                b.order(ts, hit, Side::Buy, None, 4.0);
            }
            20 => {
                for id in stack.drain(..) {
                    a.cancel(ts, id);
                }
            }
            _ => {}
        }
    }
    run(&merge(&[&a, &b]), &it)
}

/// Cross-venue manipulation by a stack is held to a layer's size tests: four orders at four prices
/// (the stack placed before the trade it drew, as `layering.min_levels_first` asks) at about a
/// sixth of the book's depth are caught, where one order of a like share, or the stack's first
/// three orders at three prices, must reach spoofing's fifth: short of it, each of their episodes
/// is weak, alerting only as the party's repeat (from the second minute on), never alone.
#[test]
fn a_stack_drawing_a_trade_on_another_venue_is_held_to_a_layers_size_tests() {
    let alerts = stack_here_trade_there(&[26.0, 20.0, 14.0, 10.0]);
    let cross = of(&alerts, AlertType::CrossVenueManipulation);
    assert_eq!(cross.len(), 10, "{:?}", cross.iter().map(|a| ((a.ts - T0) / SEC, a.evidence["depth_share"].clone())).collect::<Vec<_>>());
    assert!(manipulation(&alerts).iter().all(|x| x.kind == AlertType::CrossVenueManipulation && x.accounts == ["xlayer"]), "{:#?}", manipulation(&alerts));
    let share = cross[0].evidence["depth_share"].as_f64().unwrap();
    assert!((0.1..0.2).contains(&share), "{share}: spoofing's size test would not pass");
    assert_eq!(cross[0].evidence["min_depth_share"], 0.1);
    assert_eq!(cross[0].evidence["weak_episode"], false);
    for sizes in [&[48.0][..], &[26.0, 20.0, 14.0]] {
        let alerts = stack_here_trade_there(sizes);
        let weak = manipulation(&alerts);
        assert!(weak.iter().all(|x| x.kind == AlertType::CrossVenueManipulation && x.evidence["weak_episode"] == true), "{sizes:?}: {weak:#?}");
        assert_eq!(weak.len(), 9, "{sizes:?}: the first episode is held, {weak:#?}");
        assert_eq!(weak[0].evidence["min_depth_share"], 0.2);
    }
}

#[test]
fn wash_trades_self_same_owner_and_rings_are_caught_but_not_lookalikes() {
    let mut it = Interner::new();
    let w = it.account("w1");
    let (o1, o2) = (it.account("o1"), it.account("o2"));
    let (s1, s2) = (it.account("s1"), it.account("s2"));
    let ring: Vec<AccountId> = ["r1", "r2", "r3"].iter().map(|n| it.account(n)).collect();
    let lone = it.account("lone");
    let pre = it.account("pre");
    let (apart, part, mkt) = (it.account("apart"), it.account("part"), it.account("mkt"));
    let (owner_a, owner_b) = (it.owner("fund-a"), it.owner("fund-b"));
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 31);
    // Room inside the spread, so the pairs below meet each other rather than the makers.
    crowd.gap = 2;
    // Wash rings live in thin instruments, where they make the volume.
    let mut thin = Market::new(&mut it, "testx", "THIN-USD");
    m.owner(T0, o1, owner_a);
    m.owner(T0, o2, owner_a);
    // s1 and s2 share an owner but never trade with each other: both trade with the crowd.
    m.owner(T0, s1, owner_b);
    m.owner(T0, s2, owner_b);
    for step in 0..3600 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let mid = crowd.mid;
        match step {
            // Self-trades: w1 sells inside the spread and, 50 ms later, buys part of its own order,
            // three times.
            6000 | 6050 | 6100 => {
                m.order(ts, w, Side::Sell, Some(mid), 7.0);
                m.order(ts + 50 * MS, w, Side::Buy, Some(mid), 5.0);
            }
            // Same owner, two accounts, three times, the buy 50 ms after the sell.
            12000 | 12100 | 12200 => {
                m.order(ts, o1, Side::Sell, Some(mid), 9.0);
                m.order(ts + 50 * MS, o2, Side::Buy, Some(mid), 9.0);
            }
            // A ring: r1 → r2 → r3 → r1, twice round, each ending flat.
            20000..=20005 => {
                let k = (step - 20000) as usize;
                thin.order(ts, ring[k % 3], Side::Sell, Some(5.0), 10.0);
                thin.order(ts + MS, ring[(k + 1) % 3], Side::Buy, Some(5.0), 10.0);
            }
            // A single accidental self-match is no pattern: a resting order met by a smaller one
            // of the account's own.
            30000 => {
                m.order(ts, lone, Side::Sell, Some(mid), 3.0);
                m.order(ts + 50 * MS, lone, Side::Buy, Some(mid), 2.0);
            }
            // Nor one of equal sizes 50 ms apart, nor one in the same instant that fills only part
            // of the sell.
            31000 => {
                m.order(ts, apart, Side::Sell, Some(mid), 4.0);
                m.order(ts + 50 * MS, apart, Side::Buy, Some(mid), 4.0);
            }
            32000 => {
                m.order(ts, part, Side::Sell, Some(mid), 6.0);
                m.order(ts, part, Side::Buy, Some(mid), 4.0);
            }
            // A single prearranged self-trade is: both orders in the same instant, each filled in
            // full by the other; also when the buy is a market order.
            33000 => {
                m.order(ts, pre, Side::Sell, Some(mid), 40.0);
                m.order(ts, pre, Side::Buy, Some(mid), 40.0);
            }
            34000 => {
                m.order(ts, mkt, Side::Sell, Some(mid), 30.0);
                m.order(ts, mkt, Side::Buy, None, 30.0);
            }
            _ => {}
        }
        if step % 40 == 0 {
            m.order(ts, if step % 80 == 0 { s1 } else { s2 }, if step % 120 == 0 { Side::Buy } else { Side::Sell }, None, 1.0);
        }
    }
    let events = merge(&[&m, &thin]);
    let alerts = run(&events, &it);
    let wash = of(&alerts, AlertType::WashTrading);
    assert_eq!(manipulation(&alerts).len(), wash.len(), "{:#?}", manipulation(&alerts));
    let accounts: Vec<Vec<String>> = wash.iter().map(|a| a.accounts.clone()).collect();
    assert_eq!(
        accounts,
        vec![vec!["w1".to_string()], vec!["o1".into(), "o2".into()], vec!["r1".into(), "r2".into(), "r3".into()], vec!["pre".into()], vec!["mkt".into()]],
        "{wash:#?}"
    );
    assert_eq!(wash[2].symbols, ["THIN-USD"]);
    assert_eq!(wash[0].evidence["pattern"], "self_trade");
    assert!(wash[1].description.contains("both owned by fund-a"), "{}", wash[1].description);
    assert_eq!(wash[2].evidence["pattern"], "ring");
    // Raised at the third self-trade, not later.
    assert_eq!(wash[0].ts, T0 + 6100 * STEP + 50 * MS);
    assert_eq!(wash[0].evidence["prearranged"], false);
    assert_eq!(wash[1].ts, T0 + 12200 * STEP + 50 * MS);
    assert_eq!(wash[1].evidence["prearranged"], false);
    for (a, at) in [(wash[3], 33000), (wash[4], 34000)] {
        assert_eq!(a.ts, T0 + at * STEP);
        assert_eq!((a.evidence["trades"].as_u64(), a.evidence["prearranged"].as_bool()), (Some(1), Some(true)));
        assert!(a.description.contains("each filled in full by the other (a prearranged trade)"), "{}", a.description);
    }
    // The ring closes at its third trade (once round, each member flat again).
    assert_eq!(wash[2].ts, T0 + 20002 * STEP + MS);
}

/// Runs a 40-minute background, then `burst` from minute 35.
fn pump_market(burst: impl Fn(&mut Market, &[AccountId], i64, i64)) -> Vec<Alert> {
    pump_market_with(&Config::default(), burst)
}

fn pump_market_with(config: &Config, burst: impl Fn(&mut Market, &[AccountId], i64, i64)) -> Vec<Alert> {
    let mut it = Interner::new();
    let pumpers: Vec<AccountId> = (0..40).map(|i| it.account(&format!("p{i}"))).collect();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 41);
    crowd.follow = true;
    for step in 0..2400 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step >= 21000 {
            burst(&mut m, &pumpers, ts, step - 21000);
        }
    }
    run_with(config, &m.events, &it)
}

/// Six accounts (`p[from..from + 6]`) buy together every 0.2 s for 30 s from `at` steps in, three
/// or four of them in the same millisecond: a pump, not sold back.
fn pump_by(m: &mut Market, p: &[AccountId], ts: i64, k: i64, from: usize, at: i64) {
    let k = k - at;
    if (0..300).contains(&k) && k % 2 == 0 {
        let first = (k / 2 % 6) as usize;
        for j in 0..3 + (k / 2 % 2) as usize {
            m.order(ts, p[from + (first + j) % 6], Side::Buy, None, 20.0);
        }
    }
}

/// A second pump in the same book three minutes after the first, by another group, is its own pump,
/// not a repeat of the first within the cooldown; the same group pumping again is. One pump whose
/// buyers change halfway, its buying never pausing, is one pump.
#[test]
fn a_pump_by_a_new_group_after_the_last_one_ended_is_a_new_pump() {
    let pumps = |alerts: &[Alert]| of(alerts, AlertType::PumpAndDump).into_iter().cloned().collect::<Vec<_>>();
    let two = pumps(&pump_market(|m, p, ts, k| {
        pump_by(m, p, ts, k, 0, 0);
        pump_by(m, p, ts, k, 6, 1800);
    }));
    assert_eq!(two.len(), 2, "{two:#?}");
    assert!(two[0].accounts.iter().all(|a| ["p0", "p1", "p2", "p3", "p4", "p5"].contains(&a.as_str())), "{:?}", two[0].accounts);
    assert!(two[1].ts > T0 + 2280 * SEC, "{}", two[1].ts);
    assert!(two[1].accounts.iter().all(|a| ["p6", "p7", "p8", "p9", "p10", "p11"].contains(&a.as_str())), "{:?}", two[1].accounts);
    let again = pumps(&pump_market(|m, p, ts, k| {
        pump_by(m, p, ts, k, 0, 0);
        pump_by(m, p, ts, k, 0, 1800);
    }));
    assert_eq!(again.len(), 1, "{again:#?}");
    assert!(again[0].ts < T0 + 2130 * SEC, "the first pump's alert: {again:#?}");
    let handed_on = pumps(&pump_market(|m, p, ts, k| {
        pump_by(m, p, ts, k, 0, 0);
        pump_by(m, p, ts, k, 6, 300);
    }));
    assert_eq!(handed_on.len(), 1, "{handed_on:#?}");
    assert!(handed_on[0].accounts.iter().all(|a| ["p0", "p1", "p2", "p3", "p4", "p5"].contains(&a.as_str())), "{:?}", handed_on[0].accounts);
}

/// In a deep book a coordinated crowd's buying moves the price less: forty accounts buying together
/// in bursts of ten, a lot each, every 0.2 s for 30 s, raise it about half a per cent. Their bursts
/// are the evidence: a rise of `crowd_min_rise` (0.5 %) is enough for them, where few drivers need
/// `min_rise` (2 %). With `crowd_min_rise` at 2 % it is no pump.
#[test]
fn a_coordinated_crowd_that_moved_a_deep_book_little_is_a_pump() {
    let burst = |m: &mut Market, p: &[AccountId], ts: i64, k: i64| {
        if k < 300 && k % 2 == 0 {
            for j in 0..10 {
                m.order(ts, p[((k / 2) as usize * 7 + j) % p.len()], Side::Buy, None, 1.0);
            }
        }
    };
    let alerts = pump_market(burst);
    let crowd: Vec<_> = of(&alerts, AlertType::PumpAndDump).into_iter().filter(|x| x.evidence["phase"] == "pump").collect();
    assert_eq!(crowd.len(), 1, "{crowd:#?}");
    let rise = crowd[0].evidence["rise"].as_f64().unwrap();
    assert!((0.005..0.02).contains(&rise), "{rise}");
    assert_eq!(crowd[0].evidence["pattern"], "coordinated_crowd");
    let mut config = Config::default();
    config.detectors.pump_and_dump.crowd_min_rise = 0.02;
    let alerts = pump_market_with(&config, burst);
    assert!(of(&alerts, AlertType::PumpAndDump).is_empty(), "{:#?}", of(&alerts, AlertType::PumpAndDump));
    // Three drivers buying two at a time (rush orders, never a burst of three hands) that move
    // the price as little are no pump; buying enough to move it 2 % they are.
    let few = |lots: f64| {
        let alerts = pump_market(move |m, p, ts, k| {
            if k < 300 && k % 2 == 0 {
                for j in 0..2 {
                    m.order(ts + 37 * MS, p[(k / 2 + j) as usize % 3], Side::Buy, None, lots);
                }
            }
        });
        of(&alerts, AlertType::PumpAndDump).into_iter().filter(|x| x.evidence["phase"] == "pump").cloned().collect::<Vec<_>>()
    };
    let low = few(6.0);
    assert!(low.is_empty(), "{low:#?}");
    let high = few(20.0);
    assert_eq!(high.len(), 1, "{high:#?}");
    assert_eq!(high[0].evidence["pattern"], "few_drivers");
}

#[test]
fn pump_is_caught_as_it_happens_and_news_is_not() {
    // A group of six buys together every 0.2 s for 30 s (three or four of them in the same
    // millisecond: rush orders), then sells back what it bought.
    let alerts = pump_market(|m, p, ts, k| {
        if k < 300 && k % 2 == 0 {
            let first = (k / 2 % 6) as usize;
            for j in 0..3 + (k / 2 % 2) as usize {
                m.order(ts, p[(first + j) % 6], Side::Buy, None, 20.0);
            }
        }
        if (400..700).contains(&k) && k % 2 == 0 {
            for j in 0..2 {
                m.order(ts + j * 50 * MS, p[((k / 2) as usize + j as usize) % 6], Side::Sell, None, 20.0);
            }
        }
    });
    let pumps = of(&alerts, AlertType::PumpAndDump);
    assert!(manipulation(&alerts).iter().all(|a| a.kind == AlertType::PumpAndDump), "{:#?}", manipulation(&alerts));
    assert_eq!(pumps.len(), 2, "{pumps:#?}");
    assert_eq!(pumps[0].evidence["phase"], "pump");
    assert!(pumps[0].ts - (T0 + 2100 * SEC) < 25 * SEC, "detected within 25 s of the start");
    let group = ["p0", "p1", "p2", "p3", "p4", "p5"];
    assert!(pumps[0].accounts.len() >= 3 && pumps[0].accounts.iter().all(|a| group.contains(&a.as_str())), "{:?}", pumps[0].accounts);
    assert_eq!(pumps[1].evidence["phase"], "dump");
    assert!(pumps[1].ts > T0 + 2140 * SEC, "the dump is the selling, not the pump");
    assert!(pumps[1].accounts.iter().all(|a| group.contains(&a.as_str())), "{:?}", pumps[1].accounts);
    assert!(pumps[1].evidence["sold_back"].as_f64().unwrap() >= 0.5, "{:?}", pumps[1].evidence);

    // A pump group of forty, ten of them in each burst of 8 lots: no few accounts hold the buying
    // (the three largest have about a tenth of it), yet the bursts are the group's.
    let alerts = pump_market(|m, p, ts, k| {
        if k < 300 && k % 2 == 0 {
            for j in 0..10 {
                m.order(ts, p[((k / 2) as usize * 7 + j) % p.len()], Side::Buy, None, 8.0);
            }
        }
    });
    let pumps = of(&alerts, AlertType::PumpAndDump);
    assert_eq!(pumps.len(), 1, "{pumps:#?}");
    assert_eq!(pumps[0].evidence["pattern"], "coordinated_crowd");
    assert!(pumps[0].evidence["group_accounts"].as_u64().unwrap() >= 20, "{:?}", pumps[0].evidence);
    assert!(pumps[0].evidence["top_buyer_share"].as_f64().unwrap() < 0.35, "{:?}", pumps[0].evidence);
    assert!(pumps[0].accounts.iter().all(|a| a.starts_with('p')), "{:?}", pumps[0].accounts);
    assert!(pumps[0].ts - (T0 + 2100 * SEC) < 25 * SEC, "detected within 25 s of the start");

    // News: eight accounts react in the same millisecond (one rush), then forty independent
    // accounts buy the same amount over 30 s, one at a time.
    let alerts = pump_market(|m, p, ts, k| {
        if k == 0 {
            for a in &p[..8] {
                m.order(ts, *a, Side::Buy, None, 5.0);
            }
        }
        if k < 300 && k % 2 == 0 {
            m.order(ts, p[(k / 2) as usize % p.len()], Side::Buy, None, 40.0);
        }
    });
    assert!(of(&alerts, AlertType::PumpAndDump).is_empty(), "{:#?}", of(&alerts, AlertType::PumpAndDump));
    assert!(manipulation(&alerts).is_empty(), "{:#?}", manipulation(&alerts));
}

#[test]
fn quote_stuffing_burst_is_caught_and_a_fast_market_maker_is_not() {
    let mut it = Interner::new();
    let qs = it.account("stuffer");
    let fast = it.account("fastmm");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 51);
    let mut mine: Vec<u64> = Vec::new();
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        // A market maker re-quoting ten orders far from the touch every step, all day: 200 a second.
        for id in mine.drain(..) {
            m.cancel(ts, id);
        }
        for k in 0..10 {
            mine.push(m.order(ts, fast, if k % 2 == 0 { Side::Buy } else { Side::Sell }, Some(if k % 2 == 0 { 90.0 } else { 110.0 }), 1.0));
        }
        // The stuffer, quiet until then, places and cancels 30 orders every 100 ms for 2 s.
        if (5000..5020).contains(&step) {
            for i in 0..30 {
                let id = m.order(ts + i * MS, qs, Side::Buy, Some(95.0), 1.0);
                m.cancel(ts + i * MS, id);
            }
        }
    }
    let alerts = run(&m.events, &it);
    let qs = of(&alerts, AlertType::QuoteStuffing);
    assert_eq!(qs.len(), 1, "{qs:#?}");
    assert_eq!(qs[0].accounts, ["stuffer"]);
    assert!(qs[0].ts < T0 + 5005 * STEP, "raised within the burst");
    assert!(manipulation(&alerts).iter().all(|a| a.kind == AlertType::QuoteStuffing), "{:#?}", manipulation(&alerts));
}

/// A market maker's storm: quoting two orders a second all along, then for 10 s pulling and
/// re-placing a ten-order ladder every 50 ms (400 messages a second, a hundred times its usual
/// rate), each version resting 50 ms. A stuffer at the same rate whose orders rest 5 ms is
/// stuffing; the maker, whose orders rest for its re-quote interval, is not.
#[test]
fn quote_stuffing_needs_fleeting_orders_and_a_market_makers_storm_is_not() {
    let mut it = Interner::new();
    let maker = it.account("maker");
    let qs = it.account("stuffer");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 53);
    let mut quotes: Vec<u64> = Vec::new();
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let storm = (5000..5100).contains(&step);
        let every = if storm { 1 } else { 10 };
        if step % every == 0 {
            for half in 0..if storm { 2 } else { 1 } {
                let t = ts + half * 50 * MS;
                for id in quotes.drain(..) {
                    m.cancel(t, id);
                }
                for k in 0..if storm { 10 } else { 2 } {
                    let (side, p) = if k % 2 == 0 { (Side::Buy, 97.0 - (k / 2) as f64 * TICK) } else { (Side::Sell, 103.0 + (k / 2) as f64 * TICK) };
                    quotes.push(m.order(t, maker, side, Some(round(p)), 5.0));
                }
            }
        }
        // The stuffer: 20 orders every 100 ms for 2 s, each cancelled 5 ms after it was placed.
        if (7000..7020).contains(&step) {
            for i in 0..20 {
                let id = m.order(ts + i * 4 * MS, qs, Side::Buy, Some(95.0), 1.0);
                m.cancel(ts + i * 4 * MS + 5 * MS, id);
            }
        }
    }
    let alerts = run(&m.events, &it);
    let qs = of(&alerts, AlertType::QuoteStuffing);
    assert_eq!(qs.len(), 1, "{qs:#?}");
    assert_eq!(qs[0].accounts, ["stuffer"]);
    assert!(qs[0].evidence["median_order_life_ms"].as_f64().unwrap() <= 5.0, "{:?}", qs[0].evidence);
    assert!(qs[0].description.contains("resting 5.00 ms (median)"), "{}", qs[0].description);
}

/// A market maker's storm of fleeting quotes: quoting a two-sided ladder every second all along,
/// then for 5 s moving all ten orders every 20 ms (1 000 messages a second, each version resting
/// 20 ms), each order replaced in the same instant it was taken down. A maker moving its quotes is
/// not stuffing; a stuffer that cancel/replaces one order on one side at the same pace is.
#[test]
fn quote_stuffing_spares_a_maker_moving_its_quotes_but_not_a_one_sided_replacer() {
    let mut it = Interner::new();
    let maker = it.account("maker");
    let qs = it.account("stuffer");
    let burster = it.account("burster");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 54);
    let mut quotes: Vec<u64> = Vec::new();
    let mut last: Option<u64> = None;
    let mut kept: Vec<u64> = Vec::new();
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let storm = (5000..5050).contains(&step);
        if storm || step % 10 == 0 {
            for j in 0..if storm { 5 } else { 1 } {
                let t = ts + j * 20 * MS;
                // Cancel/replace each order in the same instant, buys and sells.
                let old: Vec<u64> = std::mem::take(&mut quotes);
                for k in 0..10 {
                    if let Some(&id) = old.get(k) {
                        m.cancel(t, id);
                    }
                    let (side, p) = if k % 2 == 0 { (Side::Buy, 97.0 - (k / 2) as f64 * TICK) } else { (Side::Sell, 103.0 + (k / 2) as f64 * TICK) };
                    quotes.push(m.order(t, maker, side, Some(round(p - (j % 2) as f64 * TICK)), 5.0));
                }
            }
        }
        // The stuffer: one sell order cancel/replaced every 2 ms for 2 s, a tick or two apart.
        if (7000..7020).contains(&step) {
            for i in 0..50 {
                let t = ts + 2 * i * MS;
                if let Some(id) = last.take() {
                    m.cancel(t, id);
                }
                last = Some(m.order(t, qs, Side::Sell, Some(round(104.0 + (i % 2) as f64 * TICK)), 1.0));
            }
        }
        // A two-sided stuffer: every 100 ms for 2 s it cancels one buy and one sell and, in that
        // instant, places twelve of each (pulled 5 ms later but the two it keeps): two re-quotes,
        // not twenty-four.
        if (8000..8020).contains(&step) {
            for id in kept.drain(..) {
                m.cancel(ts, id);
            }
            let ids: Vec<u64> = (0..24)
                .map(|j| if j % 2 == 0 { m.order(ts, burster, Side::Buy, Some(96.0), 1.0) } else { m.order(ts, burster, Side::Sell, Some(104.0), 1.0) })
                .collect();
            for &id in &ids[2..] {
                m.cancel(ts + 5 * MS, id);
            }
            kept = ids[..2].to_vec();
        }
    }
    let alerts = run(&m.events, &it);
    let qs = of(&alerts, AlertType::QuoteStuffing);
    assert_eq!(qs.len(), 2, "{qs:#?}");
    assert_eq!(qs[0].accounts, ["stuffer"]);
    assert!(qs[0].evidence["requote_share"].as_f64().unwrap() > 0.9, "{:?}", qs[0].evidence);
    assert_eq!(qs[1].accounts, ["burster"]);
    assert!(qs[1].evidence["requote_share"].as_f64().unwrap() < 0.2, "{:?}", qs[1].evidence);
    // Without the re-quote rule the maker's storm is a flood of fleeting orders.
    let mut config = Config::default();
    config.detectors.quote_stuffing.max_requote_share = 1.0;
    let without = run_with(&config, &m.events, &it);
    let accounts: Vec<&str> = of(&without, AlertType::QuoteStuffing).iter().map(|a| a.accounts[0].as_str()).collect();
    assert_eq!(accounts, ["maker", "stuffer", "burster"]);
}

#[test]
fn quote_stuffing_by_established_accounts_is_caught() {
    // An ordinary account that has traded now and then for 10 minutes, and a market maker that has
    // re-quoted two orders every 200 ms, each flood at 1 000 messages a second for 2 s. Their own
    // history must not hide the burst (a burst is not its own record to beat).
    let mut it = Interner::new();
    let ordinary = it.account("ordinary");
    let maker = it.account("maker");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 52);
    let mut quotes: Vec<u64> = Vec::new();
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step % 2 == 0 {
            for id in quotes.drain(..) {
                m.cancel(ts, id);
            }
            quotes.push(m.order(ts, maker, Side::Buy, Some(97.0), 5.0));
            quotes.push(m.order(ts, maker, Side::Sell, Some(103.0), 5.0));
        }
        if step % 100 == 0 && step < 6000 {
            let id = m.order(ts + MS, ordinary, Side::Buy, Some(96.0), 2.0);
            m.cancel(ts + 50 * MS, id);
        }
        for (who, from) in [(ordinary, 6000), (maker, 7000)] {
            if (from..from + 20).contains(&step) {
                for i in 0..50 {
                    let id = m.order(ts + 2 * i * MS, who, Side::Sell, Some(104.0), 1.0);
                    m.cancel(ts + (2 * i + 1) * MS, id);
                }
            }
        }
    }
    let alerts = run(&m.events, &it);
    let qs = of(&alerts, AlertType::QuoteStuffing);
    assert_eq!(qs.len(), 2, "{qs:#?}");
    assert_eq!(qs[0].accounts, ["ordinary"]);
    assert!(qs[0].ts < T0 + 6005 * STEP, "raised within the burst");
    assert_eq!(qs[1].accounts, ["maker"]);
    assert!(qs[1].ts < T0 + 7005 * STEP, "raised within the burst");
}

#[test]
fn momentum_ignition_is_caught_and_a_hedging_market_maker_is_not() {
    let mut it = Interner::new();
    let mi = it.account("igniter");
    let hedger = it.account("hedger");
    let quoter = it.account("quoter");
    let chasers: Vec<AccountId> = (0..5).map(|i| it.account(&format!("chaser{i}"))).collect();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 61);
    crowd.follow = true;
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let k = step % 3000;
        if step < 3000 {
            // A market maker hedging: an ask of its own two ticks out, three small aggressive
            // buys, and its ask filled by the crowd later.
            if k % 600 == 100 {
                m.order(ts, hedger, Side::Sell, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 3.0);
                for j in 0..3 {
                    m.order(ts + (j + 1) * MS, hedger, Side::Buy, None, 2.0);
                }
            }
            // A market maker quoting both ways (a bid 40 ticks down as well as an ask 40 ticks up)
            // that takes hard in a fast market, the chasers following: the igniter's shape, but it
            // keeps a quote on the side it takes, so it is not positioned for the move.
            if k == 1500 {
                m.order(ts, quoter, Side::Buy, Some(round(crowd.mid - 0.4)), 20.0);
                m.order(ts, quoter, Side::Sell, Some(round(crowd.mid + 0.25)), 20.0);
            }
            if (1510..1560).contains(&k) && k % 10 == 0 {
                m.order(ts, quoter, Side::Buy, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 60.0);
            }
            if (1560..1600).contains(&k) && k % 4 == 0 {
                m.order(ts, chasers[(k % 5) as usize], Side::Buy, None, 60.0);
            }
            continue;
        }
        // The igniter rests a sell 40 ticks up, buys hard to start the move, the chasers follow.
        if k == 0 {
            m.order(ts, mi, Side::Sell, Some(round(crowd.mid + 0.25)), 20.0);
        }
        // Its buys are marketable limits two ticks through the ask: they never reach its own sell.
        if (10..60).contains(&k) && k % 10 == 0 {
            m.order(ts, mi, Side::Buy, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 60.0);
        }
        if (60..100).contains(&k) && k % 4 == 0 {
            m.order(ts, chasers[(k % 5) as usize], Side::Buy, None, 60.0);
        }
    }
    let alerts = run(&m.events, &it);
    let mi = of(&alerts, AlertType::MomentumIgnition);
    assert!(!mi.is_empty(), "{:#?}", manipulation(&alerts));
    assert!(mi.iter().all(|a| a.accounts == ["igniter"]), "{mi:#?}");
    assert!(manipulation(&alerts).iter().all(|a| a.kind == AlertType::MomentumIgnition), "{:#?}", manipulation(&alerts));
}

/// The igniter of the test above alone: `bait` sells set out together 25 ticks up (a tick apart),
/// five hard buys, the chasers following until its sells fill.
fn lone_or_set_out(bait: u32, config: &Config) -> Vec<Alert> {
    let mut it = Interner::new();
    let mi = it.account("igniter");
    let chasers: Vec<AccountId> = (0..5).map(|i| it.account(&format!("chaser{i}"))).collect();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 61);
    crowd.follow = true;
    for step in 0..600 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let k = step - 3000;
        if k == 0 {
            for b in 0..bait {
                m.order(ts, mi, Side::Sell, Some(round(crowd.mid + 0.25 + f64::from(b) * TICK)), 20.0);
            }
        }
        if (10..60).contains(&k) && k % 10 == 0 {
            m.order(ts, mi, Side::Buy, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 60.0);
        }
        if (60..100).contains(&k) && k % 4 == 0 {
            m.order(ts, chasers[(k % 5) as usize], Side::Buy, None, 60.0);
        }
    }
    run_with(config, &m.events, &it).into_iter().filter(|a| a.kind == AlertType::MomentumIgnition).collect()
}

/// A lone resting order filled after the party's own push is a trader's limit order as often as
/// bait: it needs a push of `single_min_move_sigmas` usual moves, while orders set out together
/// need only the usual bar.
#[test]
fn momentum_ignition_by_a_lone_order_needs_a_larger_push_than_bait_set_out_together() {
    let lone = lone_or_set_out(1, &Config::default());
    assert_eq!(lone.len(), 1, "{lone:#?}");
    let e = &lone[0].evidence;
    assert_eq!(e["pattern"], "filled");
    assert_eq!(e["orders_set_out_together"], 1);
    let pushed = e["move"].as_f64().unwrap() / e["usual_move_10s"].as_f64().unwrap();
    assert!(pushed >= 3.0, "{e:?}");
    // Ask more of a lone order than this push: nothing; the same push toward two sells set out
    // together still alerts.
    let mut c = Config::default();
    c.detectors.momentum_ignition.single_min_move_sigmas = 1.5 * pushed;
    assert!(lone_or_set_out(1, &c).iter().all(|a| a.evidence["pattern"] != "filled"));
    let set_out = lone_or_set_out(2, &c);
    assert!(set_out.iter().any(|a| a.evidence["pattern"] == "filled" && a.evidence["orders_set_out_together"] == 2), "{set_out:#?}");
}

/// A trader's sell resting a tick above the ask; a seller then sweeps the bids ten times, the
/// makers following the price down; the trader buys hard as the igniter above does, the chasers
/// following, and its sell fills. The push made the way back to an order the market had left
/// behind, not the way to bait set out beyond the price: not momentum ignition. (The same push to
/// a sell set out 25 ticks up is, above.)
#[test]
fn a_lone_order_the_market_left_behind_is_no_bait_when_a_push_brings_the_price_back() {
    let mut it = Interner::new();
    let trader = it.account("trader");
    let seller = it.account("seller");
    let chasers: Vec<AccountId> = (0..5).map(|i| it.account(&format!("chaser{i}"))).collect();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 61);
    crowd.follow = true;
    let mut sell = 0;
    for step in 0..600 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let k = step - 3000;
        if k == 0 {
            sell = m.order(ts, trader, Side::Sell, Some(round(m.best_ask().unwrap() + TICK)), 20.0);
        }
        if (5..55).contains(&k) && k % 5 == 0 {
            m.order(ts, seller, Side::Sell, None, 200.0);
        }
        if (100..150).contains(&k) && k % 10 == 0 {
            m.order(ts, trader, Side::Buy, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 60.0);
        }
        if (150..250).contains(&k) && k % 4 == 0 && m.is_open(sell) {
            m.order(ts, chasers[(k % 5) as usize], Side::Buy, None, 60.0);
        }
    }
    assert!(!m.is_open(sell), "the push and the chasers reached the sell");
    let alerts = run(&m.events, &it);
    let mi = of(&alerts, AlertType::MomentumIgnition);
    assert!(mi.iter().all(|a| a.evidence["pattern"] != "filled"), "{mi:#?}");
}

/// The attempt: an igniter sets out three sells 30-32 ticks up, then buys hard four times toward
/// them; nobody follows and its sells never fill, but the attempt is the offence (MAR Art. 15).
/// A second igniter does the same with a bid of its own resting far below from its trading
/// half a minute before: an order left from earlier is not a quote. Look-alikes: a trader with one
/// take-profit sell buying the same way; a seller whose standing ladder was set out 100 s before
/// its buying, and one whose ladder was set out 30 s before (within `window`, beyond
/// `attempt_max_bait_lead`); a trader whose three sells gathered one at a time over half a minute
/// (resting orders, not a ladder set out for the push); a party that set out a bid with its sells,
/// at the same instant (quoting both ways); and one whose three sells rest 300 ticks up, a hundred
/// usual moves beyond the reach of any push.
#[test]
fn momentum_ignition_attempt_is_caught_and_a_take_profit_a_standing_ladder_gathered_far_or_two_way_orders_are_not() {
    let mut it = Interner::new();
    let igniter = it.account("igniter");
    let igniter2 = it.account("igniter2");
    let trader = it.account("trader");
    let ladder = it.account("ladder");
    let gatherer = it.account("gatherer");
    let twoway = it.account("twoway");
    let farout = it.account("farout");
    let waited = it.account("waited");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 67);
    crowd.follow = true;
    let at = |s: i64| s * SEC / STEP;
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let sells = |m: &mut Market, who, n: usize, mid: f64| {
            for k in 0..n {
                m.order(ts, who, Side::Sell, Some(round(mid + (30 + k) as f64 * TICK)), 20.0);
            }
        };
        let push = |m: &mut Market, who, step: i64, from: i64| {
            if (from..from + 20).contains(&step) && (step - from) % 5 == 0 {
                m.order(ts, who, Side::Buy, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 60.0);
            }
        };
        if step == at(330) {
            sells(&mut m, twoway, 3, crowd.mid);
            m.order(ts, twoway, Side::Buy, Some(round(crowd.mid - 40.0 * TICK)), 20.0);
        }
        push(&mut m, twoway, step, at(332));
        if step == at(360) {
            for k in 0..3 {
                m.order(ts, farout, Side::Sell, Some(round(crowd.mid + (300 + k) as f64 * TICK)), 20.0);
            }
        }
        push(&mut m, farout, step, at(362));
        if step == at(400) {
            sells(&mut m, trader, 1, crowd.mid);
        }
        push(&mut m, trader, step, at(402));
        if step == at(450) {
            sells(&mut m, ladder, 3, crowd.mid);
        }
        push(&mut m, ladder, step, at(550));
        for (k, s) in [600, 615, 630].into_iter().enumerate() {
            if step == at(s) {
                m.order(ts, gatherer, Side::Sell, Some(round(crowd.mid + (30 + k) as f64 * TICK)), 20.0);
            }
        }
        if (at(640)..at(642)).contains(&step) && (step - at(640)) % 5 == 0 {
            m.order(ts, gatherer, Side::Buy, Some(round(m.best_ask().unwrap() + TICK)), 25.0);
        }
        if step == at(680) {
            sells(&mut m, waited, 3, crowd.mid);
        }
        push(&mut m, waited, step, at(710));
        if step == at(750) {
            sells(&mut m, igniter, 3, crowd.mid);
        }
        push(&mut m, igniter, step, at(752));
        if step == at(790) {
            m.order(ts, igniter2, Side::Buy, Some(round(crowd.mid - 40.0 * TICK)), 20.0);
        }
        if step == at(820) {
            sells(&mut m, igniter2, 3, crowd.mid);
        }
        push(&mut m, igniter2, step, at(822));
    }
    let alerts = run(&m.events, &it);
    let mi = of(&alerts, AlertType::MomentumIgnition);
    assert_eq!(mi.len(), 2, "{mi:#?}");
    assert_eq!(mi[1].accounts, ["igniter2"]);
    assert_eq!(mi[1].evidence["pattern"], "attempt");
    let a = mi[0];
    assert_eq!(a.accounts, ["igniter"]);
    assert_eq!(a.evidence["pattern"], "attempt");
    assert_eq!(a.evidence["passive_levels"], 3);
    assert!(a.ts < T0 + 755 * SEC, "raised during the push");
    assert!(a.description.contains("rested 3 sell orders"), "{}", a.description);
    assert_eq!(a.evidence["attempt_max_bait_lead_ns"], 15 * SEC);
    // Bait may have rested up to a minute before the push: the ladder set out 30 s before is bait.
    let mut minute = Config::default();
    minute.detectors.momentum_ignition.attempt_max_bait_lead = vigil_detect::config::Duration(60 * SEC);
    let alerts = run_with(&minute, &m.events, &it);
    let mi = of(&alerts, AlertType::MomentumIgnition);
    assert_eq!(mi.iter().map(|a| a.accounts[0].as_str()).collect::<Vec<_>>(), ["waited", "igniter", "igniter2"], "{mi:#?}");
}

/// One sweep at a ladder: the party sets out `ladder` sells together ten ticks up, another account
/// offers 10 lots on each of the four ticks above the makers' quotes, and two seconds later one buy
/// of `sweep` takes the offers up to seven ticks up, stopping short of the party's sells. Returns the
/// momentum ignition alerts.
fn short_push(ladder: usize, sweep: f64, config: &Config) -> Vec<Alert> {
    let mut it = Interner::new();
    let igniter = it.account("igniter");
    let deep = it.account("deep");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 71);
    crowd.follow = true;
    let at = |s: i64| s * SEC / STEP;
    let mut mid = 0.0;
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if step == at(750) {
            mid = crowd.mid;
            for k in 0..ladder {
                m.order(ts, igniter, Side::Sell, Some(round(mid + (10 + k) as f64 * TICK)), 20.0);
            }
            for k in 4..8 {
                m.order(ts, deep, Side::Sell, Some(round(mid + k as f64 * TICK)), 10.0);
            }
        }
        if step == at(752) {
            m.order(ts, igniter, Side::Buy, Some(round(mid + 7.0 * TICK)), sweep);
        }
    }
    let alerts = run_with(config, &m.events, &it);
    of(&alerts, AlertType::MomentumIgnition).into_iter().cloned().collect()
}

/// In a thin book one sweep through several levels moves the price as far as many small orders: a
/// single buy of 90 lots (ten times the median order) taking seven ticks of offers toward the three
/// sells its party set out together two seconds before, stopping short of them, is an attempt. Two
/// sells are a trader's take-profit orders, not a ladder; and a push that is not large for the
/// market (here, the bar raised to twenty times the median order) is a trader's ordinary order.
#[test]
fn a_single_sweep_at_a_ladder_set_out_together_is_an_attempt() {
    let config = Config::default();
    let mi = short_push(3, 90.0, &config);
    assert_eq!(mi.len(), 1, "{mi:#?}");
    let e = &mi[0].evidence;
    assert_eq!(e["pattern"], "attempt");
    assert_eq!(e["short_push"], true);
    assert_eq!(e["aggressive_trades"], 1);
    assert_eq!(e["passive_levels"], 3);
    let x = e["aggressive_volume"].as_f64().unwrap() / e["typical_order_size"].as_f64().unwrap();
    assert!(x >= 2.5, "{e:?}");
    assert!(mi[0].description.contains("bought aggressively once"), "{}", mi[0].description);
    let two = short_push(2, 90.0, &config);
    assert!(two.is_empty(), "{two:#?}");
    let mut high = Config::default();
    high.detectors.momentum_ignition.short_push_min_typical_ratio = 20.0;
    assert!(short_push(3, 90.0, &high).is_empty());
    // The rules bite: with two prices enough, the take-profit pair alerts; with short pushes off,
    // the ladder does not.
    let mut loose = Config::default();
    loose.detectors.momentum_ignition.short_push_min_levels = 2;
    assert_eq!(short_push(2, 90.0, &loose).len(), 1);
    let mut off = Config::default();
    off.detectors.momentum_ignition.short_push_min_levels = 0;
    assert!(short_push(3, 90.0, &off).is_empty());
    // Bait a tenth of a usual move beyond the price the push reached, or nearer, only.
    let mut near = Config::default();
    near.detectors.momentum_ignition.short_push_max_bait_sigmas = 0.1;
    assert!(short_push(3, 90.0, &near).is_empty());
}

/// The usual move an attempt is judged against is the median of the last half hour's: a pump and
/// dump six minutes before (a minute of 10 s moves thirty times the usual) does not make the
/// igniter's push look small afterwards.
#[test]
fn momentum_ignition_attempt_after_a_pump_is_judged_against_the_usual_move() {
    let mut it = Interner::new();
    let igniter = it.account("igniter");
    let pumper = it.account("pumper");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 73);
    crowd.follow = true;
    let at = |s: i64| s * SEC / STEP;
    for step in 0..800 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        if (at(300)..at(330)).contains(&step) && step % 2 == 0 {
            m.order(ts, pumper, Side::Buy, None, 40.0);
        }
        if (at(330)..at(360)).contains(&step) && step % 2 == 0 {
            m.order(ts, pumper, Side::Sell, None, 40.0);
        }
        if step == at(700) {
            for k in 0..3 {
                m.order(ts, igniter, Side::Sell, Some(round(crowd.mid + (30 + k) as f64 * TICK)), 20.0);
            }
        }
        if (at(702)..at(704)).contains(&step) && (step - at(702)) % 5 == 0 {
            m.order(ts, igniter, Side::Buy, Some(round(m.best_ask().unwrap() + 2.0 * TICK)), 60.0);
        }
    }
    let alerts = run(&m.events, &it);
    let mi: Vec<_> = of(&alerts, AlertType::MomentumIgnition).into_iter().filter(|a| a.accounts == ["igniter"]).collect();
    assert_eq!(mi.len(), 1, "{:#?}", of(&alerts, AlertType::MomentumIgnition));
    assert_eq!(mi[0].evidence["pattern"], "attempt");
    let usual = mi[0].evidence["usual_move_10s"].as_f64().unwrap();
    assert!(usual < 0.001, "usual 10 s move {usual}");
}

/// The marker's buying (a 40-lot market order every 2.5 s) in `spans`: (from, to) seconds after
/// 10:00.
fn marker_buying(spans: &[(i64, i64)]) -> Vec<Alert> {
    let mut it = Interner::new();
    let mc = it.account("marker");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 71);
    crowd.follow = true;
    for step in 0..3630 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let s = step * STEP / SEC;
        if spans.iter().any(|&(from, to)| (from..to).contains(&s)) && step % 25 == 0 {
            m.order(ts, mc, Side::Buy, None, 40.0);
        }
    }
    run(&m.events, &it).into_iter().filter(|a| a.kind == AlertType::MarkingTheClose).collect()
}

#[test]
fn marking_the_close_is_caught_before_the_hour_and_not_at_half_past() {
    // The same buying at 10:28:30 (no reference time) and at 10:58:30, into 11:00's final minute.
    let mc = marker_buying(&[(1710, 1770), (3510, 3570)]);
    assert_eq!(mc.len(), 1, "{mc:#?}");
    assert_eq!(mc[0].accounts, ["marker"]);
    assert_eq!(mc[0].evidence["pattern"], "window");
    assert!(mc[0].ts >= T0 + 3540 * SEC && mc[0].ts < T0 + 3600 * SEC, "in the final minute");
    assert!(mc[0].description.contains("11:00:00 UTC reference time"), "{}", mc[0].description);
    // The same buying stopped two minutes before the hour does not set the closing price (a pump's
    // buyers in the five minutes before the hour): nothing.
    let early = marker_buying(&[(3420, 3480)]);
    assert!(early.is_empty(), "{early:#?}");
}

/// An arbitrageur that sold on another venue earlier in the window what it now buys into the close
/// here is not building a position: the marker's buying of the test above, 10:58:30 to 10:59:30,
/// after selling as much on "testy" from 10:55:20 to 10:56:20, raises nothing; after selling it
/// before the window opened, from 10:53:20, it is caught. (The other venue's selling is netted over
/// the whole window, not only over the last minute's party activity.)
#[test]
fn buying_into_the_close_what_was_sold_on_another_venue_in_the_window_is_not_marking() {
    // Selling from 10:55:20 (in the window): nothing; from 10:53:20 (before it): the marker's
    // buying alone, caught.
    assert!(sold_elsewhere_then_bought(3320).is_empty());
    assert_eq!(sold_elsewhere_then_bought(3200).len(), 1);
}

/// The marker's buying of the test above after selling as much on "testy" for a minute from
/// `from` seconds after 10:00; the marking-the-close alerts.
fn sold_elsewhere_then_bought(from: i64) -> Vec<Alert> {
    let mut it = Interner::new();
    let mc = it.account("marker");
    let mut x = Market::new(&mut it, "testx", "ABC-USD");
    let mut y = Market::new(&mut it, "testy", "ABC-USD");
    let mut crowd_x = Crowd::new(&mut it, 71);
    let mut crowd_y = Crowd::new(&mut it, 72);
    crowd_x.follow = true;
    crowd_y.follow = true;
    for step in 0..3630 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd_x.step(&mut x, ts);
        crowd_y.step(&mut y, ts);
        let s = step * STEP / SEC;
        if (3510..3570).contains(&s) && step % 25 == 0 {
            x.order(ts, mc, Side::Buy, None, 40.0);
        }
        if (from..from + 60).contains(&s) && step % 25 == 0 {
            y.order(ts, mc, Side::Sell, None, 40.0);
        }
    }
    let events = merge(&[&x, &y]);
    run(&events, &it).into_iter().filter(|a| a.kind == AlertType::MarkingTheClose).collect()
}

/// A busy book (a noise trade every step): `buyer` buys 15 lots every `every` steps from `from`
/// seconds before 11:00 until 1 s before it; returns the marking-the-close alerts.
fn busy_close(every: i64, from: i64, qty: f64) -> Vec<Alert> {
    busy_close_with(&Config::default(), every, from, qty, 0.0)
}

/// As `busy_close`, the buyer also selling `sell` lots every other time it buys.
fn busy_close_with(config: &Config, every: i64, from: i64, qty: f64, sell: f64) -> Vec<Alert> {
    busy_close_by(config, |m, buyer, ts, step, s| {
        if (3600 - from..3599).contains(&s) && step % every == 0 {
            m.order(ts, buyer, Side::Buy, None, qty);
            if sell > 0.0 && step % (2 * every) == 0 {
                m.order(ts + MS, buyer, Side::Sell, None, sell);
            }
        }
    })
}

/// The busy book of `busy_close` to 11:00:10, `buyer` trading as `orders(market, buyer, ts, step,
/// second)` says at every step; the marking-the-close alerts.
fn busy_close_by(config: &Config, mut orders: impl FnMut(&mut Market, AccountId, i64, i64, i64)) -> Vec<Alert> {
    let mut it = Interner::new();
    let buyer = it.account("buyer");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 73);
    crowd.take = 1.0;
    crowd.follow = true;
    for step in 0..3610 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        orders(&mut m, buyer, ts, step, step * STEP / SEC);
    }
    run_with(config, &m.events, &it).into_iter().filter(|a| a.kind == AlertType::MarkingTheClose).collect()
}

/// In a busy book a marker's buying in the last minute is a small share of the window and barely
/// moves the price; done at the end, up to the reference time, it is still marking the close. The
/// same volume bought steadily through the five minutes is not.
#[test]
fn marking_the_close_in_a_busy_book_is_caught_and_steady_buying_is_not() {
    let mc = busy_close(20, 60, 15.0);
    assert_eq!(mc.len(), 1, "{mc:#?}");
    let a = &mc[0];
    assert_eq!(a.accounts, ["buyer"]);
    assert_eq!(a.evidence["pattern"], "final_window");
    assert!(a.evidence["share"].as_f64().unwrap() < 0.3, "{:?}", a.evidence);
    assert!(a.evidence["final_share"].as_f64().unwrap() >= 0.15, "{:?}", a.evidence);
    assert!(a.ts >= T0 + 3595 * SEC && a.ts < T0 + 3600 * SEC);
    assert!(a.description.contains("in the last 60 s"), "{}", a.description);
    // The same buying kept up through the whole five minutes (five times the volume): as large a
    // share of the last minute, but not concentrated at the end.
    assert!(busy_close(20, 300, 15.0).is_empty());
    // Begun two and a half minutes out: 40 % of it in the last minute, a pace there at least twice
    // the pace before, is concentrated enough (it was not at 50 %).
    assert_eq!(busy_close(20, 150, 15.0).len(), 1);
    let mut half = Config::default();
    half.detectors.marking_the_close.min_final_fraction = 0.5;
    assert!(busy_close_with(&half, 20, 150, 15.0, 0.0).is_empty());
}

/// A two-way trader busy at the close, its net leaning to the buy side (it buys 15 lots and sells
/// 7 every other time it buys: about a quarter of its buying the other way, with its resting
/// orders taken), is busy, not marking; the same buying with no selling is caught (above).
#[test]
fn a_two_way_trader_leaning_one_way_at_the_close_is_not_marking() {
    let mc = busy_close_with(&Config::default(), 20, 60, 15.0, 7.0);
    assert!(mc.is_empty(), "{mc:#?}");
    // Without the one-way rule the same trading alerts: its net is still a large share.
    let mut c = Config::default();
    c.detectors.marking_the_close.max_other_way = 1.0;
    let mc = busy_close_with(&c, 20, 60, 15.0, 7.0);
    assert_eq!(mc.len(), 1, "{mc:#?}");
    assert!(mc[0].evidence["other_way_volume"].as_f64().unwrap() > 0.15 * mc[0].evidence["party_volume"].as_f64().unwrap());
}

/// A party that traded both ways early in the window (5 lots bought every 2 s, 7 sold every 4 s,
/// from five minutes to a minute out) and then bought 15 lots a second into the close marks it all
/// the same: its last minute is one way, and what it sold, 28 % of its buying, is within
/// `max_other_way_window`. With the window's bar for both (`max_other_way_window` at
/// `max_other_way`) it passed for a two-way trader.
#[test]
fn a_one_way_push_into_the_close_after_two_way_trading_is_marking() {
    let run_close = |config: &Config| {
        busy_close_by(config, |m, buyer, ts, step, s| {
            if (3300..3540).contains(&s) && step % 20 == 0 {
                m.order(ts, buyer, Side::Buy, None, 5.0);
                if step % 40 == 0 {
                    m.order(ts + MS, buyer, Side::Sell, None, 7.0);
                }
            }
            if (3540..3599).contains(&s) && step % 10 == 0 {
                m.order(ts, buyer, Side::Buy, None, 15.0);
            }
        })
    };
    let mc = run_close(&Config::default());
    assert_eq!(mc.len(), 1, "{mc:#?}");
    let e = &mc[0].evidence;
    assert_eq!(e["pattern"], "final_window");
    assert_eq!(e["final_other_way_volume"], 0.0);
    let other = e["other_way_volume"].as_f64().unwrap() / e["party_volume"].as_f64().unwrap();
    assert!(other > 0.15 && other < 0.5, "{e:?}");
    let mut strict = Config::default();
    strict.detectors.marking_the_close.max_other_way_window = strict.detectors.marking_the_close.max_other_way;
    assert!(run_close(&strict).is_empty());
}

/// Quotes of one symbol on `venues`, every step for 10 minutes, each venue 1 ms after the last:
/// mid 100 (a few cents of wobble) times `apart(step, venue index)`, nothing where that is `None`.
fn venue_quotes(venues: &[vigil_core::VenueId], sym: vigil_core::SymbolId, apart: impl Fn(i64, usize) -> Option<f64>) -> Vec<Event> {
    use vigil_core::{EventKind, Price, Qty, Quote, Ts};
    let q = |p: f64| Some(Price((p * 1e8).round() as i64));
    let mut events = Vec::new();
    for step in 0..6000i64 {
        for (k, &v) in venues.iter().enumerate() {
            let Some(f) = apart(step, k) else { continue };
            let mid = (100.0 + (step % 7) as f64 * 0.01) * f;
            events.push(Event {
                ts: Ts(T0 + step * STEP + k as i64 * MS),
                seq: events.len() as u64 + 1,
                venue: v,
                symbol: sym,
                kind: EventKind::Quote(Quote { bid: q(mid - 0.01), bid_qty: Some(Qty(1)), ask: q(mid + 0.01), ask_qty: Some(Qty(1)) }),
            });
        }
    }
    events
}

#[test]
fn price_discrepancy_that_persists_is_caught_and_arbitrage_blips_are_not() {
    let mut it = Interner::new();
    let venues: Vec<_> = ["va", "vb", "vc"].iter().map(|v| it.venue(v)).collect();
    let sym = it.symbol("ABC-USD");
    // vb: a 1.5 % blip for half a second at step 1000, then 2 % apart for 10 s at step 3000 (back
    // in line for a second in the middle: the same departure), then, 70 s after the prices met,
    // apart again for 10 s: a second episode.
    let events = venue_quotes(&venues, sym, |step, k| {
        let apart = k == 1 && ((3000..3050).contains(&step) || (3060..3100).contains(&step) || (3800..3900).contains(&step));
        Some(if k == 1 && (1000..1005).contains(&step) {
            1.015
        } else if apart {
            1.02
        } else {
            1.0
        })
    });
    let alerts = run(&events, &it);
    let pd = of(&alerts, AlertType::PriceDiscrepancy);
    assert_eq!(pd.len(), 2, "{pd:#?}");
    assert!(pd.iter().all(|a| a.venue.as_deref() == Some("vb")));
    assert!(pd[0].ts >= T0 + 3020 * STEP && pd[0].ts < T0 + 3030 * STEP, "raised once the 2 s persistence passed");
    assert!(pd[1].ts >= T0 + 3820 * STEP && pd[1].ts < T0 + 3830 * STEP, "the second episode, within the first's cooldown");
    // Had the venues to agree for longer than they did, the second departure would be a repeat of
    // the first; had a second's agreement been enough, the dip would have split the first in two.
    for (rejoin, n) in [(100 * SEC, 1), (SEC / 2, 3)] {
        let mut c = Config::default();
        c.detectors.price_discrepancy.rejoin = vigil_detect::config::Duration(rejoin);
        assert_eq!(of(&run_with(&c, &events, &it), AlertType::PriceDiscrepancy).len(), n, "rejoin {rejoin}");
    }
}

/// A venue that goes quiet while apart (a halted venue) does not hold the others' agreement back:
/// vd departs 3 % and falls silent; vb departs twice, 70 s apart, each its own episode.
#[test]
fn price_discrepancy_episodes_survive_a_venue_gone_quiet_while_apart() {
    let mut it = Interner::new();
    let venues: Vec<_> = ["va", "vb", "vc", "vd"].iter().map(|v| it.venue(v)).collect();
    let sym = it.symbol("ABC-USD");
    let events = venue_quotes(&venues, sym, |step, k| match k {
        3 if step > 1100 => None,
        3 if step >= 1000 => Some(1.03),
        1 if (3000..3100).contains(&step) || (3800..3900).contains(&step) => Some(1.02),
        _ => Some(1.0),
    });
    let alerts = run(&events, &it);
    let venues: Vec<_> = of(&alerts, AlertType::PriceDiscrepancy).iter().map(|a| a.venue.clone().unwrap_or_default()).collect();
    assert_eq!(venues, ["vd", "vb", "vb"]);
}

#[test]
fn concentrated_trading_and_same_instant_orders_are_caught_in_a_dispersed_market() {
    let mut it = Interner::new();
    let big = it.account("big");
    let crowd_accts: Vec<AccountId> = (0..8).map(|i| it.account(&format!("c{i}"))).collect();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 81);
    crowd.requote = 0.1;
    for step in 0..2400 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        // From minute 25, one account takes liquidity far more than everyone else together.
        if step >= 15000 && step % 5 == 0 {
            m.order(ts, big, if step % 10 == 0 { Side::Buy } else { Side::Sell }, None, 6.0);
        }
        // At minute 30, eight accounts place buy orders in the same millisecond.
        if step == 18001 {
            for &a in &crowd_accts {
                m.order(ts + 300_000, a, Side::Buy, Some(90.0), 1.0);
            }
        }
    }
    let alerts = run(&m.events, &it);
    let ct = of(&alerts, AlertType::ConcentratedTrading);
    assert!(ct.iter().all(|a| a.accounts == ["big"]), "{ct:#?}");
    assert!(!ct.is_empty() && ct[0].ts > T0 + 1500 * SEC && ct[0].ts < T0 + 2100 * SEC, "{ct:#?}");
    let ut = of(&alerts, AlertType::UnusualTiming);
    assert_eq!(ut.len(), 1, "{ut:#?}");
    // Raised as soon as enough accounts share the instant, naming those seen so far.
    assert!(ut[0].accounts.len() >= 5 && ut[0].accounts.iter().all(|a| a.starts_with('c')), "{:?}", ut[0].accounts);
    assert_eq!(ut[0].evidence["pattern"], "same_instant");
}

/// A pump's rush bursts (30 of its 60 hands in one millisecond, every 3 s for a minute) are one
/// same-instant alert, not twenty; and they do not raise the baseline, so eight accounts acting
/// together 80 s later are still a crowd (the busiest instant of the last thousand was a burst).
#[test]
fn same_instant_crowd_after_a_pumps_rush_bursts_is_caught_and_the_bursts_alert_once() {
    let mut it = Interner::new();
    let hands: Vec<AccountId> = (0..60).map(|i| it.account(&format!("p{i}"))).collect();
    let crowd_accts: Vec<AccountId> = (0..8).map(|i| it.account(&format!("c{i}"))).collect();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 83);
    crowd.requote = 0.1;
    for step in 0..900 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let s = step * STEP / SEC;
        if (600..660).contains(&s) && step % 30 == 0 {
            let k = (step / 30) as usize;
            for j in 0..30 {
                m.order(ts + 300_000, hands[(k * 7 + j) % hands.len()], Side::Buy, Some(90.0), 1.0);
            }
        }
        if step == 7400 {
            for &a in &crowd_accts {
                m.order(ts + 300_000, a, Side::Buy, Some(90.0), 1.0);
            }
        }
    }
    let alerts = run(&m.events, &it);
    let ut: Vec<_> = of(&alerts, AlertType::UnusualTiming).into_iter().filter(|a| a.evidence["pattern"] == "same_instant").collect();
    assert_eq!(ut.len(), 2, "{ut:#?}");
    assert!(ut[0].accounts.iter().all(|a| a.starts_with('p')) && ut[0].ts < T0 + 601 * SEC, "{:?}", ut[0].accounts);
    assert!(ut[1].accounts.iter().all(|a| a.starts_with('c')), "{:?}", ut[1].accounts);
    assert!(ut[1].ts > T0 + 739 * SEC && ut[1].ts < T0 + 741 * SEC);
}

#[test]
fn an_account_far_outside_its_usual_hours_is_unusual_timing() {
    let mut it = Interner::new();
    let day = it.account("daytrader");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let base = T0 - 3600 * SEC; // 09:00
                                // Two days of 09:00-12:00 activity, an order a minute, then one at 17:00 (five hours away).
    for d in 0..2 {
        for k in 0..180 {
            m.order(base + d * 86_400 * SEC + k * 60 * SEC, day, Side::Buy, Some(90.0 + k as f64 * 0.01), 1.0);
        }
    }
    m.order(base + 86_400 * SEC + 8 * 3600 * SEC, day, Side::Buy, Some(91.0), 1.0);
    // ...and at 13:30, within its usual range's reach: nothing.
    let mut quiet = Market::new(&mut it, "testx", "XYZ-USD");
    for d in 0..2 {
        for k in 0..180 {
            quiet.order(base + d * 86_400 * SEC + k * 60 * SEC, day, Side::Sell, Some(110.0), 1.0);
        }
    }
    quiet.order(base + 86_400 * SEC + 4 * 3600 * SEC + 1800 * SEC, day, Side::Sell, Some(110.0), 1.0);
    let events = merge(&[&m, &quiet]);
    let alerts = run(&events, &it);
    let ut = of(&alerts, AlertType::UnusualTiming);
    assert_eq!(ut.len(), 1, "{ut:#?}");
    assert_eq!(ut[0].symbols, ["ABC-USD"]);
    assert_eq!(ut[0].evidence["hours_away"], 6);
    assert!(ut[0].description.contains("at 17:00 UTC"), "{}", ut[0].description);
}

/// A scheduled account that placed its orders at :42-:43 of every minute for half an hour, then
/// places four at other seconds within a minute: off its rhythm. The noise traders, who act at any
/// second, and a second scheduled account that keeps to :00, raise nothing of the kind.
#[test]
fn a_scheduled_account_leaving_its_second_of_the_minute_is_unusual_timing() {
    let mut it = Interner::new();
    let cron = it.account("cron");
    let steady = it.account("steady");
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 21);
    let mut rng = Rng::new(4);
    let off = [1805, 1812, 1820, 1829]; // :05, :12, :20, :29 of minute 30
    for step in 0..2000 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let s = step * STEP / SEC;
        let within = step % (SEC / STEP);
        if s % 60 == 42 && within == 0 && s < 1800 {
            let side = if rng.f64() < 0.5 { Side::Buy } else { Side::Sell };
            m.order(ts + rng.below(1500) as i64 * MS, cron, side, None, 1.0);
        }
        if s % 60 == 0 && within == 0 {
            m.order(ts + rng.below(3) as i64 * MS, steady, Side::Buy, None, 1.0);
        }
        if off.contains(&s) && within == 0 {
            m.order(ts, cron, Side::Buy, None, 5.0);
        }
    }
    let alerts = run(&m.events, &it);
    let rhythm: Vec<_> = of(&alerts, AlertType::UnusualTiming).into_iter().filter(|a| a.evidence["pattern"] == "off_rhythm").collect();
    assert_eq!(rhythm.len(), 1, "{rhythm:#?}");
    let a = rhythm[0];
    assert_eq!(a.accounts, ["cron"]);
    assert_eq!(a.ts, T0 + 1820 * SEC, "the third order off the rhythm");
    assert_eq!(a.evidence["usual_band_start_second"], 42);
    assert_eq!(a.evidence["off_rhythm_seconds"], serde_json::json!([5, 12, 20]));
    assert!(a.description.starts_with("cron placed 3 orders in ABC-USD on testx at :05, :12 and :20 past the minute"), "{}", a.description);
    assert_eq!(a.evidence["history_minutes"], 31, "thirty minutes at :42, and this one");
}

/// A scheduled algorithm keeps one clock whatever it trades: "cron" placed its orders in ABC-USD
/// at :42-:43 of every minute for half an hour, then places four in XYZ-USD, where it never
/// traded, at other seconds within a minute. Off its rhythm, learnt across its instruments: one
/// alert, in XYZ-USD, the same for any number of threads (the two instruments' shards differ for
/// some). "steady", which keeps to :00 in ABC-USD and starts on XYZ-USD at :00, and the noise
/// traders of both books, who act at any second in both, raise nothing of the kind; nor does
/// "stuffer", whose three bursts of 300 orders at :30 are most of its orders but three of the 33
/// seconds it placed any in (its others come one a minute at any second), before it too turns to
/// XYZ-USD.
#[test]
fn a_scheduled_account_trading_a_new_instrument_off_its_second_of_the_minute_is_unusual_timing() {
    let mut it = Interner::new();
    let cron = it.account("cron");
    let steady = it.account("steady");
    let stuffer = it.account("stuffer");
    let mut rng = Rng::new(4);
    let off = [1805, 1812, 1820, 1829]; // :05, :12, :20, :29 of minute 30
    let events = two_books(&mut it, [21, 22], 2000, |abc, xyz, ts, s| {
        if s % 60 == 42 && s < 1800 {
            let side = if rng.f64() < 0.5 { Side::Buy } else { Side::Sell };
            abc.order(ts + rng.below(1500) as i64 * MS, cron, side, None, 1.0);
        }
        if s % 60 == 0 {
            let m = if s < 1800 { &mut *abc } else { &mut *xyz };
            m.order(ts + rng.below(3) as i64 * MS, steady, Side::Buy, None, 1.0);
        }
        if off.contains(&s) {
            xyz.order(ts, cron, Side::Buy, None, 5.0);
            xyz.order(ts + 300 * MS, stuffer, Side::Sell, None, 5.0);
        }
        if s < 1800 && s % 60 == 30 && [5, 12, 20].contains(&(s / 60)) {
            for k in 0..300 {
                abc.order(ts + k * MS, stuffer, Side::Buy, Some(50.0), 1.0);
            }
        }
        if s < 1800 && s % 60 == 7 {
            abc.order(ts + rng.below(50) as i64 * SEC, stuffer, Side::Buy, None, 1.0);
        }
    });
    let rhythm = |alerts: Vec<Alert>| -> Vec<Alert> {
        alerts.into_iter().filter(|a| a.kind == AlertType::UnusualTiming && a.evidence["pattern"] == "off_rhythm").collect()
    };
    let alone = rhythm(run(&events, &it));
    assert_eq!(alone.len(), 1, "{alone:#?}");
    let a = &alone[0];
    assert_eq!((a.accounts.as_slice(), a.symbols.as_slice()), (["cron".to_string()].as_slice(), ["XYZ-USD".to_string()].as_slice()));
    assert_eq!(a.ts, T0 + 1820 * SEC, "the third order off the rhythm");
    assert_eq!(a.evidence["schedule_learnt_from"], "every_instrument");
    assert_eq!(a.evidence["usual_band_start_second"], 42);
    assert_eq!(a.evidence["off_rhythm_seconds"], serde_json::json!([5, 12, 20]));
    assert_eq!(a.evidence["history_order_seconds"], 32, "thirty at :42, and two off it");
    assert!(
        a.description.contains("93.8% of the 32 seconds in which it placed earlier orders across instruments, over 31 minutes, were at :42-:44"),
        "{}",
        a.description
    );
    // The engine keeps the accounts' clocks before it routes orders to shards: the same alert
    // whichever shard each instrument lands in.
    let split = [2, 3, 4].iter().any(|&n| vigil_detect::engine::shard_of("ABC-USD", n) != vigil_detect::engine::shard_of("XYZ-USD", n));
    assert!(split, "some thread count puts the instruments in different shards");
    let one = rhythm(engine_run(&events, &it, 1));
    assert_eq!(one.len(), 1, "{one:#?}");
    assert_eq!((one[0].ts, &one[0].description), (a.ts, &a.description));
    for threads in [2, 3, 4] {
        assert_eq!(rhythm(engine_run(&events, &it, threads)), one, "{threads} threads");
    }
}

/// ABC-USD and XYZ-USD on testx, each with its crowd (seeded `seeds`), for `secs` seconds;
/// `each_second(abc, xyz, ts, s)` is called at every whole second `s`. The events, merged.
fn two_books(it: &mut Interner, seeds: [u64; 2], secs: i64, mut each_second: impl FnMut(&mut Market, &mut Market, i64, i64)) -> Vec<Event> {
    let mut abc = Market::new(it, "testx", "ABC-USD");
    let mut xyz = Market::new(it, "testx", "XYZ-USD");
    let mut crowd_abc = Crowd::new(it, seeds[0]);
    let mut crowd_xyz = Crowd::new(it, seeds[1]);
    for step in 0..secs * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd_abc.step(&mut abc, ts);
        crowd_xyz.step(&mut xyz, ts);
        if step % (SEC / STEP) == 0 {
            each_second(&mut abc, &mut xyz, ts, step * STEP / SEC);
        }
    }
    merge(&[&abc, &xyz])
}

/// An account's history in an instrument decides there once it is long enough: "cron" keeps to
/// :42-:44 in ABC-USD (three orders a minute for 80 minutes) and has traded XYZ-USD by hand, at
/// any second, every other minute of the first 44. Across its instruments over 90 % of its
/// seconds are at :42-:44, yet four orders at other seconds in XYZ-USD in minute 80 are what it
/// always did there: no alert. "fresh", with the same schedule in ABC-USD and no history in
/// XYZ-USD, is judged by its clock and alerts for the same four orders.
#[test]
fn an_account_trading_by_hand_where_it_always_has_is_not_off_its_rhythm() {
    let mut it = Interner::new();
    let cron = it.account("cron");
    let fresh = it.account("fresh");
    let mut rng = Rng::new(5);
    let off = [4805, 4812, 4820, 4829]; // :05, :12, :20, :29 of minute 80
    let events = two_books(&mut it, [31, 32], 4900, |abc, xyz, ts, s| {
        if (42..45).contains(&(s % 60)) && s < 4800 {
            for who in [cron, fresh] {
                let side = if rng.f64() < 0.5 { Side::Buy } else { Side::Sell };
                abc.order(ts + rng.below(900) as i64 * MS, who, side, None, 1.0);
            }
        }
        if s < 44 * 60 && s % 120 == 1 {
            xyz.order(ts + rng.below(58) as i64 * SEC, cron, Side::Buy, None, 1.0);
        }
        if off.contains(&s) {
            xyz.order(ts, cron, Side::Buy, None, 5.0);
            xyz.order(ts + 200 * MS, fresh, Side::Buy, None, 5.0);
        }
    });
    let alerts = run(&events, &it);
    let rhythm: Vec<_> = of(&alerts, AlertType::UnusualTiming).into_iter().filter(|a| a.evidence["pattern"] == "off_rhythm").collect();
    assert_eq!(rhythm.len(), 1, "{rhythm:#?}");
    assert_eq!(rhythm[0].accounts, ["fresh"]);
    assert_eq!(rhythm[0].evidence["schedule_learnt_from"], "every_instrument");
}

/// Four ordinary accounts of a busy book, each trading with the crowd for half an hour, pass 10
/// lots round (r1 to r2 to r3 to r4 to r1) inside a minute, r2 buying `aside` lots from the crowd
/// after its sale into the ring (selling, when negative; none when 0); four others pass 10, 10, 7
/// and 10 round.
fn ring_of_ordinary_accounts(aside: f64) -> (Vec<Event>, Interner) {
    let mut it = Interner::new();
    let ring: Vec<AccountId> = ["r1", "r2", "r3", "r4"].iter().map(|n| it.account(n)).collect();
    let other: Vec<AccountId> = ["q1", "q2", "q3", "q4"].iter().map(|n| it.account(n)).collect();
    let mut m = Market::new(&mut it, "testx", "ABC-USD");
    let mut crowd = Crowd::new(&mut it, 41);
    crowd.gap = 2;
    for step in 0..2400 * SEC / STEP {
        let ts = T0 + step * STEP;
        crowd.step(&mut m, ts);
        let mid = crowd.mid;
        if step < 18000 && step % 40 == 0 {
            let k = (step / 40) as usize;
            let who = if k.is_multiple_of(2) { ring[k / 2 % 4] } else { other[k / 2 % 4] };
            m.order(ts, who, if (k / 8).is_multiple_of(2) { Side::Buy } else { Side::Sell }, None, 1.0);
        }
        if (20000..20004).contains(&step) {
            let k = (step - 20000) as usize;
            m.order(ts, ring[k], Side::Sell, Some(mid), 10.0);
            m.order(ts + MS, ring[(k + 1) % 4], Side::Buy, Some(mid), 10.0);
        }
        if step == 20002 && aside != 0.0 {
            m.order(ts + 50 * MS, ring[1], if aside > 0.0 { Side::Buy } else { Side::Sell }, None, aside.abs());
        }
        if (21000..21004).contains(&step) {
            let k = (step - 21000) as usize;
            let q = if k == 2 { 7.0 } else { 10.0 };
            m.order(ts, other[k], Side::Sell, Some(mid), q);
            m.order(ts + MS, other[(k + 1) % 4], Side::Buy, Some(mid), q);
        }
    }
    (m.events, it)
}

/// The ring above is caught at the trade that closes it: over the hour its members trade mostly
/// elsewhere, over the ring's own minute only with each other, and each ends where it began. The
/// four whose chain changes size on the way end nowhere near flat: no ring.
#[test]
fn a_ring_of_accounts_with_ordinary_history_is_caught_as_it_closes() {
    let (events, it) = ring_of_ordinary_accounts(0.0);
    let alerts = run(&events, &it);
    assert_eq!(manipulation(&alerts).len(), 1, "{:#?}", manipulation(&alerts));
    let a = of(&alerts, AlertType::WashTrading)[0];
    assert_eq!(a.accounts, ["r1", "r2", "r3", "r4"]);
    assert_eq!(a.evidence["pattern"], "ring");
    assert_eq!(a.evidence["found"], "closing_trade");
    assert_eq!(a.ts, T0 + 20003 * STEP + MS, "at the fourth trade, which closes it");
    assert!(a.description.contains("(r1 to r2, r2 to r3, r3 to r4 and r4 to r1)"), "{}", a.description);
    // The 1 h and 1 d windows alone do not see it: the members' history outweighs the ring there.
    let mut windows_only = Config::default();
    windows_only.detectors.wash_trading.cycle_window = vigil_detect::config::Duration(1);
    assert!(manipulation(&run_with(&windows_only, &events, &it)).is_empty());
}

/// A member's trading outside the ring while it runs leaves it off flat by that much: r2 buying
/// half a lot from the crowd during the ring (2.4 % of its volume, over the 1 % margin) is still a
/// ring member, the ring having passed its 10 lots back. Buying 3 lots, 13 % of its volume, it
/// trades too much outside (`min_internal_share`): no ring.
#[test]
fn a_ring_member_trading_a_little_outside_while_it_runs_is_still_in_the_ring() {
    ring_still_caught_with_a_little_aside(0.5, 3.0);
}

/// The ring of `ring_of_ordinary_accounts` with r2 trading `little` aside is caught as it closes
/// (the only alert, all four members); with `much` aside, nothing is.
fn ring_still_caught_with_a_little_aside(little: f64, much: f64) {
    let (events, it) = ring_of_ordinary_accounts(little);
    let alerts = run(&events, &it);
    assert_eq!(manipulation(&alerts).len(), 1, "{:#?}", manipulation(&alerts));
    let a = of(&alerts, AlertType::WashTrading)[0];
    assert_eq!(a.accounts, ["r1", "r2", "r3", "r4"]);
    assert_eq!(a.evidence["found"], "closing_trade");
    assert!(a.description.contains("(r1 to r2, r2 to r3, r3 to r4 and r4 to r1)"), "{}", a.description);
    let (events, it) = ring_of_ordinary_accounts(much);
    assert!(manipulation(&run(&events, &it)).is_empty(), "{:#?}", manipulation(&run(&events, &it)));
}

/// A member's small sale to the crowd after its sale into the ring is its latest sale, not the
/// ring's link: the chain is still followed through the sale before it (an account's last four
/// sales are links). Selling 3 lots aside, it trades too much outside: no ring.
#[test]
fn a_ring_member_selling_a_little_to_the_crowd_after_its_link_is_still_in_the_ring() {
    ring_still_caught_with_a_little_aside(-0.5, -3.0);
}
