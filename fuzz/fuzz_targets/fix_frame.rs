//! The FIX parser on any bytes: framing a stream of messages (skipping what it refuses) and
//! splitting each framed one never panics, never skips nothing, and never reads past the buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_fix::Parser;

fuzz_target!(|data: &[u8]| {
    let mut p = Parser::new();
    let mut at = 0;
    while at < data.len() {
        match Parser::frame(&data[at..]) {
            Ok(Some((n, trailer))) => {
                assert!(n <= data.len() - at && trailer + 4 <= n);
                // Any shorter prefix of a framed message is waited on, never framed or refused.
                assert_eq!(Parser::frame(&data[at..at + n - 1]), Ok(None));
                // Its checksum is right.
                let sum = data[at..at + trailer].iter().fold(0u32, |s, &b| s.wrapping_add(b as u32)) % 256;
                assert_eq!(&data[at + trailer..at + trailer + 3], b"10=");
                assert_eq!(std::str::from_utf8(&data[at + trailer + 3..at + n - 1]).ok().and_then(|v| v.parse::<u32>().ok()), Some(sum));
                if let Ok(m) = p.fields(&data[at..], n) {
                    for (tag, v) in m.fields() {
                        assert!(tag > 0 && !v.is_empty());
                    }
                }
                at += n;
            }
            Ok(None) => break,
            Err(e) => {
                let skip = e.skip();
                assert!(skip > 0 && skip <= data.len() - at, "{e}: skip {skip}");
                at += skip;
            }
        }
    }
});
