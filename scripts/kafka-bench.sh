#!/usr/bin/env bash
# Events per second per worker through Kafka, and from one worker to two (docs/deployment.md):
# a simulated market published to librdkafka's mock cluster, read by one worker, then by two in one
# group; rates over each worker's busy time (first message to last). The store is $VIGIL_DB (a
# PostgreSQL connection string, as measured in the docs), else a SQLite file in a temporary
# directory. Usage: scripts/kafka-bench.sh [json|binary] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
ENC="${1:-json}"; RUNS="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
cargo build --release -q -p vigil-cli
V="$CARGO_TARGET_DIR/release/vigil"
T=$(mktemp -d); trap 'kill $MOCK 2>/dev/null; rm -rf "$T"' EXIT
DB="${VIGIL_DB:-$T/bench.db}"
"$V" simulate --out "$T/sim" --symbols 16 --venues 2 --minutes 2 --warmup-minutes 4 --rate 10 --seed 9 >/dev/null
"$V" kafka-mock --topic events:8 > "$T/mock" & MOCK=$!
for _ in $(seq 50); do [ -s "$T/mock" ] && break; sleep 0.1; done
B=$(cat "$T/mock")
"$V" publish "$T/sim/events.jsonl" --topic events --brokers "$B" --encoding "$ENC" >/dev/null 2>&1
rate() { python3 -c "import json,sys; d=[json.load(open(f)) for f in sys.argv[1:]]; m=sum(x['messages'] for x in d); w=max(x['busy_seconds'] for x in d); print(' '.join('%.0f' % (x['messages']/max(x['busy_seconds'],1e-9)) for x in d), '%d %.0f' % (m, m/w))" "$@"; }
for r in $(seq "$RUNS"); do
  "$V" --db "$DB" worker --topic events --brokers "$B" --group "one$r" --name w1 --idle-exit 2s >"$T/o1" 2>/dev/null
  echo "1 worker, run $r: per worker, messages, group msg/s: $(rate "$T/o1")"
  "$V" --db "$DB" worker --topic events --brokers "$B" --group "two$r" --name wa --idle-exit 2s >"$T/oa" 2>/dev/null & WA=$!
  "$V" --db "$DB" worker --topic events --brokers "$B" --group "two$r" --name wb --idle-exit 2s >"$T/ob" 2>/dev/null
  wait "$WA"
  echo "2 workers, run $r: per worker, messages, group msg/s: $(rate "$T/oa" "$T/ob")"
done
