//! Vigil's gRPC interface (`proto/vigil/v1/vigil.proto`), generated at build time with tonic and
//! prost from a descriptor set protox compiles (no protoc), and the mapping of its events to the
//! engine's: a protobuf [`pb::Event`] goes through the same decoder as a line of the spec's JSON
//! Lines, so it is checked the same way and refused with the same field names and reasons.

/// The generated messages, clients and servers of `vigil.v1`.
pub mod pb {
    #![allow(clippy::all, clippy::pedantic, missing_docs, unused_qualifications)]
    tonic::include_proto!("vigil.v1");
}

use std::borrow::Cow;
use vigil_core::{Event, Interner};
use vigil_io::decode::{self, FieldError, Record};
use vigil_io::flatjson::JsonValue;

fn side(s: i32) -> Option<&'static str> {
    match pb::Side::try_from(s) {
        Ok(pb::Side::Buy) => Some("buy"),
        Ok(pb::Side::Sell) => Some("sell"),
        _ => None,
    }
}

/// A protobuf event as the spec's record (borrowing its text; the time goes in as the number it
/// is). A side or type value the protocol does not define is passed on as its number, for the
/// decoder to refuse with the field's name.
pub fn record<'a>(e: &'a pb::Event, other: &'a mut [String; 3]) -> Record<'a> {
    let mut r = Record::default();
    let [o_type, o_side, o_aggressor] = other;
    // proto3 cannot tell an absent time from 0: 0 is absent (1970 is no event's time).
    if e.ts != 0 {
        r.fields[decode::TS] = Some(JsonValue::Nanos(e.ts));
    }
    let ty = match pb::EventType::try_from(e.r#type) {
        Ok(pb::EventType::New) => Some("new"),
        Ok(pb::EventType::Amend) => Some("amend"),
        Ok(pb::EventType::Cancel) => Some("cancel"),
        Ok(pb::EventType::Trade) => Some("trade"),
        Ok(pb::EventType::Quote) => Some("quote"),
        Ok(pb::EventType::Account) => Some("account"),
        Ok(pb::EventType::Unspecified) => None,
        Err(_) => {
            *o_type = e.r#type.to_string();
            Some(o_type.as_str())
        }
    };
    r.fields[decode::TYPE] = ty.map(|t| JsonValue::Str(Cow::Borrowed(t)));
    let text = [
        (decode::VENUE, &e.venue),
        (decode::SYMBOL, &e.symbol),
        (decode::ORDER_ID, &e.order_id),
        (decode::ACCOUNT, &e.account),
        (decode::PRICE, &e.price),
        (decode::QTY, &e.qty),
        (decode::TRADE_ID, &e.trade_id),
        (decode::BUY_ACCOUNT, &e.buy_account),
        (decode::SELL_ACCOUNT, &e.sell_account),
        (decode::BUY_ORDER_ID, &e.buy_order_id),
        (decode::SELL_ORDER_ID, &e.sell_order_id),
        (decode::BID, &e.bid),
        (decode::BID_QTY, &e.bid_qty),
        (decode::ASK, &e.ask),
        (decode::ASK_QTY, &e.ask_qty),
        (decode::OWNER, &e.owner),
    ];
    for (col, v) in text {
        if !v.is_empty() {
            r.fields[col] = Some(JsonValue::Str(Cow::Borrowed(v.as_str())));
        }
    }
    for (col, v, slot) in [(decode::SIDE, e.side, o_side), (decode::AGGRESSOR, e.aggressor, o_aggressor)] {
        r.fields[col] = match side(v) {
            Some(s) => Some(JsonValue::Str(Cow::Borrowed(s))),
            None if v == 0 => None,
            None => {
                *slot = format!("side {v}");
                Some(JsonValue::Str(Cow::Borrowed(slot.as_str())))
            }
        };
    }
    r
}

/// Text buffers [`to_event_with`] reuses from one event to the next.
#[derive(Default)]
pub struct Scratch {
    other: [String; 3],
}

/// Maps one protobuf event to the engine's, interning its names once every check has passed.
pub fn to_event(e: &pb::Event, interner: &mut Interner) -> Result<Event, FieldError> {
    to_event_with(e, interner, &mut Scratch::default())
}

/// [`to_event`] with buffers kept between calls.
pub fn to_event_with(e: &pb::Event, interner: &mut Interner, scratch: &mut Scratch) -> Result<Event, FieldError> {
    record(e, &mut scratch.other).decode(interner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::EventKind;
    use vigil_io::reject::RejectCode;

    fn order() -> pb::Event {
        pb::Event {
            ts: 1_767_621_600_000_000_001,
            r#type: pb::EventType::New as i32,
            venue: "xnas".into(),
            symbol: "INTC".into(),
            order_id: "o1".into(),
            account: "a1".into(),
            side: pb::Side::Sell as i32,
            price: "20.5".into(),
            qty: "100".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_protobuf_order_is_the_same_event_as_its_json_line() {
        let mut it = Interner::new();
        let ev = to_event(&order(), &mut it).unwrap();
        let line =
            r#"{"ts":1767621600000000001,"type":"new","venue":"xnas","symbol":"INTC","order_id":"o1","account":"a1","side":"sell","price":"20.5","qty":"100"}"#;
        let file: std::sync::Arc<str> = "x".into();
        let Some(vigil_io::Item::Event(mut from_json)) = vigil_io::read::jsonl_line(&file, 1, line.as_bytes(), false, &mut it) else { panic!() };
        from_json.seq = ev.seq;
        assert_eq!(ev, from_json);
        assert!(matches!(ev.kind, EventKind::New(_)));
    }

    #[test]
    fn a_bad_protobuf_event_is_refused_naming_the_field() {
        let mut it = Interner::new();
        type Case = (fn(&mut pb::Event), &'static str, RejectCode);
        let cases: [Case; 7] = [
            (|e| e.qty = "-1".into(), "qty", RejectCode::InvalidQty),
            (|e| e.price = "12x".into(), "price", RejectCode::InvalidDecimal),
            (|e| e.side = 7, "side", RejectCode::InvalidField),
            (|e| e.r#type = 0, "type", RejectCode::MissingField),
            (|e| e.r#type = 42, "type", RejectCode::UnknownType),
            (|e| e.ts = 0, "ts", RejectCode::MissingField),
            (|e| e.ts = -5, "ts", RejectCode::InvalidTimestamp),
        ];
        for (break_it, field, code) in cases {
            let mut e = order();
            break_it(&mut e);
            let err = to_event(&e, &mut it).unwrap_err();
            assert_eq!((err.field, err.code), (Some(field), code), "{err:?}");
        }
    }
}
