#!/usr/bin/env bash
# Start the CPU timing once no training process is left (it needs an idle machine).
while pgrep -f "python scripts/run_glue.py" >/dev/null; do sleep 10; done
sleep 5
echo "$(date -u +%FT%TZ) training queues empty: benchmarks/records/cpu/timing-17.sh starts" >> runs/queue-15.log
bash benchmarks/records/cpu/timing-17.sh
