"""Deciding on a held-out part whether a model loses at most D points against a reference.

A model passes when the `confidence` quantile of its metric loss (paired bootstrap over the
same examples, so any metric works) is at most D, and it beats the best constant predictor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray], float]
CONFIDENCE = 0.8  # one-sided: a model passes when its loss exceeds D with probability < 0.2
RESAMPLES = 1000


@dataclass(frozen=True)
class Verdict:
    """What a model loses against its reference on a held-out part: `drop` is `reference -
    metric` (points; negative: the model is better), `bound` its one-sided `confidence` upper
    bound (paired bootstrap), `constant` the best constant predictor's metric, `max_drop` D."""

    metric: float
    reference: float
    drop: float
    bound: float
    constant: float
    max_drop: float
    confidence: float

    @property
    def informative(self) -> bool:
        """True when the model beats every constant predictor."""
        return self.metric > self.constant

    @property
    def passes(self) -> bool:
        """The bound is within D and the model is better than a constant."""
        return self.bound <= self.max_drop and self.informative

    def as_record(self) -> dict:
        return {**asdict(self), "informative": self.informative, "passes": self.passes}


def constant_metric(labels: np.ndarray, metric: MetricFn, is_regression: bool) -> float:
    """The best metric a constant prediction (each class, or the mean score) reaches on `labels`."""
    labels = np.asarray(labels)
    if is_regression:
        return float(metric(labels, np.full(labels.shape, float(np.mean(labels)))))
    return max(
        float(metric(labels, np.full(labels.shape, c, labels.dtype))) for c in np.unique(labels)
    )


def judge(
    labels: np.ndarray,
    reference: np.ndarray,
    candidate: np.ndarray,
    metric: MetricFn,
    max_drop: float,
    is_regression: bool,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Verdict:
    """The paired `Verdict` of `candidate` against `reference` on the same examples.

    Args:
        labels: the held-out labels (class ids or scores), `[n]`.
        reference, candidate: the two models' predictions on them, `[n]` each.
        metric: `(labels, predictions) -> points`.
        max_drop: D.
        confidence: the one-sided level of the bound, in (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    labels, reference, candidate = (np.asarray(a) for a in (labels, reference, candidate))
    if not (
        labels.ndim == 1 and len(labels) and labels.shape == reference.shape == candidate.shape
    ):
        raise ValueError(
            f"labels and predictions must be equally long non-empty vectors, got shapes "
            f"{labels.shape}, {reference.shape} and {candidate.shape}"
        )
    ours, theirs = float(metric(labels, candidate)), float(metric(labels, reference))
    if np.array_equal(reference, candidate):
        drops = np.zeros(1)  # every resample agrees: no need to draw them
    else:
        rows = np.random.default_rng(seed).integers(0, len(labels), size=(resamples, len(labels)))
        drops = np.array(
            [metric(labels[r], reference[r]) - metric(labels[r], candidate[r]) for r in rows]
        )
    return Verdict(
        metric=ours,
        reference=theirs,
        drop=theirs - ours,
        bound=float(np.quantile(drops, confidence)),
        constant=constant_metric(labels, metric, is_regression),
        max_drop=float(max_drop),
        confidence=float(confidence),
    )
