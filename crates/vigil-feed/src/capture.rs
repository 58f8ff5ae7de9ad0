//! Recorded websocket traffic in cryptofeed's capture form (`shared/data/exchange-ws`), one
//! message a line: `<url> <-> <ts>` a connection opened, `<url> <- <ts>: <json>` a message the
//! client sent, `<ts>: <json>` a message received, `<ts>` in seconds since the epoch.
//!
//! [`CaptureReader`] replays a capture through a venue's connector, so `vigil replay --format
//! capture` runs the engine on recorded traffic exactly as `vigil start` would have live, and with
//! `--completeness` checks it as `vigil start` would have (on the capture's receive times).

use crate::{Clock, Emit, Notice, Venue};
use std::collections::VecDeque;
use std::sync::Arc;
use vigil_core::{Interner, Ts};
use vigil_io::reject::{Reject, RejectCode};
use vigil_io::{EventReader, Item, ReadError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Open { url: String, ts: Ts },
    Sent { url: String, ts: Ts, text: String },
    Received { ts: Ts, text: String },
}

/// Reads one line of a capture; `None` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Line>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let ts = |s: &str| crate::seconds_to_ts(s.trim()).ok_or_else(|| format!("{s:?} is not a time in seconds since the epoch"));
    if let Some((url, t)) = line.split_once(" <-> ") {
        return Ok(Some(Line::Open { url: url.to_string(), ts: ts(t)? }));
    }
    if let Some((url, rest)) = line.split_once(" <- ") {
        let (t, text) = rest.split_once(": ").ok_or("a sent message without `<ts>: `")?;
        return Ok(Some(Line::Sent { url: url.to_string(), ts: ts(t)?, text: text.to_string() }));
    }
    let (t, text) = line.split_once(": ").ok_or("neither `<url> <-> <ts>`, `<url> <- <ts>: <json>` nor `<ts>: <json>`")?;
    Ok(Some(Line::Received { ts: ts(t)?, text: text.to_string() }))
}

/// The venue a capture file's name says (`KRAKEN.ws.50.0` → `kraken`), among the three connectors.
pub fn venue_of(path: &str) -> Option<&'static str> {
    let name = path.rsplit(['/', '\\']).next()?.to_ascii_lowercase();
    let stem = name.split('.').next()?;
    crate::VENUES.into_iter().find(|v| *v == stem)
}

/// Every line of a capture file.
pub fn read(path: &str) -> Result<Vec<Line>, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Open { file: path.to_string(), source })?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match parse_line(l) {
            Ok(Some(x)) => out.push(x),
            Ok(None) => {}
            Err(msg) => return Err(ReadError::Format { file: path.to_string(), line: i as u64 + 1, msg }),
        }
    }
    Ok(out)
}

/// What replaying a capture found, besides the events.
#[derive(Debug, Default)]
pub struct Replayed {
    pub messages: u64,
    pub notices: Vec<Notice>,
}

/// `vigil replay --format capture`: a capture of one of the three venues, through its connector.
/// A received message the connector cannot read is a reject naming its line; the REST snapshots
/// Binance's book needs are not in a capture, so its books stay unsynced (its trades and tickers
/// are still read).
pub struct CaptureReader {
    file: Arc<str>,
    venue: Box<dyn Venue>,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    line: u64,
    pending: VecDeque<Item>,
    events: Vec<vigil_core::Event>,
    clock: Clock,
    pub replayed: Replayed,
    /// Data-completeness checks on the capture's own receive times, where asked for.
    pub monitor: Option<crate::health::Monitor>,
    opens: u32,
}

impl CaptureReader {
    pub fn open(path: &str) -> Result<Self, ReadError> {
        let venue = venue_of(path).ok_or_else(|| ReadError::Format {
            file: path.to_string(),
            line: 0,
            msg: "a capture's file name starts with its venue (BINANCE.…, COINBASE.…, KRAKEN.…)".into(),
        })?;
        let f = std::fs::File::open(path).map_err(|source| ReadError::Open { file: path.to_string(), source })?;
        use std::io::BufRead;
        Ok(CaptureReader {
            file: Arc::from(path),
            venue: crate::venue(venue, &[]).map_err(|msg| ReadError::Format { file: path.to_string(), line: 0, msg })?,
            lines: std::io::BufReader::new(f).lines(),
            line: 0,
            pending: VecDeque::new(),
            events: Vec::new(),
            clock: Clock::default(),
            replayed: Replayed::default(),
            monitor: None,
            opens: 0,
        })
    }
}

impl EventReader for CaptureReader {
    fn file(&self) -> &Arc<str> {
        &self.file
    }
    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        loop {
            if let Some(x) = self.pending.pop_front() {
                return Ok(Some(x));
            }
            let Some(l) = self.lines.next() else { return Ok(None) };
            self.line += 1;
            let l = l.map_err(|e| ReadError::at(&self.file, self.line, e))?;
            let reject = |reason: String, raw: &str| {
                Item::Reject(Reject { file: self.file.clone(), line: self.line, field: None, code: RejectCode::InvalidJson, reason, raw: raw.to_string() })
            };
            match parse_line(&l) {
                Ok(Some(Line::Received { ts, text })) => {
                    self.replayed.messages += 1;
                    let mut notices = Vec::new();
                    let mut emit = Emit::new(interner, &mut self.events, &mut notices);
                    let read = self.venue.on_message(&text, ts, &mut emit);
                    let sent = emit.sent;
                    if let Some(m) = &mut self.monitor {
                        if read.is_ok() && (!self.events.is_empty() || sent.is_some()) {
                            m.message(ts);
                        }
                    }
                    if let Err(reason) = read {
                        self.events.clear();
                        if let Some(m) = &mut self.monitor {
                            m.rejected(ts, &reason, &text);
                        }
                        return Ok(Some(reject(reason, &text)));
                    }
                    if let Some(m) = &mut self.monitor {
                        if let Some((symbol, at)) = sent {
                            m.sent(symbol, at, ts, &interner.names());
                        }
                        for n in &notices {
                            m.notice(n, ts);
                        }
                    }
                    self.replayed.notices.extend(notices);
                    self.clock.stamp(&mut self.events);
                    self.pending.extend(self.events.drain(..).map(Item::Event));
                }
                Ok(Some(Line::Open { ts, .. })) => {
                    self.venue.on_connect();
                    self.opens += 1;
                    if let Some(m) = &mut self.monitor {
                        if self.opens > 1 {
                            m.lost(ts);
                            m.reconnect(ts, "the capture opens a new connection", self.opens - 1, 0);
                        }
                        m.connected(ts);
                    }
                }
                Ok(_) => {}
                Err(reason) => return Ok(Some(reject(reason, &l))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            parse_line("wss://ws.kraken.com <-> 1618678132.3858151").unwrap(),
            Some(Line::Open { url: "wss://ws.kraken.com".into(), ts: Ts(1_618_678_132_385_815_100) })
        );
        assert!(matches!(parse_line("wss://x <- 1.5: {\"a\":1}").unwrap(), Some(Line::Sent { text, .. }) if text == "{\"a\":1}"));
        assert!(matches!(parse_line("1.25: [1,{\"a\": 2}]").unwrap(), Some(Line::Received { ts: Ts(1_250_000_000), text }) if text == "[1,{\"a\": 2}]"));
        assert_eq!(parse_line("").unwrap(), None);
        assert!(parse_line("garbage").is_err());
        assert_eq!(venue_of("/d/KRAKEN.ws.50.0"), Some("kraken"));
        assert_eq!(venue_of("/d/GEMINI.ws.1.0"), None);
    }
}
