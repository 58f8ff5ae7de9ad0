//! Surveillance of the surveillance: evidence that ingestion was complete, or exactly where it
//! was not. A [`Monitor`] watches one feed and writes a record when
//! - the feed is silent for longer than its configured gap (`feed_silent`: once while it lasts,
//!   and again with its whole length when data resumes);
//! - a venue's sequence numbers or trade ids skip (`sequence_gap`);
//! - a venue's book fails its checksum (`checksum_mismatch`);
//! - the time a venue says it sent a message and the time it arrived drift apart by more than the
//!   configured skew (`clock_skew`, at most one record a minute per symbol, with the count since
//!   the last);
//! - the connection drops and is made again (`reconnect`), or the venue reports an error
//!   (`venue_error`), or a message cannot be read (`rejected_message`).
//!
//! Records are JSON lines (`vigil start --completeness FILE`), apart from the alerts: the alert
//! types are the spec's contract, and these are about the feed, not the market.

use crate::Notice;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::io::Write;
use vigil_core::{Names, SymbolId, Ts};

/// One finding about the feed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Record {
    /// When it was found, on the receive clock (ns).
    pub ts: i64,
    pub kind: &'static str,
    pub venue: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub description: String,
    pub evidence: serde_json::Value,
}

/// Limits of one feed.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Silence longer than this is a gap in the feed.
    pub max_silence_ns: i64,
    /// Event time this far from receive time, either way, is clock skew.
    pub max_skew_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_silence_ns: 30_000_000_000, max_skew_ns: 2_000_000_000 }
    }
}

struct Skew {
    reported: i64,
    since: u64,
    max_ns: i64,
}

pub struct Monitor {
    venue: String,
    pub limits: Limits,
    last_message: Option<Ts>,
    /// When the current connection was made.
    armed: Option<Ts>,
    /// Since when data has been missing, when a silence or a lost connection was seen.
    outage_from: Option<Ts>,
    silent_reported: bool,
    skew: FxHashMap<SymbolId, Skew>,
    pub records: Vec<Record>,
    pub counts: FxHashMap<&'static str, u64>,
    out: Option<Box<dyn Write + Send>>,
    pub write_error: Option<std::io::Error>,
    /// Keep records in memory as well as writing them (tests, summaries).
    pub keep: bool,
}

const MINUTE: i64 = 60_000_000_000;

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

impl Monitor {
    pub fn new(venue: &str, limits: Limits, out: Option<Box<dyn Write + Send>>) -> Self {
        Monitor {
            venue: venue.to_string(),
            limits,
            last_message: None,
            armed: None,
            outage_from: None,
            silent_reported: false,
            skew: FxHashMap::default(),
            records: Vec::new(),
            counts: FxHashMap::default(),
            out,
            write_error: None,
            keep: true,
        }
    }

    pub fn count(&self, kind: &str) -> u64 {
        self.counts.get(kind).copied().unwrap_or(0)
    }

    fn record(&mut self, ts: Ts, kind: &'static str, symbol: Option<String>, description: String, evidence: serde_json::Value) {
        *self.counts.entry(kind).or_default() += 1;
        let r = Record { ts: ts.0, kind, venue: self.venue.clone(), symbol, description, evidence };
        if let (Some(out), None) = (&mut self.out, &self.write_error) {
            let res = serde_json::to_writer(&mut *out, &r).map_err(std::io::Error::from).and_then(|_| out.write_all(b"\n")).and_then(|_| out.flush());
            if let Err(e) = res {
                // Said at once, and nothing more is written (no torn line after it).
                eprintln!("vigil: cannot write the {} completeness records: {e}", self.venue);
                self.write_error = Some(e);
            }
        }
        if self.keep {
            self.records.push(r);
        }
    }

    /// Market data arrived at `recv`. A silence before it longer than the limit is a gap; an
    /// outage already reported while it lasted (or a lost connection) is reported again now that
    /// its whole length is known, from the last data before it, across reconnects.
    pub fn message(&mut self, recv: Ts) {
        if let Some(from) = self.outage_from.take() {
            if recv.0.saturating_sub(from.0) > self.limits.max_silence_ns || self.silent_reported {
                self.silent(from, recv, true);
            }
        } else if let Some(from) = self.last_message.max(self.armed) {
            if recv.0.saturating_sub(from.0) > self.limits.max_silence_ns {
                self.silent(from, recv, true);
            }
        }
        self.last_message = Some(recv);
        self.silent_reported = false;
    }

    /// A connection was made at `now`: the silence watch of this connection starts from it.
    pub fn connected(&mut self, now: Ts) {
        self.armed = Some(now);
        self.silent_reported = false;
    }

    /// The connection was lost at `now`: the outage runs from the last data (or now).
    pub fn lost(&mut self, now: Ts) {
        if self.outage_from.is_none() {
            self.outage_from = Some(self.last_message.unwrap_or(now));
        }
    }

    /// The client itself stood still for `stood_ns` (a blocking fetch) until `now`: that is not
    /// the feed's silence, so the watch starts again from now.
    pub fn resume(&mut self, now: Ts, stood_ns: i64) {
        if stood_ns > 0 {
            self.armed = Some(now);
        }
    }

    /// How long the feed has been silent at `now` (since the last data, or the connection if later).
    pub fn silence(&self, now: Ts) -> i64 {
        self.last_message.max(self.armed).map_or(0, |from| now.0.saturating_sub(from.0))
    }

    /// Nothing has arrived by `now`: reports the silence once per connection, when it passes the limit.
    pub fn waiting(&mut self, now: Ts) -> bool {
        let Some(from) = self.last_message.max(self.armed) else { return false };
        if now.0.saturating_sub(from.0) > self.limits.max_silence_ns && !self.silent_reported {
            self.silent(from, now, false);
            self.silent_reported = true;
            if self.outage_from.is_none() {
                self.outage_from = Some(self.last_message.unwrap_or(from));
            }
            return true;
        }
        false
    }

    fn silent(&mut self, from: Ts, to: Ts, ended: bool) {
        let gap = to.0.saturating_sub(from.0);
        let limit = secs(self.limits.max_silence_ns);
        let desc = if ended {
            format!("The {} feed was silent for {:.1} s from {from} to {to}, longer than its {limit:.0} s limit.", self.venue, secs(gap))
        } else {
            format!("The {} feed has been silent for {:.1} s since {from}, longer than its {limit:.0} s limit.", self.venue, secs(gap))
        };
        let ev = serde_json::json!({"silent_s": secs(gap), "limit_s": limit, "since": from.to_string(), "seen_at": to.to_string(), "ended": ended});
        self.record(to, "feed_silent", None, desc, ev);
    }

    /// A message of `symbol` the venue says it sent at `sent` arrived at `recv`: beyond the
    /// limit either way, that is clock skew (or latency), recorded at most once a minute per symbol.
    pub fn sent(&mut self, symbol: SymbolId, sent: Ts, recv: Ts, names: &Names) {
        let skew = recv.0.saturating_sub(sent.0);
        if skew.saturating_abs() <= self.limits.max_skew_ns {
            return;
        }
        let s = self.skew.entry(symbol).or_insert(Skew { reported: i64::MIN, since: 0, max_ns: 0 });
        s.since += 1;
        if skew.saturating_abs() > s.max_ns.saturating_abs() {
            s.max_ns = skew;
        }
        if s.reported != i64::MIN && recv.0.saturating_sub(s.reported) < MINUTE {
            return;
        }
        let (since, max_ns) = (s.since, s.max_ns);
        s.reported = recv.0;
        s.since = 0;
        s.max_ns = 0;
        let sym = names.symbol(symbol).to_string();
        let desc = format!(
            "{} {sym}: a message sent at {sent} was received at {recv}, {:.3} s apart, beyond the {:.1} s limit ({since} messages since the last report, the largest {:.3} s).",
            self.venue,
            secs(skew),
            secs(self.limits.max_skew_ns),
            secs(max_ns)
        );
        let ev = serde_json::json!({"skew_s": secs(skew), "limit_s": secs(self.limits.max_skew_ns), "messages": since, "max_skew_s": secs(max_ns), "sent_ts": sent.0, "receive_ts": recv.0});
        self.record(recv, "clock_skew", Some(sym), desc, ev);
    }

    /// What a venue's messages said about the feed.
    pub fn notice(&mut self, n: &Notice, recv: Ts) {
        match n {
            Notice::Gap { symbol, stream, expected, got } => {
                let lost = got.saturating_sub(*expected);
                let desc = format!("{} {symbol}: the {stream} stream skipped from {expected} to {got}: {lost} lost.", self.venue);
                let ev = serde_json::json!({"stream": stream, "expected": expected, "got": got, "lost": lost});
                self.record(recv, "sequence_gap", Some(symbol.clone()), desc, ev);
            }
            Notice::Checksum { symbol, expected, computed } => {
                let desc = format!(
                    "{} {symbol}: the venue's book checksum {expected} does not match the rebuilt book's {computed}; the book is requested afresh.",
                    self.venue
                );
                let ev = serde_json::json!({"expected": expected, "computed": computed});
                self.record(recv, "checksum_mismatch", Some(symbol.clone()), desc, ev);
            }
            Notice::VenueError { message } => {
                let desc = format!("{} reported an error: {message}", self.venue);
                self.record(recv, "venue_error", None, desc, serde_json::json!({"message": message}));
            }
            Notice::NeedSnapshot { .. } | Notice::Resubscribe { .. } => {}
        }
    }

    pub fn reconnect(&mut self, now: Ts, reason: &str, attempt: u32, backoff_ms: u64) {
        let desc = format!("The {} connection was lost ({reason}); reconnecting, attempt {attempt}, after {backoff_ms} ms.", self.venue);
        let ev = serde_json::json!({"reason": reason, "attempt": attempt, "backoff_ms": backoff_ms});
        self.record(now, "reconnect", None, desc, ev);
    }

    pub fn rejected(&mut self, now: Ts, reason: &str, raw: &str) {
        let desc = format!("A {} message could not be read: {reason}", self.venue);
        let raw: String = raw.chars().take(500).collect();
        self.record(now, "rejected_message", None, desc, serde_json::json!({"reason": reason, "raw": raw}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Interner;

    #[test]
    fn silence_skew_and_gaps_are_recorded() {
        let mut m = Monitor::new("kraken", Limits { max_silence_ns: 10_000_000_000, max_skew_ns: 1_000_000_000 }, None);
        m.message(Ts(0));
        m.message(Ts(5_000_000_000));
        assert!(!m.waiting(Ts(14_000_000_000)));
        assert!(m.waiting(Ts(16_000_000_000)));
        assert!(!m.waiting(Ts(20_000_000_000)), "reported once");
        m.message(Ts(21_000_000_000));
        assert_eq!(m.count("feed_silent"), 2, "reported while it lasted, and again with its whole length");
        assert_eq!(m.records[1].evidence["silent_s"], 16.0);
        assert_eq!(m.records[1].evidence["ended"], true);
        m.message(Ts(40_000_000_000));
        assert_eq!(m.count("feed_silent"), 3);
        // A new connection that never speaks is watched from when it was made.
        m.connected(Ts(50_000_000_000));
        assert_eq!(m.silence(Ts(55_000_000_000)), 5_000_000_000);
        assert!(m.waiting(Ts(61_000_000_000)));
        // It is cut and made again; data comes at 75 s: one outage from the last data, at 40 s.
        m.lost(Ts(62_000_000_000));
        m.connected(Ts(74_000_000_000));
        let n = m.count("feed_silent");
        m.message(Ts(75_000_000_000));
        assert_eq!(m.count("feed_silent"), n + 1);
        assert_eq!(m.records.last().unwrap().evidence["silent_s"], 35.0);
        // A connection lost and made again at once, data within the limit: no silence.
        m.lost(Ts(76_000_000_000));
        m.connected(Ts(76_500_000_000));
        m.message(Ts(77_000_000_000));
        assert_eq!(m.count("feed_silent"), n + 1);

        let mut i = Interner::new();
        let s = i.symbol("BTC-USD");
        let names = i.names();
        m.sent(s, Ts(99_500_000_000), Ts(100_000_000_000), &names);
        assert_eq!(m.count("clock_skew"), 0);
        m.sent(s, Ts(97_000_000_000), Ts(100_000_000_000), &names);
        m.sent(s, Ts(96_000_000_000), Ts(100_000_000_000), &names);
        assert_eq!(m.count("clock_skew"), 1, "one record a minute per symbol");
        m.sent(s, Ts(157_000_000_000), Ts(161_000_000_000), &names);
        assert_eq!(m.count("clock_skew"), 2);
        let last = m.records.last().unwrap();
        assert_eq!(last.evidence["messages"], 2, "the message held back and this one");
        assert_eq!(last.evidence["max_skew_s"], 4.0);

        m.notice(&Notice::Gap { symbol: "XBT/USD".into(), stream: "trades", expected: 5, got: 9 }, Ts(1));
        assert_eq!(m.records.last().unwrap().evidence["lost"], 4);
        assert!(m.records.last().unwrap().description.contains("skipped from 5 to 9"));
    }
}
