"""Benchmark inputs: the dev sentences, tokenized once, and the batches made of them.

Feature dicts map `token_ids`, `padding_mask` and (where the model has
segments) `segment_ids` to numpy arrays `[examples, length]`.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from benchmarks.speed.config import BenchmarkError
from power_bert_tf.inference import FEATURES


def dev_examples(
    task_name: str | None,
    data_dir: str | None,
    max_examples: int | None = None,
    seed: int = 0,
    table: dict | None = None,
):
    """The task's dev split (`GlueExamples`), or a reproducible random subset of it.

    Args:
        task_name: a GLUE task; ignored with `table`.
        table: a run's own files (run_config.json's "table", `data.table_record`): its
            validation file is read.

    Raises:
        BenchmarkError: no task, an unknown task, or unreadable dev data.
    """
    from power_bert_tf import data

    if not task_name and not table:
        raise BenchmarkError("no task: the run directory has no run_config.json; pass --task")
    try:
        task = data.table_task(**table) if table else data.get_task(task_name)
    except data.GlueDataError as error:
        raise BenchmarkError(f"the run's own data: {error}") from error
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
        name: np.asarray(keras.ops.convert_to_numpy(features[name]))
        for name in FEATURES
        if name in features
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
        _rows(features, np.arange(start, start + batch_size) % count)
        for start in range(0, count, batch_size)
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
        rows = order[start : start + batch_size]
        batches.append(_rows(features, rows, max(1, int(lengths[rows].max()))))
    return batches, order


def unsort(outputs: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Bucketed outputs back in file order (the inverse of `bucket_batches`' `order`)."""
    restored = np.empty_like(outputs)
    restored[order] = outputs
    return restored


def first_examples(examples, count: int | None):
    """The first `count` examples of a `GlueExamples`, in file order (all of them for None)."""
    if count is None or count >= len(examples):
        return examples
    return examples.select(np.arange(count))


def save_inputs(path: str, features: dict, labels, task: str | None, seq_len: int) -> None:
    """Write tokenized features (and labels, task, seq_len) to an .npz for `load_inputs`.

    Args:
        path: the .npz file.
        features: name -> `[examples, seq_len]` arrays, as the model takes them.
        labels: the dev labels (or None).
        task: the GLUE task name (or None).
        seq_len: the padded length the features were tokenized to.
    """
    arrays = dict(features)
    if labels is not None:
        arrays["labels"] = np.asarray(labels)
    arrays["task"] = np.asarray(task or "")
    arrays["seq_len"] = np.asarray(seq_len, np.int32)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as handle:  # np.savez would add ".npz" to another suffix
        np.savez(handle, **arrays)


def load_inputs(path: str) -> tuple[dict, np.ndarray | None, str | None, int]:
    """Features saved by `save_inputs`: (features, labels, task, seq_len).

    Raises:
        BenchmarkError: naming --inputs, for an unreadable file or one without token_ids and padding_mask.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise BenchmarkError(f"--inputs {path}: not a readable .npz ({error})") from None
    missing = [name for name in ("token_ids", "padding_mask") if name not in arrays]
    if missing:
        raise BenchmarkError(
            f"--inputs {path}: no {', '.join(missing)} (write it with --save-inputs)"
        )
    features = {name: arrays[name] for name in FEATURES if name in arrays}
    if features["token_ids"].ndim != 2 or any(
        v.shape != features["token_ids"].shape for v in features.values()
    ):
        raise BenchmarkError(
            f"--inputs {path}: the features must be [examples, seq_len] arrays of one shape"
        )
    task = str(arrays["task"]) if "task" in arrays else ""
    seq_len = int(arrays["seq_len"]) if "seq_len" in arrays else features["token_ids"].shape[1]
    return features, arrays.get("labels"), task or None, seq_len


def rows(features: dict, indices) -> dict:
    """The given examples (rows) of every feature."""
    return {name: value[indices] for name, value in features.items()}
