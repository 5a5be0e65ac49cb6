#!/usr/bin/env bash
# One queue of pipeline runs, one intra-op thread (two queues share the two cores).
# usage: bash benchmarks/records/runs/queue-25.sh QUEUE "NAME args..." ...
# Run from a pinned checkout (a git worktree at the ledger's commit, its own .venv): each run
# writes runs/NAME there and resumes if killed (the pipeline's resume); the queue log is
# runs/queue-25.log. Record a finished run with RUNS_DIR=<that checkout>/runs bash benchmarks/records/runs/record.sh NAME.
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
: "${GLUE_DIR:?set GLUE_DIR to the GLUE data in the official layout (without it every run fails at once)}"
queue=$1; shift
mkdir -p runs
for spec in "$@"; do
  set -- $spec; name=$1; shift; mkdir -p "runs/$name"
  echo "$(date -u +%FT%TZ) [$queue] start $name: $* (commit $(git rev-parse --short HEAD))" >> runs/queue-25.log
  python scripts/run_glue.py "$@" --output-dir "runs/$name" --quiet >> "runs/$name/stdout.txt" 2>&1
  rc=$?  # before any $(...): a command substitution resets $?
  echo "$(date -u +%FT%TZ) [$queue] end $name rc=$rc" >> runs/queue-25.log
done
