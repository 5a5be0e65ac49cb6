"""Precision policy of loaded checkpoints: `load_classifier` re-applies the run's global policy.

A `.keras` file records the policy it was saved under; `--mixed-precision` sets
`mixed_bfloat16` globally before loading. References: per-layer policies of a model
built fresh under the same global policy, and the float32 model's weights and outputs.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import make_backbone, np_
from power_bert_tf import PowerBertClassifier, copy_weights_by_path
from power_bert_tf.models import with_global_precision
from power_bert_tf.runs import load_classifier

pytestmark = pytest.mark.tensorflow_only  # bfloat16 ops are slow under JAX's eager CPU path

SEQ = 16
MIXED = "mixed_bfloat16"
# The tiny BERT has 3 layers; hard mode shrinks at every one.
RETENTION = {"none": None, "hard": [12, 8, 5], "soft": None}


@pytest.fixture
def policy():
    """Sets the global policy for a test; float32 again afterwards, whatever happens."""
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


def make_classifier(mode: str, seed: int = 0) -> PowerBertClassifier:
    """A built tiny-BERT classifier under the current global policy (same weights per seed)."""
    model = PowerBertClassifier(
        make_backbone("bert", seed=seed),
        num_classes=3,
        retention=RETENTION[mode],
        mode=mode,
        sequence_length=SEQ,
    )
    model.build_from_example()
    rng = np.random.default_rng(seed + 100)
    for layer in model.encoder.soft_extract_layers:
        layer.retention.assign(rng.uniform(size=SEQ).astype("float32"))
    kernel = model.output_dense.kernel  # logits of order 1, not 0.02
    kernel.assign(rng.normal(size=tuple(kernel.shape)).astype("float32"))
    return model


def make_inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = np.array([16, 11, 6, 3])
    mask = np.arange(SEQ)[None, :] < lengths[:, None]
    token_ids = np.where(mask, rng.integers(1, 100, size=(len(lengths), SEQ)), 0).astype("int32")
    token_ids[:, 0] = 2
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": mask.astype("int32"),
    }


def layer_policies(model) -> list[tuple[str, str, str]]:
    """(class, name without keras' uniquifying suffix, policy) of every layer, in build order."""

    def base(name):
        stem, _, suffix = name.rpartition("_")
        return stem if suffix.isdigit() and stem else name

    return [
        (type(layer).__name__, base(layer.name), layer.dtype_policy.name)
        for layer in model._flatten_layers(include_self=True)
    ]


def weights(model) -> dict:
    prefix = model.name + "/"
    return {v.path.removeprefix(prefix): np_(v) for v in model.weights}


def assert_same_weights(loaded, saved):
    expected, got = weights(saved), weights(loaded)
    assert sorted(got) == sorted(expected)
    for path, value in expected.items():
        assert got[path].dtype == np.float32, path
        np.testing.assert_array_equal(got[path], value, err_msg=path)


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_float32_checkpoint_computes_mixed_in_a_mixed_run(tmp_path, policy, mode):
    saved = make_classifier(mode)
    path = tmp_path / "model.keras"
    saved.save(path)
    inputs = make_inputs()
    expected = np_(saved(inputs, training=False))

    policy(MIXED)
    assert (
        keras.saving.load_model(path).backbone.compute_dtype == "float32"
    )  # what keras alone restores
    loaded = load_classifier(path)
    reference = make_classifier(mode, seed=1)  # built fresh under the mixed policy

    assert layer_policies(loaded) == layer_policies(reference)
    assert loaded.encoder.significance.dtype_policy.name == "float32"  # pinned on purpose
    assert {p for _, _, p in layer_policies(loaded)} == {MIXED, "float32"}
    assert [name for _, name, p in layer_policies(loaded) if p == "float32"] == ["significance"]
    assert_same_weights(loaded, saved)
    assert (loaded.mode, loaded.sequence_length) == (mode, SEQ)
    if mode == "hard":
        assert loaded.retention.to_list() == RETENTION["hard"]

    assert loaded.output_dense.compute_dtype == "bfloat16"
    assert loaded.backbone.get_layer("token_embedding").compute_dtype == "bfloat16"
    hidden = loaded.encoder(inputs, training=False)["sequence_output"]
    assert (
        keras.backend.standardize_dtype(hidden.dtype) == "bfloat16"
    )  # really computed in bfloat16
    got = np_(loaded(inputs, training=False)).astype("float32")
    assert not np.array_equal(got, expected)
    np.testing.assert_allclose(got, expected, rtol=0.05, atol=0.05 * np.abs(expected).max())


def test_mixed_checkpoint_computes_float32_in_a_float32_run(tmp_path, policy):
    float32_model = make_classifier("hard")
    inputs = make_inputs(seed=3)
    expected = np_(float32_model(inputs, training=False))
    policy(MIXED)
    saved = make_classifier("hard", seed=5)
    copy_weights_by_path(float32_model, saved)
    saved.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    saved.optimizer.build(saved.trainable_variables)
    path = tmp_path / "model.keras"
    saved.save(path)

    policy("float32")
    loaded = load_classifier(path)
    assert {p for _, _, p in layer_policies(loaded)} == {"float32"}
    assert layer_policies(loaded) == layer_policies(make_classifier("hard", seed=1))
    assert_same_weights(loaded, saved)
    assert loaded.get_compile_config()["loss"] == saved.get_compile_config()["loss"]
    np.testing.assert_allclose(np_(loaded(inputs, training=False)), expected, rtol=1e-5, atol=1e-5)


def test_checkpoint_of_the_run_policy_is_returned_as_loaded(tmp_path, policy):
    policy(MIXED)
    path = tmp_path / "model.keras"
    make_classifier("none").save(path)
    loaded = keras.saving.load_model(path)
    assert with_global_precision(loaded) is loaded
    assert [name for _, name, p in layer_policies(loaded) if p != MIXED] == ["significance"]
