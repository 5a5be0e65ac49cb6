"""The classification head, in the backbone's dtype policy: `[pooled_dense] -> dropout -> logits`
on the encoder's pooled output (a `pooled_dense` only for backbones without a pooler)."""

from __future__ import annotations

import keras
from keras import ops


def make_head(backbone, pool_activation: str | None, num_classes: int, dropout: float) -> tuple:
    """`(pooled_dense or None, output_dropout, output_dense)`, unbuilt."""
    policy = backbone.dtype_policy
    pooled_dense = None
    if pool_activation is not None:
        pooled_dense = keras.layers.Dense(
            backbone.hidden_dim,
            activation=pool_activation,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=policy,
            name="pooled_dense",
        )
    output_dropout = keras.layers.Dropout(dropout, dtype=policy, name="output_dropout")
    output_dense = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        dtype=policy,
        name="logits",
    )
    return pooled_dense, output_dropout, output_dense


def apply_head(head: tuple, pooled, training=None):
    """Logits `[batch, num_classes]` from `pooled` `[batch, hidden]` (symbolic or not)."""
    pooled_dense, output_dropout, output_dense = head
    if pooled_dense is not None:
        pooled = pooled_dense(output_dropout(pooled, training=training))
    return output_dense(output_dropout(pooled, training=training))


def copy_head_weights(classifier, model) -> None:
    """Copy a keras-hub classifier's `pooled_dense` and `output_dense` weights into `model`'s.

    Raises:
        ValueError: a layer one head has and the other lacks, or a weight of another shape.
    """
    for name in ("pooled_dense", "output_dense"):
        theirs, ours = getattr(classifier, name, None), getattr(model, name)
        if (theirs is None) != (ours is None):
            raise ValueError(
                f"{type(classifier).__name__}: its head {'has' if theirs else 'lacks'} a "
                f"{name} layer where PoWER-BERT's head for this family does not"
            )
        if theirs is None:
            continue
        for mine, their in zip(ours.weights, theirs.weights):
            if tuple(mine.shape) != tuple(their.shape):
                raise ValueError(
                    f"{type(classifier).__name__}.{name}: weight {their.path} has shape "
                    f"{tuple(their.shape)}, PoWER-BERT's head expects {tuple(mine.shape)}"
                )
            mine.assign(ops.copy(their.value))
