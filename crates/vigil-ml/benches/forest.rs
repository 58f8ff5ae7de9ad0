//! The Isolation Forest's speed: growing 100 trees of 256 rows, and scoring rows in batches.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_ml::{IsolationForest, Matrix, Params};

/// `rows` × `cols` of a seeded mixture (most rows near the origin, a few far).
fn data(rows: usize, cols: usize) -> Matrix {
    let mut z = 7u64;
    let mut next = || {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((x ^ (x >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let v = (0..rows * cols).map(|i| if i % 997 == 0 { 10.0 + next() } else { next() }).collect();
    Matrix::new(rows, cols, v).unwrap()
}

fn bench(c: &mut Criterion) {
    let train = data(10_000, 10);
    let mut g = c.benchmark_group("forest");
    g.bench_function("fit_100_trees_256_rows_10_features", |b| b.iter(|| IsolationForest::fit(&train, &Params::default()).unwrap()));
    let forest = IsolationForest::fit(&train, &Params::default()).unwrap();
    let rows = data(100_000, 10);
    let mut out = Vec::new();
    g.throughput(Throughput::Elements(rows.rows as u64));
    g.bench_function("score_100k_rows_10_features", |b| b.iter(|| forest.score_batch(&rows, &mut out).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
