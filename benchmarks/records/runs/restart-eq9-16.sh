#!/usr/bin/env bash
# Session 4: after mrpc-eq9-s0's epoch 5, stop it and resume it alone with TensorFlow's default threads.
cd . && . .venv/bin/activate
export GLUE_DIR=$GLUE_DIR TF_CPP_MIN_LOG_LEVEL=3
state=runs/mrpc-eq9-s0/finetune.resume/state.json  # written last, after the epoch's weights
until python -c "import json,sys; sys.exit(json.load(open('$state'))['epoch'] < 5)" 2>/dev/null; do sleep 10; done
pkill -f "output-dir runs/mrpc-eq9-s0 --quiet"; sleep 10
echo "$(date -u +%FT%TZ) [B] mrpc-eq9-s0 stopped after epoch 5; resumed alone with TensorFlow's default threads" >> runs/queue-15.log
python scripts/run_glue.py --task mrpc --seed 0 --steps finetune --epochs 9 --output-dir runs/mrpc-eq9-s0 --quiet >> runs/mrpc-eq9-s0/stdout.txt 2>&1
rc=$?  # before any $(...): a command substitution resets $?
echo "$(date -u +%FT%TZ) [B] end mrpc-eq9-s0 rc=$rc" >> runs/queue-15.log
