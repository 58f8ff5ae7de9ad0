//! The protobuf-to-event mapping on any bytes: a batch that decodes maps event by event without
//! panicking; an event it accepts names its venue and symbol and lies in the spec's time range,
//! and one it refuses names a field of the spec where the fault is in one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use vigil_core::Interner;
use vigil_grpc::pb;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = pb::EventBatch::decode(data) else { return };
    let mut it = Interner::new();
    for e in &batch.events {
        match vigil_grpc::to_event(e, &mut it) {
            Ok(ev) => {
                assert!((0..=7_258_118_400_000_000_000).contains(&ev.ts.0), "{ev:?}");
                if !matches!(ev.kind, vigil_core::EventKind::Account { .. }) {
                    assert!(!it.names().symbol(ev.symbol).is_empty(), "{ev:?}");
                }
            }
            Err(f) => {
                if let Some(field) = f.field {
                    assert!(vigil_io_columns().contains(&field), "{f:?}");
                }
                assert!(!f.reason.is_empty());
            }
        }
    }
});

fn vigil_io_columns() -> [&'static str; 20] {
    [
        "ts", "type", "venue", "symbol", "order_id", "account", "side", "price", "qty", "trade_id", "buy_account", "sell_account", "buy_order_id",
        "sell_order_id", "aggressor", "bid", "bid_qty", "ask", "ask_qty", "owner",
    ]
}
