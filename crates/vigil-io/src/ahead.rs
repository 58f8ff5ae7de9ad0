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

/// Maps the ids a thread's private interner handed out to the stream's ids, name by name, the
/// first time each is seen on the consuming side.
pub struct Remapper {
    local: Arc<Names>,
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
    remap: Remapper,
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
        ReadAhead { file, rx, cur: Vec::new().into_iter(), end: None, remap: Remapper::new(local), handle: Some(handle) }
    }
}

impl Remapper {
    pub fn new(local: Arc<Names>) -> Self {
        Remapper { local, venues: Vec::new(), symbols: Vec::new(), accounts: Vec::new(), owners: Vec::new() }
    }

    /// An item with its event's ids rewritten (rejects carry no ids).
    pub fn item(&mut self, mut item: Item, interner: &mut Interner) -> Item {
        if let Item::Event(ev) = &mut item {
            self.apply(ev, interner);
        }
        item
    }

    /// Rewrites the event's ids from the private table's to the stream's.
    pub fn apply(&mut self, ev: &mut Event, interner: &mut Interner) {
        let local = &self.local;
        if !ev.venue.is_none() {
            ev.venue = VenueId(map(&mut self.venues, ev.venue.0, || interner.venue(&local.venues.get(ev.venue.0)).0));
        }
        if !ev.symbol.is_none() {
            ev.symbol = SymbolId(map(&mut self.symbols, ev.symbol.0, || interner.symbol(&local.symbols.get(ev.symbol.0)).0));
        }
        let accounts = &mut self.accounts;
        let mut acc = |a: &mut Option<AccountId>, interner: &mut Interner| {
            if let Some(x) = a {
                *x = AccountId(map(accounts, x.0, || interner.account(&local.accounts.get(x.0)).0));
            }
        };
        match &mut ev.kind {
            EventKind::New(n) => acc(&mut n.account, interner),
            EventKind::Amend(a) => acc(&mut a.account, interner),
            EventKind::Cancel(c) => acc(&mut c.account, interner),
            EventKind::Trade(t) => {
                acc(&mut t.buy_account, interner);
                acc(&mut t.sell_account, interner);
            }
            EventKind::Quote(_) => {}
            EventKind::Account { account, owner } => {
                let mut a = Some(*account);
                acc(&mut a, interner);
                *account = a.unwrap_or(*account);
                *owner = OwnerId(map(&mut self.owners, owner.0, || interner.owner(&local.owners.get(owner.0)).0));
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
            if let Some(item) = self.cur.next() {
                return Ok(Some(self.remap.item(item, interner)));
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
