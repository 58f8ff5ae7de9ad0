//! Venue health: tests on a venue's trade sizes that read the venue as a whole rather than any
//! account, after Cong, Li, Tang and Yang, "Crypto Wash Trading" (Management Science, 2023), who
//! found fabricated volume on unregulated exchanges by these statistics:
//!
//! - **First-digit law (Benford).** The first significant digits of genuine trade sizes follow
//!   P(d) = log10(1 + 1/d). Conformity is the mean absolute deviation of the observed proportions
//!   from Benford's over the nine digits, judged by Nigrini's first-digit ranges (close conformity
//!   below 0.006, acceptable to 0.012, marginal to 0.015, nonconformity above). A chi-square test is
//!   not used: its p-value rejects genuine data once n is in the hundreds of thousands.
//! - **Round-size clustering.** People choose round sizes: among trades of at least ten lots, the
//!   share that are multiples of ten is well above the one in ten a size-blind process gives (and
//!   multiples of 100 among trades of at least a hundred above one in a hundred). A ratio near 1
//!   means trade sizes are drawn by a machine that does not care for round numbers — as wash-trading
//!   bots do.
//!
//! Sizes are counted in lots of the venue's quantity as written (a quantity of 0.25 has first
//! digit 2). The counts live per venue in every shard and add up across shards.

use rustc_hash::FxHashMap;
use serde::Serialize;
use vigil_core::fixed::SCALE;
use vigil_core::{Qty, VenueId};

/// Benford's proportion of first digit `d` (1..9): log10(1 + 1/d).
pub fn benford(d: usize) -> f64 {
    (1.0 + 1.0 / d as f64).log10()
}

/// Counts of one venue's trades.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub trades: u64,
    pub first_digit: [u64; 9],
    /// Trades of at least 10 lots, and of those the multiples of 10; likewise for 100.
    pub ge10: u64,
    pub round10: u64,
    pub ge100: u64,
    pub round100: u64,
}

impl Counts {
    pub fn add(&mut self, q: Qty) {
        let raw = q.0;
        if raw <= 0 {
            return;
        }
        self.trades += 1;
        let mut x = raw;
        while x >= 10 {
            x /= 10;
        }
        self.first_digit[(x - 1) as usize] += 1;
        // Whole lots only: a fractional size is never a round multiple of ten lots.
        let unit = SCALE;
        if raw % unit == 0 {
            let lots = raw / unit;
            if lots >= 10 {
                self.ge10 += 1;
                self.round10 += u64::from(lots % 10 == 0);
            }
            if lots >= 100 {
                self.ge100 += 1;
                self.round100 += u64::from(lots % 100 == 0);
            }
        }
    }

    pub fn merge(&mut self, o: &Counts) {
        self.trades += o.trades;
        for (a, b) in self.first_digit.iter_mut().zip(o.first_digit) {
            *a += b;
        }
        self.ge10 += o.ge10;
        self.round10 += o.round10;
        self.ge100 += o.ge100;
        self.round100 += o.round100;
    }

    /// The report, with verdicts where there are enough trades to judge.
    pub fn report(&self) -> Health {
        let n = self.trades as f64;
        let observed: Vec<f64> = self.first_digit.iter().map(|&c| if n > 0.0 { c as f64 / n } else { 0.0 }).collect();
        let mad = if n > 0.0 { observed.iter().enumerate().map(|(k, o)| (o - benford(k + 1)).abs()).sum::<f64>() / 9.0 } else { f64::NAN };
        let benford = if self.trades < MIN_TRADES {
            "too few trades"
        } else if mad < 0.006 {
            "close conformity"
        } else if mad < 0.012 {
            "acceptable conformity"
        } else if mad < 0.015 {
            "marginal conformity"
        } else {
            "nonconformity"
        };
        let ratio = |r: u64, of: u64, p: f64| (of > 0).then(|| r as f64 / of as f64 / p);
        let round10 = ratio(self.round10, self.ge10, 0.1);
        let clustering = match round10 {
            _ if self.ge10 < MIN_TRADES / 10 => "too few trades",
            Some(x) if x >= 1.5 => "round sizes preferred",
            Some(_) => "no preference for round sizes",
            None => "too few trades",
        };
        Health {
            trades: self.trades,
            first_digit_share: observed.iter().map(|x| (x * 1e4).round() / 1e4).collect(),
            benford_mad: (mad * 1e6).round() / 1e6,
            benford: benford.to_string(),
            round10_ratio: round10.map(|x| (x * 1e3).round() / 1e3),
            round100_ratio: ratio(self.round100, self.ge100, 0.01).map(|x| (x * 1e3).round() / 1e3),
            clustering: clustering.to_string(),
        }
    }
}

/// Fewer trades than this get no Benford verdict (the deviation of a small sample is noise).
pub const MIN_TRADES: u64 = 1000;

/// One venue's health, as `vigil replay` reports it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Health {
    pub trades: u64,
    /// Proportion of trades whose size starts with 1, 2, ... 9.
    pub first_digit_share: Vec<f64>,
    /// Mean absolute deviation from Benford's proportions.
    pub benford_mad: f64,
    pub benford: String,
    /// Share of multiples of 10 among trades of at least 10 lots, over the 0.1 of a size-blind
    /// process (likewise 100).
    pub round10_ratio: Option<f64>,
    pub round100_ratio: Option<f64>,
    pub clustering: String,
}

/// Counts per venue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenueHealth {
    pub venues: FxHashMap<VenueId, Counts>,
}

impl VenueHealth {
    #[inline]
    pub fn trade(&mut self, venue: VenueId, qty: Qty) {
        self.venues.entry(venue).or_default().add(qty);
    }

    pub fn merge(&mut self, o: &VenueHealth) {
        for (v, c) in &o.venues {
            self.venues.entry(*v).or_default().merge(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_sim::Rng;

    fn lots(n: i64) -> Qty {
        Qty(n * SCALE)
    }

    #[test]
    fn benford_sizes_conform_and_uniform_ones_do_not() {
        let mut rng = Rng::new(3);
        // Log-uniform sizes over four decades follow Benford's law.
        let mut genuine = Counts::default();
        for _ in 0..100_000 {
            let x = 10f64.powf(rng.f64() * 4.0);
            genuine.add(Qty((x * 1e8) as i64));
        }
        let g = genuine.report();
        assert!(g.benford_mad < 0.006, "{g:?}");
        assert_eq!(g.benford, "close conformity");
        // A bot drawing sizes uniformly between 1 and 99 lots does not.
        let mut bot = Counts::default();
        for _ in 0..100_000 {
            bot.add(lots(1 + rng.below(99) as i64));
        }
        let b = bot.report();
        assert!(b.benford_mad > 0.015, "{b:?}");
        assert_eq!(b.benford, "nonconformity");
        assert_eq!(b.clustering, "no preference for round sizes");
        assert!((b.round10_ratio.unwrap() - 1.0).abs() < 0.1, "{b:?}");
        // Too few trades: no verdict.
        let mut few = Counts::default();
        few.add(lots(3));
        assert_eq!(few.report().benford, "too few trades");
    }

    #[test]
    fn people_prefer_round_sizes() {
        let mut rng = Rng::new(5);
        let mut c = Counts::default();
        for _ in 0..50_000 {
            let x = 10 + rng.below(490) as i64;
            // A third of traders round their size to ten lots.
            c.add(lots(if rng.below(3) == 0 { x / 10 * 10 } else { x }));
        }
        let r = c.report();
        assert!(r.round10_ratio.unwrap() > 3.0, "{r:?}");
        assert_eq!(r.clustering, "round sizes preferred");
        // Counts add across shards.
        let mut a = VenueHealth::default();
        let mut b = VenueHealth::default();
        a.trade(VenueId(0), lots(20));
        b.trade(VenueId(0), lots(3));
        a.merge(&b);
        assert_eq!(a.venues[&VenueId(0)].trades, 2);
        assert_eq!(a.venues[&VenueId(0)].first_digit[1], 1);
    }
}
