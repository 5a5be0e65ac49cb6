"""The task model of every family through the shared harness (tests/harness.py): the keras-hub
task contract (fit / evaluate / predict on raw strings, default compile), `.keras` and preset
round trips in every mode, fit refused in soft mode, the head's dtype policy.

References: keras-hub's own classifier of the family on the same backbone (numpy for losses and
metrics); a round trip against the model before it. Runs on TensorFlow and JAX.
"""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest
from harness import (
    FAMILIES,
    LABELS,
    PAIRS,
    SEQ,
    TEXTS,
    reference_classifier,
    run_model_saving_test,
    run_preset_test,
    run_soft_fit_refused_test,
    run_task_test,
    tiny_model,
    tiny_preprocessor,
)

from conftest import np_
from power_bert_tf import PowerBertClassifier

# A retention per family depth (BERT, ALBERT and RoBERTa: 3 layers; DistilBERT: 2).
HARD = {"bert": "12,8,5", "albert": "12,8,5", "roberta": "12,8,5", "distilbert": "10,4"}


def mode_kwargs(family: str, mode: str) -> dict:
    return {"mode": mode, "retention": HARD[family] if mode == "hard" else None}


@pytest.mark.parametrize(
    "family", [pytest.param(f, marks=pytest.mark.jax) if f == "bert" else f for f in FAMILIES]
)
def test_task_contract(family):
    """fit on raw strings in every family; predict on them too except RoBERTa (a BPE
    tokenizer's trace in each tf.data map costs seconds); for BERT evaluate too, and predict
    on a NumPy string array."""
    model = tiny_model(family, seed=1)
    assert type(model).__name__ == FAMILIES[family][3]
    assert model.backbone_cls is type(model.backbone)
    assert model.preprocessor_cls is type(model.preprocessor)
    if family == "bert":
        expected = model.predict(model.preprocessor(TEXTS), verbose=0)
        np.testing.assert_allclose(model.predict(np.array(TEXTS), verbose=0), expected, atol=1e-5)
        run_task_test(model, family, strings=("predict", "evaluate", "fit"))
    else:
        run_task_test(
            model, family, strings=("fit",) if family == "roberta" else ("predict", "fit")
        )


def test_task_contract_hard_mode_and_regression():
    """On token features, no training (test_classifier trains a hard-mode model): a hard-mode
    model; a regressor's default loss (squared error)."""
    hard = tiny_model("distilbert", seed=3, **mode_kwargs("distilbert", "hard"))
    run_task_test(hard, "distilbert", strings=(), fit=False)
    scores = np.linspace(0.0, 1.0, len(TEXTS)).astype("float32")
    regressor = tiny_model("bert", seed=3, num_classes=1)
    run_task_test(regressor, "bert", labels=scores, strings=(), fit=False)


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_fit_is_refused_in_soft_mode(family):
    run_soft_fit_refused_test(tiny_model(family, seed=4, mode="soft"))


@pytest.mark.jax
def test_sentence_pairs_predict_as_keras_hubs_classifier():
    model = tiny_model("bert", seed=5)
    expected = reference_classifier(model, "bert", text=True).predict(PAIRS, verbose=0)
    np.testing.assert_allclose(model.predict(PAIRS, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(expected[0], expected[1])  # the second segment is read


def test_strings_without_a_preprocessor_are_refused():
    model = tiny_model("bert", seed=6)
    model.preprocessor = None
    with pytest.raises(ValueError, match="no preprocessor"):
        model.predict(TEXTS, verbose=0)
    with pytest.raises(ValueError, match="no preprocessor"):
        model.evaluate(TEXTS, LABELS, verbose=0)


@pytest.mark.parametrize("mode", ["none", "soft", "hard"])
@pytest.mark.parametrize(
    "family", [pytest.param(f, marks=pytest.mark.jax) if f == "distilbert" else f for f in FAMILIES]
)
def test_keras_file_round_trip(family, mode, tmp_path):
    run_model_saving_test(
        tiny_model(family, seed=7, **mode_kwargs(family, mode)), tmp_path / "m.keras"
    )


@pytest.mark.parametrize("mode", ["none", "soft", "hard"])
@pytest.mark.parametrize(
    "family", [pytest.param(f, marks=pytest.mark.jax) if f == "albert" else f for f in FAMILIES]
)
def test_preset_round_trip(family, mode, tmp_path):
    run_preset_test(tiny_model(family, seed=8, **mode_kwargs(family, mode)), tmp_path / "preset")


def test_a_preset_of_one_family_refuses_another_familys_class(tmp_path):
    tiny_model("roberta", seed=9).save_to_preset(str(tmp_path))
    from power_bert_tf.models import PowerAlbertClassifier

    with pytest.raises(ValueError, match="RobertaBackbone"):
        PowerAlbertClassifier.from_preset(str(tmp_path))


@pytest.mark.tensorflow_only  # bfloat16 ops are slow under JAX's eager CPU path
@pytest.mark.parametrize("family", ["bert", "roberta"])  # a head without and with a pooler
def test_head_follows_a_mixed_precision_backbone(family):
    """In a float32 process, a mixed_bfloat16 backbone's classifier computes its head in bfloat16
    with float32 variables, as keras-hub's own classifier on that backbone does."""
    assert keras.mixed_precision.global_policy().name == "float32"
    model = tiny_model(family, seed=10, dtype="mixed_bfloat16")
    reference = reference_classifier(model, family)
    for name in ("pooled_dense", "output_dropout", "output_dense"):
        ours, theirs = getattr(model, name), getattr(reference, name, None)
        if ours is not None:
            assert ours.dtype_policy.name == theirs.dtype_policy.name == "mixed_bfloat16", name
    assert model.dtype_policy.name == reference.dtype_policy.name == "mixed_bfloat16"
    assert {v.dtype for v in model.weights} == {"float32"}
    features = model.preprocessor(TEXTS)
    logits = model(features, training=False)
    assert keras.backend.standardize_dtype(logits.dtype) == "bfloat16"
    expected = np_(reference(features, training=False)).astype("float32")
    np.testing.assert_allclose(np_(logits).astype("float32"), expected, atol=0.05)


def test_family_classes_follow_the_backbone():
    """Any family's backbone given to PowerBertClassifier makes that family's class (what a
    `.keras` file and a preset record); keras-hub's registry knows every class."""
    for family, (_, _, _, name) in FAMILIES.items():
        model = tiny_model(family, seed=11)
        assert type(model).__name__ == name and isinstance(model, PowerBertClassifier)
        assert keras.saving.get_registered_object(f"power_bert_tf>{name}") is type(model)
        assert isinstance(model, keras_hub.models.TextClassifier)
        assert isinstance(model.preprocessor, tiny_preprocessor(family).__class__)
    assert LABELS.shape == (len(TEXTS),) and SEQ == 16
