"""The serving module, its signatures (`serving_default` on raw text, `serve_token_ids` on
`model.input_features`), and writing it as a TF Serving version directory. The saved object
graph tracks the model's variables, not the Keras model: loading needs neither."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from power_bert_tf.data.datasets import trim_to_longest
from power_bert_tf.errors import ExportError
from power_bert_tf.export.metadata import (
    MAX_BATCH_SIZE,
    SIGNATURE_TEXT,
    SIGNATURE_TOKEN_IDS,
    check_exportable,
    export_metadata,
    staged_version,
    version_directory,
    write_metadata,
)
from power_bert_tf.export.packing import text_featurizer
from power_bert_tf.runs import (
    DELIVERED,
    RunError,
    load_classifier,
    resolve_checkpoint,
    run_directory_of,
)


def _function(python_function, names, dtype, shape):
    """A tf.function of `python_function(*tensors)` whose signature names its inputs `names`."""
    specs = [tf.TensorSpec(shape, dtype, name=name) for name in names]
    return tf.function(python_function, input_signature=specs, autograph=False)


def _token_id_checks(features: dict, max_length: int, vocabulary_size: int, num_segments: int):
    """Assertions that turn a malformed token-id request into InvalidArgument."""
    token_ids = features["token_ids"]
    shape = tf.shape(token_ids)
    checks = [
        tf.debugging.assert_equal(
            tf.shape(features[name]), shape, message=f"{name} must have the shape of token_ids"
        )
        for name in features
        if name != "token_ids"
    ]
    checks += [
        tf.debugging.assert_less_equal(
            shape[1],
            max_length,
            message=f"inputs may have at most {max_length} tokens (sequence_length)",
        ),
        tf.debugging.assert_greater(shape[1], 0, message="inputs need at least one token ([CLS])"),
        tf.debugging.assert_non_negative(token_ids, message="token_ids must be >= 0"),
        tf.debugging.assert_less(
            token_ids,
            vocabulary_size,
            message=f"token_ids must be < vocabulary size {vocabulary_size}",
        ),
    ]
    if "segment_ids" in features:
        segment_ids = features["segment_ids"]
        checks += [
            tf.debugging.assert_non_negative(segment_ids, message="segment_ids must be >= 0"),
            tf.debugging.assert_less(
                segment_ids, num_segments, message=f"segment_ids must be < {num_segments}"
            ),
        ]
    return checks


def _checked(tensors: dict, checks: list, max_batch_size: int) -> dict:
    """`tensors`, computed only after `checks` and the batch-size check pass."""
    batch_size = tf.shape(next(iter(tensors.values())))[0]
    message = f"a request may hold at most {max_batch_size} examples (max_batch_size)"
    checks = [*checks, tf.debugging.assert_less_equal(batch_size, max_batch_size, message=message)]
    with tf.control_dependencies(checks):
        return {name: tf.identity(value) for name, value in tensors.items()}


LENGTH_MULTIPLE = 16  # request lengths are padded up to a multiple: few shapes to compile


def bucketed(features: dict, multiple: int, max_length: int) -> dict:
    """`features` (padding removed) padded up to the next multiple of `multiple`, at most
    `max_length` (exact: padding is masked and ranks last)."""
    length = tf.shape(features["padding_mask"])[1]
    target = tf.maximum(
        tf.minimum((length + multiple - 1) // multiple * multiple, max_length), length
    )
    return {name: tf.pad(value, [[0, 0], [0, target - length]]) for name, value in features.items()}


def _head(model, label_names, length_multiple: int = 1, jit_compile: bool = False):
    """features -> the signature's outputs: padding removed, the length bucketed, the model."""
    max_length = int(model.sequence_length)
    encode = tf.function(lambda features: model(features, training=False), jit_compile=jit_compile)

    def head(features):
        features = trim_to_longest(features)  # TF Serving's batching pads
        if length_multiple > 1:
            features = bucketed(features, length_multiple, max_length)
        outputs = tf.cast(encode(features), tf.float32)
        if model.is_regression:
            return {"score": outputs[:, 0]}
        return {
            "logits": outputs,
            "probabilities": tf.nn.softmax(outputs, axis=-1),
            "label": tf.gather(label_names, tf.argmax(outputs, axis=-1, output_type=tf.int32)),
        }

    return head


def build_serving_module(model, metadata: dict, asset_dir: str | None = None):
    """A `tf.Module` whose tf.functions run `model` (TensorFlow backend).

    Args:
        model: a built `PowerBertClassifier` (with a preprocessor for the text signature).
        metadata: `export_metadata(...)`, plus `length_multiple` and `jit_compile`; each
            budget after the first is served by `model.sharing_weights`.
        asset_dir: where the tokenizer's asset files are written so the
            SavedModel copies them into `assets/` (none written if None).

    Returns:
        `(module, signatures)`: pass both to `tf.saved_model.save`.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            "SavedModel export needs the TensorFlow Keras backend "
            f"(KERAS_BACKEND=tensorflow), not '{keras.backend.backend()}'"
        )
    text = SIGNATURE_TEXT in metadata["signatures"]
    check_exportable(model, text)
    preprocessor = getattr(model, "preprocessor", None)
    max_length = int(model.sequence_length)
    text_length = int(metadata["sequence_length"])
    if text and model.mode != "none" and text_length > max_length:
        raise ExportError(
            f"preprocessor sequence_length {text_length} exceeds the model's {max_length}"
        )
    vocabulary_size = int(model.backbone.vocabulary_size)
    num_segments = int(getattr(model.backbone, "num_segments", 2) or 2)
    max_batch_size = int(metadata["max_batch_size"])
    label_names = tf.constant(metadata["label_names"] or [""], tf.string)
    feature_names = tuple(model.input_features)
    text_names = ["sentence1", "sentence2"] if metadata["is_pair"] else ["sentence"]
    featurize = text_featurizer(preprocessor) if text else None

    module = tf.Module(name="power_bert_serving")
    module.model_variables = list(model.variables)  # not the Keras model: no Keras internals
    module.functions = {}  # signature name -> tf.function

    def serving_functions(head):
        def serve_token_ids(*tensors):
            features = dict(zip(feature_names, tensors))
            checks = _token_id_checks(features, max_length, vocabulary_size, num_segments)
            return head(_checked(features, checks, max_batch_size))

        def serve_text(*texts):
            texts = _checked(dict(zip(text_names, texts)), [], max_batch_size)
            return head(featurize(*texts.values()))

        return serve_token_ids, serve_text

    multiple, jit = int(metadata.get("length_multiple", 1)), bool(metadata.get("jit_compile"))
    for index, budget in enumerate(metadata["budgets"]):
        served = model if index == 0 else model.sharing_weights(budget["retention"])
        serve_token_ids, serve_text = serving_functions(_head(served, label_names, multiple, jit))
        module.functions[budget["token_ids_signature"]] = _function(
            serve_token_ids, feature_names, tf.int32, [None, None]
        )
        if budget["signature"]:
            module.functions[budget["signature"]] = _function(
                serve_text, text_names, tf.string, [None]
            )
    module.serve_token_ids = module.functions[SIGNATURE_TOKEN_IDS]
    if text:
        module.serve_text = module.functions[SIGNATURE_TEXT]
        module.tokenize = _function(featurize, text_names, tf.string, [None])
    signatures = {name: module.functions[name] for name in metadata["signatures"]}

    def variable(value, dtype=tf.string):
        return tf.Variable(value, dtype=dtype, trainable=False)

    names = metadata["label_names"]
    module.retention_config = variable(metadata["retention_config"] or "")
    module.task = variable(metadata["task"])
    module.mode = variable(metadata["mode"])
    module.label_names = variable(tf.constant(names, tf.string, shape=[len(names)]))
    module.sequence_length = variable(text_length, tf.int32)
    module.flops_fraction = variable(metadata["flops_fraction"], tf.float32)
    module.metadata_json = variable(json.dumps(metadata, sort_keys=True))

    tokenizer = getattr(preprocessor, "tokenizer", None)  # its files go to assets/
    if asset_dir is not None and hasattr(tokenizer, "save_assets"):
        tokenizer.save_assets(asset_dir)
        module.assets = [
            tf.saved_model.Asset(os.path.join(asset_dir, name))
            for name in sorted(os.listdir(asset_dir))
        ]
    return module, signatures


def export_model(
    model,
    export_dir,
    version: int | None = None,
    run_config: dict | None = None,
    checkpoint: str | None = None,
    *,
    text_signature: bool = True,
    budgets=(),
    dev_metric: float | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
    length_multiple: int = LENGTH_MULTIPLE,
    jit_compile: bool = False,
) -> str:
    """Write `model` as `<export_dir>/<version>/` (staged, then renamed into place); returns
    that path.

    Args:
        text_signature: include the raw-text `serving_default` signature (BERT /
            ALBERT backbones with a preprocessor); False exports `serve_token_ids` alone.
        budgets: results.json's `steps.retrain.budgets`: one more signature per budget
            (`budget_25`, `budget_25_token_ids`), sharing the variables.
        dev_metric: the model's dev metric, recorded beside its configuration.
        max_batch_size: larger requests get InvalidArgument.
        length_multiple: request lengths are padded up to a multiple of this (1: exact lengths).
        jit_compile: compile the encoder and head with XLA (docs/SERVING.md).
    """
    if length_multiple < 1:
        raise ExportError(f"length_multiple must be a positive integer, got {length_multiple}")
    final = version_directory(export_dir, version)
    metadata = export_metadata(
        model, run_config, checkpoint, text_signature, budgets, dev_metric, max_batch_size
    )
    metadata.update(
        version=int(final.name), length_multiple=int(length_multiple), jit_compile=bool(jit_compile)
    )
    with staged_version(final) as staging:
        with tempfile.TemporaryDirectory() as asset_dir:
            module, signatures = build_serving_module(model, metadata, asset_dir)
            tf.saved_model.save(module, str(staging), signatures=signatures)
        write_metadata(staging, metadata)
    return str(final)


def export_savedmodel(
    checkpoint,
    export_dir,
    version: int | None = None,
    *,
    task: str | None = None,
    label_names: Sequence[str] | None = None,
    is_pair: bool | None = None,
    text_signature: bool = True,
    max_batch_size: int = MAX_BATCH_SIZE,
    length_multiple: int = LENGTH_MULTIPLE,
    jit_compile: bool = False,
) -> str:
    """Export a training run's model for TF Serving (with its `--budgets` signatures, if any).

    Args:
        checkpoint: a run output directory (what it delivers, with `run_config.json`) or a
            `.keras` file.
        export_dir: the TF Serving model base path.
        version: the version directory to write (never an existing one); default the next.
        task, label_names, is_pair: override (or supply) the `run_config.json` values.
        text_signature, max_batch_size, length_multiple, jit_compile: see `export_model`.

    Returns:
        the path of the written version directory.

    Raises:
        ExportError: bad checkpoint, existing version, a model whose text signature cannot
            be built.
    """
    keras_file, run_config = checkpoint_and_run_config(checkpoint)
    version_directory(export_dir, version)  # fail fast, before loading anything
    try:
        model = load_classifier(keras_file)
        # The step that wrote it (`retrain.keras`: steps.retrain): its dev metric and budgets.
        record = run_directory_of(keras_file).results().get("steps", {}).get(keras_file.stem, {})
    except RunError as error:
        raise ExportError(str(error)) from None
    overrides = {"task": task, "label_names": label_names, "is_pair": is_pair}
    run_config.update({k: v for k, v in overrides.items() if v is not None})
    return export_model(
        model,
        export_dir,
        version=version,
        run_config=run_config,
        checkpoint=str(keras_file),
        budgets=record.get("budgets") or (),
        dev_metric=record.get("dev"),
        text_signature=text_signature,
        max_batch_size=max_batch_size,
        length_multiple=length_multiple,
        jit_compile=jit_compile,
    )


def checkpoint_and_run_config(checkpoint) -> tuple[Path, dict]:
    """The `.keras` file to export from `checkpoint` (a `.keras` file, or what a run directory
    delivers; `~` expanded) and its run's `run_config.json` (or {}). ExportError naming the path:
    nothing exportable there, or an unreadable run config."""
    try:
        keras_file = Path(resolve_checkpoint(Path(checkpoint).expanduser(), DELIVERED))
        return keras_file, run_directory_of(keras_file).run_config()
    except RunError as error:
        raise ExportError(str(error)) from None
