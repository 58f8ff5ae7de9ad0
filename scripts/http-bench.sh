#!/usr/bin/env bash
# The alert list API under load (docs/ui.md): a store holding the alerts of a replayed simulated
# market, `vigil serve` on it, and wrk (Debian's) on loopback with an analyst's bearer token; each
# run prints wrk's requests per second and latency percentiles. Client and server share the machine.
# With LIVE=1 a simulated session (6 symbols at 10x) runs in the serve meanwhile: the engine shares
# the cores and the store changes as alerts are stored (each change invalidates cached answers).
# Usage: [LIVE=1] scripts/http-bench.sh [runs] [path] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"; TARGET="${2:-/api/alerts?limit=50}"; CONNS="${3:-32}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
cargo build --release -q -p vigil-cli
V="$CARGO_TARGET_DIR/release/vigil"
T=$(mktemp -d); SRV=""; trap '[ -n "$SRV" ] && kill $SRV 2>/dev/null; rm -rf "$T"' EXIT
DB="$T/bench.db"
"$V" simulate --out "$T/sim" --symbols 8 --minutes 20 --seed 5 >/dev/null 2>&1
"$V" replay "$T/sim/events.jsonl" --store --db "$DB" -q >/dev/null 2>&1
export VIGIL_PASSWORD="bench password 1"
"$V" --db "$DB" user add root --role admin >/dev/null
"$V" --db "$DB" user add bench --role analyst --as root >/dev/null
TOKEN=$("$V" --db "$DB" user token bench --as bench)
ADMIN=$("$V" --db "$DB" user token root --as root)
"$V" --db "$DB" serve --listen 127.0.0.1:0 > "$T/serve.out" 2>&1 & SRV=$!
for _ in $(seq 100); do grep -q 'http://' "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' "$T/serve.out" | head -1)
N=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/alerts?limit=10000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
BYTES=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL$TARGET" | wc -c)
echo "store: $N alerts; GET $TARGET answers $BYTES bytes; wrk: 1 thread, $CONNS connections, 15 s a run"
curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL$TARGET"
if [ "${LIVE:-0}" = 1 ]; then
  curl -s -o /dev/null -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"symbols":["A-USD","B-USD","C-USD","D-USD","E-USD","F-USD"],"duration_s":3600,"speed":10,"seed":3}' "$URL/api/start"
  sleep 5
  echo "a session runs meanwhile (6 symbols at 10x)"
fi
for r in $(seq "$RUNS"); do
  out=$(wrk -t1 -c"$CONNS" -d15s --latency -H "Authorization: Bearer $TOKEN" "$URL$TARGET")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}'); p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "run $r: $rps requests/s, p50 $p50, p99 $p99${non2xx:+, non-2xx $non2xx}"
done
if [ "${LIVE:-0}" = 1 ]; then
  curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/status" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("the session meanwhile: %d events, %d alerts stored" % (s["events"], s["alerts_stored"]))'
fi
