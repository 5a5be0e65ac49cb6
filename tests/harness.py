"""A shared harness for the task models, in the style of keras-hub's `TestCase`.

`run_task_test` (configuration round trip, fit / evaluate / predict on raw strings and on
token features, the default compile), `run_soft_fit_refused_test`, `run_model_saving_test`
(a `.keras` round trip) and `run_preset_test` (`save_to_preset` / `from_preset`), run by
tests/test_task_models.py over every family on tiny random backbones
(`conftest.BACKBONE_SPECS`) and tiny-vocabulary preprocessors (`tiny_preprocessor`).

References are independent of the code under test: keras-hub's own classifier of the family
on the same backbone and preprocessor, its head set to ours by hand (`reference_classifier`),
with losses and accuracies in numpy; a round trip compares the model after it with the
model before it.
"""

from __future__ import annotations

import io

import keras
import keras_hub
import numpy as np

from conftest import infer, make_backbone, np_
from power_bert_tf import PowerBertClassifier

SEQ = 16
WORDS = "the a cat dog runs sat on mat big small red blue house tree".split()
# One sentence per row; the labels are a function of the words, so fit() has something to learn.
TEXTS = [
    "the cat sat on the mat",
    "a big dog runs",
    "the small red house",
    "a blue tree sat on a house",
    "the dog sat",
    "a cat runs on the big mat",
    "red blue small big",
    "the tree",
]
LABELS = np.array([0, 1, 0, 1, 0, 1, 1, 0])
PAIRS = (["the cat sat", "a dog runs on the mat"], ["on the mat", "the red house"])

# family -> (conftest backbone, keras-hub classifier, keras-hub preprocessor, PoWER-BERT class)
FAMILIES = {
    "bert": ("bert", "BertTextClassifier", "BertTextClassifierPreprocessor", "PowerBertClassifier"),
    "albert": (
        "albert_g1",
        "AlbertTextClassifier",
        "AlbertTextClassifierPreprocessor",
        "PowerAlbertClassifier",
    ),
    "roberta": (
        "roberta",
        "RobertaTextClassifier",
        "RobertaTextClassifierPreprocessor",
        "PowerRobertaClassifier",
    ),
    "distilbert": (
        "distilbert",
        "DistilBertTextClassifier",
        "DistilBertTextClassifierPreprocessor",
        "PowerDistilBertClassifier",
    ),
}


def _tokenizer(family: str):
    """A tokenizer of the family over `WORDS` (ids below the tiny backbones' 100)."""
    if family in ("bert", "distilbert"):
        vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + WORDS
        cls = keras_hub.tokenizers.BertTokenizer
        if family == "distilbert":
            cls = keras_hub.tokenizers.DistilBertTokenizer
        return cls(vocabulary=vocabulary, lowercase=True)
    if family == "roberta":
        # Byte-level BPE: every letter a token ("Ġ" marks a leading space), no merges needed.
        letters = sorted(set("".join(WORDS)))
        vocabulary = ["<s>", "<pad>", "</s>", "<mask>", "Ġ", "."] + letters
        vocabulary += ["Ġ" + c for c in letters]
        merges = ["Ġ " + c for c in letters]
        return keras_hub.tokenizers.RobertaTokenizer(
            vocabulary={token: i for i, token in enumerate(vocabulary)}, merges=merges
        )
    if family == "albert":
        import sentencepiece

        proto = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(TEXTS + [" ".join(WORDS)]),
            model_writer=proto,
            vocab_size=len(WORDS) + 5,
            model_type="WORD",
            pad_id=0,
            unk_id=1,
            bos_id=2,
            eos_id=3,
            pad_piece="<pad>",
            unk_piece="<unk>",
            bos_piece="[CLS]",
            eos_piece="[SEP]",
            user_defined_symbols="[MASK]",
        )
        return keras_hub.tokenizers.AlbertTokenizer(proto=proto.getvalue())
    raise KeyError(family)


def tiny_preprocessor(family: str, sequence_length: int = SEQ):
    """The family's keras-hub `TextClassifierPreprocessor` on a tiny vocabulary."""
    cls = getattr(keras_hub.models, FAMILIES[family][2])
    return cls(_tokenizer(family), sequence_length=sequence_length)


def tiny_model(family: str, seed: int = 0, dtype=None, **kwargs) -> PowerBertClassifier:
    """A `PowerBertClassifier` on the family's tiny random backbone, with a preprocessor; the
    head's weights are redrawn larger than the 0.02 init, so that logits are of order 1."""
    backbone = make_backbone(FAMILIES[family][0], seed=seed)
    if dtype is not None:
        backbone = type(backbone).from_config({**backbone.get_config(), "dtype": dtype})
    kwargs.setdefault("num_classes", 2)
    kwargs.setdefault("dropout", 0.0)
    model = PowerBertClassifier(
        backbone, sequence_length=SEQ, preprocessor=tiny_preprocessor(family), **kwargs
    )
    model.build_from_example()
    rng = np.random.default_rng(seed + 1)
    for layer in (model.pooled_dense, model.output_dense):
        if layer is not None:
            layer.kernel.assign(rng.normal(size=tuple(layer.kernel.shape)) / 4)
            layer.bias.assign(rng.normal(size=tuple(layer.bias.shape)) / 4)
    for layer in model.encoder.soft_extract_layers:
        layer.retention.assign(rng.uniform(0.2, 1.0, size=SEQ).astype("float32"))
    return model


def reference_classifier(model, family: str, text: bool = False):
    """keras-hub's own classifier of the family on `model`'s backbone, its head's weights set
    to `model`'s by hand (keras-hub's RoBERTa and DistilBERT heads pool with a `pooled_dense`
    of their own too). `text`: with `model`'s preprocessor (keras-hub's then takes strings
    only); without, token features."""
    cls = getattr(keras_hub.models, FAMILIES[family][1])
    reference = cls(
        model.backbone,
        num_classes=model.num_classes,
        preprocessor=model.preprocessor if text else None,
        dropout=0.0,
    )
    for name in ("pooled_dense", "output_dense"):
        ours, theirs = getattr(model, name), getattr(reference, name, None)
        assert (ours is None) == (theirs is None), name
        if ours is not None:
            theirs.kernel.assign(np_(ours.kernel))
            theirs.bias.assign(np_(ours.bias))
    return reference


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    logits = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def run_serialization_test(model) -> None:
    """`get_config` / `from_config` and `serialize` / `deserialize` give the same config back
    (keras-hub's `run_serialization_test`), of the same class."""
    import json

    config = json.dumps(model.get_config(), sort_keys=True)
    revived = type(model).from_config(model.get_config())
    assert type(revived) is type(model)
    assert json.dumps(revived.get_config(), sort_keys=True) == config
    serialized = json.dumps(keras.saving.serialize_keras_object(model))
    revived = keras.saving.deserialize_keras_object(json.loads(serialized))
    assert type(revived) is type(model)
    assert json.dumps(revived.get_config(), sort_keys=True) == config


def features_of(model, texts=TEXTS) -> dict:
    """The attached preprocessor's token features for `texts`, as NumPy."""
    return keras.tree.map_structure(np_, model.preprocessor(texts))


def run_task_test(
    model, family: str, texts=TEXTS, labels=LABELS, strings=("predict", "fit"), fit=True
):
    """The keras-hub task contract on a mode-"none" or "hard" `model` compiled by default.

    predict and fit on raw strings and on token features, evaluate (the default compile's
    loss and metric); `strings`: the calls also made on raw strings (each costs a trace of
    the tokenizer in a `tf.data` map: seconds for BPE); `fit=False` leaves training out (a
    trace of the training step: the slowest part). In mode "none", outputs and metrics
    against keras-hub's own classifier on the same backbone, in numpy.
    """
    run_serialization_test(model)
    features = features_of(model, texts)
    predicted = model.predict(features, batch_size=4, verbose=0)
    assert predicted.shape == (len(texts), model.num_classes)
    if "predict" in strings:
        np.testing.assert_allclose(
            model.predict(texts, batch_size=4, verbose=0), predicted, rtol=1e-5, atol=1e-5
        )
    expected = predicted
    if model.mode == "none":
        expected = reference_classifier(model, family).predict(features, batch_size=4, verbose=0)
        np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-5)

    x = texts if "evaluate" in strings else features
    results = model.evaluate(x, labels, batch_size=4, verbose=0, return_dict=True)
    if model.is_regression:
        assert set(results) == {"loss"}
        np.testing.assert_allclose(
            results["loss"], np.mean((expected[:, 0] - labels) ** 2), rtol=1e-4
        )
    else:
        assert set(results) == {"loss", "sparse_categorical_accuracy"}
        np.testing.assert_allclose(results["loss"], _cross_entropy(expected, labels), rtol=1e-4)
        accuracy = np.mean(expected.argmax(axis=1) == labels)
        np.testing.assert_allclose(results["sparse_categorical_accuracy"], accuracy)

    if not fit:
        return
    before = results["loss"]
    model.compile(optimizer=keras.optimizers.Adam(1e-2))  # the default loss and metrics
    x = texts if "fit" in strings else features
    history = model.fit(x, labels, batch_size=4, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    model.fit(features, labels, batch_size=4, epochs=1, verbose=0)
    after = model.evaluate(features, labels, batch_size=4, verbose=0, return_dict=True)["loss"]
    assert after < before


def run_soft_fit_refused_test(model, texts=TEXTS, labels=LABELS) -> None:
    """A soft-mode model, compiled by default, refuses fit() on raw strings and on features."""
    assert model.mode == "soft" and model.compiled
    for x in (texts, features_of(model, texts)):
        try:
            model.fit(x, labels, epochs=1, verbose=0)
        except ValueError as error:
            assert "mass penalty" in str(error)
        else:
            raise AssertionError("fit() trained a soft-mode model")


def _same_weights(loaded, saved) -> None:
    def named(model):
        prefix = model.name + "/"
        return {v.path.removeprefix(prefix): np_(v) for v in model.weights}

    expected, got = named(saved), named(loaded)
    assert sorted(got) == sorted(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value, err_msg=path)


def _same_task(loaded, saved, texts) -> None:
    """The same class, settings, weights, tokenizer (its vocabulary: an asset) and outputs."""
    assert type(loaded) is type(saved)
    assert (loaded.mode, loaded.sequence_length, loaded.num_classes) == (
        saved.mode,
        saved.sequence_length,
        saved.num_classes,
    )
    assert (loaded.retention is None) == (saved.retention is None)
    if saved.retention is not None:
        assert loaded.retention.to_list() == saved.retention.to_list()
    _same_weights(loaded, saved)
    features = features_of(saved, texts)
    for name, value in features_of(loaded, texts).items():
        np.testing.assert_array_equal(value, features[name], err_msg=name)
    np.testing.assert_allclose(
        infer(loaded, features), infer(saved, features), rtol=1e-6, atol=1e-6
    )


def run_model_saving_test(model, path, texts=TEXTS) -> None:
    """`model.save` then `keras.saving.load_model`: the same class, settings, weights (soft mode's
    retention weights among them), preprocessor (its vocabulary) and predictions on raw text."""
    model.save(path)
    loaded = keras.saving.load_model(path)
    _same_task(loaded, model, texts)
    assert loaded.compiled


def run_preset_test(model, preset_dir, texts=TEXTS) -> None:
    """`save_to_preset` then `PowerBertClassifier.from_preset`: keras-hub's loader finds the
    family's class (`find_subclass`) and restores the task; the preset's backbone is a stock
    keras-hub backbone of the model's weights."""
    model.save_to_preset(str(preset_dir))
    loaded = PowerBertClassifier.from_preset(str(preset_dir))
    family = type(model.backbone).__name__.removesuffix("Backbone").lower()
    assert type(loaded).__name__ == FAMILIES[family][3]
    _same_task(loaded, model, texts)
    backbone = keras_hub.models.Backbone.from_preset(str(preset_dir))
    assert type(backbone) is type(model.backbone)
    for a, b in zip(model.backbone.weights, backbone.weights):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
