"""power_bert_tf.data.holdout: the held-out draw per seed, no held-out text inside a training one, lengths.

Each check compares with a plain reference written here: containment as Python ``in`` on space-padded,
lower-cased, whitespace-normalized strings, and the draw as numpy's ``default_rng(seed).choice``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from power_bert_tf.data import GlueExamples, get_task, read_glue_split
from power_bert_tf.data.holdout import contained, length_summary, words
from power_bert_tf.pipeline import Pipeline, RunConfig

GLUE_DIR = Path(
    os.environ.get("GLUE_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "glue")
)


def _padded(text: str) -> str:
    return " " + " ".join(text.lower().split()) + " "


def _inside(part: tuple[str, ...], whole: tuple[str, ...]) -> bool:
    """The reference: every text of `part` is a run of whole words of the same column of `whole`."""
    return all(p.split() and _padded(p) in _padded(w) for p, w in zip(part, whole))


def _examples(*columns: list[str], task: str = "cola") -> GlueExamples:
    n = len(columns[0])
    labels, rows = np.zeros(n, "int32"), np.arange(n)
    return GlueExamples(get_task(task), "train", tuple(columns), labels, rows, "train.tsv")


def _reference_held_out(examples: GlueExamples, fraction: float, seed: int) -> list[int]:
    """The rows held out: the seed's draw, less those inside an example not drawn (brute force)."""
    rows = list(zip(*examples.texts))
    count = round(fraction * len(rows))
    drawn = set(np.random.default_rng(seed).choice(len(rows), size=count, replace=False))
    rest = [rows[i] for i in range(len(rows)) if i not in drawn]
    return sorted(i for i in drawn if not any(_inside(rows[i], other) for other in rest))


def _reference_whole_texts(examples: GlueExamples, fraction: float, seed: int, total=None):
    """(held out, train) rows where the training file holds phrases: the seed's draw among the
    examples inside no other one, and the rest less those inside a held-out one (brute force)."""
    rows = list(zip(*examples.texts))
    used = len(rows) if total is None else min(total, len(rows))
    count = round(fraction * used)
    whole = [
        i
        for i in range(len(rows))
        if not any(_inside(rows[i], rows[j]) for j in range(len(rows)) if j != i)
    ]
    picks = np.random.default_rng(seed).choice(len(whole), size=count, replace=False)
    held = sorted(whole[k] for k in picks)
    train = [
        i
        for i in range(len(rows))
        if i not in held and not any(_inside(rows[i], rows[h]) for h in held)
    ]
    return held, train


def _phrases(n: int) -> list[str]:
    # Containers "w x y", their parts "x" and loners "z": some parts go back, depending on the draw.
    return [text for i in range(n) for text in (f"w{i} X{i}  y{i} .", f"x{i}", f"z{i}")]


# --------------------------------------------------------------------------------------------------------
# The draw


def test_each_seed_holds_out_its_own_part():
    examples = _examples([f"sentence number {i}" for i in range(200)])
    parts = {seed: list(examples.hold_out(0.1, seed=seed).held_out.indices) for seed in (0, 1)}
    assert parts[0] != parts[1]
    assert list(examples.hold_out(0.1, seed=1).held_out.indices) == parts[1]
    # Nothing inside anything: the whole draw is held out, as numpy draws it.
    assert parts[1] == _reference_held_out(examples, 0.1, 1)
    assert len(examples.hold_out(0.1, seed=1).train) == 180


@pytest.mark.parametrize("seed", range(8))
def test_held_out_texts_inside_a_training_example_go_back(seed):
    examples = _examples(_phrases(30))
    split = examples.hold_out(0.3, seed=seed)
    held, train = list(split.held_out.indices), list(split.train.indices)
    assert held == _reference_held_out(examples, 0.3, seed)
    assert sorted(held + train) == list(
        range(len(examples))
    )  # the union is the whole set, no overlap
    assert split.drawn == 27 and split.moved_back == 27 - len(held)
    texts = examples.texts[0]
    assert not any(_inside((texts[h],), (texts[t],)) for h in held for t in train)
    assert split.train.texts[0] == [texts[i] for i in train]  # still in the file's order


def test_a_contained_phrase_goes_back_to_training():
    examples = _examples(_phrases(30))
    moved = [seed for seed in range(20) if examples.hold_out(0.3, seed=seed).moved_back]
    assert moved  # the draws above do draw parts without their containers
    for seed in moved:
        split = examples.hold_out(0.3, seed=seed)
        held = set(split.held_out.texts[0])
        for i in range(30):  # "x<i>" is held out only with "w<i> X<i> y<i> ."
            assert f"x{i}" not in held or f"w{i} X{i}  y{i} ." in held


def test_pairs_count_as_inside_only_when_both_texts_are():
    # ("a b", "e"): "a b" is inside the first training pair's text_a, "e" inside no text_b.
    # ("b c", "c"): "c" is inside the first pair's text_b, "b c" inside no text_a.
    held_out = (["a b", "a b", "A  B", "b c"], ["c", "e", "c d", "c"])
    training = (["x a b y", "q"], ["c d", "d e"])
    expected = [any(_inside(pair, whole) for whole in zip(*training)) for pair in zip(*held_out)]
    assert contained(held_out, training).tolist() == expected == [True, False, True, False]

    # Pair i < 20 is inside pair 20 + i; pair 40 + i has its text_a inside pair i's, its text_b nowhere.
    text_a = (
        [f"a{i} b{i}" for i in range(20)]
        + [f"z a{i} b{i} z" for i in range(20)]
        + [f"a{i}" for i in range(20)]
    )
    text_b = (
        [f"c{i}" for i in range(20)] + [f"c{i} z" for i in range(20)] + [f"d{i}" for i in range(20)]
    )
    pairs = _examples(text_a, text_b, task="mrpc")
    moved, half_inside_held = 0, 0
    for seed in range(4):
        split = pairs.hold_out(0.25, seed=seed)
        assert list(split.held_out.indices) == _reference_held_out(pairs, 0.25, seed)
        moved += split.moved_back
        half_inside_held += sum(i >= 40 for i in split.held_out.indices)
    assert moved and half_inside_held  # both cases occurred


def test_containment_is_of_whole_words_ignoring_case_and_spacing():
    held_out = ["good", "Good  Film", "film .", "good film", "a"]
    training = ["goodness", "a good film ."]
    expected = [any(_inside((h,), (t,)) for t in training) for h in held_out]
    assert (
        contained((held_out,), (training,)).tolist() == expected == [True, True, True, True, True]
    )
    assert contained((["od fi", "film a", ""],), (training,)).tolist() == [False, False, False]
    assert words("  A  Good\tfilm . ") == ("a", "good", "film", ".")
    # Within one set (no training examples): an identical example counts, itself does not.
    within = contained((["a good film", "good", "dull", "dull"],)).tolist()
    assert within == [False, True, True, True]


def test_a_draw_that_is_all_inside_training_is_refused_naming_the_file():
    with pytest.raises(
        ValueError, match=r"^train\.tsv: each of the 2 examples held out .* occurs inside"
    ):
        _examples(["same words"] * 10).hold_out(0.2, seed=0)
    with pytest.raises(ValueError, match=r"^train\.tsv: holding out 0\.01 of 10"):
        _examples(["same words"] * 10).hold_out(0.01, seed=0)


# --------------------------------------------------------------------------------------------------------
# Lengths


def test_length_summary_by_hand():
    # 1..10 words: mean 5.5; numpy's linear percentiles: 1 + 0.9 = 1.9, 5.5, 9.1.
    texts = [" ".join(["w"] * n) for n in range(1, 11)]
    assert length_summary((texts,)) == {
        "count": 10,
        "mean": 5.5,
        "p10": 1.9,
        "p50": 5.5,
        "p90": 9.1,
    }
    # A pair's two texts add up: 2..11 words.
    pairs = length_summary((texts, ["x"] * 10))
    assert pairs == {"count": 10, "mean": 6.5, "p10": 2.9, "p50": 6.5, "p90": 10.1}
    assert _examples(texts).length_summary()["mean"] == 5.5
    assert length_summary(([],))["count"] == 0


def test_record_describes_the_split():
    split = _examples(_phrases(30)).hold_out(0.3, seed=3)
    record = split.record()
    assert record["seed"] == 3 and record["fraction"] == 0.3 and record["drawn"] == 27
    assert record["size"] == len(split.held_out) == 27 - record["moved_back_contained"]
    assert record["lengths"]["count"] == len(split.held_out)
    counts = [len(text.split()) for text in split.held_out.texts[0]]
    assert record["lengths"]["mean"] == pytest.approx(np.mean(counts), abs=0.005)


# --------------------------------------------------------------------------------------------------------
# The pipeline holds out by its seed


@pytest.mark.parametrize("seed", [0, 3])
def test_pipeline_holds_out_by_the_runs_seed(tmp_path, seed):
    """SST-2 (a phrase bank): whole texts held out, their phrases out of training."""
    directory = tmp_path / "SST-2"
    directory.mkdir()
    phrases = _phrases(30)
    rows = "".join(f"{phrase}\t{i % 2}\n" for i, phrase in enumerate(phrases))
    (directory / "train.tsv").write_text("sentence\tlabel\n" + rows)
    config = RunConfig(
        task="sst-2",
        data_dir=str(directory),
        output_dir=str(tmp_path / "run"),
        seed=seed,
        held_out_fraction=0.3,
    )
    examples = read_glue_split("sst-2", "train", directory)
    pipeline = Pipeline(config)
    train, held_out = pipeline.training_split()
    held, kept = _reference_whole_texts(examples, 0.3, seed)
    assert list(held_out.indices) == held and list(train.indices) == kept
    record = pipeline.held_out_split.record()
    assert record["seed"] == seed and record["whole_texts"] and record["drawn"] == 27
    assert record["dropped_phrases"] == len(phrases) - len(held) - len(kept) > 0
    # --max-train-examples: the held-out part is a fraction of it, the training part the rest.
    pipeline = Pipeline(replace(config, max_train_examples=40))
    train, held_out = pipeline.training_split()
    assert len(held_out) == 12 and len(train) == 28
    held, kept = _reference_whole_texts(examples, 0.3, seed, total=40)
    assert list(held_out.indices) == held and set(train.indices) <= set(kept)


def test_a_task_without_phrases_subsamples_after_the_draw(tmp_path):
    examples = _examples([f"sentence number {i}" for i in range(200)])
    split = examples.hold_out(0.1, seed=2, total=50)
    assert len(split.held_out) == 5 and len(split.train) == 45 and not split.whole_texts
    drawn = np.random.default_rng(2).choice(200, size=5, replace=False)
    assert sorted(split.held_out.indices) == sorted(drawn)
    assert not set(split.train.indices) & set(drawn)


def test_too_few_whole_texts_are_refused_naming_the_file():
    with pytest.raises(ValueError, match=r"train\.tsv: holding out 4 .* there are 3"):
        _examples(["a b c", "a b", "b c", "x y", "z"] * 1 + ["a"] * 5, task="sst-2").hold_out(
            0.4, 0
        )


# --------------------------------------------------------------------------------------------------------
# Real SST-2: its phrases are parts of each other


@pytest.mark.integration
@pytest.mark.skipif(
    not (GLUE_DIR / "SST-2" / "train.tsv").is_file(), reason=f"no GLUE SST-2 at {GLUE_DIR}"
)
def test_sst2_holds_out_whole_sentences_as_long_as_dev():
    examples = read_glue_split("sst-2", "train", GLUE_DIR / "SST-2")
    start = time.perf_counter()
    split = examples.hold_out(0.1, seed=0, total=8000)  # the default command's subsample
    seconds = time.perf_counter() - start
    print(
        f"SST-2: {len(split.held_out)} held out, {split.dropped_phrases} phrases dropped, "
        f"{len(split.train)} to train on, {seconds:.1f} s"
    )
    assert len(split.held_out) == 800 and len(split.train) == 7200 and seconds < 90
    every_text = list(examples.texts[0])
    others = "\n".join(_padded(text) for text in every_text)
    held = "\n".join(_padded(text) for text in split.held_out.texts[0])
    rng = np.random.default_rng(0)
    # Reference, Python `in` on padded strings: a held-out text occurs once in the whole file
    # (itself: inside no other example), and no training text occurs inside a held-out one.
    for text in rng.choice(split.held_out.texts[0], size=200, replace=False):
        assert others.count(_padded(text)) == 1, text
    for text in rng.choice(split.train.texts[0], size=300, replace=False):
        assert _padded(text) not in held, text
    # What it is for: the held-out sentences are as long as dev's (19.55 words on average).
    dev = read_glue_split("sst-2", "dev", GLUE_DIR / "SST-2")
    assert abs(split.held_out.length_summary()["mean"] - dev.length_summary()["mean"]) < 1.5
