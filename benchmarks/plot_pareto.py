#!/usr/bin/env python
"""Plot each task's dev metric against inference time from docs/results.json.

    python benchmarks/plot_pareto.py --results docs/results.json --output-dir docs/

Writes <output-dir>/pareto_<task>.png for each task with Pareto points (PoWER-BERT at
its FLOPs targets, fine-tuned truncation, the baselines; x: time relative to the
baseline under the dynamic protocol where measured, else padded); tasks without points
are skipped with a message. A missing or malformed results file: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]  # the benchmarks package; scripts/flags.py

from flags import add_results_flag  # noqa: E402

from benchmarks.results.errors import exit_status  # noqa: E402
from benchmarks.results.pareto import plot_task  # noqa: E402
from benchmarks.results.render import read_records  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_results_flag(parser)
    parser.add_argument(
        "--output-dir", default="docs", help="where pareto_<task>.png go (default: %(default)s)"
    )
    parser.add_argument("--dpi", type=int, default=150)
    return parser


def plot(args: argparse.Namespace) -> int:
    for record in read_records(args.results):
        path = os.path.join(args.output_dir, f"pareto_{record['task']}.png")
        if plot_task(record, path, dpi=args.dpi):
            print(f"{record['task']}: {len(record['pareto'])} points -> {path}")
        else:
            print(
                f"{record['task']}: no Pareto points (no CPU benchmark with a baseline time), skipped"
            )
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return exit_status("plot_pareto.py", lambda: plot(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
