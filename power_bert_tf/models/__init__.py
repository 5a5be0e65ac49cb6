"""The models: `PowerBertEncoder` (backbone + extraction) and `PowerBertClassifier` (task model,
with a class per backbone family)."""

from power_bert_tf.models.classifier import (
    PowerAlbertClassifier,
    PowerBertClassifier,
    PowerDistilBertClassifier,
    PowerRobertaClassifier,
)
from power_bert_tf.models.encoder import PowerBertEncoder
from power_bert_tf.models.weights import copy_weights_by_path, with_global_precision

__all__ = [
    "PowerAlbertClassifier",
    "PowerBertClassifier",
    "PowerBertEncoder",
    "PowerDistilBertClassifier",
    "PowerRobertaClassifier",
    "copy_weights_by_path",
    "with_global_precision",
]
