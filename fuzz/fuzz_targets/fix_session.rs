//! The FIX session layer on any bytes after a Logon: every message the framer finds goes to a
//! logged-on session in production mode, which never panics, and whose sequence numbers only
//! grow while it stays connected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use vigil_fix::dict::Dictionary;
use vigil_fix::session::{Action, MemoryStore, Session, SessionConfig};
use vigil_fix::Parser;

const NOW: i64 = 1_767_621_600_000;

fn dict() -> Arc<Dictionary> {
    static D: OnceLock<Arc<Dictionary>> = OnceLock::new();
    D.get_or_init(|| Arc::new(Dictionary::builtin("FIX.4.4").unwrap())).clone()
}

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new(SessionConfig::new("FIX.4.4", "VIGIL", "BRK"), dict(), Box::new(MemoryStore::default()));
    s.on_connect(NOW);
    let logon = "35=A\u{1}34=1\u{1}49=BRK\u{1}52=20260105-14:00:00.000\u{1}56=VIGIL\u{1}98=0\u{1}108=30\u{1}";
    let mut raw = Vec::new();
    vigil_fix::encode("FIX.4.4", logon.as_bytes(), &mut raw);
    s.on_message(&raw, NOW);
    assert!(s.is_logged_on());
    let mut at = 0;
    let mut now = NOW;
    while at < data.len() {
        match Parser::frame(&data[at..]) {
            Ok(Some((n, _))) => {
                let before = s.seqnums();
                let actions = s.on_message(&data[at..at + n], now);
                if !actions.iter().any(|a| matches!(a, Action::Disconnect(_))) {
                    let after = s.seqnums();
                    assert!(after.0 >= before.0 && after.1 >= before.1, "{before:?} -> {after:?}");
                }
                if !s.is_logged_on() {
                    return;
                }
                at += n;
                now += 1;
                s.on_timer(now);
            }
            Ok(None) => break,
            Err(e) => at += e.skip(),
        }
    }
});
