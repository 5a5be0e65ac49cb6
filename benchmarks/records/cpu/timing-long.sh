#!/usr/bin/env bash
# Batch 1 on long inputs, graph against XLA: one request of 128 or 256 tokens (random ids, no
# padding: the padded protocol at batch size 1), random MiniLM-shaped weights, baseline and
# PoWER-BERT interleaved, 40 rounds. Retentions: MRPC's seed-0 and seed-1 delivered counts
# (mrpc-sel-s0, mrpc-sel-s1; at 256 tokens the same counts, as a 256-token model keeping them).
# Pipeline runs still going are paused (SIGSTOP) while it times and resumed after.
# usage: bash benchmarks/records/cpu/timing-long.sh
cd "$(dirname "$0")/../../.." && . .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3
O=benchmarks/records/cpu; L=runs/timing-long.log
mkdir -p runs
t() { echo "$(date -u +%FT%TZ) start $*" >> $L; python benchmarks/benchmark.py "$@" 2>&1 | grep -v -E "UserWarning|warnings.warn|cudart_stub|absl::|cuInit" | tail -14 >> $L; rc=${PIPESTATUS[0]}; echo "$(date -u +%FT%TZ) end rc=$rc" >> $L; }
while pgrep -f pytest > /dev/null; do sleep 30; done
paused=$(pgrep -f "scripts/run_glue.py" | tr '\n' ' ')
[ -n "$paused" ] && kill -STOP $paused
trap '[ -n "$paused" ] && kill -CONT $paused' EXIT
sleep 20
echo "$(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $(nproc) cores, paused: ${paused:-none}" >> $L
for length in 128 256; do
  for keep in mrpc-sel-s0:128,128,128,7,7,7 mrpc-sel-s1:128,100,39,8,8,2; do
    name=${keep%%:*}
    for mode in graph xla; do
      flag=$([ $mode = xla ] && echo --jit-compile || true)
      t --random-backbone minilm --retention-config ${keep#*:} --protocol padded --batch-size 1 \
        --seq-len $length --repeats 40 --no-extras --require-idle $flag --json $O/long${length}_${name}_$mode.json
    done
  done
done
echo "$(date -u +%FT%TZ) all done" >> $L
