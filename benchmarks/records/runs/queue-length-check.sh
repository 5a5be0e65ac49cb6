#!/usr/bin/env bash
# The length check's STS-B runs: the search and retrain of the default command at commit 83566d9
# (the length check on by default), each from the fine-tuned model of the batched-count run of the
# same seed (stsb-bat-sN's finetune.keras, copied to runs/finetuned/stsb-sN.keras): the fine-tune
# step is the same at both commits and seeded per step, so this is the default command with its
# fine-tune reused. Run from a pinned checkout at 83566d9 (its own venv) with GLUE_DIR set; one
# intra-op thread per lane (queue-25.sh). Lanes G and H from 09:54Z beside stsb-bat-s2's retrain;
# G2 niced from 10:53Z, once stsb-bat-s2 had its fine-tuned model.
cd "$(dirname "$0")/../../.."
Q=benchmarks/records/runs/queue-25.sh
bash $Q G "stsb-len-s0 --task sts-b --seed 0 --checkpoint runs/finetuned/stsb-s0.keras --steps search,retrain" &
bash $Q H "stsb-len-s1 --task sts-b --seed 1 --checkpoint runs/finetuned/stsb-s1.keras --steps search,retrain" &
nice -n 10 bash $Q G2 "stsb-len-s2 --task sts-b --seed 2 --checkpoint runs/finetuned/stsb-s2.keras --steps search,retrain" &
wait
# All three paused (SIGSTOP) 11:26Z-11:38Z while CI ran.
# 12:04Z: lane E resumed sst2-whole-s0 (527bfa7) alone, beside G2.
