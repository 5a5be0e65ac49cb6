"""The three PoWER-BERT layers (significance, soft extraction, hard extraction), in `keras.ops`."""

from __future__ import annotations

import keras
from keras import ops

PADDING_SIGNIFICANCE = -1.0  # below every real token's (>= 0): padding ranks last


def significance_ranks(significance):
    """The ranking `SoftExtract` and `HardExtract` share: 0 for [CLS], then by float
    `significance` `[batch, seq]`, highest first, ties by position (pairwise: exact), padding
    last; int32 `[batch, seq]`, a permutation per row."""
    seq_len = ops.shape(significance)[1]
    positions = ops.arange(seq_len, dtype="int32")
    # [CLS] outranks everything, including a real token with equal score.
    is_cls = ops.expand_dims(ops.equal(positions, 0), 0)
    score = ops.where(is_cls, ops.cast(3.0e38, significance.dtype), significance)
    other = ops.expand_dims(score, 1)  # [b, 1, seq] (j)
    this = ops.expand_dims(score, 2)  # [b, seq, 1] (i)
    earlier = ops.expand_dims(positions, 0) < ops.expand_dims(positions, 1)
    ahead = ops.logical_or(
        ops.greater(other, this),
        ops.logical_and(ops.equal(other, this), ops.expand_dims(earlier, 0)),
    )
    return ops.sum(ops.cast(ahead, "int32"), axis=-1)


def gather_positions(tensor, positions):
    """`tensor[b, positions[b, i], ...]`: `[batch, seq, ...]` -> `[batch, keep, ...]` (a flat
    row gather: faster on CPU than `ops.take_along_axis`)."""
    batch, seq, *tail = ops.shape(tensor)
    offsets = ops.expand_dims(ops.arange(batch, dtype=positions.dtype) * seq, 1)
    flat = ops.reshape(positions + offsets, (-1,))
    rows = ops.take(ops.reshape(tensor, (-1, *tail)), flat, axis=0)
    return ops.reshape(rows, (batch, -1, *tail))


@keras.saving.register_keras_serializable(package="power_bert_tf")
class SignificanceScore(keras.layers.Layer):
    """Significance of each word-vector (key): the attention it receives from every non-padding
    query, averaged over heads and summed over queries; padding keys get `PADDING_SIGNIFICANCE`.

    Args:
        exclude_self: bool. Drop each token's attention to itself.

    Call arguments:
        attention_probs: `[batch, heads, queries, keys]` softmax probabilities.
        padding_mask: `[batch, seq]`, 1/True for real tokens (queries and keys alike).

    Returns:
        `[batch, seq]` significance, in the dtype of `attention_probs`.

    Example:
    >>> probs = keras.ops.softmax(keras.random.normal((2, 4, 8, 8)), axis=-1)
    >>> mask = keras.ops.ones((2, 8), "int32")
    >>> tuple(SignificanceScore()(probs, mask).shape)
    (2, 8)
    """

    def __init__(self, exclude_self: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # masks are passed explicitly
        self.exclude_self = bool(exclude_self)

    def call(self, attention_probs, padding_mask):
        probs = ops.mean(attention_probs, axis=1)  # [b, q, k]
        is_real = ops.cast(padding_mask, "bool")
        probs = probs * ops.expand_dims(ops.cast(is_real, probs.dtype), -1)  # drop padding queries
        if self.exclude_self:
            probs = probs * (1.0 - ops.eye(ops.shape(probs)[-1], dtype=probs.dtype))
        received = ops.sum(probs, axis=1)
        return ops.where(is_real, received, ops.cast(PADDING_SIGNIFICANCE, received.dtype))

    def compute_output_shape(self, attention_probs_shape, padding_mask_shape=None):
        return (attention_probs_shape[0], attention_probs_shape[-1])

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        return {**super().get_config(), "exclude_self": self.exclude_self}


@keras.saving.register_keras_serializable(package="power_bert_tf")
class UnitInterval(keras.constraints.Constraint):
    """Clips a weight into [0, 1] after each optimizer step."""

    def __call__(self, w):
        return ops.clip(w, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="power_bert_tf")
class SoftExtract(keras.layers.Layer):
    """Configuration-search layer: scale the rank-k word-vector by r_k, a learnable `retention`
    weight (`[max_len]`, initialised to 1, kept in [0, 1]); `losses.mass_penalty` penalises
    their sum, `mass`.

    Args:
        max_len: int. Longest sequence the layer will see (the task seq_len).

    Call arguments:
        x: `[batch, seq, hidden]` word-vectors, `seq <= max_len`.
        significance: `[batch, seq]` from `SignificanceScore`.
        padding_mask: `[batch, seq]` (unused: padding ranks last through `significance`).

    Returns:
        `[batch, seq, hidden]`, `x` scaled position-wise.

    Example:
    >>> layer = SoftExtract(max_len=8)
    >>> x = keras.random.normal((2, 8, 16))
    >>> s = keras.random.uniform((2, 8))
    >>> tuple(layer(x, s, keras.ops.ones((2, 8))).shape)
    (2, 8, 16)
    """

    def __init__(self, max_len: int, **kwargs):
        super().__init__(**kwargs)
        self.max_len = int(max_len)

    def build(self, x_shape=None, significance_shape=None, padding_mask_shape=None):
        self.retention = self.add_weight(
            name="retention", shape=(self.max_len,), initializer="ones", constraint=UnitInterval()
        )

    @property
    def mass(self):
        """Sum of the retention weights: the soft count of kept vectors."""
        return ops.sum(self.retention)

    def call(self, x, significance, padding_mask=None):
        ranks = significance_ranks(significance)
        scale = ops.take(ops.cast(self.retention, x.dtype), ranks)  # [b, seq]
        return x * ops.expand_dims(scale, -1)

    def compute_output_shape(self, x_shape, *args):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "max_len": self.max_len}


@keras.saving.register_keras_serializable(package="power_bert_tf")
class HardExtract(keras.layers.Layer):
    """Keep [CLS] and the `keep - 1` most significant word-vectors, in their original order.

    Args:
        keep: int. Number of word-vectors to keep (>= 1).

    Call arguments:
        x: `[batch, seq, hidden]`.
        significance: `[batch, seq]` from `SignificanceScore`.
        padding_mask: `[batch, seq]`.

    Returns:
        `(x_kept, mask_kept)`: `[batch, min(keep, seq), hidden]` and
        `[batch, min(keep, seq)]` (same dtype as `padding_mask`).

    Example:
    >>> x = keras.random.normal((2, 8, 16))
    >>> s = keras.random.uniform((2, 8))
    >>> kept, mask = HardExtract(keep=3)(x, s, keras.ops.ones((2, 8)))
    >>> tuple(kept.shape), tuple(mask.shape)
    ((2, 3, 16), (2, 3))
    """

    def __init__(self, keep: int, **kwargs):
        super().__init__(**kwargs)
        if int(keep) < 1:
            raise ValueError(f"HardExtract: keep must be >= 1, got {keep}")
        self.keep = int(keep)
        self.built = True  # no weights; unbuilt, JAX's predict() would run eagerly

    def kept_positions(self, significance):
        """Positions kept per example, ascending: int32 `[batch, keep]`."""
        seq_len = significance.shape[1]
        if seq_len is not None:
            keep = min(self.keep, seq_len)
        else:  # symbolic length (tf.function with unknown shape)
            keep = ops.minimum(self.keep, ops.shape(significance)[1])
            seq_len = ops.shape(significance)[1]
        ranks = significance_ranks(significance)
        positions = ops.arange(seq_len, dtype="int32")
        # Kept positions get distinct keys (earlier = larger): top_k returns them ascending.
        order_key = ops.where(ranks < keep, seq_len - positions, 0)
        _, kept = ops.top_k(order_key, k=keep, sorted=True)
        return ops.cast(kept, "int32")

    def call(self, x, significance, padding_mask):
        kept = self.kept_positions(significance)
        return gather_positions(x, kept), gather_positions(padding_mask, kept)

    def compute_output_shape(self, x_shape, significance_shape=None, mask_shape=None):
        seq = x_shape[1]
        keep = self.keep if seq is None else min(self.keep, seq)
        return (x_shape[0], keep, x_shape[2]), (x_shape[0], keep)

    def get_config(self):
        return {**super().get_config(), "keep": self.keep}
