"""A fine-tuned keras-hub classifier accelerated without fine-tuning it again: carried over with
its outputs unchanged (keras-hub's own predictions are the reference) for every family, then
searched and retrained from Python on data in memory (`power_bert_tf.accelerate`)."""

from __future__ import annotations

import json

import keras
import keras_hub
import numpy as np
import pytest
from glue_files import WORDS

from conftest import FAMILIES, backbone_inputs, make_backbone
from power_bert_tf import PowerBertClassifier
from power_bert_tf.accelerate import accelerate
from power_bert_tf.errors import PipelineError

CLASSIFIERS = {
    keras_hub.models.BertBackbone: keras_hub.models.BertTextClassifier,
    keras_hub.models.AlbertBackbone: keras_hub.models.AlbertTextClassifier,
    keras_hub.models.RobertaBackbone: keras_hub.models.RobertaTextClassifier,
    keras_hub.models.DistilBertBackbone: keras_hub.models.DistilBertTextClassifier,
}


def _randomize_head(classifier, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for layer in (getattr(classifier, "pooled_dense", None), classifier.output_dense):
        for variable in layer.weights if layer is not None else ():
            variable.assign(rng.normal(0, 0.5, tuple(variable.shape)).astype("float32"))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_keras_hub_classifier_is_carried_over_unchanged(family):
    backbone = make_backbone(family)
    classifier = CLASSIFIERS[type(backbone)](backbone, num_classes=3, preprocessor=None)
    _randomize_head(classifier, seed=1)
    rng = np.random.default_rng(0)
    token_ids = rng.integers(5, 100, size=(4, 12)).astype("int32")
    mask = np.ones((4, 12), "int32")
    mask[1, 7:] = 0
    inputs = backbone_inputs(backbone, token_ids, mask)
    expected = classifier.predict(inputs, verbose=0)
    model = PowerBertClassifier.from_text_classifier(classifier, sequence_length=12)
    assert model.mode == "none" and model.num_classes == 3
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, atol=1e-4)
    # Elimination changes them (the carried-over weights are live in every mode).
    pruned = model.with_mode("hard", retention=[6, 3] + [2] * (model.encoder.num_layers - 2))
    assert not np.allclose(pruned.predict(inputs, verbose=0), expected, atol=1e-4)


def test_an_output_activation_is_refused(backbones):
    classifier = keras_hub.models.BertTextClassifier(
        backbones["bert"], num_classes=2, preprocessor=None, activation="softmax"
    )
    with pytest.raises(
        ValueError, match="activation=softmax: .* build the classifier with activation=None"
    ):
        PowerBertClassifier.from_text_classifier(classifier)


@pytest.fixture(scope="module")
def classifier(tiny_preset):
    """A keras-hub BertTextClassifier on the tiny preset, briefly fine-tuned by keras-hub itself."""
    keras.utils.set_random_seed(0)
    model = keras_hub.models.BertTextClassifier.from_preset(
        str(tiny_preset), num_classes=2, sequence_length=16
    )
    texts, labels = _data(64, seed=0)
    model.fit(texts, labels, batch_size=16, epochs=1, verbose=0)
    return model


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, 12))) for _ in range(n)]
    labels = np.asarray([int(len(t.split()) > 7) for t in texts])
    return texts, labels


@pytest.mark.tensorflow_only
def test_accelerate_searches_and_retrains_a_keras_hub_classifier(classifier, tmp_path):
    import tensorflow as tf

    texts, labels = _data(80, seed=1)
    dev_texts, dev_labels = _data(24, seed=2)
    train = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(10)
    epochs = []
    results = accelerate(
        classifier,
        train,
        list(zip(dev_texts, dev_labels)),
        str(tmp_path),
        target_flops=0.7,
        search_epochs=1,
        epochs=1,
        batch_size=16,
        label_names=["short", "long"],
        on_epoch_end=lambda step, record: epochs.append(step),
        verbose=0,
    )
    # The fine-tuned model's dev score is keras-hub's own, computed here by numpy.
    predicted = np.argmax(classifier.predict(dev_texts, verbose=0), axis=1)
    assert results["baseline"] == pytest.approx(100.0 * np.mean(predicted == dev_labels))
    assert (
        results["delivered"] == "retrain"
        and results["train_examples"] + results["held_out_examples"] == 80
    )
    assert epochs == ["search", "retrain"]
    assert json.loads((tmp_path / "run_config.json").read_text())["label_names"] == [
        "short",
        "long",
    ]
    delivered = keras.saving.load_model(str(tmp_path / "retrain.keras"))
    assert delivered.mode == "hard" and delivered.retention.to_list() == results["retention"]


@pytest.mark.parametrize(
    "train, message",
    [
        ([("a b", 5)], r"train: label 5 is not a class id in \[0, 2\)"),
        ([(3, 1)], "train example 1: a text must be a string"),
        ([("a",)], r"train example 1: expected \(text, label\)"),
        ([], "train: no examples"),
    ],
)
def test_bad_data_is_named(classifier, train, message, tmp_path):
    with pytest.raises(PipelineError, match=message):
        accelerate(classifier, train, [("a b", 0)], str(tmp_path), verbose=0)


def test_another_model_in_the_run_directory_is_refused(classifier, tmp_path):
    """A run directory holds one model's run: accelerate() with another model there stops before
    writing anything (resuming would search and retrain the saved one); the same model goes on."""
    from power_bert_tf.accelerate import GIVEN_CHECKPOINT, _same_weights

    model = PowerBertClassifier.from_text_classifier(classifier)
    model.save(tmp_path / GIVEN_CHECKPOINT)
    assert _same_weights(model, str(tmp_path / GIVEN_CHECKPOINT))
    other = PowerBertClassifier.from_text_classifier(classifier)
    kernel = other.output_dense.kernel
    kernel.assign(keras.ops.convert_to_numpy(kernel) + 1.0)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(PipelineError, match="holds a run of another model; pass overwrite=True"):
        accelerate(other, [("a b", 0)], [("a b", 0)], str(tmp_path), verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
