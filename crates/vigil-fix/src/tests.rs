use super::*;
use proptest::prelude::*;

fn msg(body: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode("FIX.4.4", body.replace('|', "\u{1}").as_bytes(), &mut out);
    out
}

const ER: &str = "35=8|34=12|49=BROKER|52=20260105-14:00:00.123|56=VIGIL|37=O1|11=C1|17=E1|150=F|39=2|55=BTC-USD|54=1|38=10|44=100.25|32=10|31=100.25|151=0|14=10|6=100.25|1=ACCT7|";

#[test]
fn a_message_frames_and_splits_into_its_fields() {
    let m = msg(ER);
    let (n, trailer) = Parser::frame(&m).unwrap().unwrap();
    assert_eq!(n, m.len());
    let mut p = Parser::new();
    let f = p.fields(&m, n).unwrap();
    assert_eq!(trailer + 7, n);
    assert_eq!(f.field(0), Some((8, &b"FIX.4.4"[..])));
    assert_eq!(f.field(1).unwrap().0, 9);
    assert_eq!(f.msg_type(), Some("8"));
    assert_eq!(f.str(55), Some("BTC-USD"));
    assert_eq!(f.str(1), Some("ACCT7"));
    assert_eq!(f.fields().last().unwrap().0, 10);
    assert_eq!(f.len(), 23);
}

#[test]
fn every_prefix_waits_for_more_and_two_messages_frame_one_after_the_other() {
    let m = msg(ER);
    for cut in 0..m.len() {
        assert_eq!(Parser::frame(&m[..cut]), Ok(None), "cut at {cut}");
    }
    let mut two = m.clone();
    two.extend_from_slice(&msg("35=0|34=13|49=B|52=20260105-14:00:01|56=V|"));
    let (n, _) = Parser::frame(&two).unwrap().unwrap();
    assert_eq!(n, m.len());
    let (n2, _) = Parser::frame(&two[n..]).unwrap().unwrap();
    assert_eq!(n + n2, two.len());
}

#[test]
fn a_wrong_checksum_or_body_length_is_named_and_skipped() {
    let mut m = msg(ER);
    let l = m.len();
    m[l - 2] = if m[l - 2] == b'9' { b'0' } else { m[l - 2] + 1 };
    let e = Parser::frame(&m).unwrap_err();
    assert!(matches!(e, FrameError::CheckSum { .. }), "{e}");
    assert_eq!(e.skip(), m.len());
    // BodyLength one short: that message is dropped and the next one frames; one long: it runs
    // into the next message and both are dropped, as QuickFIX does (acceptance script 2m).
    for delta in [-1i64, 1] {
        let good = msg(ER);
        let text = String::from_utf8(good.clone()).unwrap();
        let declared: i64 = text.split('\u{1}').nth(1).unwrap()[2..].parse().unwrap();
        let bad = text.replacen(&format!("9={declared}"), &format!("9={}", declared + delta), 1);
        let mut buf = bad.clone().into_bytes();
        let next = msg("35=0|34=13|49=B|52=20260105-14:00:01|56=V|");
        buf.extend_from_slice(&next);
        let e = Parser::frame(&buf).unwrap_err();
        assert!(matches!(e, FrameError::BodyLength { .. }), "{delta}: {e}");
        if delta < 0 {
            assert_eq!(e.skip(), bad.len());
            assert!(Parser::frame(&buf[e.skip()..]).unwrap().is_some());
        } else {
            assert_eq!(e.skip(), buf.len());
        }
    }
}

#[test]
fn a_garbled_checksum_drops_that_message_alone() {
    // Scripts 2d and 3c: a trailer `10=0|` at the right place, then a good message.
    let body = "35=0|34=2|49=TW|52=20260105-14:00:00|56=ISLD|".replace('|', "\u{1}");
    let mut buf = format!("8=FIX.4.4\u{1}9={}\u{1}{body}10=0\u{1}", body.len()).into_bytes();
    let first = buf.len();
    buf.extend_from_slice(&msg("35=0|34=3|49=TW|52=20260105-14:00:01|56=ISLD|"));
    let e = Parser::frame(&buf).unwrap_err();
    assert!(matches!(e, FrameError::CheckSum { .. }), "{e}");
    assert_eq!(e.skip(), first);
    assert!(Parser::frame(&buf[first..]).unwrap().is_some());
}

#[test]
fn a_message_start_split_across_reads_is_not_skipped() {
    let mut buf = b"junk\r\n8=F".to_vec();
    let e = Parser::frame(&buf).unwrap_err();
    assert_eq!(&buf[e.skip()..], b"8=F");
    buf.drain(..e.skip());
    let m = msg(ER);
    buf.truncate(0);
    buf.extend_from_slice(b"xx");
    buf.extend_from_slice(&m);
    let e = Parser::frame(&buf).unwrap_err();
    assert_eq!(e.skip(), 2, "no SOH before 8=FIX is needed");
}

#[test]
fn garbage_before_a_message_is_skipped_to_it() {
    let mut buf = b"hello\x01world\x01".to_vec();
    buf.extend_from_slice(&msg(ER));
    let e = Parser::frame(&buf).unwrap_err();
    assert!(matches!(e, FrameError::Garbled { .. }));
    assert!(Parser::frame(&buf[e.skip()..]).unwrap().is_some());
}

#[test]
fn bad_fields_get_the_reason_a_session_reject_needs() {
    let mut p = Parser::new();
    for (body, want) in [
        ("35=D|55=|", FieldError::Empty { tag: 55 }),
        ("35=D|5x5=A|", FieldError::BadTag { index: 3 }),
        ("35=D|055=A|", FieldError::BadTag { index: 3 }),
        ("35=D|55A|", FieldError::NoEquals { index: 3 }),
    ] {
        let m = msg(body);
        let (n, _) = Parser::frame(&m).unwrap().unwrap();
        assert_eq!(p.fields(&m, n).err(), Some(want), "{body}");
    }
}

proptest! {
    #[test]
    fn any_bytes_frame_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut p = Parser::new();
        match Parser::frame(&bytes) {
            Ok(Some((n, _))) => { let _ = p.fields(&bytes, n); }
            Ok(None) => {}
            Err(e) => prop_assert!(e.skip() > 0 && e.skip() <= bytes.len()),
        }
    }

    #[test]
    fn fields_written_are_the_fields_read(fields in proptest::collection::vec((1u32..10_000, "[ -~&&[^=]]{1,20}"), 1..30)) {
        let mut body = String::from("35=D\u{1}");
        for (t, v) in &fields {
            body.push_str(&format!("{t}={v}\u{1}"));
        }
        let mut m = Vec::new();
        encode("FIX.4.2", body.as_bytes(), &mut m);
        let (n, _) = Parser::frame(&m).unwrap().unwrap();
        let mut p = Parser::new();
        let msg = p.fields(&m, n).unwrap();
        let got: Vec<(u32, String)> = msg.fields().skip(3).take(fields.len()).map(|(t, v)| (t, String::from_utf8(v.to_vec()).unwrap())).collect();
        prop_assert_eq!(got, fields.iter().map(|(t, v)| (*t, v.clone())).collect::<Vec<_>>());
    }
}
