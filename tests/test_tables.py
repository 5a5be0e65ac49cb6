"""Your own data (data/tables.py and --train-file): CSV, TSV and JSON Lines files the tests write,
read back against what was written; bad files refused in one line naming file, line and column;
a table task through the same commands as a GLUE task (train, search, retrain, predict, export,
benchmark)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script
from power_bert_tf.data import GlueDataError, read_table_split, table_task
from power_bert_tf.pipeline import RunConfig

run_glue_script = load_script("run_glue")

PAIRS = [
    ("The cat sat.", "A cat was sitting.", "same"),
    ("It rained, then it stopped.", "Dogs bark.", "different"),
    ("I saw the dog.", "The dog was seen by me.", "same"),
    ("Good, quick, brown.", "Slow and bad.", "different"),
]


def _write_csv(path: Path, header, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _write_jsonl(path: Path, rows: list[dict]):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_csv_pair_with_string_labels(tmp_path):
    train = _write_csv(
        tmp_path / "para.csv",
        ["id", "first", "second", "label"],
        [(i, *row) for i, row in enumerate(PAIRS)],
    )
    task = table_task(train, validation_file=train)
    assert (task.name, task.is_pair, task.label_names, task.metric) == (
        "para",
        True,
        ("different", "same"),
        "accuracy",
    )
    examples = read_table_split(task, "dev")
    assert examples.texts == ([p[0] for p in PAIRS], [p[1] for p in PAIRS])
    assert examples.labels.tolist() == [1, 0, 1, 0] and examples.labels.dtype == np.int32


def test_csv_single_text_named_after_its_file_with_a_quoted_comma(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('text,label\n"Great, really",pos\nDull,neg\nFine,pos\n')
    task = table_task(str(path))
    assert (task.name, task.label_names, task.is_pair, task.metric) == (
        "reviews",
        ("neg", "pos"),
        False,
        "accuracy",
    )
    examples = read_table_split(task, "train")
    assert examples.texts[0] == ["Great, really", "Dull", "Fine"]
    assert examples.labels.tolist() == [1, 0, 1]


def test_tsv_single_text_integer_labels_sorted_as_numbers(tmp_path):
    rows = [("a b", "10"), ("c", "2"), ("d e f", "2"), ("g", "0")]
    train = _write_csv(tmp_path / "t.tsv", ["sentence", "label"], rows, delimiter="\t")
    task = table_task(train, metric="f1")
    assert task.label_names == ("0", "2", "10") and not task.is_pair and task.num_classes == 3
    assert read_table_split(task, "train").labels.tolist() == [2, 1, 1, 0]


def test_jsonl_float_labels_make_a_regression_task(tmp_path):
    rows = [{"s1": "a", "s2": "b", "score": 0.5}, {"s1": "c", "s2": "d", "score": 4}]
    train = _write_jsonl(tmp_path / "sim.jsonl", rows)
    task = table_task(train, label_column="score")
    assert task.is_regression and task.metric == "pearson" and task.is_pair
    assert read_table_split(task, "train").labels.tolist() == [0.5, 4.0]
    # Forced either way.
    forced = table_task(train, label_column="score", regression=False)
    assert forced.label_names == ("0.5", "4") and not forced.is_regression
    whole = _write_jsonl(tmp_path / "whole.jsonl", [{"t": "a", "label": 1}, {"t": "b", "label": 3}])
    assert not table_task(whole).is_regression and table_task(whole, regression=True).is_regression


def test_text_columns_given_and_a_test_file_without_labels(tmp_path):
    train = _write_csv(
        tmp_path / "tr.csv", ["title", "body", "label"], [("t1", "b1", "x"), ("t2", "b2", "y")]
    )
    test = _write_csv(tmp_path / "te.csv", ["title", "body"], [("t3", "b3")])
    task = table_task(train, test_file=test, text_columns=["body"])
    assert not task.is_pair
    examples = read_table_split(task, "test")
    assert examples.texts == (["b3"],) and examples.labels is None


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_label_column", r"tr\.csv: no label column 'label' \(columns: text, y\)"),
        ("empty_text", r"dev\.csv:3: column 'text' is empty"),
        (
            "unseen_label",
            r"dev\.csv:2: column 'label': label 'maybe' is not in the training file's labels \(no, yes\)",
        ),
        ("csv_named_jsonl", r"tr\.jsonl:1: not a JSON object"),
        ("short_row", r"tr\.csv:3: 1 fields where the header has 2"),
        ("extension", r"tr\.txt: unknown format \.txt"),
        ("three_texts", r"3 text columns \(a, b, c\); pass --text-columns"),
        ("missing", r"nothere\.csv: file not found"),
        ("regression_text", r"tr\.csv:2: column 'label': 'yes' is not a number"),
    ],
)
def test_bad_files_are_named_with_line_and_column(case, message, tmp_path):
    good = [("fine", "yes"), ("bad", "no")]
    train, kwargs = str(tmp_path / "tr.csv"), {}
    dev = None
    if case == "no_label_column":
        _write_csv(tmp_path / "tr.csv", ["text", "y"], good)
    elif case in ("empty_text", "unseen_label"):
        _write_csv(tmp_path / "tr.csv", ["text", "label"], good)
        rows = [("ok", "yes"), ("", "no")] if case == "empty_text" else [("ok", "maybe")]
        dev = _write_csv(tmp_path / "dev.csv", ["text", "label"], rows)
    elif case == "csv_named_jsonl":
        train = _write_csv(tmp_path / "tr.jsonl", ["text", "label"], good)
    elif case == "short_row":
        (tmp_path / "tr.csv").write_text("text,label\nfine,yes\nbad\n")
    elif case == "extension":
        train = _write_csv(tmp_path / "tr.txt", ["text", "label"], good)
    elif case == "three_texts":
        _write_csv(tmp_path / "tr.csv", ["a", "b", "c", "label"], [("1", "2", "3", "yes")])
    elif case == "missing":
        train = str(tmp_path / "nothere.csv")
    elif case == "regression_text":
        _write_csv(tmp_path / "tr.csv", ["text", "label"], good)
        kwargs["regression"] = True
    with pytest.raises(GlueDataError, match=message):
        task = table_task(train, validation_file=dev, **kwargs)
        read_table_split(task, "dev")


def _main(argv) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = run_glue_script.main([str(a) for a in argv])
    return code, stderr.getvalue()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--task", "cola", "--train-file", "{train}"],
            "--task cola and --train-file exclude each other",
        ),
        (
            ["--task", "cola", "--validation-file", "{train}"],
            "--validation-file go with --train-file",
        ),
        (["--train-file", "{train}", "--regression", "--classification"], "exclude each other"),
        (["--train-file", "{train}", "--data-dir", "."], "--data-dir is a GLUE task's directory"),
        (
            ["--train-file", "{train}", "--metric", "pearson"],
            "--metric 'pearson' does not fit a classification task",
        ),
        ([], r"give --task \(a GLUE task\) or --train-file"),
        (["--train-file", "{bad}"], r"bad\.csv:2: 1 fields where the header has 2"),
    ],
)
def test_bad_own_data_flags_are_refused_in_one_line(argv, message, tiny_preset, tmp_path):
    train = _write_csv(tmp_path / "tr.csv", ["text", "label"], [("a", "x"), ("b", "y")])
    (tmp_path / "bad.csv").write_text("text,label\nonly one field\n")
    argv = [a.format(train=train, bad=tmp_path / "bad.csv") for a in argv]
    code, stderr = _main([*argv, "--backbone", tiny_preset, "--output-dir", tmp_path / "run"])
    assert code == 2
    lines = [line for line in stderr.splitlines() if line.startswith("run_glue.py: error:")]
    assert len(lines) == 1 and re.search(message, lines[0]), stderr
    assert not (tmp_path / "run" / "finetune.keras").exists()


@pytest.fixture(scope="module")
def own_run(tiny_preset, tmp_path_factory) -> tuple[Path, Path]:
    """A three-step run on own CSV files (single sentence, string labels), tiny preset."""
    root = tmp_path_factory.mktemp("own")
    words = ["good", "bad", "the", "cat", "dog", "saw", "quick", "brown"]
    rng = np.random.default_rng(0)
    rows = [
        (" ".join(rng.choice(words, size=rng.integers(2, 12))), rng.choice(["pos", "neg"]))
        for _ in range(80)
    ]
    train = _write_csv(root / "reviews.csv", ["review", "sentiment"], rows[:60])
    dev = _write_csv(root / "dev.csv", ["review", "sentiment"], rows[60:])
    test = _write_csv(root / "test.csv", ["review"], [(r[0],) for r in rows[60:70]])
    run = root / "run"
    argv = [
        "--train-file",
        train,
        "--validation-file",
        dev,
        "--test-file",
        test,
        "--label-column",
        "sentiment",
        "--backbone",
        tiny_preset,
        "--seq-len",
        16,
        "--epochs",
        1,
        "--search-epochs",
        1,
        "--batch-size",
        8,
        "--lambda",
        0.5,
        "--output-dir",
        run,
        "--quiet",
    ]
    code, stderr = _main(argv)
    assert code == 0, stderr
    # The same command again: every step finished, nothing is trained again.
    before = (run / "results.json").read_text()
    code, stderr = _main(argv)
    assert code == 0 and (run / "results.json").read_text() == before, stderr
    return run, root


@pytest.mark.tensorflow_only  # trains
def test_own_pairs_with_scores_fine_tune_as_a_regression(tiny_preset, tmp_path):
    rng = np.random.default_rng(1)
    words = ["good", "bad", "the", "cat", "dog", "saw"]
    rows = [
        {
            "a": " ".join(rng.choice(words, 4)),
            "b": " ".join(rng.choice(words, 3)),
            "y": rng.uniform(0, 5),
        }
        for _ in range(30)
    ]
    train = _write_jsonl(tmp_path / "sim.jsonl", rows[:24])
    dev = _write_jsonl(tmp_path / "sim_dev.jsonl", rows[24:])
    argv = ["--train-file", train, "--validation-file", dev, "--label-column", "y"]
    argv += ["--backbone", tiny_preset, "--seq-len", 16, "--steps", "finetune", "--epochs", 1]
    code, stderr = _main([*argv, "--batch-size", 8, "--output-dir", tmp_path / "run", "--quiet"])
    assert code == 0, stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["metric"] == "pearson" and results["dev_examples"] == 6
    assert json.loads((tmp_path / "run" / "run_config.json").read_text())["is_pair"] is True


@pytest.mark.tensorflow_only  # trains
def test_own_data_runs_the_three_steps_and_predicts(own_run):
    run, root = own_run
    results = json.loads((run / "results.json").read_text())
    assert results["task"] == "reviews" and results["metric"] == "accuracy"
    assert set(results["seconds"]) == {"finetune", "search", "retrain"}
    assert results["train_examples"] + results["held_out_examples"] == 60
    assert results["dev_examples"] == 20
    run_config = json.loads((run / "run_config.json").read_text())
    assert run_config["label_names"] == ["neg", "pos"] and run_config["table"]["text_columns"] == [
        "review"
    ]
    code, stderr = _main(
        [
            "--train-file",
            root / "reviews.csv",
            "--validation-file",
            root / "dev.csv",
            "--test-file",
            root / "test.csv",
            "--label-column",
            "sentiment",
            "--checkpoint",
            run,
            "--predict-only",
            "--output-dir",
            run,
            "--quiet",
        ]
    )
    assert code == 0, stderr
    rows = (run / "test_predictions.tsv").read_text().splitlines()
    assert len(rows) == 1 + 10


@pytest.mark.tensorflow_only
def test_own_data_exports_and_benchmarks(own_run, tmp_path):
    run, _ = own_run
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = load_script("export_savedmodel").main(
            ["--checkpoint", str(run), "--export-dir", str(tmp_path / "serve")]
        )
    assert code == 0
    metadata = json.loads(
        next((tmp_path / "serve").glob("*/assets.extra/power_bert.json")).read_text()
    )
    assert metadata["task"] == "reviews" and metadata["label_names"] == ["neg", "pos"]
    out = tmp_path / "bench.json"
    with contextlib.redirect_stdout(io.StringIO()):
        code = load_script("benchmark").main(
            [
                "--checkpoint",
                str(run),
                "--protocol",
                "dynamic",
                "--repeats",
                "1",
                "--warmup",
                "1",
                "--json",
                str(out),
            ]
        )
    assert code == 0
    result = json.loads(out.read_text())
    assert "dev.csv" in json.dumps(result) and result["task"] == "reviews"


def test_run_config_api_takes_own_files(tmp_path):
    train = _write_csv(tmp_path / "tr.csv", ["text", "label"], [("a", "x"), ("b", "y")])
    config = RunConfig(train_file=train, text_columns=("text",))
    assert config.get_task().label_names == ("x", "y")
