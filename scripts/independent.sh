#!/usr/bin/env bash
# Scores Vigil on the independent simulator's data (scripts/indsim): seeds FROM..TO (default 1..6;
# `independent.sh 7 10` for seeds 7-10), each generated, replayed with the default configuration and
# scored by the spec's rule on its own; the counts are then pooled over the seeds. Prints a markdown
# table (docs/evaluation.md quotes it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 2 ]; then FROM="$1"; N="$2"; else FROM=1; N="${1:-6}"; fi
VIGIL="${VIGIL:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}/release/vigil}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
for s in $(seq "$FROM" "$N"); do
  python3 scripts/indsim/indsim.py --seed "$s" --out "$OUT/$s" >/dev/null
  "$VIGIL" replay "$OUT/$s/events.jsonl" --alerts-out "$OUT/$s/alerts.jsonl" -q
  "$VIGIL" eval --alerts "$OUT/$s/alerts.jsonl" --labels "$OUT/$s/labels.jsonl" --format json > "$OUT/$s/score.json"
done
python3 - "$OUT" "$FROM" "$N" <<'PY'
import json, sys
out, lo, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
agg = {}
for s in range(lo, n + 1):
    for t in json.load(open(f"{out}/{s}/score.json"))["types"]:
        a = agg.setdefault(t["type"], [0, 0, 0])
        a[0] += t["labels"]; a[1] += t["detected"]; a[2] += t["false_positives"]
print("| type | labels | detected | recall | false positives | precision | F1 |")
print("|---|---:|---:|---:|---:|---:|---:|")
R, P, F = [], [], []
for k in sorted(agg):
    l, d, fp = agg[k]
    r = d / l if l else 0.0
    p = d / (d + fp) if d + fp else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    R.append(r); P.append(p); F.append(f)
    print(f"| {k} | {l} | {d} | {r:.2f} | {fp} | {p:.2f} | {f:.2f} |")
m = len(R)
print(f"| **macro** | {sum(v[0] for v in agg.values())} | | **{sum(R)/m:.3f}** | | **{sum(P)/m:.3f}** | **{sum(F)/m:.3f}** |")
PY
