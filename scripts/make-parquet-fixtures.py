"""Writes the Parquet test fixtures of crates/vigil-io/tests/data with pyarrow (an independent
writer), and beside them the same events as the spec's JSON Lines, which the reader must match.

    python3 -m venv /tmp/pa && /tmp/pa/bin/pip install pyarrow && /tmp/pa/bin/python scripts/make-parquet-fixtures.py
"""
import datetime as dt
import decimal
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

out = pathlib.Path(__file__).resolve().parent.parent / "crates" / "vigil-io" / "tests" / "data"
out.mkdir(parents=True, exist_ok=True)

t0 = 1_718_000_000_000_000_000
rows = [
    dict(ts=t0, type="account", account="A1", owner="O1"),
    dict(ts=t0 + 1_000, type="new", venue="binance", symbol="BTC-USDT", order_id="o1", account="A1", side="buy", price="50123.5", qty="0.25"),
    dict(ts=t0 + 2_000, type="new", venue="binance", symbol="BTC-USDT", order_id="o2", account="A2", side="sell", price="50124", qty="1.5"),
    dict(ts=t0 + 3_000, type="amend", venue="binance", symbol="BTC-USDT", order_id="o2", qty="1"),
    dict(ts=t0 + 4_000, type="trade", venue="binance", symbol="BTC-USDT", trade_id="t1", price="50124", qty="0.25",
         buy_account="A1", sell_account="A2", buy_order_id="o1", sell_order_id="o2", aggressor="buy"),
    dict(ts=t0 + 5_000, type="cancel", venue="binance", symbol="BTC-USDT", order_id="o2"),
    dict(ts=t0 + 6_000, type="quote", venue="coinbase", symbol="BTC-USD", bid="50100.25", bid_qty="2", ask="50101", ask_qty="0.00000001"),
]
bad = dict(ts=t0 + 7_000, type="new", venue="binance", symbol="BTC-USDT", order_id="o3", account="A1", side="buy", price="50000", qty="-1")

columns = ["ts", "type", "venue", "symbol", "order_id", "account", "side", "price", "qty", "trade_id", "buy_account", "sell_account",
           "buy_order_id", "sell_order_id", "aggressor", "bid", "bid_qty", "ask", "ask_qty", "owner"]
decimals = {"price", "qty", "bid", "bid_qty", "ask", "ask_qty"}


def table(rows, ts_type, dec_type):
    arrays, fields = [], []
    for c in columns:
        vals = [r.get(c) for r in rows]
        if c == "ts":
            if ts_type == "timestamp":
                vals = [dt.datetime.fromtimestamp(v // 10**9, tz=dt.timezone.utc) + dt.timedelta(microseconds=(v % 10**9) // 1000) for v in vals]
                typ = pa.timestamp("us", tz="UTC")
            else:
                typ = pa.int64()
        elif c in decimals:
            if dec_type == "double":
                vals = [None if v is None else float(v) for v in vals]
                typ = pa.float64()
            elif dec_type == "decimal":
                vals = [None if v is None else decimal.Decimal(v) for v in vals]
                typ = pa.decimal128(20, 8)
            else:
                typ = pa.string()
        else:
            typ = pa.string()
        arrays.append(pa.array(vals, type=typ))
        fields.append(pa.field(c, typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# Timestamps in microseconds here: the rows' times are whole microseconds.
pq.write_table(table(rows + [bad], "timestamp", "decimal"), out / "events-snappy.parquet", compression="snappy")
pq.write_table(table(rows + [bad], "int", "double"), out / "events-zstd.parquet", compression="zstd")
pq.write_table(table(rows + [bad], "int", "string"), out / "events-gzip.parquet", compression="gzip")
with open(out / "events-parquet.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
print("wrote", sorted(p.name for p in out.iterdir()))
