#!/usr/bin/env bash
# usage: bash benchmarks/records/runs/record.sh NAME[:RECORD]...   copies what a finished run reports (not its checkpoints)
# from runs/NAME to benchmarks/records/runs/NAME: results.json, run_config.json, the per-epoch logs and its stdout
# without TensorFlow's start-up lines. RUNS_DIR: where the runs are (default: runs/ here).
set -euo pipefail
cd "$(dirname "$0")/../../.."
runs=${RUNS_DIR:-runs}
for spec in "$@"; do
  name=${spec%%:*}; dest=${spec#*:}  # NAME, or NAME:RECORD to record it under another name
  src=$runs/$name; dst=benchmarks/records/runs/$dest
  [ -f "$src/results.json" ] || { echo "record.sh: $src/results.json: no such file (has the run finished?)" >&2; exit 1; }
  mkdir -p "$dst"
  cp "$src/results.json" "$src/run_config.json" "$dst/"
  for log in "$src"/*_log.jsonl; do [ -e "$log" ] && cp "$log" "$dst/"; done
  grep -v -E '^(I|W|E)0000 |WARNING: All log messages|To enable the following instructions|rebuild TensorFlow with' \
    "$src/stdout.txt" > "$dst/stdout.txt" || true
  # the records name run directories relative to the checkout, never a machine's absolute path
  root=$(cd "$runs/.." && pwd)/
  for f in "$dst"/*; do sed -i "s#$root##g" "$f"; done
  echo "recorded $dst: $(ls "$dst" | tr '\n' ' ')"
done
