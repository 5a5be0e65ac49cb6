"""SignificanceScore / SoftExtract / HardExtract against numpy references written from the spec."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from power_bert_tf import HardExtract, SignificanceScore, SoftExtract

pytestmark = pytest.mark.jax  # also run under KERAS_BACKEND=jax (README test command)

# --------------------------------------------------------------------------------------------------------
# Independent numpy references (written from the spec, not from the code)


def ref_significance(probs, mask, exclude_self=True):
    """Attention each key receives: mean over heads, sum over real queries; padding keys -> -1."""
    probs = np.asarray(probs, np.float64)
    mask = np.asarray(mask).astype(bool)
    b, _, s, _ = probs.shape
    out = np.zeros((b, s))
    for i in range(b):
        for k in range(s):
            if not mask[i, k]:
                out[i, k] = -1.0
                continue
            total = 0.0
            for q in range(s):
                if not mask[i, q] or (exclude_self and q == k):
                    continue
                total += probs[i, :, q, k].mean()
            out[i, k] = total
    return out


def ref_order(sig_row):
    """Positions in rank order: [CLS] first, then significance descending, ties by lower position."""
    rest = sorted(range(1, len(sig_row)), key=lambda j: (-float(sig_row[j]), j))
    return [0] + rest


def ref_ranks(sig):
    sig = np.asarray(sig)
    ranks = np.zeros(sig.shape, np.int64)
    for i, row in enumerate(sig):
        for r, p in enumerate(ref_order(row)):
            ranks[i, p] = r
    return ranks


def ref_soft(x, sig, retention):
    ranks = ref_ranks(sig)
    return np.asarray(x) * np.asarray(retention)[ranks][..., None]


def ref_hard(x, sig, mask, keep):
    x, mask = np.asarray(x), np.asarray(mask)
    xs, ms = [], []
    for i, row in enumerate(np.asarray(sig)):
        kept = sorted(ref_order(row)[:keep])
        xs.append(x[i, kept])
        ms.append(mask[i, kept])
    return np.stack(xs), np.stack(ms)


def random_probs(rng, b, h, s, mask=None, sharp=3.0):
    """Softmax attention probabilities; padding keys get ~0 when a mask is given (as in BERT)."""
    logits = rng.normal(size=(b, h, s, s)) * sharp
    if mask is not None:
        logits = np.where(np.asarray(mask, bool)[:, None, None, :], logits, -1e9)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


def lengths_mask(lengths, s, dtype="int32"):
    return (np.arange(s)[None, :] < np.asarray(lengths)[:, None]).astype(dtype)


def np_(t):
    return keras.ops.convert_to_numpy(t)


# --------------------------------------------------------------------------------------------------------
# SignificanceScore


@pytest.mark.parametrize("exclude_self", [True, False])
@pytest.mark.parametrize("mask_keys", [True, False])
def test_significance_matches_reference(exclude_self, mask_keys):
    rng = np.random.default_rng(0)
    b, h, s = 4, 3, 9
    mask = lengths_mask([9, 6, 1, 4], s)
    probs = random_probs(rng, b, h, s, mask if mask_keys else None)
    got = np_(SignificanceScore(exclude_self=exclude_self)(probs, mask))
    assert got.shape == (b, s)
    np.testing.assert_allclose(
        got, ref_significance(probs, mask, exclude_self), rtol=1e-5, atol=1e-6
    )


def test_significance_padding_ranks_below_every_real_token():
    rng = np.random.default_rng(1)
    mask = lengths_mask([5, 8, 2], 8)
    probs = random_probs(rng, 3, 2, 8, mask)
    got = np_(SignificanceScore()(probs, mask))
    assert np.all(got[mask == 0] == -1.0)
    assert np.all(got[mask == 1] >= 0.0)


def test_significance_middle_padding_and_bool_mask():
    """Padding that is not a suffix: positions are judged by the mask, not by a length."""
    rng = np.random.default_rng(2)
    mask = np.array([[1, 1, 0, 1, 0, 1], [1, 0, 0, 0, 0, 0]], bool)
    probs = random_probs(rng, 2, 4, 6, mask)
    for exclude_self in (True, False):
        got = np_(SignificanceScore(exclude_self)(probs, mask))
        np.testing.assert_allclose(
            got, ref_significance(probs, mask, exclude_self), rtol=1e-5, atol=1e-6
        )


def test_significance_exclude_self_difference_is_the_diagonal():
    rng = np.random.default_rng(3)
    mask = lengths_mask([7, 4], 7)
    probs = random_probs(rng, 2, 2, 7, mask)
    with_self = np_(SignificanceScore(exclude_self=False)(probs, mask))
    without = np_(SignificanceScore(exclude_self=True)(probs, mask))
    diag = np.einsum("bhqq->bq", probs.astype(np.float64)) / probs.shape[1]
    real = mask.astype(bool)
    np.testing.assert_allclose((with_self - without)[real], diag[real], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------------
# Ranking (seen through SoftExtract with distinct retention values)


RANKING_CASES = [
    # [CLS] with the lowest score still ranks first.
    [0.0, 0.9, 0.1, 0.5, 0.3],
    # Ties among others: lower position first.
    [0.2, 0.5, 0.5, 0.1, 0.5, 0.7],
    # [CLS] tied with others, all equal.
    [0.4, 0.4, 0.4, 0.4],
    # [CLS] below padding score, padding (-1) last, tied padding by position.
    [-5.0, 0.3, -1.0, 0.3, -1.0, 0.0],
]


def ranks_via_soft_extract(sig):
    sig = np.asarray(sig, "float32")
    b, s = sig.shape
    layer = SoftExtract(max_len=s)
    x = np.ones((b, s, 1), "float32")
    layer(x, sig, np.ones((b, s), "int32"))  # build
    codes = (np.arange(s) + 1.0) / (s + 1.0)  # distinct, in [0, 1]
    layer.retention.assign(codes.astype("float32"))
    scale = np_(layer(x, sig, np.ones((b, s), "int32")))[..., 0]
    return np.rint(scale * (s + 1.0) - 1.0).astype(int)


@pytest.mark.parametrize("row", RANKING_CASES)
def test_ranking_cases(row):
    sig = np.asarray([row], "float32")
    np.testing.assert_array_equal(ranks_via_soft_extract(sig), ref_ranks(sig))


def test_ranking_random_with_ties():
    rng = np.random.default_rng(4)
    # Few distinct values -> many ties; includes -1 (padding) and a low [CLS].
    sig = rng.choice([-1.0, 0.0, 0.25, 0.5, 1.5], size=(6, 11)).astype("float32")
    np.testing.assert_array_equal(ranks_via_soft_extract(sig), ref_ranks(sig))


# --------------------------------------------------------------------------------------------------------
# SoftExtract


@pytest.mark.parametrize("seq", [10, 7])
def test_soft_extract_matches_reference(seq):
    rng = np.random.default_rng(5)
    max_len, b, hdim = 10, 3, 4
    mask = lengths_mask([seq, 5, 2], seq)
    sig = np.where(mask == 1, rng.uniform(0, 3, size=(b, seq)), -1.0).astype("float32")
    sig[0, 3] = sig[0, 5]  # a tie
    x = rng.normal(size=(b, seq, hdim)).astype("float32")
    layer = SoftExtract(max_len=max_len)
    out = np_(layer(x, sig, mask))
    np.testing.assert_allclose(out, x, rtol=0, atol=0)  # initialised to 1
    retention = rng.uniform(0, 1, size=max_len).astype("float32")
    layer.retention.assign(retention)
    out = np_(layer(x, sig, mask))
    np.testing.assert_allclose(out, ref_soft(x, sig, retention), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(float(np_(layer.mass)), retention.sum(), rtol=1e-6)


def test_soft_extract_weight_shape_init_and_constraint():
    layer = SoftExtract(max_len=6)
    layer(np.ones((1, 6, 2), "float32"), np.zeros((1, 6), "float32"), np.ones((1, 6), "int32"))
    assert tuple(layer.retention.shape) == (6,)
    np.testing.assert_array_equal(np_(layer.retention), np.ones(6))
    assert float(np_(layer.mass)) == pytest.approx(6.0)
    assert layer.retention.trainable
    constraint = layer.retention.constraint
    assert constraint is not None
    clipped = np_(
        constraint(
            keras.ops.convert_to_tensor(np.array([-0.5, 0.0, 0.3, 1.0, 1.7, 42.0], "float32"))
        )
    )
    np.testing.assert_allclose(clipped, [0.0, 0.0, 0.3, 1.0, 1.0, 1.0])


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_soft_extract_optimizer_step_respects_unit_interval(direction):
    """A large SGD step pushing retention out of [0, 1] is clipped back by the constraint."""
    layer = SoftExtract(max_len=5)
    x = np.ones((2, 5, 3), "float32")
    sig = np.tile(np.arange(5, dtype="float32")[None], (2, 1))
    mask = np.ones((2, 5), "int32")
    layer(x, sig, mask)
    layer.retention.assign(np.full(5, 0.5, "float32"))
    opt = keras.optimizers.SGD(learning_rate=10.0)
    with tf.GradientTape() as tape:
        loss = -direction * tf.reduce_sum(layer(x, sig, mask))
    grads = tape.gradient(loss, [layer.retention])
    opt.apply_gradients(zip(grads, [layer.retention]))
    values = np_(layer.retention)
    assert np.all(values >= 0.0) and np.all(values <= 1.0)
    np.testing.assert_allclose(values, np.full(5, 1.0 if direction > 0 else 0.0))


# --------------------------------------------------------------------------------------------------------
# HardExtract


@pytest.mark.parametrize("keep", [1, 2, 3, 5, 8, 9, 12])
def test_hard_extract_matches_reference(keep):
    rng = np.random.default_rng(10 + keep)
    b, s, hdim = 4, 9, 3
    mask = lengths_mask([9, 6, 3, 1], s)
    sig = np.where(mask == 1, rng.choice([0.0, 0.5, 1.0, 2.0], size=(b, s)), -1.0).astype("float32")
    sig[:, 0] = 0.0  # [CLS] with a low score
    x = rng.normal(size=(b, s, hdim)).astype("float32")
    x_kept, mask_kept = HardExtract(keep)(x, sig, mask)
    ref_x, ref_m = ref_hard(x, sig, mask, min(keep, s))
    assert tuple(x_kept.shape) == (b, min(keep, s), hdim)
    assert tuple(mask_kept.shape) == (b, min(keep, s))
    np.testing.assert_array_equal(np_(x_kept), ref_x)
    np.testing.assert_array_equal(np_(mask_kept), ref_m)
    assert np_(mask_kept).dtype == mask.dtype


def test_hard_extract_seq_not_longer_than_keep_drops_nothing():
    rng = np.random.default_rng(20)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    sig = rng.uniform(size=(2, 4)).astype("float32")
    mask = lengths_mask([4, 2], 4)
    for keep in (4, 7):
        x_kept, mask_kept = HardExtract(keep)(x, sig, mask)
        np.testing.assert_array_equal(np_(x_kept), x)  # original order, nothing dropped
        np.testing.assert_array_equal(np_(mask_kept), mask)


def test_hard_extract_bool_mask_and_padding_dropped_first():
    rng = np.random.default_rng(21)
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    probs = random_probs(rng, 2, 2, 6, mask)
    sig = SignificanceScore()(probs, mask)
    x = rng.normal(size=(2, 6, 5)).astype("float32")
    x_kept, mask_kept = HardExtract(3)(x, sig, mask)
    # Row 0 has exactly 3 real tokens: they are what is kept.
    np.testing.assert_array_equal(np_(x_kept)[0], x[0, :3])
    np.testing.assert_array_equal(np_(mask_kept), np.ones((2, 3), bool))
    assert np_(mask_kept).dtype == np.bool_


def test_hard_extract_gathers_mask_at_kept_positions():
    """Non-suffix padding (and a mask that is not consistent with the scores): the mask must be
    gathered at exactly the kept positions, not just truncated."""
    rng = np.random.default_rng(23)
    b, s, keep = 3, 10, 4
    mask = np.array(
        [
            [1, 0, 1, 0, 1, 1, 0, 1, 0, 1],
            [1, 1, 0, 0, 0, 1, 1, 0, 1, 0],
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ],
        "int32",
    )
    sig = rng.uniform(size=(b, s)).astype("float32")  # padding not marked -1 here on purpose
    x = rng.normal(size=(b, s, 2)).astype("float32")
    x_kept, mask_kept = HardExtract(keep)(x, sig, mask)
    ref_x, ref_m = ref_hard(x, sig, mask, keep)
    np.testing.assert_array_equal(np_(x_kept), ref_x)
    np.testing.assert_array_equal(np_(mask_kept), ref_m)
    # With real significance (padding -1), every real token outranks every padding one.
    probs = random_probs(rng, b, 2, s, mask)
    sig = np_(SignificanceScore()(probs, mask))
    _, mask_kept = HardExtract(keep)(x, sig, mask)
    np.testing.assert_array_equal(np_(mask_kept).sum(1), np.minimum(mask.sum(1), keep))
    np.testing.assert_array_equal(np_(mask_kept), ref_hard(x, sig, mask, keep)[1])


def test_hard_extract_keep_must_be_positive():
    with pytest.raises(ValueError):
        HardExtract(0)


def test_hard_extract_kept_positions_sorted_and_start_with_cls():
    rng = np.random.default_rng(22)
    sig = rng.uniform(size=(5, 12)).astype("float32")
    sig[:, 0] = -3.0
    kept = np_(HardExtract(5).kept_positions(sig))
    assert kept.shape == (5, 5)
    assert np.all(kept[:, 0] == 0)
    assert np.all(np.diff(kept, axis=1) > 0)
    for i in range(5):
        np.testing.assert_array_equal(kept[i], sorted(ref_order(sig[i])[:5]))


# --------------------------------------------------------------------------------------------------------
# Soft / hard agreement


def test_soft_hard_agreement():
    rng = np.random.default_rng(30)
    b, s, hdim = 3, 8, 4
    mask = lengths_mask([8, 5, 2], s)
    sig = np.where(mask == 1, rng.choice([0.1, 0.2, 0.7], size=(b, s)), -1.0).astype("float32")
    x = (rng.uniform(0.5, 1.5, size=(b, s, hdim)) * rng.choice([-1, 1], size=(b, s, hdim))).astype(
        "float32"
    )
    soft = SoftExtract(max_len=s)
    soft(x, sig, mask)
    for m in range(1, s + 1):
        soft.retention.assign(np.r_[np.ones(m), np.zeros(s - m)].astype("float32"))
        soft_out = np_(soft(x, sig, mask))
        kept = np_(HardExtract(m).kept_positions(sig))
        x_kept, _ = HardExtract(m)(x, sig, mask)
        for i in range(b):
            alive = np.flatnonzero(np.any(soft_out[i] != 0, axis=-1))
            np.testing.assert_array_equal(alive, kept[i])
            np.testing.assert_array_equal(soft_out[i, kept[i]], np_(x_kept)[i])


# --------------------------------------------------------------------------------------------------------
# Serialization


def test_significance_config_round_trip():
    layer = SignificanceScore(exclude_self=False, name="sig")
    clone = SignificanceScore.from_config(layer.get_config())
    assert clone.exclude_self is False and clone.name == "sig"
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, SignificanceScore) and revived.exclude_self is False
    rng = np.random.default_rng(40)
    mask = lengths_mask([5, 3], 5)
    probs = random_probs(rng, 2, 2, 5, mask)
    np.testing.assert_array_equal(np_(clone(probs, mask)), np_(layer(probs, mask)))
    assert SignificanceScore.from_config(SignificanceScore().get_config()).exclude_self is True


def test_soft_extract_config_round_trip():
    layer = SoftExtract(max_len=7, name="soft")
    clone = SoftExtract.from_config(layer.get_config())
    assert clone.max_len == 7 and clone.name == "soft"
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, SoftExtract) and revived.max_len == 7
    revived(np.ones((1, 7, 2), "float32"), np.zeros((1, 7), "float32"), np.ones((1, 7), "int32"))
    assert tuple(revived.retention.shape) == (7,)
    assert revived.retention.constraint is not None


def test_hard_extract_config_round_trip():
    layer = HardExtract(keep=3, name="hard")
    clone = HardExtract.from_config(layer.get_config())
    assert clone.keep == 3 and clone.name == "hard"
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(revived, HardExtract) and revived.keep == 3


# --------------------------------------------------------------------------------------------------------
# Inside tf.function with unknown (batch, sequence) dimensions


@pytest.mark.tensorflow_only
def test_layers_in_tf_function_with_unknown_sequence_length():
    heads, hdim, max_len = 2, 3, 12
    significance = SignificanceScore()
    soft = SoftExtract(max_len=max_len)
    hard = HardExtract(keep=4)
    rng = np.random.default_rng(50)

    # Build eagerly (as a model would be before export), then set non-trivial retention.
    soft(
        np.ones((1, max_len, hdim), "float32"),
        np.zeros((1, max_len), "float32"),
        np.ones((1, max_len), "int32"),
    )
    retention = rng.uniform(size=max_len).astype("float32")
    soft.retention.assign(retention)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, None], tf.float32),
            tf.TensorSpec([None, None, None], tf.float32),
            tf.TensorSpec([None, None], tf.int32),
        ]
    )
    def run(probs, x, mask):
        sig = significance(probs, mask)
        soft_out = soft(x, sig, mask)
        x_kept, mask_kept = hard(x, sig, mask)
        return sig, soft_out, x_kept, mask_kept

    for b, s, lengths in [(3, 9, [9, 4, 2]), (2, 3, [3, 2]), (1, 12, [7])]:
        mask = lengths_mask(lengths, s)
        probs = random_probs(rng, b, heads, s, mask)
        x = rng.normal(size=(b, s, hdim)).astype("float32")
        sig, soft_out, x_kept, mask_kept = (t.numpy() for t in run(probs, x, mask))
        ref_sig = ref_significance(probs, mask)
        np.testing.assert_allclose(sig, ref_sig, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(soft_out, ref_soft(x, sig, retention[:s]), rtol=1e-6, atol=1e-7)
        ref_x, ref_m = ref_hard(x, sig, mask, min(4, s))
        assert x_kept.shape == (b, min(4, s), hdim)
        np.testing.assert_array_equal(x_kept, ref_x)
        np.testing.assert_array_equal(mask_kept, ref_m)
