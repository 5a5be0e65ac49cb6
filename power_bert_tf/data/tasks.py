"""The GLUE task table: one :class:`GlueTask` per task, with the original PoWER-BERT hyper-parameters.

Tasks are looked up by name with :func:`get_task`, which ignores case, ``-`` and ``_`` (``"SST2"``,
``"sts_b"``). Every other module takes a task object or its name and goes through :func:`as_task`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from power_bert_tf.data.tables import TableSource

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class GlueTask:
    """One task: a GLUE preset with the original PoWER-BERT (IBM) hyper-parameters, or your own
    files (``table``, built by :func:`power_bert_tf.data.tables.table_task`).

    ``num_classes`` is 1 (and ``label_names`` empty) for the regression task STS-B. ``metric`` names the
    primary metric key returned by :func:`power_bert_tf.data.metrics.compute_metrics`.
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
    # Your own files (`tables.table_task`); None for the GLUE presets.
    table: TableSource | None = None

    @property
    def is_regression(self) -> bool:
        """True for STS-B (a similarity score instead of a class id).

        This is the one definition of "regression task" in the package: losses, metrics, readers and
        submission writers all ask this property.
        """
        return self.num_classes == 1


def _task(
    name: str,
    directory: str,
    seq_len: int,
    label_names: tuple[str, ...],
    is_pair: bool,
    metric: str,
    tfds_name: str,
    hparams: tuple[float, float, float, int],
    dev_file: str = "dev.tsv",
    test_file: str = "test.tsv",
) -> GlueTask:
    lr_bert, lr_soft_extract, lambda_, batch_size = hparams
    return GlueTask(
        name,
        directory,
        seq_len,
        max(len(label_names), 1),
        tuple(label_names),
        is_pair,
        metric,
        dev_file,
        test_file,
        tfds_name,
        lr_bert,
        lr_soft_extract,
        lambda_,
        batch_size,
    )


# Hyper-parameters (LR_BERT, LR_SOFT_EXTRACT, LAMBDA, BATCH_SIZE) from the IBM PoWER-BERT repository;
# WNLI is not in the original and uses RTE's.
_RTE_HPARAMS = (3e-5, 3e-3, 1e-3, 16)
_MNLI_LABELS = ("contradiction", "entailment", "neutral")  # GLUE / BERT order, not the TFDS order
_NLI_LABELS = ("entailment", "not_entailment")

TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in (
        _task(
            "cola",
            "CoLA",
            64,
            ("unacceptable", "acceptable"),
            False,
            "mcc",
            "glue/cola",
            (2e-5, 1.5e-3, 7e-3, 32),
        ),
        _task(
            "sst-2",
            "SST-2",
            64,
            ("negative", "positive"),
            False,
            "accuracy",
            "glue/sst2",
            (3e-5, 5e-4, 2e-4, 64),
        ),
        _task(
            "mrpc",
            "MRPC",
            128,
            ("not_equivalent", "equivalent"),
            True,
            "f1",
            "glue/mrpc",
            (6e-5, 3e-3, 3e-3, 64),
        ),
        _task("sts-b", "STS-B", 64, (), True, "spearman", "glue/stsb", (3e-5, 3e-3, 1e-3, 64)),
        _task(
            "qqp",
            "QQP",
            128,
            ("not_duplicate", "duplicate"),
            True,
            "f1",
            "glue/qqp",
            (3e-5, 1e-4, 3e-4, 64),
        ),
        _task(
            "mnli-m",
            "MNLI",
            128,
            _MNLI_LABELS,
            True,
            "accuracy",
            "glue/mnli",
            (3e-5, 2e-4, 1e-4, 64),
            dev_file="dev_matched.tsv",
            test_file="test_matched.tsv",
        ),
        _task(
            "mnli-mm",
            "MNLI",
            128,
            _MNLI_LABELS,
            True,
            "accuracy",
            "glue/mnli",
            (3e-5, 1e-4, 1e-4, 64),
            dev_file="dev_mismatched.tsv",
            test_file="test_mismatched.tsv",
        ),
        _task(
            "qnli",
            "QNLI",
            128,
            _NLI_LABELS,
            True,
            "accuracy",
            "glue/qnli",
            (3e-5, 2e-4, 1.5e-4, 16),
        ),
        _task("rte", "RTE", 256, _NLI_LABELS, True, "accuracy", "glue/rte", _RTE_HPARAMS),
        _task(
            "wnli",
            "WNLI",
            128,
            ("not_entailment", "entailment"),
            True,
            "accuracy",
            "glue/wnli",
            _RTE_HPARAMS,
        ),
    )
}


def _normalize(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_ALIASES = {_normalize(name): task for name, task in TASKS.items()}


def get_task(name: str) -> GlueTask:
    """Look a task up by name, ignoring case, ``-`` and ``_`` (so ``"SST2"``, ``"sts_b"`` work).

    Args:
        name: a key of :data:`TASKS` in any case, with or without ``-``/``_``.

    Returns:
        The task.

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
    """The file name of ``split`` ("train", "dev" or "test") in the task's GLUE directory.

    Args:
        task: the task (MNLI's dev and test files carry a ``_matched``/``_mismatched`` suffix).
        split: one of :data:`SPLITS`.

    Returns:
        e.g. ``"train.tsv"``, ``"dev_matched.tsv"``.

    Raises:
        ValueError: for an unknown split.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return {"train": "train.tsv", "dev": task.dev_file, "test": task.test_file}[split]
