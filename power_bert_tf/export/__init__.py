"""Export a trained `PowerBertClassifier` as a TensorFlow Serving SavedModel (raw-text and
token-id signatures, the tokenizer's assets, `assets.extra/power_bert.json`); loading needs only
TensorFlow and the tensorflow-text kernels. docs/SERVING.md has the signatures and outputs."""

from power_bert_tf.errors import ExportError
from power_bert_tf.export.client import make_predict_request, rest_response
from power_bert_tf.export.metadata import (
    MAX_BATCH_SIZE,
    METADATA_FILENAME,
    METADATA_FORMAT_VERSION,
    SIGNATURE_TEXT,
    SIGNATURE_TOKEN_IDS,
    existing_versions,
    export_metadata,
    next_version,
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
