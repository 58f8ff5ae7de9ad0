//! The Isolation Forest on the 17 ODDS sets by PyOD's benchmark protocol (60 % train / 40 % test,
//! random splits, 10 trials, mean ROC-AUC on the test part), held within ±0.03 of PyOD's published
//! IForest column (../shared/data/odds/pyod_benchmark_roc.csv) on every set.

use vigil_ml::{auc::roc_auc, mat, IsolationForest, Matrix, Params};

fn odds_dir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os("VIGIL_DATA_DIR") {
        return std::path::PathBuf::from(d).join("odds");
    }
    let mut starts: Vec<std::path::PathBuf> = Vec::new();
    starts.extend(std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from));
    starts.extend(std::env::current_dir().ok());
    starts
        .iter()
        .flat_map(|s| s.ancestors().map(|a| a.join("shared/data/odds")).collect::<Vec<_>>())
        .find(|p| p.join("pyod_benchmark_roc.csv").is_file())
        .expect("shared/data/odds not found: set VIGIL_DATA_DIR")
}

/// MT19937, as numpy's legacy `RandomState(seed)` runs it (seeded by `init_genrand`).
struct Mt {
    mt: [u32; 624],
    i: usize,
}

impl Mt {
    fn new(seed: u32) -> Mt {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32.wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_add(i as u32);
        }
        Mt { mt, i: 624 }
    }
    fn next_u32(&mut self) -> u32 {
        if self.i >= 624 {
            for k in 0..624 {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(k + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[k] = v;
            }
            self.i = 0;
        }
        let mut y = self.mt[self.i];
        self.i += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
    /// numpy's `random_interval(max)`: uniform in 0..=max by masked rejection.
    fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for s in [1, 2, 4, 8, 16] {
            mask |= mask >> s;
        }
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }
    /// `RandomState.permutation(n)`: a Fisher-Yates shuffle of 0..n from the end.
    fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u32) as usize;
            p.swap(i, j);
        }
        p
    }
}

#[test]
fn the_splits_are_numpys() {
    // numpy: np.random.RandomState(0).permutation(10)
    assert_eq!(Mt::new(0).permutation(10), [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
}

/// The mean test ROC-AUC over `trials` splits of one set. The splits are the benchmark's own:
/// trial i splits with `train_test_split(X, y, test_size=0.4, random_state=RandomState(i))` (the
/// test part is the permutation's head); the forest's seed is ours.
fn protocol(x: &Matrix, y: &[bool], trials: u64) -> f64 {
    let n = x.rows;
    let n_test = (n as f64 * 0.4).ceil() as usize;
    let mut sum = 0.0;
    let mut scores = Vec::new();
    for trial in 0..trials {
        let p = Mt::new(trial as u32).permutation(n);
        let (test, train) = p.split_at(n_test);
        let forest = IsolationForest::fit(&x.select(train), &Params { seed: trial + 1, ..Params::default() }).unwrap();
        forest.score_batch(&x.select(test), &mut scores).unwrap();
        let labels: Vec<bool> = test.iter().map(|&i| y[i]).collect();
        sum += roc_auc(&scores, &labels).expect("both classes in the test part");
    }
    sum / trials as f64
}

#[test]
fn every_odds_set_lands_within_0_03_of_pyods_published_iforest() {
    let dir = odds_dir();
    let table = std::fs::read_to_string(dir.join("pyod_benchmark_roc.csv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "IForest").unwrap();
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (name, reference): (&str, f64) = (f[0], f[col].parse().unwrap());
        let vars = mat::read(&dir.join(format!("{name}.mat"))).unwrap();
        let x = vars.iter().find(|v| v.0 == "X").map(|v| v.1.clone()).unwrap_or_else(|| panic!("{name}: no X"));
        let y: Vec<bool> = vars.iter().find(|v| v.0 == "y").map(|v| v.1.data.iter().map(|&v| v == 1.0).collect()).unwrap_or_else(|| panic!("{name}: no y"));
        assert_eq!(x.rows, y.len(), "{name}");
        assert_eq!(x.rows, f[1].parse::<usize>().unwrap(), "{name}: the published sample count");
        assert_eq!(x.cols, f[2].parse::<usize>().unwrap(), "{name}: the published dimensions");
        let outliers = y.iter().filter(|&&o| o).count();
        assert!(outliers > 0 && outliers < y.len(), "{name}: {outliers} outliers of {}", y.len());
        let ours = protocol(&x, &y, 10);
        rows.push((name.to_string(), reference, ours));
    }
    eprintln!("| set | PyOD IForest | Vigil | difference |\n|---|---|---|---|");
    for (name, r, o) in &rows {
        eprintln!("| {name} | {r:.4} | {o:.4} | {:+.4} |", o - r);
    }
    assert_eq!(rows.len(), 17, "the 17 sets");
    let off: Vec<_> = rows.iter().filter(|(_, r, o)| (o - r).abs() > 0.03).collect();
    assert!(off.is_empty(), "more than 0.03 from PyOD: {off:?}");
}
