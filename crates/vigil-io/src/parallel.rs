//! JSON Lines parsed on several threads. One thread reads (and decompresses) the file and cuts it
//! into blocks of whole lines; worker threads parse blocks into events with private interners; the
//! consuming side takes the blocks back in file order and maps each worker's ids to the stream's,
//! so events, rejects, line numbers and ids are exactly those of the one-thread reader. Channels
//! are bounded: memory is a few blocks whatever the file's length.

use crate::ahead::Remapper;
use crate::read::{jsonl_line, read_line_capped, EventReader, Item, MAX_LINE};
use crate::ReadError;
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;
use std::thread::JoinHandle;
use vigil_core::Interner;

/// Bytes of lines in a block.
const BLOCK: usize = 256 << 10;

struct Block {
    index: u64,
    /// The number of the block's first line.
    first_line: u64,
    data: Vec<u8>,
    /// Where each line ends in `data`, and whether it was cut at [`MAX_LINE`].
    ends: Vec<(usize, bool)>,
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

/// An [`EventReader`] for JSON Lines that parses on `workers` threads.
pub struct ParallelJsonl {
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

impl ParallelJsonl {
    pub fn new(mut r: Box<dyn BufRead + Send>, file: Arc<str>, workers: usize) -> Self {
        let workers = workers.max(1);
        let (work_tx, work_rx) = bounded::<Block>(2 * workers);
        let (out_tx, out_rx) = bounded::<Out>(2 * workers);
        let mut threads = Vec::new();
        let mut remaps = Vec::new();
        for w in 0..workers {
            let mut interner = Interner::new();
            remaps.push(Remapper::new(interner.names()));
            let (rx, tx, file) = (work_rx.clone(), out_tx.clone(), file.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("vigil-parse-{w}"))
                    .spawn(move || {
                        for b in rx.iter() {
                            let mut items = Vec::with_capacity(b.ends.len());
                            let mut start = 0;
                            for (k, &(end, long)) in b.ends.iter().enumerate() {
                                if let Some(item) = jsonl_line(&file, b.first_line + k as u64, &b.data[start..end], long, &mut interner) {
                                    items.push(item);
                                }
                                start = end;
                            }
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
        threads.push(
            std::thread::Builder::new()
                .name("vigil-split".into())
                .spawn(move || {
                    let result = split(&mut *r, &split_file, &work_tx);
                    drop(work_tx);
                    let _ = out_tx.send(Out::End { blocks: result.as_ref().map_or_else(|(n, _)| *n, |n| *n), result: result.map(|_| ()).map_err(|(_, e)| e) });
                })
                .expect("spawn the splitter thread"),
        );
        ParallelJsonl { file, rx: out_rx, waiting: BTreeMap::new(), next_block: 0, cur: Vec::new().into_iter(), cur_worker: 0, remaps, end: None, threads }
    }
}

/// Cuts the input into blocks of whole lines; returns how many blocks it sent.
fn split(r: &mut dyn BufRead, file: &str, tx: &Sender<Block>) -> Result<u64, (u64, ReadError)> {
    let (mut index, mut line) = (0u64, 0u64);
    loop {
        let mut b = Block { index, first_line: line + 1, data: Vec::with_capacity(BLOCK + 4096), ends: Vec::with_capacity(BLOCK / 100) };
        let mut eof = false;
        while b.data.len() < BLOCK {
            match read_line_capped(r, &mut b.data, MAX_LINE) {
                Ok((0, _)) => {
                    eof = true;
                    break;
                }
                Ok((_, long)) => {
                    line += 1;
                    b.ends.push((b.data.len(), long));
                }
                Err(e) => {
                    if !b.ends.is_empty() && tx.send(b).is_ok() {
                        index += 1;
                    }
                    return Err((index, ReadError::at(file, line + 1, e)));
                }
            }
        }
        if !b.ends.is_empty() {
            if tx.send(b).is_err() {
                return Ok(index);
            }
            index += 1;
        }
        if eof {
            return Ok(index);
        }
    }
}

impl EventReader for ParallelJsonl {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        loop {
            if let Some(mut item) = self.cur.next() {
                if let Item::Event(ev) = &mut item {
                    self.remaps[self.cur_worker].apply(ev, interner);
                }
                return Ok(Some(item));
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

impl Drop for ParallelJsonl {
    fn drop(&mut self) {
        // Unblock the threads if they wait to send, then let them finish.
        let rx = std::mem::replace(&mut self.rx, bounded(0).1);
        drop(rx);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
