"""Benchmark inputs: the dev sentences, tokenized once, and the batches made of them.

Feature dicts map `token_ids`, `padding_mask` and (where the model has
segments) `segment_ids` to numpy arrays `[examples, length]`.
"""

from __future__ import annotations

import keras
import numpy as np

from power_bert_tf.benchmark.config import BenchmarkError
from power_bert_tf.inference import FEATURES


def dev_examples(task_name: str | None, data_dir: str | None, max_examples: int | None = None, seed: int = 0):
    """The task's dev split (`GlueExamples`), or a reproducible random subset of it.

    Raises:
        BenchmarkError: no task, an unknown task, or unreadable dev data.
    """
    from power_bert_tf import data

    if not task_name:
        raise BenchmarkError("no task: the run directory has no run_config.json; pass --task")
    try:
        task = data.get_task(task_name)
    except ValueError as error:
        raise BenchmarkError(f"--task: {error}") from error
    try:
        examples = data.load_split(task, "dev", data_dir)
    except data.GlueDataError as error:
        raise BenchmarkError(f"dev data: {error}") from error
    if max_examples:
        examples = examples.take(max_examples, seed=seed)
    return examples


def tokenize(preprocessor, texts: tuple, seq_len: int) -> dict:
    """Token features of every example, padded (or cut) to `seq_len`, as numpy."""
    previous = preprocessor.sequence_length
    preprocessor.sequence_length = seq_len
    try:
        x = texts[0] if len(texts) == 1 else tuple(texts)
        features = preprocessor(x, y=None)
    finally:
        preprocessor.sequence_length = previous
    return {
        name: np.asarray(keras.ops.convert_to_numpy(features[name])) for name in FEATURES if name in features
    }


def synthetic_features(batch_size: int, seq_len: int, vocabulary_size: int, seed: int = 0) -> dict:
    """Random token ids, one segment, no padding."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocabulary_size, size=(batch_size, seq_len), dtype=np.int32)
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros((batch_size, seq_len), np.int32),
        "padding_mask": np.ones((batch_size, seq_len), bool),
    }


def truncate(features: dict, length: int) -> dict:
    """The first `length` columns of every feature."""
    return {name: value[:, :length] for name, value in features.items()}


def _rows(features: dict, rows, length: int | None = None) -> dict:
    return {name: value[rows, :length] for name, value in features.items()}


def fixed_batch(features: dict, batch_size: int) -> dict:
    """The first `batch_size` rows (cycled when there are fewer)."""
    count = len(features["token_ids"])
    return _rows(features, np.arange(batch_size) % count)


def padded_batches(features: dict, batch_size: int) -> tuple[list[dict], int]:
    """Fixed-size batches at the full padded length; the last one filled up.

    Returns:
        (batches, count): outputs past the first `count` rows are filler.
    """
    count = len(features["token_ids"])
    batches = [
        _rows(features, np.arange(start, start + batch_size) % count) for start in range(0, count, batch_size)
    ]
    return batches, count


def bucket_batches(features: dict, batch_size: int) -> tuple[list[dict], np.ndarray]:
    """Length-bucketed batches: sorted by length, each trimmed to its longest.

    Returns:
        (batches, order): `order[i]` is the example at row i of the
        concatenated batches.
    """
    lengths = np.asarray(features["padding_mask"]).astype(bool).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batches.append(_rows(features, rows, max(1, int(lengths[rows].max()))))
    return batches, order


def unsort(outputs: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Bucketed outputs back in file order (the inverse of `bucket_batches`' `order`)."""
    restored = np.empty_like(outputs)
    restored[order] = outputs
    return restored
