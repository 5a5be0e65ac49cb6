#!/usr/bin/env bash
# Issue 14, session 8: CPU timing of the held-out SST-2 seed-0 run, and the old SST-2 configuration
# re-timed the same way as before (random MiniLM-shaped weights, the same dev features) to measure
# how far this machine (AMD EPYC family 26, 4x faster training than session 7's) moves the speedups.
# Run with no training beside it (--require-idle refuses a busy machine).
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
O=benchmarks/records/cpu; L=runs/timing-17.log
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
uptime >> $L; lscpu | grep -E "Model name|CPU family|^Model:" >> $L
C="--checkpoint runs/sst2-s0 --require-idle"
t $C --protocol dynamic --json $O/sst2-s0_dynamic.json
t $C --protocol batch1 --max-examples 50 --json $O/sst2-s0_batch1.json
t $C --protocol padded --json $O/sst2-s0_padded.json
# The earlier SST-2 row's configuration, timed as in benchmarks/records/cpu/timing.sh (session 2's machine).
t --checkpoint runs/sst2-s0 --save-inputs runs/sst-2.npz
R="--inputs runs/sst-2.npz --random-backbone minilm --retention-config 32,23,11,4,2,1 --require-idle"
t $R --protocol dynamic --json $O/sst-2_dynamic-family26.json
t $R --protocol batch1 --max-examples 50 --json $O/sst-2_batch1-family26.json
t $R --protocol padded --json $O/sst-2_padded-family26.json
echo "$(date -u +%FT%TZ) all done" >> $L
