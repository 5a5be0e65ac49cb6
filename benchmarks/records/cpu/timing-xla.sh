#!/usr/bin/env bash
# Batch 1, graph against XLA, on an idle machine (the training queues paused with SIGSTOP and
# resumed after). Random MiniLM-shaped weights (time does not depend on them) on the dev
# sentences tokenized by a run's preprocessor (--save-inputs into $INPUTS); PoWER-BERT at
# CoLA's earlier seed-0 configuration and MRPC's new-default seed-0 one.
# usage: INPUTS=<dir with cola.npz, mrpc.npz> bash benchmarks/records/cpu/timing-xla.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
. .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3
out=benchmarks/records/cpu
for task in cola:14,10,7,2,1,1 mrpc:75,61,55,41,38,38; do
  name=${task%%:*}; keep=${task#*:}
  for mode in graph xla; do
    flag=$([ $mode = xla ] && echo --jit-compile || true)
    python benchmarks/benchmark.py --inputs "$INPUTS/$name.npz" --random-backbone minilm --retention-config "$keep" \
      --protocol batch1 --length-multiple 16 --repeats 20 --max-examples 200 --require-idle $flag \
      --json "$out/${name}_batch1_$mode.json" \
      2>&1 | grep -v -E '^(I|W)0000|WARNING: All log|To enable the following|rebuild TensorFlow'
  done
done
