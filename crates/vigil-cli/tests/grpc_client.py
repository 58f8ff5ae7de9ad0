"""A gRPC client of `vigil serve` built on PyPI's grpcio, with stubs generated from
proto/vigil/v1/vigil.proto by grpcio-tools: subscribes to alerts, publishes the events of a
file in batches (one deliberately bad event in the first batch), then asks for the summary and
the alert list, and tries a call without a token.

usage: grpc_client.py ADDR TOKEN EVENTS.jsonl PROTO_ROOT WORK_DIR

Prints one JSON object with what it saw.
"""
import json
import os
import sys
import threading
import time

from grpc_tools import protoc

addr, token, events_path, proto_root, work = sys.argv[1:6]
os.makedirs(work, exist_ok=True)
rc = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={work}", f"--grpc_python_out={work}", os.path.join(proto_root, "vigil/v1/vigil.proto")])
if rc != 0:
    sys.exit(f"protoc failed: {rc}")
sys.path.insert(0, work)

import grpc  # noqa: E402
from vigil.v1 import vigil_pb2 as pb  # noqa: E402
from vigil.v1 import vigil_pb2_grpc as rpc  # noqa: E402

TYPES = {"new": pb.EVENT_TYPE_NEW, "amend": pb.EVENT_TYPE_AMEND, "cancel": pb.EVENT_TYPE_CANCEL, "trade": pb.EVENT_TYPE_TRADE,
         "quote": pb.EVENT_TYPE_QUOTE, "account": pb.EVENT_TYPE_ACCOUNT}
SIDES = {"buy": pb.SIDE_BUY, "sell": pb.SIDE_SELL}
TEXT = ["venue", "symbol", "order_id", "account", "price", "qty", "trade_id", "buy_account", "sell_account", "buy_order_id",
        "sell_order_id", "bid", "bid_qty", "ask", "ask_qty", "owner"]


def to_pb(e):
    ev = pb.Event(ts=int(e["ts"]), type=TYPES[e["type"]])
    for f in TEXT:
        if e.get(f) is not None:
            setattr(ev, f, str(e[f]))
    for f in ("side", "aggressor"):
        if e.get(f) is not None:
            setattr(ev, f, SIDES[e[f]])
    return ev


events = [to_pb(json.loads(line)) for line in open(events_path)]
bad = pb.Event()
bad.CopyFrom(next(e for e in events if e.type == pb.EVENT_TYPE_NEW))
bad.qty = "-1"
batches = [events[i:i + 1000] for i in range(0, len(events), 1000)]
batches[0] = batches[0][:5] + [bad] + batches[0][5:]

channel = grpc.insecure_channel(addr)
auth = [("authorization", f"Bearer {token}")]
surveillance = rpc.SurveillanceStub(channel)
ingest = rpc.IngestStub(channel)

out = {"subscribed": []}
stream = surveillance.Subscribe(pb.AlertFilter(), metadata=auth)


def listen():
    try:
        for a in stream:
            out["subscribed"].append(a.alert_id)
    except grpc.RpcError:
        pass


listener = threading.Thread(target=listen, daemon=True)
listener.start()
time.sleep(0.5)

acks = list(ingest.Publish(iter(pb.EventBatch(events=b) for b in batches), metadata=auth))
out["acks"] = len(acks)
out["batches"] = len(batches)
out["accepted"] = sum(a.accepted for a in acks)
out["last_seq"] = acks[-1].last_seq
out["rejected_count"] = sum(a.rejected_count for a in acks)
out["rejected"] = [{"batch": i, "index": r.index, "field": r.field, "code": r.code, "reason": r.reason} for i, a in enumerate(acks) for r in a.rejected]

# The alerts settle: the list stops growing.
listed, quiet = [], 0
while quiet < 10:
    time.sleep(0.2)
    now = [a.alert_id for a in surveillance.ListAlerts(pb.ListAlertsRequest(limit=100000), metadata=auth).alerts]
    quiet = quiet + 1 if now == listed else 0
    listed = now
out["listed"] = listed
summary = surveillance.Summary(pb.SummaryRequest(), metadata=auth)
out["summary_alerts"] = summary.alerts
out["summary_last_seq"] = summary.last_seq
stream.cancel()

try:
    surveillance.Summary(pb.SummaryRequest())
    out["without_token"] = "OK"
except grpc.RpcError as e:
    out["without_token"] = e.code().name
print(json.dumps(out))
