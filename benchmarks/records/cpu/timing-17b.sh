#!/usr/bin/env bash
# Issue 14, session 8: CoLA, MRPC and STS-B seed 0's configurations re-timed on session 8's machine
# (AMD EPYC family 26), as timing-17.sh did for SST-2's superseded one: random MiniLM-shaped weights
# with each configuration's retention, on the dev set tokenized once, so that all four tasks have
# CPU speedups from one machine. Their checkpoints stayed on the earlier machine; the speedup does not
# depend on the weights. Run with no training beside it (--require-idle refuses a busy machine).
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
O=benchmarks/records/cpu; L=runs/timing-17b.log
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
uptime >> $L
# The tokenizer is MiniLM's for every task: any MiniLM run directory tokenizes any task's dev set.
t --checkpoint runs/stsb-s2 --task cola --seq-len 64 --save-inputs runs/cola.npz
t --checkpoint runs/stsb-s2 --task mrpc --seq-len 128 --save-inputs runs/mrpc.npz
t --checkpoint runs/stsb-s2 --task sts-b --seq-len 64 --save-inputs runs/sts-b.npz
declare -A R=([cola]=14,10,7,2,1,1 [mrpc]=65,43,29,8,3,1 [sts-b]=37,21,12,3,1,1)
declare -A N=([cola]=100 [mrpc]=50 [sts-b]=50)
for task in sts-b mrpc cola; do
  A="--inputs runs/$task.npz --random-backbone minilm --retention-config ${R[$task]} --require-idle"
  t $A --protocol dynamic --json $O/${task}_dynamic-family26.json
  t $A --protocol batch1 --max-examples ${N[$task]} --json $O/${task}_batch1-family26.json
  t $A --protocol padded --json $O/${task}_padded-family26.json
done
echo "$(date -u +%FT%TZ) all done" >> $L
