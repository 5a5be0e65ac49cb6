"""Talking to TF Serving: a gRPC `PredictRequest` for raw text (needs `tensorflow-serving-api`),
and the REST answer's shape."""

from __future__ import annotations

import base64

import numpy as np
import tensorflow as tf

from power_bert_tf.export.metadata import SIGNATURE_TEXT


def make_predict_request(
    texts,
    model_name: str,
    signature_name: str = SIGNATURE_TEXT,
    pair: bool = False,
    version: int | None = None,
):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for raw text.

    Args:
        texts: a list of strings (str or bytes); with `pair=True`, a list
            of `(sentence1, sentence2)` pairs.
        model_name: the TF Serving model name (`MODEL_NAME`).
        signature_name: `serving_default` for text.
        pair: whether the model is a sentence-pair model.
        version: pin a model version (default: the latest served).

    Example:
    >>> request = make_predict_request(["a fine film"], "power_bert")
    >>> stub.Predict(request, 10.0)  # doctest: +SKIP
    """
    from tensorflow_serving.apis import predict_pb2

    def as_bytes(values):
        return np.array(
            [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values], dtype=object
        )

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    if pair:
        pairs = [tuple(p) for p in texts]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("pair=True needs (sentence1, sentence2) pairs")
        inputs = {f"sentence{i + 1}": as_bytes([p[i] for p in pairs]) for i in (0, 1)}
    else:
        if isinstance(texts, (str, bytes)):
            texts = [texts]
        inputs = {"sentence": as_bytes(list(texts))}
    for name, values in inputs.items():
        request.inputs[name].CopyFrom(
            tf.make_tensor_proto(values, dtype=tf.string, shape=[len(values)])
        )
    return request


def rest_response(outputs) -> dict:
    """TF Serving's REST answer (row format) for signature `outputs`: `{"predictions": [...]}`,
    one `{output: value}` object per instance, or the bare value for a single output; bytes
    that are not UTF-8 as `{"b64": ...}`."""
    arrays = {name: np.asarray(value) for name, value in outputs.items()}

    def plain(value):
        if isinstance(value, np.ndarray):
            return [plain(v) for v in value]
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(value).decode("ascii")}
        return value.item() if isinstance(value, np.generic) else value

    count = len(next(iter(arrays.values()))) if arrays else 0
    if len(arrays) == 1:  # a single output: the bare values
        (values,) = arrays.values()
        return {"predictions": [plain(values[i]) for i in range(count)]}
    rows = [{name: plain(arrays[name][i]) for name in sorted(arrays)} for i in range(count)]
    return {"predictions": rows}
