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
                      classification; `score` for regression.
    serve_token_ids   int32 `token_ids`, `segment_ids`, `padding_mask`,
                      `[batch, seq]` with `seq <= sequence_length`; same outputs.

Text is tokenized inside the graph: keras-hub's own tokenizer layer is traced
into the serving function (its TensorFlow path, which is what the training
`tf.data` pipeline runs), so token ids match the preprocessor's exactly; the
packing (`[CLS] a [SEP] (b [SEP])`, round-robin truncation, padding) is
rebuilt from core TensorFlow ops. The graph needs only TensorFlow and the
tensorflow-text kernels (which TF Serving links in); loading it needs neither
Keras, keras-hub nor this package.

The metadata is also readable from the loaded object:
`loaded.retention_config`, `loaded.task`, `loaded.label_names`,
`loaded.sequence_length`, `loaded.mode`, `loaded.flops_fraction`,
`loaded.metadata_json` (variables) and `loaded.tokenize` (text -> features).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

SIGNATURE_TEXT = "serving_default"
SIGNATURE_TOKEN_IDS = "serve_token_ids"
METADATA_FILENAME = "power_bert.json"
RUN_CONFIG_FILENAME = "run_config.json"
# A run directory's checkpoints, in order of preference for serving.
CHECKPOINT_NAMES = ("retrain.keras", "finetune.keras")
METADATA_FORMAT_VERSION = 1


class ExportError(ValueError):
    """The checkpoint or export directory is unusable; the message says why."""


# ---------------------------------------------------------------------------
# checkpoints and versions
# ---------------------------------------------------------------------------
def resolve_checkpoint(checkpoint) -> tuple[Path, dict]:
    """The `.keras` file to export and the run's `run_config.json` (or {}).

    Args:
        checkpoint: a run output directory (its `retrain.keras` is used, else
            its `finetune.keras`) or a `.keras` file (the `run_config.json`
            next to it is read when present).

    Raises:
        ExportError: naming the path, when nothing exportable is there.
    """
    path = Path(os.fspath(checkpoint)).expanduser()
    if not path.exists():
        raise ExportError(f"checkpoint '{path}' does not exist")
    if path.is_dir():
        for name in CHECKPOINT_NAMES:
            if (path / name).is_file():
                keras_file = path / name
                break
        else:
            raise ExportError(
                f"checkpoint directory '{path}' has no "
                f"{' or '.join(CHECKPOINT_NAMES)}"
            )
    elif path.suffix == ".keras" and path.is_file():
        keras_file = path
    else:
        raise ExportError(
            f"checkpoint '{path}' is neither a run directory nor a .keras file"
        )
    config_path = keras_file.parent / RUN_CONFIG_FILENAME
    run_config = {}
    if config_path.is_file():
        try:
            run_config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ExportError(f"cannot read '{config_path}': {error}") from error
        if not isinstance(run_config, dict):
            raise ExportError(f"'{config_path}' is not a JSON object")
    return keras_file, run_config


def load_checkpoint(checkpoint):
    """`(model, keras_file, run_config)` for a run directory or `.keras` file."""
    keras_file, run_config = resolve_checkpoint(checkpoint)
    import keras

    import power_bert_tf  # noqa: F401  (registers the custom layers)

    try:
        model = keras.saving.load_model(keras_file)
    except Exception as error:  # corrupt archive, unknown layer, ...
        first = str(error).splitlines()[0] if str(error) else ""
        raise ExportError(
            f"cannot load checkpoint '{keras_file}': {type(error).__name__}: {first}"
        ) from error
    return model, keras_file, run_config


def existing_versions(export_dir) -> list[int]:
    """The integer version directories already under `export_dir`, sorted."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        return []
    return sorted(
        int(entry.name)
        for entry in export_dir.iterdir()
        if entry.is_dir() and re.fullmatch(r"[0-9]+", entry.name)
    )


def next_version(export_dir) -> int:
    """1 + the largest existing integer version directory (1 if none)."""
    versions = existing_versions(export_dir)
    return versions[-1] + 1 if versions else 1


def _check_version_free(export_dir, version) -> Path:
    """The version directory to write; ExportError if it exists or is invalid."""
    export_dir = Path(os.fspath(export_dir)).expanduser()
    if export_dir.exists() and not export_dir.is_dir():
        raise ExportError(f"export directory '{export_dir}' is not a directory")
    if version is None:
        version = next_version(export_dir)
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise ExportError(f"version must be a non-negative integer, got {version!r}")
    final = export_dir / str(int(version))
    if final.exists():
        raise ExportError(f"export version directory '{final}' already exists")
    return final


# ---------------------------------------------------------------------------
# in-graph text preprocessing
# ---------------------------------------------------------------------------
def _sanitize_utf8(texts):
    """Replace bytes that are not valid UTF-8 with U+FFFD (valid text unchanged)."""
    return tf.strings.unicode_transcode(
        texts,
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=0xFFFD,
    )


def _keep_per_segment(lengths, budget: int, truncate: str):
    """How many tokens each segment keeps so that they fit in `budget`.

    Same result as tf-text's `RoundRobinTrimmer` / `WaterfallTrimmer` (which
    keras-hub's `MultiSegmentPacker` uses), in core ops only.
    """
    budget = tf.constant(max(int(budget), 0), tf.int32)
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    if len(lengths) != 2:
        raise ExportError("only one or two text segments are supported")
    first, second = lengths
    if truncate == "waterfall":
        keep_first = tf.minimum(first, budget)
    elif truncate == "round_robin":
        # One token at a time, first segment first: the first gets
        # ceil(budget / 2), or more when the second is short.
        keep_first = tf.minimum(
            first, tf.maximum((budget + 1) // 2, budget - second)
        )
    else:
        raise ExportError(f"unsupported truncation '{truncate}'")
    keep_second = tf.minimum(second, budget - keep_first)
    return [keep_first, keep_second]


def _pack(segments, sequence_length: int, start_id: int, end_id: int,
          pad_id: int, truncate: str):
    """keras-hub's `MultiSegmentPacker`: `[CLS] a [SEP] (b [SEP])`, padded.

    Args:
        segments: list of int32 ragged `[batch, (tokens)]`.

    Returns:
        `token_ids`, `segment_ids` (int32) and `padding_mask` (bool), each
        `[batch, sequence_length]`.
    """
    lengths = [tf.cast(s.row_lengths(), tf.int32) for s in segments]
    num_special = 1 + len(segments)  # [CLS] and one [SEP] after each segment
    keeps = _keep_per_segment(lengths, sequence_length - num_special, truncate)
    trimmed = []
    for segment, length, keep in zip(segments, lengths, keeps):
        positions = tf.ragged.range(length)
        trimmed.append(
            tf.ragged.boolean_mask(segment, positions < tf.expand_dims(keep, 1))
        )
    batch = segments[0].nrows(out_type=tf.int32)
    column = lambda value: tf.RaggedTensor.from_tensor(  # noqa: E731
        tf.fill(tf.stack([batch, 1]), tf.constant(value, tf.int32))
    )
    token_parts = [column(start_id)]
    segment_parts = [column(0)]
    for index, segment in enumerate(trimmed):
        token_parts += [segment, column(end_id)]
        segment_parts += [
            tf.ones_like(segment) * index,
            column(index),
        ]
    token_ids = tf.concat(token_parts, axis=1)
    segment_ids = tf.concat(segment_parts, axis=1)
    shape = [None, sequence_length]
    token_ids = token_ids.to_tensor(default_value=pad_id, shape=shape)
    segment_ids = segment_ids.to_tensor(default_value=0, shape=shape)
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": tf.not_equal(token_ids, pad_id),
    }


# ---------------------------------------------------------------------------
# the serving module
# ---------------------------------------------------------------------------
def _label_names(model, label_names) -> list[str]:
    if model.num_classes == 1:
        return []
    names = [str(name) for name in (label_names or [])]
    if names and len(names) != model.num_classes:
        raise ExportError(
            f"{len(names)} label names for a model with {model.num_classes} classes"
        )
    return names or [str(i) for i in range(model.num_classes)]


def _check_exportable(model) -> None:
    if not all(hasattr(model, a) for a in ("num_classes", "retention", "mode", "encoder")):
        raise ExportError(
            f"expected a PowerBertClassifier, got {type(model).__name__}"
        )
    if getattr(model, "preprocessor", None) is None:
        raise ExportError(
            "the model has no preprocessor, so its text signature cannot be built"
        )


def export_metadata(model, run_config: dict | None = None,
                    checkpoint: str | None = None) -> dict:
    """What an operator needs to know about the exported model, JSON-ready.

    Args:
        model: the `PowerBertClassifier` (with its preprocessor).
        run_config: the run's `run_config.json` (task, backbone,
            label_names, is_pair); missing keys get defaults (no task,
            labels "0".."n-1", single sentence).
        checkpoint: recorded as the source of the export.
    """
    import keras
    import keras_hub

    import power_bert_tf

    _check_exportable(model)
    run_config = dict(run_config or {})
    is_pair = bool(run_config.get("is_pair", False))
    regression = model.num_classes == 1
    labels = _label_names(model, run_config.get("label_names"))
    retention = model.retention
    text_inputs = ["sentence1", "sentence2"] if is_pair else ["sentence"]
    outputs = ["score"] if regression else ["logits", "probabilities", "label"]
    return {
        "format_version": METADATA_FORMAT_VERSION,
        "task": str(run_config.get("task") or ""),
        "backbone": str(run_config.get("backbone") or ""),
        "num_classes": int(model.num_classes),
        "is_regression": regression,
        "is_pair": is_pair,
        "label_names": labels,
        "sequence_length": int(model.preprocessor.sequence_length),
        "mode": model.mode,
        "retention_config": None if retention is None else str(retention),
        "retention": None if retention is None else retention.to_list(),
        "flops_fraction": float(model.flops_fraction()),
        "vocabulary_size": int(model.backbone.vocabulary_size),
        "lowercase": bool(getattr(model.preprocessor.tokenizer, "lowercase", False)),
        "truncate": str(getattr(model.preprocessor, "truncate", "round_robin")),
        "signatures": {
            SIGNATURE_TEXT: {"inputs": text_inputs, "outputs": outputs},
            SIGNATURE_TOKEN_IDS: {
                "inputs": ["token_ids", "segment_ids", "padding_mask"],
                "outputs": outputs,
            },
        },
        "checkpoint": checkpoint,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "versions": {
            "power_bert_tf": power_bert_tf.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_hub": keras_hub.__version__,
        },
    }


def build_serving_module(model, metadata: dict, asset_dir: str | None = None):
    """A `tf.Module` whose tf.functions run `model` (TensorFlow backend).

    Args:
        model: a built `PowerBertClassifier` with a keras-hub preprocessor.
        metadata: `export_metadata(...)`; its task, labels, `is_pair` and
            sequence length shape the signatures.
        asset_dir: where the tokenizer's asset files are written so the
            SavedModel copies them into `assets/` (a temp dir if None).

    Returns:
        `(module, signatures)`: pass both to `tf.saved_model.save`.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            "SavedModel export needs the TensorFlow Keras backend "
            f"(KERAS_BACKEND=tensorflow), not '{keras.backend.backend()}'"
        )
    _check_exportable(model)
    preprocessor = model.preprocessor
    tokenizer = preprocessor.tokenizer
    is_pair = bool(metadata["is_pair"])
    regression = bool(metadata["is_regression"])
    text_length = int(preprocessor.sequence_length)
    max_length = int(model.sequence_length)
    if model.mode != "none" and text_length > max_length:
        raise ExportError(
            f"preprocessor sequence_length {text_length} exceeds the model's "
            f"{max_length}"
        )
    vocabulary_size = int(model.backbone.vocabulary_size)
    num_segments = int(getattr(model.backbone, "num_segments", 2) or 2)
    truncate = str(getattr(preprocessor, "truncate", "round_robin"))
    start_id = int(tokenizer.start_token_id)
    end_id = int(tokenizer.end_token_id)
    pad_id = int(tokenizer.pad_token_id)
    label_names = tf.constant(metadata["label_names"] or [""], tf.string)

    def head(features):
        outputs = model(features, training=False)
        outputs = tf.cast(outputs, tf.float32)
        if regression:
            return {"score": outputs[:, 0]}
        return {
            "logits": outputs,
            "probabilities": tf.nn.softmax(outputs, axis=-1),
            "label": tf.gather(label_names, tf.argmax(outputs, axis=-1, output_type=tf.int32)),
        }

    def tokenize_segments(*texts):
        segments = [tokenizer(_sanitize_utf8(t)) for t in texts]
        segments = [
            s if isinstance(s, tf.RaggedTensor) else tf.RaggedTensor.from_tensor(s)
            for s in segments
        ]
        segments = [tf.cast(s, tf.int32) for s in segments]
        return _pack(segments, text_length, start_id, end_id, pad_id, truncate)

    string_spec = lambda name: tf.TensorSpec([None], tf.string, name=name)  # noqa: E731
    int_spec = lambda name: tf.TensorSpec([None, None], tf.int32, name=name)  # noqa: E731

    module = tf.Module(name="power_bert_serving")
    # Tracking the variables (not the Keras model object) keeps the saved
    # object graph free of Keras internals.
    module.model_variables = list(model.variables)

    if is_pair:
        @tf.function(autograph=False, input_signature=[string_spec("sentence1"), string_spec("sentence2")])
        def tokenize(sentence1, sentence2):
            return tokenize_segments(sentence1, sentence2)

        @tf.function(autograph=False, input_signature=[string_spec("sentence1"), string_spec("sentence2")])
        def serve_text(sentence1, sentence2):
            return head(tokenize_segments(sentence1, sentence2))
    else:
        @tf.function(autograph=False, input_signature=[string_spec("sentence")])
        def tokenize(sentence):
            return tokenize_segments(sentence)

        @tf.function(autograph=False, input_signature=[string_spec("sentence")])
        def serve_text(sentence):
            return head(tokenize_segments(sentence))

    @tf.function(autograph=False, input_signature=[
        int_spec("token_ids"), int_spec("segment_ids"), int_spec("padding_mask"),
    ])
    def serve_token_ids(token_ids, segment_ids, padding_mask):
        shape = tf.shape(token_ids)
        checks = [
            tf.debugging.assert_equal(
                tf.shape(segment_ids), shape,
                message="segment_ids must have the shape of token_ids"),
            tf.debugging.assert_equal(
                tf.shape(padding_mask), shape,
                message="padding_mask must have the shape of token_ids"),
            tf.debugging.assert_less_equal(
                shape[1], max_length,
                message=f"inputs may have at most {max_length} tokens (sequence_length)"),
            tf.debugging.assert_greater(
                shape[1], 0, message="inputs need at least one token ([CLS])"),
            tf.debugging.assert_non_negative(
                token_ids, message="token_ids must be >= 0"),
            tf.debugging.assert_less(
                token_ids, vocabulary_size,
                message=f"token_ids must be < vocabulary size {vocabulary_size}"),
            tf.debugging.assert_non_negative(
                segment_ids, message="segment_ids must be >= 0"),
            tf.debugging.assert_less(
                segment_ids, num_segments,
                message=f"segment_ids must be < {num_segments}"),
        ]
        with tf.control_dependencies(checks):
            features = {
                "token_ids": tf.identity(token_ids),
                "segment_ids": tf.identity(segment_ids),
                "padding_mask": tf.identity(padding_mask),
            }
        return head(features)

    module.tokenize = tokenize
    module.serve_text = serve_text
    module.serve_token_ids = serve_token_ids

    # Metadata an operator can read after `tf.saved_model.load`.
    def string_variable(value):
        return tf.Variable(value, dtype=tf.string, trainable=False)

    module.retention_config = string_variable(metadata["retention_config"] or "")
    module.task = string_variable(metadata["task"])
    module.mode = string_variable(metadata["mode"])
    module.label_names = tf.Variable(
        tf.constant(metadata["label_names"], tf.string, shape=[len(metadata["label_names"])]),
        trainable=False,
    )
    module.sequence_length = tf.Variable(text_length, dtype=tf.int32, trainable=False)
    module.flops_fraction = tf.Variable(
        metadata["flops_fraction"], dtype=tf.float32, trainable=False
    )
    module.metadata_json = string_variable(json.dumps(metadata, sort_keys=True))

    # The tokenizer's own asset files (vocabulary.txt for WordPiece) go to
    # assets/; `loaded.assets` lists them.
    if asset_dir is not None and hasattr(tokenizer, "save_assets"):
        tokenizer.save_assets(asset_dir)
        module.assets = [
            tf.saved_model.Asset(os.path.join(asset_dir, name))
            for name in sorted(os.listdir(asset_dir))
        ]

    # tf.functions (not concrete functions): `tf.saved_model.save` traces
    # them once, in its save context.
    signatures = {SIGNATURE_TEXT: serve_text, SIGNATURE_TOKEN_IDS: serve_token_ids}
    return module, signatures


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------
def export_model(model, export_dir, version: int | None = None,
                 run_config: dict | None = None,
                 checkpoint: str | None = None) -> str:
    """Write `model` as `<export_dir>/<version>/`; returns that path.

    The SavedModel is written into a temporary directory next to the version
    directory and renamed into place, so TF Serving never sees a partial
    version and an existing version is never overwritten.
    """
    _check_exportable(model)
    export_dir = Path(os.fspath(export_dir)).expanduser()
    final = _check_version_free(export_dir, version)
    version = int(final.name)
    export_dir.mkdir(parents=True, exist_ok=True)

    metadata = export_metadata(model, run_config, checkpoint)
    metadata["version"] = version
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir))
    try:
        with tempfile.TemporaryDirectory() as asset_dir:
            module, signatures = build_serving_module(model, metadata, asset_dir)
            tf.saved_model.save(module, str(staging), signatures=signatures)
        extra = staging / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / METADATA_FILENAME).write_text(
            json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if final.exists():
            raise ExportError(f"export version directory '{final}' already exists")
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return str(final)


def export_savedmodel(checkpoint, export_dir, version: int | None = None, *,
                      task: str | None = None,
                      label_names: Sequence[str] | None = None,
                      is_pair: bool | None = None) -> str:
    """Export a training run's model for TF Serving.

    Args:
        checkpoint: a run output directory (uses `retrain.keras`, else
            `finetune.keras`, and `run_config.json`) or a `.keras` file.
        export_dir: the TF Serving model base path.
        version: the version directory to write; default 1 + the largest
            existing one (1 if none). An existing version is never replaced.
        task, label_names, is_pair: override (or, for a bare `.keras` file,
            supply) the `run_config.json` values.

    Returns:
        the path of the written version directory.

    Raises:
        ExportError: bad checkpoint, existing version, model without a
            preprocessor.
    """
    resolve_checkpoint(checkpoint)  # fail fast, before loading anything
    _check_version_free(export_dir, version)
    model, keras_file, run_config = load_checkpoint(checkpoint)
    overrides = {"task": task, "label_names": label_names, "is_pair": is_pair}
    run_config.update({k: v for k, v in overrides.items() if v is not None})
    return export_model(
        model, export_dir, version=version, run_config=run_config,
        checkpoint=str(keras_file),
    )


def read_metadata(version_dir) -> dict:
    """The `assets.extra/power_bert.json` of an exported version directory."""
    path = Path(version_dir) / "assets.extra" / METADATA_FILENAME
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# gRPC client helper
# ---------------------------------------------------------------------------
def make_predict_request(texts, model_name: str,
                         signature_name: str = SIGNATURE_TEXT,
                         pair: bool = False, version: int | None = None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for raw text.

    Args:
        texts: a list of strings (str or bytes); with `pair=True`, a list
            of `(sentence1, sentence2)` pairs.
        model_name: the TF Serving model name (`MODEL_NAME`).
        signature_name: `serving_default` for text.
        pair: whether the model is a sentence-pair model.
        version: pin a model version (default: the latest served).

    Example:
    >>> request = make_predict_request(["a fine film"], "power_bert")
    >>> stub.Predict(request, 10.0)  # doctest: +SKIP
    """
    from tensorflow_serving.apis import predict_pb2

    def as_bytes(values):
        return np.array(
            [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values],
            dtype=object,
        )

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    if pair:
        pairs = [tuple(p) for p in texts]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("pair=True needs (sentence1, sentence2) pairs")
        first = [p[0] for p in pairs]
        second = [p[1] for p in pairs]
        inputs = {"sentence1": as_bytes(first), "sentence2": as_bytes(second)}
    else:
        if isinstance(texts, (str, bytes)):
            texts = [texts]
        inputs = {"sentence": as_bytes(list(texts))}
    for name, values in inputs.items():
        request.inputs[name].CopyFrom(
            tf.make_tensor_proto(values, dtype=tf.string, shape=[len(values)])
        )
    return request


def predict_request_inputs(request) -> dict:
    """The request's input tensors back as numpy arrays (for local checks)."""
    return {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}


def rest_response(outputs) -> dict:
    """TF Serving's REST answer (row format) for signature `outputs`.

    What `POST /v1/models/<name>:predict` with `{"instances": [...]}` returns:
    `{"predictions": [{output: value, ...}, ...]}`, one object per instance;
    with a single output (regression's `score`) each prediction is the bare
    value. Strings are decoded from UTF-8 (TF Serving writes non-UTF-8 bytes
    as `{"b64": ...}`). TF Serving may print floats with fewer digits.
    """
    import base64

    arrays = {name: np.asarray(value) for name, value in outputs.items()}

    def plain(value):
        if isinstance(value, np.ndarray):
            return [plain(v) for v in value]
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(value).decode("ascii")}
        return value.item() if isinstance(value, np.generic) else value

    count = len(next(iter(arrays.values()))) if arrays else 0
    if len(arrays) == 1:
        (values,) = arrays.values()
        return {"predictions": [plain(values[i]) for i in range(count)]}
    return {
        "predictions": [
            {name: plain(arrays[name][i]) for name in sorted(arrays)}
            for i in range(count)
        ]
    }
