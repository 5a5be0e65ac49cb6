#!/usr/bin/env bash
# The batched-count runs (--flops-count batched, the default from the commit that made it so):
# search and retrain from each seed's fine-tuned model (runs/finetuned/<task>-s<seed>.keras,
# copies of the earlier runs' finetune.keras: the fine-tune step does not depend on the count),
# four queues of queue-25.sh, two at a time, one intra-op thread each; C starts when B ends,
# D when A ends. Run from a pinned checkout with GLUE_DIR set.
cd "$(dirname "$0")/../../.."
Q=benchmarks/records/runs/queue-25.sh; C=runs/finetuned
lane() { local name=$1 after=$2; shift 2; while pgrep -f "queue-25.sh $after " > /dev/null; do sleep 30; done; bash $Q "$name" "$@"; }
bash $Q A "cola-bat-s0 --task cola --seed 0 --checkpoint $C/cola-s0.keras --steps search,retrain" \
  "cola-bat-s2 --task cola --seed 2 --checkpoint $C/cola-s2.keras --steps search,retrain" &
bash $Q B "cola-bat-s1 --task cola --seed 1 --checkpoint $C/cola-s1.keras --steps search,retrain" &
sleep 5
lane C B "mrpc-bat-s0 --task mrpc --seed 0 --checkpoint $C/mrpc-s0.keras --steps search,retrain" \
  "stsb-bat-s0 --task sts-b --seed 0 --checkpoint $C/stsb-s0.keras --steps search,retrain" \
  "sst2-bat-s0 --task sst-2 --max-train-examples 8000 --seed 0 --checkpoint $C/sst2-s0.keras --steps search,retrain" \
  "mrpc-bat-s2 --task mrpc --seed 2 --checkpoint $C/mrpc-s2.keras --steps search,retrain" \
  "sst2-bat-s2 --task sst-2 --max-train-examples 8000 --seed 2 --checkpoint $C/sst2-s2.keras --steps search,retrain" &
lane D A "mrpc-bat-s1 --task mrpc --seed 1 --checkpoint $C/mrpc-s1.keras --steps search,retrain" \
  "stsb-bat-s1 --task sts-b --seed 1 --checkpoint $C/stsb-s1.keras --steps search,retrain" \
  "sst2-bat-s1 --task sst-2 --max-train-examples 8000 --seed 1 --checkpoint $C/sst2-s1.keras --steps search,retrain" \
  "stsb-bat-s2 --task sts-b --seed 2 --checkpoint $C/stsb-s2.keras --steps search,retrain" &
wait
