#!/usr/bin/env python
"""Inference time of PoWER-BERT against the baseline, truncation and dynamic padding.

    python benchmarks/benchmark.py --checkpoint runs/cola --json runs/cola/benchmark.json
    python benchmarks/benchmark.py --checkpoint runs/cola --protocol dynamic --json dynamic.json
    python benchmarks/benchmark.py --checkpoint runs/cola --protocol batch1 --savedmodel EXPORT \
        --baseline-savedmodel BASELINE_EXPORT --json batch1.json

Times, in one process and on the same pre-tokenized inputs, the model without
elimination and the PoWER-BERT model of a run directory, plus static
truncation to a length of similar FLOPs, the --models checkpoints and the
exports, under one --protocol: padded (batch 128 at the full seq_len, as the
paper), dynamic (the dev set in file order, batches of 64 trimmed to their
longest) or batch1 (sentences one at a time). The variants run in a new random
order each round; each speedup gets a bootstrap 95% interval; the machine's
load is checked (--require-idle). Prints a summary and optionally writes it all
as JSON. --profile adds a per-layer table of where the time goes.

Without TensorFlow (e.g. a JAX GPU box): tokenize here with --save-inputs
FILE.npz, then there run KERAS_BACKEND=jax benchmarks/benchmark.py --inputs
FILE.npz --random-backbone minilm --retention-config ... Bad flags are refused
with one line and exit status 2 before any model is built.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]  # the benchmarks package; scripts/flags.py

from flags import add_dataclass_flags, dataclass_from_args  # noqa: E402

from benchmarks.speed.config import BenchmarkConfig  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataclass_flags(parser, BenchmarkConfig)
    parser.add_argument(
        "--json", dest="json_path", metavar="FILE", help="write the full result here"
    )
    return parser


def _fail(message: str) -> int:
    print(f"benchmark.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from benchmarks import speed as benchmark
    from power_bert_tf.files import write_json_atomically
    from power_bert_tf.retention import RetentionConfigError

    config = dataclass_from_args(
        BenchmarkConfig, args, command=shlex.join(["python", "benchmarks/benchmark.py", *argv])
    )
    try:
        config.check()  # before any model is built
        if config.save_inputs:
            saved = benchmark.save_dev_inputs(config)
            print(
                f"{saved['examples']} {saved['task']} dev examples at seq_len {saved['seq_len']} "
                f"written to {saved['path']}"
            )
            return 0
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
