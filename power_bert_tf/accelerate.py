"""`accelerate`: `scripts/run_glue.py`'s search and retrain from Python, on texts in memory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from power_bert_tf.config import RunConfig
from power_bert_tf.data import GlueDataError, GlueExamples, GlueTask
from power_bert_tf.data.tables import own_task
from power_bert_tf.errors import PipelineError, as_pipeline_error
from power_bert_tf.models import PowerBertClassifier

GIVEN_CHECKPOINT = "given.keras"  # the model you passed, saved where the run starts from


def accelerate(
    model,
    train,
    validation,
    output_dir: str,
    *,
    metric: str | None = None,
    label_names: Sequence[str] | None = None,
    name: str = "dataset",
    on_epoch_end: Callable[[str, object], None] | None = None,
    **options,
) -> dict:
    """Search and retrain a fine-tuned classifier; returns `results.json`'s content.

    Args:
        model: a fine-tuned `PowerBertClassifier` (mode "none") or keras-hub text classifier
            (`PowerBertClassifier.from_text_classifier`), with its preprocessor (raw texts).
        train: (text, label) or ((text_a, text_b), label) examples, a `tf.data.Dataset` (batched
            or not) or any iterable; a part is held out to choose epochs and configurations on.
        validation: the same kind of examples; only read for the reported numbers.
        output_dir: the run directory; running again with the same arguments resumes (another
            model there is refused; `overwrite=True` starts afresh).
        metric: accuracy (default), f1 or mcc; pearson (default) or spearman for a regressor.
        label_names: the class names, in class-id order (recorded for export).
        name: the task's name in the records.
        on_epoch_end: `on_epoch_end(step, record)` after each search and retrain epoch
            (`record`: a `training.EpochRecord`).
        **options: any other `RunConfig` field: the goal (`max_metric_drop`, default 1.0;
            `target_flops`; `lambda_`; `retention`), `epochs`, `patience`, `search_epochs`,
            `batch_size`, `lr_bert`, `seed`, `budgets`, `distill`, `verbose`, ...

    Raises:
        PipelineError: a bad option or data (naming it).

    Example:
    >>> import tempfile
    >>> model = PowerBertClassifier.from_preset("minilm", num_classes=2, sequence_length=8)
    >>> words = ["good", "bad", "fine", "awful", "great", "poor"]
    >>> data = [(f"{a} and {b}", int(a in ("good", "fine", "great"))) for a in words for b in words]
    >>> results = accelerate(model, data, data[:8], tempfile.mkdtemp(), target_flops=0.7,
    ...                      search_epochs=1, epochs=1, batch_size=36, verbose=0)
    >>> results["delivered"], results["flops_fraction"] <= 0.75
    ('retrain', True)
    """
    from power_bert_tf.pipeline import Pipeline

    if not isinstance(model, PowerBertClassifier):
        model = PowerBertClassifier.from_text_classifier(model)
    if model.mode != "none":
        raise PipelineError(
            f"accelerate() takes a fine-tuned model (mode 'none'), got mode {model.mode!r}"
        )
    if model.preprocessor is None:
        raise PipelineError("the model has no preprocessor: accelerate() reads raw texts")
    train_rows, dev_rows = _rows(train, "train"), _rows(validation, "validation")
    task = _task(model, name, train_rows, metric, label_names)
    splits = {
        "train": _examples(task, "train", train_rows),
        "dev": _examples(task, "dev", dev_rows),
    }
    os.makedirs(output_dir, exist_ok=True)
    given = os.path.join(output_dir, GIVEN_CHECKPOINT)
    if options.get("overwrite") or not os.path.isfile(given):
        model.save(given)
    elif not _same_weights(model, given):  # resuming would search and retrain the other model
        raise PipelineError(
            f"{given}: {output_dir} holds a run of another model; pass overwrite=True to start "
            "afresh, or another output_dir"
        )
    config = RunConfig(
        task=name,
        output_dir=output_dir,
        checkpoint=given,
        steps=("search", "retrain"),
        seq_len=model.sequence_length,
        **options,
    )
    pipeline = Pipeline(replace(config, _task=task), splits=splits)
    pipeline.on_epoch_end = on_epoch_end
    return pipeline.run()


def _same_weights(model, path: str) -> bool:
    """`model`'s weights are those of the `PowerBertClassifier` saved at `path`."""
    import keras

    from power_bert_tf.runs import load_classifier

    saved = {v.path: v for v in load_classifier(path).weights}
    ours = {v.path: v for v in model.weights}
    return saved.keys() == ours.keys() and all(
        np.array_equal(keras.ops.convert_to_numpy(v), keras.ops.convert_to_numpy(saved[k]))
        for k, v in ours.items()
    )


def _rows(data, which: str) -> list[tuple[tuple[str, ...], float]]:
    """[(texts, label)] from a tf.data.Dataset (batched or not) or an iterable of pairs."""
    import tensorflow as tf  # loaded already: the pipeline runs on it

    if isinstance(data, tf.data.Dataset):
        data = data.as_numpy_iterator()
    rows = []
    for number, item in enumerate(data if isinstance(data, Iterable) else [], start=1):
        try:
            x, y = item
        except (TypeError, ValueError):
            raise PipelineError(
                f"{which} example {number}: expected (text, label), got {item!r}"
            ) from None
        texts = x if isinstance(x, tuple) else (x,)
        columns = [np.atleast_1d(np.asarray(t)) for t in texts]
        labels = np.atleast_1d(np.asarray(y))
        for i, label in enumerate(labels):  # a batch, or one example
            row = tuple(_text(c[i], which, number) for c in columns)
            rows.append((row, float(label)))
    if not rows:
        raise PipelineError(f"{which}: no examples")
    if len({len(texts) for texts, _ in rows}) != 1:
        raise PipelineError(f"{which}: examples mix single texts and pairs")
    return rows


def _text(value, which: str, number: int) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise PipelineError(
        f"{which} example {number}: a text must be a string, got {type(value).__name__}"
    )


def _task(model, name, rows, metric, label_names) -> GlueTask:
    regression = model.is_regression
    names = () if regression else tuple(label_names or (str(i) for i in range(model.num_classes)))
    if not regression and len(names) != model.num_classes:
        raise PipelineError(f"label_names has {len(names)} names for {model.num_classes} classes")
    with as_pipeline_error(GlueDataError):
        return own_task(
            name, names, len(rows[0][0]) == 2, metric, model.sequence_length, flag="metric"
        )


def _examples(task: GlueTask, split: str, rows) -> GlueExamples:
    labels = np.asarray([label for _, label in rows])
    if not task.is_regression:
        bad = [y for y in labels if y != int(y) or not 0 <= y < task.num_classes]
        if bad:
            raise PipelineError(
                f"{split}: label {bad[0]:g} is not a class id in [0, {task.num_classes})"
            )
    return GlueExamples(
        task=task,
        split=split,
        texts=tuple(list(column) for column in zip(*(texts for texts, _ in rows))),
        labels=labels.astype(task.label_dtype),
        indices=np.arange(len(rows), dtype=np.int64),
        path=f"<{split} data>",
    )
