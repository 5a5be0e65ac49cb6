#!/usr/bin/env bash
# The delivered configurations of the recorded runs, their FLOPs counted padded (the paper's count)
# and over each run's training part's own token lengths (--flops-count dynamic). Analytic: no timing.
# usage: GLUE_DIR=<GLUE in the official layout> bash benchmarks/records/cpu/dynamic-flops.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${GLUE_DIR:?set GLUE_DIR}"
python benchmarks/dynamic_flops.py benchmarks/records/runs/{cola-conv-s0,mrpc-conv-s0,mrpc-conv-s1,sst2-conv-s0,sst2-conv-s2,stsb-conv-s0}
