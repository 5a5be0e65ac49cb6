"""PoWER-BERT wired into a keras-hub backbone: the encoder and the task model.

`PowerBertEncoder` runs a keras-hub BERT or ALBERT backbone's own embedding
and transformer layers (the very same weights) and puts word-vector
extraction between each layer's self-attention sublayer and its feed-forward
sublayer, as in the paper (Goyal et al., 2020, Fig. 3).

Modes:
    "none": plain BERT; outputs equal the backbone's.
    "soft": configuration search; a `SoftExtract` per layer.
    "hard": a given `RetentionConfig`; a `HardExtract` on each layer whose
        length shrinks, the others keep keras-hub's ordinary attention call.
"""

from __future__ import annotations

from typing import Sequence

import keras
import keras_hub
from keras import ops

from power_bert_tf.backbones import (
    SUPPORTED_BACKBONES,
    load_backbone,
    load_preprocessor,
)
from power_bert_tf.layers import (
    HardExtract,
    SignificanceScore,
    SoftExtract,
    gather_positions,
)
from power_bert_tf.retention import RetentionConfig

MODES = ("none", "soft", "hard")


def transformer_schedule(backbone) -> list:
    """The transformer layer called at each depth, in order.

    BERT: one layer per depth. ALBERT: layers are shared across depth, so
    the same layer object appears several times.
    """
    if isinstance(backbone, keras_hub.models.AlbertBackbone):
        calls_per_group = backbone.num_layers // backbone.num_groups
        return [
            layer
            for group in backbone.transformer_layers
            for _ in range(calls_per_group)
            for layer in group
        ]
    return list(backbone.transformer_layers)


def _plain_attention(attention) -> bool:
    """A stock keras MultiHeadAttention whose internals we may call piecewise."""
    return (
        type(attention) is keras.layers.MultiHeadAttention
        and not getattr(attention, "_use_gate", False)
        and len(attention._attention_axes) == 1
    )


def _resolve_mode(mode, retention):
    if mode is None:
        mode = "none" if retention is None else "hard"
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "hard" and retention is None:
        raise ValueError("mode='hard' needs a retention configuration")
    return mode


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerBertEncoder(keras.layers.Layer):
    """A keras-hub backbone with progressive word-vector elimination.

    Args:
        backbone: a `keras_hub.models.BertBackbone` or `AlbertBackbone`.
        retention: `RetentionConfig`, a "64,48,..." string or list of ints,
            or None (no elimination).
        mode: "none", "soft" or "hard"; default "hard" when `retention` is
            given, else "none".
        sequence_length: the task's seq_len; `SoftExtract` has one weight per
            position. Defaults to `max(retention)` or the backbone's maximum.
        exclude_self: `SignificanceScore` option (original: True).

    Call arguments:
        inputs: the backbone's input dict: `token_ids`, `segment_ids`,
            `padding_mask`, each `[batch, seq]`.

    Returns:
        dict with `sequence_output` `[batch, l_L, hidden]` (the kept vectors
        in hard mode), `pooled_output` `[batch, hidden]` and `padding_mask`
        `[batch, l_L]` (the mask of the kept vectors).

    Example:
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16)
    >>> encoder = PowerBertEncoder(backbone, retention="8,4", sequence_length=8)
    >>> inputs = {"token_ids": np.ones((2, 8), "int32"),
    ...           "segment_ids": np.zeros((2, 8), "int32"),
    ...           "padding_mask": np.ones((2, 8), "int32")}
    >>> encoder(inputs)["sequence_output"].shape
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
        if not isinstance(backbone, SUPPORTED_BACKBONES):
            raise TypeError(
                "PowerBertEncoder supports keras-hub BertBackbone and "
                f"AlbertBackbone, got {type(backbone).__name__}"
            )
        self.backbone = backbone
        self.schedule = transformer_schedule(backbone)
        num_layers = len(self.schedule)
        if retention is not None and not isinstance(retention, RetentionConfig):
            retention = RetentionConfig.parse(retention, num_layers=num_layers)
        self.mode = _resolve_mode(mode, retention)
        if sequence_length is None:
            sequence_length = (
                max(retention) if retention is not None
                else backbone.max_sequence_length
            )
        self.sequence_length = int(sequence_length)
        if retention is not None:
            retention.validate(num_layers=num_layers, seq_len=self.sequence_length)
        self.retention = retention
        self.exclude_self = exclude_self
        self.significance = SignificanceScore(exclude_self, name="significance")
        self.extractors = self._make_extractors()

    def _make_extractors(self) -> list:
        """One extractor per depth; None where nothing is eliminated."""
        num_layers = len(self.schedule)
        if self.mode == "soft":
            return [
                SoftExtract(self.sequence_length, name=f"soft_extract_{j}")
                for j in range(num_layers)
            ]
        if self.mode == "none":
            return [None] * num_layers
        extractors, previous = [], self.sequence_length
        for j, keep in enumerate(self.retention):
            shrinks = keep < previous
            extractors.append(HardExtract(keep, name=f"hard_extract_{j}") if shrinks else None)
            previous = keep
        return extractors

    def build(self, inputs_shape=None):
        # Retention weights do not depend on the input shape: create them now
        # so that a saved soft-mode model finds them when it is loaded.
        for extractor in self.soft_extract_layers:
            if not extractor.built:
                extractor.build()
        self.built = True

    @property
    def soft_extract_layers(self) -> list[SoftExtract]:
        return [e for e in self.extractors if isinstance(e, SoftExtract)]

    def retention_masses(self) -> list[float]:
        """Each soft layer's current mass (soft mode only)."""
        if self.mode != "soft":
            raise ValueError("retention masses exist only in soft mode")
        return [float(ops.convert_to_numpy(layer.mass)) for layer in self.soft_extract_layers]

    # -- forward -------------------------------------------------------------
    def _embed(self, inputs, training):
        backbone = self.backbone
        tokens = backbone.token_embedding(inputs["token_ids"])
        positions = backbone.position_embedding(tokens)
        segments = backbone.segment_embedding(inputs["segment_ids"])
        x = backbone.embeddings_add((tokens, positions, segments))
        x = backbone.embeddings_layer_norm(x)
        x = backbone.embeddings_dropout(x, training=training)
        if isinstance(backbone, keras_hub.models.AlbertBackbone):
            x = backbone.embeddings_projection(x)
        return x

    def _transformer_layer(self, layer, extractor, x, padding_mask, positions, training):
        """One keras-hub TransformerEncoder with extraction before its FFN."""
        attention_mask = ops.expand_dims(ops.cast(padding_mask, "int32"), 1)
        residual = x
        if layer.normalize_first:
            x = layer._self_attention_layer_norm(x)
        if isinstance(extractor, HardExtract) and _plain_attention(layer._self_attention_layer):
            x, residual, kept = self._attention_for_kept_queries(
                layer._self_attention_layer, extractor, x, residual, padding_mask,
                attention_mask, training,
            )
            padding_mask, positions = (gather_positions(t, kept) for t in (padding_mask, positions))
            extractor = None  # already extracted
        elif extractor is None:
            x = layer._self_attention_layer(
                query=x, value=x, attention_mask=attention_mask, training=training
            )
        else:
            x, attention_probs = layer._self_attention_layer(
                query=x,
                value=x,
                attention_mask=attention_mask,
                return_attention_scores=True,
                training=training,
            )
        x = layer._self_attention_dropout(x, training=training)
        x = x + residual
        if not layer.normalize_first:
            x = layer._self_attention_layer_norm(x)

        if isinstance(extractor, SoftExtract):
            significance = self.significance(attention_probs, padding_mask)
            x = extractor(x, significance, padding_mask)
        elif isinstance(extractor, HardExtract):
            significance = self.significance(attention_probs, padding_mask)
            kept = extractor.kept_positions(significance)
            x, padding_mask, positions = (
                gather_positions(t, kept) for t in (x, padding_mask, positions)
            )

        residual = x
        if layer.normalize_first:
            x = layer._feedforward_layer_norm(x)
        x = layer._feedforward_intermediate_dense(x)
        x = layer._feedforward_output_dense(x)
        x = layer._feedforward_dropout(x, training=training)
        x = x + residual
        if not layer.normalize_first:
            x = layer._feedforward_layer_norm(x)
        return x, padding_mask, positions

    def _attention_for_kept_queries(
        self, attention, extractor, x, residual, padding_mask, attention_mask, training
    ):
        """Self-attention whose output projection runs on the kept queries only.

        Significance needs every query's probabilities, but a dropped
        word-vector's attention output is never used: the output projection,
        the residual and the layer norm run on the `keep` surviving rows.
        Exact (rows are independent), and cheaper than the paper's
        extraction after the whole sublayer.
        """
        query = attention._query_dense(x)
        key = attention._key_dense(x)
        value = attention._value_dense(x)
        query = query * ops.cast(attention._inverse_sqrt_key_dim, query.dtype)
        scores = ops.einsum(attention._dot_product_equation, key, query)
        probs = attention._masked_softmax(scores, ops.cast(attention_mask, "bool"))
        significance = self.significance(probs, padding_mask)
        kept = extractor.kept_positions(significance)
        probs = attention._dropout_layer(probs, training=training)
        # Gathering the [b, seq, heads, dim] context is far cheaper than
        # gathering the [b, heads, seq, seq] probabilities.
        context = ops.einsum(attention._combine_equation, probs, value)
        context = gather_positions(context, kept)
        return attention._output_dense(context), gather_positions(residual, kept), kept

    def call(self, inputs, training=None, return_kept_positions: bool = False):
        padding_mask = inputs["padding_mask"]
        seq_len = padding_mask.shape[1]
        if seq_len is not None and self.mode != "none" and seq_len > self.sequence_length:
            raise ValueError(
                f"inputs have {seq_len} tokens but this PowerBertEncoder was "
                f"built for sequence_length={self.sequence_length}"
            )
        x = self._embed(inputs, training)
        batch = ops.shape(padding_mask)[0]
        positions = ops.broadcast_to(
            ops.expand_dims(ops.arange(ops.shape(padding_mask)[1], dtype="int32"), 0),
            (batch, ops.shape(padding_mask)[1]),
        )
        kept_per_layer = []
        for layer, extractor in zip(self.schedule, self.extractors):
            x, padding_mask, positions = self._transformer_layer(
                layer, extractor, x, padding_mask, positions, training
            )
            kept_per_layer.append(positions)
        pooled = self.backbone.pooled_dense(x[:, 0, :])
        outputs = {
            "sequence_output": x,
            "pooled_output": pooled,
            "padding_mask": padding_mask,
        }
        if return_kept_positions:
            outputs["kept_positions"] = kept_per_layer
        return outputs

    def flops_fraction(self) -> float:
        """Analytic encoder FLOPs relative to no elimination (1.0 unless hard)."""
        if self.mode != "hard":
            return 1.0
        return self.retention.flops_fraction(
            self.sequence_length,
            self.backbone.hidden_dim,
            self.backbone.intermediate_dim,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "retention": None if self.retention is None else self.retention.to_list(),
                "mode": self.mode,
                "sequence_length": self.sequence_length,
                "exclude_self": self.exclude_self,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerBertClassifier(keras.Model):
    """PoWER-BERT for classification and regression: pooled [CLS] -> dropout -> dense.

    Mirrors `keras_hub.models.BertTextClassifier`, on a `PowerBertEncoder`.
    `num_classes=1` makes a regressor (STS-B) whose output is a score.

    Args:
        backbone: a keras-hub `BertBackbone` or `AlbertBackbone`.
        num_classes: number of labels; 1 for regression.
        retention, mode, sequence_length, exclude_self: see `PowerBertEncoder`.
        dropout: dropout on the pooled output.
        preprocessor: optional keras-hub `TextClassifierPreprocessor`, kept
            for `predict_text` and for export; the model itself takes token ids.

    Call arguments:
        inputs: the backbone's input dict (`token_ids`, `segment_ids`,
            `padding_mask`).

    Returns:
        `[batch, num_classes]` logits (or `[batch, 1]` scores).

    Example:
    >>> model = PowerBertClassifier.from_preset(
    ...     "minilm", num_classes=2, retention="64,48,32,24,16,8",
    ...     sequence_length=64)
    >>> model.predict_text(["a short sentence", "another one"]).shape
    (2, 2)
    """

    def __init__(
        self,
        backbone,
        num_classes: int,
        retention: RetentionConfig | str | Sequence[int] | None = None,
        mode: str | None = None,
        sequence_length: int | None = None,
        dropout: float = 0.1,
        exclude_self: bool = True,
        preprocessor=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.encoder = PowerBertEncoder(
            backbone,
            retention=retention,
            mode=mode,
            sequence_length=sequence_length,
            exclude_self=exclude_self,
            name="power_bert_encoder",
        )
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_dense = keras.layers.Dense(
            self.num_classes,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="logits",
        )

    # -- convenience views -------------------------------------------------
    @property
    def mode(self) -> str:
        return self.encoder.mode

    @property
    def retention(self) -> RetentionConfig | None:
        return self.encoder.retention

    @property
    def sequence_length(self) -> int:
        return self.encoder.sequence_length

    @property
    def is_regression(self) -> bool:
        return self.num_classes == 1

    def build(self, inputs_shape=None):
        self.encoder.build(inputs_shape)
        self.output_dense.build((None, self.backbone.hidden_dim))
        self.built = True

    def call(self, inputs, training=None):
        pooled = self.encoder(inputs, training=training)["pooled_output"]
        return self.output_dense(self.output_dropout(pooled, training=training))

    def predict_text(self, texts, batch_size: int = 32):
        """Logits (or scores) for raw text: a list of strings, or a pair of lists."""
        if self.preprocessor is None:
            raise ValueError("this model has no preprocessor: call it on token ids")
        # y=None: keras-hub reads a bare 2-tuple as (x, y), not as a pair.
        features = self.preprocessor(tuple(texts) if isinstance(texts, tuple) else texts, y=None)
        return self.predict(features, batch_size=batch_size, verbose=0)

    # -- switching steps -------------------------------------------------------
    def with_mode(
        self,
        mode: str,
        retention: RetentionConfig | str | Sequence[int] | None = None,
    ) -> "PowerBertClassifier":
        """A new model in `mode` carrying this one's weights over by name.

        The three PoWER-BERT steps chain this way:
        fine-tuned ("none") -> search ("soft") -> retrain ("hard").
        """
        config = self.get_config()
        config.update(
            {"mode": mode, "retention": retention, "name": None}
        )
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["preprocessor"] = self.preprocessor
        new = PowerBertClassifier(**config)
        new.build_from_example(self.sequence_length)
        copy_weights_by_path(self, new)
        return new

    def build_from_example(self, sequence_length: int | None = None) -> None:
        """Create every weight by calling the model once on dummy token ids."""
        seq = int(sequence_length or self.sequence_length)
        dummy = {
            "token_ids": ops.zeros((1, seq), "int32"),
            "segment_ids": ops.zeros((1, seq), "int32"),
            "padding_mask": ops.ones((1, seq), "int32"),
        }
        self(dummy, training=False)

    def flops_fraction(self) -> float:
        return self.encoder.flops_fraction()

    @classmethod
    def from_preset(
        cls,
        source: str | None = None,
        num_classes: int = 2,
        sequence_length: int = 128,
        retention: RetentionConfig | str | Sequence[int] | None = None,
        mode: str | None = None,
        load_weights: bool = True,
        **kwargs,
    ) -> "PowerBertClassifier":
        """Backbone and preprocessor from a preset name or local directory."""
        backbone = load_backbone(source, load_weights=load_weights)
        preprocessor = load_preprocessor(source, sequence_length)
        model = cls(
            backbone,
            num_classes=num_classes,
            retention=retention,
            mode=mode,
            sequence_length=sequence_length,
            preprocessor=preprocessor,
            **kwargs,
        )
        model.build_from_example()
        return model

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "num_classes": self.num_classes,
                "retention": None if self.retention is None else self.retention.to_list(),
                "mode": self.mode,
                "sequence_length": self.sequence_length,
                "dropout": self.dropout,
                "exclude_self": self.encoder.exclude_self,
                "preprocessor": None if self.preprocessor is None
                else keras.saving.serialize_keras_object(self.preprocessor),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(
                config["preprocessor"]
            )
        return cls(**config)


def _relative_path(variable, model) -> str:
    """A variable's path without the owning model's (uniquified) name."""
    path = variable.path
    prefix = model.name + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def copy_weights_by_path(source, target) -> list[str]:
    """Copy every variable of `source` whose path also exists in `target`.

    Returns the target paths that found no match (e.g. new SoftExtract
    retention weights, which keep their initial value).
    """
    available = {_relative_path(v, source): v for v in source.variables}
    missing = []
    for variable in target.variables:
        match = available.get(_relative_path(variable, target))
        if match is None or tuple(match.shape) != tuple(variable.shape):
            missing.append(variable.path)
        else:
            variable.assign(match)
    return missing
