"""PoWER-BERT (progressive word-vector elimination) for Keras 3 and keras-hub.

Where things are: `layers` (the three PoWER-BERT layers), `models` (encoder and task
model), `backbones` (presets and the per-family adapters), `retention` (the
configuration and FLOPs), `training` (the custom loop and the mass penalty), `data`
(GLUE presets and your own files), `accelerate` (search and retrain a fine-tuned
classifier on data in memory), `pipeline` (the three steps `scripts/run_glue.py` runs),
`runs` (run directories), `inference`, `export` (TF Serving).
"""

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
