//! The engine. State is sharded by instrument symbol (the same symbol on every venue lands in one
//! shard, so cross-venue detectors see it all); each [`Shard`] is single-threaded and owns its
//! books, windows and detector state. [`Engine`] runs N shards on N threads and merges their
//! alerts back into input order, so the output is the same for any N. The one piece of state no
//! shard can keep, each account's clock across its instruments (`unusual_timing`), [`Engine`]
//! keeps as it routes, and sends with the orders that leave it.

use crate::activity::{Activity, Party};
use crate::builder::{AlertBuilder, Signal};
use crate::config::Config;
use crate::detectors;
use crate::detectors::unusual_timing::{Schedule, Schedules};
use crate::health::VenueHealth;
use crate::profile::{Act, Profiles};
use crossbeam_channel::{bounded, Receiver, Sender};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use vigil_book::{Book, BookChange, BookStats};
use vigil_core::{AccountId, Alert, AlertType, Event, EventClock, EventKind, Names, OwnerId, Price, Quote, SymbolId, Ts, VenueId};

/// One instrument on one venue, as a shard sees it.
pub struct Instrument {
    pub venue: VenueId,
    pub symbol: SymbolId,
    pub book: Book,
    pub last_trade: Option<(Ts, Price)>,
    pub quote: Option<Quote>,
}

/// What a detector may read while it handles an event.
pub struct Context<'a> {
    /// The instrument's dense index in this shard (detectors keep per-instrument state by it).
    pub slot: usize,
    pub instrument: &'a Instrument,
    /// What the event did to the book.
    pub change: &'a BookChange,
    pub names: &'a Names,
    /// The owner of each account, by account index, where reference data named one.
    pub owners: &'a [OwnerId],
    /// Event time: the latest timestamp this shard has seen. Detectors never read a wall clock.
    pub clock: &'a EventClock,
    /// Every party's recent trades in this shard's instruments.
    pub activity: &'a Activity,
    pub builder: &'a AlertBuilder,
    /// For an order off the schedule its account keeps to across its instruments (which no shard
    /// of an [`Engine`] can see alone), that schedule.
    pub schedule: Option<&'a Schedule>,
}

impl Context<'_> {
    pub fn owner(&self, a: AccountId) -> Option<OwnerId> {
        self.owners.get(a.index()).copied().filter(|o| !o.is_none())
    }
    /// If a behaviour is still within its cooldown, records the repeat (cheaply, without the text
    /// of an alert that will not be raised) and returns true: detectors call this before they build
    /// descriptions and evidence.
    pub fn repeat(&self, kind: AlertType, behaviour: u64, ts: Ts, cooldown: i64, out: &mut Vec<Signal>) -> bool {
        let r = self.builder.in_cooldown(kind, behaviour, ts, cooldown);
        if r {
            out.push(Signal::repeat(kind, ts, behaviour, cooldown));
        }
        r
    }
    /// The party (owner, else account) an account trades for.
    pub fn party(&self, a: AccountId) -> Party {
        Party::of(a, self.owners)
    }
}

/// A detector: one module, one alert type, state per instrument slot, configured from `vigil.toml`.
/// It sees every event of its shard (every trade, if it is [`Detector::trades_only`]) in input
/// order, after the book has applied it.
pub trait Detector: Send {
    /// Its section under `[detectors]` in `vigil.toml`.
    fn name(&self) -> &'static str;
    fn alert_type(&self) -> AlertType;
    fn on_event(&mut self, ev: &Event, cx: &Context<'_>, out: &mut Vec<Signal>);
    /// Whether it looks at trades and nothing else: the shard then calls it for trades only (most
    /// events are order messages, and a call that returns at once still costs). True only of a
    /// detector whose `on_event` changes nothing and raises nothing for any other event.
    fn trades_only(&self) -> bool {
        false
    }
}

/// Counters a shard keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub events: u64,
    pub instruments: u64,
    pub book: BookStats,
    pub alerts: BTreeMap<AlertType, u64>,
    pub suppressed: BTreeMap<AlertType, u64>,
    /// Trade-size statistics per venue (`health`).
    pub health: VenueHealth,
    /// Every account's behavioural counts (`profile`).
    pub profiles: Profiles,
}

impl ShardStats {
    pub fn merge(&mut self, o: &ShardStats) {
        self.health.merge(&o.health);
        self.profiles.merge(&o.profiles);
        self.events += o.events;
        self.instruments += o.instruments;
        self.book.merge(&o.book);
        for (k, v) in &o.alerts {
            *self.alerts.entry(*k).or_default() += v;
        }
        for (k, v) in &o.suppressed {
            *self.suppressed.entry(*k).or_default() += v;
        }
    }
}

/// An alert with its place in the output: the input position of the event that raised it, and
/// its rank among that event's alerts.
pub type Placed = (u64, u32, Alert);

/// The single-threaded engine of some instruments.
pub struct Shard {
    instruments: Vec<Instrument>,
    index: FxHashMap<(VenueId, SymbolId), u32>,
    owners: Vec<OwnerId>,
    detectors: Vec<Box<dyn Detector>>,
    /// The positions in `detectors` of those that look at more than trades, in order.
    not_trades_only: Vec<usize>,
    builder: AlertBuilder,
    names: Arc<Names>,
    signals: Vec<Signal>,
    events: u64,
    clock: EventClock,
    activity: Activity,
    health: VenueHealth,
    profiles: Option<Profiles>,
    /// Every account's schedule, when this shard sees every order (it runs alone); the engine
    /// keeps them for its shards.
    schedules: Option<Schedules>,
}

impl Shard {
    pub fn new(config: &Config, names: Arc<Names>) -> Self {
        let detectors = detectors::build(config);
        Shard {
            instruments: Vec::new(),
            index: FxHashMap::default(),
            owners: Vec::new(),
            not_trades_only: (0..detectors.len()).filter(|&i| !detectors[i].trades_only()).collect(),
            detectors,
            builder: AlertBuilder::default(),
            names,
            signals: Vec::new(),
            events: 0,
            clock: EventClock::new(Ts::MIN),
            activity: Activity::new(config.activity_horizon(), config.detectors.momentum_ignition.window.0),
            health: VenueHealth::default(),
            profiles: config.profiles.enabled.then(|| Profiles::new(config.profiles.period.0, config.profiles.baseline_block.0)),
            schedules: Schedules::new(&config.detectors.unusual_timing),
        }
    }

    /// Handles one event; alerts it raises are appended to `out`. The shard keeps the accounts'
    /// clocks across the instruments it sees: all of them when it runs alone on a whole stream.
    pub fn process(&mut self, ev: &Event, out: &mut Vec<Placed>) {
        let schedule = self.schedules.as_mut().and_then(|s| s.observe(ev));
        self.handle(ev, schedule.as_ref(), out);
    }

    /// Handles one event with what the engine found of its account's schedule.
    fn handle(&mut self, ev: &Event, schedule: Option<&Schedule>, out: &mut Vec<Placed>) {
        self.events += 1;
        self.clock.advance(ev.ts);
        if let EventKind::Account { account, owner } = ev.kind {
            if self.owners.len() <= account.index() {
                self.owners.resize(account.index() + 1, OwnerId::NONE);
            }
            self.owners[account.index()] = owner;
            return;
        }
        let key = (ev.venue, ev.symbol);
        let slot = match self.index.get(&key) {
            Some(&s) => s as usize,
            None => {
                self.instruments.push(Instrument { venue: ev.venue, symbol: ev.symbol, book: Book::new(), last_trade: None, quote: None });
                let s = self.instruments.len() - 1;
                self.index.insert(key, s as u32);
                s
            }
        };
        let inst = &mut self.instruments[slot];
        let change = inst.book.apply(ev);
        if let Some(p) = &mut self.profiles {
            profile(p, ev, &change);
        }
        match &ev.kind {
            EventKind::Trade(t) => {
                inst.last_trade = Some((ev.ts, t.price));
                self.health.trade(ev.venue, t.qty);
                if t.buy_account.is_some() || t.sell_account.is_some() {
                    self.activity.record(ev.ts, ev.seq, ev.venue, ev.symbol, t, &change, &self.owners);
                }
            }
            EventKind::Quote(q) => inst.quote = Some(q.clone()),
            _ => {}
        }
        let cx = Context {
            slot,
            instrument: inst,
            change: &change,
            names: &self.names,
            owners: &self.owners,
            clock: &self.clock,
            activity: &self.activity,
            builder: &self.builder,
            schedule,
        };
        if matches!(ev.kind, EventKind::Trade(_)) {
            for d in &mut self.detectors {
                d.on_event(ev, &cx, &mut self.signals);
            }
        } else {
            for &i in &self.not_trades_only {
                self.detectors[i].on_event(ev, &cx, &mut self.signals);
            }
        }
        if !self.signals.is_empty() {
            let mut rank = 0;
            for s in self.signals.drain(..) {
                if let Some(a) = self.builder.build(s, &self.names) {
                    out.push((ev.seq, rank, a));
                    rank += 1;
                }
            }
        }
    }

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    pub fn stats(&self) -> ShardStats {
        let mut s = ShardStats {
            events: self.events,
            instruments: self.instruments.len() as u64,
            health: self.health.clone(),
            profiles: self.profiles.clone().unwrap_or_default(),
            ..Default::default()
        };
        for i in &self.instruments {
            s.book.merge(&i.book.stats);
        }
        for (k, v) in &self.builder.suppressed {
            s.suppressed.insert(*k, *v);
        }
        s
    }
}

/// Counts an event in its accounts' profiles (a cancel or amend that does not name its account is
/// the account of the order it acts on).
fn profile(p: &mut Profiles, ev: &Event, change: &BookChange) {
    let (ts, v, s) = (ev.ts.0, ev.venue, ev.symbol);
    match (&ev.kind, change) {
        (EventKind::New(n), _) => {
            if let Some(a) = n.account {
                p.record(ts, a, v, s, Act::Order(n.qty.to_f64()));
            }
        }
        (EventKind::Amend(x), c) => {
            let before = if let BookChange::Amended { before, .. } = c { before.account } else { None };
            if let Some(a) = x.account.or(before) {
                p.record(ts, a, v, s, Act::Amend);
            }
        }
        (EventKind::Cancel(x), c) => {
            let resting = if let BookChange::Cancelled(o) = c { o.account } else { None };
            if let Some(a) = x.account.or(resting) {
                p.record(ts, a, v, s, Act::Cancel);
            }
        }
        (EventKind::Trade(t), _) => {
            if let Some(a) = t.buy_account {
                p.record(ts, a, v, s, Act::Trade);
            }
            if let Some(a) = t.sell_account.filter(|x| Some(*x) != t.buy_account) {
                p.record(ts, a, v, s, Act::Trade);
            }
        }
        _ => {}
    }
}

/// Which shard owns a symbol: a hash of its name, so the choice does not depend on input order.
pub fn shard_of(symbol: &str, shards: usize) -> usize {
    (xxhash_rust::xxh3::xxh3_64(symbol.as_bytes()) % shards as u64) as usize
}

struct Batch {
    events: Vec<Event>,
    /// The schedules orders among them left, by input position, in order.
    schedules: Vec<(u64, Schedule)>,
    /// Every event up to this position has been sent to its shard.
    upto: u64,
}

struct Output {
    shard: usize,
    alerts: Vec<Placed>,
    upto: u64,
}

/// N shards on N threads, fed in batches, with their alerts merged back into input order and
/// handed to the sink on one collector thread.
pub struct Engine {
    txs: Vec<Sender<Batch>>,
    pending: Vec<Vec<Event>>,
    pending_schedules: Vec<Vec<(u64, Schedule)>>,
    pending_len: usize,
    /// Every account's schedule across its instruments: only here is every order seen.
    schedules: Option<Schedules>,
    upto: u64,
    routes: Vec<u16>,
    names: Arc<Names>,
    shards: Vec<JoinHandle<ShardStats>>,
    collector: Option<JoinHandle<BTreeMap<AlertType, u64>>>,
}

const BATCH: usize = 2048;

impl Engine {
    /// Starts `threads` shards (at least one); `sink` receives every alert, in order.
    pub fn start(config: &Config, threads: usize, names: Arc<Names>, mut sink: Box<dyn FnMut(Alert) + Send>) -> Engine {
        let n = threads.max(1);
        let (out_tx, out_rx) = bounded::<Output>(4 * n + 4);
        let mut txs = Vec::with_capacity(n);
        let mut shards = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = bounded::<Batch>(16);
            txs.push(tx);
            let mut shard = Shard::new(config, names.clone());
            shard.schedules = None;
            let out_tx = out_tx.clone();
            shards.push(
                std::thread::Builder::new()
                    .name(format!("vigil-shard-{i}"))
                    .spawn(move || {
                        for batch in rx.iter() {
                            let mut alerts = Vec::new();
                            let mut schedules = batch.schedules.iter().peekable();
                            for ev in &batch.events {
                                let schedule = schedules.next_if(|s| s.0 == ev.seq).map(|s| &s.1);
                                shard.handle(ev, schedule, &mut alerts);
                            }
                            if out_tx.send(Output { shard: i, alerts, upto: batch.upto }).is_err() {
                                break;
                            }
                        }
                        shard.stats()
                    })
                    .expect("spawn a shard thread"),
            );
        }
        drop(out_tx);
        let collector =
            std::thread::Builder::new().name("vigil-alerts".into()).spawn(move || collect(n, out_rx, &mut *sink)).expect("spawn the collector thread");
        Engine {
            txs,
            pending: (0..n).map(|_| Vec::with_capacity(BATCH)).collect(),
            pending_schedules: (0..n).map(|_| Vec::new()).collect(),
            pending_len: 0,
            schedules: Schedules::new(&config.detectors.unusual_timing),
            upto: 0,
            routes: Vec::new(),
            names,
            shards,
            collector: Some(collector),
        }
    }

    fn route(&mut self, symbol: SymbolId) -> usize {
        let i = symbol.index();
        if i >= self.routes.len() {
            self.routes.resize(i + 1, u16::MAX);
        }
        if self.routes[i] == u16::MAX {
            self.routes[i] = shard_of(&self.names.symbol(symbol), self.txs.len()) as u16;
        }
        self.routes[i] as usize
    }

    /// Hands one event to its shard; events are processed in the order pushed.
    pub fn push(&mut self, mut ev: Event) {
        // The engine numbers events itself, in the order pushed: the number orders the alerts, so
        // it must be unique and increasing whatever the caller set.
        self.upto += 1;
        ev.seq = self.upto;
        if ev.symbol.is_none() || matches!(ev.kind, EventKind::Account { .. }) {
            // Reference data (who owns which account) applies to every instrument: every shard
            // needs it, even when the line named a venue or symbol.
            for p in &mut self.pending {
                p.push(ev.clone());
            }
        } else {
            let s = if self.txs.len() == 1 { 0 } else { self.route(ev.symbol) };
            if let Some(schedule) = self.schedules.as_mut().and_then(|c| c.observe(&ev)) {
                self.pending_schedules[s].push((ev.seq, schedule));
            }
            self.pending[s].push(ev);
        }
        self.pending_len += 1;
        if self.pending_len >= BATCH {
            self.flush();
        }
    }

    /// Sends what is pending. Every shard hears of every flush, so the collector knows how far
    /// each has got even when one has nothing to do.
    pub fn flush(&mut self) {
        for (i, tx) in self.txs.iter().enumerate() {
            let events = std::mem::replace(&mut self.pending[i], Vec::with_capacity(BATCH));
            let schedules = std::mem::take(&mut self.pending_schedules[i]);
            // A send fails only if the shard thread died; finish() reports that.
            let _ = tx.send(Batch { events, schedules, upto: self.upto });
        }
        self.pending_len = 0;
    }

    /// Processes what remains, stops the threads, and returns the merged counters.
    pub fn finish(mut self) -> Result<ShardStats, String> {
        self.flush();
        self.txs.clear();
        let mut total = ShardStats::default();
        for h in self.shards.drain(..) {
            let s = h.join().map_err(|_| "a shard thread panicked".to_string())?;
            total.merge(&s);
        }
        // Shards each count the reference data broadcast to all of them; count events once.
        total.events = self.upto;
        let alerts = self.collector.take().expect("collector").join().map_err(|_| "the alert collector panicked".to_string())?;
        total.alerts = alerts;
        Ok(total)
    }
}

/// Merges the shards' alerts by input position: an alert is released once every shard has
/// reported past its position.
fn collect(n: usize, rx: Receiver<Output>, sink: &mut dyn FnMut(Alert)) -> BTreeMap<AlertType, u64> {
    let mut upto = vec![0u64; n];
    let mut held: BTreeMap<(u64, u32), Alert> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    let mut release = |held: &mut BTreeMap<(u64, u32), Alert>, limit: u64, counts: &mut BTreeMap<AlertType, u64>| {
        while let Some(e) = held.first_entry() {
            if e.key().0 > limit {
                break;
            }
            let a = e.remove();
            *counts.entry(a.kind).or_default() += 1;
            sink(a);
        }
    };
    for out in rx.iter() {
        upto[out.shard] = out.upto;
        for (seq, rank, a) in out.alerts {
            held.insert((seq, rank), a);
        }
        let limit = upto.iter().copied().min().unwrap_or(0);
        release(&mut held, limit, &mut counts);
    }
    release(&mut held, u64::MAX, &mut counts);
    counts
}
