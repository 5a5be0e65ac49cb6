"""power_bert_tf.data.tasks: the task table and task look-up."""

from __future__ import annotations

import pytest

from power_bert_tf.data import SPLITS, TASKS, as_task, get_task, split_file

# name: directory, seq_len, num_classes, metric, lr_bert, lr_soft_extract, lambda_, batch_size
EXPECTED_TASKS = {
    "cola": ("CoLA", 64, 2, "mcc", 2e-5, 1.5e-3, 7e-3, 32),
    "sst-2": ("SST-2", 64, 2, "accuracy", 3e-5, 5e-4, 2e-4, 64),
    "mrpc": ("MRPC", 128, 2, "f1", 6e-5, 3e-3, 3e-3, 64),
    "sts-b": ("STS-B", 64, 1, "spearman", 3e-5, 3e-3, 1e-3, 64),
    "qqp": ("QQP", 128, 2, "f1", 3e-5, 1e-4, 3e-4, 64),
    "mnli-m": ("MNLI", 128, 3, "accuracy", 3e-5, 2e-4, 1e-4, 64),
    "mnli-mm": ("MNLI", 128, 3, "accuracy", 3e-5, 1e-4, 1e-4, 64),
    "qnli": ("QNLI", 128, 2, "accuracy", 3e-5, 2e-4, 1.5e-4, 16),
    "rte": ("RTE", 256, 2, "accuracy", 3e-5, 3e-3, 1e-3, 16),
    "wnli": ("WNLI", 128, 2, "accuracy", 3e-5, 3e-3, 1e-3, 16),
}


def test_task_table():
    assert set(TASKS) == set(EXPECTED_TASKS)
    for name, (
        directory,
        seq_len,
        num_classes,
        metric,
        lr,
        lr_se,
        lam,
        bs,
    ) in EXPECTED_TASKS.items():
        t = TASKS[name]
        assert (t.name, t.directory, t.seq_len, t.num_classes, t.metric) == (
            name,
            directory,
            seq_len,
            num_classes,
            metric,
        )
        assert (t.lr_bert, t.lr_soft_extract, t.lambda_, t.batch_size) == (lr, lr_se, lam, bs)
        assert len(t.label_names) == (0 if name == "sts-b" else num_classes)
        assert t.is_pair == (name not in ("cola", "sst-2"))
    assert TASKS["mnli-m"].label_names == ("contradiction", "entailment", "neutral")
    assert TASKS["wnli"].label_names == ("not_entailment", "entailment")
    assert TASKS["cola"].label_names == ("unacceptable", "acceptable")
    assert (TASKS["mnli-mm"].dev_file, TASKS["mnli-mm"].test_file) == (
        "dev_mismatched.tsv",
        "test_mismatched.tsv",
    )
    assert TASKS["sts-b"].tfds_name == "glue/stsb" and TASKS["mnli-m"].tfds_name == "glue/mnli"


def test_get_task():
    assert get_task("CoLA") is TASKS["cola"]
    assert get_task("sst2") is get_task("SST-2") is TASKS["sst-2"]
    assert get_task("stsb") is TASKS["sts-b"]
    with pytest.raises(
        ValueError, match=r"unknown task 'mnli'; choose one of: cola, sst-2, .*wnli"
    ):
        get_task("mnli")


def test_is_regression_and_split_files():
    assert [name for name, task in TASKS.items() if task.is_regression] == ["sts-b"]
    assert all(task.is_regression == (task.num_classes == 1) for task in TASKS.values())
    # A score is a float, a class id an integer (the readers and `accelerate` build label arrays so).
    assert {
        name: task.label_dtype for name, task in TASKS.items() if task.label_dtype != "int32"
    } == {"sts-b": "float32"}
    assert [split_file(TASKS["mnli-mm"], s) for s in SPLITS] == [
        "train.tsv",
        "dev_mismatched.tsv",
        "test_mismatched.tsv",
    ]
    assert as_task("SST2") is as_task(TASKS["sst-2"]) is TASKS["sst-2"]
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        split_file(TASKS["cola"], "valid")
