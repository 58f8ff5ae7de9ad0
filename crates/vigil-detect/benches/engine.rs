//! The engine alone: one shard on one core over a synthetic market (orders, cancels, trades on 16
//! instruments), every detector on. `vigil bench` measures the same at any size.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_core::Interner;
use vigil_detect::{Config, Shard};
use vigil_sim::{Synth, SynthConfig};

fn bench(c: &mut Criterion) {
    let mut interner = Interner::new();
    let events: Vec<_> = Synth::new(SynthConfig { symbols: 16, ..Default::default() }, &mut interner).take(200_000).collect();
    let names = interner.names();
    let config = Config::default();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(20);
    g.bench_function("shard_200k_events", |b| {
        b.iter(|| {
            let mut shard = Shard::new(&config, names.clone());
            let mut out = Vec::new();
            for e in &events {
                shard.process(e, &mut out);
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
