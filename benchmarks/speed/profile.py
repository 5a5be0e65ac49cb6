"""Per-layer profile: where a PoWER-BERT layer's time goes.

Each piece of each encoder layer is compiled alone and timed on random inputs
of the shape it sees in the model. The pieces are called through the
backbone's adapter (`model.encoder.adapter`), the one place that knows the
keras-hub layer internals.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from benchmarks.speed.timing import block, median, time_interleaved
from power_bert_tf.layers import HardExtract, gather_positions
from power_bert_tf.retention import RetentionConfig

COLUMNS = (
    "attention",
    "attention_probs",
    "significance",
    "rank_gather",
    "ffn",
    "used",
    "layer",
    "baseline_layer",
)


def compile_function(fn):
    """`fn` compiled for the backend: `tf.function` (no autograph), `jax.jit`, else as is."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, autograph=False)  # no tensor-dependent Python control flow
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def attention_sublayer(adapter, layer, x, padding_mask, return_probs: bool = False):
    """Self-attention, dropout (off), residual and layer norm, as the encoder runs them.

    Returns:
        `[batch, seq, hidden]`, and with `return_probs` also the attention
        probabilities `[batch, heads, seq, seq]`.
    """
    attention_mask = ops.expand_dims(ops.cast(padding_mask, "int32"), 1)
    attended = adapter.self_attention(
        layer,
        adapter.attention_input(layer, x),
        attention_mask,
        training=False,
        return_probs=return_probs,
    )
    if not return_probs:
        return adapter.attention_residual(layer, attended, x, training=False)
    attended, probs = attended
    return adapter.attention_residual(layer, attended, x, training=False), probs


def profile_layers(
    model, batch_size: int, seq_len: int, repeats: int = 10, warmup: int = 2, seed: int = 0
) -> list[dict]:
    """Median ms of each piece of each encoder layer at the given shape.

    Per depth j (input length n_in, kept n_out): ``attention`` (self-attention
    sublayer at n_in without returning the probabilities: what a layer that
    keeps everything runs), ``attention_probs`` (the same returning them),
    ``significance`` (`SignificanceScore` on [b, heads, n_in, n_in]),
    ``rank_gather`` (ranking, top-k and the three gathers), ``ffn`` (the
    feed-forward sublayer at n_out), ``layer`` (the whole layer as the encoder
    runs it) and ``baseline_layer`` (the same layer without elimination at
    `seq_len`). ``used`` sums the pieces the encoder actually runs at that
    depth. Each piece is its own compiled function on random inputs, so the
    sum leaves out the fusion across pieces and includes a call overhead per
    piece. A last row, ``depth = "total"``, sums the columns.
    """
    encoder = model.encoder
    adapter = encoder.adapter
    rng = np.random.default_rng(seed)
    retention = encoder.retention or RetentionConfig((seq_len,) * encoder.num_layers)
    hidden, heads = adapter.hidden_dim, int(model.backbone.num_heads)

    def timed(fn, *args):
        compiled = compile_function(fn)
        tensors = [ops.convert_to_tensor(a) for a in args]
        return median(
            time_interleaved({"x": lambda: block(compiled(*tensors))}, repeats, warmup)["x"]
        )

    def normal(*shape):
        return rng.normal(size=shape).astype("float32")

    def whole_layer(layer, extractor):
        # The encoder's own layer call (x, padding_mask, positions -> x).
        return lambda x, m, p: encoder.transformer_layer(layer, extractor, x, m, p, False)[0]

    def inputs_at(length):
        return (
            normal(batch_size, length, hidden),
            np.ones((batch_size, length), bool),
            np.tile(np.arange(length, dtype=np.int32), (batch_size, 1)),
        )

    rows = []
    for depth, ((n_in, n_out), layer, extractor) in enumerate(
        zip(retention.layer_lengths(seq_len), encoder.schedule, encoder.extractors), start=1
    ):
        x_in, mask_in, positions = inputs_at(n_in)
        probs = rng.random((batch_size, heads, n_in, n_in)).astype("float32")
        probs /= probs.sum(-1, keepdims=True)
        significance = rng.random((batch_size, n_in)).astype("float32")
        shrinks = extractor is not None and n_out < n_in
        extract = extractor if shrinks else HardExtract(max(n_out, 1))

        def rank_gather(s, x, m, p, extract=extract):
            kept = extract.kept_positions(s)
            return tuple(gather_positions(t, kept) for t in (x, m, p))

        row = {
            "depth": depth,
            "n_in": n_in,
            "n_out": n_out,
            "eliminates": bool(shrinks),
            "attention": timed(
                lambda x, m, layer=layer: attention_sublayer(adapter, layer, x, m), x_in, mask_in
            ),
            "attention_probs": timed(
                lambda x, m, layer=layer: attention_sublayer(adapter, layer, x, m, True),
                x_in,
                mask_in,
            ),
            "significance": timed(lambda p, m: encoder.significance(p, m), probs, mask_in),
            "rank_gather": timed(rank_gather, significance, x_in, mask_in, positions),
            "ffn": timed(
                lambda x, layer=layer: adapter.feedforward(layer, x, training=False),
                normal(batch_size, n_out, hidden),
            ),
            # As the encoder calls it: an extractor only where this input gets shorter.
            "layer": timed(
                whole_layer(layer, extractor if shrinks else None), x_in, mask_in, positions
            ),
            "baseline_layer": timed(whole_layer(layer, None), *inputs_at(seq_len)),
        }
        if shrinks:
            row["used"] = (
                row["attention_probs"] + row["significance"] + row["rank_gather"] + row["ffn"]
            )
        else:
            row["used"] = row["attention"] + row["ffn"]
        rows.append(row)
    total = {"depth": "total", "n_in": None, "n_out": None, "eliminates": None}
    total.update({column: float(sum(row[column] for row in rows)) for column in COLUMNS})
    rows.append(total)
    return rows
