#!/usr/bin/env bash
# Issue 14, session 5: one queue, TensorFlow's default threads (a lone job on 2 cores).
# usage: queue-16.sh NAME "dir args..." ...   each run resumes if killed (the pipeline's resume).
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
q=$1; shift
for spec in "$@"; do
  set -- $spec; dir=$1; shift; mkdir -p runs/$dir
  echo "$(date -u +%FT%TZ) [$q] start $dir: $*" >> runs/queue-15.log
  python scripts/run_glue.py "$@" --output-dir runs/$dir --quiet >> runs/$dir/stdout.txt 2>&1
  rc=$?  # before any $(...): a command substitution resets $?
  echo "$(date -u +%FT%TZ) [$q] end $dir rc=$rc" >> runs/queue-15.log
done
