//! QuickFIX's session-level acceptance suite (`shared/data/fix-acceptance`: all 58 FIX 4.2 and
//! all 59 FIX 4.4 server scripts) played over TCP against the acceptor in its test mode, as
//! QuickFIX plays it against itself. The QuickFIX Software License asks for its acknowledgement:
//! this product includes software developed by quickfixengine.org (http://www.quickfixengine.org/).
//!
//! `VIGIL_FIX_SCRIPT=2m` runs only the scripts whose names contain `2m`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vigil_fix::acceptance::{parse_script, run, Patterns};
use vigil_fix::acceptor::{wall_ms, Acceptor, NoApp};
use vigil_fix::dict::Dictionary;
use vigil_fix::session::{MemoryStore, Session, SessionConfig};

fn data() -> PathBuf {
    std::env::var("VIGIL_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("fix-acceptance")
}

fn session(begin: &str, client: &str, dict: &str) -> Session {
    let dict = Dictionary::load(data().join("spec").join(dict).to_str().unwrap()).unwrap();
    let mut cfg = SessionConfig::new(begin, "ISLD", client);
    cfg.reset_on_logon = true;
    cfg.echo = true;
    cfg.allow_user_fields = false;
    Session::new(cfg, Arc::new(dict), Box::new(MemoryStore::default()))
}

#[test]
fn quickfix_acceptance_suite_passes_for_fix42_and_fix44() {
    let acceptor = Acceptor::new(vec![session("FIX.4.2", "TW42", "FIX42.xml"), session("FIX.4.4", "TW44", "FIX44.xml")], Arc::new(NoApp));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || acceptor.serve(listener));
    let pats = Arc::new(Patterns::parse(&std::fs::read_to_string(data().join("fields.fmt")).unwrap()).unwrap());
    let only = std::env::var("VIGIL_FIX_SCRIPT").ok();
    // The two versions are two sessions: their scripts run side by side, each version's in order.
    let handles: Vec<_> = ["fix42", "fix44"]
        .into_iter()
        .map(|v| {
            let (addr, pats, only) = (addr.clone(), pats.clone(), only.clone());
            std::thread::spawn(move || {
                let mut paths: Vec<PathBuf> = std::fs::read_dir(data().join(v)).unwrap().map(|e| e.unwrap().path()).collect();
                paths.sort();
                let mut passed = 0;
                let mut failed = Vec::new();
                for p in paths {
                    let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                    if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
                        continue;
                    }
                    let steps = parse_script(&std::fs::read_to_string(&p).unwrap()).unwrap();
                    match run(&steps, &addr, &pats, Duration::from_secs(15), &|| wall_ms() / 1000) {
                        Ok(()) => passed += 1,
                        Err(e) => failed.push(format!("{v}/{name}: {e}")),
                    }
                }
                (v, passed, failed)
            })
        })
        .collect();
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for h in handles {
        let (v, passed, failed) = h.join().unwrap();
        eprintln!("{v}: {passed} scripts passed, {} failed", failed.len());
        counts.push(passed);
        failures.extend(failed);
    }
    assert!(failures.is_empty(), "{} scripts failed:\n{}", failures.len(), failures.join("\n"));
    if only.is_none() {
        assert_eq!(counts, [58, 59]);
    }
}
