"""power_bert_tf.data.metrics: GLUE metrics against hand-computed values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from power_bert_tf.data import TASKS, compute_metrics


def _mcc(y, p):
    tp, tn = np.sum((y == 1) & (p == 1)), np.sum((y == 0) & (p == 0))
    fp, fn = np.sum((y == 0) & (p == 1)), np.sum((y == 1) & (p == 0))
    return (tp * tn - fp * fn) / np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))


def test_metrics_match_hand_computed_values():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    p[:120] = y[:120]
    assert compute_metrics("cola", y, p) == {"mcc": pytest.approx(100 * _mcc(y, p))}
    tp, fp, fn = (
        np.sum((y == 1) & (p == 1)),
        np.sum((y == 0) & (p == 1)),
        np.sum((y == 1) & (p == 0)),
    )
    for name in ("mrpc", "qqp"):
        assert compute_metrics(name, y, p) == {
            "f1": pytest.approx(100 * 2 * tp / (2 * tp + fp + fn)),
            "accuracy": pytest.approx(100 * np.mean(y == p)),
        }
    y3, p3 = np.array([0, 1, 2, 2, 1]), np.array([0, 1, 1, 2, 0])
    assert compute_metrics("mnli-m", y3, p3) == {"accuracy": pytest.approx(60.0)}
    scores = rng.uniform(0, 5, 50)
    preds = scores + rng.normal(0, 1, 50)
    ranks = lambda v: np.argsort(np.argsort(v))  # noqa: E731 - no ties in continuous data
    assert compute_metrics("sts-b", scores, preds) == {
        "pearson": pytest.approx(100 * np.corrcoef(scores, preds)[0, 1]),
        "spearman": pytest.approx(100 * np.corrcoef(ranks(scores), ranks(preds))[0, 1]),
    }
    for task in TASKS.values():
        labels = scores if task.is_regression else y % task.num_classes
        assert task.metric in compute_metrics(task, labels[:50], labels[:50])


def test_metrics_degenerate_cases_are_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compute_metrics("cola", [0, 1, 1, 0], [1, 1, 1, 1]) == {"mcc": 0.0}
        assert compute_metrics("cola", [1, 1], [1, 1]) == {"mcc": 0.0}
        assert compute_metrics("mrpc", [0, 0, 1], [0, 0, 0]) == {
            "f1": 0.0,
            "accuracy": pytest.approx(200 / 3),
        }
        assert compute_metrics("sts-b", [1.0, 2.0, 3.0], [2.5, 2.5, 2.5]) == {
            "pearson": 0.0,
            "spearman": 0.0,
        }
    with pytest.raises(ValueError, match="equally long"):
        compute_metrics("rte", [0, 1], [0])
