"""The family task classes: `PowerBertClassifier` named for each other keras-hub family.

keras-hub has one classifier per backbone family (`BertTextClassifier`,
`AlbertTextClassifier`, ...), each naming its `backbone_cls` and `preprocessor_cls`;
`Task.from_preset` reads a preset's backbone class and picks the registered subclass
that names it (`find_subclass`). These are PoWER-BERT's: the model is the same for
every family (`PowerBertClassifier`, the BERT one; the adapters in
`power_bert_tf.backbones` do the family's wiring), so each class only names its family.
`PowerBertClassifier(backbone, ...)` on one of these backbones gives the family's class.

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


FAMILY_CLASSIFIERS = (
    PowerBertClassifier,
    PowerAlbertClassifier,
    PowerRobertaClassifier,
    PowerDistilBertClassifier,
)
