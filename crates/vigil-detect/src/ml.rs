//! The anomaly model behind `ml_anomaly`: two Isolation Forests (`vigil_ml`), one over market
//! windows (an instrument's activity over a window of event time) and one over account windows
//! (one account's activity in one instrument over the same window), each kept with what it was
//! trained on — every feature's distribution, the scores of the training windows, and the mean
//! attribution of an ordinary window — so that an alert can say which features made its window
//! odd and where their values sit among the windows the model learnt as normal.
//!
//! The features are computed by [`crate::detectors::ml_anomaly`], the same code for training
//! (`vigil train`) and for scoring: a model scores windows exactly as it saw them.

use serde::{Deserialize, Serialize};
use std::path::Path;
use vigil_ml::forest::bits;
use vigil_ml::{IsolationForest, Matrix, Params};

/// The model file's format name and version: another version is refused by name.
pub const FORMAT: &str = "vigil-anomaly-model";
/// 2: the Herfindahl index over the named sides of trades, a sweep one rush order, no volatility
/// across a gap (a version 1 model learnt other distributions).
pub const VERSION: u32 = 2;

/// A feature: its name, what it measures, and whether the forest sees it on a log scale (ratios and
/// rates spanning orders of magnitude, where a quote stuffer's millisecond cancels and a market
/// maker's half-second ones must be as far apart as half a second and a minute).
pub type Feature = (&'static str, &'static str, bool);

/// Where a log-scale feature's zero lands: ln(x + 0.001).
const LOG_FLOOR: f64 = 1e-3;

/// A row as the forest sees it: log-scale features as ln(x + 0.001).
pub fn forest_row(scope: Scope, row: &[f64]) -> Vec<f64> {
    row.iter().zip(scope.features()).map(|(x, f)| if f.2 { (x.max(0.0) + LOG_FLOOR).ln() } else { *x }).collect()
}

/// A market window's features, in row order, with the unit each is measured in.
pub const MARKET_FEATURES: [Feature; 9] = [
    ("volume_volatility", "coefficient of variation of the volume over the window's 12 sub-windows", false),
    ("price_volatility", "realised volatility (√Σ of squared trade-to-trade log returns; none across a gap longer than a window) over the instrument's usual (median of its last 30 windows)", true),
    ("volume_price_correlation", "correlation of the sub-windows' volume with the sum of their absolute trade-to-trade log returns", false),
    ("herfindahl", "Herfindahl index of the accounts' shares of the named sides of trades (1 = one account on every side)", false),
    ("trade_frequency", "trades over the instrument's usual (median of its last 30 windows)", true),
    ("cancel_rate", "cancels per new order", false),
    ("book_imbalance", "mean (bid − ask) / (bid + ask) depth over the best 5 levels, at each trade", false),
    ("spread", "mean bid-ask spread at each trade over the instrument's usual (median of its last 30 windows)", true),
    ("rush_orders", "aggressive buy orders sharing their millisecond with another (La Morgia et al. 2020; a sweep's fills are one order), over the instrument's usual", true),
];

/// An account window's features, in row order.
pub const ACCOUNT_FEATURES: [Feature; 7] = [
    ("order_to_trade", "new orders per trade the account was party to (orders when it traded none)", true),
    ("cancel_latency", "mean seconds from placing to cancelling, of the orders it cancelled (the window's length when none)", true),
    ("size_vs_median", "mean order size over the median of its own earlier orders in the instrument", true),
    ("side_switching", "share of consecutive orders on the other side from the one before", false),
    ("hour_share", "share of its earlier activity in the instrument that fell in this hour of the day", true),
    ("cancel_ratio", "cancels per new order", false),
    ("messages", "orders, amends and cancels per minute", true),
];

/// Which kind of window a row or a forest is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Market,
    Account,
}

impl Scope {
    pub fn features(self) -> &'static [Feature] {
        match self {
            Scope::Market => &MARKET_FEATURES,
            Scope::Account => &ACCOUNT_FEATURES,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Market => "market",
            Scope::Account => "account",
        }
    }
}

/// How windows are cut: a model records the values it was trained with, and scoring uses those.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Windows {
    /// The window's length (ns); windows are aligned on multiples of it in event time.
    pub window_ns: i64,
    /// A market window is a row with at least this many trades.
    pub min_trades: u32,
    /// An account window is a row with at least this many of the account's events.
    pub min_events: u32,
}

/// Quantiles 0, 1, …, 100 % of a sample: a distribution in 101 numbers.
pub const QUANTILES: usize = 101;

/// One forest and what it was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub scope: Scope,
    pub features: Vec<String>,
    /// The training windows.
    pub rows: usize,
    #[serde(skip)]
    pub forest: Option<IsolationForest>,
    /// Per feature, its quantiles over the training windows.
    #[serde(with = "bits")]
    pub quantiles: Vec<f64>,
    /// The quantiles of the training windows' scores.
    #[serde(with = "bits")]
    pub score_quantiles: Vec<f64>,
    /// Per feature, its mean attribution over the training windows: what an ordinary window owes
    /// each feature, the zero against which an alert's attribution is read.
    #[serde(with = "bits")]
    pub baseline_attribution: Vec<f64>,
    /// A window scoring at least this is anomalous: the training scores' `1 − contamination`
    /// quantile.
    #[serde(with = "bits")]
    pub threshold: f64,
}

/// The model file: both forests, how windows were cut, and how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    format: String,
    version: u32,
    pub windows: Windows,
    pub params: Params,
    pub contamination: f64,
    /// What it was trained on (file names), for the record.
    pub trained_on: Vec<String>,
    pub market: Option<Part>,
    pub account: Option<Part>,
    /// The forests, as `vigil_ml` writes them (checked when read).
    forests: Vec<serde_json::Value>,
}

/// One feature of an explained window.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub feature: &'static str,
    pub value: f64,
    /// Its share of what isolated the window, beyond an ordinary window's (sums to 1).
    pub contribution: f64,
    /// Where the value sits among the training windows' (0–100).
    pub percentile: f64,
    pub train_median: f64,
    pub train_p99: f64,
}

/// A scored window, explained.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub score: f64,
    /// The share of training windows that scored lower (0–100).
    pub score_percentile: f64,
    /// Every feature, the largest contribution first.
    pub features: Vec<Contribution>,
}

impl Part {
    fn fit(scope: Scope, rows: &[Vec<f64>], params: &Params, contamination: f64) -> Result<Part, String> {
        let cols = scope.features().len();
        let data: Vec<f64> = rows.iter().flat_map(|r| forest_row(scope, r)).collect();
        let m = Matrix::new(rows.len(), cols, data).map_err(|e| e.to_string())?;
        let forest = IsolationForest::fit(&m, params).map_err(|e| e.to_string())?;
        let mut scores = Vec::new();
        forest.score_batch(&m, &mut scores).map_err(|e| e.to_string())?;
        let mut quantiles = Vec::with_capacity(cols * QUANTILES);
        let mut col = Vec::with_capacity(rows.len());
        for j in 0..cols {
            col.clear();
            col.extend(rows.iter().map(|r| r[j]));
            quantiles.extend(quantiles_of(&mut col));
        }
        // An ordinary window's attribution: the mean over (at most 4,096 evenly spaced) rows.
        let step = rows.len().div_ceil(4096).max(1);
        let mut baseline = vec![0.0; cols];
        let mut n = 0.0;
        for r in rows.iter().step_by(step) {
            for (b, a) in baseline.iter_mut().zip(forest.attribution(&forest_row(scope, r))) {
                *b += a;
            }
            n += 1.0;
        }
        baseline.iter_mut().for_each(|b| *b /= n);
        let mut sorted = scores.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let threshold = quantile(&sorted, 1.0 - contamination);
        let score_quantiles = quantiles_of(&mut scores);
        Ok(Part {
            scope,
            features: scope.features().iter().map(|f| f.0.to_string()).collect(),
            rows: rows.len(),
            forest: Some(forest),
            quantiles,
            score_quantiles,
            baseline_attribution: baseline,
            threshold,
        })
    }

    pub fn forest(&self) -> &IsolationForest {
        self.forest.as_ref().expect("a loaded part has its forest")
    }

    /// The score of a row (of natural values, as the features are defined).
    pub fn score(&self, row: &[f64]) -> f64 {
        self.forest().score(&forest_row(self.scope, row))
    }

    /// The scores of many rows at once (the forest's batch walk: several times faster a row).
    pub fn score_many<'a>(&self, rows: impl Iterator<Item = &'a [f64]>) -> Vec<f64> {
        let cols = self.scope.features().len();
        let data: Vec<f64> = rows.flat_map(|r| forest_row(self.scope, r)).collect();
        let mut out = Vec::new();
        let m = Matrix::new(data.len() / cols, cols, data).expect("rows of the scope's features");
        self.forest().score_batch(&m, &mut out).expect("rows of the forest's features");
        out
    }

    /// A feature's training quantiles.
    pub fn feature_quantiles(&self, j: usize) -> &[f64] {
        &self.quantiles[j * QUANTILES..(j + 1) * QUANTILES]
    }

    /// Which features made `row` odd: its path-length attribution less an ordinary window's
    /// (only what exceeds it counts), with each value placed among the training values.
    pub fn explain(&self, row: &[f64], score: f64) -> Explanation {
        let attr = self.forest().attribution(&forest_row(self.scope, row));
        let excess: Vec<f64> = attr.iter().zip(&self.baseline_attribution).map(|(a, b)| (a - b).max(0.0)).collect();
        let total: f64 = excess.iter().sum();
        let shares: Vec<f64> = if total > 0.0 { excess.iter().map(|x| x / total).collect() } else { attr };
        let mut features: Vec<Contribution> = self
            .scope
            .features()
            .iter()
            .enumerate()
            .map(|(j, (name, _, _))| {
                let q = self.feature_quantiles(j);
                Contribution { feature: name, value: row[j], contribution: shares[j], percentile: percentile(q, row[j]), train_median: q[50], train_p99: q[99] }
            })
            .collect();
        features.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        Explanation { score, score_percentile: percentile(&self.score_quantiles, score), features }
    }
}

/// Quantiles 0, 1, …, 100 % of a sample (sorted in place), by linear interpolation.
fn quantiles_of(xs: &mut [f64]) -> Vec<f64> {
    xs.sort_unstable_by(f64::total_cmp);
    (0..QUANTILES).map(|i| quantile(xs, i as f64 / (QUANTILES - 1) as f64)).collect()
}

/// The `p` quantile of a sorted sample, interpolated between the two nearest order statistics.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, f) = (at.floor() as usize, at.fract());
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

/// Where `x` sits in a distribution given by its 101 quantiles, as a percentile (0–100).
pub fn percentile(q: &[f64], x: f64) -> f64 {
    let n = q.len();
    if n < 2 || x.is_nan() {
        return 50.0;
    }
    if x < q[0] {
        return 0.0;
    }
    if x >= q[n - 1] {
        return 100.0;
    }
    // The last quantile at or below x, then the share of the way to the next.
    let i = q.partition_point(|v| *v <= x) - 1;
    // Ties: a value equal to a run of quantiles sits in the middle of the run.
    let j = q.partition_point(|v| *v < x);
    let step = 100.0 / (n - 1) as f64;
    if j <= i && q[j] == x {
        return (i + j) as f64 / 2.0 * step;
    }
    let w = q[i + 1] - q[i];
    (i as f64 + if w > 0.0 { (x - q[i]) / w } else { 0.0 }) * step
}

impl Model {
    /// Trains both forests on the rows of normal activity; a scope with fewer than `min_rows`
    /// windows has no forest (and raises nothing).
    pub fn train(
        windows: Windows,
        params: &Params,
        contamination: f64,
        market: &[Vec<f64>],
        account: &[Vec<f64>],
        trained_on: Vec<String>,
    ) -> Result<Model, String> {
        if !(0.0..0.5).contains(&contamination) {
            return Err(format!("contamination {contamination}: must be at least 0 and below 0.5"));
        }
        const MIN_ROWS: usize = 32;
        let fit = |scope, rows: &[Vec<f64>]| -> Result<Option<Part>, String> {
            if rows.len() < MIN_ROWS {
                return Ok(None);
            }
            Part::fit(scope, rows, params, contamination).map(Some)
        };
        let market = fit(Scope::Market, market)?;
        let account = fit(Scope::Account, account)?;
        if market.is_none() && account.is_none() {
            return Err(format!("too little activity to learn from: fewer than {MIN_ROWS} market windows and fewer than {MIN_ROWS} account windows"));
        }
        Ok(Model { format: FORMAT.into(), version: VERSION, windows, params: params.clone(), contamination, trained_on, market, account, forests: Vec::new() })
    }

    pub fn part(&self, scope: Scope) -> Option<&Part> {
        match scope {
            Scope::Market => self.market.as_ref(),
            Scope::Account => self.account.as_ref(),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut m = self.clone();
        m.forests =
            [&m.market, &m.account].into_iter().flatten().map(|p| serde_json::to_value(p.forest()).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
        let text = serde_json::to_string(&m).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads a model file, refusing another format or version by name, and damaged forests.
    pub fn load(path: &Path) -> Result<Model, String> {
        let at = |e: String| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
        let head: serde_json::Value = serde_json::from_str(&text).map_err(|e| at(format!("not a model file ({e})")))?;
        if head["format"] != FORMAT {
            return Err(at(format!("not a Vigil anomaly model (format {})", head["format"])));
        }
        if head["version"] != VERSION {
            return Err(at(format!("a model of version {}; this build reads version {VERSION} (train it again with `vigil train`)", head["version"])));
        }
        let mut m: Model = serde_json::from_value(head).map_err(|e| at(e.to_string()))?;
        let mut forests = std::mem::take(&mut m.forests).into_iter();
        for (slot, part) in [(Scope::Market, &mut m.market), (Scope::Account, &mut m.account)] {
            let Some(part) = part else { continue };
            if part.scope != slot {
                return Err(at(format!("the {} forest is in the {} place", part.scope.as_str(), slot.as_str())));
            }
            let cols = part.scope.features().len();
            let names_ok = part.features.iter().map(String::as_str).eq(part.scope.features().iter().map(|f| f.0));
            let f = IsolationForest::from_value(forests.next().ok_or_else(|| at(format!("the {} forest is missing", part.scope.as_str())))?).map_err(at)?;
            if !names_ok
                || f.dims != cols
                || part.quantiles.len() != cols * QUANTILES
                || part.baseline_attribution.len() != cols
                || part.score_quantiles.len() != QUANTILES
            {
                return Err(at(format!("the {} part does not match this build's features", part.scope.as_str())));
            }
            let sorted = |q: &[f64]| q.iter().all(|x| x.is_finite()) && q.windows(2).all(|w| w[0] <= w[1]);
            let sound = part.quantiles.chunks(QUANTILES).all(sorted)
                && sorted(&part.score_quantiles)
                && part.baseline_attribution.iter().all(|x| x.is_finite())
                && part.threshold > 0.0
                && part.threshold <= 1.0;
            if !sound {
                return Err(at(format!("the {} part's distributions or threshold are damaged", part.scope.as_str())));
            }
            part.forest = Some(f);
        }
        if m.windows.window_ns <= 0 {
            return Err(at("the window must be positive".into()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_read_the_quantile_table() {
        let q: Vec<f64> = (0..QUANTILES).map(|i| i as f64).collect();
        assert_eq!(percentile(&q, -1.0), 0.0);
        assert_eq!(percentile(&q, 100.0), 100.0);
        assert!((percentile(&q, 42.5) - 42.5).abs() < 1e-9);
        // A feature that is mostly zero: zero sits in the middle of its run.
        let mut q = vec![0.0; 81];
        q.extend((1..=20).map(|i| i as f64));
        assert_eq!(percentile(&q, 0.0), 40.0);
        assert!(percentile(&q, 30.0) == 100.0 && percentile(&q, 10.5) > 89.0);
        let mut xs = vec![3.0, 1.0, 2.0, 4.0, 5.0];
        let qs = quantiles_of(&mut xs);
        assert_eq!((qs[0], qs[50], qs[100], qs[25]), (1.0, 3.0, 5.0, 2.0));
    }
}
