//! A runner for QuickFIX's session-level acceptance scripts (`shared/data/fix-acceptance`, format
//! in its README): it plays a script's client side over TCP against an acceptor and compares what
//! the acceptor sends with what the script expects. QuickFIX's suite (the QuickFIX Software
//! License; see `shared/data/fix-acceptance/LICENSE`) is the peer test a FIX engine is held to.

use crate::{Parser, SOH};
use regex::Regex;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One line of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Connect(u8),
    Disconnect(u8),
    /// A message to send, as written (`<TIME>` and the missing 9 and 10 filled in when sent).
    Send(u8, String),
    /// A message the acceptor must send next.
    Expect(u8, String),
    /// The acceptor must close the connection.
    ExpectDisconnect(u8),
}

/// Reads a script: one action per line, `#` comments, an optional `N,` connection number.
pub fn parse_script(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some(first) = t.chars().next() else { continue };
        let (kind, rest) = t.split_at(first.len_utf8());
        let (conn, body) = match rest.split_once(',') {
            Some((c, b)) if !c.is_empty() && c.bytes().all(|x| x.is_ascii_digit()) => (c.parse::<u8>().map_err(|e| format!("line {}: {e}", n + 1))?, b),
            _ => (1, rest),
        };
        steps.push(match (kind, body) {
            ("i", "CONNECT") => Step::Connect(conn),
            ("i", "DISCONNECT") => Step::Disconnect(conn),
            ("e", "DISCONNECT") => Step::ExpectDisconnect(conn),
            ("e", "CONNECT") => continue,
            ("I", m) => Step::Send(conn, m.to_string()),
            ("E", m) => Step::Expect(conn, m.to_string()),
            _ => return Err(format!("line {}: cannot read {line:?}", n + 1)),
        });
    }
    Ok(steps)
}

/// `YYYYMMDD-HH:MM:SS` of `secs` since the epoch (UTC).
pub fn fix_time(secs: i64) -> String {
    let (y, m, d) = vigil_core::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A script message made ready to send at `now` (seconds): `<TIME>`, `<TIME+n>`, `<TIME-n>`
/// replaced; BodyLength inserted after BeginString and CheckSum appended unless the line carries
/// them (a script may send wrong ones on purpose).
pub fn prepare(template: &str, now: i64) -> Vec<u8> {
    // Only `<TIME>` and `<TIME+n>` / `<TIME-n>`, as QuickFIX's runner reads them; anything else
    // is sent as written.
    let mut text = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find("<TIME") {
        text.push_str(&rest[..i]);
        let after = &rest[i + 5..];
        let token = after.find('>').map(|end| &after[..end]);
        let shift = match token {
            Some("") => Some(0),
            Some(t) if (t.starts_with('+') || t.starts_with('-')) && t.len() > 1 && t[1..].bytes().all(|b| b.is_ascii_digit()) => t.parse::<i64>().ok(),
            _ => None,
        };
        match (shift.and_then(|s| now.checked_add(s)), token) {
            (Some(at), Some(t)) => {
                text.push_str(&fix_time(at));
                rest = &after[t.len() + 1..];
            }
            _ => {
                text.push_str("<TIME");
                rest = after;
            }
        }
    }
    text.push_str(rest);
    let fields: Vec<&str> = text.split('\u{1}').filter(|f| !f.is_empty()).collect();
    let has = |tag: &str| fields.iter().any(|f| f.starts_with(tag));
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + 16);
    if has("9=") || fields.is_empty() {
        for f in &fields {
            out.extend_from_slice(f.as_bytes());
            out.push(SOH);
        }
    } else {
        out.extend_from_slice(fields[0].as_bytes());
        out.push(SOH);
        let body: Vec<u8> = fields[1..].iter().filter(|f| !f.starts_with("10=")).flat_map(|f| f.bytes().chain(std::iter::once(SOH))).collect();
        out.extend_from_slice(format!("9={}", body.len()).as_bytes());
        out.push(SOH);
        out.extend_from_slice(&body);
        if let Some(ten) = fields.iter().find(|f| f.starts_with("10=")) {
            out.extend_from_slice(ten.as_bytes());
            out.push(SOH);
        }
    }
    if !has("10=") {
        let sum = out.iter().fold(0u32, |s, &b| s.wrapping_add(b as u32)) % 256;
        out.extend_from_slice(format!("10={sum:03}").as_bytes());
        out.push(SOH);
    }
    out
}

/// The fields whose values need only match a pattern (`fields.fmt`: `tag=regex` a line).
#[derive(Debug, Default)]
pub struct Patterns(Vec<(u32, Regex)>);

impl Patterns {
    pub fn parse(text: &str) -> Result<Patterns, String> {
        let mut v = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (tag, re) = line.split_once('=').ok_or_else(|| format!("fields.fmt line {}: no '='", n + 1))?;
            let tag: u32 = tag.trim().parse().map_err(|_| format!("fields.fmt line {}: tag {tag:?}", n + 1))?;
            // Matched anywhere in the value, as QuickFIX's comparator does (`regexp === value`).
            let re = Regex::new(re).map_err(|e| format!("fields.fmt line {}: {e}", n + 1))?;
            v.push((tag, re));
        }
        Ok(Patterns(v))
    }
    fn get(&self, tag: u32) -> Option<&Regex> {
        self.0.iter().find(|(t, _)| *t == tag).map(|(_, r)| r)
    }
}

fn split(m: &[u8]) -> Vec<(u32, String)> {
    m.split(|&b| b == SOH)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let s = String::from_utf8_lossy(f);
            match s.split_once('=') {
                Some((t, v)) => (t.parse().unwrap_or(0), v.to_string()),
                None => (0, s.into_owned()),
            }
        })
        .collect()
}

/// Compares a received message with an expected one, field by field in order; patterned tags need
/// only match their pattern. The error names the first difference.
pub fn compare(expected: &str, got: &[u8], pats: &Patterns) -> Result<(), String> {
    let want = split(expected.as_bytes());
    let have = split(got);
    for (i, (w, h)) in want.iter().zip(&have).enumerate() {
        if w.0 != h.0 {
            return Err(format!("field {i}: expected tag {} got tag {}", w.0, h.0));
        }
        let ok = match pats.get(w.0) {
            Some(re) => re.is_match(&h.1),
            None => w.1 == h.1,
        };
        if !ok {
            return Err(format!("tag {}: expected {:?} got {:?}", w.0, w.1, h.1));
        }
    }
    if want.len() != have.len() {
        return Err(format!("expected {} fields, got {}", want.len(), have.len()));
    }
    Ok(())
}

/// One client connection of a run, with what it has read and not yet used.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Closes our side and waits (up to the read timeout) for the acceptor to close its side, so
    /// the session is free for the next script.
    fn close(mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let mut chunk = [0u8; 4096];
        while let Ok(k) = self.stream.read(&mut chunk) {
            if k == 0 {
                break;
            }
        }
    }

    /// The next message, or `Ok(None)` when the acceptor closed the connection.
    fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            match Parser::frame(&self.buf) {
                Ok(Some((n, _))) => return Ok(Some(self.buf.drain(..n).collect())),
                Ok(None) => {}
                Err(e) => return Err(format!("the acceptor sent a malformed message: {e}")),
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                // Closed with our data unread: a disconnect too.
                Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted) => return Ok(None),
                Err(e) => return Err(format!("waiting for the acceptor: {e}")),
            }
        }
    }
}

/// Plays a script against the acceptor at `addr`; `now` gives the current time in seconds.
pub fn run(steps: &[Step], addr: &str, pats: &Patterns, timeout: Duration, now: &dyn Fn() -> i64) -> Result<(), String> {
    let mut conns: Vec<(u8, Conn)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let at = |e: String| format!("step {} ({step:?}): {e}", i + 1);
        let conn = |conns: &mut Vec<(u8, Conn)>, c: u8| -> Result<usize, String> {
            conns.iter().position(|(n, _)| *n == c).ok_or_else(|| format!("connection {c} is not open"))
        };
        match step {
            Step::Connect(c) => {
                let stream = TcpStream::connect(addr).map_err(|e| at(format!("connect: {e}")))?;
                stream.set_read_timeout(Some(timeout)).map_err(|e| at(e.to_string()))?;
                stream.set_nodelay(true).map_err(|e| at(e.to_string()))?;
                conns.retain(|(n, _)| n != c);
                conns.push((*c, Conn { stream, buf: Vec::new() }));
            }
            Step::Disconnect(c) => {
                let k = conn(&mut conns, *c).map_err(at)?;
                conns.remove(k).1.close();
            }
            Step::Send(c, m) => {
                let k = conn(&mut conns, *c).map_err(at)?;
                let bytes = prepare(&m.replace('|', "\u{1}"), now());
                conns[k].1.stream.write_all(&bytes).map_err(|e| at(format!("send: {e}")))?;
            }
            Step::Expect(c, m) => {
                let k = conn(&mut conns, *c).map_err(at)?;
                let got = conns[k].1.next().map_err(at)?.ok_or_else(|| at("the acceptor closed the connection".into()))?;
                // Expected lines are prepared like sent ones (a missing 9 or 10 filled in).
                let want = String::from_utf8_lossy(&prepare(&m.replace('|', "\u{1}"), now())).into_owned();
                compare(&want, &got, pats).map_err(|e| at(format!("{e}; received {}", String::from_utf8_lossy(&got).replace('\u{1}', "|"))))?;
            }
            Step::ExpectDisconnect(c) => {
                let k = conn(&mut conns, *c).map_err(at)?;
                match conns[k].1.next().map_err(at)? {
                    None => {
                        conns.remove(k);
                    }
                    Some(m) => return Err(at(format!("expected a disconnect, received {}", String::from_utf8_lossy(&m).replace('\u{1}', "|")))),
                }
            }
        }
    }
    for (_, c) in conns {
        c.close();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_reads_into_steps() {
        let s = "# comment\n\niCONNECT\nI8=FIX.4.4|35=A|34=1|\nE8=FIX.4.4|9=5|35=A|10=0|\ni2,CONNECT\nI2,8=FIX.4.4|35=0|\neDISCONNECT\n";
        let steps = parse_script(s).unwrap();
        assert_eq!(
            steps,
            [
                Step::Connect(1),
                Step::Send(1, "8=FIX.4.4|35=A|34=1|".into()),
                Step::Expect(1, "8=FIX.4.4|9=5|35=A|10=0|".into()),
                Step::Connect(2),
                Step::Send(2, "8=FIX.4.4|35=0|".into()),
                Step::ExpectDisconnect(1),
            ]
        );
        assert!(parse_script("xWHAT\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn a_prepared_message_has_the_right_length_checksum_and_time() {
        let now = 1_767_621_600; // 2026-01-05T14:00:00Z
        let m = prepare("8=FIX.4.4\u{1}35=A\u{1}34=1\u{1}52=<TIME>\u{1}122=<TIME-5>\u{1}", now);
        let (n, _) = Parser::frame(&m).expect("well framed").expect("whole");
        assert_eq!(n, m.len());
        let text = String::from_utf8(m).unwrap();
        assert!(text.contains("52=20260105-14:00:00\u{1}") && text.contains("122=20260105-13:59:55\u{1}"), "{text}");
        // Malformed time tokens are sent as written.
        let odd = String::from_utf8(prepare("8=FIX.4.4\u{1}35=0\u{1}58=<TIMEx>\u{1}59=<TIME\u{1}", now)).unwrap();
        assert!(odd.contains("58=<TIMEx>\u{1}59=<TIME\u{1}"), "{odd}");
        // A script's own (wrong) BodyLength and CheckSum are kept.
        let bad = prepare("8=FIX.4.4\u{1}9=999\u{1}35=0\u{1}10=001\u{1}", now);
        assert_eq!(String::from_utf8(bad).unwrap(), "8=FIX.4.4\u{1}9=999\u{1}35=0\u{1}10=001\u{1}");
    }

    #[test]
    fn received_messages_are_compared_field_by_field_with_patterns() {
        let pats = Patterns::parse("10=\\d{3}\n52=\\d{8}-\\d{2}:\\d{2}:\\d{2}|\\d{8}-\\d{2}:\\d{2}:\\d{2}[.]\\d{3}\n").unwrap();
        // Unanchored, as QuickFIX matches: a 122 with milliseconds matches the seconds pattern.
        let p122 = Patterns::parse("122=\\d{8}-\\d{2}:\\d{2}:\\d{2}").unwrap();
        assert!(compare("122=x\u{1}", b"122=20260105-14:00:00.000\x01", &p122).is_ok());
        let want = "8=FIX.4.4\u{1}9=5\u{1}35=0\u{1}52=00000000-00:00:00.000\u{1}10=0\u{1}";
        assert!(compare(want, b"8=FIX.4.4\x019=5\x0135=0\x0152=20260105-14:00:00.123\x0110=201\x01", &pats).is_ok());
        let e = compare(want, b"8=FIX.4.4\x019=5\x0135=1\x0152=20260105-14:00:00.123\x0110=201\x01", &pats).unwrap_err();
        assert!(e.contains("tag 35"), "{e}");
        let e = compare(want, b"8=FIX.4.4\x019=5\x0135=0\x0152=2026-01-05\x0110=201\x01", &pats).unwrap_err();
        assert!(e.contains("tag 52"), "{e}");
        let e = compare(want, b"8=FIX.4.4\x019=5\x0135=0\x0152=20260105-14:00:00\x0158=x\x0110=201\x01", &pats).unwrap_err();
        assert!(e.contains("expected tag 10 got tag 58"), "{e}");
    }

    #[test]
    fn every_script_of_the_suite_reads() {
        let dir = std::env::var("VIGIL_DATA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
        let base = dir.join("fix-acceptance");
        let pats = Patterns::parse(&std::fs::read_to_string(base.join("fields.fmt")).unwrap()).unwrap();
        assert_eq!(pats.0.len(), 5);
        let mut counts = Vec::new();
        for v in ["fix42", "fix44"] {
            let mut n = 0;
            for e in std::fs::read_dir(base.join(v)).unwrap() {
                let p = e.unwrap().path();
                let text = std::fs::read_to_string(&p).unwrap();
                let steps = parse_script(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert!(steps.iter().any(|s| matches!(s, Step::Expect(..) | Step::ExpectDisconnect(_))), "{}", p.display());
                n += 1;
            }
            counts.push(n);
        }
        assert_eq!(counts, [58, 59]);
    }
}
