"""GLUE splits from the official directory layout (else TFDS), split on tabs only (no CSV quoting:
MRPC, STS-B and QQP contain ``"``), and ``index<TAB>prediction`` files written atomically. Data
problems raise :class:`GlueDataError` naming the file and, where a line is at fault, the line."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from power_bert_tf.data import tfds as tfds_loader
from power_bert_tf.data.examples import GlueDataError, GlueExamples
from power_bert_tf.data.tables import read_table_split
from power_bert_tf.data.tasks import GlueTask, as_task, split_file
from power_bert_tf.files import write_text_atomically


@dataclass(frozen=True)
class _Columns:
    """Where the fields of one kind of file are (negative positions: from the end of the line)."""

    text: tuple[int, ...]
    label: int | None = None
    index: int | None = None
    header: bool = True

    @property
    def min_fields(self) -> int:
        """Fewest fields a line may have: every column exists and the texts precede the label."""
        last = max(c for c in (*self.text, self.label, self.index) if c is not None and c >= 0)
        return last + 1 - (self.label if self.label is not None and self.label < 0 else 0)


@dataclass(frozen=True)
class _Format:
    labeled: _Columns  # train and dev files
    test: _Columns
    numeric_labels: bool  # raw labels are "0", "1", ... (else the label names themselves)


# As the GLUE reference readers: a label at -1 is the last field (real MNLI has stray extra fields).
_FORMATS: dict[str, _Format] = {
    "CoLA": _Format(_Columns((3,), label=1, header=False), _Columns((1,), index=0), True),
    "SST-2": _Format(_Columns((0,), label=1), _Columns((1,), index=0), True),
    "MRPC": _Format(_Columns((3, 4), label=0), _Columns((3, 4), index=0), True),
    "STS-B": _Format(_Columns((7, 8), label=-1), _Columns((7, 8), index=0), True),
    "QQP": _Format(_Columns((3, 4), label=5), _Columns((1, 2), index=0), True),
    "MNLI": _Format(_Columns((8, 9), label=-1), _Columns((8, 9), index=0), False),
    "QNLI": _Format(_Columns((1, 2), label=-1), _Columns((1, 2), index=0), False),
    "RTE": _Format(_Columns((1, 2), label=-1), _Columns((1, 2), index=0), False),
    "WNLI": _Format(_Columns((1, 2), label=-1), _Columns((1, 2), index=0), True),
}


def raw_labels(task: GlueTask) -> tuple[str, ...]:
    """The label strings of a classification task's files (and of GLUE submissions), in
    class-id order: ``("0", "1", ...)`` where GLUE files hold numbers, else its label names."""
    if task.table is not None or not _FORMATS[task.directory].numeric_labels:
        return task.label_names  # a table's labels are its files' own values
    return tuple(str(i) for i in range(len(task.label_names)))


def _directory(data_dir: str | os.PathLike) -> str:
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise GlueDataError(f"{data_dir}: GLUE data directory not found")
    return data_dir


def _read_lines(path: str, columns: _Columns) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` per data line (split on ``\\n`` and tabs only)."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise GlueDataError(
                    f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})"
                ) from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            fields = line.removesuffix("\n").removesuffix("\r").split("\t")
            if len(fields) < columns.min_fields:
                raise GlueDataError(
                    f"{path}:{lineno}: expected at least {columns.min_fields} "
                    f"tab-separated fields, found {len(fields)}"
                )
            if not (lineno == 1 and columns.header):
                yield lineno, fields


def _label(value: str, where: str, ids: dict[str, int] | None) -> float:
    """A raw label's class id in `ids`, or (None: STS-B) its score; GlueDataError if bad."""
    if ids is not None:
        if value.strip() not in ids:
            raise GlueDataError(
                f"{where}: unknown label {value!r} (expected one of {', '.join(ids)})"
            )
        return ids[value.strip()]
    try:
        score = float(value)
    except ValueError:
        raise GlueDataError(f"{where}: STS-B score {value!r} is not a number") from None
    if not 0.0 <= score <= 5.0:
        raise GlueDataError(f"{where}: STS-B score {value!r} is outside [0, 5]")
    return score


def _parse_index(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise GlueDataError(f"{where}: index {value!r} is not an integer") from None


def read_glue_split(task: GlueTask | str, split: str, data_dir: str | os.PathLike) -> GlueExamples:
    """Read ``split`` ("train", "dev" or "test") of ``task`` (or its name) from the task's own
    directory (e.g. ``.../glue/CoLA``); test files give ``labels=None``.

    Raises:
        GlueDataError: a missing directory or file, or a bad line (the message names file and line).
        ValueError: an unknown task or split.
    """
    task = as_task(task)
    data_dir = _directory(data_dir)
    path = os.path.join(data_dir, split_file(task, split))
    if not os.path.isfile(path):
        inner = os.path.join(data_dir, task.directory)
        hint = f" (pass the task directory {inner})" if os.path.isdir(inner) else ""
        raise GlueDataError(f"{path}: file not found{hint}")
    fmt = _FORMATS[task.directory]
    columns = fmt.test if split == "test" else fmt.labeled
    ids = None if task.is_regression else {raw: i for i, raw in enumerate(raw_labels(task))}
    texts: tuple[list[str], ...] = tuple([] for _ in columns.text)
    labels, indices = [], []
    for lineno, fields in _read_lines(path, columns):
        where = f"{path}:{lineno}"
        for out, c in zip(texts, columns.text):
            out.append(fields[c])
        if columns.label is not None:
            labels.append(_label(fields[columns.label], where, ids))
        if columns.index is None:
            indices.append(len(indices))
        else:
            indices.append(_parse_index(fields[columns.index], where))
    if not indices:
        raise GlueDataError(f"{path}: no data rows")
    return GlueExamples(
        task=task,
        split=split,
        texts=texts,
        labels=np.asarray(labels, task.label_dtype) if labels else None,
        indices=np.asarray(indices, np.int64),
        path=path,
    )


def resolve_data_dir(task: GlueTask | str, data_dir: str | os.PathLike | None = None) -> str | None:
    """The directory to read ``task`` from: ``data_dir`` (which must exist), else
    ``$GLUE_DIR/<task.directory>`` if it exists, else None (use TFDS).

    Raises:
        GlueDataError: an explicit ``data_dir`` that is not a directory.
    """
    task = as_task(task)
    if data_dir is not None:
        return _directory(data_dir)
    glue_dir = os.environ.get("GLUE_DIR")
    if glue_dir and os.path.isdir(os.path.join(glue_dir, task.directory)):
        return os.path.join(glue_dir, task.directory)
    return None


def load_split(
    task: GlueTask | str, split: str, data_dir: str | os.PathLike | None = None
) -> GlueExamples:
    """Read a split: a table task's file, else :func:`resolve_data_dir`'s directory, else TFDS.

    Raises:
        GlueDataError: bad files, or no directory and TFDS unreachable.
    """
    task = as_task(task)
    if task.table is not None:  # your own files: their paths are the task's
        return read_table_split(task, split)
    directory = resolve_data_dir(task, data_dir)
    if directory is None:  # looked up at call time: tests replace the loader
        return tfds_loader.load_tfds_split(task, split)
    return read_glue_split(task, split, directory)


def write_glue_predictions(
    path: str | os.PathLike,
    task: GlueTask | str,
    examples: GlueExamples,
    predictions: Sequence | np.ndarray,
) -> None:
    """Write a GLUE-server submission (the task's raw labels, or STS-B scores to 3 decimals).

    Args:
        examples: the test split the predictions are for (its ``indices`` fill the index column).
        predictions: one class id (an integer array) or STS-B score per example.

    Raises:
        ValueError: a wrong number of predictions, or class ids that are not integers in range.
    """
    task = as_task(task)
    predictions = np.asarray(predictions)
    if predictions.shape != (len(examples),):
        raise ValueError(f"expected {len(examples)} predictions, got shape {predictions.shape}")
    if task.is_regression:
        cells = [f"{float(p):.3f}" for p in predictions]
    else:
        raw = raw_labels(task)
        in_range = np.all((predictions >= 0) & (predictions < len(raw)))
        if not (np.issubdtype(predictions.dtype, np.integer) and in_range):
            raise ValueError(f"predictions must be class ids in [0, {len(raw)}) for {task.name}")
        cells = [raw[p] for p in predictions]
    write_prediction_rows(path, examples.indices, cells)


def write_prediction_rows(path: str | os.PathLike, indices: Sequence, values: Sequence) -> None:
    """Write ``index<TAB>prediction`` with a header, one row per example, atomically.

    Args:
        path: the file to (over)write; its directory is created when missing.
        values: the prediction column, written with ``str``; as long as ``indices``.
    """
    rows = "".join(f"{index}\t{value}\n" for index, value in zip(indices, values))
    write_text_atomically(path, "index\tprediction\n" + rows)
