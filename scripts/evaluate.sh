#!/usr/bin/env bash
# Regenerates the evaluation table of docs/evaluation.md: the simulator's seeds below, every
# detector with the default configuration, scored by the spec's rule. CI (the `evaluation` test of
# vigil-cli) runs the same command and fails when the table in the document differs from what it
# sees, or when the macro F1 falls below the floor.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}"
cargo build --release -p vigil-cli -q
table="$(mktemp)"
"$CARGO_TARGET_DIR/release/vigil" eval --seeds "$(cat docs/evaluation.seeds)" --format markdown > "$table"
python3 - "$table" <<'PY'
import sys, re
table = open(sys.argv[1]).read()
doc = open("docs/evaluation.md").read()
begin, end = "<!-- evaluation:begin -->\n", "<!-- evaluation:end -->"
a, b = doc.index(begin) + len(begin), doc.index(end)
open("docs/evaluation.md", "w").write(doc[:a] + table + doc[b:])
PY
rm -f "$table"
echo "docs/evaluation.md: table regenerated for seeds $(cat docs/evaluation.seeds)"
