#!/usr/bin/env python
"""A recorded run's configuration, its FLOPs counted padded and over its sentences' own lengths.

    python benchmarks/dynamic_flops.py benchmarks/records/runs/cola-conv-s0 [...]

For each run record (results.json): the delivered retention configuration's FLOPs fraction
counted at the padded length (the paper's count) and over the token lengths of the run's
training part (what `--flops-count dynamic` counts, and what a request trimmed to its own
length costs). The training part is rebuilt from the run's own settings (task, seed, held-out
fraction, subsample), so GLUE_DIR must hold the task's files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def pipeline_of(results: dict):
    """A `Pipeline` with a recorded run's data settings (task, seed, held-out fraction,
    subsample, sequence length): its `training_split()` is that run's. Nothing is trained or
    written."""
    from power_bert_tf.config import RunConfig
    from power_bert_tf.pipeline import Pipeline

    identity = results["identity"]
    return Pipeline(
        RunConfig(
            task=results["task"],
            seed=identity["seed"],
            held_out_fraction=identity["held_out_fraction"],
            max_train_examples=identity.get("max_train_examples"),
            seq_len=results["seq_len"],
            output_dir=tempfile.mkdtemp(),  # nothing is written
            flops_count="dynamic",
            target_flops=1.0,  # any goal: nothing is trained
        )
    )


def flops_of_record(path: str, model: dict) -> dict:
    """{run, task, retention, padded, dynamic, mean_tokens} of one run record directory, for a
    backbone of `model`'s widths (the ledger's `hidden_dim`, `intermediate_dim`)."""
    import numpy as np

    from power_bert_tf.retention import RetentionConfig

    with open(os.path.join(path, "results.json")) as handle:
        results = json.load(handle)
    row = {"run": os.path.basename(os.path.normpath(path)), "task": results["task"]}
    row["retention"] = results.get("retention")
    if not row["retention"]:
        return {**row, "padded": 1.0, "dynamic": 1.0, "mean_tokens": None}
    pipeline = pipeline_of(results)
    train, _ = pipeline.training_split()
    lengths = pipeline.flops_lengths(train)
    dims = (results["seq_len"], model["hidden_dim"], model["intermediate_dim"])
    keep = RetentionConfig(tuple(row["retention"]))
    counts = np.repeat(list(lengths), list(lengths.values()))
    return {
        **row,
        "padded": keep.flops_fraction(*dims),
        "dynamic": keep.flops_fraction(*dims, lengths=lengths),
        "mean_tokens": float(counts.mean()),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", help="run record directories (with results.json)")
    args = parser.parse_args(argv)
    print("run               task   retention                  padded  dynamic  mean tokens")
    with open(os.path.join(ROOT, "benchmarks/records/runs/ledger.json")) as handle:
        model = json.load(handle)["model"]
    for path in args.records:
        row = flops_of_record(path, model)
        keep = ",".join(str(k) for k in row["retention"] or []) or "(fine-tuned)"
        tokens = "" if row["mean_tokens"] is None else f"{row['mean_tokens']:.1f}"
        print(
            f"{row['run']:<17} {row['task']:<6} {keep:<26} {row['padded']:.3f}   "
            f"{row['dynamic']:.3f}    {tokens}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
