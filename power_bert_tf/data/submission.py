"""Prediction files: GLUE-server submissions and plain ``index<TAB>prediction`` tables, written atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from power_bert_tf.data.readers import GlueExamples, raw_labels
from power_bert_tf.data.tasks import GlueTask, as_task
from power_bert_tf.files import write_text_atomically


def write_glue_predictions(
    path: str | os.PathLike,
    task: GlueTask | str,
    examples: GlueExamples,
    predictions: Sequence | np.ndarray,
) -> None:
    """Write a GLUE-server submission file (``index<TAB>prediction``; the task's raw labels, or
    STS-B scores with 3 decimals), atomically.

    Args:
        examples: the test split the predictions are for (its ``indices`` fill the index column).
        predictions: one class id (an integer array) or STS-B score per example.

    Raises:
        ValueError: a wrong number of predictions, or class ids that are not integers in range.
    """
    task = as_task(task)
    predictions = np.asarray(predictions)
    if predictions.shape != (len(examples),):
        raise ValueError(f"expected {len(examples)} predictions, got shape {predictions.shape}")
    if task.is_regression:
        cells = [f"{float(p):.3f}" for p in predictions]
    else:
        raw = raw_labels(task)
        in_range = np.all((predictions >= 0) & (predictions < len(raw)))
        if not (np.issubdtype(predictions.dtype, np.integer) and in_range):
            raise ValueError(f"predictions must be class ids in [0, {len(raw)}) for {task.name}")
        cells = [raw[p] for p in predictions]
    write_prediction_rows(path, examples.indices, cells)


def write_prediction_rows(path: str | os.PathLike, indices: Sequence, values: Sequence) -> None:
    """Write ``index<TAB>prediction`` with a header, one row per example, atomically.

    Args:
        path: the file to (over)write; its directory is created when missing.
        indices: the index column.
        values: the prediction column, written with ``str``; as long as ``indices``.
    """
    rows = "".join(f"{index}\t{value}\n" for index, value in zip(indices, values))
    write_text_atomically(path, "index\tprediction\n" + rows)
