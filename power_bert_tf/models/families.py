"""The family task classes: `PowerBertClassifier` named for each other keras-hub family (so
that keras-hub's `find_subclass` finds them); the model on such a backbone is of its class.

Example:
>>> backbone = keras_hub.models.DistilBertBackbone(
...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8,
...     intermediate_dim=16, max_sequence_length=16)
>>> type(PowerBertClassifier(backbone, num_classes=2)).__name__
'PowerDistilBertClassifier'
"""

from __future__ import annotations

import keras
import keras_hub

from power_bert_tf.models.classifier import PowerBertClassifier


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerAlbertClassifier(PowerBertClassifier):
    """`PowerBertClassifier` on a keras-hub `AlbertBackbone`."""

    backbone_cls = keras_hub.models.AlbertBackbone
    preprocessor_cls = keras_hub.models.AlbertTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerRobertaClassifier(PowerBertClassifier):
    """`PowerBertClassifier` on a keras-hub `RobertaBackbone` (the head adds a tanh pooler)."""

    backbone_cls = keras_hub.models.RobertaBackbone
    preprocessor_cls = keras_hub.models.RobertaTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerDistilBertClassifier(PowerBertClassifier):
    """`PowerBertClassifier` on a keras-hub `DistilBertBackbone` (the head adds a relu pooler)."""

    backbone_cls = keras_hub.models.DistilBertBackbone
    preprocessor_cls = keras_hub.models.DistilBertTextClassifierPreprocessor
