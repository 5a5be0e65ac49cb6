#!/usr/bin/env bash
# Issue 14, item 8, session 5: GPU rows for the held-out runs under KERAS_BACKEND=jax (random MiniLM-shaped
# weights with a counted run's retention; dev sets tokenized on the CPU machine by --save-inputs).
# As before: XLA autotuning off, lengths rounded up to a multiple of 16. New: a persistent compilation
# cache shared by the runs of this call (identical programs, e.g. the baseline's, compile once), and
# 20 repeats everywhere (batch 1 over the first 50 dev sentences). No run starts after DEADLINE seconds.
set -o pipefail
START=$SECONDS
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_FLAGS=--xla_gpu_autotune_level=0
export JAX_COMPILATION_CACHE_DIR=$JAX_CACHE JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
mkdir -p $OUT/gpu; LOG=$OUT/log.txt
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nproc; uptime
  python3 -c "import jax, keras, keras_hub; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'keras_hub', keras_hub.__version__)"; } 2>&1 | tee -a $LOG
declare -A R=([cola]=14,10,7,2,1,1 [mrpc]=65,43,29,8,3,1)
run() { local task=$1 p=$2; shift 2
  if (( SECONDS - START > ${DEADLINE:-420} )); then echo "== skipped $task $p (deadline)" | tee -a $LOG; return; fi
  echo "== $task $p $(date +%T) at ${SECONDS}s" | tee -a $LOG
  timeout ${TIMEOUT:-150} python3 benchmarks/benchmark.py --inputs .device/$task.npz --random-backbone minilm \
    --retention-config ${R[$task]} --protocol $p --length-multiple 16 --repeats ${REPEATS:-20} "$@" \
    --json $OUT/gpu/${task}_$p.json 2>&1 | grep -v -E "^\s*$|UserWarning|warnings.warn" | tail -9 | tee -a $LOG
  echo "== rc=${PIPESTATUS[0]} at ${SECONDS}s" | tee -a $LOG; }
run mrpc padded; run mrpc dynamic; run mrpc batch1 --max-examples ${B1:-50}
run cola batch1 --max-examples ${B1:-50}; run cola padded; run cola dynamic
tar -C $OUT -cf $OUT/gpu.tar gpu && rm -rf $OUT/gpu
