"""The GLUE task table (`TASKS`, with the original PoWER-BERT hyper-parameters) and its lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from power_bert_tf.data.tables import TableSource

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class GlueTask:
    """One task: a GLUE preset, or your own files (``table``: `tables.table_task`).

    ``num_classes`` is 1 (and ``label_names`` empty) for a regression task; ``metric`` is the
    primary key of :func:`power_bert_tf.data.metrics.compute_metrics`.
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
    table: TableSource | None = None  # None for the GLUE presets
    # The training file holds the phrases of its sentences as examples of their own (SST-2's
    # parse-tree phrases), while dev holds whole sentences: the held-out part is drawn from
    # whole texts, and their phrases leave the training part (`holdout.hold_out`).
    train_holds_phrases: bool = False

    @property
    def is_regression(self) -> bool:
        """A score instead of a class id (STS-B); a model's is `PowerBertClassifier.is_regression`."""
        return self.num_classes == 1

    @property
    def label_dtype(self) -> str:
        """The dtype of a label array: float32 scores for regression, int32 class ids otherwise."""
        return "float32" if self.is_regression else "int32"


def _task(
    name: str,
    directory: str,
    seq_len: int,
    label_names: str,
    is_pair: bool,
    metric: str,
    hparams: tuple[float, float, float, int],
    dev_file: str = "dev.tsv",
    test_file: str = "test.tsv",
    train_holds_phrases: bool = False,
) -> GlueTask:
    names = tuple(label_names.split())
    files = (dev_file, test_file, "glue/" + directory.lower().replace("-", ""))  # e.g. glue/sst2
    return GlueTask(
        name,
        directory,
        seq_len,
        max(len(names), 1),
        names,
        is_pair,
        metric,
        *files,
        *hparams,
        train_holds_phrases=train_holds_phrases,
    )


# (LR_BERT, LR_SOFT_EXTRACT, LAMBDA, BATCH_SIZE) of the IBM PoWER-BERT repository; WNLI uses RTE's.
_RTE_HPARAMS = (3e-5, 3e-3, 1e-3, 16)
_MNLI = "contradiction entailment neutral"  # GLUE / BERT order, not the TFDS order
_NLI = "entailment not_entailment"
_MNLI_M = {"dev_file": "dev_matched.tsv", "test_file": "test_matched.tsv"}
_MNLI_MM = {"dev_file": "dev_mismatched.tsv", "test_file": "test_mismatched.tsv"}

_PRESETS = (
    _task("cola", "CoLA", 64, "unacceptable acceptable", False, "mcc", (2e-5, 1.5e-3, 7e-3, 32)),
    _task(
        "sst-2",
        "SST-2",
        64,
        "negative positive",
        False,
        "accuracy",
        (3e-5, 5e-4, 2e-4, 64),
        train_holds_phrases=True,
    ),
    _task("mrpc", "MRPC", 128, "not_equivalent equivalent", True, "f1", (6e-5, 3e-3, 3e-3, 64)),
    _task("sts-b", "STS-B", 64, "", True, "spearman", (3e-5, 3e-3, 1e-3, 64)),
    _task("qqp", "QQP", 128, "not_duplicate duplicate", True, "f1", (3e-5, 1e-4, 3e-4, 64)),
    _task("mnli-m", "MNLI", 128, _MNLI, True, "accuracy", (3e-5, 2e-4, 1e-4, 64), **_MNLI_M),
    _task("mnli-mm", "MNLI", 128, _MNLI, True, "accuracy", (3e-5, 1e-4, 1e-4, 64), **_MNLI_MM),
    _task("qnli", "QNLI", 128, _NLI, True, "accuracy", (3e-5, 2e-4, 1.5e-4, 16)),
    _task("rte", "RTE", 256, _NLI, True, "accuracy", _RTE_HPARAMS),
    _task("wnli", "WNLI", 128, "not_entailment entailment", True, "accuracy", _RTE_HPARAMS),
)
TASKS: dict[str, GlueTask] = {task.name: task for task in _PRESETS}


def _normalize(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_ALIASES = {_normalize(name): task for name, task in TASKS.items()}


def get_task(name: str) -> GlueTask:
    """Look a task up by name, ignoring case, ``-`` and ``_`` (so ``"SST2"``, ``"sts_b"`` work).

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    task = _ALIASES.get(_normalize(name))
    if task is None:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return task


def as_task(task: GlueTask | str) -> GlueTask:
    """``task`` itself if it is a :class:`GlueTask`, else :func:`get_task` of it."""
    return task if isinstance(task, GlueTask) else get_task(task)


def split_file(task: GlueTask, split: str) -> str:
    """The file name of ``split`` (one of :data:`SPLITS`) in the task's GLUE directory, e.g.
    ``"train.tsv"``, ``"dev_matched.tsv"``.

    Raises:
        ValueError: for an unknown split.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return {"train": "train.tsv", "dev": task.dev_file, "test": task.test_file}[split]
