#!/usr/bin/env python
"""Collect the ledger's runs and benchmarks into docs/results.json, one record per task.

    python benchmarks/collect_results.py --ledger benchmarks/records/runs/ledger.json --output docs/results.json

The ledger (format: `benchmarks.results.ledger`) lists each training run (its kind,
seed, command, record directory holding its results.json, status and how its checkpoints
were selected) and each benchmark JSON. Each record holds the means over seeds in points
with sample standard deviations, the per-seed numbers, the padded / dynamic / batch-1
speedups with their intervals (GPU ones in a `gpu` sub-record), the Pareto points, the
issue's targets and every command behind it. Then `benchmarks/render_results.py` writes the
tables and `benchmarks/plot_pareto.py` the plots. A missing file or field is refused with one
line naming it, and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]  # the benchmarks package; scripts/flags.py

from benchmarks.results.aggregate import build_records  # noqa: E402
from benchmarks.results.errors import ResultsError, exit_status  # noqa: E402
from benchmarks.results.ledger import read_ledger  # noqa: E402
from power_bert_tf.files import write_json_atomically  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ledger",
        default="benchmarks/records/runs/ledger.json",
        help="the ledger (default: %(default)s)",
    )
    parser.add_argument(
        "--output", default="docs/results.json", help="JSON to write (default: %(default)s)"
    )
    parser.add_argument(
        "--root",
        default=".",
        help="directory the ledger's record and json paths are relative to (default: the current one)",
    )
    return parser


def collect(args: argparse.Namespace) -> int:
    records = build_records(read_ledger(args.ledger, root=args.root))
    try:
        write_json_atomically(args.output, records)
    except OSError as error:  # named by the file asked for, not the temporary one beside it
        raise ResultsError(f"{args.output}: {error.strerror}") from error
    print(
        f"{len(records)} records written to {args.output}: {', '.join(r['task'] for r in records)}"
    )
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return exit_status("collect_results.py", lambda: collect(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
