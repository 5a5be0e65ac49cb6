#!/usr/bin/env bash
# Start the CPU timing once no training process is left (it needs an idle machine).
while pgrep -f "python scripts/run_glue.py" >/dev/null; do sleep 10; done
sleep 5
echo "$(date -u +%FT%TZ) training queues empty: docs/benchmarks/cpu/timing-17.sh starts" >> /work/main/runs/queue-15.log
bash /work/main/docs/benchmarks/cpu/timing-17.sh
