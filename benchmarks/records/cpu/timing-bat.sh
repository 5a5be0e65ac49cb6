#!/usr/bin/env bash
# The batched-count runs' own delivered configurations timed under the three protocols, as
# timing-sel.sh timed the earlier ones (random MiniLM-shaped weights at the run's retention, on
# the task's dev set tokenized by timing-sel.sh into runs/<task>.npz). Pipeline runs still going
# are paused (SIGSTOP) while it times and resumed after, so the machine is idle; it waits for
# pytest, and --require-idle refuses a busy machine.
# usage: RUNS_DIR=<the checkout the runs were made in>/runs bash benchmarks/records/cpu/timing-bat.sh NAME...
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3
runs=${RUNS_DIR:-runs}; O=benchmarks/records/cpu; L=runs/timing-bat.log
mkdir -p runs
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
while pgrep -f pytest > /dev/null; do sleep 30; done
paused=$(pgrep -f "scripts/run_glue.py" | tr '\n' ' ')
[ -n "$paused" ] && kill -STOP $paused
trap '[ -n "$paused" ] && kill -CONT $paused' EXIT
sleep 20  # the load average settles
echo "$(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $(nproc) cores, paused: ${paused:-none}" >> $L
declare -A N=([cola]=100 [mrpc]=50 [sst-2]=100 [sts-b]=50)
for name in "$@"; do
  results=$runs/$name/results.json
  read -r task retention < <(python -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['task'], ','.join(map(str, r['retention'] or [])))" "$results")
  [ -n "$retention" ] || { echo "$(date -u +%FT%TZ) skip $name: delivered the fine-tuned model" >> $L; continue; }
  A="--inputs runs/$task.npz --random-backbone minilm --retention-config $retention --require-idle"
  t $A --protocol dynamic --json $O/${name}_dynamic.json
  t $A --protocol batch1 --max-examples ${N[$task]} --json $O/${name}_batch1.json
  t $A --protocol padded --json $O/${name}_padded.json
done
echo "$(date -u +%FT%TZ) all done" >> $L
