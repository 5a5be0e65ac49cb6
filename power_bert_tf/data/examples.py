"""The examples of one GLUE split (`GlueExamples`) and the error every data problem raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from power_bert_tf.data import holdout
from power_bert_tf.data.holdout import HeldOutSplit
from power_bert_tf.data.tasks import GlueTask
from power_bert_tf.errors import PowerBertError


class GlueDataError(PowerBertError, ValueError):
    """Missing or malformed GLUE data; the message names the file (and line) at fault."""


@dataclass
class GlueExamples:
    """The examples of one split.

    ``texts``: one list of strings per text column; ``labels``: int32 class ids, float32 scores or
    None (test splits); ``indices``: the test files' ``index`` column, else the row number.
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
        """A reproducible random subsample of ``min(n, len(self))`` examples, in their order."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n >= len(self):
            return self
        return self.select(
            np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        )

    def hold_out(self, fraction: float, seed: int = 0, total: int | None = None) -> HeldOutSplit:
        """A reproducible random ``fraction`` of the examples set apart, none of them inside the
        rest (whole texts where the task's training file holds phrases), the rest subsampled to
        ``total`` in all: :func:`power_bert_tf.data.holdout.hold_out` (Args, Returns, Raises)."""
        whole_texts = self.task.train_holds_phrases
        return holdout.hold_out(self, fraction, seed, total=total, whole_texts=whole_texts)

    def length_summary(self) -> dict:
        """Count, mean and 10th/50th/90th percentiles of the word counts: :func:`holdout.length_summary`."""
        return holdout.length_summary(self.texts)

    def select(self, rows: np.ndarray) -> GlueExamples:
        """The examples at ``rows`` (positions in this split), in that order."""
        return GlueExamples(
            task=self.task,
            split=self.split,
            texts=tuple([column[i] for i in rows] for column in self.texts),
            labels=None if self.labels is None else self.labels[rows],
            indices=self.indices[rows],
            path=self.path,
        )
