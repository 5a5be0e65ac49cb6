"""PowerBertClassifier: the head, saving, mode switches, raw-text predict and fit, on every family.

References: keras-hub's own backbone outputs with the head computed in numpy. Runs on
TensorFlow and JAX.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import FAMILIES, Backbones, has_segments, infer, make_backbone, np_
from power_bert_tf import PowerBertClassifier, copy_weights_by_path

TOL = dict(rtol=1e-5, atol=1e-5)
TOL_SCORES = dict(rtol=1e-5, atol=3e-5)
SEQ = 16
BATCH_LENGTHS = [16, 11, 6, 3]


def make_inputs(lengths, seq=SEQ, seed=0, segments=True):
    rng = np.random.default_rng(seed)
    mask = np.arange(seq)[None, :] < np.asarray(lengths)[:, None]
    token_ids = np.where(mask, rng.integers(1, 100, size=(len(lengths), seq)), 0).astype("int32")
    token_ids[:, 0] = 2
    inputs = {"token_ids": token_ids, "padding_mask": mask.astype("int32")}
    if segments:
        inputs["segment_ids"] = np.zeros_like(token_ids)
    return inputs


def take(inputs, rows, seq=None):
    return {k: v[rows, :seq] for k, v in inputs.items()}


def shrinking(n, seq=SEQ, last=3):
    return [int(v) for v in np.linspace(seq - 3, last, n).round().astype(int)]


@pytest.fixture(scope="module")
def backbones():
    return Backbones()


def model_schedule(backbone):
    return PowerBertClassifier(backbone, num_classes=2).encoder.schedule


def make_classifier(backbone, **kwargs):
    model = PowerBertClassifier(backbone, num_classes=3, sequence_length=SEQ, **kwargs)
    model.build_from_example()
    rng = np.random.default_rng(11)
    model.output_dense.kernel.assign(
        rng.normal(size=tuple(model.output_dense.kernel.shape)).astype("float32")
    )
    model.output_dense.bias.assign(rng.normal(size=(3,)).astype("float32"))
    if model.pooled_dense is not None:
        model.pooled_dense.kernel.assign(
            rng.normal(size=tuple(model.pooled_dense.kernel.shape)).astype("float32")
        )
    return model


@pytest.mark.jax
@pytest.mark.parametrize("name", FAMILIES)
def test_classifier_head_on_pooled_output(backbones, name):
    """BERT / ALBERT: logits = dense(backbone pooler); RoBERTa / DistilBERT (no pooler):
    dense(activation(pooled_dense([CLS]))) as their keras-hub classifiers."""
    backbone = backbones[name]
    model = make_classifier(backbone)
    inputs = make_inputs(BATCH_LENGTHS, seed=12, segments=has_segments(backbone))
    outputs = backbone(inputs, training=False)
    if isinstance(outputs, dict):
        pooled = np_(outputs["pooled_output"])
        assert model.pooled_dense is None
    else:
        cls = np_(outputs)[:, 0, :]
        hidden = cls @ np_(model.pooled_dense.kernel) + np_(model.pooled_dense.bias)
        pooled = np.tanh(hidden) if name == "roberta" else np.maximum(hidden, 0.0)
    expected = pooled @ np_(model.output_dense.kernel) + np_(model.output_dense.bias)
    np.testing.assert_allclose(infer(model, inputs), expected, **TOL)
    assert model.input_features == tuple(
        sorted(inputs, key=["token_ids", "segment_ids", "padding_mask"].index)
    )


def test_classifier_dynamic_batch(backbones):
    backbone = backbones["bert"]
    model = make_classifier(backbone, retention=shrinking(3))
    inputs = make_inputs([16, 11, 6, 3, 9], seed=13)
    full = np_(model(inputs, training=False))
    assert full.shape == (5, 3)
    one = np_(model(take(inputs, [1]), training=False))
    np.testing.assert_allclose(one[0], full[1], **TOL)
    two = np_(model(take(inputs, [4, 0]), training=False))
    np.testing.assert_allclose(two, full[[4, 0]], **TOL)


@pytest.mark.parametrize(
    "name, mode",
    [
        ("bert", "hard"),
        ("albert_g1", "soft"),
        pytest.param("roberta", "hard", marks=pytest.mark.jax),
        pytest.param("distilbert", "soft", marks=pytest.mark.jax),
    ],
)
def test_classifier_keras_save_load(backbones, tmp_path, name, mode):
    backbone = backbones[name]
    retention = shrinking(len(model_schedule(backbone))) if mode == "hard" else None
    model = make_classifier(backbone, retention=retention, mode=mode)
    if mode == "soft":
        rng = np.random.default_rng(14)
        for layer in model.encoder.soft_extract_layers:
            layer.retention.assign(rng.uniform(size=SEQ).astype("float32"))
    path = tmp_path / f"model_{mode}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, PowerBertClassifier)
    assert loaded.mode == mode
    assert loaded.sequence_length == SEQ
    assert (loaded.retention is None) == (retention is None)
    if retention is not None:
        assert loaded.retention.to_list() == retention
    assert loaded.num_classes == 3
    assert len(loaded.trainable_weights) == len(model.trainable_weights)
    for a, b in zip(model.trainable_weights, loaded.trainable_weights):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
    if mode == "soft":
        for a, b in zip(model.encoder.soft_extract_layers, loaded.encoder.soft_extract_layers):
            np.testing.assert_array_equal(np_(a.retention), np_(b.retention))
    inputs = make_inputs(BATCH_LENGTHS, seed=15, segments=has_segments(backbone))
    np.testing.assert_allclose(infer(loaded, inputs), infer(model, inputs), **TOL)


def test_with_mode_carries_weights(backbones):
    backbone = backbones["bert"]
    base = make_classifier(backbone)
    inputs = make_inputs(BATCH_LENGTHS, seed=16)
    base_out = np_(base(inputs, training=False))

    soft = base.with_mode("soft")
    assert soft.mode == "soft" and soft is not base
    for a, b in zip(base.backbone.trainable_weights, soft.backbone.trainable_weights):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
    np.testing.assert_array_equal(np_(soft.output_dense.kernel), np_(base.output_dense.kernel))
    np.testing.assert_array_equal(np_(soft.output_dense.bias), np_(base.output_dense.bias))
    assert len(soft.encoder.soft_extract_layers) == 3
    for layer in soft.encoder.soft_extract_layers:
        np.testing.assert_array_equal(np_(layer.retention), np.ones(SEQ))
    np.testing.assert_allclose(np_(soft(inputs, training=False)), base_out, **TOL_SCORES)

    # Search result -> hard retrain step: still the same backbone and head weights.
    soft.encoder.soft_extract_layers[0].retention.assign(np.linspace(1, 0, SEQ).astype("float32"))
    hard = soft.with_mode("hard", "12,8,3")
    assert hard.mode == "hard" and hard.retention.to_list() == [12, 8, 3]
    for a, b in zip(base.backbone.trainable_weights, hard.backbone.trainable_weights):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
    np.testing.assert_array_equal(np_(hard.output_dense.kernel), np_(base.output_dense.kernel))
    short = make_inputs([3, 2], seed=17)
    np.testing.assert_allclose(
        np_(hard(short, training=False)), np_(base(short, training=False)), **TOL_SCORES
    )

    # And back to plain BERT.
    plain = hard.with_mode("none")
    np.testing.assert_allclose(np_(plain(inputs, training=False)), base_out, **TOL)


@pytest.mark.jax
@pytest.mark.parametrize("name", ["bert", "roberta"])  # with and without a pooler in the head
def test_sharing_weights_is_a_view_at_another_configuration(backbones, name):
    """`sharing_weights`: the same variable objects, and the outputs of a separate model at that
    configuration (`with_mode` copies the weights instead)."""
    backbone = backbones[name]
    base = make_classifier(backbone, retention=shrinking(3))
    view = base.sharing_weights("6,4,2")
    assert [id(v) for v in view.variables] == [id(v) for v in base.variables]
    inputs = make_inputs(BATCH_LENGTHS, seed=18, segments=has_segments(backbone))
    expected = infer(base.with_mode("hard", "6,4,2"), inputs)
    np.testing.assert_allclose(infer(view, inputs), expected, **TOL)
    base.output_dense.bias.assign(base.output_dense.bias + 1.0)  # one change, seen by both
    np.testing.assert_allclose(infer(view, inputs), expected + 1.0, **TOL)


@pytest.mark.jax
def test_a_copy_and_its_source_predict_in_any_order():
    """with_mode copies weights into buffers of their own: keras' JAX predict() donates the model's
    weights, which deleted the source's when both held one array."""
    model = make_classifier(make_backbone("distilbert", seed=45))
    inputs = make_inputs(BATCH_LENGTHS, seed=46, segments=False)
    before = model.predict(inputs, batch_size=4, verbose=0)
    copy = model.with_mode("hard", "12,8")
    copy.predict(inputs, batch_size=4, verbose=0)
    np.testing.assert_allclose(model.predict(inputs, batch_size=4, verbose=0), before, **TOL)


def test_copy_weights_by_path_reports_new_weights(backbones):
    backbone = backbones["bert"]
    base = make_classifier(backbone)
    soft = PowerBertClassifier(
        make_backbone("bert", seed=99), num_classes=3, mode="soft", sequence_length=SEQ
    )
    soft.build_from_example()
    missing = copy_weights_by_path(base, soft)
    assert sum("retention" in path for path in missing) == 3
    for a, b in zip(base.backbone.trainable_weights, soft.backbone.trainable_weights):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
    np.testing.assert_array_equal(np_(soft.output_dense.kernel), np_(base.output_dense.kernel))


# --------------------------------------------------------------------------------------------------------
# keras-hub conventions: raw text, fit


@pytest.fixture(scope="module")
def text_model(tiny_preset):
    return PowerBertClassifier.from_preset(
        str(tiny_preset), num_classes=2, sequence_length=16, retention="8,4"
    )


@pytest.mark.jax
def test_predict_takes_raw_strings(text_model):
    """predict() on strings equals predict() on keras-hub's own preprocessor output."""
    texts = ["the quick brown fox", "a dog", "was it good"]
    features = text_model.preprocessor(texts)
    expected = text_model.predict(features, verbose=0)
    np.testing.assert_allclose(text_model.predict(texts, verbose=0), expected, **TOL)
    np.testing.assert_allclose(text_model.predict(np.array(texts), verbose=0), expected, **TOL)
    pairs = (["the dog", "a cat"], ["runs", "sat on the mat"])
    np.testing.assert_allclose(
        text_model.predict(pairs, verbose=0),
        text_model.predict(text_model.preprocessor(pairs, y=None), verbose=0),
        **TOL,
    )


@pytest.mark.jax
def test_build_from_example_creates_what_an_eager_call_does():
    """build_from_example (symbolic except on TensorFlow) against a plain eager call on real inputs:
    the same variables (soft mode's retention weights included), shapes and dtypes, and every layer
    built. (Hard mode's weightless extractors: test_predict_on_features_traces_the_model_once.)"""

    def fresh():  # two layers: each eager JAX op compiles, and this is the costly reference
        return PowerBertClassifier(
            make_backbone("distilbert", seed=40), num_classes=3, sequence_length=SEQ, mode="soft"
        )

    built, called = fresh(), fresh()
    built.build_from_example()
    called(make_inputs(BATCH_LENGTHS, seed=41, segments=False), training=False)

    def described(model):
        return sorted((v.path.split("/", 1)[1], tuple(v.shape), v.dtype) for v in model.variables)

    assert described(built) == described(called)
    # keras' own test before predict() (keras.Model offers no public walk over nested layers)
    assert [layer.name for layer in built._flatten_layers() if not layer.built] == []


@pytest.mark.jax
def test_predict_on_features_traces_the_model_once(tiny_preset, monkeypatch):
    """keras' JAX predict() calls the model eagerly first while any sublayer is unbuilt (seconds of
    per-op compilation on a CPU, at every predict): nothing may be left unbuilt, the attached
    preprocessor included. Two predicts of one shape run `call` once, to trace it."""
    model = PowerBertClassifier.from_preset(
        str(tiny_preset), num_classes=2, sequence_length=SEQ, retention="8,4"
    )
    calls = []
    original = PowerBertClassifier.call

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PowerBertClassifier, "call", counted)
    features = make_inputs(BATCH_LENGTHS, seed=42)
    features["token_ids"] %= model.backbone.vocabulary_size  # the preset's vocabulary is smaller
    first = model.predict(features, batch_size=4, verbose=0)
    np.testing.assert_allclose(model.predict(features, batch_size=4, verbose=0), first, **TOL)
    assert len(calls) == 1


def test_predict_strings_without_preprocessor_is_refused(backbones):
    model = make_classifier(backbones["bert"])
    with pytest.raises(ValueError, match="no preprocessor"):
        model.predict(["some text"], verbose=0)


@pytest.mark.jax
def test_fit_refuses_soft_mode_and_trains_hard_mode(backbones):
    soft = make_classifier(backbones["bert"], mode="soft")
    inputs = make_inputs(BATCH_LENGTHS, seed=30)
    labels = np.array([0, 1, 2, 1])
    soft.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    with pytest.raises(ValueError, match="mass penalty"):
        soft.fit(inputs, labels, epochs=1, verbose=0)
    # No dropout, and the loss in inference mode, in numpy: with an unseeded dropout mask the
    # per-epoch training loss went up now and then (CI, stop 19).
    hard = make_classifier(make_backbone("bert", seed=31), retention=shrinking(3), dropout=0.0)
    hard.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    def loss() -> float:
        logits = infer(hard, inputs).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(labels)), labels].mean())

    before = loss()
    hard.fit(inputs, labels, epochs=5, batch_size=4, verbose=0)
    assert loss() < 0.9 * before


@pytest.mark.parametrize("name", ["roberta", "distilbert", "albert_g1"])
def test_local_presets_of_every_family_load(backbones, name, tmp_path):
    """Offline, a local keras-hub preset directory of any supported family loads by path,
    with its weights, and wires into a classifier."""
    from power_bert_tf import load_backbone

    backbones[name].save_to_preset(str(tmp_path))
    loaded = load_backbone(str(tmp_path))
    assert type(loaded) is type(backbones[name])
    for a, b in zip(backbones[name].weights, loaded.weights):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
    model = PowerBertClassifier(
        loaded, num_classes=2, retention=shrinking(len(model_schedule(loaded)))
    )
    inputs = make_inputs(BATCH_LENGTHS, seed=40, segments=has_segments(loaded))
    assert tuple(model(inputs).shape) == (len(BATCH_LENGTHS), 2)
