#!/usr/bin/env python3
"""indsim -- an independent simulator of labelled market-manipulation data.

Written from the public event format (shared/spec/events.md) and from published
manipulation cases only, without reference to Vigil's own simulator or detectors.
Python 3 standard library only.  See README.md beside this file.

    python3 scripts/indsim/indsim.py --seed 1 --out /tmp/ind1 [--minutes 45] [--check]

Writes OUT/events.jsonl (orders, amends, cancels, trades of a price-time-priority
matching engine per venue and symbol) and OUT/labels.jsonl (one label per injected
behaviour).  Deterministic per seed: one random.Random(seed), no wall clock in the data.
"""

import argparse
import bisect
import heapq
import json
import math
import os
import random
import sys
import time
from collections import deque

NS = 1_000_000_000
MS = 1_000_000
BUY, SELL = 1, -1
SIDES = {BUY: "buy", SELL: "sell"}


def S(x):
    """seconds -> integer nanoseconds"""
    return int(x * NS)


def fixed(v, dec):
    if dec == 0:
        return str(v)
    neg = v < 0
    s = str(-v if neg else v).rjust(dec + 1, "0")
    r = s[:-dec] + "." + s[-dec:]
    return "-" + r if neg else r


# --------------------------------------------------------------------------------------
# Instruments and venues
# --------------------------------------------------------------------------------------
# tick: price grid step in units of 10**-pdec; retail: typical retail order (lots of 10**-qdec);
# mmq: a market maker's size per level on the main venue (lots); vol: mean per-second log vol;
# beta: loading on the common market factor.
SYMBOLS = [
    dict(name="BTC-USD", p0=43000.0, tick=5, pdec=1, qdec=4, retail=200, mmq=1500, vol=0.35e-4, beta=0.9),
    dict(name="ETH-USD", p0=2300.0, tick=5, pdec=2, qdec=3, retail=400, mmq=2500, vol=0.45e-4, beta=0.8),
    dict(name="SOL-USD", p0=98.0, tick=1, pdec=2, qdec=2, retail=800, mmq=5000, vol=0.70e-4, beta=0.7),
    dict(name="XYZ-USD", p0=12.35, tick=5, pdec=3, qdec=1, retail=1500, mmq=8000, vol=0.90e-4, beta=0.4),
    dict(name="ABC-USD", p0=0.4521, tick=1, pdec=4, qdec=0, retail=2500, mmq=15000, vol=1.20e-4, beta=0.3),
]
# symbol, venue, trader arrivals/s, market makers, MM mean requote interval (s),
# MM half spread (ticks), MM level gap (ticks), MM levels per side, depth multiplier
LISTINGS = [
    ("BTC-USD", "alpha", 3.0, 4, 0.45, 2.5, 2, 5, 1.0),
    ("BTC-USD", "beta", 1.8, 3, 0.6, 3.0, 2, 4, 0.7),
    ("BTC-USD", "gamma", 0.45, 2, 1.4, 4.0, 3, 4, 0.35),
    ("ETH-USD", "alpha", 2.2, 3, 0.5, 2.0, 1, 5, 1.0),
    ("ETH-USD", "beta", 1.1, 3, 0.7, 2.5, 2, 4, 0.6),
    ("SOL-USD", "alpha", 1.2, 3, 0.7, 1.5, 1, 4, 1.0),
    ("SOL-USD", "gamma", 0.4, 2, 1.6, 2.5, 1, 4, 0.4),
    ("XYZ-USD", "beta", 0.7, 2, 1.0, 1.0, 1, 4, 1.0),
    ("XYZ-USD", "gamma", 0.25, 2, 2.0, 1.5, 1, 3, 0.5),
    ("ABC-USD", "beta", 0.35, 2, 1.3, 2.5, 2, 4, 1.0),
]
VENUES = ["alpha", "beta", "gamma"]
SYMSPEC = {s["name"]: s for s in SYMBOLS}


class Venue:
    __slots__ = ("name", "oid", "tid")

    def __init__(self, name, rng):
        self.name = name
        self.oid = rng.randrange(10_000_000, 90_000_000)
        self.tid = rng.randrange(1_000_000, 9_000_000)


class Sym:
    def __init__(self, spec, rng):
        self.name = spec["name"]
        self.spec = spec
        self.tick_int = spec["tick"]
        self.pdec = spec["pdec"]
        self.qdec = spec["qdec"]
        self.tickval = spec["tick"] / 10 ** spec["pdec"]
        self.f = spec["p0"] * math.exp(rng.uniform(-0.1, 0.1))
        self.sig_bar = spec["vol"] * math.exp(rng.uniform(-0.15, 0.15))
        self.sig = self.sig_bar
        self.beta = spec["beta"]
        self.f_sec = self.f
        self.volfac = 1.0
        self.books = []
        self.arb_pending = False


class Level:
    __slots__ = ("q", "tot")

    def __init__(self):
        self.q = deque()
        self.tot = 0


class Order:
    __slots__ = ("oid", "book", "acct", "side", "price", "qty", "filled", "open", "stp", "agent")


class Acct:
    __slots__ = ("id", "owner", "kind", "sizef", "p_mkt", "b_mom", "life", "amend_p", "w", "busy", "pos")

    def __init__(self, aid, owner, kind):
        self.id = aid
        self.owner = owner
        self.kind = kind
        self.sizef = 1.0
        self.p_mkt = 0.4
        self.b_mom = 0.1
        self.life = 30.0
        self.amend_p = 0.1
        self.w = 1.0
        self.busy = False
        self.pos = {}


class Book:
    def __init__(self, sym, venue, lst, rng):
        _, _, rate, nmm, mmiv, h0, gap, levels, depthm = lst
        j = lambda: math.exp(rng.uniform(-0.2, 0.2))
        self.sym = sym
        self.venue = venue
        self.key = venue.name + ":" + sym.name
        self.pre = '"venue":"%s","symbol":"%s"' % (venue.name, sym.name)
        self.rate = rate * j()
        self.nmm = nmm
        self.mmiv = mmiv * j()
        self.h0 = h0
        self.gap = gap
        self.levels = levels
        self.depthm = depthm
        self.Q = max(1, int(sym.spec["mmq"] * depthm * j()))
        self.retail = sym.spec["retail"]
        self.kappa = 0.35 * gap  # ticks of MM centre shift per Q of aggressive volume
        self.eta = 0.35  # pull of MM centre toward the furthest traded price of a sweep
        self.bids, self.bp = {}, []  # price -> Level, sorted ascending (best = last)
        self.asks, self.ap = {}, []  # best = first
        self.d = 0.0  # transient log deviation of this venue's fair value
        self.drift = 0.0  # scenario-imposed log offset (stale/erroneous reference)
        self.tau = rng.uniform(90, 180)  # decay time of d (s)
        self.exc = 0.0  # self-excitation of order flow
        self.bias = 0.0  # buy/sell bias of order flow (news, hype)
        self.bias_hold = 0
        self.rate_mult = 1.0
        self.rate_hold = 0
        self.size_mult = 1.0
        self.mm_widen = 1.0
        self.arb_off = False
        self.mids = deque(maxlen=130)
        self.vol_acc = 0
        self.vol_cum = 0
        self.vol_ewma = None
        self.ntrades = 0
        self.pool = []
        self.cumw = []
        self.mms = []
        self.pcache = {}
        self.primary = False
        self.sbuy = []  # client-side buy stops: heap of (trigger, seq, acct, qty, expiry)
        self.ssell = []  # sell stops: heap of (-trigger, ...)

    # -- book queries ----------------------------------------------------------------
    def bb(self):
        return self.bp[-1] if self.bp else None

    def ba(self):
        return self.ap[0] if self.ap else None

    def mid(self):
        if self.bp and self.ap:
            return (self.bp[-1] + self.ap[0]) * 0.5
        return None

    def depth(self, side, n):
        if side == BUY:
            ps = self.bp[-n:]
            lv = self.bids
        else:
            ps = self.ap[:n]
            lv = self.asks
        return sum(lv[p].tot for p in ps)

    def depth_to(self, side, limit):
        """resting quantity on `side` at prices at least as good as `limit` for a taker"""
        tot = 0
        if side == SELL:
            for p in self.ap:
                if p > limit:
                    break
                tot += self.asks[p].tot
        else:
            for p in reversed(self.bp):
                if p < limit:
                    break
                tot += self.bids[p].tot
        return tot

    def imbalance(self):
        b = self.depth(BUY, 5)
        a = self.depth(SELL, 5)
        return (b - a) / (b + a) if a + b else 0.0

    def best_excl(self, side, acct):
        """best price on `side` ignoring levels that hold only `acct`'s orders"""
        if side == BUY:
            it = reversed(self.bp)
            lv = self.bids
        else:
            it = iter(self.ap)
            lv = self.asks
        for p in it:
            q = lv[p].q
            if len(q) > 1 or q[0].acct is not acct:
                return p
        return None

    def center(self):
        return self.sym.f * math.exp(self.d + self.drift) / self.sym.tickval

    def sig_ticks(self, secs):
        return self.sym.sig * math.sqrt(secs) * self.sym.f / self.sym.tickval

    def px(self, t):
        s = self.pcache.get(t)
        if s is None:
            s = fixed(t * self.sym.tick_int, self.sym.pdec)
            self.pcache[t] = s
        return s

    def qx(self, q):
        return fixed(q, self.sym.qdec)


# --------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------
class Label:
    def __init__(self, sim, typ, book, accounts):
        self.sim = sim
        self.type = typ
        self.venue = book.venue.name
        self.symbol = book.sym.name
        self.accounts = sorted(set(a.id for a in accounts))
        self.start = None
        self.end = None
        self.note = ""
        sim.labels.append(self)

    def mark(self):
        t = self.sim.now
        if self.start is None:
            self.start = t
        self.end = t


# --------------------------------------------------------------------------------------
# Market makers
# --------------------------------------------------------------------------------------
class MM:
    def __init__(self, sim, book, acct):
        rng = sim.rng
        self.sim = sim
        self.book = book
        self.acct = acct
        self.own = {BUY: {}, SELL: {}}
        self.h0 = book.h0 * rng.uniform(0.8, 1.5)
        self.L = max(2, book.levels + rng.randint(-1, 1))
        self.gap = book.gap
        self.iv = book.mmiv * rng.uniform(0.6, 1.6)
        self.amend_style = rng.random() < 0.4
        self.sizef = rng.uniform(0.6, 1.4)
        self.p_flick = rng.uniform(0.05, 0.2)
        self.widen = 1.0
        self.storm_until = 0
        self.storm_fac = 1.0
        self.fast = False
        self.last_c = None
        self.inv_lim = 12 * book.Q

    def on_fill(self, o):
        self.widen = min(3.0, self.widen + 0.15)
        if not self.fast:
            self.fast = True
            self.sim.at(self.sim.now + self.sim.rng.randint(1, 25) * MS, self.requote_fast, None)

    def requote_fast(self, _):
        self.fast = False
        self.requote()

    def timer(self, _):
        sim = self.sim
        self.requote()
        iv = self.iv
        if sim.now < self.storm_until:
            iv /= self.storm_fac
        iv /= math.sqrt(self.book.sym.volfac)
        sim.at(sim.now + int(sim.rng.expovariate(1.0 / iv) * NS) + 1, self.timer, None)

    def lot(self, i):
        b = self.book
        return max(1, int(b.Q * self.sizef * (1 + 0.35 * i) * math.exp(self.sim.rng.gauss(0, 0.35))))

    def requote(self):
        sim = self.sim
        b = self.book
        rng = sim.rng
        inv = self.acct.pos.get(b.key, 0)
        h = max(0.5, self.h0 * (0.6 + 0.4 * b.sym.volfac) * self.widen * b.mm_widen)
        c = b.center() - inv / self.inv_lim * h + b.imbalance() * 0.5 * h
        storm = sim.now < self.storm_until
        # pick off quotes left stale well beyond fair value (e.g. after news)
        ax = b.best_excl(SELL, self.acct)
        if ax is not None and ax < c - 2 * h:
            lim = int(math.floor(c - h))
            q = min(b.depth_to(SELL, lim), 3 * b.Q)
            if q > 0:
                sim.stats["mm_pickoff"] += 1
                sim.submit(b, self.acct, BUY, q, lim, ioc=True)
        bx = b.best_excl(BUY, self.acct)
        if bx is not None and bx > c + 2 * h:
            lim = int(math.ceil(c + h))
            q = min(b.depth_to(BUY, lim), 3 * b.Q)
            if q > 0:
                sim.stats["mm_pickoff"] += 1
                sim.submit(b, self.acct, SELL, q, lim, ioc=True)
        bid0 = int(math.floor(c - h))
        ask0 = int(math.ceil(c + h))
        if ask0 <= bid0:
            ask0 = bid0 + 1
        ax = b.best_excl(SELL, self.acct)
        bx = b.best_excl(BUY, self.acct)
        if ax is not None and bid0 >= ax:
            bid0 = ax - 1
        if bx is not None and ask0 <= bx:
            ask0 = bx + 1
        g = self.gap
        wb = [bid0 - i * g for i in range(self.L)]
        wa = [ask0 + i * g for i in range(self.L)]
        up = self.last_c is None or c >= self.last_c
        self.last_c = c
        if up:
            self.reconcile(SELL, wa)
            self.reconcile(BUY, wb)
        else:
            self.reconcile(BUY, wb)
            self.reconcile(SELL, wa)
        pf = 0.85 if storm else self.p_flick
        if rng.random() < pf:
            side = BUY if rng.random() < 0.5 else SELL
            own = self.own[side]
            if own:
                p = wb[0] if side == BUY else wa[0]
                o = own.get(p)
                if o is not None and o.open:
                    sim.cancel(o)
                    del own[p]
                    o2 = sim.submit(b, self.acct, side, self.lot(0), p, agent=self, post_only=True)
                    if o2 is not None and o2.open:
                        own[p] = o2
        if rng.random() < 0.08:
            side = BUY if rng.random() < 0.5 else SELL
            own = self.own[side]
            if own:
                ps = list(own)
                p = ps[rng.randrange(len(ps))]
                o = own[p]
                if o.open:
                    sim.amend(o, qty=max(1, int(o.qty * rng.uniform(0.6, 1.5))))

    def reconcile(self, side, want):
        sim = self.sim
        b = self.book
        own = self.own[side]
        for p in [p for p in own if not own[p].open]:
            del own[p]
        ws = set(want)
        stale = [own[p] for p in own if p not in ws]
        missing = [(i, p) for i, p in enumerate(want) if p not in own]
        if self.amend_style:
            while stale and missing:
                o = stale.pop()
                i, p = missing.pop(0)
                old = o.price
                if sim.amend(o, price=p, qty=self.lot(i)):
                    del own[old]
                    own[p] = o
                else:
                    sim.cancel(o)
                    del own[old]
        for o in stale:
            sim.cancel(o)
            del own[o.price]
        for i, p in missing:
            if p <= 0:
                continue
            o = sim.submit(b, self.acct, side, self.lot(i), p, agent=self, post_only=True)
            if o is not None and o.open:
                own[p] = o


# --------------------------------------------------------------------------------------
# The simulator: matching engine, clock, background market
# --------------------------------------------------------------------------------------
class Sim:
    def __init__(self, seed, out_dir, minutes):
        self.seed = seed
        self.rng = random.Random(seed)
        rng = self.rng
        self.out_dir = out_dir
        self.heap = []
        self.seq = 0
        self.nev = 0
        self.labels = []
        self.stats = {"arbitrage": 0, "stop_triggered": 0, "stp_cancel": 0, "mm_pickoff": 0}
        self.accts = []
        self.acct_ids = set()
        self.owner_ids = set()
        # ---- timeline ------------------------------------------------------------
        day = 1710374400 * NS  # 2024-03-14 00:00:00 UTC
        self.R = day + 14 * 3600 * NS  # 14:00:00 UTC, a closing-reference time
        minutes = max(40.0, float(minutes))
        self.warm = S(27 * 60 + rng.uniform(0, 120))
        tail = S(180)
        span = S(minutes * 60) - self.warm - tail
        self.Ls = self.R - min(S(480), int(span * 0.55)) + S(rng.uniform(-30, 30))
        self.Le = self.Ls + span
        self.t0 = self.Ls - self.warm
        self.t0 -= self.t0 % MS
        self.t_end = self.t0 + S(minutes * 60)
        self.now = self.t0
        # ---- market --------------------------------------------------------------
        self.venues = {v: Venue(v, rng) for v in VENUES}
        self.syms = {s["name"]: Sym(s, rng) for s in SYMBOLS}
        self.books = []
        for lst in LISTINGS:
            b = Book(self.syms[lst[0]], self.venues[lst[1]], lst, rng)
            self.books.append(b)
            b.sym.books.append(b)
        self.bk = {b.key: b for b in self.books}
        for s in self.syms.values():
            max(s.books, key=lambda b: b.rate).primary = True
        self.A = 1.0
        self.A_x = 0.0
        self.A_phase = rng.uniform(0, 2 * math.pi)
        self.A_period = rng.uniform(1500, 3600)

    # ---- ids -----------------------------------------------------------------------
    def new_owner(self):
        while True:
            o = "O%05d" % self.rng.randrange(10000, 99999)
            if o not in self.owner_ids:
                self.owner_ids.add(o)
                return o

    def new_acct(self, kind, owner=None):
        while True:
            aid = "A%06d" % self.rng.randrange(100000, 999999)
            if aid not in self.acct_ids:
                break
        self.acct_ids.add(aid)
        a = Acct(aid, owner or self.new_owner(), kind)
        rng = self.rng
        a.sizef = math.exp(rng.gauss(0, 0.8))
        a.p_mkt = rng.betavariate(2, 3)
        a.b_mom = rng.gauss(0.06, 0.08)
        a.life = min(1800.0, math.exp(rng.gauss(math.log(25), 1.1)))
        a.amend_p = rng.choice((0.0, 0.05, 0.15, 0.3))
        a.w = min(40.0, rng.paretovariate(1.2))
        self.accts.append(a)
        return a

    # ---- clock -----------------------------------------------------------------------
    def at(self, ts, fn, arg):
        self.seq += 1
        heapq.heappush(self.heap, (ts, self.seq, fn, arg))

    def spawn(self, gen, ts):
        self.at(max(ts, self.now), self._step, gen)

    def _step(self, gen):
        try:
            d = next(gen)
        except StopIteration:
            return
        self.at(self.now + max(0, int(d)), self._step, gen)

    # ---- output ----------------------------------------------------------------------
    def w(self, s):
        self.out.write(s)
        self.nev += 1

    def emit_cancel(self, o):
        self.w('{"ts":%d,"type":"cancel",%s,"order_id":"%d","account":"%s"}\n'
               % (self.now, o.book.pre, o.oid, o.acct.id))

    # ---- matching engine ---------------------------------------------------------------
    def submit(self, b, a, side, qty, price=None, stp=True, agent=None, post_only=False, ioc=False,
               informative=None):
        qty = int(qty)
        if qty <= 0:
            return None
        if price is not None:
            price = int(price)
            if price <= 0:
                return None
            if post_only:
                if side == BUY:
                    if b.ap and price >= b.ap[0]:
                        return None
                elif b.bp and price <= b.bp[-1]:
                    return None
        v = b.venue
        v.oid += 1
        o = Order()
        o.oid = v.oid
        o.book = b
        o.acct = a
        o.side = side
        o.price = price
        o.qty = qty
        o.filled = 0
        o.open = False
        o.stp = stp
        o.agent = agent
        if price is None:
            self.w('{"ts":%d,"type":"new",%s,"order_id":"%d","account":"%s","side":"%s","qty":"%s"}\n'
                   % (self.now, b.pre, o.oid, a.id, SIDES[side], b.qx(qty)))
        else:
            self.w('{"ts":%d,"type":"new",%s,"order_id":"%d","account":"%s","side":"%s","price":"%s","qty":"%s"}\n'
                   % (self.now, b.pre, o.oid, a.id, SIDES[side], b.px(price), b.qx(qty)))
        if side == BUY:
            cross = b.ap and (price is None or b.ap[0] <= price)
        else:
            cross = b.bp and (price is None or b.bp[-1] >= price)
        if cross:
            last = self._match(o, price)
            if o.filled:
                self._impact(b, side, o.filled, last, a.kind != "mm" if informative is None else informative)
                if last is not None and (b.sbuy or b.ssell):
                    self._stops(b, last)
        if o.qty:
            if price is None or ioc:
                self.emit_cancel(o)
            else:
                if side == BUY:
                    lv, pl = b.bids, b.bp
                else:
                    lv, pl = b.asks, b.ap
                L = lv.get(price)
                if L is None:
                    L = Level()
                    lv[price] = L
                    bisect.insort(pl, price)
                L.q.append(o)
                L.tot += o.qty
                o.open = True
        return o

    def _match(self, o, limit):
        b = o.book
        side = o.side
        if side == BUY:
            lv, pl = b.asks, b.ap
        else:
            lv, pl = b.bids, b.bp
        last = None
        pre = b.pre
        venue = b.venue
        while o.qty and pl:
            p = pl[0] if side == BUY else pl[-1]
            if limit is not None and ((side == BUY and p > limit) or (side == SELL and p < limit)):
                break
            L = lv[p]
            q = L.q
            while q and o.qty:
                r = q[0]
                if o.stp and r.acct.owner == o.acct.owner:
                    # self-trade prevention, cancel-resting mode
                    self.stats["stp_cancel"] += 1
                    q.popleft()
                    L.tot -= r.qty
                    r.open = False
                    self.emit_cancel(r)
                    continue
                x = r.qty if r.qty < o.qty else o.qty
                venue.tid += 1
                if side == BUY:
                    ba, sa, bo, so = o.acct, r.acct, o.oid, r.oid
                else:
                    ba, sa, bo, so = r.acct, o.acct, r.oid, o.oid
                self.w('{"ts":%d,"type":"trade",%s,"trade_id":"%d","price":"%s","qty":"%s","buy_account":"%s",'
                       '"sell_account":"%s","buy_order_id":"%d","sell_order_id":"%d","aggressor":"%s"}\n'
                       % (self.now, pre, venue.tid, b.px(p), b.qx(x), ba.id, sa.id, bo, so, SIDES[side]))
                ba.pos[b.key] = ba.pos.get(b.key, 0) + x
                sa.pos[b.key] = sa.pos.get(b.key, 0) - x
                b.vol_acc += x
                b.vol_cum += x
                b.ntrades += 1
                r.qty -= x
                r.filled += x
                L.tot -= x
                o.qty -= x
                o.filled += x
                last = p
                if not r.qty:
                    q.popleft()
                    r.open = False
                if r.agent is not None:
                    r.agent.on_fill(r)
            if not q:
                del lv[p]
                if side == BUY:
                    pl.pop(0)
                else:
                    pl.pop()
        return last

    def _impact(self, b, side, q, last, informative):
        """Market makers learn from aggressive flow (transient + a little permanent impact).
        Their own pick-offs carry no new information and move nothing."""
        s = b.sym
        if informative:
            c = b.center()
            move = b.kappa * q / b.Q
            if last is not None:
                beyond = (last - c) * side
                if beyond > 0:
                    move = max(move, b.eta * min(1.0, q / b.Q) * beyond)
            move = min(move, 2 * b.gap + b.h0)
            dl = side * move / c
            b.d += 0.9 * dl
            s.f *= math.exp(0.1 * dl)
            b.exc = min(2.0, b.exc + 0.03)
        if len(s.books) > 1 and not s.arb_pending:
            s.arb_pending = True
            self.at(self.now + self.rng.randint(1, 6) * MS, self.arb_check, s)

    def _stops(self, b, last):
        rng = self.rng
        now = self.now
        while b.sbuy and b.sbuy[0][0] <= last:
            _, _, a, q, exp = heapq.heappop(b.sbuy)
            if exp > now:
                self.at(now + rng.randint(2, 150) * MS, self.stop_fire, (b, a, BUY, q))
        while b.ssell and -b.ssell[0][0] >= last:
            _, _, a, q, exp = heapq.heappop(b.ssell)
            if exp > now:
                self.at(now + rng.randint(2, 150) * MS, self.stop_fire, (b, a, SELL, q))

    def stop_fire(self, arg):
        b, a, side, q = arg
        if not a.busy:
            self.stats["stop_triggered"] += 1
            self.marketable(b, a, side, q, slip=self.rng.randint(1, 3) * b.gap, ioc=True)

    def add_stop(self, b, a, side, trigger, q):
        self.seq += 1
        exp = self.now + S(self.rng.uniform(60, 1200))
        if side == BUY:
            heapq.heappush(b.sbuy, (trigger, self.seq, a, q, exp))
        else:
            heapq.heappush(b.ssell, (-trigger, self.seq, a, q, exp))

    def cancel(self, o):
        if o is None or not o.open:
            return False
        b = o.book
        if o.side == BUY:
            lv, pl = b.bids, b.bp
        else:
            lv, pl = b.asks, b.ap
        L = lv[o.price]
        L.q.remove(o)
        L.tot -= o.qty
        if not L.q:
            del lv[o.price]
            del pl[bisect.bisect_left(pl, o.price)]
        o.open = False
        self.emit_cancel(o)
        return True

    def amend(self, o, price=None, qty=None):
        if o is None or not o.open:
            return False
        np_ = o.price if price is None else int(price)
        nq = o.qty if qty is None else int(qty)
        if nq <= 0:
            return self.cancel(o)
        if np_ == o.price and nq == o.qty:
            return False
        if np_ <= 0:
            return False
        b = o.book
        if o.side == BUY:
            if b.ap and np_ >= b.ap[0]:
                return False
            lv, pl = b.bids, b.bp
        else:
            if b.bp and np_ <= b.bp[-1]:
                return False
            lv, pl = b.asks, b.ap
        L = lv[o.price]
        if np_ == o.price and nq < o.qty:
            L.tot -= o.qty - nq
            o.qty = nq
        else:  # price change or size increase: back of the queue
            L.q.remove(o)
            L.tot -= o.qty
            if not L.q:
                del lv[o.price]
                del pl[bisect.bisect_left(pl, o.price)]
            o.price = np_
            o.qty = nq
            L2 = lv.get(np_)
            if L2 is None:
                L2 = Level()
                lv[np_] = L2
                bisect.insort(pl, np_)
            L2.q.append(o)
            L2.tot += nq
        self.w('{"ts":%d,"type":"amend",%s,"order_id":"%d","account":"%s","price":"%s","qty":"%s"}\n'
               % (self.now, b.pre, o.oid, o.acct.id, b.px(o.price), b.qx(o.qty)))
        return True

    def marketable(self, b, a, side, qty, slip=0, stp=True, ioc=False):
        """limit order priced `slip` ticks through the opposite best"""
        if side == BUY:
            ref = b.ba()
            if ref is None:
                return None
            return self.submit(b, a, BUY, qty, ref + slip, stp=stp, ioc=ioc)
        ref = b.bb()
        if ref is None:
            return None
        return self.submit(b, a, SELL, qty, max(1, ref - slip), stp=stp, ioc=ioc)

    def passive(self, b, a, side, qty, behind=0, stp=True):
        ref = b.bb() if side == BUY else b.ba()
        if ref is None:
            return None
        return self.submit(b, a, side, qty, ref - side * behind, stp=stp, post_only=True)

    # ---- arbitrage ---------------------------------------------------------------------
    def arb_check(self, s):
        s.arb_pending = False
        rng = self.rng
        bks = [b for b in s.books if not b.arb_off]
        for bs in bks:  # sell venue
            for bb_ in bks:  # buy venue
                if bs is bb_:
                    continue
                bid = bs.bb()
                ask = bb_.ba()
                if bid is None or ask is None or bid <= ask + 1:
                    continue
                q = min(bs.bids[bid].tot, bb_.asks[ask].tot, 3 * min(bs.Q, bb_.Q))
                if q <= 0:
                    continue
                firm = self.arb_firms[rng.randrange(len(self.arb_firms))]
                self.submit(bb_, firm[bb_.venue.name], BUY, q, ask, ioc=True, informative=False)
                self.submit(bs, firm[bs.venue.name], SELL, q, bid, ioc=True, informative=False)
                # market makers of the thinner venue, picked off, re-centre part way to the deeper one
                thin, deep = (bb_, bs) if bb_.rate < bs.rate else (bs, bb_)
                m = deep.mid()
                if m is not None:
                    thin.d += 0.3 * math.log(m / thin.center())
                self.stats["arbitrage"] += 1
                return

    # ---- global clock: fundamentals, volatility, activity ------------------------------
    def tick(self, k):
        rng = self.rng
        dt = 0.2
        sec = k % 5 == 0
        zc = rng.gauss(0, 1)
        for s in self.syms.values():
            z = s.beta * zc + math.sqrt(1 - s.beta ** 2) * rng.gauss(0, 1)
            s.f *= math.exp(s.sig * math.sqrt(dt) * z)
            if sec:
                r = math.log(s.f / s.f_sec)
                s.f_sec = s.f
                var = s.sig_bar ** 2 * 0.05 + 0.10 * r * r + 0.85 * s.sig ** 2
                s.sig = min(6 * s.sig_bar, max(0.4 * s.sig_bar, math.sqrt(var)))
                s.volfac = s.sig / s.sig_bar
        now = self.now
        for b in self.books:
            b.d *= math.exp(-dt / b.tau)
            b.exc *= math.exp(-dt / 15.0)
            if now >= b.bias_hold:
                b.bias *= math.exp(-dt / 20.0)
            if now >= b.rate_hold:
                b.rate_mult = 1 + (b.rate_mult - 1) * math.exp(-dt / 15.0)
                b.size_mult = 1 + (b.size_mult - 1) * math.exp(-dt / 15.0)
                b.mm_widen = 1 + (b.mm_widen - 1) * math.exp(-dt / 20.0)
            for m in b.mms:
                m.widen = 1 + (m.widen - 1) * 0.9
            if sec:
                b.mids.append(b.mid())
                if b.vol_ewma is None:
                    b.vol_ewma = b.vol_acc
                else:
                    b.vol_ewma += (b.vol_acc - b.vol_ewma) / 300.0
                b.vol_acc = 0
        if sec:
            t = (now - self.t0) / NS
            self.A_x += -self.A_x / 300.0 + 0.15 * math.sqrt(2 / 300.0) * rng.gauss(0, 1)
            self.A = math.exp(0.25 * math.sin(2 * math.pi * t / self.A_period + self.A_phase) + self.A_x)
        self.at(now + S(dt), self.tick, k + 1)

    # ---- background traders ------------------------------------------------------------
    def momentum(self, b):
        m = b.mids
        if len(m) < 11 or m[-1] is None or m[-11] is None:
            return 0.0
        sg = b.sig_ticks(10)
        return math.tanh((m[-1] - m[-11]) / max(sg, 0.5))

    def arrive(self, b):
        rng = self.rng
        lam = b.rate * self.A * math.sqrt(b.sym.volfac) * (1 + b.exc) * b.rate_mult
        self.at(self.now + int(rng.expovariate(lam) * NS) + 1, self.arrive, b)
        a = b.pool[bisect.bisect(b.cumw, rng.random() * b.cumw[-1])]
        if a.busy:
            return
        self.trader_act(b, a)

    def size_for(self, b, a, mult=1.0):
        rng = self.rng
        q = b.retail * a.sizef * b.size_mult * mult * math.exp(rng.gauss(0, 0.6))
        if rng.random() < 0.01:
            q *= rng.uniform(5, 15)
        return max(1, int(q))

    def trader_act(self, b, a):
        rng = self.rng
        bb, ba = b.bb(), b.ba()
        if bb is None or ba is None:
            return
        # order-book imbalance, short-term momentum, news/hype bias, and value (distance of this
        # book from the consensus fair value in one-minute sigmas) drive the side
        val = (bb + ba) * 0.5 - b.sym.f / b.sym.tickval
        val = math.tanh(val / max(1.0, 2 * b.sig_ticks(60)))
        pb = 0.5 + 0.25 * b.imbalance() + a.b_mom * self.momentum(b) + b.bias - 0.2 * val
        side = BUY if rng.random() < min(0.95, max(0.05, pb)) else SELL
        q = self.size_for(b, a)
        pm = a.p_mkt * (1 + 0.5 * abs(b.bias) * 4)
        if rng.random() < pm:
            if rng.random() < 0.35 and b.depth(-side, 50) > 3 * q:
                o = self.submit(b, a, side, q)
            else:
                o = self.marketable(b, a, side, q, slip=rng.choice((0, 0, 0, 1, 2)) * b.gap)
                if o is not None and o.open:
                    self.at(self.now + S(rng.expovariate(1 / 8.0)) + MS, self.cancel_if_open, o)
            if o is not None and o.filled:
                u = rng.random()
                dist = max(2, int(rng.uniform(2, 12) * b.sig_ticks(10)))
                ref = (bb + ba) // 2
                if u < 0.3:  # protective stop-loss
                    self.add_stop(b, a, -side, ref - side * dist, o.filled)
                elif u < 0.38:  # breakout entry
                    self.add_stop(b, a, side, ref + side * dist, max(1, o.filled // 2))
            return
        u = rng.random()
        spread = ba - bb
        best = bb if side == BUY else ba
        if u < 0.1 and spread > 1:
            p = best + side
        elif u < 0.45:
            p = best
        elif u < 0.85:
            p = best - side * rng.randint(1, 3 * b.gap + 2)
        else:
            p = best - side * (1 + int(rng.expovariate(1.0 / (12 * b.gap))))
        o = self.submit(b, a, side, q, p, post_only=True)
        if o is None or not o.open:
            return
        life = rng.expovariate(1.0 / a.life)
        if rng.random() < a.amend_p:
            self.at(self.now + S(life * rng.uniform(0.2, 0.8)) + MS, self.trader_amend, o)
        if rng.random() < 0.93:
            self.at(self.now + S(life) + MS, self.cancel_if_open, o)

    def cancel_if_open(self, o):
        if o.open:
            self.cancel(o)

    def trader_amend(self, o):
        if not o.open:
            return
        b = o.book
        rng = self.rng
        if rng.random() < 0.6:
            ref = b.bb() if o.side == BUY else b.ba()
            if ref is not None and ref != o.price:
                self.amend(o, price=ref)
        else:
            self.amend(o, qty=max(1, int(o.qty * rng.uniform(0.5, 1.6))))

    # ---- setup -------------------------------------------------------------------------
    def setup(self):
        rng = self.rng
        # market-making firms: one account per venue each
        self.mm_firms = []
        for _ in range(6):
            own = self.new_owner()
            self.mm_firms.append({v: self.new_acct("mm", own) for v in VENUES})
        self.arb_firms = []
        for _ in range(2):
            own = self.new_owner()
            self.arb_firms.append({v: self.new_acct("arb", own) for v in VENUES})
        for b in self.books:
            firms = rng.sample(range(len(self.mm_firms)), b.nmm)
            for fi in firms:
                b.mms.append(MM(self, b, self.mm_firms[fi][b.venue.name]))
        # independent traders
        for b in self.books:
            n = int(25 + 40 * b.rate)
            for _ in range(n):
                b.pool.append(self.new_acct("retail"))
        # some trade more than one book
        for b in self.books:
            for a in list(b.pool):
                if rng.random() < 0.12:
                    o = self.books[rng.randrange(len(self.books))]
                    if o is not b and a not in o.pool:
                        o.pool.append(a)
        # same-owner account pairs on one book (never trade each other: exchange STP)
        self.pairs = {}
        for b in self.books:
            self.pairs[b.key] = []
            for _ in range(3):
                own = self.new_owner()
                x, y = self.new_acct("retail", own), self.new_acct("retail", own)
                b.pool += [x, y]
                self.pairs[b.key].append((x, y))
        # owners with accounts on two venues of one symbol
        self.xv = {}
        for s in self.syms.values():
            for i, b1 in enumerate(s.books):
                for b2 in s.books[i + 1:]:
                    lst = []
                    for _ in range(3):
                        own = self.new_owner()
                        x, y = self.new_acct("retail", own), self.new_acct("retail", own)
                        b1.pool.append(x)
                        b2.pool.append(y)
                        lst.append((x, y))
                    self.xv[(b1.key, b2.key)] = lst
        for b in self.books:
            c = 0.0
            for a in b.pool:
                c += a.w
                b.cumw.append(c)
        # clock-driven accounts (narrow time-of-minute habit)
        self.cron = []
        for i in range(8):
            b = self.books[rng.randrange(len(self.books))]
            a = self.new_acct("cron")
            a.sizef = math.exp(rng.gauss(-0.3, 0.4))
            phase = 0 if i < 4 else rng.randint(3, 55)
            self.cron.append((b, a, phase))
        self.inst = [self.new_acct("inst") for _ in range(6)]

    def start_background(self):
        rng = self.rng
        t0 = self.t0
        self.at(t0, self.tick, 0)
        for b in self.books:
            for m in b.mms:
                self.at(t0 + rng.randint(0, 300) * MS, m.timer, None)
            self.at(t0 + S(2) + rng.randint(0, 2000) * MS, self.arrive, b)
        for b, a, ph in self.cron:
            self.spawn(self.g_cron(b, a, ph), t0)
        span = self.t_end - t0
        # institutional parent orders worked over minutes
        for a in self.inst:
            b = self.pick_book(lambda b: b.rate)
            st = t0 + S(60) + rng.randint(0, max(1, span - S(600)))
            self.spawn(self.g_inst(b, a), st)
        # genuine large orders cancelled after the market moved away
        for _ in range(rng.randint(4, 7)):
            b = self.pick_book(lambda b: 1.0)
            a = b.pool[rng.randrange(len(b.pool))]
            self.spawn(self.g_bigcancel(b, a), t0 + S(120) + rng.randint(0, span - S(300)))
        # market makers' cancel storms
        for _ in range(rng.randint(3, 5)):
            b = self.pick_book(lambda b: 1.0)
            m = b.mms[rng.randrange(len(b.mms))]
            st = t0 + S(60) + rng.randint(0, span - S(120))
            self.at(st, self.mm_storm, (m, S(rng.uniform(5, 30)), rng.uniform(5, 20)))
        # minor news (unlabelled: moves of a few minute-sigmas)
        for k in range(rng.randint(2, 3)):
            s = list(self.syms.values())[rng.randrange(len(self.syms))]
            if k == 0:
                st = self.Ls + rng.randint(0, self.Le - self.Ls - S(120))
            else:
                st = t0 + S(300) + rng.randint(0, self.warm - S(420))
            sig1m = s.sig_bar * math.sqrt(60)
            J = rng.choice((-1, 1)) * rng.uniform(2, 4) * sig1m
            self.spawn(self.g_news(s, J, rng.uniform(1.5, 2.5), rng.uniform(20, 40), None), st)

    def pick_book(self, wf, cands=None):
        cands = cands or self.books
        ws = [wf(b) for b in cands]
        x = self.rng.random() * sum(ws)
        for b, w_ in zip(cands, ws):
            x -= w_
            if x <= 0:
                return b
        return cands[-1]

    def mm_storm(self, arg):
        m, dur, fac = arg
        m.storm_until = self.now + dur
        m.storm_fac = fac

    # ---- background generators -------------------------------------------------------
    def g_cron(self, b, a, phase):
        """acts only at a fixed second of every minute (a scheduled algo)"""
        rng = self.rng
        while True:
            nxt = self.now - (self.now % S(60)) + S(60) + S(phase)
            jit = rng.randint(0, 3 * MS) if phase == 0 else rng.randint(0, 1500 * MS)
            yield nxt + jit - self.now
            if a.busy:
                continue
            for _ in range(rng.randint(1, 2)):
                side = BUY if rng.random() < 0.5 else SELL
                q = self.size_for(b, a)
                if rng.random() < 0.6:
                    self.marketable(b, a, side, q, ioc=True)
                else:
                    o = self.passive(b, a, side, q)
                    if o is not None:
                        self.at(self.now + S(rng.uniform(5, 40)), self.cancel_if_open, o)
                yield rng.randint(0, 200) * MS

    def g_inst(self, b, a):
        """institutional parent order worked over minutes (passive and marketable children)"""
        rng = self.rng
        side = BUY if rng.random() < 0.5 else SELL
        total = int(b.retail * rng.uniform(60, 300))
        end = self.now + S(rng.uniform(240, 900))
        rem = total
        while rem > 0 and self.now < end:
            child = max(1, min(rem, int(total * rng.uniform(0.02, 0.08))))
            if rng.random() < 0.6:
                o = self.passive(b, a, side, child)
                if o is not None:
                    t1 = self.now + S(rng.uniform(5, 20))
                    while o.open and self.now < t1:
                        yield S(1)
                    rem -= o.filled
                    self.cancel(o)
            else:
                o = self.marketable(b, a, side, child, slip=b.gap, ioc=True)
                if o is not None:
                    rem -= o.filled
            yield S(rng.uniform(3, 20))

    def g_bigcancel(self, b, a):
        """a genuine large resting order, cancelled once the market moved away (no opposite trade)"""
        rng = self.rng
        a.busy = True
        side = BUY if rng.random() < 0.5 else SELL
        q = int(b.retail * a.sizef * rng.uniform(10, 40))
        o = self.passive(b, a, side, q, behind=rng.randint(1, 4))
        if o is None:
            a.busy = False
            return
        p0 = o.price
        away = rng.randint(3, 10) * b.gap
        tmax = self.now + S(rng.uniform(30, 300))
        while o.open and self.now < tmax:
            yield S(rng.uniform(1, 3))
            ref = b.bb() if side == BUY else b.ba()
            if ref is not None and (ref - p0) * side >= away:
                yield S(rng.uniform(1, 10))
                break
        self.cancel(o)
        yield S(10)
        a.busy = False

    def g_news(self, s, J, mult, hold, labels):
        """a genuine information event: fair value jumps, many independent accounts rush in"""
        rng = self.rng
        steps = rng.randint(2, 12)
        first = self.now
        books = s.books
        for b in books:
            b.rate_mult = mult * (1.0 if b.primary else rng.uniform(0.5, 1.0))
            b.size_mult = rng.uniform(1.2, 2.0) if abs(J) > 0.01 else 1.1
            b.rate_hold = self.now + S(hold)
            b.bias = math.copysign(rng.uniform(0.05, 0.15), J) if abs(J) > 0.01 else math.copysign(0.05, J)
            b.bias_hold = self.now + S(min(hold, rng.uniform(10, 30)))
            b.mm_widen = rng.uniform(1.5, 3.0) if abs(J) > 0.01 else 1.3
            for m in b.mms:
                m.storm_until = self.now + S(rng.uniform(3, 20))
                m.storm_fac = rng.uniform(4, 12)
        for i in range(steps):
            s.f *= math.exp(J / steps)
            yield rng.randint(50, 500) * MS
        if labels:
            for lab in labels:
                lab.start = first
                lab.end = first + S(hold + 15)

    def run(self):
        heap = self.heap
        pop = heapq.heappop
        t_end = self.t_end
        while heap:
            ts, _, fn, arg = pop(heap)
            if ts > t_end:
                break
            self.now = ts
            fn(arg)


# --------------------------------------------------------------------------------------
# Manipulation scenarios (each a generator over simulated time; labels marked from the
# manipulators' own actions)
# --------------------------------------------------------------------------------------
class Scenarios:
    def __init__(self, sim):
        self.sim = sim
        self.rng = sim.rng
        self.used = set()

    def take(self, cands, n=1, pred=None):
        rng = self.rng
        c = [a for a in cands if a.id not in self.used and (pred is None or pred(a))]
        if len(c) < n:
            c = [a for a in cands if a.id not in self.used]
        pick = rng.sample(c, min(n, len(c)))  # a book with fewer free accounts gives fewer
        for a in pick:
            self.used.add(a.id)
        return pick

    def g(self, b, a):
        """the account's genuine (median) order size on this book"""
        return max(1, int(b.retail * a.sizef))

    # -- spoofing / cross-venue (spoof on b by a, genuine on gb by ga) -------------------
    def guard(self, lab, b, orders, behind):
        """keep resting manipulative orders off the touch, as spoofing algorithms do: if the
        market comes to an order (it becomes the best price), move it back `behind` ticks"""
        sim = self.sim
        for o in orders:
            if not o.open:
                continue
            ref = b.best_excl(o.side, o.acct)
            if ref is None:
                continue
            if (o.price - ref) * o.side >= 0:
                if sim.amend(o, price=ref - o.side * (behind + (o.price - ref) * o.side)):
                    lab.mark()

    def hold(self, lab, b, orders, behind, until, done=None):
        """wait until `until` (or until done() is true), guarding `orders`"""
        sim, rng = self.sim, self.rng
        while sim.now < until and not (done is not None and done()):
            self.guard(lab, b, orders, behind)
            yield rng.randint(20, 80) * MS

    def spoof(self, lab, b, a, gb, ga, until, layered):
        sim, rng = self.sim, self.rng
        accts = [a, ga]
        for x in accts:
            x.busy = True
        yield 0
        side = BUY if rng.random() < 0.5 else SELL  # spoof side
        rep = 0
        while rep == 0 or sim.now < until:
            rep += 1
            if rep > 1 and rng.random() < 0.3:
                side = -side
            ref = b.best_excl(side, a)
            if ref is None or b.bb() is None or b.ba() is None:
                yield S(0.5)
                continue
            g = self.g(b, a)
            total = max(3, int(g * rng.uniform(10, 50)))
            n = rng.randint(3, 5) if layered else rng.choice((1, 1, 2, 3))
            # near but not at the touch: 1-3 price levels behind, plus about a second's volatility
            behind = rng.randint(1, 3) * b.gap + int(round(rng.uniform(0.3, 1.2) * b.sig_ticks(1)))
            spoofs = []
            ws = [rng.uniform(0.7, 1.3) for _ in range(n)]
            for i in range(n):
                p = ref - side * (behind + (i if layered else i * b.gap))
                o = sim.submit(b, a, side, max(1, int(total * ws[i] / sum(ws))), p, post_only=True)
                if o is not None:
                    spoofs.append(o)
                    lab.mark()
                if i < n - 1:
                    yield rng.randint(0, 3) * MS
            yield from self.hold(lab, b, spoofs, behind, sim.now + S(rng.uniform(0.05, 1.5)))
            gs = -side
            gq = max(1, int(self.g(gb, ga) * math.exp(rng.gauss(0, 0.3))))
            if rng.random() < 0.6:
                gbb, gba = gb.bb(), gb.ba()
                if gbb is not None and gba is not None:
                    best = gbb if gs == BUY else gba
                    p = best + gs if gba - gbb > 1 and rng.random() < 0.5 else best
                    go = sim.submit(gb, ga, gs, gq, p, post_only=True)
                    lab.mark()
                    if go is not None:
                        yield from self.hold(lab, b, spoofs, behind, sim.now + S(rng.uniform(1, 8)),
                                             lambda: not go.open)
                        if go.open:
                            rem = go.qty
                            sim.cancel(go)
                            sim.marketable(gb, ga, gs, rem, slip=gb.gap, ioc=True)
                            lab.mark()
            else:
                sim.marketable(gb, ga, gs, gq, slip=rng.randint(0, 1) * gb.gap, ioc=True)
                lab.mark()
            # cancel the spoof about 2 s after the genuine fill (Eventus / CFTC pattern)
            d = S(min(3.5, max(0.3, rng.lognormvariate(math.log(1.8), 0.45))))
            yield from self.hold(lab, b, spoofs, behind, sim.now + d)
            for o in spoofs:
                if sim.cancel(o):
                    lab.mark()
                yield rng.randint(0, 2) * MS
            yield S(rng.uniform(3, 25))
        yield S(5)
        for x in accts:
            x.busy = False

    # -- layering, Coscia 2011 -------------------------------------------------------------
    def coscia(self, lab, b, a, cycles):
        sim, rng = self.sim, self.rng
        a.busy = True
        yield 0
        side = BUY if rng.random() < 0.5 else SELL  # genuine side
        g = self.g(b, a)
        for c in range(cycles):
            bb, ba = b.bb(), b.ba()
            if bb is None or ba is None:
                yield S(1)
                continue
            best = bb if side == BUY else ba
            p = best + side if ba - bb > 1 else best
            gq = max(1, int(g * math.exp(rng.gauss(0, 0.2))))
            go = sim.submit(b, a, side, gq, p, post_only=True)
            lab.mark()
            yield rng.randint(1, 50) * MS
            n = rng.randint(3, 5)
            r = rng.uniform(0.55, 0.8)
            ws = [r ** i * rng.uniform(0.85, 1.15) for i in range(n)]
            total = gq * rng.uniform(8, 25)
            k0 = rng.randint(1, 2)
            lay = []
            opp = b.ba() if side == BUY else b.bb()
            if opp is None:
                opp = best + side * 2
            for i in range(n):
                lp = opp + side * (k0 + i)
                o = sim.submit(b, a, -side, max(1, int(total * ws[i] / sum(ws))), lp, post_only=True)
                if o is not None:
                    lay.append(o)
                    lab.mark()
                yield rng.randint(0, 2) * MS
            if go is not None:
                yield from self.hold(lab, b, lay, k0, sim.now + S(rng.uniform(0.5, 4)), lambda: not go.open)
                if go.open:
                    rem = go.qty
                    sim.cancel(go)
                    sim.marketable(b, a, side, rem, ioc=True)
                    lab.mark()
            yield from self.hold(lab, b, lay, k0, sim.now + S(rng.uniform(0.1, 0.8)))
            for o in lay:
                if sim.cancel(o):
                    lab.mark()
                yield rng.randint(0, 3) * MS
            side = -side  # mirrored
            yield S(rng.uniform(0.3, 8))
        a.busy = False

    # -- layering, Sarao 2009-15 ------------------------------------------------------------
    def sarao(self, lab, b, a, dur):
        sim, rng = self.sim, self.rng
        a.busy = True
        yield 0
        side = SELL if rng.random() < 0.7 else BUY  # layer side
        n = rng.randint(4, 6)
        k0 = rng.randint(3, 4)
        g = self.g(b, a)
        sizes = [max(1, int(g * rng.uniform(10, 40))) for _ in range(n)]
        lay = []

        def targets():
            ref = b.best_excl(side, a)
            if ref is None:
                return None
            return [ref - side * (k0 + i) for i in range(n)]  # side SELL: ref + k0 + i

        tg = targets()
        if tg is None:
            a.busy = False
            return
        for i in range(n):
            o = sim.submit(b, a, side, sizes[i], tg[i], post_only=True)
            if o is not None:
                lay.append(o)
                lab.mark()
        end = sim.now + S(dur)
        nxt = sim.now + S(rng.uniform(2, 12))
        gen_orders = []
        while sim.now < end:
            yield S(rng.uniform(0.1, 0.6))
            tg = targets()
            if tg is None:
                continue
            live = [o for o in lay if o.open]
            # closest first when moving away from the market, farthest first when moving toward it
            pairs = list(zip(sorted(live, key=lambda o: -side * o.price), tg))
            for o, p in pairs:
                if o.price != p:
                    if sim.amend(o, price=p):
                        lab.mark()
                elif rng.random() < 0.06:
                    if sim.amend(o, qty=max(1, int(o.qty * rng.uniform(0.85, 1.15)))):
                        lab.mark()
            if sim.now >= nxt:
                q = max(1, int(g * math.exp(rng.gauss(0, 0.4))))
                if rng.random() < 0.6:
                    sim.marketable(b, a, -side, q, ioc=True)
                else:
                    o = sim.passive(b, a, -side, q)
                    if o is not None:
                        gen_orders.append(o)
                lab.mark()
                nxt = sim.now + S(rng.uniform(3, 20))
        for o in lay + gen_orders:
            if sim.cancel(o):
                lab.mark()
        a.busy = False

    # -- wash trading ----------------------------------------------------------------------
    def cross_pair(self, lab, b, seller, buyer, q):
        """seller rests inside the spread, buyer takes it (no STP)"""
        sim, rng = self.sim, self.rng
        for _ in range(200):
            bb, ba = b.bb(), b.ba()
            if bb is not None and ba is not None and ba - bb >= 2:
                break
            yield rng.randint(100, 400) * MS
        else:
            return
        p = rng.randint(bb + 1, ba - 1)
        rest_side = SELL if rng.random() < 0.6 else BUY
        if rest_side == SELL:
            o1 = sim.submit(b, seller, SELL, q, p, stp=False, post_only=True)
        else:
            o1 = sim.submit(b, buyer, BUY, q, p, stp=False, post_only=True)
        if o1 is None:
            return
        lab.mark()
        yield rng.choice((0, 0, rng.randint(1, 300))) * MS
        if o1.open:
            taker = buyer if rest_side == SELL else seller
            o2 = sim.submit(b, taker, -rest_side, o1.qty, p, stp=False, ioc=True)
            lab.mark()
        if sim.cancel(o1):
            lab.mark()

    def wash(self, lab, b, kind, accts, dur):
        sim, rng = self.sim, self.rng
        for a in accts:
            a.busy = True
        yield 0
        end = sim.now + S(dur)
        if kind == "ring":
            k = len(accts)
            cycles = rng.randint(1, 3)
            for c in range(cycles):
                q = max(1, int(b.retail * rng.uniform(1, 6)))
                for i in range(k):
                    yield from self.cross_pair(lab, b, accts[i], accts[(i + 1) % k], q)
                    yield S(rng.uniform(2, dur / (cycles * k)))
        else:
            n = rng.randint(6, 25)
            for i in range(n):
                q = max(1, int(self.g(b, accts[0]) * rng.uniform(1, 8)))
                if kind == "self":
                    s_, b_ = accts[0], accts[0]
                else:
                    s_, b_ = (accts[0], accts[1]) if i % 2 == 0 else (accts[1], accts[0])
                yield from self.cross_pair(lab, b, s_, b_, q)
                if sim.now > end:
                    break
                yield S(rng.expovariate(n / dur))
        for a in accts:
            a.busy = False

    # -- pump and dump ---------------------------------------------------------------------
    def accumulate(self, b, orgs, target, t_stop):
        """organisers' quiet build-up before the pump (unlabelled, ordinary sizes)"""
        sim, rng = self.sim, self.rng
        while sim.now < t_stop:
            a = orgs[rng.randrange(len(orgs))]
            if sum(o.pos.get(b.key, 0) for o in orgs) >= target:
                return
            q = max(1, int(b.retail * a.sizef * math.exp(rng.gauss(0, 0.5))))
            if rng.random() < 0.5:
                sim.marketable(b, a, BUY, q, ioc=True)
            else:
                o = sim.passive(b, a, BUY, q)
                if o is not None:
                    sim.at(sim.now + S(rng.uniform(5, 60)), sim.cancel_if_open, o)
            yield S(rng.uniform(10, 60))

    def pump(self, lab, b, orgs, rush, pump_dur, dump_dur, target):
        sim, rng = self.sim, self.rng
        for a in orgs + rush:
            a.busy = True
        yield 0
        end = sim.now + S(pump_dur)
        rush_orders = []
        burst = 0
        p_start = b.mid() or b.center()
        while sim.now < end and (b.mid() or 0) < p_start * (1 + target):
            burst += 1
            k = max(3, int(len(rush) * rng.uniform(0.4, 1.0)))
            part = rng.sample(rush, k)
            if burst <= 2:
                part = orgs + part
            t_ms = sim.now - sim.now % MS + MS
            offs = sorted(rng.randint(0, MS - 1) for _ in part)
            for a, off in zip(part, offs):
                if t_ms + off > sim.now:
                    yield t_ms + off - sim.now
                ba = b.ba()
                if ba is None:
                    continue
                slip = max(1, int(ba * rng.uniform(0.005, 0.03)))
                q = max(1, int(b.retail * math.exp(rng.gauss(0.4, 0.6))))
                if a in orgs:
                    q = int(q * rng.uniform(2, 5))
                o = sim.submit(b, a, BUY, q, ba + slip)
                lab.mark()
                if o is not None and o.open:
                    rush_orders.append(o)
            b.bias = max(b.bias, rng.uniform(0.2, 0.35))
            b.bias_hold = sim.now + S(5)
            b.rate_mult = max(b.rate_mult, rng.uniform(3, 6))
            b.rate_hold = sim.now + S(5)
            yield S(rng.uniform(0.5, 4))
            for o in rush_orders:
                if o.open and rng.random() < 0.3:
                    sim.cancel(o)
                    lab.mark()
        for o in rush_orders:
            if sim.cancel(o):
                lab.mark()
        for a in rush:
            a.busy = False
        # dump: organisers sell their whole position into the buying
        b.bias = -rng.uniform(0.05, 0.2)
        b.bias_hold = sim.now + S(dump_dur * 0.5)
        end = sim.now + S(dump_dur)
        resting = []
        while True:
            inv = [(a, a.pos.get(b.key, 0)) for a in orgs]
            inv = [(a, x) for a, x in inv if x > 0]
            if not inv:
                break
            a, x = inv[rng.randrange(len(inv))]
            last = sim.now >= end
            chunk = x if last else max(1, int(x * rng.uniform(0.1, 0.35)))
            if last or rng.random() < 0.6:
                bb = b.bb()
                if bb is None:
                    yield S(0.5)
                    continue
                sim.submit(b, a, SELL, chunk, max(1, bb - max(1, int(bb * rng.uniform(0.002, 0.02)))), ioc=True)
            else:
                o = sim.passive(b, a, SELL, chunk)
                if o is not None:
                    resting.append(o)
            lab.mark()
            if last:
                for o in resting:
                    if sim.cancel(o):
                        lab.mark()
                resting = []
            yield S(rng.uniform(0.3, 3))
            for o in resting:
                if o.open and rng.random() < 0.5:
                    sim.cancel(o)
                    lab.mark()
        for o in resting:
            if sim.cancel(o):
                lab.mark()
        for a in orgs:
            a.busy = False
        lab.note = "pump from %s" % p_start

    # -- quote stuffing ----------------------------------------------------------------------
    def stuff(self, lab, b, a, bursts):
        sim, rng = self.sim, self.rng
        a.busy = True
        yield 0
        g = self.g(b, a)
        for _ in range(bursts):
            rate = rng.uniform(200, 3000) / 2.0  # orders per second (each also cancelled)
            end = sim.now + S(rng.uniform(1, 6))
            life = rng.uniform(0.2, 20) * MS
            pend = deque()
            while sim.now < end:
                while pend and pend[0][0] <= sim.now:
                    if sim.cancel(pend.popleft()[1]):
                        lab.mark()
                side = BUY if rng.random() < 0.5 else SELL
                o = sim.passive(b, a, side, max(1, int(g * rng.uniform(0.5, 2))),
                                behind=0 if rng.random() < 0.15 else rng.randint(1, 8))
                if o is not None:
                    lab.mark()
                    pend.append((sim.now + int(life * rng.uniform(0.8, 1.2)), o))
                yield max(1000, int(rng.expovariate(rate) * NS))
            while pend:
                t, o = pend.popleft()
                if t > sim.now:
                    yield t - sim.now
                if sim.cancel(o):
                    lab.mark()
            yield S(rng.uniform(2, 15))
        a.busy = False

    # -- momentum ignition ------------------------------------------------------------------
    def ignite(self, lab, b, a):
        sim, rng = self.sim, self.rng
        a.busy = True
        yield 0
        D = BUY if rng.random() < 0.5 else SELL  # aggressive side; price pushed this way
        P = max(4, int(round(rng.uniform(3, 6) * b.sig_ticks(10))))
        m0 = b.mid()
        if m0 is None:
            a.busy = False
            return
        g = self.g(b, a)
        npas = rng.randint(2, 5)
        tot = g * rng.uniform(5, 20)
        pas = []
        for i in range(npas):
            p = int(round(m0 + D * (P * rng.uniform(0.8, 1.3) + i * b.gap)))
            o = sim.submit(b, a, -D, max(1, int(tot / npas)), p, post_only=True)
            if o is not None:
                pas.append(o)
                lab.mark()
        yield S(rng.uniform(0.5, 10))
        m0 = b.mid() or m0
        for k in range(rng.randint(3, 12)):
            ref = b.ba() if D == BUY else b.bb()
            if ref is None:
                break
            step = max(1, P // 3)
            lim = ref + D * step
            near = [o.price for o in pas if o.open]
            if near:
                lim = min(lim, min(near) - 1) if D == BUY else max(lim, max(near) + 1)
            q = min(b.depth_to(-D, lim), 4 * b.Q)
            if q <= 0:
                break  # only its own passive orders are left in the way
            sim.submit(b, a, D, q, lim, ioc=True)
            lab.mark()
            m = b.mid()
            if m is not None and (m - m0) * D >= P:
                break
            yield rng.randint(50, 800) * MS
        t1 = sim.now + S(rng.uniform(20, 90))
        while sim.now < t1 and any(o.open for o in pas):
            f0 = sum(o.filled for o in pas)
            yield S(0.25)
            if sum(o.filled for o in pas) != f0:
                lab.mark()
        for o in pas:
            if sim.cancel(o):
                lab.mark()
        a.busy = False

    # -- marking the close ----------------------------------------------------------------
    def mark_close(self, lab, b, accts, R):
        sim, rng = self.sim, self.rng
        for a in accts:
            a.busy = True
        yield 0
        D = BUY if rng.random() < 0.5 else SELL
        W = R - sim.now
        n = rng.randint(8, 30)
        xs = sorted((rng.random() ** 2 for _ in range(n - 1)), reverse=True)
        times = [R - int(W * x) for x in xs] + [R - S(rng.uniform(0.05, 5))]
        times = sorted(max(sim.now, min(t, R - MS)) for t in times)
        for i, t in enumerate(times):
            if t > sim.now:
                yield t - sim.now
            a = accts[rng.randrange(len(accts))]
            q = max(1, int(b.Q * rng.uniform(0.3, 1.5) * (1 + 1.5 * i / n)))
            sim.marketable(b, a, D, q, slip=rng.randint(1, 3) * b.gap, ioc=True)
            lab.mark()
        for a in accts:
            a.busy = False

    # -- concentrated trading -------------------------------------------------------------
    def concentrate(self, lab, b, a, dur, share):
        """one account trades most of the book's volume for some minutes (rate steered toward
        the chosen share of traded volume)"""
        sim, rng = self.sim, self.rng
        a.busy = True
        yield 0
        base = max(b.vol_ewma or 0.0, b.retail * 0.2)
        target = share / (1 - share) * base  # lots per second for the account
        end = sim.now + S(dur)
        tilt = rng.uniform(-0.15, 0.15)
        pas = []
        mine = []
        v0 = b.vol_cum
        while sim.now < end:
            q = max(1, int(b.Q * rng.uniform(0.3, 1.5)))
            side = BUY if rng.random() < 0.5 + tilt else SELL
            if rng.random() < 0.7:
                o = sim.marketable(b, a, side, q, slip=rng.randint(0, 1) * b.gap, ioc=True)
            else:
                o = sim.passive(b, a, side, q)
                if o is not None:
                    pas.append((sim.now + S(rng.uniform(2, 10)), o))
            if o is not None:
                mine.append(o)
                lab.mark()
            for t, o in pas:
                if t <= sim.now and sim.cancel(o):
                    lab.mark()
            pas = [(t, o) for t, o in pas if o.open]
            tot = b.vol_cum - v0
            got = sum(o.filled for o in mine)
            k = 0.5 if tot and got / tot > share else (2.0 if tot else 1.0)
            yield max(MS, S(rng.expovariate(k * target / q)))
        for t, o in pas:
            if sim.cancel(o):
                lab.mark()
        a.busy = False

    # -- unusual timing ---------------------------------------------------------------------
    def ut_coord(self, lab, b, accts, bursts):
        """many distinct accounts acting in the same millisecond, unlike their habits"""
        sim, rng = self.sim, self.rng
        for a in accts:
            a.busy = True
        yield 0
        side = BUY if rng.random() < 0.5 else SELL
        orders = []
        for k in range(bursts):
            t_ms = sim.now - sim.now % MS + MS
            offs = sorted(rng.randint(0, MS - 1) for _ in accts)
            mkt = rng.random() < 0.3
            for a, off in zip(accts, offs):
                if t_ms + off > sim.now:
                    yield t_ms + off - sim.now
                q = max(1, int(self.g(b, a) * math.exp(rng.gauss(0, 0.3))))
                if mkt:
                    o = sim.marketable(b, a, side, q, ioc=True)
                else:
                    o = sim.passive(b, a, side, q, behind=rng.randint(0, 1))
                    if o is not None:
                        orders.append(o)
                if o is not None:
                    lab.mark()
            yield S(rng.uniform(3, 40))
        for o in orders:
            if sim.cancel(o):
                lab.mark()
        for a in accts:
            a.busy = False

    def ut_offpattern(self, lab, b, a, phase, dur):
        """a clock-driven account trading far outside its habitual second of the minute"""
        sim, rng = self.sim, self.rng
        a.busy = True
        yield 0
        end = sim.now + S(dur)
        n = 0
        while sim.now < end or n < 3:
            sec = (sim.now // NS) % 60
            if abs(sec - phase) > 4:
                side = BUY if rng.random() < 0.5 else SELL
                q = max(1, int(self.g(b, a) * rng.uniform(3, 10)))
                sim.marketable(b, a, side, q, slip=b.gap, ioc=True)
                lab.mark()
                n += 1
            yield S(rng.uniform(0.5, 6))
        a.busy = False

    # -- price discrepancy -----------------------------------------------------------------
    def discrepancy(self, lab, b, mag, ramp, hold, back):
        sim, rng = self.sim, self.rng
        yield 0
        b.arb_off = True
        lab.start = sim.now
        sign = rng.choice((-1, 1))
        steps = max(1, int(ramp / 0.2))
        for i in range(steps):
            b.drift = sign * mag * (i + 1) / steps
            yield S(0.2)
        yield S(hold)
        b.arb_off = False
        steps = max(1, int(back / 0.2))
        d0 = b.drift
        for i in range(steps):
            b.drift = d0 * (1 - (i + 1) / steps)
            yield S(0.2)
        b.drift = 0.0
        lab.end = sim.now

    # -- anomaly: volume burst without a culprit, and a flash move ------------------------------
    def volume_burst(self, lab, b, mult, hold):
        sim, rng = self.sim, self.rng
        yield 0
        lab.start = sim.now
        b.rate_mult = mult
        b.size_mult = rng.uniform(1.2, 2.0)
        b.rate_hold = sim.now + S(hold)
        yield S(hold + 15)
        lab.end = sim.now

    def flash(self, lab, b, a, J):
        sim, rng = self.sim, self.rng
        yield 0
        side = SELL if rng.random() < 0.6 else BUY
        ref = b.bb() if side == SELL else b.ba()
        if ref is None:
            return
        lim = int(ref * (1 + side * J))
        q = max(1, int(b.depth_to(-side, lim) * rng.uniform(0.6, 0.95)))
        lab.start = sim.now
        sim.submit(b, a, side, q, lim, ioc=True)
        tau0 = b.tau
        b.tau = rng.uniform(20, 60)
        b.d += side * J * rng.uniform(0.4, 0.8)
        b.mm_widen = rng.uniform(1.5, 3)
        for m in b.mms:
            m.storm_until = sim.now + S(rng.uniform(3, 15))
            m.storm_fac = rng.uniform(4, 10)
        yield S(2 * b.tau)
        lab.end = sim.now
        b.tau = tau0


# --------------------------------------------------------------------------------------
# Planning the labelled span
# --------------------------------------------------------------------------------------
def plan(sim):
    rng = sim.rng
    sc = Scenarios(sim)
    occ = {}
    Ls, Le = sim.Ls, sim.Le
    multi = [b for b in sim.books if len(b.sym.books) > 1]

    def free(keys, s, e):
        for k in keys:
            for (a, b_) in occ.get(k, ()):
                if s < b_ and a < e:
                    return False
        return True

    def book_keys(b, symbol_wide=False):
        return [x.key for x in b.sym.books] if symbol_wide else [b.key]

    def place(choose, dur, symbol_wide=False, extra=None, lo=None, hi=None):
        lo = Ls if lo is None else lo
        hi = Le if hi is None else hi
        for attempt in range(600):
            b = choose()
            keys = book_keys(b, symbol_wide) + (extra(b) if extra else [])
            span = hi - lo - S(dur)
            st = lo + (rng.randint(0, span) if span > 0 else 0)
            if attempt > 400 or free(keys, st - S(5), st + S(dur + 20)):
                for k in keys:
                    occ.setdefault(k, []).append((st - S(5), st + S(dur + 20)))
                return b, st
        raise RuntimeError("no slot")

    any_book = lambda: sim.books[rng.randrange(len(sim.books))]

    # marking the close: fixed reference time(s) on the hour inside the labelled span
    hours = [t for t in range(Ls - Ls % S(3600) + S(3600), Le, S(3600)) if t - S(300) >= Ls]
    for i in range(2 if hours else 0):
        R = hours[i % len(hours)]
        W = rng.uniform(90, 290)
        b, st = place(any_book, W + 5, lo=R - S(W), hi=R + S(5))
        accs = sc.take(b.pool, 1, lambda a: a.w < 10)
        if rng.random() < 0.3:
            pr = [p for p in sim.pairs[b.key] if p[0].id not in sc.used and p[1].id not in sc.used]
            if pr:
                accs = list(pr[0])
                sc.used.update(x.id for x in accs)
        lab = Label(sim, "marking_the_close", b, accs)
        sim.spawn(sc.mark_close(lab, b, accs, R), R - S(W))

    # anomalies with no culprit: news (volume_spike + price_anomaly), volume burst, flash move
    variants = ["news", "news"] if rng.random() < 0.5 else ["news", "burst", "flash"]
    for v in variants:
        if v == "news":
            hold = rng.uniform(40, 120)
            b, st = place(any_book, hold + 90, symbol_wide=True)
            pb = [x for x in b.sym.books if x.primary][0]
            labs = [Label(sim, "volume_spike", pb, []), Label(sim, "price_anomaly", pb, [])]
            J = rng.choice((-1, 1)) * rng.uniform(0.015, 0.04)
            sim.spawn(sim.g_news(b.sym, J, rng.uniform(3, 8), hold, labs), st)
        elif v == "burst":
            hold = rng.uniform(30, 90)
            b, st = place(any_book, hold + 30)
            lab = Label(sim, "volume_spike", b, [])
            sim.spawn(sc.volume_burst(lab, b, rng.uniform(6, 12), hold), st)
        else:
            b, st = place(any_book, 120)
            lab = Label(sim, "price_anomaly", b, [])
            ff = b.pool[rng.randrange(len(b.pool))]
            sim.spawn(sc.flash(lab, b, ff, rng.uniform(0.02, 0.05)), st)

    # price discrepancy: a non-primary venue drifts while arbitrage is absent
    nonprim = [b for b in multi if not b.primary]
    for i in range(2):
        ramp, hold, back = rng.uniform(3, 20), rng.uniform(20, 90), rng.uniform(5, 20)
        b, st = place(lambda: sim.pick_book(lambda x: 2.0 if x.venue.name == "gamma" else 1.0, nonprim),
                      ramp + hold + back + 5, symbol_wide=True)
        lab = Label(sim, "price_discrepancy", b, [])
        sim.spawn(sc.discrepancy(lab, b, rng.uniform(0.012, 0.04), ramp, hold, back), st)

    # pump and dump (thin, low-priced books preferred)
    pw = {"beta:ABC-USD": 3, "gamma:XYZ-USD": 2, "beta:XYZ-USD": 1.5, "gamma:SOL-USD": 1.5}  # thin books only
    pumped = []
    for i in range(2):
        pd, dd = rng.uniform(30, 120), rng.uniform(20, 90)
        b, st = place(lambda: sim.pick_book(lambda x: pw.get(x.key, 0) * (0.05 if x.sym in pumped else 1)),
                      pd + dd + 150, symbol_wide=True)
        pumped.append(b.sym)
        orgs = sc.take(b.pool, rng.randint(2, 4))
        if rng.random() < 0.5:  # organisers share an owner
            for a in orgs[1:]:
                a.owner = orgs[0].owner
        nr = rng.randint(15, 50)
        nfresh = nr // 2
        rush = [sim.new_acct("rush") for _ in range(nfresh)]
        rush += sc.take(b.pool, min(nr - nfresh, len(b.pool) // 3), lambda a: a.w < 3)
        lab = Label(sim, "pump_and_dump", b, orgs + rush)
        target = int(b.Q * rng.uniform(4, 15))
        sim.spawn(sc.accumulate(b, orgs, target, st - S(60)), sim.t0 + S(rng.uniform(60, 600)))
        sim.spawn(sc.pump(lab, b, orgs, rush, pd, dd, rng.uniform(0.15, 0.8)), st)

    # concentrated trading
    for i in range(2):
        dur = rng.uniform(120, 420)
        b, st = place(lambda: sim.pick_book(lambda x: 1.0 if x.rate > 0.3 else 0.2), dur)
        a = sc.take(b.pool, 1, lambda a: a.w < 10)[0]
        lab = Label(sim, "concentrated_trading", b, [a])
        sim.spawn(sc.concentrate(lab, b, a, dur, rng.uniform(0.6, 0.9)), st)

    # wash trading: self-trades, same-owner pair, ring
    kinds = rng.sample(["self", "pair", "ring"], 2)
    for kind in kinds:
        dur = rng.uniform(120, 600) if kind == "ring" else rng.uniform(60, 400)
        b, st = place(lambda: sim.pick_book(lambda x: 1 / math.sqrt(x.rate)), dur + 60)
        if kind == "self":
            accs = sc.take(b.pool, 1)
        elif kind == "pair":
            pr = [p for p in sim.pairs[b.key] if p[0].id not in sc.used and p[1].id not in sc.used]
            if not pr:
                kind = "self"
                accs = sc.take(b.pool, 1)
            else:
                accs = list(pr[0])
            sc.used.update(x.id for x in accs)
        else:
            accs = sc.take(b.pool, rng.randint(3, 5))
            owners = set()
            for a in accs:  # ring members are nominally distinct owners
                if a.owner in owners:
                    a.owner = sim.new_owner()
                owners.add(a.owner)
        lab = Label(sim, "wash_trading", b, accs)
        lab.note = kind
        sim.spawn(sc.wash(lab, b, kind, accs, dur), st)

    # layering: Coscia-style and/or Sarao-style
    for i in range(2):
        if rng.random() < 0.5:
            cyc = rng.randint(2, 6)
            b, st = place(any_book, cyc * 8 + 10)
            a = sc.take(b.pool, 1, lambda a: 0.7 < a.sizef < 3 and a.w >= 1.5)[0]
            lab = Label(sim, "layering", b, [a])
            lab.note = "coscia"
            sim.spawn(sc.coscia(lab, b, a, cyc), st)
        else:
            dur = rng.uniform(90, 300)
            b, st = place(any_book, dur + 5)
            a = sc.take(b.pool, 1, lambda a: 0.7 < a.sizef < 3 and a.w >= 1.5)[0]
            lab = Label(sim, "layering", b, [a])
            lab.note = "sarao"
            sim.spawn(sc.sarao(lab, b, a, dur), st)

    # spoofing
    for i in range(2):
        dur = rng.uniform(10, 100)
        b, st = place(any_book, dur + 40)
        a = sc.take(b.pool, 1, lambda a: 0.7 < a.sizef < 3 and a.w >= 1.5)[0]
        ga = a
        if rng.random() < 0.3:
            pr = [p for p in sim.pairs[b.key] if p[0].id not in sc.used and p[1].id not in sc.used]
            if pr:
                sc.used.update((pr[0][0].id, pr[0][1].id))
                a, ga = pr[0]
        lab = Label(sim, "spoofing", b, [a, ga])
        sim.spawn(sc.spoof(lab, b, a, b, ga, st + S(dur), layered=False), st)

    # cross-venue manipulation: spoof/layer on one venue, trade on another
    for i in range(2):
        dur = rng.uniform(15, 100)
        other = {}

        def pick_x():
            b = multi[rng.randrange(len(multi))]
            os_ = [x for x in b.sym.books if x is not b]
            other[b.key] = os_[rng.randrange(len(os_))]
            return b

        b, st = place(pick_x, dur + 40, extra=lambda b: [other[b.key].key])
        gb = other[b.key]
        k = (b.key, gb.key) if (b.key, gb.key) in sim.xv else (gb.key, b.key)
        pr = [p for p in sim.xv[k] if p[0].id not in sc.used and p[1].id not in sc.used]
        if pr:
            x, y = pr[0]
            sc.used.update((x.id, y.id))
            a, ga = (x, y) if k[0] == b.key else (y, x)
            if rng.random() < 0.3:
                ga = a  # the same account on both venues
        else:
            # Every pair trading these two venues is taken: one account on both.
            a = sc.take(b.pool, 1, lambda a: True)[0]
            ga = a
        lab = Label(sim, "cross_venue_manipulation", b, [a, ga])
        sim.spawn(sc.spoof(lab, b, a, gb, ga, st + S(dur), layered=rng.random() < 0.4), st)

    # momentum ignition
    for i in range(2):
        b, st = place(any_book, 110)
        a = sc.take(b.pool, 1, lambda a: 0.5 < a.sizef < 4 and a.w >= 1.5)[0]
        lab = Label(sim, "momentum_ignition", b, [a])
        sim.spawn(sc.ignite(lab, b, a), st)

    # quote stuffing (an ordinary account or a market maker's account)
    for i in range(2):
        b, st = place(lambda: sim.pick_book(lambda x: x.rate), 60)
        if rng.random() < 0.5:
            a = b.mms[rng.randrange(len(b.mms))].acct
            if a.id in sc.used:
                a = sc.take(b.pool, 1)[0]
            sc.used.add(a.id)
        else:
            a = sc.take(b.pool, 1)[0]
        lab = Label(sim, "quote_stuffing", b, [a])
        sim.spawn(sc.stuff(lab, b, a, rng.randint(1, 3)), st)

    # unusual timing: coordinated same-millisecond accounts; a clock-driven account off its habit
    kinds = ["coord", "off"] if rng.random() < 0.7 else ["coord", "coord"]
    for kind in kinds:
        if kind == "off":
            cands = [(b, a, ph) for b, a, ph in sim.cron if ph != 0 and a.id not in sc.used]
            if not cands:
                kind = "coord"
        if kind == "off":
            cb, ca, ph = cands[rng.randrange(len(cands))]
            dur = rng.uniform(10, 60)
            tb = cb if rng.random() < 0.7 else any_book()
            b, st = place(lambda: tb, dur + 10)
            sc.used.add(ca.id)
            lab = Label(sim, "unusual_timing", b, [ca])
            lab.note = "off-pattern"
            sim.spawn(sc.ut_offpattern(lab, b, ca, ph, dur), st)
        else:
            bursts = rng.randint(2, 6)
            b, st = place(any_book, bursts * 25 + 10)
            accs = sc.take(b.pool, min(rng.randint(6, 25), len(b.pool) // 3), lambda a: a.w < 10)
            lab = Label(sim, "unusual_timing", b, accs)
            lab.note = "coordinated"
            sim.spawn(sc.ut_coord(lab, b, accs, bursts), st)


# --------------------------------------------------------------------------------------
# Self-check: re-read the files and verify them against an independent book
# --------------------------------------------------------------------------------------
def check(out_dir):
    errs = []

    def err(msg):
        if len(errs) < 50:
            errs.append(msg)
        else:
            errs.append(None)

    def pint(s, dec, what):
        if "." in s:
            a, b = s.split(".")
            if len(b) != dec:
                err("%s %s: %d decimals, expected %d" % (what, s, len(b), dec))
            return int(a + b)
        if dec:
            err("%s %s without decimals" % (what, s))
        return int(s) * 10 ** dec

    books = {}
    seen_oids = {}
    owner = {}
    last_ts = None
    counts = {}
    incoming = None  # (book, order) being matched
    n = 0
    same_owner_trades = []
    act = {}  # (account, symbol) -> sorted list of ts (appended in order)
    bookact = {}  # (venue, symbol) -> list of ts
    tradelog = {}  # symbol -> list of (ts, venue, price, qty)

    def get_book(v, s):
        k = (v, s)
        bk = books.get(k)
        if bk is None:
            bk = {"o": {}, BUY: {}, SELL: {}, "p" + str(BUY): [], "p" + str(SELL): []}
            books[k] = bk
        return bk

    def best(bk, side):
        pl = bk["p" + str(side)]
        if not pl:
            return None
        return pl[-1] if side == BUY else pl[0]

    def remove(bk, o):
        lv = bk[o["side"]]
        q = lv[o["price"]]
        q.remove(o["id"])
        if not q:
            del lv[o["price"]]
            pl = bk["p" + str(o["side"])]
            del pl[bisect.bisect_left(pl, o["price"])]

    def add(bk, o):
        lv = bk[o["side"]]
        q = lv.get(o["price"])
        if q is None:
            q = deque()
            lv[o["price"]] = q
            bisect.insort(bk["p" + str(o["side"])], o["price"])
        q.append(o["id"])

    def finalize():
        nonlocal incoming
        if incoming is None:
            return
        bk, o = incoming
        incoming = None
        if o["open"] <= 0:
            return
        if o["price"] is None:
            err("market order %s left open qty %d" % (o["id"], o["open"]))
            return
        opp = best(bk, -o["side"])
        if opp is not None and (opp - o["price"]) * o["side"] <= 0:
            err("order %s rests crossing the book" % o["id"])
        add(bk, o)
        o["resting"] = True

    first_ts = None
    with open(os.path.join(out_dir, "events.jsonl")) as fh:
        for line in fh:
            n += 1
            e = json.loads(line)
            ts = e["ts"]
            if first_ts is None:
                first_ts = ts
            t = e["type"]
            counts[t] = counts.get(t, 0) + 1
            if last_ts is not None and ts < last_ts:
                err("line %d: ts goes back" % n)
            last_ts = ts
            if t == "account":
                owner[e["account"]] = e["owner"]
                continue
            v, s = e["venue"], e["symbol"]
            if v != v.lower() or s != s.upper() or "-" not in s:
                err("line %d: venue/symbol case" % n)
            spec = SYMSPEC[s]
            bk = get_book(v, s)
            bookact.setdefault((v, s), []).append(ts)
            if t == "trade":
                if incoming is None or incoming[0] is not bk:
                    err("line %d: trade without an incoming order" % n)
                    continue
                o = incoming[1]
                side = BUY if e["aggressor"] == "buy" else SELL
                if side != o["side"]:
                    err("line %d: aggressor side mismatch" % n)
                inc_id = e["buy_order_id"] if side == BUY else e["sell_order_id"]
                rest_id = e["sell_order_id"] if side == BUY else e["buy_order_id"]
                if inc_id != o["id"]:
                    err("line %d: trade's aggressor order is not the incoming order" % n)
                r = bk["o"].get(rest_id)
                if r is None or not r.get("resting"):
                    err("line %d: resting order %s not open" % (n, rest_id))
                    continue
                p = pint(e["price"], spec["pdec"], "price")
                x = pint(e["qty"], spec["qdec"], "qty")
                if p != r["price"]:
                    err("line %d: trade price != resting price" % n)
                if best(bk, r["side"]) != p or bk[r["side"]][p][0] != rest_id:
                    err("line %d: price-time priority violated" % n)
                if o["price"] is not None and (o["price"] - p) * side < 0:
                    err("line %d: trade beyond the incoming limit" % n)
                ba_, sa_ = e["buy_account"], e["sell_account"]
                if (ba_, sa_) != ((o["acct"], r["acct"]) if side == BUY else (r["acct"], o["acct"])):
                    err("line %d: trade accounts do not match the orders" % n)
                if x <= 0 or x > o["open"] or x > r["open"]:
                    err("line %d: trade qty exceeds open qty" % n)
                o["open"] -= x
                r["open"] -= x
                if r["open"] == 0:
                    remove(bk, r)
                    r["resting"] = False
                if owner.get(ba_) == owner.get(sa_):
                    same_owner_trades.append((ts, s, ba_, sa_))
                act.setdefault((ba_, s), []).append(ts)
                act.setdefault((sa_, s), []).append(ts)
                tradelog.setdefault(s, []).append((ts, v, p, x, ba_, sa_))
                continue
            if t == "cancel":
                oid = e["order_id"]
                if incoming is not None and incoming[1]["id"] == oid:
                    incoming = None  # IOC remainder
                    o = bk["o"][oid]
                    o["open"] = 0
                    act.setdefault((e["account"], s), []).append(ts)
                    continue
                o = bk["o"].get(oid)
                if o is None or not o.get("resting"):
                    err("line %d: cancel of an order that is not open (%s)" % (n, oid))
                    continue
                if o["acct"] != e.get("account", o["acct"]):
                    err("line %d: cancel account mismatch" % n)
                remove(bk, o)
                o["resting"] = False
                o["open"] = 0
                act.setdefault((o["acct"], s), []).append(ts)
                continue
            finalize()
            if e.get("account") not in owner:
                err("line %d: account %s has no reference event" % (n, e.get("account")))
            act.setdefault((e["account"], s), []).append(ts)
            if t == "new":
                oid = e["order_id"]
                vs = seen_oids.setdefault(v, set())
                if oid in vs:
                    err("line %d: duplicate order id" % n)
                vs.add(oid)
                side = BUY if e["side"] == "buy" else SELL
                p = pint(e["price"], spec["pdec"], "price") if "price" in e else None
                if p is not None and p % spec["tick"]:
                    err("line %d: price off the tick grid" % n)
                x = pint(e["qty"], spec["qdec"], "qty")
                if x <= 0:
                    err("line %d: qty <= 0" % n)
                o = {"id": oid, "side": side, "price": p, "open": x, "acct": e["account"], "resting": False}
                bk["o"][oid] = o
                incoming = (bk, o)
            elif t == "amend":
                o = bk["o"].get(e["order_id"])
                if o is None or not o.get("resting"):
                    err("line %d: amend of an order that is not open" % n)
                    continue
                p = pint(e["price"], spec["pdec"], "price") if "price" in e else o["price"]
                x = pint(e["qty"], spec["qdec"], "qty") if "qty" in e else o["open"]
                opp = best(bk, -o["side"])
                if opp is not None and (opp - p) * o["side"] <= 0:
                    err("line %d: amend crosses the book" % n)
                if p == o["price"] and x <= o["open"]:
                    o["open"] = x
                else:
                    remove(bk, o)
                    o["price"] = p
                    o["open"] = x
                    add(bk, o)
            else:
                err("line %d: unknown type %s" % (n, t))
    finalize()
    # labels
    labels = [json.loads(l) for l in open(os.path.join(out_dir, "labels.jsonl"))]
    bytype = {}
    for lab in labels:
        bytype[lab["type"]] = bytype.get(lab["type"], 0) + 1
        st, en = lab["start"], lab["end"]
        if not st <= en:
            err("label %s: start > end" % lab["id"])
        ba_ = bookact.get((lab["venue"], lab["symbol"]), [])
        i = bisect.bisect_left(ba_, st)
        if i >= len(ba_) or ba_[i] > en:
            err("label %s: no events on %s %s in its span" % (lab["id"], lab["venue"], lab["symbol"]))
        for a in lab["accounts"]:
            ts_ = act.get((a, lab["symbol"]), [])
            i = bisect.bisect_left(ts_, st)
            if i >= len(ts_) or ts_[i] > en:
                err("label %s: account %s has no event on %s in its span" % (lab["id"], a, lab["symbol"]))
    # same-owner trades must all belong to wash-trading labels
    wl = [l for l in labels if l["type"] == "wash_trading"]
    bad = 0
    for ts, s, x, y in same_owner_trades:
        if not any(l["symbol"] == s and l["start"] <= ts <= l["end"] and x in l["accounts"] for l in wl):
            bad += 1
    if bad:
        err("%d same-owner trades outside wash-trading labels" % bad)
    # how strong are the anomaly labels? (volume vs the 20 min before; move vs 1-min sigma)
    notes = []
    for lab in labels:
        if lab["type"] == "concentrated_trading":
            tl = [x for x in tradelog.get(lab["symbol"], []) if x[1] == lab["venue"]
                  and lab["start"] <= x[0] <= lab["end"]]
            tot = sum(x[3] for x in tl)
            mine = sum(x[3] for x in tl if x[4] in lab["accounts"] or x[5] in lab["accounts"])
            notes.append("  %-18s %-6s %-8s account share of volume %.0f%% over %.1f min"
                         % (lab["type"], lab["venue"], lab["symbol"], 100.0 * mine / max(1, tot),
                            (lab["end"] - lab["start"]) / S(60)))
        if lab["type"] not in ("volume_spike", "price_anomaly", "pump_and_dump", "price_discrepancy"):
            continue
        tl = tradelog.get(lab["symbol"], [])
        tl = [x for x in tl if x[1] == lab["venue"]]
        st, en = lab["start"], lab["end"]
        pre = [x for x in tl if st - S(1200) <= x[0] < st]
        inn = [x for x in tl if st <= x[0] <= en]
        mins = max(1e-9, (en - st) / S(60))
        vr = (sum(x[3] for x in inn) / mins) / max(1e-9, sum(x[3] for x in pre) / 20.0)
        # 1-minute log returns before
        rets = []
        for k in range(20):
            a_ = [x for x in pre if st - S(60 * (k + 1)) <= x[0] < st - S(60 * k)]
            if len(a_) >= 2:
                rets.append(math.log(a_[-1][2] / a_[0][2]))
        sd = math.sqrt(sum(r * r for r in rets) / len(rets)) if rets else float("nan")
        if inn and pre:
            p0 = pre[-1][2]
            mv = max(abs(math.log(x[2] / p0)) for x in inn)
        else:
            mv = float("nan")
        notes.append("  %-18s %-6s %-8s volume x%.1f, max move %.2f%% = %.0f x 1-min sigma"
                     % (lab["type"], lab["venue"], lab["symbol"], vr, 100 * mv, mv / sd if sd else float("nan")))
    errs_ = [e for e in errs if e is not None]
    more = len(errs) - len(errs_)
    print("check: %d events %s" % (n, json.dumps(counts, sort_keys=True)))
    print("check: labels %s" % json.dumps(bytype, sort_keys=True))
    if labels:
        l0 = min(l["start"] for l in labels)
        l1 = max(l["end"] for l in labels)
        hrs = [t for t in range(l0 - l0 % S(3600) + S(3600), l1, S(3600))]
        print("check: warm-up %.1f min before the first label; labels span %s .. %s UTC; hour(s) inside: %s"
              % ((l0 - first_ts) / S(60), utc(l0), utc(l1), ", ".join(utc(h)[11:] for h in hrs) or "none"))
        if l0 - first_ts < S(25 * 60):
            err("less than 25 minutes of warm-up before the first label")
    print("check: %d same-owner trades (all must be wash trading)" % len(same_owner_trades))
    for l in notes:
        print(l)
    if errs_:
        print("check: FAILED (%d+ problems)" % (len(errs_) + more))
        for e in errs_:
            print("  " + e)
        return False
    print("check: OK")
    return True


# --------------------------------------------------------------------------------------
def utc(ns):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns // NS))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=45.0,
                    help="total simulated minutes (>= 40; 27-29 warm-up, 3 tail, the rest labelled)")
    ap.add_argument("--check", action="store_true", help="verify the written files afterwards")
    ap.add_argument("--check-only", action="store_true", help="only verify existing files in --out")
    args = ap.parse_args()
    if args.check_only:
        sys.exit(0 if check(args.out) else 1)
    t_wall = time.time()
    os.makedirs(args.out, exist_ok=True)
    sim = Sim(args.seed, args.out, args.minutes)
    sim.setup()
    plan(sim)
    sim.start_background()
    with open(os.path.join(args.out, "events.jsonl"), "w", buffering=1 << 20) as out:
        sim.out = out
        for a in sim.accts:
            sim.w('{"ts":%d,"type":"account","account":"%s","owner":"%s"}\n' % (sim.t0, a.id, a.owner))
        sim.run()
    labs = [l for l in sim.labels if l.start is not None]
    labs.sort(key=lambda l: (l.start, l.type, l.symbol))
    with open(os.path.join(args.out, "labels.jsonl"), "w") as fh:
        for i, l in enumerate(labs):
            fh.write(json.dumps({"id": "S%d-L%02d" % (args.seed, i + 1), "type": l.type, "venue": l.venue,
                                 "symbol": l.symbol, "accounts": l.accounts, "start": l.start,
                                 "end": l.end}) + "\n")
    dropped = len(sim.labels) - len(labs)
    bt = {}
    for l in labs:
        bt[l.type] = bt.get(l.type, 0) + 1
    print("seed %d: %d events, %d labels %s%s, %.1f s" % (
        args.seed, sim.nev, len(labs), json.dumps(bt, sort_keys=True),
        (" (%d scenarios did not act)" % dropped) if dropped else "", time.time() - t_wall))
    print("  run %s .. %s UTC, labelled span from %s; background: %s" % (
        utc(sim.t0), utc(sim.t_end), utc(sim.Ls), json.dumps(sim.stats, sort_keys=True)))
    if args.check:
        ok = check(args.out)
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
