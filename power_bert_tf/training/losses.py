"""The two terms of the training loss: the task loss and the retention-mass penalty.

Both in `keras.ops` (any backend). The configuration search adds
`lambda * sum_j j * mass_j` over encoder layers j = 1..L to the task loss.
"""

from __future__ import annotations

import keras
from keras import ops


def per_example_loss(is_regression: bool, labels, outputs):
    """Squared error for regression (STS-B), else cross-entropy on logits; float32 `[batch]`.

    Example:
    >>> keras.ops.convert_to_numpy(per_example_loss(True, np.array([1.0]), np.array([[3.0]])))
    array([4.], dtype=float32)
    """
    if is_regression:
        scores = ops.cast(outputs[:, 0], "float32")
        return ops.square(scores - ops.cast(labels, "float32"))
    return keras.losses.sparse_categorical_crossentropy(labels, ops.cast(outputs, "float32"), from_logits=True)


def mass_penalty(model, lambda_: float):
    """`lambda * sum_j j * mass_j` over the model's SoftExtract layers (j from 1); 0 without any.

    Args:
        model: a `PowerBertClassifier` (soft mode has SoftExtract layers).
        lambda_: the penalty's weight (the original's LAMBDA).
    """
    layers = model.encoder.soft_extract_layers
    if not layers or lambda_ == 0:
        return ops.convert_to_tensor(0.0, "float32")
    weighted = [float(j) * ops.cast(layer.mass, "float32") for j, layer in enumerate(layers, 1)]
    return ops.cast(lambda_, "float32") * ops.sum(ops.stack(weighted))


def retention_variables(model) -> list:
    """The SoftExtract retention weights r (one vector per layer), in layer order."""
    return [layer.retention for layer in model.encoder.soft_extract_layers]
