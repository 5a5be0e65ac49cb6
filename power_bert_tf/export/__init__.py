"""Export a trained `PowerBertClassifier` as a TensorFlow Serving SavedModel.

The exported directory `<export_dir>/<version>/` holds:

    saved_model.pb, variables/    the graph and weights
    assets/vocabulary.txt         the tokenizer's vocabulary (keras-hub asset)
    assets.extra/power_bert.json  task, labels, seq_len, mode, retention
                                  configuration, FLOPs fraction, signatures

and two signatures:

    serving_default   raw text: `sentence` (single-sentence tasks) or
                      `sentence1` + `sentence2` (pair tasks), string `[batch]`.
                      Outputs `logits`, `probabilities`, `label` for
                      classification; `score` for regression. BERT / ALBERT
                      backbones (`[CLS] a [SEP] b [SEP]` with segment ids).
    serve_token_ids   int32 `[batch, seq]` features, exactly those the model
                      reads (`model.input_features`: `token_ids`,
                      `segment_ids`, `padding_mask` for BERT / ALBERT;
                      `token_ids`, `padding_mask` for RoBERTa / DistilBERT),
                      `seq <= sequence_length`; same outputs. The only
                      signature with `text_signature=False`.

The graph needs only TensorFlow and the tensorflow-text kernels (which TF
Serving links in); loading it needs neither Keras, keras-hub nor this package.
The metadata is also readable from the loaded object:
`loaded.retention_config`, `loaded.task`, `loaded.label_names`,
`loaded.sequence_length`, `loaded.mode`, `loaded.flops_fraction`,
`loaded.metadata_json` (variables) and `loaded.tokenize` (text -> features).

Where things are: `versions` (version directories, never overwritten),
`checkpoints` (what is read from a run, via `power_bert_tf.runs`), `packing`
(in-graph UTF-8 sanitising, tokenization, truncation and packing), `metadata`
(`power_bert.json`, signature names, what is exportable), `savedmodel` (the
serving module, `export_model`, `export_savedmodel`), `client` (gRPC request,
REST response).
"""

from power_bert_tf.export.checkpoints import checkpoint_and_run_config, load_for_export
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
    "load_for_export",
    "make_predict_request",
    "next_version",
    "read_metadata",
    "rest_response",
]
