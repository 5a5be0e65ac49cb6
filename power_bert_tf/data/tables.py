"""Your own labelled text files (CSV, TSV or JSON Lines; `--train-file`) as a `GlueTask`
(`table_task`). Every problem raises `GlueDataError` naming the file (and
the line and column, where a row is at fault)."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass

import numpy as np

from power_bert_tf.data.examples import GlueDataError, GlueExamples
from power_bert_tf.data.tasks import GlueTask

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
ID_COLUMNS = ("id", "idx", "index", "guid")
CLASSIFICATION_METRICS = ("accuracy", "f1", "mcc")
REGRESSION_METRICS = ("pearson", "spearman")
# BERT-base's usual fine-tuning settings and a mid-range LAMBDA start.
TABLE_SEQ_LEN = 128
TABLE_HPARAMS = {"lr_bert": 2e-5, "lr_soft_extract": 1e-3, "lambda_": 1e-3, "batch_size": 32}


@dataclass(frozen=True)
class TableSource:
    """Where a table task's splits are (`files`: split -> path; "dev" is the validation file) and
    which columns hold the text (one, or two for a pair) and the label (test files may lack it)."""

    files: tuple[tuple[str, str], ...]
    text_columns: tuple[str, ...]
    label_column: str

    def file(self, split: str) -> str:
        path = dict(self.files).get(split)
        if path is None:
            flag = {"dev": "--validation-file", "test": "--test-file"}.get(split, "--train-file")
            raise GlueDataError(f"no {split} file: pass {flag}")
        return path


def read_rows(path: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(column names, [(line number, {column: value})]) of a CSV, TSV or JSON Lines file.

    Raises:
        GlueDataError: an unknown extension, a missing or empty file, invalid UTF-8, a row with
            the wrong number of fields, a JSON line that is not an object (naming file and line).
    """
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise GlueDataError(
            f"{path}: unknown format {extension or '(no extension)'}; "
            "name the file .csv, .tsv or .jsonl (JSON Lines)"
        )
    if not os.path.isfile(path):
        raise GlueDataError(f"{path}: file not found")
    kind = FORMATS[extension]
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = _json_rows(path, handle) if kind == "jsonl" else _csv_rows(path, handle, kind)
    except UnicodeDecodeError as error:
        raise GlueDataError(
            f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    if not rows[1]:
        raise GlueDataError(f"{path}: no data rows")
    return rows


def _csv_rows(path, handle, kind):
    reader = csv.reader(handle, delimiter="," if kind == "csv" else "\t")
    try:
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise GlueDataError(f"{path}: empty file (expected a header row of column names)")
        rows = []
        for fields in reader:
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                raise GlueDataError(
                    f"{path}:{reader.line_num}: {len(fields)} fields where the header has "
                    f"{len(header)} ({', '.join(header)}); is it a {kind.upper()} file?"
                )
            rows.append((reader.line_num, dict(zip(header, fields))))
    except csv.Error as error:
        raise GlueDataError(
            f"{path}:{reader.line_num}: not valid {kind.upper()} ({error})"
        ) from None
    return header, rows


def _json_rows(path, handle):
    columns: dict[str, None] = {}
    rows = []
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as error:
            raise GlueDataError(
                f"{path}:{line}: not a JSON object ({error.msg}); .jsonl files hold one per line"
            ) from None
        if not isinstance(row, dict):
            raise GlueDataError(f"{path}:{line}: a JSON {type(row).__name__}, not an object")
        columns.update(dict.fromkeys(row))
        rows.append((line, {k: "" if v is None else str(v) for k, v in row.items()}))
    return list(columns), rows


def _text_columns(path: str, columns: list[str], label: str, given) -> tuple[str, ...]:
    if given:
        names = tuple(given)
        _check_columns(f"{path}: --text-columns: no column", names, columns)
    else:
        names = tuple(c for c in columns if c != label and c.lower() not in ID_COLUMNS)
    if len(names) not in (1, 2):
        raise GlueDataError(
            f"{path}: {len(names)} text columns ({', '.join(names) or 'none'}); pass "
            "--text-columns with one column, or two for a pair"
        )
    return names


def _check_columns(where: str, wanted: tuple[str, ...], columns: list[str], hint: str = "") -> None:
    for column in wanted:
        if column not in columns:
            raise GlueDataError(f"{where} {column!r} (columns: {', '.join(columns)}){hint}")


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _number(path: str, line: int, column: str, value: str) -> float:
    if not _is_number(value):
        raise GlueDataError(
            f"{path}:{line}: column {column!r}: {value!r} is not a number "
            "(a regression task needs numeric labels)"
        )
    return float(value)


def table_task(
    train_file: str,
    validation_file: str | None = None,
    test_file: str | None = None,
    text_columns=None,
    label_column: str = "label",
    regression: bool | None = None,
    metric: str | None = None,
    name: str | None = None,
) -> GlueTask:
    """The task of your own files, its labels (sorted) and kind read from `train_file`.

    Args:
        train_file, validation_file, test_file: CSV, TSV or JSON Lines with a header / keys.
        text_columns, label_column, metric: see `RunConfig`; an `ID_COLUMNS` column is no text.
        regression: True / False to force it; None: regression when every training label is a number
            and one of them is not a whole number.
        name: the task's name (default: the training file's name without extension).

    Raises:
        GlueDataError: naming the file, line and column at fault.
    """
    columns, rows = read_rows(train_file)
    _check_columns(
        f"{train_file}: no label column", (label_column,), columns, "; pass --label-column"
    )
    texts = _text_columns(train_file, columns, label_column, text_columns)
    values = [_cell(train_file, line, row, label_column) for line, row in rows]
    numbers = all(_is_number(v) for v in values)
    if regression is None:
        regression = numbers and any(not float(v).is_integer() for v in values)
    if regression:
        for (line, _), value in zip(rows, values):
            _number(train_file, line, label_column, value)
    labels = () if regression else tuple(sorted(set(values), key=float if numbers else None))
    if not regression and len(labels) < 2:
        raise GlueDataError(
            f"{train_file}: column {label_column!r} has one label only ({labels[0]!r})"
        )
    files = (("train", train_file), ("dev", validation_file), ("test", test_file))
    return own_task(
        name or os.path.splitext(os.path.basename(train_file))[0],
        labels,
        is_pair=len(texts) == 2,
        metric=metric,
        table=TableSource(tuple((s, p) for s, p in files if p), texts, label_column),
    )


def own_task(
    name: str,
    label_names: tuple[str, ...],
    is_pair: bool,
    metric: str | None,
    seq_len: int = TABLE_SEQ_LEN,
    table: TableSource | None = None,
    flag: str = "--metric",
) -> GlueTask:
    """A task that is not a GLUE preset: your files (`table`) or data in memory (`accelerate`,
    `table=None`). `label_names` in class-id order, empty for regression; `metric` None: the
    kind's default; GlueDataError, naming the metric as `flag`, for one that does not fit."""
    regression = not label_names
    allowed = REGRESSION_METRICS if regression else CLASSIFICATION_METRICS
    metric = metric or allowed[0]
    if metric not in allowed:
        kind = "regression" if regression else "classification"
        raise GlueDataError(
            f"{flag} {metric!r} does not fit a {kind} task (one of {', '.join(allowed)})"
        )
    files = dict(table.files) if table else {}
    return GlueTask(
        name=name,
        directory="",
        seq_len=seq_len,
        num_classes=max(len(label_names), 1),
        label_names=tuple(label_names),
        is_pair=is_pair,
        metric=metric,
        dev_file=files.get("dev", ""),
        test_file=files.get("test", ""),
        tfds_name="",
        table=table,
        **TABLE_HPARAMS,
    )


def _cell(path: str, line: int, row: dict, column: str) -> str:
    value = row.get(column)
    if value is None:
        raise GlueDataError(f"{path}:{line}: no {column!r} field")
    return value.strip()


def read_table_split(task: GlueTask, split: str) -> GlueExamples:
    """One split of a table task (`table_task`): texts, labels (None when a test file has none).

    Raises:
        GlueDataError: a missing column, an empty text, a label the training file does not have
            or that is not a number (naming the file, line and column).
    """
    source = task.table
    path = source.file(split)
    columns, rows = read_rows(path)
    _check_columns(f"{path}: no text column", source.text_columns, columns)
    if split != "test":
        _check_columns(f"{path}: no label column", (source.label_column,), columns)
    labelled = source.label_column in columns
    texts: tuple[list[str], ...] = tuple([] for _ in source.text_columns)
    labels = []
    ids = {label: i for i, label in enumerate(task.label_names)}
    for line, row in rows:
        for out, column in zip(texts, source.text_columns):
            text = _cell(path, line, row, column)
            if not text:
                raise GlueDataError(f"{path}:{line}: column {column!r} is empty")
            out.append(text)
        if labelled:
            labels.append(
                _label(path, line, _cell(path, line, row, source.label_column), task, ids)
            )
    return GlueExamples(
        task=task,
        split=split,
        texts=texts,
        labels=np.asarray(labels, task.label_dtype) if labelled else None,
        indices=np.arange(len(rows), dtype=np.int64),
        path=path,
    )


def _label(path: str, line: int, value: str, task: GlueTask, ids: dict) -> float:
    column = task.table.label_column
    if task.is_regression:
        return _number(path, line, column, value)
    if value in ids:
        return ids[value]
    numeric = _is_number(value) and all(_is_number(label) for label in ids)
    match = next((label for label in ids if numeric and float(label) == float(value)), None)
    if match is None:
        raise GlueDataError(
            f"{path}:{line}: column {column!r}: label {value!r} is not in the training file's "
            f"labels ({', '.join(ids)})"
        )
    return ids[match]


def table_record(task: GlueTask) -> dict:
    """What `table_task` needs to make `task` again, JSON-ready (run_config.json keeps it)."""
    files = dict(task.table.files)
    return {
        "train_file": files["train"],
        "validation_file": files.get("dev"),
        "test_file": files.get("test"),
        "text_columns": list(task.table.text_columns),
        "label_column": task.table.label_column,
        "regression": task.is_regression,
        "metric": task.metric,
        "name": task.name,
    }
