#!/usr/bin/env bash
# Issue 14, session 5: CPU timing of the held-out STS-B seed-0 run; training paused (SIGSTOP) around it.
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
O=benchmarks/records/cpu; L=runs/timing-16.log
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
C="--checkpoint runs/stsb-s0 --require-idle"
t $C --protocol dynamic --json $O/stsb-s0_dynamic.json
t $C --protocol batch1 --max-examples 50 --json $O/stsb-s0_batch1.json
t $C --protocol padded --json $O/stsb-s0_padded.json
echo "$(date -u +%FT%TZ) all done" >> $L
