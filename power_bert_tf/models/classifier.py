"""`PowerBertClassifier`: the task model on a `PowerBertEncoder`, keras-hub style.

Mirrors `keras_hub.models.BertTextClassifier`: a backbone, an optional attached
preprocessor (so `predict` takes raw strings), `from_preset`, and `.keras` saving.
The three PoWER-BERT steps chain with `with_mode`, carrying weights over by path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from power_bert_tf.backbones import load_backbone, load_preprocessor
from power_bert_tf.models.encoder import PowerBertEncoder
from power_bert_tf.retention import RetentionConfig


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerBertClassifier(keras.Model):
    """PoWER-BERT for classification and regression on any supported keras-hub backbone.

    Head: the encoder's pooled output -> dropout -> dense. BERT and ALBERT pool
    with their own `pooled_dense`; RoBERTa and DistilBERT have no pooler, so the
    head adds one (`pooled_dense`, as their keras-hub classifiers do) on [CLS].
    `num_classes=1` makes a regressor (STS-B) whose output is a score.

    Args:
        backbone: a keras-hub `BertBackbone`, `AlbertBackbone`, `RobertaBackbone`
            or `DistilBertBackbone`.
        num_classes: number of labels; 1 for regression.
        retention, mode, sequence_length, exclude_self: see `PowerBertEncoder`.
        dropout: dropout on the pooled output.
        preprocessor: optional keras-hub `TextClassifierPreprocessor`; with it,
            `predict` also takes raw strings, and export tokenizes in the graph.

    Call arguments:
        inputs: the backbone's feature dict (`token_ids`, `padding_mask`, and
            `segment_ids` for BERT / ALBERT).

    Returns:
        `[batch, num_classes]` logits (or `[batch, 1]` scores).

    Training: `fit()` works in modes "none" and "hard". A soft-mode model (the
    configuration search) needs the mass penalty and its own learning rate for the
    retention weights: train it with `power_bert_tf.training.Trainer`; `fit()`
    refuses it.

    Example:
    >>> model = PowerBertClassifier.from_preset(
    ...     "minilm", num_classes=2, retention="64,48,32,24,16,8",
    ...     sequence_length=64)
    >>> model.predict(["a short sentence", "another one"], verbose=0).shape
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
        shared = kwargs.pop("shared_head", None)  # `sharing_weights`: another model's head layers
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
        self.pooled_dense, self.output_dropout, self.output_dense = shared or self._make_head()

    def _make_head(self) -> tuple:
        """(pooled_dense or None, output_dropout, output_dense)."""
        # Families without a pooler get one in the head (keras-hub's classifiers do the same).
        pooled_dense = None
        if self.encoder.adapter.pool_activation is not None:
            pooled_dense = keras.layers.Dense(
                self.backbone.hidden_dim,
                activation=self.encoder.adapter.pool_activation,
                kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                name="pooled_dense",
            )
        output_dropout = keras.layers.Dropout(self.dropout, name="output_dropout")
        output_dense = keras.layers.Dense(
            self.num_classes,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="logits",
        )
        return pooled_dense, output_dropout, output_dense

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
        """A score (one output, squared-error loss) rather than class logits."""
        return self.num_classes == 1

    @property
    def input_features(self) -> tuple[str, ...]:
        """The feature names the model reads."""
        if self.encoder.adapter.has_segments:
            return ("token_ids", "segment_ids", "padding_mask")
        return ("token_ids", "padding_mask")

    def build(self, inputs_shape=None):
        self.encoder.build(inputs_shape)
        hidden = (None, self.backbone.hidden_dim)
        # Built already when shared with another model (`sharing_weights`).
        for layer in (self.pooled_dense, self.output_dense):
            if layer is not None and not layer.built:
                layer.build(hidden)
        self.built = True

    def call(self, inputs, training=None):
        pooled = self.encoder(inputs, training=training)["pooled_output"]
        if self.pooled_dense is not None:
            pooled = self.pooled_dense(self.output_dropout(pooled, training=training))
        return self.output_dense(self.output_dropout(pooled, training=training))

    # -- raw text ------------------------------------------------------------------
    def preprocess(self, texts):
        """Token features for raw text: a list of strings, or a tuple of two lists (pairs)."""
        if self.preprocessor is None:
            raise ValueError(
                "this model has no preprocessor: call it on token ids, or pass preprocessor="
            )
        # y=None: keras-hub reads a bare 2-tuple as (x, y), not as a pair.
        return self.preprocessor(tuple(texts) if isinstance(texts, tuple) else texts, y=None)

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, also on raw strings when a preprocessor is attached."""
        if _is_text(x):
            x = self.preprocess(x)
        elif self.preprocessor is not None and not self.preprocessor.built:
            # keras' JAX predict() runs the model eagerly (seconds of per-op compilation on a
            # CPU) while any sublayer is unbuilt; a preprocessor is built by its first call.
            self.preprocess([""])
        return super().predict(x, *args, **kwargs)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`; refused in soft mode, which needs the mass penalty."""
        if self.mode == "soft":
            raise ValueError(
                "fit() on a soft-mode PowerBertClassifier would train the retention weights "
                "without the mass penalty lambda * sum_j j * mass_j and at BERT's learning rate: "
                "use power_bert_tf.training.Trainer (or scripts/run_glue.py --steps search)"
            )
        return super().fit(*args, **kwargs)

    # -- switching steps -------------------------------------------------------
    def with_mode(
        self,
        mode: str,
        retention: RetentionConfig | str | Sequence[int] | None = None,
    ) -> PowerBertClassifier:
        """A new model in `mode` carrying this one's weights over by name.

        The three PoWER-BERT steps chain this way:
        fine-tuned ("none") -> search ("soft") -> retrain ("hard").
        """
        config = self.get_config()
        config.update({"mode": mode, "retention": retention, "name": None})
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["preprocessor"] = self.preprocessor
        new = PowerBertClassifier(**config)
        new.build_from_example(self.sequence_length)
        copy_weights_by_path(self, new)
        return new

    def sharing_weights(
        self, retention: RetentionConfig | str | Sequence[int]
    ) -> PowerBertClassifier:
        """A hard-mode model at `retention` whose variables are this model's own.

        Hard extraction has no weights: the view reuses this model's backbone and head
        layers, so training either one trains both, and one export serves both
        (`training.budgets`). Not for soft mode, whose retention weights are per model.

        Example:
        >>> view = model.sharing_weights("8,4,2,1,1,1")  # doctest: +SKIP
        >>> [id(v) for v in view.variables] == [id(v) for v in model.variables]  # doctest: +SKIP
        True
        """
        if self.mode == "soft":
            raise ValueError(
                "a soft-mode model has retention weights of its own: it cannot share a view"
            )
        view = PowerBertClassifier(
            self.backbone,
            self.num_classes,
            retention=retention,
            mode="hard",
            sequence_length=self.sequence_length,
            dropout=self.dropout,
            exclude_self=self.encoder.exclude_self,
            preprocessor=self.preprocessor,
            shared_head=(self.pooled_dense, self.output_dropout, self.output_dense),
        )
        view.build_from_example(self.sequence_length)
        return view

    def build_from_example(self, sequence_length: int | None = None) -> None:
        """Create every weight by calling the model once on `[1, sequence_length]` inputs.

        Eager on TensorFlow (the fastest there); symbolic elsewhere, since an eager JAX call
        compiles each op it runs (tens of seconds on a CPU) and a symbolic one traces shapes.
        """
        seq = int(sequence_length or self.sequence_length)
        if keras.backend.backend() == "tensorflow":
            dummy = {name: ops.zeros((1, seq), "int32") for name in self.input_features}
            dummy["padding_mask"] = ops.ones((1, seq), "int32")
        else:
            dummy = {name: keras.KerasTensor((1, seq), "int32") for name in self.input_features}
        self(dummy, training=False)

    def flops_fraction(
        self, seq_len: int | None = None, lengths: Mapping[int, int] | None = None
    ) -> float:
        """The encoder's analytic FLOPs fraction (see `PowerBertEncoder.flops_fraction`)."""
        return self.encoder.flops_fraction(seq_len, lengths)

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
    ) -> PowerBertClassifier:
        """Backbone and preprocessor from a preset name or local directory.

        Args:
            source: a keras-hub preset name (needs internet), a local keras-hub
                preset or Hugging Face directory, or "minilm" (offline).
            num_classes, retention, mode: see the class.
            sequence_length: the preprocessor's length (and soft mode's).
            load_weights: False for random weights of the same shape.
        """
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

    @classmethod
    def from_text_classifier(
        cls,
        classifier,
        retention: RetentionConfig | str | Sequence[int] | None = None,
        mode: str | None = None,
        sequence_length: int | None = None,
    ) -> PowerBertClassifier:
        """PoWER-BERT on a keras-hub classifier you have fine-tuned: its backbone, head and
        preprocessor carried over, so the fine-tune step is skipped.

        In mode "none" the outputs are the classifier's own (keras-hub's `BertTextClassifier`,
        `AlbertTextClassifier`, `RobertaTextClassifier` or `DistilBertTextClassifier`); the
        search and retrain then start from it (`power_bert_tf.accelerate.accelerate`). The
        backbone and preprocessor are shared, not copied; the head's weights are copied.

        Args:
            classifier: a keras-hub text classifier of a supported family, built, with
                `activation=None` (logits), as keras-hub makes it by default.
            retention, mode: see the class.
            sequence_length: default: the classifier's preprocessor's.

        Raises:
            ValueError: an unsupported family, an output activation, or a head whose shape
                differs from this model's (naming the layer).

        Example:
        >>> import keras_hub
        >>> classifier = keras_hub.models.BertTextClassifier(
        ...     backbone=load_backbone("minilm"), num_classes=2,
        ...     preprocessor=load_preprocessor("minilm", 32))
        >>> model = PowerBertClassifier.from_text_classifier(classifier)
        >>> texts = ["a short sentence", "another one"]
        >>> bool(np.allclose(model.predict(texts, verbose=0),
        ...                  classifier.predict(texts, verbose=0), atol=1e-5))
        True
        """
        activation = getattr(classifier, "activation", None)
        if activation is not None and activation is not keras.activations.linear:
            raise ValueError(
                f"{type(classifier).__name__} has activation={activation.__name__}: PoWER-BERT "
                "trains on logits; build the classifier with activation=None"
            )
        preprocessor = getattr(classifier, "preprocessor", None)
        if sequence_length is None:
            sequence_length = getattr(preprocessor, "sequence_length", None)
        model = cls(
            classifier.backbone,
            num_classes=classifier.num_classes,
            retention=retention,
            mode=mode,
            sequence_length=sequence_length,
            dropout=getattr(classifier, "dropout", 0.1),
            preprocessor=preprocessor,
        )
        model.build_from_example()
        for name in ("pooled_dense", "output_dense"):
            theirs, ours = getattr(classifier, name, None), getattr(model, name)
            if (theirs is None) != (ours is None):
                raise ValueError(
                    f"{type(classifier).__name__}: its head {'has' if theirs else 'lacks'} a "
                    f"{name} layer where PoWER-BERT's head for this family does not"
                )
            if theirs is None:
                continue
            for mine, their in zip(ours.weights, theirs.weights):
                if tuple(mine.shape) != tuple(their.shape):
                    raise ValueError(
                        f"{type(classifier).__name__}.{name}: weight {their.path} has shape "
                        f"{tuple(their.shape)}, PoWER-BERT's head expects {tuple(mine.shape)}"
                    )
                mine.assign(ops.copy(their.value))
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
                "preprocessor": None
                if self.preprocessor is None
                else keras.saving.serialize_keras_object(self.preprocessor),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)


def _is_text(x) -> bool:
    """Raw strings: a str list / array, or a tuple of two (sentence pairs)."""
    if isinstance(x, tuple) and len(x) == 2:
        return all(_is_text(part) for part in x)
    if isinstance(x, (list, np.ndarray)) and len(x):
        first = x[0]
        return isinstance(first, (str, bytes, np.str_, np.bytes_))
    return False


def _relative_path(variable, model) -> str:
    """A variable's path without the owning model's (uniquified) name."""
    path = variable.path
    prefix = model.name + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


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
            # A copy, not `match` itself: under JAX both variables would hold one buffer, and
            # keras' jitted predict/fit/evaluate donate it (the other model's weights deleted).
            variable.assign(ops.copy(match.value))
    return missing


def with_global_precision(model: PowerBertClassifier) -> PowerBertClassifier:
    """`model` computing under the current global precision policy.

    A `.keras` file records the dtype policy the classifier and its backbone were
    built under (the backbone hands its policy to every one of its layers), and
    `keras.saving.load_model` restores it: a checkpoint saved under float32 and
    loaded in a `mixed_bfloat16` run would compute in float32, and the reverse in
    bfloat16. This rebuilds such a model from its config with those two saved
    policies dropped, so every layer takes the global policy as in a freshly built
    model (layers that pin their own dtype, like the encoder's float32
    `SignificanceScore`, keep it), and copies the weights over by path. Variables
    are float32 under both policies, so the copy is exact.

    Args:
        model: a built `PowerBertClassifier`, e.g. one just loaded from a `.keras` file.

    Returns:
        `model` itself when the classifier and its backbone already use
        `keras.mixed_precision.global_policy()`; otherwise a new built
        `PowerBertClassifier` with the same configuration, weights, attached
        preprocessor and compile configuration (not the optimizer's state).
    """
    policy = keras.mixed_precision.global_policy().name
    if model.dtype_policy.name == policy and model.backbone.dtype_policy.name == policy:
        return model
    backbone_config = model.backbone.get_config()
    backbone_config["dtype"] = None  # None: the global policy
    config = model.get_config()
    config.update(
        {
            "dtype": None,
            "backbone": type(model.backbone).from_config(backbone_config),
            "preprocessor": model.preprocessor,
        }
    )
    rebuilt = PowerBertClassifier(**config)
    rebuilt.build()
    missing = copy_weights_by_path(model, rebuilt)
    # Dropout's seed-generator states are named per process, not per model: not weights.
    uncopied = sorted({v.path for v in rebuilt.weights} & set(missing))
    if uncopied or len(rebuilt.weights) != len(model.weights):
        raise ValueError(
            f"rebuilding {model.name} under the {policy} policy left weights uncopied: {uncopied}"
        )
    compile_config = model.get_compile_config()
    if compile_config is not None:
        rebuilt.compile_from_config(compile_config)
    return rebuilt
