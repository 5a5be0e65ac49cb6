"""The three-step pipeline and scripts/run_glue.py, end to end on tiny GLUE files."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
from glue_files import write_task

from conftest import hand_flops, load_script
from power_bert_tf import data
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.pipeline import Pipeline, PipelineError, RunConfig
from power_bert_tf.retention import RetentionConfig, RetentionConfigError
from power_bert_tf.runs import load_classifier as load_checkpoint

pytestmark = pytest.mark.tensorflow_only
run_glue_script = load_script("run_glue")


def _run(argv: list[str]) -> int:
    return run_glue_script.main([str(a) for a in argv])


# -- end to end ------------------------------------------------------------------
@pytest.fixture(scope="module")
def cola_run(tiny_run) -> Path:
    """conftest's tiny CoLA run: seq_len 24, 2 epochs per step, LAMBDA 0.5, the default Soft-Extract rate."""
    return tiny_run


def test_pipeline_writes_every_artifact(cola_run, tiny_glue):
    names = set(os.listdir(cola_run))
    for name in (
        "finetune.keras",
        "search.keras",
        "retrain.keras",
        "results.json",
        "run_config.json",
        "finetune_log.jsonl",
        "search_log.jsonl",
        "retrain_log.jsonl",
        "tensorboard",
    ):
        assert name in names, name
    assert not [
        n for n in names if "tmp" in n or n.endswith(".resume")
    ]  # finished steps leave no state
    results = json.loads((cola_run / "results.json").read_text())
    # The tiny backbone is narrower than BERT-base: the run says which defaults it used, and why.
    assert results["defaults_applied"]["lr_bert"]["value"] == 1e-4
    assert "hidden size 16 < 768" in results["defaults_applied"]["lr_bert"]["why"]
    assert results["hyper_parameters"]["lr_bert"] == 1e-4
    for key in (
        "task",
        "backbone",
        "metric",
        "baseline",
        "power",
        "retention",
        "flops_fraction",
        "seconds",
    ):
        assert key in results, key
    assert results["task"] == "cola" and results["metric"] == "mcc"
    assert set(results["seconds"]) == {"finetune", "search", "retrain"}
    retention = RetentionConfig.parse(results["retention"], num_layers=2, seq_len=24)
    search = results["steps"]["search"]
    assert search["goal"] == "lambda" and search["lambda"] == 0.5
    assert RetentionConfig.from_masses(search["masses"]).to_list() == retention.to_list()
    # Epochs were chosen on the held-out part of the training set, apart from the dev set.
    train = data.read_glue_split("cola", "train", tiny_glue / "CoLA")
    assert results["held_out_examples"] == round(0.1 * len(train))
    assert results["train_examples"] + results["held_out_examples"] == len(train)
    for step in ("finetune", "retrain"):
        record = results["steps"][step]
        # The retrain's epoch 0 is its start, scored: it may stay the best.
        first = 0 if step == "retrain" else 1
        assert record["finished"] and first <= record["best_epoch"] <= record["epochs"]
    # FLOPs counted over the training part's token lengths (the default), and padded beside it.
    lengths = {int(n): c for n, c in results["flops_lengths"].items()}
    spent = sum(c * hand_flops(retention.keep, n, 16, 32) for n, c in lengths.items())
    full = sum(c * hand_flops([n, n], n, 16, 32) for n, c in lengths.items())
    assert results["flops_count"] == "batched"
    assert results["flops_fraction"] == pytest.approx(spent / full)
    assert results["padded_flops_fraction"] == pytest.approx(
        hand_flops(retention.keep, 24, 16, 32) / hand_flops([24, 24], 24, 16, 32)
    )
    model = load_checkpoint(str(cola_run))
    assert model.mode == "hard" and model.retention.to_list() == results["retention"]
    search_log = [
        json.loads(line) for line in (cola_run / "search_log.jsonl").read_text().splitlines()
    ]
    assert search_log[-1]["masses"] == pytest.approx(search["masses"])


def test_eval_only_reproduces_retrain_metric(cola_run, tiny_glue, tmp_path):
    code = _run(
        [
            "--task",
            "cola",
            "--data-dir",
            tiny_glue / "CoLA",
            "--checkpoint",
            cola_run,
            "--eval-only",
            "--output-dir",
            tmp_path,
        ]
    )
    assert code == 0
    evaluated = json.loads((tmp_path / "eval_results.json").read_text())
    results = json.loads((cola_run / "results.json").read_text())
    # retrain.keras is the best retraining epoch: its dev metric is results["power"].
    assert evaluated["metrics"]["mcc"] == pytest.approx(results["power"], abs=1e-6)
    assert evaluated["retention"] == results["retention"]


def test_predict_only_pred_glue(cola_run, tiny_glue, tmp_path):
    code = _run(
        [
            "--task",
            "cola",
            "--data-dir",
            tiny_glue / "CoLA",
            "--checkpoint",
            cola_run,
            "--predict-only",
            "--pred-glue",
            "--output-dir",
            tmp_path,
        ]
    )
    assert code == 0
    with open(tmp_path / "CoLA.tsv") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    test = data.read_glue_split("cola", "test", tiny_glue / "CoLA")
    assert rows[0] == ["index", "prediction"]
    assert [int(r[0]) for r in rows[1:]] == list(test.indices)
    assert {r[1] for r in rows[1:]} <= {"0", "1"}


@pytest.fixture(scope="module")
def retrained_alone(cola_run, tiny_glue, tmp_path_factory) -> Path:
    """`--steps retrain` on its own from the tiny run's finetune.keras, at retention 12,6."""
    output = tmp_path_factory.mktemp("retrain-alone")
    assert (
        _run(
            [
                "--task",
                "cola",
                "--data-dir",
                tiny_glue / "CoLA",
                "--checkpoint",
                cola_run / "finetune.keras",
                "--steps",
                "retrain",
                "--retention-config",
                "12,6",
                "--seq-len",
                24,
                "--epochs",
                1,
                "--batch-size",
                8,
                "--output-dir",
                output,
                "--quiet",
            ]
        )
        == 0
    )
    return output


def test_steps_run_on_their_own(cola_run, retrained_alone):
    run = retrained_alone
    results = json.loads((run / "results.json").read_text())
    assert results["retention"] == [12, 6] and "power" in results and "baseline" in results
    assert load_checkpoint(str(run)).retention.to_list() == [12, 6]
    # The run records where it started, and the backbone that run recorded (not the default).
    start = str((cola_run / "finetune.keras").resolve())
    run_config = json.loads((run / "run_config.json").read_text())
    assert results["started_from"] == run_config["started_from"] == start
    original_backbone = json.loads((cola_run / "run_config.json").read_text())["backbone"]
    assert results["backbone"] == run_config["backbone"] == original_backbone


def test_benchmark_baseline_is_the_checkpoint_the_run_started_from(cola_run, retrained_alone):
    from benchmarks.speed import BenchmarkConfig, load_models

    run = retrained_alone
    assert not (run / "finetune.keras").exists()
    baseline, power, facts = load_models(BenchmarkConfig(checkpoint=str(run)))
    assert facts["baseline_source"] == str((cola_run / "finetune.keras").resolve())
    assert power.retention.to_list() == [12, 6] and baseline.mode == "none"
    # Same outputs as the fine-tuned model loaded on its own (the retrained one differs).
    reference = load_checkpoint(str(cola_run / "finetune.keras"))
    rng = np.random.default_rng(0)
    inputs = {
        "token_ids": rng.integers(1, 21, (4, 24)).astype("int32"),
        "segment_ids": np.zeros((4, 24), "int32"),
        "padding_mask": np.ones((4, 24), bool),
    }
    expected = keras.ops.convert_to_numpy(reference(inputs))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(baseline(inputs)), expected, rtol=1e-5, atol=1e-7
    )
    # The check above can tell the two apart: the delivered model (12,6 of 24 word-vectors)
    # answers otherwise, even when its retrain kept its start (the fine-tuned weights) as best.
    delivered = keras.ops.convert_to_numpy(power(inputs))
    assert np.abs(delivered - expected).max() > 1e-5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "nope"], "unknown task 'nope'"),
        (["--task", "cola", "--data-dir", "/does/not/exist"], "/does/not/exist"),
        (
            ["--task", "cola", "--retention-config", "24,10,5"],
            "3 entries but the model has 2 layers",
        ),
        (["--task", "cola", "--retention-config", "10,20"], "entry 2 is 20"),
        (["--task", "cola", "--retention-config", "30,20"], "larger than seq_len 24"),
        (["--task", "cola", "--retention-config", "10,0"], "entry 2 is 0"),
        (["--task", "cola", "--retention-config", "10,x"], "entry 2 is 'x'"),
        (["--task", "cola", "--retention-config", "10,2.5"], "entry 2 is '2.5'"),
        (["--task", "cola", "--pred-glue"], "--pred-glue needs --predict-only"),
        (["--task", "cola", "--target-flops", "1.5"], "--target-flops must be in (0, 1], got 1.5"),
        (
            ["--task", "cola", "--lambda", "1e-3", "--target-flops", "0.5"],
            "--lambda and --target-flops exclude each other",
        ),
        (
            ["--task", "cola", "--max-metric-drop", "1", "--retention-config", "20,10"],
            "--max-metric-drop and --retention-config exclude each other",
        ),
        (["--task", "cola", "--max-metric-drop", "-1"], "--max-metric-drop must be at least 0"),
        (
            ["--task", "cola", "--held-out-fraction", "1.5"],
            "--held-out-fraction must be in (0, 1), got 1.5",
        ),
        (["--task", "cola", "--lr-soft-extract", "0"], "--lr-soft-extract must be positive"),
        (
            ["--task", "cola", "--max-train-examples", "0"],
            "--max-train-examples must be at least 1",
        ),
        (["--task", "cola", "--max-dev-examples", "-3"], "--max-dev-examples must be at least 1"),
        (["--task", "cola", "--epochs", "0"], "--epochs must be at least 1"),
        (
            ["--task", "cola", "--target-flops", "0.2"],
            "--target-flops: target FLOPs fraction 0.2 is below the cheapest configuration's 0.298",
        ),
    ],
)
def test_bad_flags_are_refused_in_one_line(
    argv, message, tiny_preset, tiny_glue, capsys, monkeypatch
):
    monkeypatch.setattr(PowerBertClassifier, "__init__", _no_model_please)
    argv = list(argv)
    if "--data-dir" not in argv:
        argv += ["--data-dir", tiny_glue / "CoLA"]
    code = _run(argv + ["--backbone", tiny_preset, "--seq-len", 24])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert len(error.splitlines()) == 1 and message in error, error


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"flops_count": None}, "--flops-count must be one of batched, dynamic, padded, got None"),
        ({"flops_count": ""}, "got ''"),
        ({"patience": None}, "--patience must be at least 0, got None"),
        ({"held_out_fraction": None}, "--held-out-fraction must be in (0, 1), got None"),
        ({"distill_temperature": None}, "--distill-temperature must be positive, got None"),
        ({"epochs": None}, "--epochs must be at least 1, got None"),
        (
            {"distribute": "multiworker"},
            "--distribute must be one of default, mirrored, got 'multiworker'",
        ),
    ],
)
def test_python_api_refuses_none_where_a_setting_has_no_task_default(setting, message, tiny_preset):
    """From Python (RunConfig, accelerate), None means "the task's default" only for settings
    that have one; elsewhere it is refused at once, not met mid-run or counted otherwise."""
    with pytest.raises(PipelineError) as raised:
        RunConfig(task="cola", backbone=str(tiny_preset), **setting).resolved()
    assert message in str(raised.value)


def test_target_flops_lands_on_the_budget(cola_run, tiny_glue, tmp_path):
    """The searched masses are projected onto --target-flops; the retrained model's FLOPs
    fraction (counted by hand, as the implementation computes) is within 0.02 of it."""
    assert (
        _run(
            [
                "--task",
                "cola",
                "--data-dir",
                tiny_glue / "CoLA",
                "--checkpoint",
                cola_run,
                "--steps",
                "search,retrain",
                "--target-flops",
                0.6,
                "--epochs",
                1,
                "--search-epochs",
                1,
                "--batch-size",
                8,
                "--output-dir",
                tmp_path,
                "--quiet",
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "results.json").read_text())
    keep = results["retention"]
    assert (
        results["search"]["target_flops"] == 0.6 and results["steps"]["search"]["retention"] == keep
    )
    # Counted over the training part's token lengths (the default), tiny preset: d 16, f 32.
    lengths = {int(n): c for n, c in results["flops_lengths"].items()}
    spent = sum(c * hand_flops(keep, n, 16, 32) for n, c in lengths.items())
    full = sum(c * hand_flops([n, n], n, 16, 32) for n, c in lengths.items())
    assert results["flops_fraction"] == pytest.approx(spent / full)

    def fraction(scale):  # the search's masses scaled and rounded, counted by hand
        config = RetentionConfig.from_masses([min(24, scale * m) for m in masses]).keep
        return sum(c * hand_flops(config, n, 16, 32) for n, c in lengths.items()) / full

    # As close to 0.6 as whole word-vector counts over these short inputs allow.
    # (a layer the search emptied still scales, from a tiny mass)
    masses = [max(m, 1e-6) for m in results["steps"]["search"]["masses"]]
    scales = np.geomspace(1e-3, 24 / min(masses), 20000)
    closest = min(abs(fraction(s) - 0.6) for s in scales)
    assert abs(spent / full - 0.6) <= closest + 1e-9 and closest < 0.1


def test_flops_lengths_are_the_preprocessors_token_counts(tiny_preset, tiny_glue, tmp_path):
    """The histogram dynamic FLOPs are counted over: the training part's token counts as
    keras-hub's own preprocessor gives them (its padding mask), capped at --seq-len."""
    import keras_hub

    config = RunConfig(task="cola", data_dir=str(tiny_glue / "CoLA"), backbone=str(tiny_preset))
    pipeline = Pipeline(replace(config, seq_len=12, output_dir=str(tmp_path)))
    train, _ = pipeline.training_split()
    preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(
        str(tiny_preset), sequence_length=12
    )
    counts = np.asarray(preprocessor(list(train.texts[0]))["padding_mask"]).sum(axis=1)
    expected = {int(n): int((counts == n).sum()) for n in set(counts.tolist())}
    dynamic = Pipeline(replace(config, seq_len=12, flops_count="dynamic"))
    assert dynamic.flops_lengths(train) == expected and max(expected) == 12
    assert Pipeline(replace(config, flops_count="padded")).flops_lengths(train) is None
    # The default, 'batched': each example at the longest of its batch of --batch-size.
    batched = pipeline.flops_lengths(train)
    assert sum(batched.values()) == len(counts) and max(batched) == max(expected)
    assert sum(n * c for n, c in batched.items()) > counts.sum()  # short ones pay for long ones
    whole = Pipeline(replace(config, seq_len=12, batch_size=len(counts))).flops_lengths(train)
    assert whole == {int(counts.max()): len(counts)}


def test_default_search_records_its_judgements_and_delivers_what_passed(
    cola_run, tiny_glue, tmp_path
):
    """No --lambda, no target: --max-metric-drop 1.0. Every configuration judged (the fine-tuned
    model with elimination: a bound on its loss, better than a constant predictor) sits on the
    FLOPs ladder; the plan is the cheapest within reach of passing, then the cheapest that passed
    (recomputed here from the verdicts' numbers). When none is, the run says it delivers the
    fine-tuned model."""
    assert (
        _run(
            [
                "--task",
                "cola",
                "--data-dir",
                tiny_glue / "CoLA",
                "--checkpoint",
                cola_run,
                "--steps",
                "search,retrain",
                "--epochs",
                1,
                "--search-epochs",
                1,
                "--batch-size",
                8,
                "--output-dir",
                tmp_path,
                "--quiet",
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["defaults_applied"]["max_metric_drop"]["value"] == 1.0
    search = results["search"]
    assert search["goal"] == "max_metric_drop" and search["candidates"]
    # The baseline is the fine-tuned checkpoint the run started from, scored on the same held-out part.
    assert results["steps"]["baseline"]["checkpoint"] == str(
        (cola_run / "finetune.keras").resolve()
    )
    for c in search["candidates"]:
        verdict = c["verdict"]
        assert verdict["passes"] == (
            verdict["bound"] <= 1.0 and verdict["metric"] > verdict["constant"]
        )
    judged = search["candidates"]
    passing = [c for c in judged if c["verdict"]["passes"]]
    within = [
        c for c in judged if c["verdict"]["informative"] and c["verdict"]["bound"] <= 1.0 + 2.0
    ]
    safe = min(passing, key=lambda c: c["flops_fraction"]) if passing else None
    ambitious = min(within, key=lambda c: c["flops_fraction"]) if within else None
    cheaper = ambitious and (safe is None or ambitious["flops_fraction"] < safe["flops_fraction"])
    plan = [ambitious["retention"]] if cheaper else []
    plan += [safe["retention"]] if safe else []
    assert search["plan"] == plan
    if plan:
        assert search["chosen"]["retention"] == plan[0]
    else:  # the tiny random model: no candidate beats a constant predictor
        assert search["chosen"] is None and results["delivered"] == "finetune"
        assert results["power"] == results["baseline"] and results["flops_fraction"] == 1.0
        assert not (tmp_path / "retrain.keras").exists()
    # The ladder ends at or above 0.01 over the cheapest configuration (one word-vector per
    # layer), counted by hand over the training part's token lengths.
    lengths = {int(n): c for n, c in results["flops_lengths"].items()}
    cheapest = sum(c * hand_flops([1, 1], n, 16, 32) for n, c in lengths.items()) / sum(
        c * hand_flops([n, n], n, 16, 32) for n, c in lengths.items()
    )
    targets = {c["target"] for c in judged}
    assert all(round(t / 0.05) * 0.05 == pytest.approx(t) for t in targets)
    assert min(targets) >= cheapest + 0.01 - 1e-9 and max(targets) <= 0.95


def test_lambda_search_warns_when_the_weights_cannot_travel(cola_run, tiny_glue, tmp_path, capsys):
    assert (
        _run(
            [
                "--task",
                "cola",
                "--data-dir",
                tiny_glue / "CoLA",
                "--checkpoint",
                cola_run,
                "--steps",
                "search",
                "--epochs",
                1,
                "--search-epochs",
                1,
                "--batch-size",
                8,
                "--lambda",
                1e-3,
                "--lr-soft-extract",
                1e-3,
                "--output-dir",
                tmp_path,
                "--quiet",
            ]
        )
        == 0
    )
    assert "lets a retention weight move at most" in capsys.readouterr().err
    search = json.loads((tmp_path / "results.json").read_text())["steps"]["search"]
    assert search["retention_travel"] < 1.0 and search["lr_soft_extract"] == 1e-3
    # Left unset (conftest's tiny run), the rate is scaled to the search's steps: each weight can
    # travel twice its range.
    assert "at most" not in (cola_run.parent / "tiny_run.stderr").read_text()
    results = json.loads((cola_run / "results.json").read_text())
    assert results["steps"]["search"]["retention_travel"] == pytest.approx(2.0)
    assert (
        results["defaults_applied"]["lr_soft_extract"]["value"]
        == results["steps"]["search"]["lr_soft_extract"]
    )


def test_defaults_follow_the_backbone_and_the_checkpoint(tiny_preset, cola_run, tmp_path):
    """lr_bert: the task table (tuned for BERT-base) for a BERT-base-wide backbone, 1e-4 for a
    narrower one, a flag always wins; seq_len and the retention check follow a checkpoint."""
    narrow = RunConfig(task="cola", backbone=str(tiny_preset)).resolved()
    assert narrow.lr_bert == 1e-4 and narrow.seq_len == 64
    assert narrow.applied_defaults["seq_len"] == {"value": 64, "why": "the cola task table"}
    wide_dir = tmp_path / "wide"
    wide_dir.mkdir()
    (wide_dir / "config.json").write_text(json.dumps({"num_hidden_layers": 12, "hidden_size": 768}))
    wide = RunConfig(task="cola", backbone=str(wide_dir)).resolved()
    assert wide.lr_bert == data.get_task("cola").lr_bert == 2e-5
    given = RunConfig(task="cola", backbone=str(tiny_preset), lr_bert=3e-5).resolved()
    assert given.lr_bert == 3e-5 and "lr_bert" not in given.applied_defaults
    # The checkpoint was trained at seq_len 24 (CoLA's table says 64).
    resumed = RunConfig(task="cola", checkpoint=str(cola_run), steps=("retrain",)).resolved()
    assert resumed.seq_len == 24
    assert resumed.applied_defaults["seq_len"]["why"] == "the checkpoint's sequence_length"
    with pytest.raises(RetentionConfigError, match="larger than seq_len 24"):
        RunConfig(
            task="cola", checkpoint=str(cola_run), steps=("retrain",), retention="30,20"
        ).resolved()


def _no_model_please(*args, **kwargs):
    raise AssertionError("a model was built before the flags were checked")


@pytest.mark.parametrize("split", ["train", "dev"])
def test_bad_data_file_names_file_and_line(split, tiny_preset, tmp_path, capsys, monkeypatch):
    """Found before any model is built (a bad file costs no backbone load)."""
    monkeypatch.setattr(PowerBertClassifier, "__init__", _no_model_please)
    directory = write_task("cola", tmp_path)
    lines = (directory / f"{split}.tsv").read_text().splitlines()
    lines[4] = "gj04\tmaybe\t\tA sentence ."
    (directory / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    code = _run(
        [
            "--task",
            "cola",
            "--data-dir",
            directory,
            "--backbone",
            tiny_preset,
            "--seq-len",
            24,
            "--output-dir",
            tmp_path / "out",
            "--quiet",
        ]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and f"{directory / f'{split}.tsv'}:5:" in error, error


def test_retention_gradients_cli(cola_run, tiny_glue, tmp_path, capsys):
    script = load_script("retention_gradients")
    out = tmp_path / "gradients.json"
    code = script.main(
        [
            "--task",
            "cola",
            "--checkpoint",
            str(cola_run / "finetune.keras"),
            "--data-dir",
            str(tiny_glue / "CoLA"),
            "--batches",
            "2",
            "--batch-size",
            "4",
            "--lambda",
            "1e-3,1",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    payload = json.loads(out.read_text())
    assert np.asarray(payload["gradients"]).shape == (2, 24)
    assert payload["predicted_retention"]["1"] == [1, 1]
    assert "predicted retention" in capsys.readouterr().out
    assert script.main(["--task", "cola", "--checkpoint", "x", "--lambda", "1e-3,abc"]) == 2
    assert "--lambda '1e-3,abc'" in capsys.readouterr().err
    assert script.main(["--task", "colaa", "--checkpoint", "x"]) == 2
    assert "--task: unknown task 'colaa'" in capsys.readouterr().err
    assert (
        script.main(
            [
                "--task",
                "cola",
                "--checkpoint",
                str(tmp_path / "none.keras"),
                "--data-dir",
                str(tiny_glue / "CoLA"),
            ]
        )
        == 2
    )
    assert "none.keras: no such file" in capsys.readouterr().err


def test_tensorboard_names_the_held_out_part(cola_run):
    """Each step's TensorBoard scalars are named for what they score: the held-out part of the
    training set (the dev set is read only for the reported numbers)."""
    import tensorflow as tf

    tags = set()
    for event_file in (cola_run / "tensorboard").rglob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(event_file)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags |= {value.tag for value in event.summary.value}
    assert "held_out/mcc" in tags and "loss" in tags
    assert not [tag for tag in tags if tag.startswith("dev/")]
