"""Means and sample standard deviations over seeds, in the metric's points."""

from __future__ import annotations

import math
import statistics


def mean(values: list[float]) -> float | None:
    """The arithmetic mean, or None for no values.

    Args:
        values: one number per seed.

    Returns:
        The mean, or None when `values` is empty.

    >>> mean([1.0, 2.0, 4.0])
    2.3333333333333335
    >>> mean([]) is None
    True
    """
    return statistics.fmean(values) if values else None


def sample_std(values: list[float]) -> float | None:
    """The sample standard deviation (ddof=1), or None for fewer than two values.

    Args:
        values: one number per seed.

    Returns:
        The standard deviation, or None with zero or one value (nothing to estimate it from).

    >>> round(sample_std([1.0, 2.0, 4.0]), 6)
    1.527525
    >>> sample_std([3.0]) is None
    True
    """
    if len(values) < 2:
        return None
    return statistics.stdev(values)


def finite(value) -> float | None:
    """`value` as a float when it is a finite number, else None.

    Args:
        value: anything read from a JSON.

    Returns:
        The float, or None for None, a non-number, NaN or infinity.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
