"""Raw text to model features inside the graph: UTF-8 sanitising, tokenization, packing.

keras-hub's tokenizer is traced into the serving function (token ids match the preprocessor's);
its `MultiSegmentPacker` is rebuilt from core TensorFlow ops, so the graph needs only
TensorFlow and the tensorflow-text kernels TF Serving links in."""

from __future__ import annotations

import tensorflow as tf

from power_bert_tf.errors import ExportError

# The features `pack` produces: keras-hub's BERT / ALBERT preprocessor output.
PACKED_FEATURES = ("token_ids", "segment_ids", "padding_mask")


def truncation(preprocessor) -> str:
    """The preprocessor's truncation strategy (keras-hub's default: round robin)."""
    return str(getattr(preprocessor, "truncate", "round_robin"))


def sanitize_utf8(texts):
    """Replace bytes that are not valid UTF-8 with U+FFFD (valid text unchanged)."""
    return tf.strings.unicode_transcode(
        texts,
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=0xFFFD,
    )


def keep_per_segment(lengths, budget: int, truncate: str):
    """How many tokens each segment keeps so that they fit in `budget` (as tf-text's
    `RoundRobinTrimmer` / `WaterfallTrimmer`, in core ops)."""
    budget = tf.constant(max(int(budget), 0), tf.int32)
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    if len(lengths) != 2:
        raise ExportError("only one or two text segments are supported")
    first, second = lengths
    if truncate == "waterfall":
        keep_first = tf.minimum(first, budget)
    elif truncate == "round_robin":
        # One token at a time: the first gets ceil(budget / 2), more when the second is short.
        keep_first = tf.minimum(first, tf.maximum((budget + 1) // 2, budget - second))
    else:
        raise ExportError(f"unsupported truncation '{truncate}'")
    keep_second = tf.minimum(second, budget - keep_first)
    return [keep_first, keep_second]


def pack(segments, sequence_length: int, start_id: int, end_id: int, pad_id: int, truncate: str):
    """keras-hub's `MultiSegmentPacker`: `[CLS] a [SEP] (b [SEP])`, padded.

    Args:
        segments: list of int32 ragged `[batch, (tokens)]`.

    Returns:
        `token_ids`, `segment_ids` (int32), `padding_mask` (bool): `[batch, sequence_length]`.
    """
    lengths = [tf.cast(s.row_lengths(), tf.int32) for s in segments]
    num_special = 1 + len(segments)  # [CLS] and one [SEP] after each segment
    keeps = keep_per_segment(lengths, sequence_length - num_special, truncate)
    trimmed = []
    for segment, length, keep in zip(segments, lengths, keeps):
        positions = tf.ragged.range(length)
        trimmed.append(tf.ragged.boolean_mask(segment, positions < tf.expand_dims(keep, 1)))
    batch = segments[0].nrows(out_type=tf.int32)

    def column(value):
        column = tf.fill(tf.stack([batch, 1]), tf.constant(value, tf.int32))
        return tf.RaggedTensor.from_tensor(column)

    token_parts = [column(start_id)]
    segment_parts = [column(0)]
    for index, segment in enumerate(trimmed):
        token_parts += [segment, column(end_id)]
        segment_parts += [tf.ones_like(segment) * index, column(index)]
    shape = [None, sequence_length]
    token_ids = tf.concat(token_parts, axis=1).to_tensor(default_value=pad_id, shape=shape)
    segment_ids = tf.concat(segment_parts, axis=1).to_tensor(default_value=0, shape=shape)
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": tf.not_equal(token_ids, pad_id),
    }


def text_featurizer(preprocessor):
    """`features(*texts)`: string `[batch]` tensors (one per segment) -> the features a keras-hub
    BERT / ALBERT `preprocessor` computes, traceable into a serving function."""
    tokenizer = preprocessor.tokenizer
    sequence_length = int(preprocessor.sequence_length)
    truncate = truncation(preprocessor)
    start_id = int(tokenizer.start_token_id)
    end_id = int(tokenizer.end_token_id)
    pad_id = int(tokenizer.pad_token_id)

    def features(*texts):
        segments = [tokenizer(sanitize_utf8(text)) for text in texts]
        segments = [
            s if isinstance(s, tf.RaggedTensor) else tf.RaggedTensor.from_tensor(s)
            for s in segments
        ]
        segments = [tf.cast(s, tf.int32) for s in segments]
        return pack(segments, sequence_length, start_id, end_id, pad_id, truncate)

    return features
