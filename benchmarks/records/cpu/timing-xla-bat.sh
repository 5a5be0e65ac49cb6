#!/usr/bin/env bash
# Batch 1, graph against XLA (the pair of timing-xla-sel.sh), at batched-count runs' delivered
# configurations: random MiniLM-shaped weights on the task's dev sentences (runs/<task>.npz),
# lengths padded to a multiple of 16, 20 rounds. Pipeline runs still going are paused (SIGSTOP).
# usage: RUNS_DIR=<the checkout the runs were made in>/runs bash benchmarks/records/cpu/timing-xla-bat.sh NAME...
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3
runs=${RUNS_DIR:-runs}; O=benchmarks/records/cpu; L=runs/timing-xla-bat.log
mkdir -p runs
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::|cuInit" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
while pgrep -f pytest > /dev/null; do sleep 30; done
paused=$(pgrep -f "scripts/run_glue.py" | tr '\n' ' ')
[ -n "$paused" ] && kill -STOP $paused
trap '[ -n "$paused" ] && kill -CONT $paused' EXIT
sleep 20
echo "$(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $(nproc) cores, paused: ${paused:-none}" >> $L
for name in "$@"; do
  read -r task retention < <(python -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['task'], ','.join(map(str, r['retention'] or [])))" "$runs/$name/results.json")
  [ -n "$retention" ] || { echo "$(date -u +%FT%TZ) skip $name: delivered the fine-tuned model" >> $L; continue; }
  for mode in graph xla; do
    flag=$([ $mode = xla ] && echo --jit-compile || true)
    t --inputs runs/$task.npz --random-backbone minilm --retention-config $retention --protocol batch1 \
      --length-multiple 16 --repeats 20 --max-examples 200 --require-idle $flag --json $O/${name}_batch1_$mode.json
  done
done
echo "$(date -u +%FT%TZ) all done" >> $L
