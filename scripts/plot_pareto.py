#!/usr/bin/env python
"""Plot each task's dev metric against inference time from docs/results.json.

    python scripts/plot_pareto.py --results docs/results.json --output-dir docs/

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

from power_bert_tf.results.ledger import ResultsError  # noqa: E402
from power_bert_tf.results.pareto import plot_task  # noqa: E402
from power_bert_tf.results.render import read_records  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="docs/results.json", help="the records (default: %(default)s)")
    parser.add_argument("--output-dir", default="docs", help="where pareto_<task>.png go (default: %(default)s)")
    parser.add_argument("--dpi", type=int, default=150)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        records = read_records(args.results)
        for record in records:
            path = os.path.join(args.output_dir, f"pareto_{record['task']}.png")
            if plot_task(record, path, dpi=args.dpi):
                print(f"{record['task']}: {len(record['pareto'])} points -> {path}")
            else:
                print(f"{record['task']}: no Pareto points (no CPU benchmark with a baseline time), skipped")
    except ResultsError as error:
        print(f"plot_pareto.py: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"plot_pareto.py: error: {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
