"""inference.py. Predictor: extra padding leaves the outputs as they are (every mode);
XLA gives the outputs of the plain graph (reference: the same model called on the unpadded batch).
surviving_words: against a hand-tokenized sentence and test_encoder's numpy reference of the
kept positions."""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest
from test_encoder import reference_hard

from conftest import make_backbone
from power_bert_tf import PowerBertClassifier
from power_bert_tf.inference import Predictor, surviving_words

pytestmark = pytest.mark.jax

LENGTHS = [9, 5, 3]


def _model(mode: str) -> PowerBertClassifier:
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=100,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=32,
    )
    retention = "6,3" if mode == "hard" else None
    model = PowerBertClassifier(
        backbone, num_classes=2, mode=mode, retention=retention, sequence_length=32
    )
    model.build_from_example()
    return model


def _features(width: int = max(LENGTHS)) -> dict:
    rng = np.random.default_rng(0)
    mask = np.arange(width)[None, :] < np.array(LENGTHS)[:, None]
    ids = np.where(mask, rng.integers(1, 100, (len(LENGTHS), width)), 0).astype("int32")
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


@pytest.mark.parametrize("mode", ["none", "soft", "hard"])
def test_padding_positions_leave_the_outputs_as_they_are(mode):
    model = _model(mode)
    reference = keras.ops.convert_to_numpy(model(_features(), training=False))
    padded = {name: np.pad(value, [(0, 0), (0, 7)]) for name, value in _features().items()}
    assert padded["padding_mask"].dtype == bool and padded["padding_mask"].shape == (3, 16)
    outputs = Predictor(model).predict([padded])
    np.testing.assert_allclose(outputs, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("mode", ["none", "hard"])
def test_xla_gives_the_graph_outputs(mode):
    model = _model(mode)
    graph = Predictor(model).predict([_features()])
    xla = Predictor(model, jit_compile=True).predict([_features()])
    np.testing.assert_allclose(xla, graph, rtol=1e-4, atol=1e-5)


VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    ".",
    "the",
    "big",
    "red",
    "dog",
    "sat",
    "on",
    "small",
    "blue",
    "mat",
]


def test_surviving_words_match_a_numpy_reference():
    """11 word-pieces + [CLS] and [SEP] in a preprocessor padding to 16: the padding is cut, and the
    3 layers (keep 10, 6, 3) keep what the numpy reference keeps of the unpadded sentence."""
    backbone = make_backbone("bert")  # 3 layers, random weights
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)
    model = PowerBertClassifier(
        backbone, num_classes=2, retention="10,6,3", preprocessor=preprocessor
    )
    sentence = "The big red dog sat on the small blue mat."

    tokens, kept = surviving_words(model, sentence)

    words = [
        "[CLS]",
        "the",
        "big",
        "red",
        "dog",
        "sat",
        "on",
        "the",
        "small",
        "blue",
        "mat",
        ".",
        "[SEP]",
    ]
    assert tokens == words
    ids = np.array([[VOCAB.index(word) for word in words]], "int32")
    inputs = {
        "token_ids": ids,
        "segment_ids": np.zeros_like(ids),
        "padding_mask": np.ones(ids.shape, bool),
    }
    _, _, _, reference = reference_hard(backbone, inputs, [10, 6, 3])
    expected = np.zeros((3, len(words)), bool)
    for layer, positions in enumerate(reference):
        expected[layer, positions[0]] = True
    assert kept.dtype == bool
    np.testing.assert_array_equal(kept, expected)
    assert kept.sum(axis=1).tolist() == [10, 6, 3] and kept[:, 0].all()  # [CLS] is always kept

    with pytest.raises(ValueError, match="no preprocessor"):
        surviving_words(PowerBertClassifier(backbone, num_classes=2), sentence)
