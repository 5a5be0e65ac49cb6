"""The retention configuration (how many word-vectors each encoder keeps) and the analytic
FLOPs count (one formula, `_flops_of_lengths`, serves every function here)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from power_bert_tf.errors import PowerBertError


class RetentionConfigError(PowerBertError, ValueError):
    """An invalid retention configuration; the message names the entry."""


@dataclass(frozen=True)
class RetentionConfig:
    """l_1 >= l_2 >= ... >= l_L word-vectors kept after each encoder layer.

    Args:
        keep: one positive int per transformer layer, non-increasing.

    Example:
    >>> config = RetentionConfig.parse("64,48,32,16", num_layers=4, seq_len=64)
    >>> config.keep
    (64, 48, 32, 16)
    >>> str(config)
    '64,48,32,16'
    """

    keep: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "keep", tuple(self.keep))

    @classmethod
    def parse(
        cls, text: str | Sequence[int], num_layers: int | None = None, seq_len: int | None = None
    ) -> RetentionConfig:
        """Parse "64,48,32" (or a list) and validate it.

        Raises:
            RetentionConfigError: naming the offending entry.
        """
        items = [item.strip() for item in text.split(",")] if isinstance(text, str) else text
        config = cls(tuple(_as_int(item, index) for index, item in enumerate(items, start=1)))
        return config.validate(num_layers=num_layers, seq_len=seq_len)

    @classmethod
    def from_masses(cls, masses: Iterable[float]) -> RetentionConfig:
        """The paper's rule: floor each layer's mass, at least 1, non-increasing."""
        floors = [max(1, math.floor(float(mass))) for mass in masses]
        return cls(tuple(itertools.accumulate(floors, min)))

    def validate(
        self, num_layers: int | None = None, seq_len: int | None = None
    ) -> RetentionConfig:
        if not self.keep:
            raise RetentionConfigError("retention configuration is empty")
        if num_layers is not None and len(self.keep) != num_layers:
            raise RetentionConfigError(
                f"retention configuration has {len(self.keep)} entries but the "
                f"model has {num_layers} layers: give one per layer"
            )
        for index, value in enumerate(self.keep, start=1):
            _as_int(value, index)
            if value < 1:
                raise RetentionConfigError(
                    f"retention entry {index} is {value}: must be at least 1"
                )
            if seq_len is not None and value > seq_len:
                raise RetentionConfigError(
                    f"retention entry {index} is {value}: larger than seq_len {seq_len}"
                )
            if index > 1 and value > self.keep[index - 2]:
                raise RetentionConfigError(
                    f"retention entry {index} is {value}: larger than entry {index - 1} "
                    f"({self.keep[index - 2]}); the configuration must be non-increasing"
                )
        return self

    def __len__(self) -> int:
        return len(self.keep)

    def __iter__(self):
        return iter(self.keep)

    def __getitem__(self, index):
        return self.keep[index]

    def __str__(self) -> str:
        return ",".join(str(v) for v in self.keep)

    def to_list(self) -> list[int]:
        return list(self.keep)

    def layer_lengths(self, seq_len: int) -> list[tuple[int, int]]:
        """(input length, output length) of each layer for inputs of seq_len."""
        return [(int(n_in), int(n_out)) for n_in, n_out in _layer_lengths(self.keep, seq_len)]

    def flops_fraction(
        self,
        seq_len: int,
        hidden_dim: int,
        intermediate_dim: int,
        lengths: Mapping[int, int] | None = None,
    ) -> float:
        """Encoder FLOPs at this configuration over the full model's, as hard mode computes: a
        layer's Q/K/V projections and seq x seq products run on its input length, its attention
        output projection and feed-forward on its output length.

        Args:
            seq_len, hidden_dim, intermediate_dim: the model's input length and sizes.
            lengths: None: every input padded to `seq_len` (the paper's count); else a
                histogram {token count: examples} of inputs trimmed to their own length.

        Example:
        >>> config = RetentionConfig((32, 16, 8))
        >>> round(config.flops_fraction(64, 384, 1536), 3)
        0.367
        >>> round(config.flops_fraction(64, 384, 1536, lengths={12: 3, 40: 1}), 3)
        0.715
        """
        return flops_fraction_of(self.keep, seq_len, hidden_dim, intermediate_dim, lengths)


def _layer_lengths(keep: Sequence[float], length: float) -> list[tuple[float, float]]:
    """(input, output) length of each layer for one input of `length` real tokens."""
    # A layer's input is the previous layer's output, and it keeps at most all of it.
    kept = (max(float(count), 0.0) for count in keep)
    bounds = list(itertools.accumulate(kept, min, initial=float(length)))
    return list(zip(bounds[:-1], bounds[1:]))


def _flops_of_lengths(lengths, hidden_dim, intermediate_dim) -> float:
    """The one FLOPs count: per layer 2(3 n_in d^2 + n_out d^2 + 2 n_in^2 d) + 2(2 n_out d f)."""
    d, f = float(hidden_dim), float(intermediate_dim)
    total = 0.0
    for n_in, n_out in lengths:
        attention = 2 * (3 * n_in * d * d + n_out * d * d + 2 * n_in * n_in * d)
        feed_forward = 2 * (2 * n_out * d * f)
        total += attention + feed_forward
    return total


def flops_fraction_of(
    keep: Sequence[float],
    seq_len: int,
    hidden_dim: int,
    intermediate_dim: int,
    lengths: Mapping[int, int] | None = None,
) -> float:
    """The FLOPs fraction of per-layer word-vector counts, whole or fractional (the search's
    masses, each capped by its input length); `lengths` as in `RetentionConfig.flops_fraction`."""
    dims = (hidden_dim, intermediate_dim)
    spent = full = 0.0
    for length, count in ({seq_len: 1} if lengths is None else lengths).items():
        spent += count * _flops_of_lengths(_layer_lengths(keep, length), *dims)
        full += count * full_model_flops(length, len(keep), *dims)
    return spent / full


def full_model_flops(
    seq_len: int, num_layers: int, hidden_dim: int, intermediate_dim: int
) -> float:
    """Analytic encoder FLOPs of the model without elimination at `seq_len`."""
    return _flops_of_lengths([(seq_len, seq_len)] * num_layers, hidden_dim, intermediate_dim)


def batch_longest(lengths: Sequence[int], batch_size: int, seed: int) -> dict[int, int]:
    """The histogram {token count: examples} of `lengths` in shuffled (`seed`) batches of
    `batch_size`, each example counted at its batch's longest, which the whole batch runs at."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    shuffled = np.random.default_rng(seed).permutation(np.asarray(lengths, dtype=int))
    served: collections.Counter[int] = collections.Counter()
    for start in range(0, len(shuffled), batch_size):
        batch = shuffled[start : start + batch_size]
        served[int(batch.max())] += len(batch)
    return dict(sorted(served.items()))


def project_onto_budget(
    masses: Sequence[float],
    target: float,
    seq_len: int,
    hidden_dim: int,
    intermediate_dim: int,
    lengths: Mapping[int, int] | None = None,
) -> RetentionConfig:
    """The configuration of a search's masses whose FLOPs fraction is closest to `target`: every
    mass scaled by one factor (found by bisection), then rounded as `RetentionConfig.from_masses`.

    Args:
        masses: each layer's retention mass (`SoftExtract.mass`).
        target: the FLOPs fraction to reach, in (0, 1].
        seq_len, hidden_dim, intermediate_dim, lengths: as in `RetentionConfig.flops_fraction`.

    Raises:
        RetentionConfigError: a target outside (0, 1] or below the cheapest configuration
            (one word-vector after every layer), naming that minimum.
    """
    if not 0.0 < target <= 1.0:
        raise RetentionConfigError(f"target FLOPs fraction {target} is not in (0, 1]")
    # A layer the search emptied still scales (from a tiny mass), so every target stays reachable.
    masses = [max(float(mass), 1e-6) for mass in masses]

    def config(scale: float) -> RetentionConfig:
        return RetentionConfig.from_masses([min(float(seq_len), scale * mass) for mass in masses])

    def fraction(candidate: RetentionConfig) -> float:
        return candidate.flops_fraction(seq_len, hidden_dim, intermediate_dim, lengths)

    cheapest = RetentionConfig((1,) * len(masses))
    if target < fraction(cheapest) - 1e-12:
        raise RetentionConfigError(
            f"target FLOPs fraction {target} is below the cheapest configuration's "
            f"{fraction(cheapest):.3f} (one word-vector after every layer)"
        )
    low, high = 0.0, float(seq_len) / min(masses)
    for _ in range(64):
        middle = (low + high) / 2
        if fraction(config(middle)) > target:
            high = middle
        else:
            low = middle
    return min((config(low), config(high)), key=lambda candidate: abs(fraction(candidate) - target))


def _as_int(value, index: int) -> int:
    if isinstance(value, bool):  # an int to Python, not a length
        raise RetentionConfigError(f"retention entry {index} is {value!r}: not an integer")
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    raise RetentionConfigError(f"retention entry {index} is {value!r}: not an integer")
