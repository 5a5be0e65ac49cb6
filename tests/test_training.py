"""The training loop: loss terms, LR schedule, the mass penalty's effect, checkpoints,
tf.distribute, and the gradient probe. TensorFlow only (tf.GradientTape, tf.data)."""

from __future__ import annotations

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

from power_bert_tf import data
from power_bert_tf.errors import PipelineError
from power_bert_tf.files import save_checkpoint
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.runs import load_classifier as load_checkpoint
from power_bert_tf.training import (
    TrainConfig,
    Trainer,
    WarmupLinearDecay,
    make_strategy,
    mass_penalty,
)

pytestmark = pytest.mark.tensorflow_only


def cola_metrics(labels, predictions):
    return data.compute_metrics("cola", labels, predictions)


@pytest.fixture(scope="module")
def cola_run(tiny_run) -> Path:
    return tiny_run


# -- the pieces of the loop ------------------------------------------------------
def _soft_model(tiny_preset: Path, seq_len: int = 16) -> PowerBertClassifier:
    model = PowerBertClassifier.from_preset(
        str(tiny_preset), num_classes=2, sequence_length=seq_len, mode="soft", dropout=0.0
    )
    return model


def test_mass_penalty_equals_independent_computation(tiny_preset):
    model = _soft_model(tiny_preset)
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


def _tiny_data(tiny_preset: Path, tiny_glue: Path, batch_size: int = 8):
    examples = data.read_glue_split("cola", "train", tiny_glue / "CoLA")
    preprocessor = _soft_model(tiny_preset).preprocessor
    features = data.encode_examples(examples, preprocessor)
    dataset = data.make_encoded_dataset(features, examples.labels, batch_size)
    return examples, dataset


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_lambda_drives_mass(tiny_preset, tiny_glue, lam):
    model = _soft_model(tiny_preset)
    examples, dataset = _tiny_data(tiny_preset, tiny_glue)
    trainer = Trainer(
        model,
        TrainConfig(epochs=4, lr_bert=1e-4, lr_soft_extract=0.12, lambda_=lam, warmup_fraction=0.0),
        cola_metrics,
        "mcc",
        steps_per_epoch=3,
        verbose=0,
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


def test_save_checkpoint_keeps_previous_checkpoint_on_failure(tiny_preset, tmp_path, monkeypatch):
    model = _soft_model(tiny_preset)
    path = str(tmp_path / "best.keras")
    save_checkpoint(model, path)
    before = Path(path).read_bytes()

    def broken_save(filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, path)
    assert Path(path).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["best.keras"]
    assert isinstance(keras.saving.load_model(path), PowerBertClassifier)


# -- distribution -------------------------------------------------------------------
MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from power_bert_tf import data
    from power_bert_tf.models import PowerBertClassifier
    from power_bert_tf.training import Trainer, TrainConfig, make_strategy

    tiny_preset = sys.argv[1]
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
            model = PowerBertClassifier.from_preset(tiny_preset, num_classes=2, sequence_length=12,
                                                    mode="soft", dropout=0.0)
            trainer = Trainer(model, TrainConfig(epochs=1, lr_bert=1e-3, lr_soft_extract=1e-2,
                                                 lambda_=0.1, warmup_fraction=0.0),
                              lambda y, p: data.compute_metrics("cola", y, p), "mcc",
                              steps_per_epoch=1, strategy=strategy, verbose=0)
        history = trainer.fit(dataset, dataset, labels)
        results[name] = {"replicas": strategy.num_replicas_in_sync,
                         "loss": history[0].loss, "penalty": history[0].penalty,
                         "masses": history[0].masses,
                         "kernel": model.output_dense.kernel.numpy().ravel().tolist()}
    print(json.dumps(results))
""")


def test_the_training_loop_refuses_another_backend_in_one_line(monkeypatch):
    """Under KERAS_BACKEND=jax the loop would fail deep in tf.function on a JAX array."""
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(PipelineError, match="training needs KERAS_BACKEND=tensorflow, not 'jax'"):
        Trainer(None, TrainConfig(), lambda labels, predictions: {}, "accuracy", 1)


def test_make_strategy_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="'multiworker'"):
        make_strategy("multiworker")


def test_mirrored_strategy_matches_one_device(tiny_preset, tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    completed = subprocess.run(
        [sys.executable, str(script), str(tiny_preset)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    one, two = results["default"], results["mirrored"]
    assert one["replicas"] == 1 and two["replicas"] == 2
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert two["penalty"] == pytest.approx(one["penalty"], rel=1e-5)
    np.testing.assert_allclose(two["masses"], one["masses"], rtol=1e-5)
    np.testing.assert_allclose(two["kernel"], one["kernel"], rtol=1e-4, atol=1e-6)


# -- choosing LAMBDA before a search -----------------------------------------------
def test_retention_gradients_match_finite_differences(cola_run, tiny_glue):
    from benchmarks.probe import retention_gradients

    task = data.get_task("cola")
    model = load_checkpoint(str(cola_run / "finetune.keras")).with_mode("soft")
    seq_len = model.sequence_length
    # A 1-epoch tiny model barely reads its input; a sharper head makes the gradients measurable.
    kernel = model.output_dense.kernel
    kernel.assign(kernel * 10000.0)
    examples = data.load_split(task, "train", str(tiny_glue / "CoLA")).take(8, seed=0)
    texts = tf.constant(list(examples.texts[0]))
    features = model.preprocessor(texts)
    labels = tf.constant(examples.labels)
    dataset = tf.data.Dataset.from_tensors((features, labels))
    gradients = retention_gradients(model, dataset, max_batches=5)
    assert gradients.shape == (len(model.encoder.soft_extract_layers), seq_len)

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
    from benchmarks.probe import predicted_retention

    gradients = np.array(
        [
            [-0.5, -0.02, -0.004, -0.001, 0.0, 0.003],  # layer 1: pull > lambda * 1
            [-0.5, -0.02, -0.004, -0.001, 0.0, 0.0],  # layer 2: pull > lambda * 2
            [-0.5, 0.0, 0.0, 0.0, 0.0, -0.0001],  # layer 3
        ]
    )
    assert predicted_retention(gradients, 1e-3).to_list() == [
        3,
        3,
        1,
    ]  # pulls > 1e-3, > 2e-3, > 3e-3
    assert predicted_retention(gradients, 3e-3).to_list() == [3, 2, 1]  # > 3e-3, > 6e-3, > 9e-3
    assert predicted_retention(gradients, 1e-2).to_list() == [2, 1, 1]  # 0.02 > 1e-2 but not > 2e-2
    assert predicted_retention(gradients, 1.0).to_list() == [1, 1, 1]  # never below one
    # A later layer that would keep more is capped by the one before (non-increasing).
    assert predicted_retention(
        np.array([[-0.5, 0.0, 0.0], [-0.5, -0.5, -0.5]]), 1e-3
    ).to_list() == [1, 1]


# -- convergence and distillation ---------------------------------------------------------
def test_per_example_loss_is_squared_error_for_a_score():
    from power_bert_tf.training.losses import per_example_loss

    got = keras.ops.convert_to_numpy(per_example_loss(True, np.array([1.0]), np.array([[3.0]])))
    np.testing.assert_array_equal(got, np.array([4.0], np.float32))
    assert got.dtype == np.float32


def test_distillation_loss_is_the_tempered_kl_by_hand():
    from power_bert_tf.training import distillation_loss

    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    t = 2.0

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    p, q = softmax(teacher / t), softmax(student / t)
    by_hand = t * t * np.sum(p * np.log(p / q), axis=1)
    got = keras.ops.convert_to_numpy(distillation_loss(False, teacher, student, temperature=t))
    np.testing.assert_allclose(got, by_hand, rtol=1e-5)
    scores = keras.ops.convert_to_numpy(distillation_loss(True, teacher[:, :1], student[:, :1]))
    np.testing.assert_allclose(scores, (teacher[:, 0] - student[:, 0]) ** 2, rtol=1e-5)


def test_converged_once_patience_epochs_bring_nothing():
    from power_bert_tf.training import TrainConfig

    assert TrainConfig(patience=2).converged([30.0, 31.0, 30.5, 29.0])
    assert not TrainConfig(patience=2).converged([30.0, 31.0, 30.5])
    assert not TrainConfig().converged([1.0, 0.0, 0.0])  # patience 0: never


def test_training_stops_once_patience_epochs_bring_nothing(tiny_preset, tiny_glue):
    """Held-out scores 10, 12, 11, 11.5, 13, ...: with patience 2 the loop stops after epoch 4
    (epochs 3 and 4 did not beat epoch 2's 12); without patience it runs every epoch."""
    examples, dataset = _tiny_data(tiny_preset, tiny_glue)
    for patience, epochs in ((2, 4), (0, 6)):
        scores = iter([10.0, 12.0, 11.0, 11.5, 13.0, 14.0])
        trainer = Trainer(
            _soft_model(tiny_preset).with_mode("none"),
            TrainConfig(epochs=6, lr_bert=1e-4, patience=patience),
            lambda y, p, scores=scores: {"mcc": next(scores)},
            "mcc",
            steps_per_epoch=1,
            verbose=0,
        )
        history = trainer.fit(dataset.take(1), dataset.take(1), examples.labels[:8])
        assert [r.epoch for r in history] == list(range(1, epochs + 1)), patience


def test_distillation_weight_decides_what_the_retrain_learns_from(tiny_preset, tiny_glue):
    """Weight 1: the labels do not matter (other labels, the same weights); weight 0: the
    teacher does not matter; 0.5: both do."""
    examples = data.read_glue_split("cola", "train", tiny_glue / "CoLA")
    base = _soft_model(tiny_preset).with_mode("none")
    features = data.encode_examples(examples, base.preprocessor)
    rng = np.random.default_rng(0)
    teachers = [rng.normal(size=(len(examples), 2)).astype("float32") for _ in range(2)]
    labels = [examples.labels, 1 - examples.labels]

    def trained(weight, label, teacher):
        keras.utils.set_random_seed(0)
        model = base.with_mode("none")
        batches = data.make_encoded_dataset(features, (label, teacher), batch_size=8)
        trainer = Trainer(
            model,
            TrainConfig(epochs=1, lr_bert=1e-3, distill_weight=weight, warmup_fraction=0.0),
            cola_metrics,
            "mcc",
            steps_per_epoch=3,
            verbose=0,
        )
        trainer.fit(batches.take(3), batches.take(1), examples.labels[:8])
        return np.concatenate(
            [keras.ops.convert_to_numpy(v).ravel() for v in model.trainable_variables]
        )

    np.testing.assert_allclose(
        trained(1.0, labels[0], teachers[0]), trained(1.0, labels[1], teachers[0]), atol=1e-6
    )
    np.testing.assert_allclose(
        trained(0.0, labels[0], teachers[0]), trained(0.0, labels[0], teachers[1]), atol=1e-6
    )
    assert not np.allclose(
        trained(0.5, labels[0], teachers[0]), trained(0.5, labels[1], teachers[0]), atol=1e-6
    )
    assert not np.allclose(
        trained(0.5, labels[0], teachers[0]), trained(0.5, labels[0], teachers[1]), atol=1e-6
    )
