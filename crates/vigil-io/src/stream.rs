//! From files to one ordered stream: each file's events are put back in time order within a
//! tolerance (network jitter) and later ones rejected; several files are merged by event time; a
//! trade id seen twice on a venue is rejected; every event gets its place in the stream (`seq`).

use crate::read::{EventReader, Item};
use crate::reject::{Reject, RejectCode, RejectSink};
use crate::ReadError;
use std::collections::VecDeque;
use std::sync::Arc;
use vigil_core::time::format_duration;
use vigil_core::{Event, EventKind, Interner, Ts};
use xxhash_rust::xxh3::Xxh3;

/// Holds events back by `tolerance` of event time and releases them in `(ts, arrival)` order.
/// Input that is already in order costs one comparison an event.
pub struct Reorder {
    tolerance: i64,
    max_ts: Ts,
    buf: VecDeque<Event>,
    /// Events that arrived out of order but within the tolerance.
    pub reordered: u64,
}

impl Reorder {
    pub fn new(tolerance_ns: i64) -> Self {
        Reorder { tolerance: tolerance_ns.max(0), max_ts: Ts::MIN, buf: VecDeque::new(), reordered: 0 }
    }

    /// Takes an event, or gives it back with the reason it is too late.
    pub fn push(&mut self, ev: Event) -> Result<(), Box<(Event, String)>> {
        if ev.ts >= self.max_ts {
            self.max_ts = ev.ts;
            self.buf.push_back(ev);
            return Ok(());
        }
        let late = self.max_ts.0.saturating_sub(ev.ts.0);
        if late > self.tolerance {
            let reason = format!(
                "{} earlier than an event already read (ts {}), beyond the {} reorder tolerance",
                format_duration(late),
                self.max_ts.0,
                format_duration(self.tolerance)
            );
            return Err(Box::new((ev, reason)));
        }
        self.reordered += 1;
        let at = self.buf.partition_point(|e| e.ts <= ev.ts);
        self.buf.insert(at, ev);
        Ok(())
    }

    /// The next event no later arrival can precede.
    #[inline]
    pub fn pop_ready(&mut self) -> Option<Event> {
        let front = self.buf.front()?;
        if front.ts.0 <= self.max_ts.0.saturating_sub(self.tolerance) {
            self.buf.pop_front()
        } else {
            None
        }
    }

    /// At the end of input, everything held.
    pub fn pop_any(&mut self) -> Option<Event> {
        self.buf.pop_front()
    }
}

/// Remembers trade ids per venue and symbol for a span of event time (and at most `max` of them), so that
/// memory stays bounded on an input of any length while a feed's replayed trades are still caught.
pub struct TradeDedup {
    window: i64,
    max: usize,
    seen: rustc_hash::FxHashSet<u128>,
    order: VecDeque<(Ts, u128)>,
}

impl TradeDedup {
    pub fn new(window_ns: i64, max: usize) -> Self {
        TradeDedup { window: window_ns, max: max.max(1), seen: Default::default(), order: VecDeque::new() }
    }

    /// `false` if the venue already had this trade id for this symbol within the window.
    pub fn check(&mut self, ev: &Event) -> bool {
        let EventKind::Trade(t) = &ev.kind else {
            return true;
        };
        // Venues number trades per instrument (Binance, Coinbase, LOBSTER rows), so the id is
        // unique within a venue and symbol.
        let mut h = Xxh3::new();
        h.update(&ev.venue.0.to_le_bytes());
        h.update(&ev.symbol.0.to_le_bytes());
        h.update(t.trade_id.as_bytes());
        let key = h.digest128();
        while let Some(&(ts, k)) = self.order.front() {
            if ts.0 < ev.ts.0.saturating_sub(self.window) || self.order.len() >= self.max {
                self.order.pop_front();
                self.seen.remove(&k);
            } else {
                break;
            }
        }
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back((ev.ts, key));
        true
    }
}

/// How the stream treats time and duplicates.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Events up to this much earlier than the latest are put back in order.
    pub reorder_tolerance_ns: i64,
    /// How long a trade id is remembered for the duplicate check.
    pub dedup_window_ns: i64,
    /// At most this many trade ids are remembered.
    pub dedup_max_ids: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions { reorder_tolerance_ns: 5_000_000, dedup_window_ns: 600_000_000_000, dedup_max_ids: 2_000_000 }
    }
}

struct Input {
    reader: Box<dyn EventReader>,
    reorder: Reorder,
    done: bool,
    head: Option<Event>,
}

/// Counters of the stream, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Events accepted and passed on.
    pub events: u64,
    /// Records read (events and rejects).
    pub records: u64,
    pub reordered: u64,
}

/// An accepted event written back as a JSON line, to keep it in the reject file.
fn as_line(ev: &Event, interner: &Interner) -> String {
    let mut w = crate::write::EventWriter::new(Vec::new(), crate::write::OutFormat::Jsonl);
    let _ = w.write(ev, &interner.names());
    String::from_utf8_lossy(w.into_inner().trim_ascii_end()).into_owned()
}

/// Every input file, merged into one event-time stream.
pub struct EventStream {
    inputs: Vec<Input>,
    pub interner: Interner,
    pub rejects: RejectSink,
    dedup: TradeDedup,
    seq: u64,
    stats: StreamStats,
    errors: Vec<ReadError>,
}

impl EventStream {
    pub fn new(readers: Vec<Box<dyn EventReader>>, opts: &StreamOptions, interner: Interner, rejects: RejectSink) -> Self {
        let inputs = readers.into_iter().map(|reader| Input { reader, reorder: Reorder::new(opts.reorder_tolerance_ns), done: false, head: None }).collect();
        EventStream {
            inputs,
            interner,
            rejects,
            dedup: TradeDedup::new(opts.dedup_window_ns, opts.dedup_max_ids),
            seq: 0,
            stats: StreamStats::default(),
            errors: Vec::new(),
        }
    }

    pub fn stats(&self) -> StreamStats {
        let mut s = self.stats.clone();
        s.reordered = self.inputs.iter().map(|i| i.reorder.reordered).sum();
        s
    }

    /// Files that could not be read to their end. Such a file ends at the error: what was read of
    /// it is processed, and the other files go on.
    pub fn errors(&self) -> &[ReadError] {
        &self.errors
    }

    /// Fills input `i`'s head with its next in-order event, if it has one.
    fn fill(&mut self, i: usize) {
        let input = &mut self.inputs[i];
        while input.head.is_none() {
            if let Some(ev) = input.reorder.pop_ready() {
                input.head = Some(ev);
                break;
            }
            if input.done {
                input.head = input.reorder.pop_any();
                break;
            }
            let item = match input.reader.next(&mut self.interner) {
                Ok(item) => item,
                Err(e) => {
                    self.errors.push(e);
                    None
                }
            };
            match item {
                None => input.done = true,
                Some(Item::Reject(r)) => {
                    self.stats.records += 1;
                    self.rejects.push(r);
                }
                Some(Item::Event(ev)) => {
                    self.stats.records += 1;
                    if let Err(late) = input.reorder.push(ev) {
                        let (ev, reason) = *late;
                        self.rejects.push(Reject {
                            file: input.reader.file().clone(),
                            line: ev.seq,
                            field: Some("ts"),
                            code: RejectCode::OutOfOrder,
                            reason,
                            raw: as_line(&ev, &self.interner),
                        });
                    }
                }
            }
        }
    }

    /// The next event in event-time order, or `None` when every input is exhausted. A file that
    /// fails part-way ends there and is listed in [`EventStream::errors`].
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let mut best: Option<usize> = None;
            for i in 0..self.inputs.len() {
                self.fill(i);
                if let Some(h) = &self.inputs[i].head {
                    if best.is_none_or(|b| h.ts < self.inputs[b].head.as_ref().map_or(Ts::MAX, |e| e.ts)) {
                        best = Some(i);
                    }
                }
            }
            let b = best?;
            let mut ev = self.inputs[b].head.take().expect("head was just seen");
            if !self.dedup.check(&ev) {
                let EventKind::Trade(t) = &ev.kind else { unreachable!("only trades are deduplicated") };
                let reason = format!("trade id {:?} was already seen for this symbol on this venue", t.trade_id.as_str());
                let raw = as_line(&ev, &self.interner);
                self.rejects.push(Reject {
                    file: self.inputs[b].reader.file().clone(),
                    line: ev.seq,
                    field: Some("trade_id"),
                    code: RejectCode::DuplicateTradeId,
                    reason,
                    raw,
                });
                continue;
            }
            self.seq += 1;
            ev.seq = self.seq;
            self.stats.events += 1;
            return Some(ev);
        }
    }

    /// The shared table of names behind the ids of this stream's events.
    pub fn names(&self) -> Arc<vigil_core::Names> {
        self.interner.names()
    }
}
