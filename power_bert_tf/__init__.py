"""PoWER-BERT (progressive word-vector elimination) for Keras 3 and keras-hub."""

from power_bert_tf.backbones import (
    BackboneLoadError,
    default_backbone,
    load_backbone,
    load_preprocessor,
    minilm_directory,
)
from power_bert_tf.layers import HardExtract, SignificanceScore, SoftExtract
from power_bert_tf.model import PowerBertClassifier, PowerBertEncoder, copy_weights_by_path
from power_bert_tf.retention import RetentionConfig, RetentionConfigError

__version__ = "0.1.0"

__all__ = [
    "BackboneLoadError",
    "HardExtract",
    "PowerBertClassifier",
    "PowerBertEncoder",
    "RetentionConfig",
    "RetentionConfigError",
    "SignificanceScore",
    "SoftExtract",
    "copy_weights_by_path",
    "default_backbone",
    "load_backbone",
    "load_preprocessor",
    "minilm_directory",
]
