"""The models: `PowerBertEncoder` (backbone + extraction) and `PowerBertClassifier` (task model)."""

from power_bert_tf.models.classifier import PowerBertClassifier, copy_weights_by_path
from power_bert_tf.models.encoder import MODES, PowerBertEncoder

__all__ = ["MODES", "PowerBertClassifier", "PowerBertEncoder", "copy_weights_by_path"]
