"""PoWER-BERT (progressive word-vector elimination) for Keras 3 and keras-hub."""

from power_bert_tf.backbones import (
    BackboneLoadError,
    UnsupportedBackboneError,
    default_backbone,
    load_backbone,
    load_preprocessor,
    minilm_directory,
)
from power_bert_tf.layers import HardExtract, SignificanceScore, SoftExtract
from power_bert_tf.models import (
    PowerAlbertClassifier,
    PowerBertClassifier,
    PowerBertEncoder,
    PowerDistilBertClassifier,
    PowerRobertaClassifier,
    copy_weights_by_path,
)
from power_bert_tf.retention import RetentionConfig, RetentionConfigError

__version__ = "0.1.0"

__all__ = [
    "BackboneLoadError",
    "HardExtract",
    "PowerAlbertClassifier",
    "PowerBertClassifier",
    "PowerBertEncoder",
    "PowerDistilBertClassifier",
    "PowerRobertaClassifier",
    "RetentionConfig",
    "RetentionConfigError",
    "SignificanceScore",
    "SoftExtract",
    "UnsupportedBackboneError",
    "copy_weights_by_path",
    "default_backbone",
    "load_backbone",
    "load_preprocessor",
    "minilm_directory",
]
