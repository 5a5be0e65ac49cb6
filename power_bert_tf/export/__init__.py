"""Export a trained `PowerBertClassifier` as a TensorFlow Serving SavedModel.

`<export_dir>/<version>/` holds the graph and weights, the tokenizer's assets and
`assets.extra/power_bert.json`; its signatures are `serving_default` (raw text: `sentence`, or
`sentence1` + `sentence2`; BERT / ALBERT backbones) and `serve_token_ids` (the features the
model reads). Outputs: `logits`, `probabilities`, `label`, or `score` for regression. Loading
needs only TensorFlow and the tensorflow-text kernels. docs/SERVING.md has the details."""

from power_bert_tf.export.client import make_predict_request, rest_response
from power_bert_tf.export.errors import ExportError
from power_bert_tf.export.metadata import (
    MAX_BATCH_SIZE,
    METADATA_FILENAME,
    METADATA_FORMAT_VERSION,
    SIGNATURE_TEXT,
    SIGNATURE_TOKEN_IDS,
    export_metadata,
    read_metadata,
)
from power_bert_tf.export.savedmodel import (
    LENGTH_MULTIPLE,
    bucketed,
    build_serving_module,
    checkpoint_and_run_config,
    export_model,
    export_savedmodel,
)
from power_bert_tf.export.versions import existing_versions, next_version

__all__ = [
    "LENGTH_MULTIPLE",
    "MAX_BATCH_SIZE",
    "METADATA_FILENAME",
    "METADATA_FORMAT_VERSION",
    "SIGNATURE_TEXT",
    "SIGNATURE_TOKEN_IDS",
    "ExportError",
    "bucketed",
    "build_serving_module",
    "checkpoint_and_run_config",
    "existing_versions",
    "export_metadata",
    "export_model",
    "export_savedmodel",
    "make_predict_request",
    "next_version",
    "read_metadata",
    "rest_response",
]
