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

from power_bert_tf.files import write_json_atomically


class ResultsError(ValueError):
    """A run or benchmark file that is missing, not JSON, or lacks a field."""


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except OSError as error:
        raise ResultsError(f"{path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not JSON ({error})") from None


def _field(payload: dict, key: str, path: Path):
    if payload.get(key) is None:
        raise ResultsError(f"{path}: no '{key}' (did that step run?)")
    return payload[key]


def record(run_dir: Path, benchmark_json: Path) -> dict:
    """One task's record from a run directory's results.json and its benchmark JSON."""
    results_json = run_dir / "results.json"
    results, bench = _read(results_json), _read(benchmark_json)
    record = {key: _field(results, key, results_json)
              for key in ("task", "metric", "baseline", "power", "retention")}
    record["speedup"] = _field(bench, "speedup", benchmark_json)
    record["flops_fraction"] = _field(results, "flops_fraction", results_json)
    for key in ("device", "batch_size", "seq_len"):
        record[key] = _field(bench, key, benchmark_json)
    truncation = _field(bench, "truncation", benchmark_json)
    record["truncation"] = {key: _field(truncation, key, benchmark_json) for key in ("seq_len", "speedup", "metric")}
    if bench.get("retention") not in (None, record["retention"]):
        raise ResultsError(f"{benchmark_json}: timed retention {bench['retention']} is not the run's "
                           f"{record['retention']} ({results_json})")
    return record


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=2, action="append", metavar=("RUN_DIR", "BENCHMARK_JSON"),
                        required=True)
    parser.add_argument("--output", default="docs/results.json")
    args = parser.parse_args(argv)
    try:
        records = [record(Path(run), Path(bench)) for run, bench in args.run]
    except ResultsError as error:
        print(f"collect_results.py: error: {error}", file=sys.stderr)
        return 2
    write_json_atomically(args.output, records)
    print(f"{len(records)} records written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
