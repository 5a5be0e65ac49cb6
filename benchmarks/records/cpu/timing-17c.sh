#!/usr/bin/env bash
# Issue 14, session 8: MRPC's part of timing-17b.sh. No MRPC checkpoint at seq_len 128 was on this
# machine to tokenize its dev set, so a throw-away one-epoch run on 100 sentences makes one (its
# weights are not used: only its tokenizer and sequence length); then the same three protocols.
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
O=benchmarks/records/cpu; L=runs/timing-17b.log
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
until grep -q "all done" $L; do sleep 10; done
[ -f runs/mrpc-tokenizer/finetune.keras ] || python scripts/run_glue.py --task mrpc --steps finetune --epochs 1 --max-train-examples 100 --max-dev-examples 10 --output-dir runs/mrpc-tokenizer --quiet > runs/mrpc-tokenizer.txt 2>&1
t --checkpoint runs/mrpc-tokenizer --retention-config 65,43,29,8,3,1 --save-inputs runs/mrpc.npz
A="--inputs runs/mrpc.npz --random-backbone minilm --retention-config 65,43,29,8,3,1 --require-idle"
t $A --protocol dynamic --json $O/mrpc_dynamic-family26.json
t $A --protocol batch1 --max-examples 50 --json $O/mrpc_batch1-family26.json
t $A --protocol padded --json $O/mrpc_padded-family26.json
echo "$(date -u +%FT%TZ) mrpc done" >> $L
