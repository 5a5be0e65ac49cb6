"""Export a trained `PowerBertClassifier` as a TensorFlow Serving SavedModel (raw-text and
token-id signatures, the tokenizer's assets, `assets.extra/power_bert.json`); loading needs only
TensorFlow and the tensorflow-text kernels. docs/SERVING.md has the signatures and outputs."""

from power_bert_tf.errors import ExportError
from power_bert_tf.export.client import make_predict_request, rest_response
from power_bert_tf.export.metadata import (
    MAX_BATCH_SIZE,
    METADATA_FILENAME,
    SIGNATURE_TEXT,
    SIGNATURE_TOKEN_IDS,
    existing_versions,
    export_metadata,
    read_metadata,
    version_directory,
)
from power_bert_tf.export.savedmodel import (
    LENGTH_MULTIPLE,
    checkpoint_and_run_config,
    export_model,
    export_savedmodel,
)

__all__ = [
    "LENGTH_MULTIPLE",
    "MAX_BATCH_SIZE",
    "METADATA_FILENAME",
    "SIGNATURE_TEXT",
    "SIGNATURE_TOKEN_IDS",
    "ExportError",
    "checkpoint_and_run_config",
    "existing_versions",
    "export_metadata",
    "export_model",
    "export_savedmodel",
    "make_predict_request",
    "read_metadata",
    "rest_response",
    "version_directory",
]
