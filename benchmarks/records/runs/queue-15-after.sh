#!/usr/bin/env bash
# usage: queue-15-after.sh NAME WAIT_DIR "dir args..." ...   waits for the log's "end WAIT_DIR" line, then runs the specs.
q=$1; wait_dir=$2; shift 2
until grep -q "\] end $wait_dir rc=" runs/queue-15.log; do sleep 30; done
exec bash runs/queue-15.sh "$q" "$@"
