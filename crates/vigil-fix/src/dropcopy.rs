//! A drop copy's application messages as the spec's events (`shared/spec/events.md`), one JSON
//! line each, for the same ingest path as webhooks and files.
//!
//! | FIX | event |
//! |---|---|
//! | NewOrderSingle (D) | `new`: ClOrdID (11), Account (1), Side (54), Price (44, none for OrdType 1 market), OrderQty (38) |
//! | OrderCancelRequest (F), OrderCancelReplaceRequest (G) | once the session has carried ExecutionReports: nothing, a request is not a change until the venue's report says so (a refused cancel leaves the order as it was), and the new ClOrdID becomes an alias of the order; in a feed of requests alone (a broker's copy of what it sent): `cancel`, and `amend` with Price and the open quantity (OrderQty less what is filled) |
//! | OrderCancelReject (9) | nothing |
//! | ExecutionReport (8), ExecType (150) 0 new | `new`, unless the order is known |
//! | 150 = 5 replaced | `amend`: Price, LeavesQty (151) |
//! | 150 = 4 canceled, C expired, 3 done for day; 8 rejected (an order already known) | `cancel` |
//! | 150 = F trade (1, 2 partial / full fill in FIX 4.2) | `trade`: TrdMatchID (880) or SecondaryExecID (527), else ExecID (17), LastPx (31), LastQty (32), this side's account and order, ContraTrader (337) as the other side's account, the aggressor from LastLiquidityInd (851) |
//!
//! Every event carries the session's venue, Symbol (55) upper-cased, and TransactTime (60), or
//! SendingTime (52) where a message has none. An order keeps the ClOrdID it entered with: a
//! replace's new ClOrdID and the venue's OrderID (37) are aliases of it. An order that is
//! cancelled or filled is forgotten with its aliases (a ClOrdID may be used again). A report
//! resent (the same ExecID) makes no second event. The two sides of one match (two reports with
//! one TrdMatchID, or SecondaryExecID in FIX 4.4) make one trade naming both accounts and both
//! orders: the first waits for the second through [`PAIR_MESSAGES`] more messages of the session,
//! or until the session falls quiet or ends ([`Mapper::flush`]); alone, it leaves as a trade of
//! its side.
//! Status reports (150 = I, D, A, 6, E and kin) carry no event.

use crate::{Message, SOH};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

/// How many ExecIDs are remembered to recognise a report sent again.
const EXEC_IDS: usize = 100_000;
/// How many of the session's messages a trade side waits through for its other side.
pub const PAIR_MESSAGES: u32 = 16;

/// Why a message makes no event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{msg_type} seq {seq}: {reason}")]
pub struct MapError {
    pub msg_type: String,
    pub seq: String,
    /// The field at fault, where one is.
    pub tag: Option<u32>,
    pub reason: String,
}

#[derive(Default)]
struct Order {
    price: Option<String>,
    qty: Option<String>,
    /// Filled so far, in the spec's fixed point (1e-8).
    cum: i64,
    /// Other ids of the order (replaces' ClOrdIDs, the venue's OrderID).
    aliases: Vec<String>,
}

/// One event waiting to leave: a trade side still waiting for its other side holds the line.
struct Out {
    value: Value,
    waiting: Option<String>,
    /// Messages since it came.
    age: u32,
}

/// The mapping state of one drop-copy session.
pub struct Mapper {
    venue: String,
    aliases: FxHashMap<String, String>,
    orders: FxHashMap<String, Order>,
    out: VecDeque<Out>,
    /// Match ids whose trade has left, to drop a late second side (bounded).
    matched: FxHashSet<String>,
    matched_order: VecDeque<String>,
    /// ExecIDs seen (bounded), so that a resent report makes no second event.
    exec_ids: FxHashSet<String>,
    exec_order: VecDeque<String>,
    /// Whether the session carries ExecutionReports (then requests wait for them).
    reports: bool,
}

fn fixed(s: &str) -> Option<i64> {
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || frac.len() > 8 || int.len() > 10 {
        return None;
    }
    let v = int.parse::<i64>().unwrap_or(0) * 100_000_000 + format!("{frac:0<8}").parse::<i64>().unwrap_or(0);
    Some(if neg { -v } else { v })
}

fn show(v: i64) -> String {
    let (sign, v) = if v < 0 { ("-", -v) } else { ("", v) };
    let (i, f) = (v / 100_000_000, v % 100_000_000);
    if f == 0 {
        format!("{sign}{i}")
    } else {
        format!("{sign}{i}.{}", format!("{f:08}").trim_end_matches('0'))
    }
}

impl Mapper {
    pub fn new(venue: &str) -> Mapper {
        Mapper {
            venue: venue.to_string(),
            aliases: FxHashMap::default(),
            orders: FxHashMap::default(),
            out: VecDeque::new(),
            matched: FxHashSet::default(),
            matched_order: VecDeque::new(),
            exec_ids: FxHashSet::default(),
            exec_order: VecDeque::new(),
            reports: false,
        }
    }

    /// Whether a trade side waits for its other side.
    pub fn waiting(&self) -> bool {
        self.out.iter().any(|o| o.waiting.is_some())
    }

    /// Forgets a closed order and its aliases.
    fn forget(&mut self, id: &str) {
        if let Some(o) = self.orders.remove(id) {
            for a in o.aliases {
                self.aliases.remove(&a);
            }
        }
    }

    /// Maps one application message; its events become available from [`Mapper::ready`].
    pub fn push(&mut self, m: &Message) -> Result<(), MapError> {
        let msg_type = m.msg_type().unwrap_or("").to_string();
        let fail = |tag: Option<u32>, reason: String| MapError { msg_type: msg_type.clone(), seq: m.str(34).unwrap_or("").to_string(), tag, reason };
        let ts_field = if m.get(60).is_some() { 60 } else { 52 };
        let ts = m
            .get(ts_field)
            .and_then(crate::session::parse_utc_timestamp_ns)
            .ok_or_else(|| fail(Some(ts_field), format!("{} is not a UTCTimestamp", if ts_field == 60 { "TransactTime" } else { "SendingTime" })));
        // A side waiting for its other side waits a few messages (an aggressor's reports of a
        // sweep may come before the passive sides), then leaves alone.
        let before = self.out.len();
        let r = ts.and_then(|ts| self.map(m, &msg_type, ts, &fail));
        for o in self.out.iter_mut().take(before) {
            if o.waiting.is_some() {
                o.age += 1;
                if o.age > PAIR_MESSAGES {
                    o.waiting = None;
                }
            }
        }
        r
    }

    fn map(&mut self, m: &Message, msg_type: &str, ts: i64, fail: &dyn Fn(Option<u32>, String) -> MapError) -> Result<(), MapError> {
        let text = |tag: u32| m.str(tag).filter(|s| !s.is_empty());
        // Where the venue reports (ExecutionReports come), a request waits for its report.
        if msg_type == "9" || (self.reports && matches!(msg_type, "F" | "G")) {
            if let Some(orig) = text(41) {
                let id = self.canonical(&[orig]);
                self.alias(text(11), &id);
            }
            return Ok(());
        }
        if msg_type == "8" {
            self.reports = true;
        }
        let symbol = text(55).ok_or_else(|| fail(Some(55), "Symbol is missing".into()))?.to_uppercase();
        let side = match text(54) {
            Some("1") => Some("buy"),
            Some("2" | "5" | "6") => Some("sell"),
            None => None,
            Some(s) => return Err(fail(Some(54), format!("Side {s:?} is neither a buy (1) nor a sell (2, 5, 6)"))),
        };
        let account = text(1).map(str::to_string);
        let mut base = Map::new();
        base.insert("ts".into(), ts.into());
        base.insert("venue".into(), self.venue.clone().into());
        base.insert("symbol".into(), symbol.into());
        let limit_price = || if text(40) == Some("1") { None } else { text(44).map(str::to_string) };
        match msg_type {
            // A feed of requests alone (a broker's copy of what it sent): they are the changes.
            "F" | "G" => {
                let orig = text(41).ok_or_else(|| fail(Some(41), "OrigClOrdID is missing".into()))?;
                let id = self.canonical(&[orig]);
                if msg_type == "F" {
                    self.close(base, &id, account);
                } else {
                    self.alias(text(11), &id);
                    let cum = self.orders.get(&id).map_or(0, |o| o.cum);
                    let open = text(38).and_then(fixed).map(|t| show((t - cum).max(0)));
                    self.amend(base, &id, account, limit_price(), open);
                }
            }
            "D" => {
                let id = text(11).ok_or_else(|| fail(Some(11), "ClOrdID is missing".into()))?.to_string();
                let side = side.ok_or_else(|| fail(Some(54), "Side is missing".into()))?;
                let qty = text(38).ok_or_else(|| fail(Some(38), "OrderQty is missing".into()))?.to_string();
                if self.orders.contains_key(&id) {
                    return Ok(());
                }
                self.open(base, id, account, side, limit_price(), qty);
            }
            "8" => {
                // A report sent again (PossDupFlag or PossResend) whose ExecID was seen makes no
                // second event; ExecIDs a venue uses again on another day are not doubted.
                let again = m.str(43) == Some("Y") || m.str(97) == Some("Y");
                if let Some(exec) = text(17) {
                    if again && self.exec_ids.contains(exec) {
                        return Ok(());
                    }
                    self.exec_ids.insert(exec.to_string());
                    self.exec_order.push_back(exec.to_string());
                    if self.exec_order.len() > EXEC_IDS {
                        if let Some(old) = self.exec_order.pop_front() {
                            self.exec_ids.remove(&old);
                        }
                    }
                }
                if m.str(20).is_some_and(|t| t != "0") {
                    return Err(fail(Some(20), "a trade correction or cancel (ExecTransType not 0) is not mapped".into()));
                }
                let exec = text(150).ok_or_else(|| fail(Some(150), "ExecType is missing".into()))?;
                let keys: Vec<&str> = [text(41), text(11), text(37)].into_iter().flatten().collect();
                if keys.is_empty() {
                    return Err(fail(Some(11), "neither ClOrdID nor OrderID names the order".into()));
                }
                let id = self.canonical(&keys);
                let r = self.report(m, exec, &id, base, side, account, fail);
                for k in &keys {
                    self.alias(Some(k), &id);
                }
                return r;
            }
            other => return Err(fail(Some(35), format!("MsgType {other} is not part of a drop copy"))),
        }
        Ok(())
    }

    /// An ExecutionReport of the order `id`.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        m: &Message,
        exec: &str,
        id: &str,
        base: Map<String, Value>,
        side: Option<&'static str>,
        account: Option<String>,
        fail: &dyn Fn(Option<u32>, String) -> MapError,
    ) -> Result<(), MapError> {
        let text = |tag: u32| m.str(tag).filter(|s| !s.is_empty());
        let limit_price = || if text(40) == Some("1") { None } else { text(44).map(str::to_string) };
        let id = id.to_string();
        match exec {
            "0" if !self.orders.contains_key(&id) => {
                let side = side.ok_or_else(|| fail(Some(54), "Side is missing".into()))?;
                let qty = text(38).or(text(151)).ok_or_else(|| fail(Some(38), "OrderQty is missing".into()))?.to_string();
                self.open(base, id, account, side, limit_price(), qty);
            }
            "5" => {
                // An order the session never saw enter (it joined late): known from now on, so
                // that its new ClOrdID names it.
                self.orders.entry(id.clone()).or_default();
                self.amend(base, &id, account, limit_price(), text(151).map(str::to_string));
            }
            "4" | "C" | "3" => self.close(base, &id, account),
            "8" if self.orders.contains_key(&id) => self.close(base, &id, account),
            "F" | "1" | "2" => {
                let side = side.ok_or_else(|| fail(Some(54), "Side is missing".into()))?;
                let price = text(31).ok_or_else(|| fail(Some(31), "LastPx is missing".into()))?.to_string();
                let qty = text(32).ok_or_else(|| fail(Some(32), "LastQty is missing".into()))?.to_string();
                let last = fixed(&qty).ok_or_else(|| fail(Some(32), format!("LastQty {qty:?} is not a decimal")))?;
                // The match both sides share: TrdMatchID where the venue sends it,
                // SecondaryExecID in FIX 4.4 (whose ExecutionReport has no 880).
                let matched = text(880).or(text(527)).map(str::to_string);
                let trade_id = matched.clone().or(text(17).map(str::to_string)).ok_or_else(|| fail(Some(17), "ExecID is missing".into()))?;
                let o = self.orders.entry(id.clone()).or_default();
                o.cum += last;
                if text(39) == Some("2") || text(151).and_then(fixed) == Some(0) {
                    self.forget(&id);
                }
                let contra = first_in_group(m, 382, 337).or_else(|| first_in_group(m, 382, 375));
                let aggressor = match text(851) {
                    Some("1") => Some(if side == "buy" { "sell" } else { "buy" }),
                    Some("2") => Some(side),
                    _ => None,
                };
                self.trade(base, trade_id, matched, side, account, id, contra, price, qty, aggressor);
            }
            _ => {}
        }
        Ok(())
    }

    /// The events ready to leave, in order, as JSON lines.
    pub fn ready(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while self.out.front().is_some_and(|o| o.waiting.is_none()) {
            if let Some(o) = self.out.pop_front() {
                v.push(o.value.to_string());
            }
        }
        v
    }

    /// The session ended: nothing waits any more.
    pub fn flush(&mut self) -> Vec<String> {
        for o in self.out.iter_mut() {
            o.waiting = None;
        }
        self.ready()
    }

    fn canonical(&self, keys: &[&str]) -> String {
        keys.iter().find_map(|k| self.aliases.get(*k)).cloned().unwrap_or_else(|| keys[0].to_string())
    }

    /// Makes `key` another name of the open order `id` (nothing for an order not open).
    fn alias(&mut self, key: Option<&str>, id: &str) {
        let (Some(k), Some(o)) = (key, self.orders.get_mut(id)) else { return };
        if k != id && !o.aliases.iter().any(|a| a == k) {
            o.aliases.push(k.to_string());
            self.aliases.insert(k.to_string(), id.to_string());
        }
    }

    fn open(&mut self, mut base: Map<String, Value>, id: String, account: Option<String>, side: &'static str, price: Option<String>, qty: String) {
        base.insert("type".into(), "new".into());
        base.insert("order_id".into(), id.clone().into());
        if let Some(a) = account {
            base.insert("account".into(), a.into());
        }
        base.insert("side".into(), side.into());
        if let Some(p) = &price {
            base.insert("price".into(), p.clone().into());
        }
        base.insert("qty".into(), qty.clone().into());
        self.orders.insert(id, Order { price, qty: Some(qty), cum: 0, aliases: Vec::new() });
        self.out.push_back(Out { value: Value::Object(base), waiting: None, age: 0 });
    }

    fn amend(&mut self, mut base: Map<String, Value>, id: &str, account: Option<String>, price: Option<String>, qty: Option<String>) {
        // An order the session never saw enter: the venue's word is taken as it is.
        let mut unknown = Order::default();
        let o = self.orders.get_mut(id).unwrap_or(&mut unknown);
        if price.is_none() && qty.is_none() {
            return;
        }
        // Only what changed: a request and the report that confirms it are one change.
        let price = price.filter(|p| o.price.as_deref().and_then(fixed) != fixed(p));
        let qty = qty.filter(|q| o.qty.as_deref().and_then(fixed).map(|t| t - o.cum) != fixed(q));
        if price.is_none() && qty.is_none() {
            return;
        }
        if price.is_some() {
            o.price.clone_from(&price);
        }
        if let Some(q) = qty.as_deref().and_then(fixed) {
            o.qty = Some(show(q + o.cum));
        }
        base.insert("type".into(), "amend".into());
        base.insert("order_id".into(), id.into());
        if let Some(a) = account {
            base.insert("account".into(), a.into());
        }
        if let Some(p) = price {
            base.insert("price".into(), p.into());
        }
        if let Some(q) = qty {
            base.insert("qty".into(), q.into());
        }
        self.out.push_back(Out { value: Value::Object(base), waiting: None, age: 0 });
    }

    fn close(&mut self, mut base: Map<String, Value>, id: &str, account: Option<String>) {
        self.forget(id);
        base.insert("type".into(), "cancel".into());
        base.insert("order_id".into(), id.into());
        if let Some(a) = account {
            base.insert("account".into(), a.into());
        }
        self.out.push_back(Out { value: Value::Object(base), waiting: None, age: 0 });
    }

    #[allow(clippy::too_many_arguments)]
    fn trade(
        &mut self,
        mut base: Map<String, Value>,
        trade_id: String,
        matched: Option<String>,
        side: &'static str,
        account: Option<String>,
        order: String,
        contra: Option<String>,
        price: String,
        qty: String,
        aggressor: Option<&'static str>,
    ) {
        let other = if side == "buy" { "sell" } else { "buy" };
        if let Some(mid) = &matched {
            // The second side of a match: it completes the waiting first side.
            if let Some(first) = self.out.iter_mut().find(|o| o.value["trade_id"] == json!(mid)) {
                let v = &mut first.value;
                if v[format!("{side}_order_id")].is_null() {
                    if let Some(a) = &account {
                        v[format!("{side}_account")] = json!(a);
                    }
                    v[format!("{side}_order_id")] = json!(order);
                    if v["aggressor"].is_null() {
                        if let Some(g) = aggressor {
                            v["aggressor"] = json!(g);
                        }
                    }
                }
                first.waiting = None;
                return;
            }
            if self.matched.contains(mid) {
                return;
            }
            self.matched.insert(mid.clone());
            self.matched_order.push_back(mid.clone());
            if self.matched_order.len() > 100_000 {
                if let Some(old) = self.matched_order.pop_front() {
                    self.matched.remove(&old);
                }
            }
        }
        base.insert("type".into(), "trade".into());
        base.insert("trade_id".into(), trade_id.into());
        base.insert("price".into(), price.into());
        base.insert("qty".into(), qty.into());
        if let Some(a) = account {
            base.insert(format!("{side}_account"), a.into());
        }
        base.insert(format!("{side}_order_id"), order.into());
        if let Some(c) = contra {
            base.insert(format!("{other}_account"), c.into());
        }
        if let Some(g) = aggressor {
            base.insert("aggressor".into(), g.into());
        }
        self.out.push_back(Out { value: Value::Object(base), waiting: matched, age: 0 });
    }
}

/// The first value of `tag` after the NumInGroup field `group`.
fn first_in_group(m: &Message, group: u32, tag: u32) -> Option<String> {
    let mut seen = false;
    for (t, v) in m.fields() {
        if t == group {
            seen = true;
        } else if seen && t == tag {
            return std::str::from_utf8(v).ok().filter(|s| !s.is_empty()).map(str::to_string);
        }
    }
    None
}

/// A message's fields as text, SOH shown as `|` (for reject records).
pub fn printable(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).replace(SOH as char, "|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Parser;

    fn push(m: &mut Mapper, body: &str) -> Result<(), MapError> {
        let mut raw = Vec::new();
        crate::encode("FIX.4.4", body.replace('|', "\u{1}").as_bytes(), &mut raw);
        let (n, _) = Parser::frame(&raw).unwrap().unwrap();
        let mut p = Parser::new();
        let msg = p.fields(&raw, n).unwrap();
        m.push(&msg)
    }

    fn events(lines: Vec<String>) -> Vec<Value> {
        lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    const H: &str = "34=2|49=X|52=20260105-14:00:00.000|56=VIGIL|";

    #[test]
    fn an_order_replaced_filled_by_halves_and_cancelled_maps_to_its_events() {
        let mut m = Mapper::new("xnas");
        push(&mut m, &format!("35=D|{H}11=C1|1=ACC1|54=2|38=100|40=2|44=10.5|55=intc|60=20260105-14:00:00.001|")).unwrap();
        // The venue's acknowledgement of the same order: no second `new`.
        push(&mut m, &format!("35=8|{H}37=O1|11=C1|17=E1|150=0|39=0|1=ACC1|54=2|38=100|40=2|44=10.5|55=INTC|151=100|14=0|6=0|60=20260105-14:00:00.002|"))
            .unwrap();
        // Replaced with a new ClOrdID: the order keeps C1.
        push(&mut m, &format!("35=8|{H}37=O1|11=C2|41=C1|17=E2|150=5|39=0|1=ACC1|54=2|38=80|40=2|44=10.6|55=INTC|151=80|14=0|6=0|60=20260105-14:00:00.003|"))
            .unwrap();
        // A fill of 30 against ACC2's buy, reported from both sides.
        push(
            &mut m,
            &format!("35=8|{H}37=O1|11=C2|17=E3|527=M1|150=F|39=1|1=ACC1|54=2|55=INTC|31=10.6|32=30|151=50|14=30|6=10.6|851=1|60=20260105-14:00:00.004|"),
        )
        .unwrap();
        let first = events(m.ready());
        assert_eq!(first.len(), 2, "the trade waits for its other side");
        push(
            &mut m,
            &format!("35=8|{H}37=O9|11=B9|17=E4|527=M1|150=F|39=2|1=ACC2|54=1|55=INTC|31=10.6|32=30|151=0|14=30|6=10.6|851=2|60=20260105-14:00:00.004|"),
        )
        .unwrap();
        push(&mut m, &format!("35=F|{H}11=C3|41=C2|55=INTC|54=2|60=20260105-14:00:00.005|")).unwrap();
        // The venue's confirmation of that cancel is the same cancel.
        push(&mut m, &format!("35=8|{H}37=O1|11=C3|41=C2|17=E5|150=4|39=4|54=2|55=INTC|151=0|14=30|6=10.6|60=20260105-14:00:00.006|")).unwrap();
        let mut v = first;
        v.extend(events(m.ready()));
        let types: Vec<&str> = v.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["new", "amend", "trade", "cancel"]);
        assert_eq!((v[0]["order_id"].as_str(), v[0]["side"].as_str(), v[0]["price"].as_str()), (Some("C1"), Some("sell"), Some("10.5")));
        let v = &v[1..];
        assert_eq!(v[0]["order_id"], "C1");
        assert_eq!((v[0]["price"].as_str(), v[0]["qty"].as_str()), (Some("10.6"), Some("80")));
        let t = &v[1];
        assert_eq!((t["trade_id"].as_str(), t["price"].as_str(), t["qty"].as_str()), (Some("M1"), Some("10.6"), Some("30")));
        assert_eq!((t["sell_account"].as_str(), t["sell_order_id"].as_str()), (Some("ACC1"), Some("C1")));
        assert_eq!((t["buy_account"].as_str(), t["buy_order_id"].as_str()), (Some("ACC2"), Some("B9")));
        assert_eq!(t["aggressor"], "buy");
        assert_eq!(t["ts"], 1_767_621_600_004_000_000i64);
        assert_eq!((v[2]["order_id"].as_str(), v[2]["symbol"].as_str(), v[2]["venue"].as_str()), (Some("C1"), Some("INTC"), Some("xnas")));
    }

    #[test]
    fn a_lone_side_leaves_with_the_next_message_or_the_flush_and_a_resent_report_is_dropped() {
        let mut m = Mapper::new("x");
        push(
            &mut m,
            &format!("35=8|{H}37=O1|11=C1|17=E1|527=M1|150=F|39=1|1=A|54=1|55=S|31=1|32=1|151=1|14=1|6=1|382=1|375=BRK|337=BOB|60=20260105-14:00:00|"),
        )
        .unwrap();
        assert!(m.ready().is_empty() && m.waiting());
        for i in 0..=PAIR_MESSAGES {
            assert!(m.ready().is_empty(), "after {i} messages");
            push(&mut m, &format!("35=D|{H}11=C2{i}|1=A|54=1|38=5|40=1|55=S|60=20260105-14:00:00.500|")).unwrap();
        }
        let v = events(m.ready());
        assert_eq!(v.len(), 2 + PAIR_MESSAGES as usize);
        assert_eq!((v[0]["buy_account"].as_str(), v[0]["sell_account"].as_str()), (Some("A"), Some("BOB")));
        assert!(v[1].get("price").is_none(), "a market order has no price");
        // A late second side of a match that already left is dropped; so is a report sent twice.
        push(&mut m, &format!("35=8|{H}37=O2|11=Z|17=E2|527=M1|150=F|39=2|1=B|54=2|55=S|31=1|32=1|151=0|14=1|6=1|60=20260105-14:00:01.002|")).unwrap();
        push(&mut m, &format!("35=8|{H}43=Y|37=O1|11=C1|17=E1|527=M1|150=F|39=1|1=A|54=1|55=S|31=1|32=1|151=1|14=1|6=1|60=20260105-14:00:00|")).unwrap();
        assert!(m.flush().is_empty());
        push(&mut m, &format!("35=8|{H}37=O3|11=Y|17=E3|527=M2|150=F|39=2|1=B|54=2|55=S|31=1|32=1|151=0|14=1|6=1|60=20260105-14:00:02|")).unwrap();
        assert!(m.ready().is_empty());
        assert_eq!(m.flush().len(), 1);
    }

    #[test]
    fn a_feed_of_requests_alone_maps_its_cancels_and_replaces() {
        let mut m = Mapper::new("x");
        push(&mut m, &format!("35=D|{H}11=C1|1=A|54=1|38=10|40=2|44=5|55=S|60=20260105-14:00:00|")).unwrap();
        push(&mut m, &format!("35=G|{H}11=C2|41=C1|1=A|54=1|38=8|40=2|44=5.5|55=S|60=20260105-14:00:01|")).unwrap();
        push(&mut m, &format!("35=F|{H}11=C3|41=C2|54=1|55=S|60=20260105-14:00:02|")).unwrap();
        let v = events(m.ready());
        let got: Vec<(&str, &str)> = v.iter().map(|e| (e["type"].as_str().unwrap(), e["order_id"].as_str().unwrap())).collect();
        assert_eq!(got, [("new", "C1"), ("amend", "C1"), ("cancel", "C1")]);
        assert_eq!((v[1]["price"].as_str(), v[1]["qty"].as_str()), (Some("5.5"), Some("8")));
    }

    #[test]
    fn requests_change_nothing_until_the_venue_reports_and_closed_orders_are_forgotten() {
        let mut m = Mapper::new("x");
        push(&mut m, &format!("35=8|{H}37=O1|11=C1|17=E1|150=0|39=0|1=A|54=1|38=5|40=2|44=1|55=S|151=5|14=0|6=0|60=20260105-14:00:00|")).unwrap();
        // A cancel request the venue refuses: the order stays.
        push(&mut m, &format!("35=F|{H}11=C2|41=C1|54=1|55=S|60=20260105-14:00:00.1|")).unwrap();
        push(&mut m, &format!("35=9|{H}37=O1|11=C2|41=C1|39=0|434=1|60=20260105-14:00:00.2|")).unwrap();
        assert_eq!(events(m.ready()).iter().map(|e| e["type"].as_str().unwrap().to_string()).collect::<Vec<_>>(), ["new"]);
        // The venue's cancel, named by the request's ClOrdID: the order entered as C1.
        push(&mut m, &format!("35=8|{H}37=O1|11=C2|41=C1|17=E2|150=4|39=4|54=1|55=S|151=0|14=0|6=0|60=20260105-14:00:00.3|")).unwrap();
        let v = events(m.ready());
        assert_eq!((v[0]["type"].as_str(), v[0]["order_id"].as_str()), (Some("cancel"), Some("C1")));
        assert!(m.orders.is_empty() && m.aliases.is_empty(), "a closed order is forgotten");
        // C1 used again later is a new order.
        push(&mut m, &format!("35=8|{H}37=O9|11=C1|17=E3|150=0|39=0|1=A|54=2|38=3|40=2|44=2|55=S|151=3|14=0|6=0|60=20260105-14:00:01|")).unwrap();
        let v = events(m.ready());
        assert_eq!((v[0]["type"].as_str(), v[0]["side"].as_str()), (Some("new"), Some("sell")));
    }

    #[test]
    fn messages_that_cannot_map_say_which_field_and_why() {
        let mut m = Mapper::new("x");
        let e = push(&mut m, &format!("35=D|{H}11=C1|54=1|38=5|40=2|44=1|60=20260105-14:00:00|")).unwrap_err();
        assert_eq!(e.tag, Some(55));
        let e = push(&mut m, &format!("35=D|{H}11=C1|54=7|38=5|55=S|60=20260105-14:00:00|")).unwrap_err();
        assert!(e.reason.contains("Side \"7\""), "{e}");
        let e = push(&mut m, &format!("35=D|{H}11=C1|54=1|38=5|55=S|60=2026-01-05|")).unwrap_err();
        assert_eq!(e.tag, Some(60));
        let e = push(&mut m, &format!("35=8|{H}37=O|17=E|20=1|150=F|54=1|55=S|60=20260105-14:00:00|")).unwrap_err();
        assert_eq!(e.tag, Some(20));
        // A status report carries no event and is no error.
        push(&mut m, &format!("35=8|{H}37=O|11=C|17=E|150=I|39=0|54=1|55=S|151=1|14=0|6=0|60=20260105-14:00:00|")).unwrap();
        assert!(m.flush().is_empty());
        assert_eq!((fixed("12.5"), fixed("-0.00000001"), fixed("1e5"), fixed("1.123456789")), (Some(1_250_000_000), Some(-1), None, None));
        assert_eq!((show(1_250_000_000), show(100_000_000), show(-1)), ("12.5".to_string(), "1".to_string(), "-0.00000001".to_string()));
    }
}
