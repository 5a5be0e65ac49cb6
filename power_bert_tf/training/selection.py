"""Deciding on a held-out part whether a model loses at most D points against a reference: it
passes when it beats the best constant predictor and the `confidence` quantile of its metric loss
(paired bootstrap over the same examples, so any metric works) is at most D. Given token counts,
the bound is also taken over examples drawn in proportion to their length (size-biased), and the
larger decides: elimination keeps a fixed number of word-vectors, so it costs long inputs most,
which an average over mostly short held-out inputs hides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray], float]
CONFIDENCE = 0.8  # one-sided: a model passes when its loss exceeds D with probability < 0.2
RESAMPLES = 1000


@dataclass(frozen=True)
class Verdict:
    """What a model loses against its reference: `drop` is `reference - metric` (points;
    negative: the model is better), `bound` its one-sided `confidence` upper bound (given token
    counts, the larger of `bound_as_drawn` and `bound_by_length`: see the module), `constant` the
    best constant predictor's metric, `max_drop` D."""

    metric: float
    reference: float
    drop: float
    bound: float
    constant: float
    max_drop: float
    confidence: float
    bound_as_drawn: float | None = None
    bound_by_length: float | None = None

    @property
    def informative(self) -> bool:
        """True when the model beats every constant predictor."""
        return self.metric > self.constant

    @property
    def passes(self) -> bool:
        """The bound is within D and the model beats a constant predictor."""
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
    lengths: np.ndarray | None = None,
) -> Verdict:
    """The paired `Verdict` of `candidate` against `reference` on the same examples.

    Args:
        labels: the held-out labels (class ids or scores), `[n]`.
        reference, candidate: the two models' predictions on them, `[n]` each.
        metric: `(labels, predictions) -> points`.
        max_drop: D.
        confidence: the one-sided level of the bound, in (0, 1).
        lengths: the examples' token counts, `[n]`, for the size-biased bound (see the module).
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
    if lengths is not None:
        lengths = np.asarray(lengths, dtype=float)
        if lengths.shape != labels.shape or not np.all(lengths > 0):
            raise ValueError(
                f"lengths must be {len(labels)} positive token counts, one per example, got "
                f"shape {lengths.shape}"
            )
    ours, theirs = float(metric(labels, candidate)), float(metric(labels, reference))
    rng = np.random.default_rng(seed)

    def bound(draw: np.ndarray | None) -> float:
        if np.array_equal(reference, candidate):
            return 0.0  # every resample agrees: no need to draw them
        rows = rng.choice(len(labels), size=(resamples, len(labels)), p=draw)
        drops = [metric(labels[r], reference[r]) - metric(labels[r], candidate[r]) for r in rows]
        return float(np.quantile(drops, confidence))

    as_drawn = bound(None)
    by_length = None if lengths is None else bound(lengths / lengths.sum())
    return Verdict(
        metric=ours,
        reference=theirs,
        drop=theirs - ours,
        bound=as_drawn if by_length is None else max(as_drawn, by_length),
        constant=constant_metric(labels, metric, is_regression),
        max_drop=float(max_drop),
        confidence=float(confidence),
        bound_as_drawn=None if by_length is None else as_drawn,
        bound_by_length=by_length,
    )
