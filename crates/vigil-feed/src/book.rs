//! A venue's L2 book as a feed rebuilds it: price level → size, each side ordered, and the level
//! orders that carry every change of it into the engine.

use compact_str::{format_compact, CompactString};
use std::collections::BTreeMap;
use vigil_core::{Cancel, EventKind, NewOrder, Price, Qty, Side};

/// The order id of the level order of `side` at `price`: `L2:b:50123.5` or `L2:a:50124` (the price
/// as `Price` displays it, written here without the formatting machinery: this is on every book change).
pub fn level_id(side: Side, price: Price) -> CompactString {
    let mut buf = [0u8; 48];
    buf[..5].copy_from_slice(if side == Side::Buy { b"L2:b:" } else { b"L2:a:" });
    let mut n = 5;
    let a = price.0.unsigned_abs();
    if price.0 < 0 {
        buf[n] = b'-';
        n += 1;
    }
    n += write_u64(&mut buf[n..], a / 100_000_000);
    let mut frac = a % 100_000_000;
    if frac != 0 {
        let mut width = 8;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        buf[n] = b'.';
        n += 1;
        for i in (0..width).rev() {
            buf[n + i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        n += width;
    }
    CompactString::from_utf8(&buf[..n]).unwrap_or_else(|_| format_compact!("{price}"))
}

/// "00", "01", … "99": two digits at a time halve the divisions.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Writes `x` in decimal at the start of `out` (which must hold 20 bytes), returning the length.
#[inline]
pub fn write_u64(out: &mut [u8], mut x: u64) -> usize {
    let len = x.checked_ilog10().map_or(1, |l| l as usize + 1);
    let mut i = len;
    while x >= 100 {
        let r = (x % 100) as usize * 2;
        x /= 100;
        i -= 2;
        out[i] = PAIRS[r];
        out[i + 1] = PAIRS[r + 1];
    }
    if x >= 10 {
        let r = x as usize * 2;
        out[i - 2] = PAIRS[r];
        out[i - 1] = PAIRS[r + 1];
    } else {
        out[i - 1] = b'0' + x as u8;
    }
    len
}

/// One symbol's book: fixed-point price → fixed-point size, both sides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    pub bids: BTreeMap<i64, i64>,
    pub asks: BTreeMap<i64, i64>,
}

/// The best bid and ask, each (price, size).
pub type Top = (Option<(i64, i64)>, Option<(i64, i64)>);

impl Book {
    pub fn side(&self, side: Side) -> &BTreeMap<i64, i64> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, i64> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    pub fn top(&self) -> Top {
        (self.bids.iter().next_back().map(|(p, q)| (*p, *q)), self.asks.iter().next().map(|(p, q)| (*p, *q)))
    }

    /// Sets the size at a level (0 removes it) and gives the level order's event, if the book changed.
    pub fn set(&mut self, side: Side, price: Price, qty: Qty) -> Option<EventKind> {
        let levels = self.side_mut(side);
        if qty.0 <= 0 {
            levels.remove(&price.0)?;
            return Some(EventKind::Cancel(Cancel { order_id: level_id(side, price), account: None, hint: None }));
        }
        match levels.insert(price.0, qty.0) {
            None => Some(EventKind::New(NewOrder { order_id: level_id(side, price), account: None, side, price: Some(price), qty })),
            Some(old) if old == qty.0 => None,
            Some(_) => Some(EventKind::Amend(vigil_core::Amend { order_id: level_id(side, price), account: None, price: None, qty: Some(qty), hint: None })),
        }
    }

    /// Replaces the book by `new`, giving the level orders' events that take the old book to the new
    /// (a merge of the two sorted sides: levels gone, levels changed, levels new, in price order).
    pub fn replace(&mut self, new: Book, out: &mut Vec<EventKind>) {
        for side in [Side::Buy, Side::Sell] {
            let (old, new) = (self.side(side), new.side(side));
            let (mut a, mut b) = (old.iter().peekable(), new.iter().peekable());
            loop {
                let (pa, pb) = (a.peek().map(|x| *x.0), b.peek().map(|x| *x.0));
                match (pa, pb) {
                    (None, None) => break,
                    (Some(p), Some(q)) if p == q => {
                        let (_, &qty_old) = a.next().expect("peeked");
                        let (_, &qty) = b.next().expect("peeked");
                        if qty != qty_old {
                            let id = level_id(side, Price(p));
                            out.push(EventKind::Amend(vigil_core::Amend { order_id: id, account: None, price: None, qty: Some(Qty(qty)), hint: None }));
                        }
                    }
                    (Some(p), q) if q.is_none_or(|q| p < q) => {
                        a.next();
                        out.push(EventKind::Cancel(Cancel { order_id: level_id(side, Price(p)), account: None, hint: None }));
                    }
                    (_, Some(q)) => {
                        let (_, &qty) = b.next().expect("peeked");
                        out.push(EventKind::New(NewOrder { order_id: level_id(side, Price(q)), account: None, side, price: Some(Price(q)), qty: Qty(qty) }));
                    }
                    (Some(_), None) => unreachable!("handled above"),
                }
            }
        }
        *self = new;
    }

    /// Empties the book, cancelling every level order.
    pub fn clear(&mut self, out: &mut Vec<EventKind>) {
        self.replace(Book::default(), out);
    }

    /// Keeps the `depth` best levels of each side, cancelling the rest (a venue's book of depth N
    /// is its N best levels: a level pushed beyond them is no longer reported).
    pub fn truncate(&mut self, depth: usize, out: &mut Vec<EventKind>) {
        while self.bids.len() > depth {
            let (p, _) = self.bids.pop_first().expect("longer than depth");
            out.push(EventKind::Cancel(Cancel { order_id: level_id(Side::Buy, Price(p)), account: None, hint: None }));
        }
        while self.asks.len() > depth {
            let (p, _) = self.asks.pop_last().expect("longer than depth");
            out.push(EventKind::Cancel(Cancel { order_id: level_id(Side::Sell, Price(p)), account: None, hint: None }));
        }
    }

    /// The best `n` levels of a side, best first.
    pub fn best(&self, side: Side, n: usize) -> Vec<(i64, i64)> {
        match side {
            Side::Buy => self.bids.iter().rev().take(n).map(|(p, q)| (*p, *q)).collect(),
            Side::Sell => self.asks.iter().take(n).map(|(p, q)| (*p, *q)).collect(),
        }
    }
}

/// A quote event of a book's top, if it is not the one last given.
pub fn quote_if_changed(before: Top, book: &Book) -> Option<EventKind> {
    let now = book.top();
    if now == before {
        return None;
    }
    let (bid, ask) = now;
    Some(EventKind::Quote(vigil_core::Quote {
        bid: bid.map(|b| Price(b.0)),
        bid_qty: bid.map(|b| Qty(b.1)),
        ask: ask.map(|a| Price(a.0)),
        ask_qty: ask.map(|a| Qty(a.1)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    #[test]
    fn level_ids_write_prices_as_price_displays_them() {
        for raw in [0i64, 1, 10, 100_000_000, 150_000_000, 5_012_350_000_000, 2772, -250_000_000, i64::MAX, i64::MIN + 1, 123_456_789] {
            assert_eq!(level_id(Side::Buy, Price(raw)), format!("L2:b:{}", Price(raw)), "{raw}");
            assert_eq!(level_id(Side::Sell, Price(raw)), format!("L2:a:{}", Price(raw)), "{raw}");
        }
    }

    #[test]
    fn digits() {
        let mut buf = [0u8; 20];
        for x in [0u64, 7, 10, 99, 100, 101, 12_345, 1_000_000, 98_765_432_109, u64::MAX] {
            let n = write_u64(&mut buf, x);
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), x.to_string());
        }
    }

    #[test]
    fn levels_become_orders() {
        let mut b = Book::default();
        assert!(matches!(b.set(Side::Buy, p("100.5"), q("2")), Some(EventKind::New(n)) if n.order_id == "L2:b:100.5" && n.qty == q("2")));
        assert!(b.set(Side::Buy, p("100.50"), q("2.0")).is_none(), "the same size is no change");
        assert!(matches!(b.set(Side::Buy, p("100.5"), q("3")), Some(EventKind::Amend(a)) if a.qty == Some(q("3"))));
        assert!(matches!(b.set(Side::Buy, p("100.5"), q("0")), Some(EventKind::Cancel(c)) if c.order_id == "L2:b:100.5"));
        assert!(b.set(Side::Sell, p("101"), q("0")).is_none(), "removing an unknown level changes nothing");
        assert!(b.is_empty());
    }

    #[test]
    fn replace_and_truncate_give_the_difference() {
        let mut b = Book::default();
        let mut out = Vec::new();
        for (px, sz) in [("99", "1"), ("98", "1"), ("97", "1")] {
            b.set(Side::Buy, p(px), q(sz));
        }
        let mut new = Book::default();
        new.bids.insert(p("99").0, q("5").0);
        new.bids.insert(p("96").0, q("1").0);
        b.replace(new.clone(), &mut out);
        assert_eq!(b, new);
        let kinds: Vec<&str> = out.iter().map(|k| k.event_type().as_str()).collect();
        assert_eq!(kinds, vec!["new", "cancel", "cancel", "amend"], "in price order: 96 new, 97 and 98 gone, 99 changed");
        out.clear();
        b.truncate(1, &mut out);
        assert_eq!(b.best(Side::Buy, 5), vec![(p("99").0, q("5").0)]);
        assert!(matches!(&out[..], [EventKind::Cancel(c)] if c.order_id == "L2:b:96"));
        let before = b.top();
        assert!(quote_if_changed(before, &b).is_none());
        b.set(Side::Sell, p("100"), q("1"));
        assert!(matches!(quote_if_changed(before, &b), Some(EventKind::Quote(qt)) if qt.ask == Some(p("100")) && qt.bid == Some(p("99"))));
    }
}
