"""The terms of the training loss (task, distillation, retention-mass penalty), in `keras.ops`."""

from __future__ import annotations

import keras
from keras import ops


def per_example_loss(is_regression: bool, labels, outputs):
    """Squared error for regression (STS-B), else cross-entropy on logits; float32 `[batch]`."""
    if is_regression:
        scores = ops.cast(outputs[:, 0], "float32")
        return ops.square(scores - ops.cast(labels, "float32"))
    return keras.losses.sparse_categorical_crossentropy(
        labels, ops.cast(outputs, "float32"), from_logits=True
    )


def distillation_loss(is_regression: bool, teacher_outputs, outputs, temperature: float = 2.0):
    """The student's (`outputs`) loss against the unpruned teacher's logits or score (`[batch,
    outputs]`), float32 `[batch]`: `T^2 * KL(softmax(teacher / T) || softmax(student / T))`, T =
    `temperature` (Hinton et al.); regression: squared error."""
    teacher, student = ops.cast(teacher_outputs, "float32"), ops.cast(outputs, "float32")
    if is_regression:
        return ops.square(student[:, 0] - teacher[:, 0])
    target = ops.softmax(teacher / temperature, axis=-1)
    log_student = ops.log_softmax(student / temperature, axis=-1)
    log_target = ops.log_softmax(teacher / temperature, axis=-1)
    return temperature**2 * ops.sum(target * (log_target - log_student), axis=-1)


def mass_penalty(model, lambda_: float):
    """The search's penalty `lambda * sum_j j * mass_j` over `model`'s SoftExtract layers (j from
    1, `mass_j` layer j's `SoftExtract.mass`); 0 without any. `lambda_` is the original's LAMBDA."""
    layers = model.encoder.soft_extract_layers
    if not layers or lambda_ == 0:
        return ops.convert_to_tensor(0.0, "float32")
    weighted = [float(j) * ops.cast(layer.mass, "float32") for j, layer in enumerate(layers, 1)]
    return ops.cast(lambda_, "float32") * ops.sum(ops.stack(weighted))


def retention_variables(model) -> list:
    """The SoftExtract retention weights r (one vector per layer), in layer order."""
    return [layer.retention for layer in model.encoder.soft_extract_layers]
