//! The Isolation Forest (Liu, Ting and Zhou, 2008): `t` trees, each grown on a subsample of `ψ`
//! rows drawn without replacement, splitting on a random feature at a random value between its
//! minimum and maximum in the node, to a height limit of ⌈log₂ ψ⌉. A row's path length in a tree
//! is the depth of the leaf it reaches plus c(n) for the n training rows left there (the average
//! depth an unbuilt subtree of n rows would add); its score is s = 2^(−E[h(x)] / c(ψ)): near 1 for
//! anomalies, below 0.5 for ordinary rows.
//!
//! As scikit-learn's `IsolationForest` (which PyOD's `IForest` wraps, and whose published ROC-AUC
//! this is held against): a node picks among the features that are not constant in it (a node
//! where all are constant is a leaf), rows at or below the split value go left, ψ is at most the
//! number of rows. The trees live in flat arrays, one entry a node; a leaf keeps its depth plus
//! c(n), so that scoring a row is a walk and a sum.

use crate::{Error, Matrix};
use serde::{Deserialize, Serialize};
use vigil_core::Rng;

/// The model file's format name and version: a file of another version is refused.
pub const FORMAT: &str = "vigil-isolation-forest";
pub const VERSION: u32 = 1;

/// A node: the feature split on and the split value; its children are `left` and `left + 1`. A
/// leaf splits on feature 0 at +∞ with itself as `left`: every row stays (a walk takes a fixed
/// number of steps, with no test for leaves).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Node {
    feature: u32,
    left: u32,
    #[serde(with = "bits")]
    threshold: f64,
}

impl Node {
    fn is_leaf(&self, i: usize) -> bool {
        self.left as usize == i
    }
}

/// How a forest is grown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// t, the number of trees (default 100).
    pub trees: usize,
    /// ψ, the rows each tree is grown on (default 256; at most the rows given).
    pub subsample: usize,
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { trees: 100, subsample: 256, seed: 1 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationForest {
    format: String,
    version: u32,
    pub params: Params,
    /// The features a row has.
    pub dims: usize,
    /// ψ as used (the subsample, at most the rows trained on).
    pub psi: usize,
    /// The height limit, ⌈log₂ ψ⌉: the steps of every walk.
    depth: usize,
    /// c(ψ): the score's normaliser.
    #[serde(with = "bits")]
    c_psi: f64,
    /// Every tree's nodes, one array.
    nodes: Vec<Node>,
    /// Per node: for a leaf its depth plus c(rows left there); the training rows that reached it.
    #[serde(with = "bits")]
    value: Vec<f64>,
    size: Vec<u32>,
    /// Each tree's root.
    roots: Vec<u32>,
}

/// c(n): the average path length of an unsuccessful search in a binary search tree of n keys,
/// 2H(n−1) − 2(n−1)/n with H(i) ≈ ln i + γ; c(1) = 0, c(2) = 1.
pub fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

/// Rows walked through a tree together: independent walks keep the core busy while each waits
/// for its next node.
const BLOCK: usize = 8;

impl IsolationForest {
    /// Grows a forest on `data` (every row is used as normal activity: the forest learns where
    /// rows are dense).
    pub fn fit(data: &Matrix, params: &Params) -> Result<IsolationForest, Error> {
        if data.rows == 0 || data.cols == 0 {
            return Err(Error::Shape(format!("cannot grow a forest on {} rows of {} features", data.rows, data.cols)));
        }
        if params.trees == 0 || params.subsample < 2 {
            return Err(Error::Model(format!("trees ({}) must be at least 1 and the subsample ({}) at least 2", params.trees, params.subsample)));
        }
        if data.data.iter().any(|v| !v.is_finite()) {
            return Err(Error::Shape("a value is not a finite number".into()));
        }
        let psi = params.subsample.min(data.rows);
        let max_depth = (psi.max(2) as f64).log2().ceil() as usize;
        let mut rng = Rng::new(params.seed);
        let mut f = IsolationForest {
            format: FORMAT.into(),
            version: VERSION,
            params: params.clone(),
            dims: data.cols,
            psi,
            depth: max_depth,
            c_psi: c(psi),
            nodes: Vec::with_capacity(params.trees * psi),
            value: Vec::with_capacity(params.trees * psi),
            size: Vec::with_capacity(params.trees * psi),
            roots: Vec::with_capacity(params.trees),
        };
        let mut all: Vec<usize> = (0..data.rows).collect();
        let mut features: Vec<usize> = (0..data.cols).collect();
        let mut rows: Vec<usize> = Vec::with_capacity(psi);
        let mut stack: Vec<(u32, usize, usize, usize)> = Vec::new();
        for _ in 0..params.trees {
            // ψ rows without replacement: a partial Fisher-Yates shuffle.
            for i in 0..psi {
                let j = i + rng.below_unbiased(data.rows - i);
                all.swap(i, j);
            }
            rows.clear();
            rows.extend_from_slice(&all[..psi]);
            let root = f.leaf(0);
            f.roots.push(root);
            // (node, start, end, depth) over `rows`, partitioned in place.
            stack.push((root, 0, psi, 0));
            while let Some((node, start, end, depth)) = stack.pop() {
                let n = end - start;
                f.size[node as usize] = n as u32;
                f.value[node as usize] = depth as f64 + c(n);
                if depth >= max_depth || n <= 1 {
                    continue;
                }
                let here = &mut rows[start..end];
                // A random feature among those not constant here: drawn one at a time, a constant
                // one set aside, as scikit-learn's random splitter does.
                let mut live = features.len();
                let mut split = None;
                while live > 0 {
                    let j = rng.below_unbiased(live);
                    let q = features[j];
                    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                    for &r in here.iter() {
                        let v = data.data[r * data.cols + q];
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                    if hi > lo {
                        split = Some((q, lo, hi));
                        break;
                    }
                    features.swap(j, live - 1);
                    live -= 1;
                }
                let Some((q, lo, hi)) = split else { continue };
                let mut p = lo + rng.f64() * (hi - lo);
                if p >= hi {
                    // Rounding: keep the maximum on the right.
                    p = lo;
                }
                // Rows at or below p to the left.
                let mut mid = 0;
                for i in 0..n {
                    if data.data[here[i] * data.cols + q] <= p {
                        here.swap(i, mid);
                        mid += 1;
                    }
                }
                let l = f.leaf(0);
                let r = f.leaf(0);
                debug_assert_eq!(r, l + 1);
                f.nodes[node as usize] = Node { feature: q as u32, left: l, threshold: p };
                stack.push((r, start + mid, end, depth + 1));
                stack.push((l, start, start + mid, depth + 1));
            }
        }
        Ok(f)
    }

    /// A new leaf.
    fn leaf(&mut self, size: u32) -> u32 {
        let i = self.nodes.len() as u32;
        self.nodes.push(Node { feature: 0, left: i, threshold: f64::INFINITY });
        self.value.push(0.0);
        self.size.push(size);
        i
    }

    /// The leaf `row` reaches in the tree rooted at `root`; `on_split` hears each split on the
    /// way: its feature, the node and the child taken.
    #[inline]
    fn walk(&self, root: u32, row: &[f64], mut on_split: impl FnMut(usize, usize, usize)) -> usize {
        let mut i = root as usize;
        loop {
            let n = self.nodes[i];
            if n.is_leaf(i) {
                return i;
            }
            let next = n.left as usize + usize::from(row[n.feature as usize] > n.threshold);
            on_split(n.feature as usize, i, next);
            i = next;
        }
    }

    /// E[h(x)]: the mean path length of `row` over the trees.
    pub fn path_length(&self, row: &[f64]) -> f64 {
        let sum: f64 = self.roots.iter().map(|&r| self.value[self.walk(r, row, |_, _, _| {})]).sum();
        sum / self.roots.len() as f64
    }

    /// s = 2^(−E[h(x)] / c(ψ)).
    pub fn score(&self, row: &[f64]) -> f64 {
        2f64.powf(-self.path_length(row) / self.c_psi.max(f64::MIN_POSITIVE))
    }

    /// Scores every row of `data` into `out` (cleared first). Blocks of rows walk each tree
    /// together, a fixed number of steps (a leaf keeps a row where it is).
    pub fn score_batch(&self, data: &Matrix, out: &mut Vec<f64>) -> Result<(), Error> {
        if data.cols != self.dims {
            return Err(Error::Shape(format!("rows of {} features for a forest of {}", data.cols, self.dims)));
        }
        out.clear();
        out.resize(data.rows, 0.0);
        let cols = data.cols;
        for (b, sums) in out.chunks_mut(BLOCK).enumerate() {
            let base = b * BLOCK;
            let rows = &data.data[base * cols..(base + sums.len()) * cols];
            for &root in &self.roots {
                let mut at = [root as usize; BLOCK];
                for _ in 0..self.depth {
                    for (k, i) in at.iter_mut().enumerate().take(sums.len()) {
                        let n = self.nodes[*i];
                        *i = n.left as usize + usize::from(rows[k * cols + n.feature as usize] > n.threshold);
                    }
                }
                for (s, i) in sums.iter_mut().zip(at) {
                    *s += self.value[i];
                }
            }
        }
        let (t, norm) = (self.roots.len() as f64, self.c_psi.max(f64::MIN_POSITIVE));
        for s in out.iter_mut() {
            *s = 2f64.powf(-(*s / t) / norm);
        }
        Ok(())
    }

    /// Which features isolate `row`: on its path in every tree, each split cuts away the training
    /// rows that went the other way; the feature split on is credited ln(rows before / rows
    /// after) — a split that leaves the row almost alone weighs most, one that halves the node
    /// weighs ln 2 — normalised to sum to 1. Compared with the same for ordinary rows, it says
    /// which features made the row odd.
    pub fn attribution(&self, row: &[f64]) -> Vec<f64> {
        let mut w = vec![0.0f64; self.dims];
        for &root in &self.roots {
            self.walk(root, row, |q, node, child| {
                w[q] += (self.size[node].max(1) as f64 / self.size[child].max(1) as f64).ln();
            });
        }
        let total: f64 = w.iter().sum();
        if total > 0.0 {
            w.iter_mut().for_each(|x| *x /= total);
        }
        w
    }

    /// The number of nodes, over all trees.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Writes the model as JSON (its format and version first).
    pub fn save(&self, path: &std::path::Path) -> Result<(), Error> {
        let text = serde_json::to_string(self).map_err(|e| Error::Model(format!("cannot write the model: {e}")))?;
        std::fs::write(path, text)?;
        Ok(())
    }

    /// Reads a model, refusing another format or version by name, and damaged trees.
    pub fn load(path: &std::path::Path) -> Result<IsolationForest, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        let head: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Model(format!("{}: not a model file ({e})", path.display())))?;
        IsolationForest::from_value(head).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
    }

    /// A forest from its JSON (as written by [`IsolationForest::save`], or embedded in another
    /// model file), refusing another format or version by name, and damaged trees.
    pub fn from_value(head: serde_json::Value) -> Result<IsolationForest, String> {
        if head["format"] != FORMAT {
            return Err(format!("not a Vigil isolation forest (format {})", head["format"]));
        }
        if head["version"] != VERSION {
            return Err(format!("a forest of version {}; this build reads version {VERSION} (train it again with this build)", head["version"]));
        }
        let f: IsolationForest = serde_json::from_value(head).map_err(|e| e.to_string())?;
        let n = f.nodes.len();
        // Children after their parent (no cycles), inside the array; leaves loop on themselves.
        let nodes_ok =
            f.nodes.iter().enumerate().all(|(i, x)| (x.feature as usize) < f.dims && (x.is_leaf(i) || (x.left as usize > i && (x.left as usize) + 1 < n)));
        if f.value.len() != n || f.size.len() != n || f.roots.is_empty() || f.roots.iter().any(|&r| r as usize >= n) || !nodes_ok || f.depth > 64 {
            return Err("the trees are damaged".into());
        }
        // Every walk takes `depth` steps: no tree may be deeper (a batch would stop short of a
        // leaf where a single walk goes on); every number is finite.
        // One pass in index order (a parent comes before its children), each node's depth the
        // deepest way to it: linear however the nodes are shared.
        let mut depth = vec![usize::MAX; n];
        for &r in &f.roots {
            depth[r as usize] = 0;
        }
        for i in 0..n {
            let d = depth[i];
            if d == usize::MAX || f.nodes[i].is_leaf(i) {
                continue;
            }
            if d + 1 > f.depth {
                return Err(format!("a tree is deeper than the model's depth {}", f.depth));
            }
            let l = f.nodes[i].left as usize;
            for c in [l, l + 1] {
                depth[c] = if depth[c] == usize::MAX { d + 1 } else { depth[c].max(d + 1) };
            }
        }
        if !f.c_psi.is_finite() || f.c_psi <= 0.0 || f.value.iter().any(|v| !v.is_finite()) || f.nodes.iter().any(|x| x.threshold.is_nan()) {
            return Err("the trees hold numbers that are not finite".into());
        }
        Ok(f)
    }
}

/// Floating-point numbers in model files as their bits: a model read back scores exactly as the
/// one written (decimal text does not promise that).
pub mod bits {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub trait Bits: Sized {
        fn to_bits(&self) -> Vec<u64>;
        fn from_bits(b: Vec<u64>) -> Option<Self>;
    }
    impl Bits for f64 {
        fn to_bits(&self) -> Vec<u64> {
            vec![f64::to_bits(*self)]
        }
        fn from_bits(b: Vec<u64>) -> Option<Self> {
            (b.len() == 1).then(|| f64::from_bits(b[0]))
        }
    }
    impl Bits for Vec<f64> {
        fn to_bits(&self) -> Vec<u64> {
            self.iter().map(|x| f64::to_bits(*x)).collect()
        }
        fn from_bits(b: Vec<u64>) -> Option<Self> {
            Some(b.into_iter().map(f64::from_bits).collect())
        }
    }
    pub fn serialize<T: Bits, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.to_bits().serialize(s)
    }
    pub fn deserialize<'de, T: Bits, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::from_bits(Vec::<u64>::deserialize(d)?).ok_or_else(|| serde::de::Error::custom("one number expected"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(n: usize, seed: u64) -> Matrix {
        let mut rng = Rng::new(seed);
        let data: Vec<f64> = (0..n * 2).map(|_| rng.f64()).collect();
        Matrix::new(n, 2, data).unwrap()
    }

    #[test]
    fn c_matches_its_definition() {
        assert_eq!(c(1), 0.0);
        assert_eq!(c(2), 1.0);
        // 2 H(255) − 2·255/256 with the harmonic number summed exactly: within ln's approximation.
        let h: f64 = (1..=255).map(|i| 1.0 / i as f64).sum();
        assert!((c(256) - (2.0 * h - 2.0 * 255.0 / 256.0)).abs() < 0.01, "{}", c(256));
    }

    #[test]
    fn an_outlier_scores_above_the_cloud_and_the_same_seed_gives_the_same_scores() {
        let data = cloud(1000, 3);
        let f = IsolationForest::fit(&data, &Params::default()).unwrap();
        let inside = f.score(&[0.5, 0.5]);
        let outside = f.score(&[3.0, -2.0]);
        assert!(outside > 0.6 && inside < 0.5, "outlier {outside}, inlier {inside}");
        let again = IsolationForest::fit(&data, &Params::default()).unwrap();
        assert!(f == again, "the same seed grows the same forest");
        let other = IsolationForest::fit(&data, &Params { seed: 2, ..Params::default() }).unwrap();
        assert!(f != other, "another seed another");
        let mut batch = Vec::new();
        f.score_batch(&data, &mut batch).unwrap();
        for i in [0, 17, 999] {
            assert!((batch[i] - f.score(data.row(i))).abs() < 1e-12);
        }
        // The feature that isolates: x alone far out.
        let a = f.attribution(&[5.0, 0.5]);
        assert!(a[0] > a[1], "{a:?}");
    }

    #[test]
    fn constant_features_and_tiny_inputs_grow_leaves_not_errors() {
        let data = Matrix::new(3, 2, vec![1.0, 7.0, 1.0, 7.0, 1.0, 7.0]).unwrap();
        let f = IsolationForest::fit(&data, &Params::default()).unwrap();
        assert_eq!(f.psi, 3);
        assert_eq!(f.nodes(), 100, "one leaf a tree");
        assert!((f.path_length(&[1.0, 7.0]) - c(3)).abs() < 1e-12);
        assert!(IsolationForest::fit(&Matrix::new(0, 2, vec![]).unwrap(), &Params::default()).is_err());
        assert!(IsolationForest::fit(&Matrix::new(1, 1, vec![f64::NAN]).unwrap(), &Params::default()).is_err());
    }

    #[test]
    fn a_model_file_round_trips_and_another_version_is_refused() {
        let dir = std::env::temp_dir().join(format!("vigil-ml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = IsolationForest::fit(&cloud(300, 5), &Params { trees: 10, ..Params::default() }).unwrap();
        let p = dir.join("m.json");
        f.save(&p).unwrap();
        assert!(IsolationForest::load(&p).unwrap() == f, "the model read back differs");
        let text = std::fs::read_to_string(&p).unwrap().replacen(&format!("\"version\":{VERSION}"), "\"version\":99", 1);
        std::fs::write(&p, text).unwrap();
        let e = IsolationForest::load(&p).unwrap_err().to_string();
        assert!(e.contains("version 99") && e.contains(&format!("reads version {VERSION}")), "{e}");
        std::fs::write(&p, "{\"format\": \"something else\"}").unwrap();
        assert!(IsolationForest::load(&p).unwrap_err().to_string().contains("not a Vigil isolation forest"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
