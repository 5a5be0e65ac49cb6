"""Exported signatures over bounded shapes: the padding removed, the length bucketed, the encoder
optionally XLA-compiled. References: the in-memory model on the unpadded batch, and the width the
model is given (recorded by a stand-in that forwards to it)."""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from power_bert_tf import PowerBertClassifier
from power_bert_tf import export as E
from power_bert_tf.export.metadata import read_metadata
from power_bert_tf.export.savedmodel import _head, bucketed

pytestmark = pytest.mark.tensorflow_only

SEQ = 32
LENGTHS = [9, 5, 3]


def _model() -> PowerBertClassifier:
    keras.utils.set_random_seed(3)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=SEQ,
    )
    model = PowerBertClassifier(backbone, num_classes=2, retention="12,6", sequence_length=SEQ)
    model.build_from_example()
    return model


def _features(width: int = SEQ) -> dict:
    """The same sentences padded to `width`."""
    rng = np.random.default_rng(0)
    mask = np.arange(SEQ)[None, :] < np.array(LENGTHS)[:, None]
    ids = np.where(mask, rng.integers(5, 50, (len(LENGTHS), SEQ)), 0).astype("int32")
    features = {
        "token_ids": ids,
        "segment_ids": np.zeros_like(ids),
        "padding_mask": mask.astype("int32"),
    }
    return {name: value[:, :width] for name, value in features.items()}


class _Recording:
    """Forwards to the model and records the width of every batch it is given."""

    def __init__(self, model):
        self.model, self.widths = model, []
        self.sequence_length, self.is_regression = model.sequence_length, model.is_regression

    def __call__(self, features, training=False):
        self.widths.append(int(features["padding_mask"].shape[1]))
        return self.model(features, training=training)


@pytest.mark.parametrize("multiple, width", [(1, 9), (8, 16), (16, 16), (64, SEQ)])
def test_the_model_is_given_the_trimmed_length_rounded_up_to_its_bucket(multiple, width):
    model = _model()
    recording = _Recording(model)
    head = _head(recording, tf.constant(["no", "yes"]), length_multiple=multiple)
    outputs = head({k: tf.constant(v) for k, v in _features().items()})
    assert recording.widths == [width]
    expected = keras.ops.convert_to_numpy(model(_features(max(LENGTHS)), training=False))
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_bucketed_pads_up_to_a_multiple_at_most_max_length():
    out = bucketed({"padding_mask": tf.ones((2, 5), tf.bool)}, 4, 10)
    assert out["padding_mask"].shape.as_list() == [2, 8]
    assert bucketed(out, 4, 10)["padding_mask"].shape.as_list() == [2, 8]
    capped = bucketed({"padding_mask": tf.ones((2, 9), tf.bool)}, 4, 10)
    assert capped["padding_mask"].shape.as_list() == [2, 10]


def test_an_xla_export_serves_the_models_outputs(tmp_path):
    model = _model()
    path = E.export_model(
        model,
        tmp_path / "serve",
        run_config={
            "task": "cola",
            "backbone": "tiny",
            "sequence_length": SEQ,
            "num_classes": 2,
            "label_names": ["no", "yes"],
            "is_pair": False,
        },
        text_signature=False,
        jit_compile=True,
    )
    metadata = read_metadata(path)
    assert metadata["jit_compile"] is True and metadata["length_multiple"] == E.LENGTH_MULTIPLE
    served = tf.saved_model.load(path).signatures[E.SIGNATURE_TOKEN_IDS]
    out = served(**{k: tf.constant(v) for k, v in _features().items()})
    expected = keras.ops.convert_to_numpy(model(_features(max(LENGTHS)), training=False))
    np.testing.assert_allclose(out["logits"].numpy(), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(E.ExportError, match="length_multiple"):
        E.export_model(model, tmp_path / "other", text_signature=False, length_multiple=0)
