//! Reading ahead on a thread of its own: a file is read and parsed on one thread while the engine
//! works on another. The reader thread interns names into its own table; the consuming side maps
//! them to the stream's ids as it takes the events, in stream order, so the ids stay deterministic
//! whatever the threads' timing.

use crate::read::{EventReader, Item};
use crate::ReadError;
use crossbeam_channel::{bounded, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use vigil_core::{AccountId, Event, EventKind, Interner, Names, OwnerId, SymbolId, VenueId};

const CHUNK: usize = 1024;

struct Chunk {
    items: Vec<Item>,
    /// Set on the last chunk: how the file ended.
    end: Option<Result<(), ReadError>>,
}

/// Local id → stream id, per kind of name.
#[derive(Default)]
struct Remap {
    venues: Vec<u32>,
    symbols: Vec<u32>,
    accounts: Vec<u32>,
    owners: Vec<u32>,
}

#[inline]
fn map(table: &mut Vec<u32>, local: u32, global: impl FnOnce() -> u32) -> u32 {
    let i = local as usize;
    if i >= table.len() {
        table.resize(i + 1, u32::MAX);
    }
    if table[i] == u32::MAX {
        table[i] = global();
    }
    table[i]
}

/// An [`EventReader`] that runs another on its own thread.
pub struct ReadAhead {
    file: Arc<str>,
    rx: Receiver<Chunk>,
    cur: std::vec::IntoIter<Item>,
    end: Option<Result<(), ReadError>>,
    local: Arc<Names>,
    remap: Remap,
    handle: Option<JoinHandle<()>>,
}

impl ReadAhead {
    pub fn new(mut inner: Box<dyn EventReader>) -> Self {
        let file = inner.file().clone();
        let mut interner = Interner::new();
        let local = interner.names();
        let (tx, rx) = bounded::<Chunk>(8);
        let handle = std::thread::Builder::new()
            .name("vigil-read".into())
            .spawn(move || loop {
                let mut items = Vec::with_capacity(CHUNK);
                let mut end = None;
                while items.len() < CHUNK {
                    match inner.next(&mut interner) {
                        Ok(Some(i)) => items.push(i),
                        Ok(None) => {
                            end = Some(Ok(()));
                            break;
                        }
                        Err(e) => {
                            end = Some(Err(e));
                            break;
                        }
                    }
                }
                let last = end.is_some();
                if tx.send(Chunk { items, end }).is_err() || last {
                    return;
                }
            })
            .expect("spawn a reader thread");
        ReadAhead { file, rx, cur: Vec::new().into_iter(), end: None, local, remap: Remap::default(), handle: Some(handle) }
    }

    fn remap(&mut self, ev: &mut Event, interner: &mut Interner) {
        let (local, r) = (&self.local, &mut self.remap);
        if !ev.venue.is_none() {
            ev.venue = VenueId(map(&mut r.venues, ev.venue.0, || interner.venue(&local.venues.get(ev.venue.0)).0));
        }
        if !ev.symbol.is_none() {
            ev.symbol = SymbolId(map(&mut r.symbols, ev.symbol.0, || interner.symbol(&local.symbols.get(ev.symbol.0)).0));
        }
        let mut acc = |a: &mut Option<AccountId>| {
            if let Some(x) = a {
                *x = AccountId(map(&mut r.accounts, x.0, || interner.account(&local.accounts.get(x.0)).0));
            }
        };
        match &mut ev.kind {
            EventKind::New(n) => acc(&mut n.account),
            EventKind::Amend(a) => acc(&mut a.account),
            EventKind::Cancel(c) => acc(&mut c.account),
            EventKind::Trade(t) => {
                acc(&mut t.buy_account);
                acc(&mut t.sell_account);
            }
            EventKind::Quote(_) => {}
            EventKind::Account { account, owner } => {
                let mut a = Some(*account);
                acc(&mut a);
                *account = a.unwrap_or(*account);
                *owner = OwnerId(map(&mut r.owners, owner.0, || interner.owner(&local.owners.get(owner.0)).0));
            }
        }
    }
}

impl EventReader for ReadAhead {
    fn file(&self) -> &Arc<str> {
        &self.file
    }

    fn next(&mut self, interner: &mut Interner) -> Result<Option<Item>, ReadError> {
        loop {
            if let Some(mut item) = self.cur.next() {
                if let Item::Event(ev) = &mut item {
                    self.remap(ev, interner);
                }
                return Ok(Some(item));
            }
            if let Some(end) = self.end.take() {
                // Report the end once; afterwards the reader is exhausted.
                self.end = Some(Ok(()));
                return end.map(|_| None);
            }
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk.items.into_iter();
                    self.end = chunk.end;
                }
                Err(_) => {
                    // The thread ended without saying how: it panicked.
                    let panicked = self.handle.take().map(|h| h.join().is_err()).unwrap_or(false);
                    return Err(ReadError::Format {
                        file: self.file.to_string(),
                        line: 0,
                        msg: if panicked { "the reader thread failed".into() } else { "the reader thread stopped".into() },
                    });
                }
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Unblock the thread if it is waiting to send, then let it finish.
        let rx = std::mem::replace(&mut self.rx, bounded(0).1);
        drop(rx);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
