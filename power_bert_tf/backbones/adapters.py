"""Backbone adapters: how PoWER-BERT calls each keras-hub family's sublayers one by one, to extract
between attention and feed-forward. This module alone touches keras / keras-hub private attributes
and reads their file layouts (`saved_json`), and it refuses untested library versions
(`check_versions`). One more dependency on keras-hub beyond its documented API lives elsewhere,
covered by the same versions: `PowerBertClassifier` overrides the `Task.preprocess_samples` hook
to let token features pass through."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
import zipfile

import keras
import keras_hub
from keras import ops

from power_bert_tf.errors import PowerBertError

TESTED_VERSIONS = {"keras": ("3.15",), "keras_hub": ("0.32",)}
ALLOW_UNTESTED_ENV = "POWER_BERT_ALLOW_UNTESTED_VERSIONS"


@contextlib.contextmanager
def _one_key_softmax_allowed():
    """Silence keras' warning on a softmax over one key (right after a layer keeping one)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="You are using a softmax over axis", category=UserWarning
        )
        yield


class UnsupportedBackboneError(PowerBertError, TypeError):
    """A backbone family (or library version) this package cannot wire."""


def check_versions(versions: dict[str, str] | None = None) -> None:
    """Raise UnsupportedBackboneError for `versions` ({"keras": "3.15.1", "keras_hub": "0.32.0"};
    default: the installed ones) not in `TESTED_VERSIONS`, unless the environment sets
    POWER_BERT_ALLOW_UNTESTED_VERSIONS=1."""
    versions = versions or {"keras": keras.__version__, "keras_hub": keras_hub.__version__}
    if os.environ.get(ALLOW_UNTESTED_ENV) == "1":
        return
    for library, version in versions.items():
        tested = TESTED_VERSIONS[library]
        if not any(version == prefix or version.startswith(prefix + ".") for prefix in tested):
            raise UnsupportedBackboneError(
                f"power_bert_tf calls {library} internals and was tested with {library} "
                f"{' / '.join(tested)}.x, found {version}: install a tested version "
                f"(pip install -e .) or set {ALLOW_UNTESTED_ENV}=1 to try anyway"
            )


def saved_json(path: str | os.PathLike, member: str) -> dict | None:
    """`member`, a JSON file of a `.keras` archive or of a keras-hub preset (or Hugging Face)
    directory, parsed without building anything; None where there is no such file."""
    check_versions()
    path = os.fspath(path)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, member)):
        with open(os.path.join(path, member)) as handle:
            return json.load(handle)
    if path.endswith(".keras") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if member in archive.namelist():
                return json.loads(archive.read(member))
    return None


def _plain_attention(attention) -> bool:
    """A stock keras MultiHeadAttention whose internals we may call piecewise."""
    return (
        type(attention) is keras.layers.MultiHeadAttention
        and not getattr(attention, "_use_gate", False)
        and len(attention._attention_axes) == 1
    )


class BackboneAdapter:
    """The sublayer calls of a keras-hub backbone built from `TransformerEncoder`s.

    Args:
        backbone: an instance of the subclass's `backbone_cls`.
    """

    backbone_cls: type = keras_hub.models.Backbone
    has_segments = True
    pool_activation: str | None = None

    def __init__(self, backbone):
        check_versions()
        self.backbone = backbone

    def embed(self, inputs: dict, training=None):
        """Word-vectors entering the first transformer layer: `[batch, seq, hidden]`."""
        raise NotImplementedError

    def schedule(self) -> list:
        """The `TransformerEncoder` called at each depth, in order."""
        return list(self.backbone.transformer_layers)

    def pool(self, cls_vector):
        """The backbone's pooled output from the [CLS] vector, or None (no pooler)."""
        return None

    @property
    def hidden_dim(self) -> int:
        return int(self.backbone.hidden_dim)

    @property
    def intermediate_dim(self) -> int:
        return int(self.backbone.intermediate_dim)

    @property
    def max_sequence_length(self) -> int:
        return int(self.backbone.max_sequence_length)

    def attention_input(self, layer, x):
        """What the attention sublayer reads (pre-norm layers normalise first)."""
        return layer._self_attention_layer_norm(x) if layer.normalize_first else x

    def self_attention(self, layer, x, attention_mask, training=None, return_probs=False):
        """The attention sublayer's output before its dropout and residual.

        Returns:
            `[batch, seq, hidden]`; with `return_probs`, also the softmax probabilities `[batch,
            heads, seq, seq]` (before attention dropout).
        """
        with _one_key_softmax_allowed():
            return layer._self_attention_layer(
                query=x,
                value=x,
                attention_mask=attention_mask,
                return_attention_scores=return_probs,
                training=training,
            )

    def supports_kept_queries(self, layer) -> bool:
        return _plain_attention(layer._self_attention_layer)

    def attention_for_kept_queries(self, layer, x, attention_mask, choose, training=None):
        """Self-attention, its output projection on kept queries only (exact: rows are independent).

        Args:
            choose: `probs [batch, heads, seq, seq] -> kept positions [batch, keep]`,
                called on the probabilities *before* attention dropout.

        Returns:
            `(output [batch, keep, hidden], kept [batch, keep])`.
        """
        from power_bert_tf.layers import gather_positions

        attention = layer._self_attention_layer
        query = attention._query_dense(x)
        key = attention._key_dense(x)
        value = attention._value_dense(x)
        query = query * ops.cast(attention._inverse_sqrt_key_dim, query.dtype)
        scores = ops.einsum(attention._dot_product_equation, key, query)
        with _one_key_softmax_allowed():
            probs = attention._masked_softmax(scores, ops.cast(attention_mask, "bool"))
        kept = choose(probs)
        probs = attention._dropout_layer(probs, training=training)
        # Gather the [b, seq, heads, dim] context, not the [b, heads, seq, seq] probabilities.
        context = gather_positions(ops.einsum(attention._combine_equation, probs, value), kept)
        return attention._output_dense(context), kept

    def attention_residual(self, layer, attended, residual, training=None):
        """Dropout, residual connection and (post-norm) layer norm of the attention sublayer."""
        x = layer._self_attention_dropout(attended, training=training) + residual
        return x if layer.normalize_first else layer._self_attention_layer_norm(x)

    def feedforward(self, layer, x, training=None):
        """The whole feed-forward sublayer, residual and layer norm included."""
        residual = x
        if layer.normalize_first:
            x = layer._feedforward_layer_norm(x)
        x = layer._feedforward_intermediate_dense(x)
        x = layer._feedforward_output_dense(x)
        x = layer._feedforward_dropout(x, training=training) + residual
        return x if layer.normalize_first else layer._feedforward_layer_norm(x)


class BertAdapter(BackboneAdapter):
    """`keras_hub.models.BertBackbone`: token + position + segment embeddings, a pooler."""

    backbone_cls = keras_hub.models.BertBackbone

    def embed(self, inputs, training=None):
        backbone = self.backbone
        tokens = backbone.token_embedding(inputs["token_ids"])
        positions = backbone.position_embedding(tokens)
        segments = backbone.segment_embedding(inputs["segment_ids"])
        x = backbone.embeddings_add((tokens, positions, segments))
        x = backbone.embeddings_layer_norm(x)
        return backbone.embeddings_dropout(x, training=training)

    def pool(self, cls_vector):
        return self.backbone.pooled_dense(cls_vector)


class AlbertAdapter(BertAdapter):
    """`keras_hub.models.AlbertBackbone`: BERT's embeddings projected; layers shared over depth."""

    backbone_cls = keras_hub.models.AlbertBackbone

    def embed(self, inputs, training=None):
        return self.backbone.embeddings_projection(super().embed(inputs, training))

    def schedule(self):
        backbone = self.backbone
        calls_per_group = backbone.num_layers // backbone.num_groups
        return [
            layer
            for group in backbone.transformer_layers
            for _ in range(calls_per_group)
            for layer in group
        ]


class TokenAndPositionAdapter(BackboneAdapter):
    """Backbones with a `TokenAndPositionEmbedding`, no segments and no pooler."""

    has_segments = False

    def embed(self, inputs, training=None):
        backbone = self.backbone
        x = backbone.embeddings_layer_norm(backbone.embeddings(inputs["token_ids"]))
        return backbone.embeddings_dropout(x, training=training)


class RobertaAdapter(TokenAndPositionAdapter):
    backbone_cls = keras_hub.models.RobertaBackbone
    pool_activation = "tanh"


class DistilBertAdapter(TokenAndPositionAdapter):
    backbone_cls = keras_hub.models.DistilBertBackbone
    pool_activation = "relu"


ADAPTERS = (AlbertAdapter, BertAdapter, RobertaAdapter, DistilBertAdapter)
SUPPORTED_BACKBONES = tuple(adapter.backbone_cls for adapter in ADAPTERS)


def adapter_for(backbone) -> BackboneAdapter:
    """The adapter of `backbone`'s family; UnsupportedBackboneError (naming ours) for another."""
    for adapter in ADAPTERS:  # a supported family's class, or a user subclass of it
        if isinstance(backbone, adapter.backbone_cls):
            return adapter(backbone)
    names = ", ".join(cls.__name__ for cls in SUPPORTED_BACKBONES)
    raise UnsupportedBackboneError(
        f"PoWER-BERT supports keras-hub {names}; got {type(backbone).__name__}"
    )
