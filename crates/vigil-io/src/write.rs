//! Writers of the spec's JSON Lines and CSV, for `vigil convert`, generated data and tests.

use crate::decode::COLUMNS;
use std::io::{self, Write};
use vigil_core::{Event, EventKind, Names, Side};

/// The spec's event fields as text, in column order (`None` where the type has none).
pub(crate) fn columns(ev: &Event, names: &Names) -> [Option<String>; 20] {
    let mut c: [Option<String>; 20] = Default::default();
    c[0] = Some(ev.ts.0.to_string());
    c[1] = Some(ev.kind.event_type().as_str().to_string());
    if !ev.venue.is_none() {
        c[2] = Some(names.venue(ev.venue).to_string());
    }
    if !ev.symbol.is_none() {
        c[3] = Some(names.symbol(ev.symbol).to_string());
    }
    let acc = |a: Option<vigil_core::AccountId>| a.map(|a| names.account(a).to_string());
    let side = |s: Side| Some(s.as_str().to_string());
    match &ev.kind {
        EventKind::New(n) => {
            c[4] = Some(n.order_id.to_string());
            c[5] = acc(n.account);
            c[6] = side(n.side);
            c[7] = n.price.map(|p| p.to_string());
            c[8] = Some(n.qty.to_string());
        }
        EventKind::Amend(a) => {
            c[4] = Some(a.order_id.to_string());
            c[5] = acc(a.account);
            c[7] = a.price.map(|p| p.to_string());
            c[8] = a.qty.map(|q| q.to_string());
        }
        EventKind::Cancel(x) => {
            c[4] = Some(x.order_id.to_string());
            c[5] = acc(x.account);
        }
        EventKind::Trade(t) => {
            c[7] = Some(t.price.to_string());
            c[8] = Some(t.qty.to_string());
            c[9] = Some(t.trade_id.to_string());
            c[10] = acc(t.buy_account);
            c[11] = acc(t.sell_account);
            c[12] = t.buy_order_id.as_ref().map(|s| s.to_string());
            c[13] = t.sell_order_id.as_ref().map(|s| s.to_string());
            c[14] = t.aggressor.and_then(side);
        }
        EventKind::Quote(q) => {
            c[15] = q.bid.map(|p| p.to_string());
            c[16] = q.bid_qty.map(|p| p.to_string());
            c[17] = q.ask.map(|p| p.to_string());
            c[18] = q.ask_qty.map(|p| p.to_string());
        }
        EventKind::Account { account, owner } => {
            c[5] = Some(names.account(*account).to_string());
            c[19] = Some(names.owner(*owner).to_string());
        }
    }
    c
}

/// Which of the spec's formats to write.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OutFormat {
    Jsonl,
    Csv,
}

/// Writes events in one of the spec's formats.
pub struct EventWriter<W: Write> {
    w: W,
    format: OutFormat,
    started: bool,
}

impl<W: Write> EventWriter<W> {
    pub fn new(w: W, format: OutFormat) -> Self {
        EventWriter { w, format, started: false }
    }

    pub fn write(&mut self, ev: &Event, names: &Names) -> io::Result<()> {
        let c = columns(ev, names);
        match self.format {
            OutFormat::Jsonl => {
                let mut m = serde_json::Map::new();
                for (i, v) in c.into_iter().enumerate() {
                    if let Some(v) = v {
                        // ts is a number; decimals are strings so they stay exact anywhere.
                        let val = if i == 0 { serde_json::Value::Number(ev.ts.0.into()) } else { serde_json::Value::String(v) };
                        m.insert(COLUMNS[i].to_string(), val);
                    }
                }
                serde_json::to_writer(&mut self.w, &m)?;
                self.w.write_all(b"\n")
            }
            OutFormat::Csv => {
                if !self.started {
                    self.w.write_all(COLUMNS.join(",").as_bytes())?;
                    self.w.write_all(b"\n")?;
                    self.started = true;
                }
                for (i, v) in c.iter().enumerate() {
                    if i > 0 {
                        self.w.write_all(b",")?;
                    }
                    if let Some(v) = v {
                        if v.contains([',', '"', '\n', '\r']) {
                            write!(self.w, "\"{}\"", v.replace('"', "\"\""))?;
                        } else {
                            self.w.write_all(v.as_bytes())?;
                        }
                    }
                }
                self.w.write_all(b"\n")
            }
        }
    }

    pub fn into_inner(self) -> W {
        self.w
    }
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}
