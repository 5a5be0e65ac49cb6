"""`.keras` files written before `PowerBertClassifier` was a keras-hub task.

Such a file holds a subclassed `keras.Model`, whose weights are named by attribute, not by a
functional graph. `PowerBertClassifier.from_config` knows its configuration by the keys
`trainable` and `dtype` and returns a `LegacyClassifier` (the old layers in the old order),
which keras fills; `to_task()` hands those layers to a `PowerBertClassifier`.
"""

from __future__ import annotations

import keras

from power_bert_tf.models.head import apply_head, make_encoder, make_head
from power_bert_tf.models.weights import copy_weights_by_path

LEGACY_KEYS = ("trainable", "dtype")


def is_legacy_config(config: dict) -> bool:
    """A `PowerBertClassifier` config of a file written before the keras-hub task."""
    return all(key in config for key in LEGACY_KEYS)


class LegacyClassifier(keras.Model):
    """The first `PowerBertClassifier`'s layers, attributes and order, to load its files.

    Args:
        task_class: the `PowerBertClassifier` class `to_task` builds.
        The others: the recorded configuration (`PowerBertClassifier`'s arguments).
    """

    def __init__(
        self,
        task_class,
        backbone,
        num_classes: int,
        retention=None,
        mode: str | None = None,
        sequence_length: int | None = None,
        dropout: float = 0.1,
        exclude_self: bool = True,
        preprocessor=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # The recorded file's order: backbone, preprocessor, encoder, then the head.
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.encoder = make_encoder(backbone, retention, mode, sequence_length, exclude_self)
        self.pooled_dense, self.output_dropout, self.output_dense = make_head(
            backbone, self.encoder.adapter.pool_activation, num_classes, dropout
        )
        self.task_class = task_class
        self.task_settings = {
            "num_classes": int(num_classes),
            "retention": retention,
            "mode": self.encoder.mode,
            "sequence_length": self.encoder.sequence_length,
            "dropout": float(dropout),
            "exclude_self": exclude_self,
        }
        self.build()

    def get_config(self):
        """The configuration such a file records (`PowerBertClassifier.from_config` reads it)."""
        settings = dict(self.task_settings)
        retention = self.encoder.retention
        settings["retention"] = None if retention is None else retention.to_list()
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": serialize(self.dtype_policy),
            "backbone": serialize(self.backbone),
            "preprocessor": None if self.preprocessor is None else serialize(self.preprocessor),
            **settings,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("backbone", "preprocessor"):
            if isinstance(config.get(name), dict):
                config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    def build(self, input_shape=None):
        self.encoder.build()
        for layer in (self.pooled_dense, self.output_dense):
            if layer is not None:
                layer.build((None, self.backbone.hidden_dim))
        self.built = True

    def call(self, inputs, training=None):
        pooled = self.encoder(inputs, training=training)["pooled_output"]
        head = (self.pooled_dense, self.output_dropout, self.output_dense)
        return apply_head(head, pooled, training)

    def to_task(self):
        """The `PowerBertClassifier` on this model's backbone, preprocessor and head layers
        (shared, not copied), with the retention weights copied: it predicts the same."""
        task = self.task_class(
            self.backbone,
            preprocessor=self.preprocessor,
            shared_head=(self.pooled_dense, self.output_dropout, self.output_dense),
            name=self.name,
            **self.task_settings,
        )
        missing = copy_weights_by_path(self, task)
        uncopied = sorted({v.path for v in task.weights} & set(missing))
        if uncopied:
            raise ValueError(f"{self.name}: weights not carried over to the task: {uncopied}")
        return task
