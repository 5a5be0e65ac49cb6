"""power_bert_tf.data.readers: GLUE-server submission files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from power_bert_tf.data import GlueExamples, get_task, write_glue_predictions


def _test_examples(name: str, indices: list[int]) -> GlueExamples:
    task = get_task(name)
    texts = tuple([f"s{i}" for i in indices] for _ in range(2 if task.is_pair else 1))
    return GlueExamples(task, "test", texts, None, np.array(indices, np.int64), "x")


@pytest.mark.parametrize(
    "name,predictions,cells",
    [
        ("cola", [1, 0, 1], ["1", "0", "1"]),
        ("qqp", [0, 1, 1], ["0", "1", "1"]),
        ("wnli", [1, 1, 0], ["1", "1", "0"]),
        ("rte", [0, 1, 0], ["entailment", "not_entailment", "entailment"]),
        ("mnli-mm", [2, 0, 1], ["neutral", "contradiction", "entailment"]),
        ("sts-b", [3.14159, 0.0, 4.9996], ["3.142", "0.000", "5.000"]),
    ],
)
def test_write_glue_predictions(tmp_path, name, predictions, cells):
    path = tmp_path / "out" / "pred.tsv"
    ex = _test_examples(name, [0, 5, 2])
    write_glue_predictions(path, name, ex, np.array(predictions))
    assert path.read_text(encoding="utf-8") == "index\tprediction\n" + "".join(
        f"{i}\t{c}\n" for i, c in zip([0, 5, 2], cells)
    )
    write_glue_predictions(path, name, ex, np.array(predictions))  # overwrites
    assert os.listdir(path.parent) == ["pred.tsv"]  # no temporary file left behind


def test_write_glue_predictions_rejects_bad_input(tmp_path):
    ex = _test_examples("rte", [0, 1])
    with pytest.raises(ValueError, match="expected 2 predictions"):
        write_glue_predictions(tmp_path / "p.tsv", "rte", ex, [0])
    with pytest.raises(ValueError, match="class ids"):
        write_glue_predictions(tmp_path / "p.tsv", "rte", ex, [0, 2])
    assert os.listdir(tmp_path) == []
