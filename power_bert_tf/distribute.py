"""The tf.distribute strategies of `--distribute`: one device, or every GPU of one machine."""

from __future__ import annotations

import tensorflow as tf

from power_bert_tf.config import STRATEGIES, PipelineError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy named `name`: "default" (the current, one-device strategy) or "mirrored"
    (every GPU, else every logical CPU device, of this machine); PipelineError for another."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise PipelineError(f"--distribute must be one of {', '.join(STRATEGIES)}; got '{name}'")
