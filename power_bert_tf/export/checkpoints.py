"""What an export reads from a training run (what it delivers, and its `run_config.json`),
through `power_bert_tf.runs`, whose `RunError` becomes `ExportError`."""

from __future__ import annotations

import os
from pathlib import Path

from power_bert_tf.export.errors import ExportError
from power_bert_tf.runs import (
    DELIVERED,
    RunError,
    load_classifier,
    resolve_checkpoint,
    run_directory_of,
)


def checkpoint_and_run_config(checkpoint) -> tuple[Path, dict]:
    """The `.keras` file to export and its run's `run_config.json` (or {}).

    Args:
        checkpoint: a run output directory or a `.keras` file (`~` is expanded).

    Raises:
        ExportError: naming the path: nothing exportable there, or an unreadable run config.
    """
    path = Path(os.fspath(checkpoint)).expanduser()
    try:
        keras_file = Path(resolve_checkpoint(path, DELIVERED))
        return keras_file, run_directory_of(keras_file).run_config()
    except RunError as error:
        raise ExportError(str(error)) from None


def load_for_export(checkpoint):
    """`(model, keras_file, run_config)` for a run directory or `.keras` file.

    Raises:
        ExportError: naming the file, when it is missing, unreadable or not a
            `PowerBertClassifier`.
    """
    keras_file, run_config = checkpoint_and_run_config(checkpoint)
    try:
        model = load_classifier(keras_file)
    except RunError as error:
        raise ExportError(str(error)) from error
    return model, keras_file, run_config


def step_record(keras_file) -> dict:
    """The record of the step that wrote `keras_file` (`retrain.keras` -> results.json's
    `steps.retrain`: its dev metric and, after a --budgets retrain, its budgets); {} if none."""
    keras_file = Path(keras_file)
    try:
        results = run_directory_of(keras_file).results()
    except RunError as error:
        raise ExportError(str(error)) from None
    return dict(results.get("steps", {}).get(keras_file.stem, {}))
