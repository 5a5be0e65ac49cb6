#!/usr/bin/env bash
# usage: queue-15-next.sh NAME WAIT_DIR "dir args..." ...   waits for WAIT_DIR's run to end, then runs the specs.
q=$1; wait_dir=$2; shift 2
while pgrep -f "output-dir runs/$wait_dir --quiet" >/dev/null; do sleep 30; done
exec bash runs/queue-15.sh "$q" "$@"
