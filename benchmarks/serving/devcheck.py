"""Does each signature of an export still score what its training run recorded on the dev set?

`power_bert.json` lists every configuration it serves with the dev metric its run measured
in Python (`budgets[i].dev_metric`). This runs the dev set through each text signature of
the loaded SavedModel (tokenized in the graph, padding removed) and compares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.serving.devset import dev_split
from benchmarks.serving.exports import budget_of, inspect_export
from benchmarks.serving.model import ServedModel
from benchmarks.serving.report import table
from power_bert_tf.data import compute_metrics, get_task
from power_bert_tf.inference import outputs_to_predictions

# Tokenization in the graph matches keras-hub's; float differences between the graph and
# Keras may flip a borderline prediction, hence a tolerance rather than equality.
TOLERANCE = 0.5


def dev_metrics(
    savedmodel, signatures: Sequence[str] | None = None, data_dir=None, batch_size: int = 64
) -> dict:
    """Each text signature's dev metric beside the one recorded at training time.

    Args:
        savedmodel: an export (version or base directory).
        signatures: the text signatures to check (default: all).
        data_dir: the task's GLUE directory (default: `$GLUE_DIR/<Task>`).
        batch_size: sentences per call.

    Returns:
        A JSON-ready dict: "metric", "dev_file", "tolerance" and "signatures" (per signature:
        retention, flops_fraction, the recorded dev_metric, the served one and whether they agree
        within `TOLERANCE` points).
    """
    info = inspect_export(savedmodel, signatures)
    task = get_task(info.task)
    examples = dev_split(info.task, len(info.inputs), data_dir)
    model = ServedModel(info)
    texts = list(zip(*examples.texts))
    rows = []
    for signature in info.signatures:
        outputs = [
            model(signature, texts[start : start + batch_size])
            for start in range(0, len(texts), batch_size)
        ]
        # Regression signatures serve a (batch,) "score", classifiers (batch, classes) "logits".
        is_regression = "score" in outputs[0]
        served_outputs = np.concatenate(
            [out["score" if is_regression else "logits"] for out in outputs]
        )
        predictions = outputs_to_predictions(
            served_outputs.reshape(len(served_outputs), -1), is_regression
        )
        served = compute_metrics(task, examples.labels, predictions)[task.metric]
        budget = budget_of(info.metadata, signature)
        recorded = budget.get("dev_metric")
        rows.append(
            {
                "signature": signature,
                **budget,
                "served_dev_metric": round(float(served), 4),
                "agrees": None if recorded is None else bool(abs(served - recorded) <= TOLERANCE),
            }
        )
    return {
        "savedmodel": str(info.version_dir),
        "metric": task.metric,
        "dev_file": examples.path,
        "dev_examples": len(texts),
        "tolerance": TOLERANCE,
        "signatures": rows,
    }


def format_dev_metrics(result: dict) -> str:
    """A short text report of `dev_metrics`' result."""
    rows = [
        [
            r["signature"],
            r["flops_fraction"],
            r.get("dev_metric"),
            r["served_dev_metric"],
            r["agrees"],
        ]
        for r in result["signatures"]
    ]
    return "\n".join(
        [
            f"Dev {result['metric']} of each signature ({result['dev_examples']} examples of {result['dev_file']}) "
            f"against power_bert.json's record (within {result['tolerance']} points)",
            *table(["signature", "FLOPs", "recorded", "served", "agrees"], rows),
        ]
    )
