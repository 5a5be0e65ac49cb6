"""Tiny GLUE task directories in the official layout, for end-to-end tests."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = "the a cat dog runs sat on mat quickly big small red blue house tree".split()

# task -> (directory, {split: (header or None, row builder)})
_MNLI_PREFIX = (
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
)


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) + " ."


def _rows(task: str, split: str, n: int, rng: random.Random) -> list[list[str]]:
    """Header (if any) and n data rows, as lists of fields."""
    s = lambda: _sentence(rng)  # noqa: E731
    labelled = split != "test"
    binary = lambda: str(rng.randint(0, 1))  # noqa: E731
    if task == "cola":
        rows = (
            [["gj04", binary(), "", s()] for _ in range(n)]
            if labelled
            else [["index", "sentence"]] + [[str(i), s()] for i in range(n)]
        )
        return rows
    if task == "sst-2":
        head = ["sentence", "label"] if labelled else ["index", "sentence"]
        return [head] + [[s(), binary()] if labelled else [str(i), s()] for i in range(n)]
    if task == "mrpc":
        head = [
            "\ufeffQuality" if labelled else "index",
            "#1 ID",
            "#2 ID",
            "#1 String",
            "#2 String",
        ]
        return [head] + [
            [binary() if labelled else str(i), str(i), str(i + 1), s(), s()] for i in range(n)
        ]
    if task == "sts-b":
        head = [
            "index",
            "genre",
            "filename",
            "year",
            "old_index",
            "source1",
            "source2",
            "sentence1",
            "sentence2",
        ]
        body = [
            [str(i), "main-news", "x", "2012", f"{i:04d}", "none", "none", s(), s()]
            for i in range(n)
        ]
        if labelled:
            head.append("score")
            for row in body:
                row.append(f"{rng.uniform(0, 5):.3f}")
        return [head] + body
    if task == "qqp":
        if labelled:
            return [["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]] + [
                [str(i), str(2 * i), str(2 * i + 1), s(), s(), binary()] for i in range(n)
            ]
        return [["id", "question1", "question2"]] + [[str(i), s(), s()] for i in range(n)]
    if task in ("mnli-m", "mnli-mm"):
        labels = ("contradiction", "entailment", "neutral")
        head = list(_MNLI_PREFIX) + ["sentence1", "sentence2"]
        if labelled:
            head += ["label1", "gold_label"]
        body = []
        for i in range(n):
            row = [str(i), "1", f"{i}n", "fiction", "( x )", "( y )", "(ROOT)", "(ROOT)", s(), s()]
            if labelled:
                label = rng.choice(labels)
                row += [label, label]
            body.append(row)
        return [head] + body
    if task in ("qnli", "rte", "wnli"):
        first = "question" if task == "qnli" else "sentence1"
        second = "sentence" if task == "qnli" else "sentence2"
        head = ["index", first, second] + (["label"] if labelled else [])

        def label():
            if task == "wnli":
                return binary()
            return rng.choice(("entailment", "not_entailment"))

        return [head] + [[str(i), s(), s()] + ([label()] if labelled else []) for i in range(n)]
    raise KeyError(task)


def write_task(
    task_name: str, root: Path, n_train: int = 24, n_dev: int = 12, n_test: int = 6, seed: int = 0
) -> Path:
    """Write train/dev/test files for a task under root/<Directory>; return that dir."""
    from power_bert_tf.data import get_task

    task = get_task(task_name)
    rng = random.Random(seed)
    directory = Path(root) / task.directory
    directory.mkdir(parents=True, exist_ok=True)
    files = {"train": "train.tsv", "dev": task.dev_file, "test": task.test_file}
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        lines = ["\t".join(row) for row in _rows(task.name, split, n, rng)]
        (directory / files[split]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def write_tiny_preset(directory: Path, max_sequence_length: int = 64, num_layers: int = 2) -> Path:
    """A random tiny BERT saved as a local keras-hub preset (backbone + preprocessor)."""
    import keras
    import keras_hub

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + WORDS
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab),
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=max_sequence_length,
        dropout=0.0,
    )
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    directory = Path(directory)
    backbone.save_to_preset(str(directory))
    preprocessor.save_to_preset(str(directory))
    return directory
