"""The export's padding removal and its budget signatures (one model, several FLOPs budgets).

A tiny random BERT run, "retrained" at 12,8 with two budgets (8,4 and 4,2) recorded in its
results.json as a --budgets retrain leaves them, is exported once per module. Every budget
signature is compared with an independently built model at that configuration
(`with_mode`, weights copied), on inputs long enough that the configurations differ.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops for tf.saved_model.load)
from test_export import PREDICT_TEXTS, SEQ_LEN, _make_run

from power_bert_tf import export as E

pytestmark = pytest.mark.tensorflow_only

BUDGETS = [
    {
        "target": 0.5,
        "signature": "budget_50",
        "retention": [8, 4],
        "flops_fraction": 0.5,
        "dev": 12.5,
    },
    {
        "target": 0.3,
        "signature": "budget_30",
        "retention": [4, 2],
        "flops_fraction": 0.3,
        "dev": 7.25,
    },
]
LONG_TEXTS = [
    " ".join(["the quick brown fox jumped over the lazy dog"] * 3),
    "a great film , i run",
    " ".join(["hello world is not good"] * 4),
    "",
] + PREDICT_TEXTS


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    base = tmp_path_factory.mktemp("budgets")
    model = _make_run(
        base / "run", task="cola", num_classes=2, label_names=["no", "yes"], is_pair=False, seed=3
    )
    (base / "run" / "results.json").write_text(
        json.dumps({"steps": {"retrain": {"dev": 20.0, "retention": [16, 8], "budgets": BUDGETS}}})
    )
    version = E.export_savedmodel(base / "run", base / "serve", max_batch_size=32)
    return model, version, tf.saved_model.load(version)


def _text(loaded, name, texts):
    return loaded.signatures[name](sentence=tf.constant(texts, tf.string))


def test_budget_signatures_and_metadata(family):
    model, version, loaded = family
    assert set(loaded.signatures) == {
        "serving_default",
        "serve_token_ids",
        "budget_50",
        "budget_50_token_ids",
        "budget_30",
        "budget_30_token_ids",
    }
    budgets = E.read_metadata(version)["budgets"]
    assert [
        (b["signature"], b["token_ids_signature"], b["retention"], b["dev_metric"]) for b in budgets
    ] == [
        ("serving_default", "serve_token_ids", [16, 8], 20.0),
        ("budget_50", "budget_50_token_ids", [8, 4], 12.5),
        ("budget_30", "budget_30_token_ids", [4, 2], 7.25),
    ]
    # One set of variables: as many as the model has, not one copy per budget.
    assert len(loaded.model_variables) == len(model.variables)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_budget_serves_its_configuration(family, index):
    model, version, loaded = family
    entry = E.read_metadata(version)["budgets"][index]
    reference = model.with_mode("hard", entry["retention"])  # a separate model, weights copied
    features = model.preprocessor(LONG_TEXTS)
    expected = np.asarray(reference(features, training=False))
    out = _text(loaded, entry["signature"], LONG_TEXTS)
    np.testing.assert_allclose(out["logits"], expected, rtol=1e-5, atol=1e-5)
    tokens = loaded.signatures[entry["token_ids_signature"]](
        **{k: tf.constant(np.asarray(v), tf.int32) for k, v in features.items()}
    )
    np.testing.assert_allclose(tokens["logits"], expected, rtol=1e-5, atol=1e-5)


def test_budgets_differ_on_long_inputs(family):
    _, _, loaded = family
    outputs = [
        _text(loaded, name, LONG_TEXTS[:1])["logits"].numpy()
        for name in ("serving_default", "budget_50", "budget_30")
    ]
    assert np.abs(outputs[0] - outputs[2]).max() > 1e-4


def test_padding_removal_is_exact(family):
    """However many padding columns a request has, the answer is the in-memory model's on the
    features padded to sequence_length (which computes the padding)."""
    model, _, loaded = family
    texts = ["unbelievable movie!!!", "hello world", "", "a dog"]
    features = {k: np.asarray(v) for k, v in model.preprocessor(texts).items()}
    expected = np.asarray(model(features, training=False))
    longest = int(features["padding_mask"].sum(axis=1).max())
    assert longest < SEQ_LEN - 2
    for cut in (SEQ_LEN, longest + 2, longest):
        out = loaded.signatures["serve_token_ids"](
            **{k: tf.constant(v[:, :cut], tf.int32) for k, v in features.items()}
        )
        np.testing.assert_allclose(out["logits"], expected, rtol=1e-5, atol=1e-5)


def test_request_size_limits(family):
    _, _, loaded = family
    assert _text(loaded, "budget_30", ["the dog"] * 32)["logits"].shape == (32, 2)
    assert _text(loaded, "budget_30", np.array([], dtype=object))["logits"].shape == (0, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 32 examples"):
        _text(loaded, "budget_30", ["the dog"] * 33)
    ids = tf.ones((33, 4), tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 32 examples"):
        loaded.signatures["serve_token_ids"](token_ids=ids, segment_ids=0 * ids, padding_mask=ids)
    with pytest.raises(TypeError, match="sentence"):
        loaded.signatures["serving_default"]()


def test_served_dev_metrics_against_the_keras_model(family, tiny_glue):
    """`serving.dev_metrics` scores each signature on the dev set as the in-memory Keras model at
    that configuration does; the records in power_bert.json here are made up, so they disagree."""
    from benchmarks.serving import dev_metrics
    from power_bert_tf import data

    model, version, _ = family
    result = dev_metrics(version, data_dir=str(tiny_glue / "CoLA"))
    dev = data.read_glue_split("cola", "dev", tiny_glue / "CoLA")
    features = model.preprocessor(dev.texts[0])
    for row in result["signatures"]:
        reference = model.with_mode("hard", row["retention"])
        predictions = np.asarray(reference(features, training=False)).argmax(-1)
        expected = data.compute_metrics("cola", dev.labels, predictions)["mcc"]
        assert row["served_dev_metric"] == pytest.approx(expected, abs=1e-3), row
        assert row["agrees"] is (abs(expected - row["dev_metric"]) <= 0.5)


def test_padding_cost_batches(family):
    """The measurement's long batch fills sequence_length once tokenized; its short one is a word."""
    from benchmarks.serving import PaddingConfig, padding_cost
    from benchmarks.serving.padding import SHORT_WORD, _batches

    _, version, loaded = family
    batches = _batches(("sentence",), SEQ_LEN, 4)
    long_mask = loaded.tokenize(tf.constant([batches["long"][0][0]]))["padding_mask"].numpy()
    short_mask = loaded.tokenize(tf.constant([SHORT_WORD]))["padding_mask"].numpy()
    assert long_mask.all() and short_mask.sum() == 3  # [CLS] word [SEP]
    result = padding_cost(
        version, config=PaddingConfig(batch_size=4, repeats=2, warmup=1, bootstrap=20)
    )
    assert [row["signature"] for row in result["signatures"]] == [
        "serving_default",
        "budget_50",
        "budget_30",
    ]
    for row in result["signatures"]:
        assert row["cost"] == pytest.approx(row["short_ms"] / row["long_ms"], rel=1e-3)
        assert len(row["times_ms"]["short"]) == 2 and row["cost_ci95"][0] <= row["cost_ci95"][1]
