//! FIX parsing speed: framing (BodyLength and CheckSum checked) and splitting a typical drop-copy
//! ExecutionReport, one message after another from one buffer, as from a socket.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_fix::{encode, Parser};

fn bench(c: &mut Criterion) {
    let body = "35=8|34=12|49=BROKER|52=20260105-14:00:00.123|56=VIGIL|37=O1|11=C1|17=E1|150=F|39=2|55=BTC-USD|54=1|38=10|44=100.25|32=10|31=100.25|151=0|14=10|6=100.25|1=ACCT7|60=20260105-14:00:00.120|"
        .replace('|', "\u{1}");
    let mut buf = Vec::new();
    let n = 10_000;
    for _ in 0..n {
        encode("FIX.4.4", body.as_bytes(), &mut buf);
    }
    let mut g = c.benchmark_group("fix");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("frame_and_split_execution_report", |b| {
        let mut p = Parser::new();
        b.iter(|| {
            let mut at = 0;
            let mut fields = 0;
            while at < buf.len() {
                let (len, _) = Parser::frame(&buf[at..]).unwrap().unwrap();
                fields += p.fields(&buf[at..], len).unwrap().len();
                at += len;
            }
            fields
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
