"""PowerBertEncoder on tiny random keras-hub BERT, ALBERT, RoBERTa and DistilBERT backbones.

References are the keras-hub backbone's own outputs and, for hard mode, an independent
re-implementation that calls each keras-hub TransformerEncoder whole (eliminating after a
layer is the same as eliminating before its position-wise feed-forward sublayer) with the
significance and ranking computed in numpy from the spec. Runs on TensorFlow and JAX.
"""

from __future__ import annotations

from unittest import mock

import keras
import keras_hub
import numpy as np
import pytest
from keras_hub.layers import TransformerEncoder

from conftest import (
    BACKBONE_SPECS,
    FAMILIES,
    Backbones,
    hand_flops,
    has_segments,
    make_backbone,
    np_,
    randomize,
)
from power_bert_tf import PowerBertEncoder, RetentionConfigError, UnsupportedBackboneError
from power_bert_tf.backbones import BackboneAdapter, adapter_for, check_versions

TOL = dict(rtol=1e-5, atol=1e-5)
# Paths that ask keras' MultiHeadAttention for its scores use its einsum attention instead of the
# fused one: float32 rounding differs by a few 1e-6 after several layers of these random weights.
TOL_SCORES = dict(rtol=1e-5, atol=3e-5)
SEQ = 16
NAMES = FAMILIES


def is_albert(backbone):
    return isinstance(backbone, keras_hub.models.AlbertBackbone)


def num_calls(backbone):
    """Transformer-layer applications per forward pass (keras-hub's loop)."""
    if is_albert(backbone):
        return backbone.num_layers * backbone.num_inner_repetitions
    return backbone.num_layers


def keras_hub_schedule(backbone):
    """The transformer layer applied at each depth, recorded while keras-hub's own backbone runs
    (independent of the adapters' schedules, which this checks)."""
    calls = []
    original = TransformerEncoder.call

    def recording(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    with mock.patch.object(TransformerEncoder, "call", recording):
        backbone(inputs_for(backbone, [4], seq=4), training=False)
    return calls


def backbone_outputs(backbone, inputs):
    """keras-hub's (sequence output, pooled output); [CLS] stands for the pooler where there is none."""
    outputs = backbone(inputs, training=False)
    if isinstance(outputs, dict):
        return np_(outputs["sequence_output"]), np_(outputs["pooled_output"])
    return np_(outputs), np_(outputs)[:, 0, :]


def pool(backbone, x):
    return (
        np_(backbone.pooled_dense(x[:, 0, :])) if hasattr(backbone, "pooled_dense") else x[:, 0, :]
    )


def shrinking(n, seq=SEQ, last=3):
    """A strictly useful, non-increasing config: first layer already drops something."""
    values = np.linspace(seq - 3, last, n).round().astype(int)
    return [int(v) for v in values]


def make_inputs(lengths, seq=SEQ, seed=0, mask_dtype="int32", segments=True, holes=False):
    """Right-padded rows of the given real lengths; `holes`: also padding inside the rows."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths)
    mask = np.arange(seq)[None, :] < lengths[:, None]
    if holes:  # padding in the middle of real tokens, never at [CLS]
        middle = rng.random(mask.shape) < 0.3
        middle[:, 0] = False
        mask &= ~middle
    token_ids = np.where(mask, rng.integers(1, 100, size=(len(lengths), seq)), 0).astype("int32")
    token_ids[:, 0] = 2  # a [CLS]-like id
    inputs = {"token_ids": token_ids, "padding_mask": mask.astype(mask_dtype)}
    if segments:
        inputs["segment_ids"] = np.where(
            mask & (np.arange(seq)[None, :] >= lengths[:, None] // 2), 1, 0
        ).astype("int32")
    return inputs


def inputs_for(backbone, lengths, **kwargs):
    return make_inputs(lengths, segments=has_segments(backbone), **kwargs)


def take(inputs, rows, seq=None):
    return {k: v[rows, :seq] for k, v in inputs.items()}


BATCH_LENGTHS = [16, 11, 6, 3]

# --------------------------------------------------------------------------------------------------------
# Independent hard-mode reference


def ref_significance(scores, mask, exclude_self=True):
    p = scores.astype(np.float64).mean(axis=1)  # [b, q, k]
    m = mask.astype(np.float64)
    p = p * m[:, :, None]
    if exclude_self:
        p = p * (1.0 - np.eye(p.shape[-1]))[None]
    return np.where(mask.astype(bool), p.sum(axis=1), -1.0)


def ref_kept(sig_row, keep):
    rest = sorted(range(1, len(sig_row)), key=lambda j: (-sig_row[j], j))
    return sorted(([0] + rest)[:keep])


def embedding_model(backbone):
    last = "embedding_projection" if is_albert(backbone) else "embeddings_layer_norm"
    return keras.Model(backbone.input, backbone.get_layer(last).output)


def reference_hard(backbone, inputs, keep):
    x = np_(embedding_model(backbone)(inputs, training=False))
    mask = np.asarray(inputs["padding_mask"]).astype(bool)
    b, seq = mask.shape
    positions = np.tile(np.arange(seq), (b, 1))
    kept_per_layer = []
    for layer, k in zip(keras_hub_schedule(backbone), keep):
        y, scores = layer(x, padding_mask=mask, return_attention_scores=True, training=False)
        y, scores = np_(y), np_(scores)
        if k < y.shape[1]:
            sig = ref_significance(scores, mask)
            idx = np.array([ref_kept(sig[i], k) for i in range(b)])
            y = np.take_along_axis(y, idx[..., None], axis=1)
            mask = np.take_along_axis(mask, idx, axis=1)
            positions = np.take_along_axis(positions, idx, axis=1)
        x = y
        kept_per_layer.append(positions)
    return x, pool(backbone, x), mask, kept_per_layer


def assert_matches_reference(got, reference):
    """An encoder's hard-mode outputs (with kept positions) against `reference_hard`'s."""
    seq_out, pooled, mask, kept = reference
    for got_pos, ref_pos in zip(got["kept_positions"], kept):
        np.testing.assert_array_equal(np_(got_pos), ref_pos)
    np.testing.assert_array_equal(np_(got["padding_mask"]).astype(bool), mask)
    np.testing.assert_allclose(np_(got["sequence_output"]), seq_out, **TOL_SCORES)
    np.testing.assert_allclose(np_(got["pooled_output"]), pooled, **TOL_SCORES)


@pytest.fixture(scope="module")
def backbones():
    return Backbones()


# --------------------------------------------------------------------------------------------------------
# No elimination == the backbone


@pytest.mark.parametrize(
    "name, seq",
    [pytest.param(name, SEQ, marks=pytest.mark.jax) for name in NAMES]
    + [
        ("bert", 32),
        ("bert", 7),
        ("albert_g2r2", 32),
        ("albert_g1", 7),
        ("roberta", 32),
        ("distilbert", 7),
    ],
)
def test_no_elimination_matches_backbone(backbones, name, seq):
    backbone = backbones[name]
    lengths = [min(length, seq) for length in BATCH_LENGTHS]
    inputs = inputs_for(backbone, lengths, seq=seq, seed=seq)
    expected_sequence, expected_pooled = backbone_outputs(backbone, inputs)
    encoder = PowerBertEncoder(backbone)
    assert encoder.mode == "none"
    got = encoder(inputs, training=False)
    np.testing.assert_allclose(np_(got["sequence_output"]), expected_sequence, **TOL)
    np.testing.assert_allclose(np_(got["pooled_output"]), expected_pooled, **TOL)
    np.testing.assert_array_equal(np_(got["padding_mask"]), inputs["padding_mask"])


@pytest.mark.jax
@pytest.mark.parametrize("name", NAMES)
def test_full_retention_matches_backbone(backbones, name):
    backbone = backbones[name]
    n = num_calls(backbone)
    inputs = inputs_for(backbone, BATCH_LENGTHS, seed=1)
    expected_sequence, expected_pooled = backbone_outputs(backbone, inputs)
    for retention, seq_len in [([SEQ] * n, SEQ), (",".join(["32"] * n), 32)]:
        encoder = PowerBertEncoder(backbone, retention=retention, sequence_length=seq_len)
        assert encoder.mode == "hard"
        got = encoder(inputs, training=False, return_kept_positions=True)
        np.testing.assert_allclose(np_(got["sequence_output"]), expected_sequence, **TOL)
        np.testing.assert_allclose(np_(got["pooled_output"]), expected_pooled, **TOL)
        assert len(got["kept_positions"]) == n
        for kept in got["kept_positions"]:
            np.testing.assert_array_equal(
                np_(kept), np.tile(np.arange(SEQ), (len(BATCH_LENGTHS), 1))
            )


@pytest.mark.jax
@pytest.mark.parametrize("name", NAMES)
def test_soft_all_ones_matches_backbone(backbones, name):
    backbone = backbones[name]
    inputs = inputs_for(backbone, BATCH_LENGTHS, seed=2)
    expected_sequence, expected_pooled = backbone_outputs(backbone, inputs)
    encoder = PowerBertEncoder(backbone, mode="soft", sequence_length=SEQ)
    got = encoder(inputs, training=False)
    assert len(encoder.soft_extract_layers) == num_calls(backbone)
    for layer in encoder.soft_extract_layers:
        np.testing.assert_array_equal(np_(layer.retention), np.ones(SEQ))
    assert encoder.retention_masses() == pytest.approx([float(SEQ)] * num_calls(backbone))
    np.testing.assert_allclose(np_(got["sequence_output"]), expected_sequence, **TOL_SCORES)
    np.testing.assert_allclose(np_(got["pooled_output"]), expected_pooled, **TOL_SCORES)


@pytest.mark.jax
@pytest.mark.parametrize("name", ["bert", "albert_g2r2", "roberta"])
def test_soft_zero_tail_at_last_layer(backbones, name):
    """Soft retention (1 x m, 0 x rest) at the last layer only: the positions HardExtract(m) keeps
    there are untouched (= backbone output), the others entered the feed-forward sublayer as zero
    vectors and so all come out as LayerNorm(FFN(0)) (post-LN BERT/ALBERT/RoBERTa)."""
    backbone = backbones[name]
    n, m = num_calls(backbone), 5
    inputs = inputs_for(backbone, BATCH_LENGTHS, seed=9)
    expected, _ = backbone_outputs(backbone, inputs)
    soft = PowerBertEncoder(backbone, mode="soft", sequence_length=SEQ)
    soft(inputs, training=False)
    soft.soft_extract_layers[-1].retention.assign(
        np.r_[np.ones(m), np.zeros(SEQ - m)].astype("float32")
    )
    got = np_(soft(inputs, training=False)["sequence_output"])
    hard = PowerBertEncoder(backbone, retention=[SEQ] * (n - 1) + [m], sequence_length=SEQ)
    kept = np_(hard(inputs, training=False, return_kept_positions=True)["kept_positions"][-1])
    last = keras_hub_schedule(backbone)[-1]
    zero = np.zeros((1, 1, backbone.hidden_dim), "float32")
    ffn_of_zero = np_(
        last._feedforward_layer_norm(
            last._feedforward_output_dense(last._feedforward_intermediate_dense(zero))
        )
    )[0, 0]
    for i in range(len(BATCH_LENGTHS)):
        dropped = sorted(set(range(SEQ)) - set(kept[i].tolist()))
        np.testing.assert_allclose(got[i, kept[i]], expected[i, kept[i]], **TOL_SCORES)
        np.testing.assert_allclose(
            got[i, dropped], np.tile(ffn_of_zero, (len(dropped), 1)), **TOL_SCORES
        )


@pytest.mark.tensorflow_only
def test_soft_retention_gradients(backbones):
    import tensorflow as tf

    """Configuration search trains the retention weights: ranks that only ever hold padding get
    exactly zero gradient (padding keys are masked, padding queries feed nothing real), the others
    get a non-zero one."""
    backbone = backbones["bert"]
    lengths = [9, 6, 3]
    inputs = make_inputs(lengths, seed=10)
    encoder = PowerBertEncoder(backbone, mode="soft", sequence_length=SEQ)
    encoder(inputs, training=False)
    real = tf.constant(inputs["padding_mask"][..., None].astype("float32"))
    weights = tf.constant(
        np.random.default_rng(0).normal(size=(1, SEQ, backbone.hidden_dim)).astype("float32")
    )
    retention = [layer.retention for layer in encoder.soft_extract_layers]
    with tf.GradientTape() as tape:
        out = encoder(inputs, training=False)
        loss = tf.reduce_sum(out["sequence_output"] * real * weights) + tf.reduce_sum(
            out["pooled_output"]
        )
    grads = [np_(g) for g in tape.gradient(loss, retention)]
    for g in grads:
        assert g.shape == (SEQ,) and np.all(np.isfinite(g))
        np.testing.assert_array_equal(g[max(lengths) :], 0.0)
        assert np.all(g[: max(lengths)] != 0.0)


def test_soft_zero_retention_changes_output(backbones):
    """Sanity: the soft weights are actually used (zeros beyond rank m change the result)."""
    backbone = backbones["bert"]
    inputs = make_inputs(BATCH_LENGTHS, seed=3)
    encoder = PowerBertEncoder(backbone, mode="soft", sequence_length=SEQ)
    base = np_(encoder(inputs, training=False)["pooled_output"])
    encoder.soft_extract_layers[0].retention.assign(
        np.r_[np.ones(4), np.zeros(SEQ - 4)].astype("float32")
    )
    changed = np_(encoder(inputs, training=False)["pooled_output"])
    assert not np.allclose(base[:3], changed[:3], atol=1e-4)  # examples with > 4 real tokens change
    # ... but an example with only 3 real tokens keeps every real vector (padding ranks last).
    np.testing.assert_allclose(changed[3], base[3], **TOL)


# --------------------------------------------------------------------------------------------------------
# Hard mode


def _hard_reference_case(name: str, general_path: bool):
    """JAX (eager: seconds of compilation per new shape) checks the kept-queries path of every
    family but ALBERT's two groups, whose eight shrinking layer calls cost a minute; TensorFlow
    checks all."""
    on_jax = not general_path and name != "albert_g2r2"
    return pytest.param(
        name,
        general_path,
        marks=pytest.mark.jax if on_jax else (),
        id=f"{name}-{'general' if general_path else 'kept-queries'}",
    )


@pytest.mark.parametrize(
    "name, general_path",
    [_hard_reference_case(name, general) for general in (False, True) for name in NAMES],
)
def test_hard_matches_independent_reference(backbones, name, general_path, monkeypatch):
    if general_path:  # the fallback for non-stock attention: whole sublayer, then extraction
        monkeypatch.setattr(BackboneAdapter, "supports_kept_queries", lambda self, layer: False)
    backbone = backbones[name]
    keep = shrinking(num_calls(backbone))
    inputs = inputs_for(backbone, BATCH_LENGTHS, seed=4)
    encoder = PowerBertEncoder(backbone, retention=keep, sequence_length=SEQ)
    got = encoder(inputs, training=False, return_kept_positions=True)
    assert_matches_reference(got, reference_hard(backbone, inputs, keep))
    assert tuple(got["sequence_output"].shape) == (
        len(BATCH_LENGTHS),
        keep[-1],
        backbone.hidden_dim,
    )


@pytest.mark.parametrize("name", NAMES)
def test_hard_batch_invariance(backbones, name):
    backbone = backbones[name]
    keep = shrinking(num_calls(backbone))
    encoder = PowerBertEncoder(backbone, retention=keep, sequence_length=SEQ)
    inputs = inputs_for(backbone, BATCH_LENGTHS, seed=5)
    batched = np_(encoder(inputs, training=False)["pooled_output"])
    for i in (0, 2):
        alone = np_(encoder(take(inputs, [i]), training=False)["pooled_output"])
        np.testing.assert_allclose(alone[0], batched[i], **TOL)
    # Without its padding at all (a shorter input): padding must not matter.
    for i in (1, 3):
        trimmed = np_(
            encoder(take(inputs, [i], seq=BATCH_LENGTHS[i]), training=False)["pooled_output"]
        )
        np.testing.assert_allclose(trimmed[0], batched[i], **TOL)
    # Reordered batch, with one more, differently padded example.
    extra = inputs_for(backbone, [9], seed=55)
    mixed = {k: np.concatenate([v[[2, 0, 3, 1]], extra[k]]) for k, v in inputs.items()}
    shuffled = np_(encoder(mixed, training=False)["pooled_output"])
    np.testing.assert_allclose(shuffled[:4], batched[[2, 0, 3, 1]], **TOL)


@pytest.mark.jax
@pytest.mark.parametrize("general_path", [False, True], ids=["kept-queries", "general"])
def test_keeping_one_word_vector_warns_nothing(backbones, general_path, monkeypatch):
    """A layer after one that keeps only [CLS] attends over one key: keras' softmax warning about
    an axis of size 1 is noise there, and a user running the pipeline must not see it."""
    import warnings

    if general_path:
        monkeypatch.setattr(BackboneAdapter, "supports_kept_queries", lambda self, layer: False)
    backbone = backbones[
        "bert_4heads_dropout"
    ]  # with attention dropout keras computes the softmax itself
    encoder = PowerBertEncoder(backbone, retention=[1] * num_calls(backbone), sequence_length=SEQ)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = encoder(inputs_for(backbone, BATCH_LENGTHS, seed=7), training=False)
    assert tuple(outputs["sequence_output"].shape) == (len(BATCH_LENGTHS), 1, backbone.hidden_dim)
    assert [str(w.message) for w in caught if "softmax over axis" in str(w.message)] == []


@pytest.mark.parametrize("name", NAMES)
def test_short_input_equals_no_elimination(backbones, name):
    backbone = backbones[name]
    keep = shrinking(num_calls(backbone), last=3)
    encoder = PowerBertEncoder(backbone, retention=keep, sequence_length=SEQ)
    inputs = inputs_for(backbone, [3, 2, 3], seed=6)  # real length <= every keep count
    expected_sequence, expected = backbone_outputs(backbone, inputs)
    got = encoder(inputs, training=False, return_kept_positions=True)
    np.testing.assert_allclose(np_(got["pooled_output"]), expected, **TOL_SCORES)
    np.testing.assert_allclose(
        np_(got["sequence_output"])[0, :3], expected_sequence[0, :3], **TOL_SCORES
    )
    # Every real token survives to the end.
    final = np_(got["kept_positions"][-1])
    for i, length in enumerate([3, 2, 3]):
        assert set(range(length)) <= set(final[i].tolist())
        assert np_(got["padding_mask"])[i].astype(bool).sum() == length


@pytest.mark.parametrize("name", NAMES)
def test_kept_positions_structure(backbones, name):
    backbone = backbones[name]
    keep = shrinking(num_calls(backbone))
    encoder = PowerBertEncoder(backbone, retention=keep, sequence_length=SEQ)
    inputs = inputs_for(backbone, BATCH_LENGTHS, seed=7)
    got = encoder(inputs, training=False, return_kept_positions=True)
    kept = [np_(k) for k in got["kept_positions"]]
    assert len(kept) == len(keep)
    previous = None
    for k, positions in zip(keep, kept):
        assert positions.shape == (len(BATCH_LENGTHS), k)
        assert np.all(positions[:, 0] == 0)
        assert np.all(np.diff(positions, axis=1) > 0)
        assert np.all(positions < SEQ)
        if previous is not None:
            for row_now, row_before in zip(positions, previous):
                assert set(row_now.tolist()) <= set(row_before.tolist())
        previous = positions
    final_mask = np_(got["padding_mask"]).astype(bool)
    expected_mask = np.take_along_axis(inputs["padding_mask"].astype(bool), kept[-1], axis=1)
    np.testing.assert_array_equal(final_mask, expected_mask)
    # Real tokens outrank padding: an example keeps min(keep, real length) real tokens.
    for i, length in enumerate(BATCH_LENGTHS):
        assert final_mask[i].sum() == min(keep[-1], length)


def test_hard_bool_mask_equals_int_mask(backbones):
    backbone = backbones["bert"]
    keep = shrinking(num_calls(backbone))
    encoder = PowerBertEncoder(backbone, retention=keep, sequence_length=SEQ)
    as_int = encoder(make_inputs(BATCH_LENGTHS, seed=8), training=False)
    as_bool = encoder(make_inputs(BATCH_LENGTHS, seed=8, mask_dtype="bool"), training=False)
    np.testing.assert_allclose(np_(as_bool["pooled_output"]), np_(as_int["pooled_output"]), **TOL)


@pytest.mark.tensorflow_only
def test_hard_encoder_in_tf_function_unknown_shapes(backbones):
    import tensorflow as tf

    backbone = backbones["albert_g1"]
    keep = shrinking(num_calls(backbone))
    encoder = PowerBertEncoder(backbone, retention=keep, sequence_length=SEQ)
    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[{"token_ids": spec, "segment_ids": spec, "padding_mask": spec}])
    def run(inputs):
        out = encoder(inputs, training=False)
        return out["pooled_output"], out["sequence_output"]

    for lengths, seq in [(BATCH_LENGTHS, SEQ), ([5, 2], 5), ([12], 12)]:
        inputs = make_inputs(lengths, seq=seq, seed=seq)
        pooled, seq_out = run(inputs)
        eager = encoder(inputs, training=False)
        np.testing.assert_allclose(pooled.numpy(), np_(eager["pooled_output"]), **TOL)
        np.testing.assert_allclose(seq_out.numpy(), np_(eager["sequence_output"]), **TOL)


@pytest.mark.jax
def test_encoder_errors(backbones):
    backbone = backbones["bert"]
    with pytest.raises(ValueError):
        PowerBertEncoder(backbone, mode="hard")
    with pytest.raises(ValueError):
        PowerBertEncoder(backbone, mode="fast")
    with pytest.raises(RetentionConfigError):
        PowerBertEncoder(backbone, retention="8,4")  # 3 layers
    with pytest.raises(RetentionConfigError):
        PowerBertEncoder(backbone, retention="8,10,4")  # increasing
    with pytest.raises(UnsupportedBackboneError, match="BertBackbone"):
        PowerBertEncoder(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="max_sequence_length"):
        PowerBertEncoder(backbone, mode="soft", sequence_length=64)
    soft = PowerBertEncoder(backbone, mode="soft", sequence_length=8)
    with pytest.raises(ValueError, match="sequence_length=8"):
        soft(make_inputs([16], seq=16), training=False)


def test_encoder_flops_fraction(backbones):
    backbone = backbones["bert"]  # d 16, f 32
    assert PowerBertEncoder(backbone).flops_fraction() == 1.0
    keep = [12, 8, 3]
    encoder = PowerBertEncoder(backbone, retention=keep, sequence_length=SEQ)
    expected = hand_flops(keep, SEQ, 16, 32) / hand_flops([SEQ] * 3, SEQ, 16, 32)
    assert encoder.flops_fraction() == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------------------------------
# Hard mode on any input length, padding holes, training mode

# Each new input shape costs JAX's eager mode seconds of compilation: JAX checks one family
# here (ALBERT's schedule under JAX: test_hard_matches_independent_reference); TensorFlow checks
# every case.
JAX_ANY_LENGTH = (("roberta", 24),)


@pytest.mark.parametrize(
    "name, seq",
    [
        *(
            (name, seq)
            for name in NAMES
            for seq in (7, 16, 24, 32)
            if (name, seq) not in JAX_ANY_LENGTH
        ),
        *(pytest.param(*case, marks=pytest.mark.jax) for case in JAX_ANY_LENGTH),
    ],
)
def test_hard_any_length_matches_reference(backbones, name, seq):
    """No sequence_length: one retention serves every input length up to the backbone's maximum;
    entries above the current length keep everything."""
    backbone = backbones[name]
    keep = shrinking(num_calls(backbone), seq=12)
    encoder = PowerBertEncoder(backbone, retention=keep)
    lengths = [seq, max(1, seq - 5), max(1, seq // 3)]
    inputs = inputs_for(backbone, lengths, seq=seq, seed=seq)
    got = encoder(inputs, training=False, return_kept_positions=True)
    assert_matches_reference(got, reference_hard(backbone, inputs, keep))
    assert got["sequence_output"].shape[1] == min(seq, keep[-1])


@pytest.mark.parametrize("general_path", [False, True], ids=["kept-queries", "general"])
@pytest.mark.parametrize(
    "name", [pytest.param("bert", marks=pytest.mark.jax), "albert_g2r2", "roberta"]
)
def test_hard_padding_holes_in_the_middle(backbones, name, general_path, monkeypatch):
    """Padding between real tokens: the kept vectors' mask must be gathered at the kept positions
    (slicing the first `keep` mask entries would mark real tokens as padding and vice versa)."""
    if general_path:
        monkeypatch.setattr(BackboneAdapter, "supports_kept_queries", lambda self, layer: False)
    backbone = backbones[name]
    keep = shrinking(num_calls(backbone))
    inputs = inputs_for(backbone, BATCH_LENGTHS, seed=21, holes=True)
    assert not np.all(
        np.diff(inputs["padding_mask"].astype(int), axis=1) <= 0
    )  # holes really exist
    got = PowerBertEncoder(backbone, retention=keep)(
        inputs, training=False, return_kept_positions=True
    )
    assert_matches_reference(got, reference_hard(backbone, inputs, keep))


@pytest.mark.jax
@pytest.mark.parametrize("general_path", [False, True], ids=["kept-queries", "general"])
def test_hard_training_ranks_on_probabilities_before_dropout(general_path, monkeypatch):
    """training=True: attention dropout changes the outputs but not what is kept, because
    significance is computed on the softmax probabilities before dropout (no other dropout
    acts before the first layer's ranking here)."""
    if general_path:
        monkeypatch.setattr(BackboneAdapter, "supports_kept_queries", lambda self, layer: False)
    cls, kwargs = BACKBONE_SPECS["bert"]
    backbone = cls(**{**kwargs, "dropout": 0.5})
    randomize(backbone, 5)
    backbone.embeddings_dropout.rate = 0.0  # dropout only on the attention probabilities
    for layer in backbone.transformer_layers:
        layer._self_attention_dropout.rate = layer._feedforward_dropout.rate = 0.0
    keep = shrinking(num_calls(backbone))
    encoder = PowerBertEncoder(backbone, retention=keep)
    inputs = make_inputs(BATCH_LENGTHS, seed=22)
    _, _, _, reference_kept = reference_hard(backbone, inputs, keep)
    keras.utils.set_random_seed(0)
    trained = encoder(inputs, training=True, return_kept_positions=True)
    np.testing.assert_array_equal(np_(trained["kept_positions"][0]), reference_kept[0])
    evaluated = encoder(inputs, training=False)
    assert not np.allclose(
        np_(trained["pooled_output"]), np_(evaluated["pooled_output"]), atol=1e-3
    )


# --------------------------------------------------------------------------------------------------------
# Adapters


@pytest.mark.jax
@pytest.mark.parametrize("name", NAMES)
def test_adapter_schedule_is_keras_hubs_loop(backbones, name):
    backbone = backbones[name]
    schedule = PowerBertEncoder(backbone).schedule
    assert [id(layer) for layer in schedule] == [
        id(layer) for layer in keras_hub_schedule(backbone)
    ]


ADAPTER_NAMES = {  # a spec's name starts with its family's
    "bert": "BertAdapter",
    "albert": "AlbertAdapter",
    "roberta": "RobertaAdapter",
    "distilbert": "DistilBertAdapter",
}


@pytest.mark.parametrize("name", NAMES)
def test_adapter_for_picks_the_backbones_family(backbones, name):
    backbone = backbones[name]
    adapter = adapter_for(backbone)
    # its schedule against keras-hub's own loop: test_adapter_schedule_is_keras_hubs_loop
    assert type(adapter).__name__ == ADAPTER_NAMES[name.split("_")[0]]


@pytest.mark.jax
def test_untested_library_versions_are_refused(monkeypatch):
    check_versions({"keras": "3.15.1", "keras_hub": "0.32.0"})
    with pytest.raises(UnsupportedBackboneError, match="keras_hub 0.32.x, found 0.40.0"):
        check_versions({"keras": "3.15.1", "keras_hub": "0.40.0"})
    with pytest.raises(UnsupportedBackboneError, match="keras 3.15.x, found 3.150.0"):
        check_versions({"keras": "3.150.0", "keras_hub": "0.32.0"})
    monkeypatch.setenv("POWER_BERT_ALLOW_UNTESTED_VERSIONS", "1")
    check_versions({"keras": "4.0.0", "keras_hub": "1.0.0"})


@pytest.mark.jax
def test_saved_json_reads_both_layouts_behind_the_version_check(tmp_path, monkeypatch):
    import json
    import zipfile

    from power_bert_tf.backbones.adapters import saved_json

    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "task.json").write_text(json.dumps({"registered_name": "x>Y"}))
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("config.json", json.dumps({"class_name": "Z"}))
    assert saved_json(preset, "task.json") == {"registered_name": "x>Y"}
    assert saved_json(archive, "config.json") == {"class_name": "Z"}
    # absent members and other files are None, not a KeyError
    assert saved_json(preset, "config.json") is None
    assert saved_json(archive, "task.json") is None
    assert saved_json(tmp_path / "missing.keras", "config.json") is None
    monkeypatch.setattr("keras_hub.__version__", "0.99.0")
    with pytest.raises(UnsupportedBackboneError, match="found 0.99.0"):
        saved_json(archive, "config.json")


def test_significance_is_float32_under_mixed_precision():
    """bfloat16 keeps 8 bits of mantissa: summed attention ties often and ties change the kept set,
    so significance and ranking run in float32 whatever the precision policy."""
    from power_bert_tf import SignificanceScore

    seen = []
    original = SignificanceScore.call

    def spy(self, probs, mask):
        out = original(self, probs, mask)
        seen.extend(keras.backend.standardize_dtype(t.dtype) for t in (probs, out))
        return out

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        backbone = make_backbone("bert", seed=3)
        encoder = PowerBertEncoder(backbone, retention=shrinking(num_calls(backbone)))
        with mock.patch.object(SignificanceScore, "call", spy):
            out = encoder(make_inputs(BATCH_LENGTHS, seed=23), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert (
        keras.backend.standardize_dtype(out["sequence_output"].dtype) == "bfloat16"
    )  # the policy applies
    assert seen and set(seen) == {"float32"}
