#!/usr/bin/env python
"""How much elimination alone costs a fine-tuned model: no training, on the held-out part.

    python benchmarks/elimination_without_training.py RECORD CHECKPOINT [RECORD CHECKPOINT ...]

RECORD is a run record directory whose search kept its shapes (results.json's candidates with
their masses), CHECKPOINT the fine-tuned model that run started from. Each shape is projected
onto the FLOPs ladder 0.95 ... 0.50 (counted over the training part's own token lengths, as
`--flops-count dynamic` counts), the search's own candidates are added, and each configuration
is applied to the fine-tuned model as it is and judged against it on the run's held-out part
(rebuilt from the run's settings; GLUE_DIR must hold the task): its metric, the loss and the
paired bootstrap bound the pipeline's selection uses (`training.selection.judge`, D = 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def judged_configurations(record: str, checkpoint: str) -> list[dict]:
    """{retention, flops_fraction, metric, reference, drop, bound, passes} for every configuration,
    cheapest first."""
    from benchmarks.dynamic_flops import pipeline_of
    from power_bert_tf.retention import RetentionConfig, project_onto_budget
    from power_bert_tf.runs import load_classifier
    from power_bert_tf.training.search import ladder
    from power_bert_tf.training.selection import judge

    with open(os.path.join(record, "results.json")) as handle:
        results = json.load(handle)
    pipeline = pipeline_of(results)
    train, held_out = pipeline.training_split()
    lengths = pipeline.flops_lengths(train)
    model = load_classifier(checkpoint, ("finetune",))
    adapter = model.encoder.adapter
    budget = (results["seq_len"], adapter.hidden_dim, adapter.intermediate_dim, lengths)
    candidates = results["steps"]["search"]["candidates"]
    configurations = {tuple(c["retention"]) for c in candidates}
    for candidate in candidates:
        for target in ladder(0.5):
            configurations.add(
                tuple(project_onto_budget(candidate["masses"], target, *budget).keep)
            )
    reference = pipeline._predictions(model, held_out)

    def metric(labels, predictions):
        return pipeline._metrics(labels, predictions)[pipeline.task.metric]

    rows = []
    for keep in configurations:
        retention = RetentionConfig(keep)
        view = model.sharing_weights(retention)
        verdict = judge(
            held_out.labels,
            reference,
            pipeline._predictions(view, held_out),
            metric,
            1.0,
            pipeline.task.is_regression,
            seed=results["identity"]["seed"],
        )
        rows.append(
            {
                "retention": list(keep),
                "flops_fraction": retention.flops_fraction(*budget),
                **{k: getattr(verdict, k) for k in ("metric", "reference", "drop", "bound")},
                "passes": verdict.passes,
            }
        )
    return sorted(rows, key=lambda row: row["flops_fraction"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="RECORD CHECKPOINT pairs")
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error("give RECORD CHECKPOINT pairs")
    for record, checkpoint in zip(args.pairs[::2], args.pairs[1::2]):
        name = os.path.basename(os.path.normpath(record))
        print(f"{name} (fine-tuned model: {os.path.basename(checkpoint)})")
        print("  FLOPs  retention                 metric  reference   loss <=  bound")
        for row in judged_configurations(record, checkpoint):
            keep = ",".join(str(k) for k in row["retention"])
            print(
                f"  {row['flops_fraction']:.3f}  {keep:<24} {row['metric']:7.2f}  {row['reference']:7.2f}  "
                f"{row['drop']:6.2f} <= {row['bound']:6.2f}{'  pass' if row['passes'] else ''}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
