#!/usr/bin/env bash
# SST-2's truncation fine-tuned at the length sst2-s0's benchmarks timed (15 tokens), alone with both
# threads; then the one-machine re-timing of CoLA, MRPC and STS-B (timing-17b.sh).
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
mkdir -p runs/sst2-trunc15-s0
echo "$(date -u +%FT%TZ) [F] start sst2-trunc15-s0: --task sst-2 --max-train-examples 8000 --seed 0 --steps finetune --seq-len 15 (alone, TensorFlow's default threads)" >> runs/queue-15.log
python scripts/run_glue.py --task sst-2 --max-train-examples 8000 --seed 0 --steps finetune --seq-len 15 --output-dir runs/sst2-trunc15-s0 --quiet >> runs/sst2-trunc15-s0/stdout.txt 2>&1
rc=$?
echo "$(date -u +%FT%TZ) [F] end sst2-trunc15-s0 rc=$rc" >> runs/queue-15.log
sleep 5
bash benchmarks/records/cpu/timing-17b.sh
