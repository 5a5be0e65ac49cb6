#!/usr/bin/env python
"""Inference time of PoWER-BERT against the baseline, truncation and dynamic padding.

    python scripts/benchmark.py --checkpoint runs/cola --json runs/cola/benchmark.json

Times, in one process and on the same pre-tokenized inputs (batch 128 at the
full seq_len by default, as the paper), the model without elimination and
the PoWER-BERT model of a run directory, plus static truncation to a length
of similar FLOPs and length-bucketed inference over the whole dev set; prints
a summary and optionally writes it all as JSON. --profile adds a per-layer
table of where the time goes. Bad flags are refused with one line and exit
status 2 before any model is built.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flags import add_dataclass_flags, dataclass_from_args  # noqa: E402

from power_bert_tf.benchmark.config import BenchmarkConfig  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataclass_flags(parser, BenchmarkConfig)
    parser.add_argument("--json", dest="json_path", metavar="FILE", help="write the full result here")
    return parser


def _fail(message: str) -> int:
    print(f"benchmark.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from power_bert_tf import benchmark
    from power_bert_tf.files import write_json_atomically
    from power_bert_tf.retention import RetentionConfigError

    config = dataclass_from_args(BenchmarkConfig, args,
                                 command=shlex.join(["python", "scripts/benchmark.py", *argv]))
    try:
        config.check()  # before any model is built
        result = benchmark.run_benchmark(config)
    except RetentionConfigError as error:
        return _fail(f"--retention-config: {error}")
    except benchmark.BenchmarkError as error:
        return _fail(str(error))
    print(benchmark.format_report(result))
    if args.json_path:
        write_json_atomically(args.json_path, result)
        print(f"written to {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
