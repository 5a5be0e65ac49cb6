#!/usr/bin/env bash
# Ran 2026-12-05T22:10Z to 22:28Z on an idle machine (log: timing-xla-sel.log).
# Batch 1, graph against XLA, after timing-sel.sh (it waits for it and for every pipeline run):
# - the new-selection seed-0 configurations of MRPC and STS-B, random MiniLM-shaped weights on
#   their dev sentences (the graph/XLA pair of timing-xla.sh, which timed earlier configurations);
# - CoLA's seed-0 fine-tuned model exported twice (graph, --jit-compile), both exports timed in
#   one process through their token-id signature (TensorFlow alone loads them), beside the
#   Keras graph baseline and the cola-sel2-s0 configuration.
# usage: RUNS_DIR=<the checkout the runs were made in>/runs bash benchmarks/records/cpu/timing-xla-sel.sh
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3
runs=${RUNS_DIR:-runs}; O=benchmarks/records/cpu; L=runs/timing-xla-sel.log
mkdir -p runs
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -16 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
retention() { python -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['retention'])))" "$runs/$1/results.json"; }
for mode in graph xla; do  # the exports (not timed)
  [ -d runs/exports/cola-s0-$mode ] && continue
  flag=$([ $mode = xla ] && echo --jit-compile || true)
  python scripts/export_savedmodel.py --checkpoint runs/finetuned/cola-s0.keras --task cola --export-dir runs/exports/cola-s0-$mode $flag >> $L 2>&1
done
while pgrep -f "scripts/run_glue.py|pytest|timing-sel.sh" > /dev/null; do sleep 60; done
echo "$(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $(nproc) cores" >> $L
for spec in mrpc:mrpc-sel-s0 sts-b:stsb-sel-s0; do
  task=${spec%%:*}; name=${spec#*:}; keep=$(retention $name)
  for mode in graph xla; do
    flag=$([ $mode = xla ] && echo --jit-compile || true)
    t --inputs runs/$task.npz --random-backbone minilm --retention-config $keep --protocol batch1 \
      --length-multiple 16 --repeats 20 --max-examples 200 --require-idle $flag --json $O/${name}_batch1_$mode.json
  done
done
t --inputs runs/cola.npz --random-backbone minilm --retention-config $(retention cola-sel2-s0) --protocol batch1 \
  --length-multiple 16 --repeats 20 --max-examples 200 --require-idle \
  --savedmodel runs/exports/cola-s0-xla --baseline-savedmodel runs/exports/cola-s0-graph --json $O/cola_batch1_savedmodel_xla.json
echo "$(date -u +%FT%TZ) all done" >> $L
