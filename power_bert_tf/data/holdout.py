"""The held-out part of a training set (:func:`hold_out`), no held-out text inside a training
example: a text is inside another when its `words` are a contiguous run of the other's (a pair's
texts each in the same column of one example); a text of no words is inside nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # examples imports this module; GlueExamples is only needed for the annotations
    from power_bert_tf.data.examples import GlueExamples

Columns = Sequence[Sequence[str]]  # GlueExamples.texts: one list of strings per text column


def words(text: str) -> tuple[str, ...]:
    """The words containment and lengths are counted in: case-folded, split on any whitespace."""
    return tuple(text.casefold().split())


class _Windows:
    """One column of held-out texts, looked up by hashing sliding windows of other texts."""

    def __init__(self, column: Sequence[str]):
        self.rows: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for row, text in enumerate(column):
            key = words(text)
            if key:
                self.rows[key].append(row)
        self.lengths = sorted({len(key) for key in self.rows})

    def inside(self, text: str) -> set[int]:
        """The held-out rows whose text occurs in ``text`` as a contiguous run of words."""
        found: set[int] = set()
        tokens = words(text)
        for length in self.lengths:
            if length > len(tokens):
                break
            for start in range(len(tokens) - length + 1):
                found.update(self.rows.get(tokens[start : start + length], ()))
        return found


def contained(held_out: Columns, training: Columns | None = None) -> np.ndarray:
    """Which held-out examples occur inside some training example (a boolean array); both are
    texts by column, as ``GlueExamples.texts``. Without ``training``: which examples of
    ``held_out`` occur inside another of its examples (an identical one counts)."""
    within = training is None
    training = held_out if within else training
    if len(held_out) != len(training):
        raise ValueError(
            f"held-out examples have {len(held_out)} text columns, training ones {len(training)}"
        )
    inside = np.zeros(len(held_out[0]), dtype=bool)
    columns = [_Windows(column) for column in held_out]
    for index, example in enumerate(zip(*training)):
        rows: set[int] | None = None
        for windows, text in zip(columns, example):
            found = windows.inside(text)
            rows = found if rows is None else rows & found
            if not rows:
                break
        if rows and within:
            rows.discard(index)  # every text is inside itself
        if rows:
            inside[list(rows)] = True
    return inside


def length_summary(texts: Columns) -> dict:
    """Count, mean and 10th/50th/90th percentiles (rounded to 2 decimals; None for no examples)
    of the word counts of ``texts`` (by column, a pair's texts added)."""
    counts = np.sum([[len(words(text)) for text in column] for column in texts], axis=0)
    keys = ("mean", "p10", "p50", "p90")
    if len(counts) == 0:
        return {"count": 0, **dict.fromkeys(keys)}
    values = [np.mean(counts), *np.percentile(counts, [10, 50, 90])]
    return {"count": len(counts), **{k: round(float(v), 2) for k, v in zip(keys, values)}}


@dataclass(frozen=True)
class HeldOutSplit:
    """A training set split by :func:`hold_out`, with how it was drawn (results.json records it)."""

    train: GlueExamples
    held_out: GlueExamples
    seed: int
    fraction: float
    drawn: int  # examples drawn at random, before those inside a training example went back
    moved_back: int  # drawn examples found inside a training example and returned to `train`
    whole_texts: bool = False  # drawn among whole texts (`GlueTask.train_holds_phrases`)
    dropped_phrases: int = 0  # training examples inside a held-out one, left out of `train`

    def record(self) -> dict:
        """The split as results.json records it (sizes, how many went back, word-count lengths)."""
        return {
            "seed": self.seed,
            "fraction": self.fraction,
            "drawn": self.drawn,
            "size": len(self.held_out),
            "moved_back_contained": self.moved_back,
            "whole_texts": self.whole_texts,
            "dropped_phrases": self.dropped_phrases,
            "train_size": len(self.train),
            "lengths": length_summary(self.held_out.texts),
        }


def hold_out(
    examples: GlueExamples,
    fraction: float,
    seed: int,
    total: int | None = None,
    whole_texts: bool = False,
) -> HeldOutSplit:
    """Draw ``fraction`` of ``examples`` at random with ``seed``, then return those inside a
    training example: the held-out part can be smaller than ``fraction``.

    Args:
        examples: the training file's examples.
        fraction: the part held out, of ``total``, in (0, 1).
        seed: the draw's (and the subsample's) seed.
        total: use this many examples in all (`--max-train-examples`): the held-out part is
            drawn from every example, the training part subsampled to the rest.
        whole_texts: draw among examples inside no other, and leave out of the training part
            each one inside a held-out one (why: `GlueTask.train_holds_phrases`).

    Raises:
        ValueError: naming the file: a fraction outside (0, 1), drawing none or all, more than
            the whole texts, or only examples inside a training one.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    used = len(examples) if total is None else min(total, len(examples))
    count = round(fraction * used)
    if count < 1 or count >= used:
        raise ValueError(
            f"{examples.path}: holding out {fraction:g} of {used} examples leaves "
            f"{count} held out and {used - count} to train on; both need at least one"
        )
    rng = np.random.default_rng(seed)
    dropped = moved_back = 0
    if whole_texts:
        whole = np.flatnonzero(~contained(examples.texts))
        if count > len(whole):
            raise ValueError(
                f"{examples.path}: holding out {count} examples ({fraction:g} of {used}) needs as "
                f"many whole texts (inside no other example); there are {len(whole)}"
            )
        held = np.sort(whole[rng.choice(len(whole), size=count, replace=False)])
        rest = np.setdiff1d(np.arange(len(examples)), held)
        # A held-out sentence's phrases would teach its labels: they leave the training part.
        phrase = contained(examples.select(rest).texts, examples.select(held).texts)
        train, dropped = rest[~phrase], int(phrase.sum())
    else:
        chosen = np.zeros(len(examples), dtype=bool)
        chosen[rng.choice(len(examples), size=count, replace=False)] = True
        held, rest = np.flatnonzero(chosen), np.flatnonzero(~chosen)
        # One pass suffices: containment is transitive.
        held = held[~contained(examples.select(held).texts, examples.select(rest).texts)]
        if not len(held):
            raise ValueError(
                f"{examples.path}: each of the {count} examples held out ({fraction:g} of "
                f"{used}, seed {seed}) occurs inside a training example; none is left to choose on"
            )
        train, moved_back = np.setdiff1d(np.arange(len(examples)), held), count - len(held)
    training = examples.select(train)  # sorted: the file's order
    if total is not None:
        training = training.take(used - len(held), seed=seed)  # at least 1: count < used
    return HeldOutSplit(
        train=training,
        held_out=examples.select(held),
        seed=seed,
        fraction=fraction,
        drawn=count,
        moved_back=moved_back,
        whole_texts=whole_texts,
        dropped_phrases=dropped,
    )
