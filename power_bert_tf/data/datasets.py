"""``tf.data`` pipelines from :class:`~power_bert_tf.data.readers.GlueExamples` and a keras-hub
preprocessor (any feature keys; ``padding_mask`` is needed for trimming): every example
tokenized once (:func:`encode_examples`), then batched and trimmed (:func:`make_encoded_dataset`)."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from power_bert_tf.data.readers import GlueExamples


def trim_to_longest(features: dict[str, tf.Tensor], *labels: tf.Tensor):
    """``[batch, seq_len]`` ``features`` cut after the batch's last real token (``padding_mask``
    true / nonzero, anywhere in a row), keeping at least one position; with ``labels``,
    ``(features, *labels)``. Exact in every mode: padding never changes a real token's output."""
    mask = tf.cast(features["padding_mask"], tf.bool)
    ends = tf.where(mask, tf.range(1, tf.shape(mask)[1] + 1)[tf.newaxis, :], 0)
    longest = tf.maximum(tf.reduce_max(tf.concat([tf.reshape(ends, [-1]), [0]], 0)), 1)
    trimmed = {key: value[:, :longest] for key, value in features.items()}
    return (trimmed, *labels) if labels else trimmed


def encode_examples(
    examples: GlueExamples, preprocessor: Callable[..., Any], batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Every example's features, preprocessed once (padded to the preprocessor's length), for
    :func:`make_encoded_dataset`; one trace per preprocessor (:func:`_traced`).

    Returns:
        name -> ``[len(examples), seq_len]`` array.
    """
    if not len(examples):
        raise ValueError(f"{examples.path}: no examples to encode")
    encode = _traced(preprocessor, pair=len(examples.texts) == 2)
    parts = []
    for start in range(0, len(examples), batch_size):
        texts = tuple(tf.constant(column[start : start + batch_size]) for column in examples.texts)
        parts.append(encode(texts if len(texts) == 2 else texts[0]))
    return {name: np.concatenate([part[name].numpy() for part in parts]) for name in parts[0]}


# (id(preprocessor), pair) -> (a weak reference to it, its traced call).
_TRACES: dict[tuple[int, bool], tuple[Callable[[], Any], Callable[..., Any]]] = {}


def _traced(preprocessor: Callable[..., Any], pair: bool) -> Callable[..., Any]:
    """``preprocessor(x, y=None)`` as one ``tf.function`` per preprocessor and kind of input."""
    key = (id(preprocessor), pair)
    cached = _TRACES.get(key)
    if cached is not None and cached[0]() is preprocessor:
        return cached[1]
    try:  # a bound method is a new object at each access: WeakMethod follows its instance
        reference = (weakref.WeakMethod if inspect.ismethod(preprocessor) else weakref.ref)(
            preprocessor
        )
    except TypeError:  # not weakly referable: traced for this call only
        reference = lambda: preprocessor  # noqa: E731
    strings = tf.TensorSpec([None], tf.string)
    function = tf.function(
        lambda x: reference()(x, y=None), input_signature=[(strings, strings) if pair else strings]
    )
    if isinstance(reference, weakref.ref):
        _TRACES[key] = (reference, function)
        # The trace holds the tokenizer's tables: it goes when its preprocessor does.
        weakref.finalize(getattr(preprocessor, "__self__", preprocessor), _TRACES.pop, key, None)
    return function


def make_encoded_dataset(
    features: dict[str, np.ndarray],
    labels: np.ndarray | None,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of :func:`encode_examples`'s arrays (and `labels`, if any), each cut by
    :func:`trim_to_longest`; `shuffle` reshuffles every epoch, the same order for the same seed."""
    ds = tf.data.Dataset.from_tensor_slices(features if labels is None else (features, labels))
    if shuffle:
        ds = ds.shuffle(
            len(next(iter(features.values()))), seed=seed, reshuffle_each_iteration=True
        )
    ds = ds.batch(batch_size).map(trim_to_longest, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
