"""GLUE tasks: task table, TSV readers, TFDS fallback, tf.data pipelines, metrics and submission files.

Data come either from a directory in the official GLUE layout (the files ``download_glue_data.py`` writes:
``<dir>/train.tsv``, ``dev.tsv``, ``test.tsv``; MNLI ``dev_matched.tsv`` etc.) or, when no directory is
given, from TensorFlow Datasets (which needs network access or a prepared TFDS cache).

The TSV files are read by splitting on tabs only (no CSV quoting: MRPC, STS-B and QQP contain ``"``), with
the columns taken from one per-task table (``_FORMATS``). Every data problem raises :class:`GlueDataError`
naming the file and, where a line is at fault, its 1-based line number.
"""

from __future__ import annotations

import os
import socket
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from scipy import stats
from sklearn import metrics as skm

from power_bert_tf.files import write_text_atomically

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task with the original PoWER-BERT (IBM) hyper-parameters.

    ``num_classes`` is 1 (and ``label_names`` empty) for the regression task STS-B. ``metric`` names the
    primary metric key returned by :func:`compute_metrics`.
    """

    name: str
    directory: str
    seq_len: int
    num_classes: int
    label_names: tuple[str, ...]
    is_pair: bool
    metric: str
    dev_file: str
    test_file: str
    tfds_name: str
    lr_bert: float
    lr_soft_extract: float
    lambda_: float
    batch_size: int

    @property
    def is_regression(self) -> bool:
        """True for STS-B (a similarity score instead of a class id)."""
        return self.num_classes == 1


def _task(name: str, directory: str, seq_len: int, label_names: tuple[str, ...], is_pair: bool, metric: str,
          tfds_name: str, hparams: tuple[float, float, float, int], dev_file: str = "dev.tsv",
          test_file: str = "test.tsv") -> GlueTask:
    lr_bert, lr_soft_extract, lambda_, batch_size = hparams
    return GlueTask(name, directory, seq_len, max(len(label_names), 1), tuple(label_names), is_pair, metric,
                    dev_file, test_file, tfds_name, lr_bert, lr_soft_extract, lambda_, batch_size)


# Hyper-parameters (LR_BERT, LR_SOFT_EXTRACT, LAMBDA, BATCH_SIZE) from the IBM PoWER-BERT repository;
# WNLI is not in the original and uses RTE's.
_RTE_HPARAMS = (3e-5, 3e-3, 1e-3, 16)
_MNLI_LABELS = ("contradiction", "entailment", "neutral")  # GLUE / BERT order, not the TFDS order
_NLI_LABELS = ("entailment", "not_entailment")

TASKS: dict[str, GlueTask] = {t.name: t for t in (
    _task("cola", "CoLA", 64, ("unacceptable", "acceptable"), False, "mcc", "glue/cola",
          (2e-5, 1.5e-3, 7e-3, 32)),
    _task("sst-2", "SST-2", 64, ("negative", "positive"), False, "accuracy", "glue/sst2",
          (3e-5, 5e-4, 2e-4, 64)),
    _task("mrpc", "MRPC", 128, ("not_equivalent", "equivalent"), True, "f1", "glue/mrpc",
          (6e-5, 3e-3, 3e-3, 64)),
    _task("sts-b", "STS-B", 64, (), True, "spearman", "glue/stsb", (3e-5, 3e-3, 1e-3, 64)),
    _task("qqp", "QQP", 128, ("not_duplicate", "duplicate"), True, "f1", "glue/qqp", (3e-5, 1e-4, 3e-4, 64)),
    _task("mnli-m", "MNLI", 128, _MNLI_LABELS, True, "accuracy", "glue/mnli", (3e-5, 2e-4, 1e-4, 64),
          dev_file="dev_matched.tsv", test_file="test_matched.tsv"),
    _task("mnli-mm", "MNLI", 128, _MNLI_LABELS, True, "accuracy", "glue/mnli", (3e-5, 1e-4, 1e-4, 64),
          dev_file="dev_mismatched.tsv", test_file="test_mismatched.tsv"),
    _task("qnli", "QNLI", 128, _NLI_LABELS, True, "accuracy", "glue/qnli", (3e-5, 2e-4, 1.5e-4, 16)),
    _task("rte", "RTE", 256, _NLI_LABELS, True, "accuracy", "glue/rte", _RTE_HPARAMS),
    _task("wnli", "WNLI", 128, ("not_entailment", "entailment"), True, "accuracy", "glue/wnli", _RTE_HPARAMS),
)}


def _normalize(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_ALIASES = {_normalize(name): task for name, task in TASKS.items()}


def get_task(name: str) -> GlueTask:
    """Look a task up by name, ignoring case, ``-`` and ``_`` (so ``"SST2"``, ``"sts_b"`` work)."""
    task = _ALIASES.get(_normalize(name))
    if task is None:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return task


def _as_task(task: GlueTask | str) -> GlueTask:
    return task if isinstance(task, GlueTask) else get_task(task)


class GlueDataError(ValueError):
    """Missing or malformed GLUE data; the message names the file (and line) at fault."""


# --------------------------------------------------------------------------------------------------------
# File layouts


@dataclass(frozen=True)
class _Columns:
    """Where the fields of one kind of file are. Negative positions count from the end of the line."""

    text: tuple[int, ...]
    label: int | None = None
    index: int | None = None
    header: bool = True

    @property
    def min_fields(self) -> int:
        """Fewest fields a line may have so that every column exists and the texts precede the label."""
        last = max(c for c in (*self.text, self.label, self.index) if c is not None and c >= 0)
        return last + 1 - (self.label if self.label is not None and self.label < 0 else 0)


@dataclass(frozen=True)
class _Format:
    labeled: _Columns  # train and dev files
    test: _Columns
    numeric_labels: bool  # raw labels are "0", "1", ... (else the label names themselves)
    tfds_text: tuple[str, ...]  # TFDS feature names of the texts


# Column positions follow the GLUE reference readers (BERT's run_classifier.py / transformers' glue
# processors). As there, the label of STS-B, MNLI, QNLI, RTE and WNLI is the last field, so a line with stray
# extra fields after the texts (real MNLI has some) still gets its label; QQP is read by position only.
_FORMATS: dict[str, _Format] = {
    "CoLA": _Format(_Columns((3,), label=1, header=False), _Columns((1,), index=0), True, ("sentence",)),
    "SST-2": _Format(_Columns((0,), label=1), _Columns((1,), index=0), True, ("sentence",)),
    "MRPC": _Format(_Columns((3, 4), label=0), _Columns((3, 4), index=0), True, ("sentence1", "sentence2")),
    "STS-B": _Format(_Columns((7, 8), label=-1), _Columns((7, 8), index=0), True, ("sentence1", "sentence2")),
    "QQP": _Format(_Columns((3, 4), label=5), _Columns((1, 2), index=0), True, ("question1", "question2")),
    "MNLI": _Format(_Columns((8, 9), label=-1), _Columns((8, 9), index=0), False, ("premise", "hypothesis")),
    "QNLI": _Format(_Columns((1, 2), label=-1), _Columns((1, 2), index=0), False, ("question", "sentence")),
    "RTE": _Format(_Columns((1, 2), label=-1), _Columns((1, 2), index=0), False, ("sentence1", "sentence2")),
    "WNLI": _Format(_Columns((1, 2), label=-1), _Columns((1, 2), index=0), True, ("sentence1", "sentence2")),
}


def _raw_labels(task: GlueTask) -> tuple[str, ...]:
    """The label strings of the task's files (and of GLUE submissions), in class-id order."""
    if _FORMATS[task.directory].numeric_labels:
        return tuple(str(i) for i in range(len(task.label_names)))
    return task.label_names


# --------------------------------------------------------------------------------------------------------
# Examples


@dataclass
class GlueExamples:
    """The examples of one split.

    ``texts`` holds one list of strings per text column (one for single-sentence tasks, two for pairs);
    ``labels`` holds int32 class ids, float32 scores (STS-B) or is None (test splits); ``indices`` is the
    ``index``/``id`` column of test files (what a GLUE submission needs) and the row number otherwise.
    """

    task: GlueTask
    split: str
    texts: tuple[list[str], ...]
    labels: np.ndarray | None
    indices: np.ndarray
    path: str

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, n: int, seed: int) -> GlueExamples:
        """A reproducible random subsample of ``n`` examples, in their original order (all if n >= len)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n >= len(self):
            rows = np.arange(len(self))
        else:
            rows = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return GlueExamples(
            task=self.task,
            split=self.split,
            texts=tuple([column[i] for i in rows] for column in self.texts),
            labels=None if self.labels is None else self.labels[rows],
            indices=self.indices[rows],
            path=self.path,
        )


def _split_file(task: GlueTask, split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return {"train": "train.tsv", "dev": task.dev_file, "test": task.test_file}[split]


def _split_path(task: GlueTask, split: str, data_dir: str | os.PathLike) -> str:
    """The path of a split's file, checking that the directory and file exist."""
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise GlueDataError(f"{data_dir}: GLUE data directory not found")
    path = os.path.join(data_dir, _split_file(task, split))
    if not os.path.isfile(path):
        hint = ""
        if os.path.isdir(os.path.join(data_dir, task.directory)):
            hint = f" (pass the task directory {os.path.join(data_dir, task.directory)})"
        raise GlueDataError(f"{path}: file not found{hint}")
    return path


def _read_lines(path: str, columns: _Columns) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` for each data line, split on tabs only (no quoting).

    Lines are split on ``\\n`` alone (a stray ``\\r`` or Unicode separator inside a field stays in it); a
    final ``\\r``, a UTF-8 BOM and a missing final newline are accepted. The header, if any, is checked for
    the field count like any line and then skipped.
    """
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise GlueDataError(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            fields = line.removesuffix("\n").removesuffix("\r").split("\t")
            if len(fields) < columns.min_fields:
                raise GlueDataError(f"{path}:{lineno}: expected at least {columns.min_fields} "
                                    f"tab-separated fields, found {len(fields)}")
            if not (lineno == 1 and columns.header):
                yield lineno, fields


def _label_parser(task: GlueTask) -> Callable[[str, str], float]:
    """A function ``(raw label, "file:line") -> class id or score`` that raises GlueDataError."""
    if task.is_regression:
        def parse_score(value: str, where: str) -> float:
            try:
                score = float(value)
            except ValueError:
                raise GlueDataError(f"{where}: STS-B score {value!r} is not a number") from None
            if not 0.0 <= score <= 5.0:
                raise GlueDataError(f"{where}: STS-B score {value!r} is outside [0, 5]")
            return score
        return parse_score

    ids = {raw: i for i, raw in enumerate(_raw_labels(task))}

    def parse_label(value: str, where: str) -> int:
        try:
            return ids[value.strip()]
        except KeyError:
            raise GlueDataError(f"{where}: unknown label {value!r} (expected one of {', '.join(ids)})") from None
    return parse_label


def _parse_index(value: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise GlueDataError(f"{where}: index {value!r} is not an integer") from None


def read_glue_split(task: GlueTask | str, split: str, data_dir: str | os.PathLike) -> GlueExamples:
    """Read ``split`` ("train", "dev" or "test") of ``task`` from its directory in the official GLUE layout.

    ``data_dir`` is the task's own directory (e.g. ``.../glue/CoLA``). Test files give ``labels=None``.
    """
    task = _as_task(task)
    path = _split_path(task, split, data_dir)
    fmt = _FORMATS[task.directory]
    columns = fmt.test if split == "test" else fmt.labeled
    parse_label = _label_parser(task)
    texts: tuple[list[str], ...] = tuple([] for _ in columns.text)
    labels, indices = [], []
    for lineno, fields in _read_lines(path, columns):
        for out, c in zip(texts, columns.text):
            out.append(fields[c])
        if columns.label is not None:
            labels.append(parse_label(fields[columns.label], f"{path}:{lineno}"))
        indices.append(len(indices) if columns.index is None
                       else _parse_index(fields[columns.index], f"{path}:{lineno}"))
    if not indices:
        raise GlueDataError(f"{path}: no data rows")
    return GlueExamples(
        task=task,
        split=split,
        texts=texts,
        labels=np.asarray(labels, np.float32 if task.is_regression else np.int32) if labels else None,
        indices=np.asarray(indices, np.int64),
        path=path,
    )


def resolve_data_dir(task: GlueTask | str, data_dir: str | os.PathLike | None = None) -> str | None:
    """The directory to read ``task`` from, or None to use TFDS.

    An explicit ``data_dir`` must exist; otherwise ``$GLUE_DIR/<task.directory>`` is used when it exists.
    """
    task = _as_task(task)
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        if not os.path.isdir(data_dir):
            raise GlueDataError(f"{data_dir}: GLUE data directory not found")
        return data_dir
    glue_dir = os.environ.get("GLUE_DIR")
    if glue_dir and os.path.isdir(os.path.join(glue_dir, task.directory)):
        return os.path.join(glue_dir, task.directory)
    return None


# --------------------------------------------------------------------------------------------------------
# TFDS

_TFDS_HOST = "dl.fbaipublicfiles.com"  # where TFDS downloads the GLUE archives from


def _tfds_split(task: GlueTask, split: str) -> str:
    """TFDS split name: "validation" for dev; MNLI's carry the file suffix ("validation_matched")."""
    name = _split_file(task, split).removesuffix(".tsv")
    return name.replace("dev", "validation", 1) if split == "dev" else name


def _check_reachable(host: str, timeout: float = 5.0) -> None:
    """Fail fast (OSError) when the download host cannot be reached, instead of after TFDS's retries."""
    if not urllib.request.getproxies():  # behind a proxy, a direct connection says nothing
        socket.create_connection((host, 443), timeout=timeout).close()


def load_tfds_split(task: GlueTask | str, split: str) -> GlueExamples:
    """Load a split through TensorFlow Datasets, downloading and preparing it if it is not cached.

    Class ids are mapped by label name to this module's order (TFDS orders MNLI labels differently).
    """
    task = _as_task(task)
    tfds_split = _tfds_split(task, split)
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(task.tfds_name)
        if not builder.is_prepared():
            _check_reachable(_TFDS_HOST)
            builder.download_and_prepare()
        data = tfds.as_numpy(builder.as_dataset(split=tfds_split, batch_size=-1))
    except Exception as e:  # noqa: BLE001 - any failure here means "no TFDS data"
        raise GlueDataError(
            f"TFDS could not be reached for {task.tfds_name} split {tfds_split!r} "
            f"({type(e).__name__}: {e}); pass --data-dir or set GLUE_DIR to a directory in the official "
            f"GLUE layout (<GLUE_DIR>/{task.directory}/train.tsv, {task.dev_file}, {task.test_file})"
        ) from e
    order = np.argsort(data["idx"], kind="stable")  # back to file order
    texts = tuple([s.decode("utf-8") for s in data[key][order]] for key in _FORMATS[task.directory].tfds_text)
    labels = None
    if split != "test":
        if task.is_regression:
            labels = data["label"][order].astype(np.float32)
        else:
            names = builder.info.features["label"].names
            to_ours = np.array([task.label_names.index(n) for n in names], np.int32)
            labels = to_ours[data["label"][order]]
    indices = data["idx"][order].astype(np.int64) if split == "test" else np.arange(len(order), dtype=np.int64)
    return GlueExamples(task, split, texts, labels, indices, f"tfds:{task.tfds_name}/{tfds_split}")


def load_split(task: GlueTask | str, split: str, data_dir: str | os.PathLike | None = None) -> GlueExamples:
    """Read a split from ``data_dir`` / ``$GLUE_DIR`` (see :func:`resolve_data_dir`), else from TFDS."""
    task = _as_task(task)
    directory = resolve_data_dir(task, data_dir)
    if directory is None:
        return load_tfds_split(task, split)
    return read_glue_split(task, split, directory)


# --------------------------------------------------------------------------------------------------------
# tf.data


def make_dataset(examples: GlueExamples, preprocessor: Callable[..., Any], batch_size: int, shuffle: bool = False,
                 seed: int = 0, drop_remainder: bool = False) -> tf.data.Dataset:
    """Batched ``(x, y)`` (or ``x`` for unlabelled data), x being the preprocessor's dict of features.

    ``preprocessor`` is a keras-hub ``BertTextClassifierPreprocessor``-like callable, called as
    ``preprocessor(x, y=None)`` with x a batch of strings for single-sentence tasks and a tuple
    ``(first, second)`` of batches for pairs.
    """
    texts = examples.texts[0] if len(examples.texts) == 1 else tuple(examples.texts)
    # Elements are (texts,) or (texts, labels), so that map() passes pair texts as one tuple argument.
    ds = tf.data.Dataset.from_tensor_slices((texts,) if examples.labels is None else (texts, examples.labels))
    if shuffle:
        ds = ds.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def preprocess(x, *y):
        # y=None explicitly: called with one 2-tuple, a keras-hub preprocessor reads a pair (s1, s2) as (x, y).
        features = preprocessor(x, y=None)
        return (features, *y) if y else features

    return ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------------------------
# Metrics and submissions


def _correlation(fn: Callable[[np.ndarray, np.ndarray], Any], a: np.ndarray, b: np.ndarray) -> float:
    """100 * correlation, defined as 0 when either side is constant (where it is undefined)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return 100.0 * float(fn(a, b)[0])


def compute_metrics(task: GlueTask | str, labels: Sequence | np.ndarray,
                    predictions: Sequence | np.ndarray) -> dict[str, float]:
    """GLUE metrics on a 0-100 scale; the task's primary metric (``task.metric``) is always a key.

    CoLA: mcc; MRPC/QQP: f1 (of the positive class) and accuracy; STS-B: pearson and spearman; others:
    accuracy. ``predictions`` are class ids, or scores for STS-B.
    """
    task = _as_task(task)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels and predictions must be equally long non-empty vectors, "
                         f"got shapes {labels.shape} and {predictions.shape}")
    if task.is_regression:
        a, b = labels.astype(np.float64), predictions.astype(np.float64)
        return {"pearson": _correlation(stats.pearsonr, a, b), "spearman": _correlation(stats.spearmanr, a, b)}
    if task.metric == "mcc":
        with warnings.catch_warnings():  # "A single label was found": MCC is then 0, as intended
            warnings.simplefilter("ignore", UserWarning)
            return {"mcc": 100.0 * float(skm.matthews_corrcoef(labels, predictions))}
    result = {"accuracy": 100.0 * float(np.mean(labels == predictions))}
    if task.metric == "f1":
        result["f1"] = 100.0 * float(skm.f1_score(labels, predictions, pos_label=1, zero_division=0))
    return result


def write_glue_predictions(path: str | os.PathLike, task: GlueTask | str, examples: GlueExamples,
                           predictions: Sequence | np.ndarray) -> None:
    """Write a GLUE-server submission file (``index<TAB>prediction``), atomically.

    Predictions are written as the task's raw labels: 0/1 for CoLA, SST-2, MRPC, QQP and WNLI, label names
    for MNLI, QNLI and RTE, and the score with 3 decimals for STS-B.
    """
    task = _as_task(task)
    predictions = np.asarray(predictions)
    if predictions.shape != (len(examples),):
        raise ValueError(f"expected {len(examples)} predictions, got shape {predictions.shape}")
    if task.is_regression:
        cells = [f"{float(p):.3f}" for p in predictions]
    else:
        raw = _raw_labels(task)
        in_range = np.all((predictions >= 0) & (predictions < len(raw)))
        if not (np.issubdtype(predictions.dtype, np.integer) and in_range):
            raise ValueError(f"predictions must be class ids in [0, {len(raw)}) for {task.name}")
        cells = [raw[p] for p in predictions]
    write_prediction_rows(path, examples.indices, cells)


def write_prediction_rows(path: str | os.PathLike, indices: Sequence, values: Sequence) -> None:
    """Write ``index<TAB>prediction`` with a header, one row per example, atomically."""
    rows = "".join(f"{index}\t{value}\n" for index, value in zip(indices, values))
    write_text_atomically(path, "index\tprediction\n" + rows)
