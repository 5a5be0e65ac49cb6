"""Every GLUE task end to end through scripts/run_glue.py on tiny files in the official layout:
fine-tune, then predict the test set at a retention configuration into a GLUE submission file.
(CoLA runs all three steps in test_pipeline.py.)"""

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


@pytest.mark.parametrize("task", [t for t in data.TASKS if t != "cola"])
def test_every_task_fine_tunes_evaluates_and_predicts(task, tiny_preset, tiny_glue, tmp_path):
    directory = tiny_glue / data.get_task(task).directory
    common = ["--task", task, "--data-dir", directory, "--seq-len", 24, "--batch-size", 8]
    assert _run(common + ["--backbone", tiny_preset, "--steps", "finetune", "--epochs", 1,
                          "--output-dir", tmp_path, "--quiet"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    metric = data.get_task(task).metric
    assert results["metric"] == metric and np.isfinite(results["baseline"])
    assert _run(common + ["--checkpoint", tmp_path, "--retention-config", "12,6",
                          "--predict-only", "--pred-glue", "--output-dir", tmp_path]) == 0
    submission = [p for p in os.listdir(tmp_path) if p.endswith(".tsv")]
    assert len(submission) == 1
    lines = (tmp_path / submission[0]).read_text().splitlines()
    test = data.read_glue_split(task, "test", directory)
    assert len(lines) == len(test) + 1
