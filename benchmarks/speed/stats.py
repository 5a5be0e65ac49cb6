"""Bootstrap intervals of a ratio of medians (the benchmark's and the serving tools' one implementation)."""

from __future__ import annotations

import numpy as np

BOOTSTRAP_DRAWS = 2000


def bootstrap_ratio(
    times: np.ndarray,
    reference: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    paired: bool = True,
) -> tuple[float, float]:
    """95% percentile interval of median(times) / median(reference).

    Args:
        times, reference: the repeats (ms) of two timed things.
        draws: bootstrap resamples.
        rng: the (seeded) generator; the same seed gives the same interval.
        paired: resample the same repeats of both (they ran side by side, the same
            length); else resample each one's repeats independently (the lengths may differ).

    Returns:
        (low, high): the 2.5th and 97.5th percentiles of the resampled ratios.
    """
    times = np.asarray(times, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    picks = rng.integers(0, len(times), size=(draws, len(times)))
    other = picks if paired else rng.integers(0, len(reference), size=(draws, len(reference)))
    ratios = np.median(times[picks], axis=1) / np.median(reference[other], axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def speedup_with_interval(
    reference: np.ndarray, times: np.ndarray, draws: int, rng: np.random.Generator
) -> tuple[float, list[float]]:
    """The speedup median(reference) / median(times) and its bootstrap 95% interval.

    Each side's repeats are resampled independently (`bootstrap_ratio` with
    ``paired=False``). A percentile interval can, with very few repeats, miss
    the point estimate; it is then widened to include it.

    Args:
        reference: the baseline's repeats (ms); times: the variant's.
        draws: bootstrap resamples; rng: the seeded generator.

    Returns:
        (speedup, [low, high]).
    """
    speedup = float(np.median(reference) / np.median(times))
    low, high = bootstrap_ratio(reference, times, draws, rng, paired=False)
    return speedup, [min(low, speedup), max(high, speedup)]
