"""Predictor's options (inference.py): bucketed lengths are exact, and the model sees the bucket;
XLA gives the outputs of the plain graph. Reference: the same model called on the unpadded batch."""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest

from power_bert_tf import PowerBertClassifier
from power_bert_tf.inference import Predictor

pytestmark = pytest.mark.jax

LENGTHS = [9, 5, 3]


def _model(mode: str) -> PowerBertClassifier:
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=32)
    retention = "6,3" if mode == "hard" else None
    model = PowerBertClassifier(backbone, num_classes=2, mode=mode, retention=retention, sequence_length=32)
    model.build_from_example()
    return model


def _features(width: int = max(LENGTHS)) -> dict:
    rng = np.random.default_rng(0)
    mask = np.arange(width)[None, :] < np.array(LENGTHS)[:, None]
    ids = np.where(mask, rng.integers(1, 100, (len(LENGTHS), width)), 0).astype("int32")
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


@pytest.mark.parametrize("mode", ["none", "soft", "hard"])
def test_bucketed_lengths_give_the_unbucketed_outputs(mode):
    model = _model(mode)
    reference = keras.ops.convert_to_numpy(model(_features(), training=False))
    widths = []
    predictor = Predictor(model, length_multiple=16)
    compiled = predictor._call

    def spy(inputs):  # what the compiled model function is given
        widths.append(int(inputs["padding_mask"].shape[1]))
        return compiled(inputs)

    predictor._call = spy
    bucketed = predictor.predict([_features()])
    np.testing.assert_allclose(bucketed, reference, rtol=1e-5, atol=1e-5)
    assert widths and set(widths) == {16}  # the model received the bucket, not the trimmed 9


def test_a_width_already_on_a_bucket_is_left_as_it_is():
    assert Predictor(_model("none"), length_multiple=3)._cast(_features())["token_ids"].shape == (3, 9)
    with pytest.raises(ValueError, match="length_multiple"):
        Predictor(_model("none"), length_multiple=0)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("mode", ["none", "hard"])
def test_xla_gives_the_graph_outputs(mode):
    model = _model(mode)
    graph = Predictor(model).predict([_features()])
    xla = Predictor(model, jit_compile=True, length_multiple=16).predict([_features()])
    np.testing.assert_allclose(xla, graph, rtol=1e-4, atol=1e-5)
