"""Timing protocols: what one timed unit is, and the batches it runs.

* ``padded`` (the paper's): one batch of `batch_size` dev sentences, padded to
  the full ``seq_len``; the unit is one call.
* ``dynamic`` (what dynamic padding gives a user): the dev sentences in their
  file order, cut into batches of `batch_size`, each trimmed to its longest
  sentence; the unit is one pass over all of them.
* ``batch1`` (online serving): each sentence alone, trimmed to its own length;
  the unit is one pass over the sentences.

Trimming is exact (padding is masked in attention and ranks below every real
token), so only the time changes.
"""

from __future__ import annotations

import numpy as np

from benchmarks.speed.config import PROTOCOLS
from benchmarks.speed.inputs import fixed_batch


def lengths_of(features: dict) -> np.ndarray:
    """Real tokens per example (the padding mask's row sums)."""
    return np.asarray(features["padding_mask"]).astype(bool).sum(axis=1)


def file_order_batches(features: dict, batch_size: int, length_multiple: int = 1) -> list[dict]:
    """Consecutive batches in file order, each trimmed to its longest example.

    Args:
        features: name -> `[examples, length]` arrays.
        batch_size: rows per batch (the last may have fewer).
        length_multiple: round each trimmed length up to a multiple of this (at most the
            full width): fewer distinct shapes, each of which JAX compiles once.

    Returns:
        The batches, as feature dicts of numpy arrays.
    """
    lengths = lengths_of(features)
    width = int(np.asarray(features["padding_mask"]).shape[1])
    batches = []
    for start in range(0, len(lengths), batch_size):
        longest = max(1, int(lengths[start : start + batch_size].max()))
        longest = min(-(-longest // length_multiple) * length_multiple, width)
        batches.append(
            {name: value[start : start + batch_size, :longest] for name, value in features.items()}
        )
    return batches


def protocol_batches(
    features: dict, protocol: str, batch_size: int, length_multiple: int = 1
) -> list[dict]:
    """The batches of one timed unit of `protocol`.

    Args:
        features: the examples the protocol runs, at the variant's length.
        protocol: one of `PROTOCOLS`.
        batch_size: rows per batch (ignored by ``batch1``, whose batches are single sentences).
        length_multiple: see `file_order_batches` (``dynamic`` and ``batch1``).

    Returns:
        ``padded``: one `[batch_size, length]` batch (rows cycled when there are
        fewer examples); ``dynamic``: `file_order_batches`; ``batch1``: one batch
        per example, trimmed to its length.

    Raises:
        ValueError: an unknown protocol.
    """
    if protocol == "padded":
        return [fixed_batch(features, batch_size)]
    if protocol == "dynamic":
        return file_order_batches(features, batch_size, length_multiple)
    if protocol == "batch1":
        return file_order_batches(features, 1, length_multiple)
    raise ValueError(f"unknown protocol {protocol!r}; protocols are {', '.join(PROTOCOLS)}")


def shapes_of(batches: list[dict]) -> list[tuple[int, int]]:
    """Distinct `[rows, length]` shapes among `batches` (each compiles once under JAX)."""
    return sorted({tuple(batch["token_ids"].shape) for batch in batches})
