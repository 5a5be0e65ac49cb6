"""GLUE metrics on a 0-100 scale (`compute_metrics`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from power_bert_tf.data.tasks import GlueTask, as_task


def compute_metrics(
    task: GlueTask | str, labels: Sequence | np.ndarray, predictions: Sequence | np.ndarray
) -> dict[str, float]:
    """GLUE metrics on a 0-100 scale; the task's primary metric (``task.metric``) is always a key.

    CoLA: mcc; MRPC/QQP: f1 (of the positive class) and accuracy; STS-B: pearson and spearman;
    others: accuracy. Undefined values are 0. ``labels`` and ``predictions``: class ids or scores.

    Raises:
        ValueError: labels and predictions are not equally long non-empty vectors.
    """
    task = as_task(task)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(
            f"labels and predictions must be equally long non-empty vectors, "
            f"got shapes {labels.shape} and {predictions.shape}"
        )
    if task.is_regression:
        a, b = labels.astype(np.float64), predictions.astype(np.float64)
        if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant side: undefined, so 0
            return {"pearson": 0.0, "spearman": 0.0}
        return {
            "pearson": 100.0 * float(stats.pearsonr(a, b)[0]),
            "spearman": 100.0 * float(stats.spearmanr(a, b)[0]),
        }
    if task.metric == "mcc":
        with warnings.catch_warnings():  # "A single label was found": MCC is then 0, as intended
            warnings.simplefilter("ignore", UserWarning)
            return {"mcc": 100.0 * float(skm.matthews_corrcoef(labels, predictions))}
    result = {"accuracy": 100.0 * float(np.mean(labels == predictions))}
    if task.metric == "f1":
        # Binary: of the positive class (GLUE's); more classes (own data): the macro average.
        average = "binary" if task.num_classes == 2 else "macro"
        result["f1"] = 100.0 * float(
            skm.f1_score(labels, predictions, pos_label=1, average=average, zero_division=0)
        )
    return result
