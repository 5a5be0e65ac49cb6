#!/usr/bin/env python
"""PoWER-BERT on a GLUE task: fine-tune -> configuration search -> retrain.

    python scripts/run_glue.py --task cola --output-dir runs/cola

Flags mirror the original IBM/PoWER-BERT main.py, lower-cased. Unset
hyper-parameters take the original README's per-task values (see
`power_bert_tf.glue.TASKS`). Bad flags are refused with one line and exit
status 2 before any model is built.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--task", required=True, help="cola, sst-2, mrpc, sts-b, qqp, mnli-m, mnli-mm, qnli, rte, wnli")
    add("--data-dir", help="the task's GLUE directory (default: $GLUE_DIR/<Task>, else TFDS)")
    add("--backbone", help="keras-hub preset name, local preset / Hugging Face directory, or 'minilm' "
        "(default: minilm when installed, else bert_base_en_uncased)")
    add("--output-dir", default=None, help="where checkpoints and results go (default: runs/<task>)")
    add("--epochs", type=int, default=3, help="epochs of fine-tuning and of retraining")
    add("--search-epochs", type=int, default=None, help="epochs of configuration search (default: --epochs)")
    add("--batch-size", type=int, default=None)
    add("--seq-len", type=int, default=None)
    add("--lr-bert", type=float, default=None)
    add("--lr-soft-extract", type=float, default=None)
    add("--lambda", dest="lambda_", type=float, default=None)
    add("--steps", default="finetune,search,retrain",
        help="comma-separated subset of finetune,search,retrain (others need --checkpoint)")
    add("--checkpoint", help="a run directory or .keras file to start from / evaluate")
    add("--retention-config", help="e.g. 64,48,32,...: skip the search, retrain (or evaluate) at this configuration")
    add("--eval-only", action="store_true", help="evaluate --checkpoint on dev.tsv")
    add("--predict-only", action="store_true", help="predict test.tsv with --checkpoint")
    add("--pred-glue", action="store_true", help="with --predict-only: write the GLUE-server submission TSV")
    add("--max-train-examples", type=int, default=None, help="train on a random subsample of this size")
    add("--max-dev-examples", type=int, default=None,
        help="evaluate on a random dev subsample (quick runs; the metric is then indicative)")
    add("--seed", type=int, default=0)
    add("--distribute", default="default", choices=["default", "mirrored"])
    add("--mixed-precision", action="store_true", help="mixed_bfloat16 compute")
    add("--quiet", action="store_true", help="no progress bars")
    return parser


def _fail(message: str) -> int:
    print(f"run_glue.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # Imported after parsing so --help and flag errors are instant.
    from power_bert_tf import glue
    from power_bert_tf.backbones import BackboneLoadError
    from power_bert_tf.pipeline import Pipeline, PipelineError, RunConfig, format_summary
    from power_bert_tf.retention import RetentionConfigError

    if args.pred_glue and not args.predict_only:
        return _fail("--pred-glue needs --predict-only")
    if args.eval_only and args.predict_only:
        return _fail("--eval-only and --predict-only exclude each other")
    config = RunConfig(
        task=args.task,
        output_dir=args.output_dir or os.path.join("runs", args.task.lower()),
        data_dir=args.data_dir,
        backbone=args.backbone,
        epochs=args.epochs,
        search_epochs=args.search_epochs,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        lr_bert=args.lr_bert,
        lr_soft_extract=args.lr_soft_extract,
        lambda_=args.lambda_,
        max_train_examples=args.max_train_examples,
        max_dev_examples=args.max_dev_examples,
        seed=args.seed,
        retention=args.retention_config,
        checkpoint=args.checkpoint,
        steps=tuple(s.strip() for s in args.steps.split(",") if s.strip()),
        distribute=args.distribute,
        mixed_precision=args.mixed_precision,
        verbose=0 if args.quiet else 1,
    )
    try:
        pipeline = Pipeline(config)
        if args.eval_only:
            result = pipeline.evaluate()
            print(format_summary(result))
        elif args.predict_only:
            print(f"predictions written to {pipeline.predict(pred_glue=args.pred_glue)}")
        else:
            print(format_summary(pipeline.run()))
    except RetentionConfigError as error:
        return _fail(f"--retention-config: {error}")
    except (glue.GlueDataError, PipelineError, BackboneLoadError) as error:
        return _fail(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
