#!/usr/bin/env python
"""Collect runs' results.json and benchmark JSONs into docs/results.json.

    python scripts/collect_results.py --run docs/runs/cola docs/benchmark_cola.json \
        --output docs/results.json

One record per task: task, metric, baseline, power, retention, speedup,
flops_fraction, device (plus the benchmark's batch size and seq_len).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def record(run_dir: Path, benchmark_json: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text())
    bench = json.loads(benchmark_json.read_text())
    return {
        "task": results["task"],
        "metric": results["metric"],
        "baseline": results["baseline"],
        "power": results["power"],
        "retention": results["retention"],
        "speedup": bench["speedup"],
        "flops_fraction": results["flops_fraction"],
        "device": bench["device"],
        "batch_size": bench["batch_size"],
        "seq_len": bench["seq_len"],
        "truncation": {k: bench["truncation"][k] for k in ("seq_len", "speedup", "metric")},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=2, action="append", metavar=("RUN_DIR", "BENCHMARK_JSON"),
                        required=True)
    parser.add_argument("--output", default="docs/results.json")
    args = parser.parse_args(argv)
    try:
        records = [record(Path(run), Path(bench)) for run, bench in args.run]
    except (OSError, KeyError, json.JSONDecodeError) as error:
        print(f"collect_results.py: error: {error}", file=sys.stderr)
        return 2
    Path(args.output).write_text(json.dumps(records, indent=2) + "\n")
    print(f"{len(records)} records written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
