#!/usr/bin/env bash
# Issue 14, item 8: the three protocols under KERAS_BACKEND=jax on the lent GPU (random MiniLM-shaped
# weights with each task's retention; the dev sets tokenized on the CPU machine by --save-inputs).
# XLA autotuning off and lengths rounded up to a multiple of 16: compiling every shape otherwise takes
# minutes per task (the first call ran out of time). Stops starting runs after DEADLINE seconds.
set -o pipefail
START=$SECONDS
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_FLAGS=--xla_gpu_autotune_level=0
mkdir -p $OUT/gpu; LOG=$OUT/log.txt
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; uptime
  python3 -c "import jax, keras, keras_hub; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'keras_hub', keras_hub.__version__)"; } 2>&1 | tee -a $LOG
declare -A R=([cola]=14,10,7,2,1,1 [mrpc]=67,51,44,20,3,1 [sst-2]=32,23,11,4,2,1 [sts-b]=48,36,20,14,7,1)
run() { local task=$1 p=$2; shift 2
  if (( SECONDS - START > ${DEADLINE:-500} )); then echo "== skipped $task $p (deadline)" | tee -a $LOG; return; fi
  echo "== $task $p $(date +%T)" | tee -a $LOG
  timeout ${TIMEOUT:-100} python3 benchmarks/benchmark.py --inputs .device/$task.npz --random-backbone minilm \
    --retention-config ${R[$task]} --protocol $p --length-multiple 16 --repeats 20 "$@" \
    --json $OUT/gpu/${task}_$p.json 2>&1 | grep -v -E "^\s*$|UserWarning|warnings.warn" | tail -9 | tee -a $LOG; }
for task in cola mrpc sst-2 sts-b; do run $task batch1 --max-examples 100; done
for task in cola mrpc sst-2 sts-b; do run $task padded; done
for task in cola sts-b mrpc; do run $task dynamic; done
tar -C $OUT -cf $OUT/gpu.tar gpu && rm -rf $OUT/gpu
