#!/usr/bin/env python
"""Before a search: how hard the task pulls on each retention weight, and what LAMBDA would keep.

    python benchmarks/retention_gradients.py --task cola --checkpoint runs/cola/finetune.keras \
        --data-dir ../shared/glue/CoLA --lambda 1e-4,3e-4,1e-3,3e-3

The search settles each retention weight r_k of layer j where the task loss's pull
(-dLoss/dr_k) meets the penalty's push (LAMBDA * j). This prints, per layer, the
gradient at r = 1 averaged over training batches, and for each LAMBDA the retention
configuration that balance predicts to first order. Read the prediction as the LAMBDA
scale at which the penalty starts to compete with the task: a real search keeps several
times more vectors (docs/RESULTS.md compares them). Bad flags are refused with one line
and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the benchmarks package

DEFAULT_LAMBDAS = "1e-4,3e-4,1e-3,3e-3,1e-2"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--task", required=True, help="the GLUE task the checkpoint was fine-tuned on")
    add("--checkpoint", required=True, help="a fine-tuned run directory or .keras file")
    add("--data-dir", help="the task's GLUE directory (default: $GLUE_DIR/<Task>, else TFDS)")
    add(
        "--batches",
        type=int,
        default=20,
        help="training batches to average over (default: %(default)s)",
    )
    add("--batch-size", type=int, default=None, help="default: the task's")
    add(
        "--lambda",
        dest="lambdas",
        default=DEFAULT_LAMBDAS,
        help="comma-separated LAMBDA values to predict for (default: %(default)s)",
    )
    add("--top", type=int, default=12, help="ranks to print per layer (default: %(default)s)")
    add("--seed", type=int, default=0)
    add(
        "--json", dest="json_path", metavar="FILE", help="also write gradients and predictions here"
    )
    return parser


def _fail(message: str) -> int:
    print(f"retention_gradients.py: error: {message}", file=sys.stderr)
    return 2


def _lambdas(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--lambda {text!r}: not a comma-separated list of numbers") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"--lambda {text!r}: give positive numbers")
    return values


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        lambdas = _lambdas(args.lambdas)
    except ValueError as error:
        return _fail(str(error))
    if args.batches < 1:
        return _fail("--batches must be at least 1")
    from benchmarks.probe import predicted_retention, retention_gradients
    from power_bert_tf.data import get_task
    from power_bert_tf.errors import PowerBertError
    from power_bert_tf.files import write_json_atomically
    from power_bert_tf.pipeline import Pipeline, RunConfig

    try:
        task = get_task(args.task)
    except ValueError as error:
        return _fail(f"--task: {error}")
    batch_size = args.batch_size or task.batch_size
    try:
        config = RunConfig(
            task=args.task,
            output_dir=os.path.join("runs", args.task.lower()),
            data_dir=args.data_dir,
            checkpoint=args.checkpoint,
            batch_size=batch_size,
            seed=args.seed,
            verbose=0,
        )
        pipeline = Pipeline(config)
        model = pipeline.initial_model()  # --checkpoint: the fine-tuned model
        examples = pipeline.examples("train").take(args.batches * batch_size, seed=args.seed)
        batches = pipeline.dataset(examples, shuffle=True)
        gradients = retention_gradients(model, batches, args.batches)
    except PowerBertError as error:
        return _fail(str(error))

    print(f"dLoss/dr_k at r = 1, mean of {args.batches} batches of {batch_size} (rank 0 = [CLS]):")
    for layer, row in enumerate(gradients, 1):
        print(f"  layer {layer}: " + " ".join(f"{g:+.1e}" for g in row[: args.top]))
    predictions = {f"{lam:g}": predicted_retention(gradients, lam).to_list() for lam in lambdas}
    print("predicted retention (first order; a real search keeps several times more):")
    for lam, retention in predictions.items():
        print(f"  lambda {lam:>8}: {','.join(map(str, retention))}")
    if args.json_path:
        write_json_atomically(
            args.json_path,
            {
                "task": args.task,
                "checkpoint": args.checkpoint,
                "batches": args.batches,
                "batch_size": batch_size,
                "gradients": gradients.tolist(),
                "predicted_retention": predictions,
                "command": "python benchmarks/retention_gradients.py " + " ".join(argv),
            },
        )
        print(f"written to {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
