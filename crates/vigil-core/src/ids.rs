//! Interned identifiers. Venues, symbols, accounts and owners are strings at the edges and dense
//! `u32` indices on the hot path, so per-instrument and per-account state lives in plain vectors.
//! Ids are handed out in first-seen order by the single thread that reads the input, so the same
//! input always gives the same ids. Order and trade ids are not interned: they are unbounded over a
//! long input, and the book forgets an order when it leaves.

use compact_str::CompactString;
use rustc_hash::FxHashMap;
use std::sync::{Arc, RwLock};

macro_rules! dense_id {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub struct $name(pub u32);
        impl $name {
            /// Stands for "absent" where an `Option` would cost space on the hot path.
            pub const NONE: $name = $name(u32::MAX);
            pub const fn is_none(self) -> bool {
                self.0 == u32::MAX
            }
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

dense_id!(VenueId, "An interned venue (`binance`).");
dense_id!(SymbolId, "An interned instrument symbol (`BTC-USDT`), the same on every venue.");
dense_id!(AccountId, "An interned trading account.");
dense_id!(OwnerId, "An interned beneficial owner.");

/// An order id as the venue wrote it: up to 24 bytes stay inline, without allocation.
pub type OrderKey = CompactString;
/// A trade id as the venue wrote it.
pub type TradeKey = CompactString;

/// One append-only table of names. Readers (shards building alert text) take a read lock only when
/// they format an alert, never per event.
#[derive(Default, Debug)]
pub struct NameTable {
    names: RwLock<Vec<Arc<str>>>,
}

impl NameTable {
    pub fn get(&self, i: u32) -> Arc<str> {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        names.get(i as usize).cloned().unwrap_or_else(|| Arc::from("?"))
    }
    pub fn len(&self) -> usize {
        self.names.read().unwrap_or_else(|e| e.into_inner()).len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn push(&self, s: &str) -> u32 {
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        names.push(Arc::from(s));
        (names.len() - 1) as u32
    }
}

/// The names behind every id, shared read-only with the engine's shards.
#[derive(Default, Debug)]
pub struct Names {
    pub venues: NameTable,
    pub symbols: NameTable,
    pub accounts: NameTable,
    pub owners: NameTable,
}

impl Names {
    pub fn venue(&self, v: VenueId) -> Arc<str> {
        self.venues.get(v.0)
    }
    pub fn symbol(&self, s: SymbolId) -> Arc<str> {
        self.symbols.get(s.0)
    }
    pub fn account(&self, a: AccountId) -> Arc<str> {
        self.accounts.get(a.0)
    }
    pub fn owner(&self, o: OwnerId) -> Arc<str> {
        self.owners.get(o.0)
    }
}

#[derive(Default, Debug)]
struct Map {
    ids: FxHashMap<CompactString, u32>,
    last: Option<(CompactString, u32)>,
}

impl Map {
    #[inline]
    fn intern(&mut self, s: &str, table: &NameTable) -> u32 {
        // Feeds repeat the same venue and symbol line after line: one comparison saves a hash.
        if let Some((k, v)) = &self.last {
            if k.as_str() == s {
                return *v;
            }
        }
        let id = match self.ids.get(s) {
            Some(&id) => id,
            None => {
                let id = table.push(s);
                self.ids.insert(CompactString::from(s), id);
                id
            }
        };
        self.last = Some((CompactString::from(s), id));
        id
    }
}

/// Hands out ids; owned by the one thread that reads input.
#[derive(Debug)]
pub struct Interner {
    names: Arc<Names>,
    venues: Map,
    symbols: Map,
    accounts: Map,
    owners: Map,
}

impl Default for Interner {
    fn default() -> Self {
        Self::new()
    }
}

impl Interner {
    pub fn new() -> Self {
        Interner { names: Arc::new(Names::default()), venues: Map::default(), symbols: Map::default(), accounts: Map::default(), owners: Map::default() }
    }
    /// The shared, read-only view of every name handed out so far.
    pub fn names(&self) -> Arc<Names> {
        self.names.clone()
    }
    pub fn venue(&mut self, s: &str) -> VenueId {
        VenueId(self.venues.intern(s, &self.names.venues))
    }
    pub fn symbol(&mut self, s: &str) -> SymbolId {
        SymbolId(self.symbols.intern(s, &self.names.symbols))
    }
    pub fn account(&mut self, s: &str) -> AccountId {
        AccountId(self.accounts.intern(s, &self.names.accounts))
    }
    pub fn owner(&mut self, s: &str) -> OwnerId {
        OwnerId(self.owners.intern(s, &self.names.owners))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_first_seen_ids() {
        let mut i = Interner::new();
        assert_eq!(i.symbol("BTC-USDT"), SymbolId(0));
        assert_eq!(i.symbol("ETH-USDT"), SymbolId(1));
        assert_eq!(i.symbol("BTC-USDT"), SymbolId(0));
        assert_eq!(i.account("A"), AccountId(0));
        let names = i.names();
        assert_eq!(&*names.symbol(SymbolId(1)), "ETH-USDT");
        assert_eq!(&*names.symbol(SymbolId(7)), "?");
        assert!(SymbolId::NONE.is_none());
    }
}
