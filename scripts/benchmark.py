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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--checkpoint", help="a run's output directory (retrain.keras, finetune.keras, run_config.json) "
        "or a hard-mode .keras file")
    add("--retention-config", help="e.g. 29,28,26,...: time this configuration instead of the checkpoint's")
    add("--batch-size", type=int, default=128, help="rows per timed batch (default 128, as the paper)")
    add("--seq-len", type=int, default=None, help="padded input length (default: the run's sequence_length; "
        "128 with --random-bert-base)")
    add("--repeats", type=int, default=10, help="timed calls per variant; the median is reported")
    add("--warmup", type=int, default=2, help="untimed calls per variant first")
    add("--json", dest="json_path", metavar="FILE", help="write the full result here")
    add("--data-dir", help="the task's GLUE directory with the dev file (default: $GLUE_DIR/<Task> from "
        "run_config.json's task, else TFDS)")
    add("--max-examples", type=int, default=None, help="use a random subset of the dev set of this size")
    add("--task", help="GLUE task (default: run_config.json's)")
    add("--baseline", default="auto", choices=["auto", "finetune", "retrain"],
        help="baseline weights: finetune.keras, or retrain.keras with no elimination (auto: finetune.keras "
        "when present)")
    add("--no-extras", action="store_true", help="skip the whole-dev-set passes (bucketed timing, metrics)")
    add("--profile", action="store_true", help="also time the pieces of each layer")
    add("--random-bert-base", action="store_true",
        help="no checkpoint: random BERT-base weights (12 layers, 768, 3072, 12 heads) on random ids; "
        "needs --retention-config")
    add("--backend-note", help="free text stored in the JSON (e.g. how threads were pinned)")
    add("--seed", type=int, default=0)
    return parser


def _fail(message: str) -> int:
    print(f"benchmark.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.checkpoint is None and not args.random_bert_base:
        return _fail("--checkpoint is required (or --random-bert-base)")
    if args.checkpoint is not None and args.random_bert_base:
        return _fail("--checkpoint and --random-bert-base exclude each other")
    if args.random_bert_base and args.retention_config is None:
        return _fail("--random-bert-base needs --retention-config")
    for name in ("batch_size", "repeats", "max_examples", "seq_len"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return _fail(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        return _fail("--warmup must be at least 0")
    # Imported after parsing so --help and flag errors are instant.
    from power_bert_tf import benchmark
    from power_bert_tf.files import write_json_atomically
    from power_bert_tf.retention import RetentionConfigError

    config = benchmark.BenchmarkConfig(
        checkpoint=args.checkpoint,
        retention=args.retention_config,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        repeats=args.repeats,
        warmup=args.warmup,
        data_dir=args.data_dir,
        max_examples=args.max_examples,
        task=args.task,
        baseline=args.baseline,
        extras=not args.no_extras,
        profile=args.profile,
        random_bert_base=args.random_bert_base,
        backend_note=args.backend_note,
        command=shlex.join(["python", "scripts/benchmark.py", *argv]),
        seed=args.seed,
    )
    try:
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
