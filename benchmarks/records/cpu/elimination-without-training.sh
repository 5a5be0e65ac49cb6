#!/usr/bin/env bash
# What elimination alone costs the fine-tuned models the dynamic-count runs started from: each
# search shape projected onto FLOPs 0.95 ... 0.50 and applied with no training, judged against the
# fine-tuned model on the run's held-out part. Run from a checkout holding runs/finetuned/ (the
# fine-tuned models of the ledger's *-conv-s* runs, copied from their finetune.keras).
# usage: GLUE_DIR=<GLUE in the official layout> bash benchmarks/records/cpu/elimination-without-training.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${GLUE_DIR:?set GLUE_DIR}"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
R=benchmarks/records/runs F=${FINETUNED:-runs/finetuned}
python benchmarks/elimination_without_training.py \
  $R/cola-dyn-s1 $F/cola-s1.keras $R/mrpc-dyn-s0 $F/mrpc-s0.keras $R/sst2-dyn-s0 $F/sst2-s0.keras
