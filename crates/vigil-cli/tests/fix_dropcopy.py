"""A FIX 4.4 drop-copy initiator built on PyPI's simplefix: logs on to `vigil serve`'s acceptor and
sends the spec events of a file as a venue's drop copy would carry them, one ExecutionReport per
order event and one per side of each trade (the two sides share a SecondaryExecID, FIX 4.4's match id), then logs out.

usage: fix_dropcopy.py HOST PORT EVENTS.jsonl SENDER TARGET

Prints `sent N` and exits 0 when every message went out and the acceptor answered the Logon and
the Logout and sent no Reject; anything else is an error on standard error and exit status 1.
"""
import json
from decimal import Decimal
import socket
import sys
import time

import simplefix


def fix_time(ns=None):
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(secs)) + ".%09d" % frac


class Initiator:
    def __init__(self, host, port, sender, target):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sender, self.target = sender, target
        self.seq = 0
        self.parser = simplefix.FixParser()
        self.exec_id = 0

    def send(self, msg_type, fields):
        self.seq += 1
        m = simplefix.FixMessage()
        m.append_pair(8, "FIX.4.4")
        m.append_pair(35, msg_type)
        m.append_pair(34, self.seq)
        m.append_pair(49, self.sender)
        m.append_pair(52, fix_time()[:21])
        m.append_pair(56, self.target)
        for tag, value in fields:
            if value is not None:
                m.append_pair(tag, value)
        self.sock.sendall(m.encode())

    def receive(self, timeout):
        self.sock.settimeout(timeout)
        while True:
            msg = self.parser.get_message()
            if msg is not None:
                return msg
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not data:
                return None
            self.parser.append_buffer(data)

    def expect(self, msg_type, timeout=10):
        msg = self.receive(timeout)
        if msg is None or msg.get(35) != msg_type.encode():
            sys.exit(f"expected MsgType {msg_type}, got {msg}")
        return msg

    def next_exec_id(self):
        self.exec_id += 1
        return f"X{self.exec_id}"


def dec(d):
    return format(d, "f")


def side_code(side):
    return "1" if side == "buy" else "2"


def main():
    host, port, path, sender, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    fix = Initiator(host, port, sender, target)
    fix.send("A", [(98, 0), (108, 30)])
    fix.expect("A")
    orders = {}
    sent = 0
    for line in open(path):
        e = json.loads(line)
        kind = e["type"]
        common = [(55, e["symbol"]), (60, fix_time(int(e["ts"])))]
        if kind == "new":
            o = {"side": e["side"], "account": e.get("account"), "qty": Decimal(e["qty"]), "cum": Decimal(0), "price": e.get("price")}
            orders[e["order_id"]] = o
            fix.send("8", [(37, e["order_id"]), (11, e["order_id"]), (17, fix.next_exec_id()), (150, "0"), (39, "0"), (1, o["account"]),
                           (54, side_code(o["side"])), (38, e["qty"]), (40, "2" if o["price"] else "1"), (44, o["price"]),
                           (151, e["qty"]), (14, "0"), (6, "0")] + common)
            sent += 1
        elif kind == "cancel":
            o = orders.get(e["order_id"])
            if o is None:
                continue
            fix.send("8", [(37, e["order_id"]), (11, e["order_id"]), (17, fix.next_exec_id()), (150, "4"), (39, "4"), (1, o["account"]),
                           (54, side_code(o["side"])), (151, "0"), (14, dec(o["cum"])), (6, "0")] + common)
            sent += 1
        elif kind == "amend":
            o = orders.get(e["order_id"])
            if o is None:
                continue
            if e.get("price") is not None:
                o["price"] = e["price"]
            leaves = e.get("qty")
            fix.send("8", [(37, e["order_id"]), (11, e["order_id"]), (17, fix.next_exec_id()), (150, "5"), (39, "0"), (1, o["account"]),
                           (54, side_code(o["side"])), (40, "2"), (44, e.get("price")), (151, leaves if leaves is not None else dec(o["qty"] - o["cum"])),
                           (14, dec(o["cum"])), (6, "0")] + common)
            sent += 1
        elif kind == "trade":
            for side in ("buy", "sell"):
                oid = e.get(f"{side}_order_id")
                if oid is None:
                    continue
                o = orders.get(oid, {"side": side, "account": e.get(f"{side}_account"), "qty": Decimal(e["qty"]), "cum": Decimal(0)})
                o["cum"] += Decimal(e["qty"])
                leaves = max(o["qty"] - o["cum"], Decimal(0))
                fix.send("8", [(37, oid), (11, oid), (17, fix.next_exec_id()), (527, e["trade_id"]), (150, "F"), (39, "2" if leaves == 0 else "1"),
                               (1, e.get(f"{side}_account")), (54, side_code(side)), (31, e["price"]), (32, e["qty"]), (151, dec(leaves)),
                               (14, dec(o["cum"])), (6, e["price"]), (851, None if e.get("aggressor") is None else ("2" if e["aggressor"] == side else "1"))]
                         + common)
                sent += 1
    fix.send("5", [])
    # Everything before the Logout answer must be nothing but heartbeats.
    while True:
        msg = fix.receive(60)
        if msg is None:
            sys.exit("no Logout answer")
        t = msg.get(35)
        if t == b"5":
            break
        if t != b"0":
            sys.exit(f"the acceptor answered {msg}")
    print(f"sent {sent}")


if __name__ == "__main__":
    main()
