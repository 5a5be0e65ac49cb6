#!/usr/bin/env python
"""PoWER-BERT on a GLUE task: fine-tune -> configuration search -> retrain.

    python scripts/run_glue.py --task cola --output-dir runs/cola

The run's flags are `power_bert_tf.config.RunConfig`'s fields (`--help` lists them);
unset hyper-parameters take the task's defaults. Bad flags are refused with one line
and exit status 2 before any model is built.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from flags import add_dataclass_flags, dataclass_from_args  # noqa: E402

from power_bert_tf.config import RunConfig  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dataclass_flags(parser, RunConfig)
    actions = parser.add_argument_group("actions (default: run the steps)")
    actions.add_argument(
        "--eval-only", action="store_true", help="evaluate --checkpoint on dev.tsv"
    )
    actions.add_argument(
        "--predict-only", action="store_true", help="predict test.tsv with --checkpoint"
    )
    actions.add_argument(
        "--pred-glue",
        action="store_true",
        help="with --predict-only: write the GLUE-server submission TSV",
    )
    actions.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _fail(message: str) -> int:
    print(f"run_glue.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.pred_glue and not args.predict_only:
        return _fail("--pred-glue needs --predict-only")
    if args.eval_only and args.predict_only:
        return _fail("--eval-only and --predict-only exclude each other")
    # Imported after parsing so --help and flag errors are instant.
    from power_bert_tf.errors import PowerBertError
    from power_bert_tf.pipeline import Pipeline, format_summary
    from power_bert_tf.retention import RetentionConfigError

    config = dataclass_from_args(RunConfig, args, verbose=0 if args.quiet else 1)
    try:
        pipeline = Pipeline(config)
        if args.eval_only:
            print(format_summary(pipeline.evaluate()))
        elif args.predict_only:
            print(f"predictions written to {pipeline.predict(pred_glue=args.pred_glue)}")
        else:
            print(format_summary(pipeline.run()))
    except RetentionConfigError as error:
        return _fail(f"--retention-config: {error}")
    except PowerBertError as error:  # data, flags, backbone, run directory, resume state
        return _fail(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
