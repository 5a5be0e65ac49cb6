#!/usr/bin/env bash
# Issue 14, session 3: batch-1 timings with the [CLS]-alone floor (variant cls_only); training paused (SIGSTOP) around it.
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
O=benchmarks/records/cpu; L=runs/timing-15.log
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
t --checkpoint runs/cola --require-idle --protocol batch1 --max-examples 100 --json $O/cola_batch1_floor.json
declare -A R=([mrpc]=67,51,44,20,3,1 [sst-2]=32,23,11,4,2,1 [sts-b]=48,36,20,14,7,1)
for task in sst-2 sts-b mrpc; do
  t --inputs .device/$task.npz --random-backbone minilm --retention-config ${R[$task]} --require-idle --protocol batch1 --max-examples 50 --json $O/${task}_batch1_floor.json
done
echo "$(date -u +%FT%TZ) all done" >> $L
