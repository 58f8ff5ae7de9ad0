//! JSON Lines and CSV parsed on several threads. One thread reads (and decompresses) the file and
//! cuts it into numbered blocks of whole records; worker threads parse blocks into events with
//! private interners; the consuming side takes the blocks back in file order and maps each
//! worker's ids to the stream's, so events, rejects, line numbers and ids are exactly those of the
//! one-thread readers. Channels are bounded: memory is a few blocks whatever the file's length.

use crate::ahead::Remapper;
use crate::read::{ends_in_quotes, jsonl_line, read_line_capped, too_long, CsvReader, EventReader, Item, MAX_LINE};
use crate::reject::RejectCode;
use crate::ReadError;
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;
use std::thread::JoinHandle;
use vigil_core::Interner;

/// Bytes of records in a block.
const BLOCK: usize = 256 << 10;

struct Block {
    index: u64,
    /// The number of the block's first line.
    first_line: u64,
    data: Vec<u8>,
    /// JSONL: where each line ends in `data`, and whether it was cut at [`MAX_LINE`].
    ends: Vec<(usize, bool)>,
    /// CSV: the block is one record cut at [`MAX_LINE`].
    long: bool,
}

enum Out {
    Parsed {
        index: u64,
        worker: usize,
        items: Vec<Item>,
    },
    /// The reading thread is done: this many blocks, and how the file ended.
    End {
        blocks: u64,
        result: Result<(), ReadError>,
    },
}

#[derive(Clone)]
enum Syntax {
    Jsonl,
    /// The column of each field, from the header.
    Csv(Arc<Vec<Option<usize>>>),
}

/// An [`EventReader`] that parses JSON Lines or CSV on several threads.
pub struct Parallel {
    file: Arc<str>,
    rx: Receiver<Out>,
    waiting: BTreeMap<u64, (usize, Vec<Item>)>,
    next_block: u64,
    cur: std::vec::IntoIter<Item>,
    cur_worker: usize,
    remaps: Vec<Remapper>,
    end: Option<(u64, Result<(), ReadError>)>,
    threads: Vec<JoinHandle<()>>,
}

impl Parallel {
    /// JSON Lines on `workers` parser threads.
    pub fn jsonl(r: Box<dyn BufRead + Send>, file: Arc<str>, workers: usize) -> Self {
        Self::start(r, file, workers, Syntax::Jsonl, 0)
    }

    /// CSV on `workers` parser threads; the header is read here, so a bad one is an error now.
    pub fn csv(mut r: Box<dyn BufRead + Send>, file: Arc<str>, workers: usize) -> Result<Self, ReadError> {
        let mut head = Vec::new();
        read_line_capped(&mut *r, &mut head, MAX_LINE).map_err(|e| ReadError::at(&file, 1, e))?;
        let map = CsvReader::new(&head[..], file.clone())?.columns().clone();
        Ok(Self::start(r, file, workers, Syntax::Csv(map), 1))
    }

    fn start(mut r: Box<dyn BufRead + Send>, file: Arc<str>, workers: usize, syntax: Syntax, lines_before: u64) -> Self {
        let workers = workers.max(1);
        let (work_tx, work_rx) = bounded::<Block>(2 * workers);
        let (out_tx, out_rx) = bounded::<Out>(2 * workers);
        let mut threads = Vec::new();
        let mut remaps = Vec::new();
        for w in 0..workers {
            let mut interner = Interner::new();
            remaps.push(Remapper::new(interner.names()));
            let (rx, tx, file, syntax) = (work_rx.clone(), out_tx.clone(), file.clone(), syntax.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("vigil-parse-{w}"))
                    .spawn(move || {
                        for b in rx.iter() {
                            let items = parse(&b, &syntax, &file, &mut interner);
                            if tx.send(Out::Parsed { index: b.index, worker: w, items }).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("spawn a parser thread"),
            );
        }
        drop(work_rx);
        let split_file = file.clone();
        let csv = matches!(syntax, Syntax::Csv(_));
        threads.push(
            std::thread::Builder::new()
                .name("vigil-split".into())
                .spawn(move || {
                    let (blocks, result) = split(&mut *r, &split_file, &work_tx, csv, lines_before);
                    drop(work_tx);
                    let _ = out_tx.send(Out::End { blocks, result });
                })
                .expect("spawn the splitter thread"),
        );
        Parallel { file, rx: out_rx, waiting: BTreeMap::new(), next_block: 0, cur: Vec::new().into_iter(), cur_worker: 0, remaps, end: None, threads }
    }
}

fn parse(b: &Block, syntax: &Syntax, file: &Arc<str>, interner: &mut Interner) -> Vec<Item> {
    match syntax {
        Syntax::Jsonl => {
            let mut items = Vec::with_capacity(b.ends.len());
            let mut start = 0;
            for (k, &(end, long)) in b.ends.iter().enumerate() {
                if let Some(item) = jsonl_line(file, b.first_line + k as u64, &b.data[start..end], long, interner) {
                    items.push(item);
                }
                start = end;
            }
            items
        }
        Syntax::Csv(_) if b.long => vec![too_long(file, b.first_line, RejectCode::InvalidCsv, &b.data)],
        Syntax::Csv(map) => {
            // The one-thread reader, on this block's records: the same rules, the same line numbers.
            let mut r = CsvReader::records(&b.data[..], file.clone(), map.clone(), b.first_line - 1);
            let mut items = Vec::new();
            while let Ok(Some(item)) = r.next(interner) {
                items.push(item);
            }
            items
        }
    }
}

/// Cuts the input into blocks of whole records (for CSV, a newline inside a quoted field does not
/// end a record). Returns how many blocks it sent, and how the input ended.
fn split(r: &mut dyn BufRead, file: &str, tx: &Sender<Block>, csv: bool, lines_before: u64) -> (u64, Result<(), ReadError>) {
    let (mut index, mut line) = (0u64, lines_before);
    let new_block = |index, first_line| Block { index, first_line, data: Vec::with_capacity(BLOCK + 4096), ends: Vec::new(), long: false };
    let mut b = new_block(index, line + 1);
    let mut in_quotes = false;
    // CSV: where the record being read started, in `b.data` and in lines.
    let (mut record_at, mut record_line) = (0usize, line + 1);
    // CSV: the first of the blank lines just read, which the `csv` crate numbers the next record by.
    let mut blank_from: Option<u64> = None;
    loop {
        if !in_quotes {
            (record_at, record_line) = (b.data.len(), blank_from.unwrap_or(line + 1));
        }
        let before = b.data.len();
        let (n, long) = match read_line_capped(r, &mut b.data, MAX_LINE) {
            Ok(x) => x,
            Err(e) => {
                if !b.data.is_empty() && tx.send(b).is_ok() {
                    index += 1;
                }
                return (index, Err(ReadError::at(file, line + 1, e)));
            }
        };
        if n == 0 {
            if !b.data.is_empty() && tx.send(b).is_ok() {
                index += 1;
            }
            return (index, Ok(()));
        }
        line += 1;
        if csv {
            if !in_quotes && matches!(&b.data[before..], b"\n" | b"\r\n") {
                blank_from.get_or_insert(line);
            } else if !in_quotes {
                blank_from = None;
            }
            if long {
                // The whole record is rejected as too long: the block so far goes, then the record.
                let cut = b.data.split_off(record_at);
                if !b.data.is_empty() {
                    if tx.send(b).is_err() {
                        return (index, Ok(()));
                    }
                    index += 1;
                }
                let mut lb = new_block(index, record_line);
                lb.data = cut[..cut.len().min(200)].to_vec();
                lb.long = true;
                if tx.send(lb).is_err() {
                    return (index, Ok(()));
                }
                index += 1;
                b = new_block(index, line + 1);
                in_quotes = false;
                continue;
            }
            in_quotes = ends_in_quotes(&b.data[before..], in_quotes);
        } else {
            b.ends.push((b.data.len(), long));
        }
        // A CSV block never ends on a blank line: the `csv` crate numbers a record after blank
        // lines from the first of them, and so must the block that holds the record.
        let blank = csv && matches!(&b.data[before..], b"\n" | b"\r\n");
        if b.data.len() >= BLOCK && !in_quotes && !blank {
            let full = std::mem::replace(&mut b, new_block(index + 1, line + 1));
            if tx.send(full).is_err() {
                return (index, Ok(()));
            }
            index += 1;
        }
    }
}

impl EventReader for Parallel {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        loop {
            if let Some(item) = self.cur.next() {
                return Ok(Some(self.remaps[self.cur_worker].item(item, interner)));
            }
            if let Some((worker, items)) = self.waiting.remove(&self.next_block) {
                self.next_block += 1;
                self.cur_worker = worker;
                self.cur = items.into_iter();
                continue;
            }
            if let Some((blocks, _)) = &self.end {
                let blocks = *blocks;
                if self.next_block >= blocks {
                    // Report how the file ended once; afterwards the reader is simply exhausted.
                    let (_, result) = self.end.replace((blocks, Ok(()))).expect("just seen");
                    return result.map(|_| None);
                }
            }
            match self.rx.recv() {
                Ok(Out::Parsed { index, worker, items }) => {
                    self.waiting.insert(index, (worker, items));
                }
                Ok(Out::End { blocks, result }) => self.end = Some((blocks, result)),
                Err(_) => return Err(ReadError::Format { file: self.file.to_string(), line: 0, msg: "a parser thread stopped".into() }),
            }
        }
    }
}

impl Drop for Parallel {
    fn drop(&mut self) {
        // Unblock the threads if they wait to send, then let them finish.
        let rx = std::mem::replace(&mut self.rx, bounded(0).1);
        drop(rx);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
