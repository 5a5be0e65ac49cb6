"""The gradient probe (a diagnostic, not part of the method): how hard the task pulls on each retention weight, before searching.

The search settles r_k of layer j where the task loss's gradient balances the penalty's
`lambda * j`; the probe measures that gradient on a fine-tuned model and predicts, to
first order, what a LAMBDA would keep (`benchmarks/retention_gradients.py`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from power_bert_tf.retention import RetentionConfig
from power_bert_tf.training.losses import per_example_loss, retention_variables


def retention_gradients(model, dataset: tf.data.Dataset, max_batches: int = 20) -> np.ndarray:
    """The task loss's gradient with respect to every retention weight, averaged over batches.

    The search step settles r_k where this gradient balances the penalty's `lambda * j`, so
    comparing the two before searching tells which LAMBDA can eliminate what. Evaluated at the
    model's weights (a fine-tuned model gets r = 1), without dropout.

    Args:
        model: a soft-mode model, or any model (converted with `with_mode("soft")`).
        dataset: `(features, labels)` batches.
        max_batches: batches to average over.

    Returns:
        float64 array `[num_layers, sequence_length]`: row j-1, column k is dLoss/dr_k of layer j
        (k = rank by significance, 0 = [CLS]).
    """
    if model.mode != "soft":
        model = model.with_mode("soft")
    variables = retention_variables(model)
    total = np.zeros((len(variables), int(variables[0].shape[0])))
    batches = 0
    for features, labels in dataset.take(max_batches):
        with tf.GradientTape() as tape:
            outputs = model(features, training=False)
            loss = tf.reduce_mean(per_example_loss(model.is_regression, labels, outputs))
        for row, gradient in enumerate(tape.gradient(loss, variables)):
            if gradient is not None:  # None: the layer never reads it
                total[row] += np.asarray(gradient, dtype=np.float64)
        batches += 1
    if batches == 0:
        raise ValueError("retention_gradients: the dataset is empty")
    return total / batches


def predicted_retention(gradients: np.ndarray, lambda_: float):
    """The retention a search at `lambda_` heads for, to first order, from `retention_gradients`.

    r_k of layer j stays at 1 while the task pulls it up harder than the penalty pushes it down
    (-dLoss/dr_k > lambda * j) and falls to 0 otherwise; the kept counts then go through the
    same rounding as a real search (`RetentionConfig.from_masses`). A guide to the scale of
    LAMBDA, not to the configuration: a real search keeps several times more (each weight's
    pull grows as the others fall, and noisy gradients slow Adam near the balance), see
    docs/RESULTS.md.
    """
    layer_index = np.arange(1, gradients.shape[0] + 1)[:, None]
    kept = (-gradients > lambda_ * layer_index).sum(axis=1)
    return RetentionConfig.from_masses([float(k) for k in kept])
