"""GLUE tasks end to end through scripts/run_glue.py on tiny files in the official layout:
each kind of task (single sentence, pairs, three classes, regression) fine-tunes, and predicts
its test set at a retention configuration into a GLUE submission file, with the fine-tuned
model of its kind. Single sentences with two classes are conftest's tiny CoLA run (all three
steps, checked in test_pipeline.py), so SST-2 predicts with it.

Each run costs seconds of fixed overhead, so predictions go end to end for one task of each
kind of submission (single sentence, pair with class ids, pair with label names, three classes
from a second test file, scores); every task's test-file layout and submission format is
checked in test_data_readers.py and test_data_submission.py."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import load_script
from power_bert_tf import data

pytestmark = pytest.mark.tensorflow_only
run_glue_script = load_script("run_glue")


def _run(argv: list[str]) -> int:
    return run_glue_script.main([str(a) for a in argv])


# One fine-tuned model per shape of task (classes, pairs): the others predict with it.
SHAPES = {
    "sst-2": "cola",
    "mrpc": "mrpc",
    "qqp": "mrpc",
    "qnli": "mrpc",
    "rte": "mrpc",
    "wnli": "mrpc",
    "sts-b": "sts-b",
    "mnli-m": "mnli-m",
    "mnli-mm": "mnli-m",
}


@pytest.fixture(scope="module")
def finetuned(tiny_preset, tiny_glue, tiny_run, tmp_path_factory) -> dict:
    """task -> the run directory of a one-epoch fine-tune, for each task of SHAPES' values
    (CoLA: conftest's tiny run)."""
    runs = {"cola": tiny_run}
    for task in sorted(set(SHAPES.values()) - {"cola"}):
        runs[task] = tmp_path_factory.mktemp(task)
        directory = tiny_glue / data.get_task(task).directory
        assert (
            _run(
                [
                    "--task",
                    task,
                    "--data-dir",
                    directory,
                    "--seq-len",
                    24,
                    "--batch-size",
                    8,
                    "--backbone",
                    tiny_preset,
                    "--steps",
                    "finetune",
                    "--epochs",
                    1,
                    "--output-dir",
                    runs[task],
                    "--quiet",
                ]
            )
            == 0
        )
    return runs


@pytest.mark.parametrize("task", sorted(set(SHAPES.values())))
def test_each_kind_of_task_fine_tunes(task, finetuned):
    results = json.loads((finetuned[task] / "results.json").read_text())
    metric = data.get_task(task).metric
    assert results["metric"] == metric and np.isfinite(results["baseline"])
    assert results["steps"]["finetune"]["finished"]


PREDICTED = ["mnli-mm", "qqp", "rte", "sst-2", "sts-b"]


def test_predicted_tasks_cover_every_kind():
    assert set(PREDICTED) <= set(SHAPES) and {SHAPES[task] for task in PREDICTED} == set(
        SHAPES.values()
    )


@pytest.mark.parametrize("task", PREDICTED)
def test_each_kind_of_task_predicts_a_submission(task, finetuned, tiny_glue, tmp_path):
    directory = tiny_glue / data.get_task(task).directory
    assert (
        _run(
            [
                "--task",
                task,
                "--data-dir",
                directory,
                "--seq-len",
                24,
                "--batch-size",
                8,
                "--checkpoint",
                finetuned[SHAPES[task]],
                "--retention-config",
                "12,6",
                "--predict-only",
                "--pred-glue",
                "--output-dir",
                tmp_path,
            ]
        )
        == 0
    )
    submission = [p for p in os.listdir(tmp_path) if p.endswith(".tsv")]
    assert len(submission) == 1
    lines = (tmp_path / submission[0]).read_text().splitlines()
    test = data.read_glue_split(task, "test", directory)
    assert len(lines) == len(test) + 1
