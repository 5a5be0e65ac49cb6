"""`PowerBertEncoder`: a keras-hub backbone's own layers (through `backbones.adapter_for`) with
word-vector extraction between self-attention and feed-forward (Goyal et al., 2020, Fig. 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import ops

from power_bert_tf.backbones import adapter_for
from power_bert_tf.layers import HardExtract, SignificanceScore, SoftExtract, gather_positions
from power_bert_tf.retention import RetentionConfig

MODES = ("none", "soft", "hard")


def resolve_mode(mode: str | None, retention) -> str:
    """The mode to use: "hard" when a retention is given, else "none"; checked."""
    if mode is None:
        mode = "none" if retention is None else "hard"
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "hard" and retention is None:
        raise ValueError("mode='hard' needs a retention configuration")
    return mode


def _static_length(tensor) -> int | None:
    length = tensor.shape[1]
    return None if length is None else int(length)


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerBertEncoder(keras.layers.Layer):
    """A keras-hub backbone with progressive word-vector elimination.

    Args:
        backbone: a keras-hub BERT, ALBERT, RoBERTa or DistilBERT backbone.
        retention: `RetentionConfig`, a "64,48,..." string or list of ints, or None.
        mode: "none" (the backbone's outputs), "soft" (the search: a `SoftExtract` per layer)
            or "hard" (a `HardExtract` where the length shrinks, any input length); default
            "hard" when `retention` is given, else "none".
        sequence_length: the longest input of soft mode and the length `flops_fraction`
            counts at; default `max(retention)` in hard mode, else the backbone's maximum.
        exclude_self: `SignificanceScore` option.

    Call arguments:
        inputs: dict of `token_ids`, `padding_mask` and (BERT, ALBERT) `segment_ids`,
            each `[batch, seq]`; a missing `segment_ids` means segment 0.
        return_kept_positions: also return each layer's kept positions.

    Returns:
        dict with `sequence_output` `[batch, l_L, hidden]` (the kept vectors),
        `pooled_output` `[batch, hidden]`, `padding_mask` `[batch, l_L]` and, with
        `return_kept_positions`, `kept_positions` (`[batch, l_j]` int32 per layer).

    Example:
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=32)
    >>> encoder = PowerBertEncoder(backbone, retention="8,4")
    >>> inputs = {"token_ids": np.ones((2, 24), "int32"),
    ...           "segment_ids": np.zeros((2, 24), "int32"),
    ...           "padding_mask": np.ones((2, 24), "int32")}
    >>> tuple(encoder(inputs)["sequence_output"].shape)
    (2, 4, 8)
    """

    def __init__(
        self,
        backbone,
        retention: RetentionConfig | str | Sequence[int] | None = None,
        mode: str | None = None,
        sequence_length: int | None = None,
        exclude_self: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.adapter = adapter_for(backbone)
        self.backbone = backbone
        self.schedule = self.adapter.schedule()
        num_layers = len(self.schedule)
        if retention is not None and not isinstance(retention, RetentionConfig):
            retention = RetentionConfig.parse(retention, num_layers=num_layers)
        if retention is not None:
            retention.validate(num_layers=num_layers)
        self.mode = resolve_mode(mode, retention)
        if sequence_length is None:
            sequence_length = (
                max(retention) if retention is not None else self.adapter.max_sequence_length
            )
        self.sequence_length = int(sequence_length)
        if self.mode == "soft" and self.sequence_length > self.adapter.max_sequence_length:
            raise ValueError(
                f"sequence_length {self.sequence_length} is longer than the backbone's "
                f"max_sequence_length {self.adapter.max_sequence_length}"
            )
        self.retention = retention
        self.exclude_self = exclude_self
        # float32 whatever the precision policy: bfloat16 ties change the kept set.
        self.significance = SignificanceScore(exclude_self, name="significance", dtype="float32")
        self.extractors = self._make_extractors()

    @property
    def num_layers(self) -> int:
        return len(self.schedule)

    def _make_extractors(self) -> list:
        """One extractor per depth; None where nothing is eliminated."""
        if self.mode == "soft":
            return [
                SoftExtract(self.sequence_length, dtype=self.dtype_policy, name=f"soft_extract_{j}")
                for j in range(self.num_layers)
            ]
        if self.mode == "none":
            return [None] * self.num_layers
        extractors, previous = [], self.adapter.max_sequence_length
        for j, keep in enumerate(self.retention):
            extractors.append(
                HardExtract(keep, dtype=self.dtype_policy, name=f"hard_extract_{j}")
                if keep < previous
                else None
            )
            previous = min(keep, previous)
        return extractors

    def build(self, inputs_shape=None):
        # Now: a loaded soft-mode model needs its retention weights, and JAX's predict() is eager.
        for layer in (self.significance, *self.extractors):
            if layer is not None and not layer.built:
                layer.build(None)
        self.built = True

    @property
    def soft_extract_layers(self) -> list[SoftExtract]:
        return [e for e in self.extractors if isinstance(e, SoftExtract)]

    def retention_masses(self) -> list[float]:
        """Each soft layer's current mass (soft mode only)."""
        if self.mode != "soft":
            raise ValueError("retention masses exist only in soft mode")
        return [float(ops.convert_to_numpy(layer.mass)) for layer in self.soft_extract_layers]

    def _significance(self, probs, padding_mask):
        return self.significance(ops.cast(probs, "float32"), padding_mask)

    def transformer_layer(self, layer, extractor, x, padding_mask, positions, training=None):
        """One keras-hub `TransformerEncoder` with `extractor` (or None: keep all) between attention
        and feed-forward: `x` `[batch, n, hidden]`, `padding_mask` and `positions` `[batch, n]`
        -> those of the kept vectors."""
        adapter = self.adapter
        attention_mask = ops.expand_dims(ops.cast(padding_mask, "int32"), 1)
        residual = x
        x = adapter.attention_input(layer, x)
        kept = None
        if isinstance(extractor, HardExtract) and adapter.supports_kept_queries(layer):

            def choose(probs):
                return extractor.kept_positions(self._significance(probs, padding_mask))

            attended, kept = adapter.attention_for_kept_queries(
                layer, x, attention_mask, choose, training
            )
            residual = gather_positions(residual, kept)
        elif extractor is None:
            attended = adapter.self_attention(layer, x, attention_mask, training)
        else:
            attended, probs = adapter.self_attention(
                layer, x, attention_mask, training, return_probs=True
            )
            significance = self._significance(probs, padding_mask)
            if isinstance(extractor, HardExtract):
                kept = extractor.kept_positions(significance)
                attended = gather_positions(attended, kept)
                residual = gather_positions(residual, kept)
        x = adapter.attention_residual(layer, attended, residual, training)
        if isinstance(extractor, SoftExtract):
            x = extractor(x, significance, padding_mask)
        if kept is not None:
            padding_mask = gather_positions(padding_mask, kept)
            positions = gather_positions(positions, kept)
        return adapter.feedforward(layer, x, training), padding_mask, positions

    def compute_output_spec(self, inputs, training=None, return_kept_positions: bool = False):
        # From the shapes alone: tracing `call` on an unknown length fails under JAX.
        mask = inputs["padding_mask"]
        length, lengths = _static_length(mask), []
        for extractor in self.extractors:
            if isinstance(extractor, HardExtract) and (length is None or length > extractor.keep):
                length = extractor.keep
            lengths.append(length)
        batch, dtype = mask.shape[0], self.backbone.compute_dtype
        outputs = {
            "sequence_output": keras.KerasTensor((batch, length, self.adapter.hidden_dim), dtype),
            "pooled_output": keras.KerasTensor((batch, self.adapter.hidden_dim), dtype),
            "padding_mask": keras.KerasTensor((batch, length), mask.dtype),
        }
        if return_kept_positions:
            outputs["kept_positions"] = [keras.KerasTensor((batch, n), "int32") for n in lengths]
        return outputs

    def call(self, inputs, training=None, return_kept_positions: bool = False):
        padding_mask = inputs["padding_mask"]
        length = _static_length(padding_mask)
        if self.mode == "soft" and length is not None and length > self.sequence_length:
            raise ValueError(
                f"inputs have {length} tokens but this soft-mode PowerBertEncoder has "
                f"retention weights for sequence_length={self.sequence_length}"
            )
        if self.adapter.has_segments and "segment_ids" not in inputs:
            inputs = {**inputs, "segment_ids": ops.zeros_like(inputs["token_ids"])}
        x = self.adapter.embed(inputs, training)
        batch, seq = ops.shape(padding_mask)[0], ops.shape(padding_mask)[1]
        positions = ops.broadcast_to(
            ops.expand_dims(ops.arange(seq, dtype="int32"), 0), (batch, seq)
        )
        kept_per_layer = []
        for layer, extractor in zip(self.schedule, self.extractors):
            if isinstance(extractor, HardExtract) and length is not None:
                if length <= extractor.keep:
                    extractor = None  # this input is short enough: everything is kept
                else:
                    length = extractor.keep
            x, padding_mask, positions = self.transformer_layer(
                layer, extractor, x, padding_mask, positions, training
            )
            kept_per_layer.append(positions)
        pooled = self.adapter.pool(x[:, 0, :])
        outputs = {
            "sequence_output": x,
            "pooled_output": x[:, 0, :] if pooled is None else pooled,
            "padding_mask": padding_mask,
        }
        if return_kept_positions:
            outputs["kept_positions"] = kept_per_layer
        return outputs

    def flops_fraction(
        self, seq_len: int | None = None, lengths: Mapping[int, int] | None = None
    ) -> float:
        """Analytic encoder FLOPs relative to no elimination (1.0 unless hard).

        Args:
            seq_len: input length; default `sequence_length`.
            lengths: as in `RetentionConfig.flops_fraction`; default: padded to `seq_len`.
        """
        if self.mode != "hard":
            return 1.0
        return self.retention.flops_fraction(
            seq_len or self.sequence_length,
            self.adapter.hidden_dim,
            self.adapter.intermediate_dim,
            lengths,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "retention": None if self.retention is None else self.retention.to_list(),
            "mode": self.mode,
            "sequence_length": self.sequence_length,
            "exclude_self": self.exclude_self,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
