#!/usr/bin/env bash
# Each new-selection run's own delivered configuration timed under the three protocols (dynamic,
# batch 1, padded): random MiniLM-shaped weights with the run's retention, on its task's dev set
# tokenized once (the speedup does not depend on the weights). It waits until no pipeline run is
# left on the machine, then refuses to time a busy one (--require-idle).
# (waits for pytest too: a test run beside it would fail --require-idle)
# usage: RUNS_DIR=<the checkout the runs were made in>/runs bash benchmarks/records/cpu/timing-sel.sh
# (each run directory under RUNS_DIR by its ledger name; CoLA seeds 0 and 2 are the sel2 reruns)
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
: "${GLUE_DIR:?set GLUE_DIR}"
export TF_CPP_MIN_LOG_LEVEL=3
runs=${RUNS_DIR:-runs}; O=benchmarks/records/cpu; L=runs/timing-sel.log
mkdir -p runs
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
while pgrep -f "scripts/run_glue.py|pytest" > /dev/null; do sleep 120; done
echo "$(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $(nproc) cores, $(python -c "import tensorflow as tf, keras; print('tensorflow', tf.__version__, 'keras', keras.__version__)" 2>/dev/null)" >> $L
uptime >> $L
declare -A SEQ=([cola]=64 [mrpc]=128 [sst-2]=64 [sts-b]=64)
declare -A CKPT=([cola]=cola [mrpc]=mrpc [sst-2]=sst2 [sts-b]=stsb)
declare -A N=([cola]=100 [mrpc]=50 [sst-2]=100 [sts-b]=50)
for task in cola mrpc sst-2 sts-b; do
  # The task's seed-0 fine-tuned model tokenizes its dev set at its sequence length.
  s=${SEQ[$task]}
  [ -f runs/$task.npz ] || t --checkpoint runs/finetuned/${CKPT[$task]}-s0.keras --retention-config $s,$s,$s,$s,$s,$s --task $task --save-inputs runs/$task.npz
done
for name in mrpc-sel-s0 mrpc-sel-s1 mrpc-sel-s2 sst2-sel-s0 sst2-sel-s1 sst2-sel-s2 \
            stsb-sel-s0 stsb-sel-s1 stsb-sel-s2 cola-sel2-s0 cola-sel-s1 cola-sel2-s2; do
  results=$runs/$name/results.json
  [ -f "$results" ] || { echo "$(date -u +%FT%TZ) skip $name: no results.json" >> $L; continue; }
  read -r task retention < <(python -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['task'], ','.join(map(str, r['retention'] or [])))" "$results")
  [ -n "$retention" ] || { echo "$(date -u +%FT%TZ) skip $name: delivered the fine-tuned model" >> $L; continue; }
  A="--inputs runs/$task.npz --random-backbone minilm --retention-config $retention --require-idle"
  t $A --protocol dynamic --json $O/${name}_dynamic.json
  t $A --protocol batch1 --max-examples ${N[$task]} --json $O/${name}_batch1.json
  t $A --protocol padded --json $O/${name}_padded.json
done
echo "$(date -u +%FT%TZ) all done" >> $L
