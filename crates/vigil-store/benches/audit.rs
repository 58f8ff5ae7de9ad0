//! The cost of appending to the hash-chained audit log: per entry, in batches of 1 000 (group
//! commit: one transaction and one sync per batch), on a SQLite file. One entry alone pays a whole
//! transaction and its sync; that is measured too, for scale.
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::json;
use vigil_store::Store;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(dir.path().join("bench.db").to_str().expect("utf-8 path")).expect("open");
    let mut g = c.benchmark_group("audit");
    const N: usize = 1000;
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("append, batches of 1000 (per batch)", |b| {
        b.iter_batched(
            || {
                (0..N)
                    .map(|i| ("ann", "alert.resolved", "alert", format!("a{i}"), json!({"reason": "reviewed: a market maker re-quoting"})))
                    .collect::<Vec<_>>()
            },
            |batch| {
                let refs: Vec<(&str, &str, &str, &str, serde_json::Value)> = batch.iter().map(|(a, b, c, d, e)| (*a, *b, *c, d.as_str(), e.clone())).collect();
                store.audit_batch(&refs).expect("append")
            },
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("append, one transaction each", |b| {
        b.iter(|| store.audit("ann", "alert.resolved", "alert", "a1", json!({"reason": "x"})).expect("append"))
    });
    g.finish();
    assert!(store.audit_verify().expect("verify").failure.is_none());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
