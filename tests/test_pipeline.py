"""The training loop, the three-step pipeline and scripts/run_glue.py."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from glue_files import write_task, write_tiny_preset
from power_bert_tf import glue, minilm_directory
from power_bert_tf.model import PowerBertClassifier
from power_bert_tf.pipeline import RunConfig, load_checkpoint, trim_to_longest
from power_bert_tf.retention import RetentionConfig
from power_bert_tf.training import Trainer, TrainConfig, WarmupLinearDecay, mass_penalty, save_atomically

ROOT = Path(__file__).resolve().parents[1]
GLUE_DIR = Path(os.environ.get("GLUE_DIR", ROOT.parent / "shared" / "glue"))


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_glue_script = _load_script("run_glue")


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    return write_tiny_preset(tmp_path_factory.mktemp("preset"))


@pytest.fixture(scope="module")
def glue_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("glue")
    for name in glue.TASKS:
        write_task(name, root)
    return root


def _run(argv: list[str]) -> int:
    return run_glue_script.main([str(a) for a in argv])


# -- the pieces of the loop ------------------------------------------------------
def _soft_model(preset: Path, seq_len: int = 16) -> PowerBertClassifier:
    model = PowerBertClassifier.from_preset(
        str(preset), num_classes=2, sequence_length=seq_len, mode="soft", dropout=0.0
    )
    return model


def test_mass_penalty_equals_independent_computation(preset):
    model = _soft_model(preset)
    rng = np.random.default_rng(0)
    values = [rng.uniform(0, 1, 16).astype("float32") for _ in model.encoder.soft_extract_layers]
    for layer, value in zip(model.encoder.soft_extract_layers, values):
        layer.retention.assign(value)
    lam = 0.0123
    expected = lam * sum(j * v.sum() for j, v in enumerate(values, start=1))
    np.testing.assert_allclose(float(mass_penalty(model, lam)), expected, rtol=1e-6)
    assert float(mass_penalty(model, 0.0)) == 0.0


def test_warmup_linear_decay_shape():
    schedule = WarmupLinearDecay(peak=1.0, total_steps=100, warmup_steps=10)
    lrs = np.array([float(schedule(step)) for step in range(100)])
    assert lrs.argmax() == 9 and lrs.max() == pytest.approx(1.0)
    np.testing.assert_allclose(lrs[:10], np.arange(1, 11) / 10, rtol=1e-6)
    assert np.all(np.diff(lrs[10:]) < 0) and lrs[-1] == pytest.approx(1 / 90, rel=1e-5)


def _tiny_data(preset: Path, glue_root: Path, batch_size: int = 8):
    examples = glue.read_glue_split("cola", "train", glue_root / "CoLA")
    preprocessor = _soft_model(preset).preprocessor
    dataset = glue.make_dataset(examples, preprocessor, batch_size).map(trim_to_longest)
    return examples, dataset


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_lambda_drives_mass(preset, glue_root, lam):
    model = _soft_model(preset)
    examples, dataset = _tiny_data(preset, glue_root)
    trainer = Trainer(
        model, glue.get_task("cola"),
        TrainConfig(epochs=4, lr_bert=1e-4, lr_soft_extract=0.12, lambda_=lam, warmup_fraction=0.0),
        steps_per_epoch=3, verbose=0,
    )
    history = trainer.fit(dataset.repeat(1), dataset, examples.labels)
    masses = np.array(history[-1].masses)
    for layer in model.encoder.soft_extract_layers:  # the constraint holds
        values = layer.retention.numpy()
        assert values.min() >= 0.0 and values.max() <= 1.0
    if lam == 0.0:
        assert np.all(masses > 0.9 * 16), masses
    else:
        assert np.all(masses < 0.5 * 16), masses
        assert masses[-1] <= masses[0]  # deeper layers pay more per vector


def test_save_atomically_keeps_previous_checkpoint_on_failure(preset, tmp_path, monkeypatch):
    model = _soft_model(preset)
    path = str(tmp_path / "best.keras")
    save_atomically(model, path)
    before = Path(path).read_bytes()

    def broken_save(filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_atomically(model, path)
    assert Path(path).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["best.keras"]
    assert isinstance(keras.saving.load_model(path), PowerBertClassifier)


# -- end to end ------------------------------------------------------------------
@pytest.fixture(scope="module")
def cola_run(preset, glue_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cola_run")
    code = _run(["--task", "cola", "--data-dir", glue_root / "CoLA", "--backbone", preset,
                 "--output-dir", out, "--epochs", 1, "--batch-size", 8, "--seq-len", 24,
                 "--lambda", 0.5, "--lr-soft-extract", 0.05, "--quiet"])
    assert code == 0
    return out


def test_pipeline_writes_every_artifact(cola_run):
    names = set(os.listdir(cola_run))
    for name in ("finetune.keras", "search.keras", "retrain.keras", "retention.json",
                 "results.json", "run_config.json", "finetune_log.jsonl", "search_log.jsonl",
                 "retrain_log.jsonl", "tensorboard"):
        assert name in names, name
    assert not [n for n in names if "tmp" in n]
    results = json.loads((cola_run / "results.json").read_text())
    for key in ("task", "backbone", "metric", "baseline", "power", "retention", "flops_fraction", "seconds"):
        assert key in results, key
    assert results["task"] == "cola" and results["metric"] == "mcc"
    assert set(results["seconds"]) == {"finetune", "search", "retrain"}
    retention = RetentionConfig.parse(results["retention"], num_layers=2, seq_len=24)
    saved = json.loads((cola_run / "retention.json").read_text())
    assert RetentionConfig.from_masses(saved["masses"]).to_list() == retention.to_list()
    assert results["flops_fraction"] == pytest.approx(retention.flops_fraction(24, 16, 32))
    model = load_checkpoint(str(cola_run))
    assert model.mode == "hard" and model.retention.to_list() == results["retention"]
    search_log = [json.loads(line) for line in (cola_run / "search_log.jsonl").read_text().splitlines()]
    assert search_log[-1]["masses"] == pytest.approx(saved["masses"])


def test_eval_only_reproduces_retrain_metric(cola_run, glue_root, tmp_path):
    code = _run(["--task", "cola", "--data-dir", glue_root / "CoLA", "--checkpoint", cola_run,
                 "--eval-only", "--output-dir", tmp_path])
    assert code == 0
    evaluated = json.loads((tmp_path / "eval_results.json").read_text())
    results = json.loads((cola_run / "results.json").read_text())
    # retrain.keras is the best retraining epoch: its dev metric is results["power"].
    assert evaluated["metrics"]["mcc"] == pytest.approx(results["power"], abs=1e-6)
    assert evaluated["retention"] == results["retention"]


def test_predict_only_pred_glue(cola_run, glue_root, tmp_path):
    code = _run(["--task", "cola", "--data-dir", glue_root / "CoLA", "--checkpoint", cola_run,
                 "--predict-only", "--pred-glue", "--output-dir", tmp_path])
    assert code == 0
    with open(tmp_path / "CoLA.tsv") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    test = glue.read_glue_split("cola", "test", glue_root / "CoLA")
    assert rows[0] == ["index", "prediction"]
    assert [int(r[0]) for r in rows[1:]] == list(test.indices)
    assert {r[1] for r in rows[1:]} <= {"0", "1"}


def test_steps_run_on_their_own(cola_run, glue_root, tmp_path):
    code = _run(["--task", "cola", "--data-dir", glue_root / "CoLA",
                 "--checkpoint", cola_run / "finetune.keras", "--steps", "retrain",
                 "--retention-config", "20,10", "--seq-len", 24, "--epochs", 1,
                 "--batch-size", 8, "--output-dir", tmp_path, "--quiet"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["retention"] == [20, 10] and "power" in results and "baseline" in results
    assert load_checkpoint(str(tmp_path)).retention.to_list() == [20, 10]
    # The run records where it started, and the backbone that run recorded (not the default).
    start = str((cola_run / "finetune.keras").resolve())
    run_config = json.loads((tmp_path / "run_config.json").read_text())
    assert results["started_from"] == run_config["started_from"] == start
    original_backbone = json.loads((cola_run / "run_config.json").read_text())["backbone"]
    assert results["backbone"] == run_config["backbone"] == original_backbone


def test_benchmark_baseline_is_the_checkpoint_the_run_started_from(cola_run, glue_root, tmp_path):
    from power_bert_tf.benchmark import BenchmarkConfig, load_models

    assert _run(["--task", "cola", "--data-dir", glue_root / "CoLA",
                 "--checkpoint", cola_run / "finetune.keras", "--steps", "retrain",
                 "--retention-config", "12,6", "--seq-len", 24, "--epochs", 1,
                 "--batch-size", 8, "--output-dir", tmp_path, "--quiet"]) == 0
    assert not (tmp_path / "finetune.keras").exists()
    baseline, power, facts = load_models(BenchmarkConfig(checkpoint=str(tmp_path)))
    assert facts["baseline_source"] == str((cola_run / "finetune.keras").resolve())
    assert power.retention.to_list() == [12, 6] and baseline.mode == "none"
    # Same outputs as the fine-tuned model loaded on its own (the retrained one differs).
    reference = load_checkpoint(str(cola_run / "finetune.keras"))
    rng = np.random.default_rng(0)
    inputs = {"token_ids": rng.integers(1, 21, (4, 24)).astype("int32"),
              "segment_ids": np.zeros((4, 24), "int32"), "padding_mask": np.ones((4, 24), bool)}
    expected = keras.ops.convert_to_numpy(reference(inputs))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(baseline(inputs)), expected, rtol=1e-5, atol=1e-7)
    retrained = keras.ops.convert_to_numpy(power.with_mode("none")(inputs))
    assert np.abs(retrained - expected).max() > 1e-5  # the check above can tell the two apart


@pytest.mark.parametrize("task", [t for t in glue.TASKS if t != "cola"])
def test_every_task_fine_tunes_evaluates_and_predicts(task, preset, glue_root, tmp_path):
    directory = glue_root / glue.get_task(task).directory
    common = ["--task", task, "--data-dir", directory, "--seq-len", 24, "--batch-size", 8]
    assert _run(common + ["--backbone", preset, "--steps", "finetune", "--epochs", 1,
                          "--output-dir", tmp_path, "--quiet"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    metric = glue.get_task(task).metric
    assert results["metric"] == metric and np.isfinite(results["baseline"])
    assert _run(common + ["--checkpoint", tmp_path, "--retention-config", "12,6",
                          "--predict-only", "--pred-glue", "--output-dir", tmp_path]) == 0
    submission = [p for p in os.listdir(tmp_path) if p.endswith(".tsv")]
    assert len(submission) == 1
    lines = (tmp_path / submission[0]).read_text().splitlines()
    test = glue.read_glue_split(task, "test", directory)
    assert len(lines) == len(test) + 1


@pytest.mark.parametrize("argv, message", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--task", "cola", "--data-dir", "/does/not/exist"], "/does/not/exist"),
    (["--task", "cola", "--retention-config", "24,10,5"], "3 entries but the model has 2 layers"),
    (["--task", "cola", "--retention-config", "10,20"], "entry 2 is 20"),
    (["--task", "cola", "--retention-config", "30,20"], "larger than seq_len 24"),
    (["--task", "cola", "--retention-config", "10,0"], "entry 2 is 0"),
    (["--task", "cola", "--retention-config", "10,x"], "entry 2 is 'x'"),
    (["--task", "cola", "--retention-config", "10,2.5"], "entry 2 is '2.5'"),
    (["--task", "cola", "--pred-glue"], "--pred-glue needs --predict-only"),
])
def test_bad_flags_are_refused_in_one_line(argv, message, preset, glue_root, capsys, monkeypatch):
    monkeypatch.setattr(PowerBertClassifier, "__init__", _no_model_please)
    argv = list(argv)
    if "--data-dir" not in argv:
        argv += ["--data-dir", glue_root / "CoLA"]
    code = _run(argv + ["--backbone", preset, "--seq-len", 24])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert len(error.splitlines()) == 1 and message in error, error


def _no_model_please(*args, **kwargs):
    raise AssertionError("a model was built before the flags were checked")


def test_bad_data_file_names_file_and_line(preset, tmp_path, capsys):
    directory = write_task("cola", tmp_path)
    lines = (directory / "train.tsv").read_text().splitlines()
    lines[4] = "gj04\tmaybe\t\tA sentence ."
    (directory / "train.tsv").write_text("\n".join(lines) + "\n")
    code = _run(["--task", "cola", "--data-dir", directory, "--backbone", preset, "--seq-len", 24,
                 "--output-dir", tmp_path / "out", "--quiet"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and f"{directory / 'train.tsv'}:5:" in error, error


# -- distribution -------------------------------------------------------------------
MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from power_bert_tf import glue
    from power_bert_tf.model import PowerBertClassifier
    from power_bert_tf.pipeline import make_strategy
    from power_bert_tf.training import Trainer, TrainConfig

    preset = sys.argv[1]
    results = {}
    rng = np.random.default_rng(0)
    features = {"token_ids": rng.integers(5, 20, (8, 12)).astype("int32"),
                "segment_ids": np.zeros((8, 12), "int32"),
                "padding_mask": (np.arange(12)[None] < rng.integers(3, 13, (8, 1))).astype("int32")}
    labels = rng.integers(0, 2, 8).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(8)
    for name in ("default", "mirrored"):
        strategy = make_strategy(name)
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = PowerBertClassifier.from_preset(preset, num_classes=2, sequence_length=12,
                                                    mode="soft", dropout=0.0)
            trainer = Trainer(model, glue.get_task("cola"),
                              TrainConfig(epochs=1, lr_bert=1e-3, lr_soft_extract=1e-2,
                                          lambda_=0.1, warmup_fraction=0.0),
                              steps_per_epoch=1, strategy=strategy, verbose=0)
        history = trainer.fit(dataset, dataset, labels)
        results[name] = {"replicas": strategy.num_replicas_in_sync,
                         "loss": history[0].loss, "penalty": history[0].penalty,
                         "masses": history[0].masses,
                         "kernel": model.output_dense.kernel.numpy().ravel().tolist()}
    print(json.dumps(results))
""")


def test_mirrored_strategy_matches_one_device(preset, tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    completed = subprocess.run([sys.executable, str(script), str(preset)], capture_output=True,
                               text=True, timeout=300, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    one, two = results["default"], results["mirrored"]
    assert one["replicas"] == 1 and two["replicas"] == 2
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert two["penalty"] == pytest.approx(one["penalty"], rel=1e-5)
    np.testing.assert_allclose(two["masses"], one["masses"], rtol=1e-5)
    np.testing.assert_allclose(two["kernel"], one["kernel"], rtol=1e-4, atol=1e-6)


# -- real data, real weights ---------------------------------------------------------
@pytest.mark.integration
def test_real_cola_subsample_with_minilm(tmp_path):
    if minilm_directory() is None or not (GLUE_DIR / "CoLA" / "train.tsv").exists():
        pytest.skip("needs the MiniLM package and ../shared/glue")
    code = _run(["--task", "cola", "--data-dir", GLUE_DIR / "CoLA", "--backbone", "minilm",
                 "--max-train-examples", 64, "--max-dev-examples", 128, "--epochs", 1, "--batch-size", 16, "--seq-len", 32,
                 "--lambda", 0.05, "--lr-soft-extract", 0.05, "--output-dir", tmp_path, "--quiet"])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["train_examples"] == 64 and results["dev_examples"] == 128
    retention = RetentionConfig.parse(results["retention"], num_layers=6, seq_len=32)
    assert retention.keep[-1] < 32  # the search eliminated something
    assert -100 <= results["power"] <= 100 and -100 <= results["baseline"] <= 100


# -- choosing LAMBDA before a search -----------------------------------------------
def test_retention_gradients_match_finite_differences(cola_run, glue_root):
    from power_bert_tf.training import retention_gradients

    task = glue.get_task("cola")
    model = load_checkpoint(str(cola_run / "finetune.keras")).with_mode("soft")
    # A 1-epoch tiny model barely reads its input; a sharper head makes the gradients measurable.
    kernel = model.output_dense.kernel
    kernel.assign(kernel * 1000.0)
    examples = glue.load_split(task, "train", str(glue_root / "CoLA")).take(8, seed=0)
    texts = tf.constant(list(examples.texts[0]))
    features = model.preprocessor(texts)
    labels = tf.constant(examples.labels)
    dataset = tf.data.Dataset.from_tensors((features, labels))
    gradients = retention_gradients(model, dataset, task, max_batches=5)
    assert gradients.shape == (len(model.encoder.soft_extract_layers), 24)

    def loss() -> float:  # independent of the function under test: plain cross-entropy in numpy
        logits = np.asarray(model(features, training=False), dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(labels)), examples.labels].mean())

    layer, rank = np.unravel_index(np.argmax(np.abs(gradients)), gradients.shape)
    variable = model.encoder.soft_extract_layers[layer].retention
    start, step = variable.numpy(), 0.01
    assert np.all(start == 1.0)  # a fine-tuned model enters the search at r = 1
    shifted = start.copy()
    shifted[rank] -= step
    at_one = loss()
    variable.assign(shifted)
    below = loss()
    variable.assign(start)
    numeric = (at_one - below) / step  # one-sided: r may not exceed 1
    assert abs(gradients[layer, rank]) > 1e-4
    np.testing.assert_allclose(gradients[layer, rank], numeric, rtol=0.15)


def test_predicted_retention_against_hand_count():
    from power_bert_tf.training import predicted_retention

    gradients = np.array([
        [-0.5, -0.02, -0.004, -0.001, 0.0, 0.003],   # layer 1: pull > lambda * 1
        [-0.5, -0.02, -0.004, -0.001, 0.0, 0.0],     # layer 2: pull > lambda * 2
        [-0.5, 0.0, 0.0, 0.0, 0.0, -0.0001],         # layer 3
    ])
    assert predicted_retention(gradients, 1e-3).to_list() == [3, 3, 1]   # pulls > 1e-3, > 2e-3, > 3e-3
    assert predicted_retention(gradients, 3e-3).to_list() == [3, 2, 1]   # > 3e-3, > 6e-3, > 9e-3
    assert predicted_retention(gradients, 1e-2).to_list() == [2, 1, 1]   # 0.02 > 1e-2 but not > 2e-2
    assert predicted_retention(gradients, 1.0).to_list() == [1, 1, 1]    # never below one
    # A later layer that would keep more is capped by the one before (non-increasing).
    assert predicted_retention(np.array([[-0.5, 0.0, 0.0], [-0.5, -0.5, -0.5]]), 1e-3).to_list() == [1, 1]


def test_retention_gradients_cli(cola_run, glue_root, tmp_path, capsys):
    script = _load_script("retention_gradients")
    out = tmp_path / "gradients.json"
    code = script.main(["--task", "cola", "--checkpoint", str(cola_run / "finetune.keras"),
                        "--data-dir", str(glue_root / "CoLA"), "--batches", "2", "--batch-size", "4",
                        "--lambda", "1e-3,1", "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert np.asarray(payload["gradients"]).shape == (2, 24)
    assert payload["predicted_retention"]["1"] == [1, 1]
    assert "predicted retention" in capsys.readouterr().out
    assert script.main(["--task", "cola", "--checkpoint", "x", "--lambda", "1e-3,abc"]) == 2
    assert "--lambda '1e-3,abc'" in capsys.readouterr().err
    assert script.main(["--task", "colaa", "--checkpoint", "x"]) == 2
    assert "--task: unknown task 'colaa'" in capsys.readouterr().err
    assert script.main(["--task", "cola", "--checkpoint", str(tmp_path / "none.keras"),
                        "--data-dir", str(glue_root / "CoLA")]) == 2
    assert "none.keras: no such file" in capsys.readouterr().err
