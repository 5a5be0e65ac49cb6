#!/usr/bin/env bash
# Issue 14 CPU timing block: the training queue is paused (SIGSTOP) around it; --require-idle refuses a busy machine.
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
O=benchmarks/records/cpu; L=runs/timing-14.log
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn" | tail -14 >> $L; echo "$(date -u +%FT%TZ) end rc=$?" >> $L; }
C="--checkpoint runs/cola --models retrain40=runs/cola-retrain-40,retrain25=runs/cola-retrain-25,trunc9=runs/cola-trunc9-s0 --require-idle"
t $C --protocol dynamic --json $O/cola_dynamic.json
t $C --protocol batch1 --max-examples 100 --savedmodel runs/exports/cola-budgets/1 --baseline-savedmodel runs/exports/cola-baseline/1 --json $O/cola_batch1.json
t $C --protocol padded --no-extras --json $O/cola_padded.json
declare -A R=([mrpc]=67,51,44,20,3,1 [sst-2]=32,23,11,4,2,1 [sts-b]=48,36,20,14,7,1)
for task in sst-2 sts-b mrpc; do
  I="--inputs .device/$task.npz --random-backbone minilm --retention-config ${R[$task]} --require-idle"
  t $I --protocol dynamic --json $O/${task}_dynamic.json
  t $I --protocol batch1 --max-examples 50 --json $O/${task}_batch1.json
  t $I --protocol padded --json $O/${task}_padded.json
done
echo "$(date -u +%FT%TZ) all done" >> $L
