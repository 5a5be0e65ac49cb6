"""`PowerBertClassifier`, a functional keras-hub `TextClassifier` whose backbone stays a stock one
(`task.backbone`, a preset's backbone files), and a subclass per other family. With this package
imported, `TextClassifier.from_preset` may build one (keras-hub's `find_subclass`): name the class
you want (e.g. `BertTextClassifier.from_preset`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import keras_hub
import numpy as np
from keras import ops

from power_bert_tf.backbones import load_backbone, load_preprocessor, resolve_source
from power_bert_tf.backbones.adapters import saved_json
from power_bert_tf.backbones.sources import BackboneLoadError
from power_bert_tf.models.encoder import PowerBertEncoder
from power_bert_tf.models.weights import (
    apply_head,
    copy_head_weights,
    copy_weights_by_path,
    make_head,
)
from power_bert_tf.retention import RetentionConfig

Retention = RetentionConfig | str | Sequence[int] | None


def family_class(cls: type, backbone) -> type:
    """`cls`, or its subclass naming `backbone`'s family (the exact backbone class first); `cls`
    for anything else a constructor receives (None, a config dict)."""
    if not isinstance(backbone, keras.Model) or isinstance(backbone, cls.backbone_cls):
        return cls
    found, pending = [], list(cls.__subclasses__())
    while pending:
        sub = pending.pop(0)
        pending.extend(sub.__subclasses__())
        if sub.backbone_cls is not None and isinstance(backbone, sub.backbone_cls):
            found.append(sub)
    found.sort(key=lambda sub: sub.backbone_cls is not type(backbone))
    return found[0] if found else cls


def saved_task_class(preset, base: type) -> type | None:
    """The subclass of `base` a local `save_to_preset` directory holds (its `task.json`), else
    None (a backbone's preset, a preset name, another task's directory)."""
    try:
        directory = resolve_source(preset)
    except BackboneLoadError:
        return None
    task = saved_json(directory, "task.json")
    if task is None:
        return None
    found = keras.saving.get_registered_object(task.get("registered_name"))
    return found if isinstance(found, type) and issubclass(found, base) else None


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerBertClassifier(keras_hub.models.TextClassifier):
    """PoWER-BERT for classification and regression on any supported keras-hub backbone; head:
    pooled output -> dropout -> dense (RoBERTa, DistilBERT: after a `pooled_dense`, as keras-hub).

    Args:
        backbone: a keras-hub `BertBackbone`, `AlbertBackbone`, `RobertaBackbone`
            or `DistilBertBackbone` (another family's gives that family's subclass).
        num_classes: number of labels; 1 for regression.
        retention, mode, sequence_length, exclude_self: see `PowerBertEncoder`.
        dropout: dropout on the pooled output.
        preprocessor: optional keras-hub `TextClassifierPreprocessor`; with it, `fit` /
            `evaluate` / `predict` also take raw strings.
        compile: compile with the defaults of `compile()` (keras-hub's default).

    Call arguments:
        inputs: the feature dict `input_features` names (`token_ids`, `padding_mask`,
            and `segment_ids` for BERT / ALBERT), as a keras-hub preprocessor makes it.

    Returns:
        `[batch, num_classes]` logits (or `[batch, 1]` scores).

    `fit()` refuses soft mode (it needs the mass penalty): use `training.Trainer`.

    Example:
    >>> model = PowerBertClassifier.from_preset(
    ...     "minilm", num_classes=2, retention="64,48,32,24,16,8",
    ...     sequence_length=64)
    >>> model.predict(["a short sentence", "another one"], verbose=0).shape
    (2, 2)
    """

    backbone_cls = keras_hub.models.BertBackbone
    preprocessor_cls = keras_hub.models.BertTextClassifierPreprocessor

    def __new__(cls, *args, **kwargs):
        backbone = args[0] if args else kwargs.get("backbone")
        return super().__new__(family_class(cls, backbone), *args, **kwargs)

    def __init__(
        self,
        backbone,
        num_classes: int,
        retention: Retention = None,
        mode: str | None = None,
        sequence_length: int | None = None,
        dropout: float = 0.1,
        exclude_self: bool = True,
        preprocessor=None,
        compile: bool = True,
        **kwargs,
    ):
        shared = kwargs.pop("shared_head", None)  # `sharing_weights`: another model's head layers
        # Layers first: the base class's __init__ compiles.
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.encoder = PowerBertEncoder(
            backbone,
            retention=retention,
            mode=mode,
            sequence_length=sequence_length,
            exclude_self=exclude_self,
            dtype=backbone.dtype_policy,
            name="power_bert_encoder",  # the name its saved files use
        )
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.pooled_dense, self.output_dropout, self.output_dense = shared or make_head(
            backbone, self.encoder.adapter.pool_activation, self.num_classes, self.dropout
        )
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in self.input_features
        }
        head = (self.pooled_dense, self.output_dropout, self.output_dense)
        outputs = apply_head(head, self.encoder(inputs)["pooled_output"])
        super().__init__(inputs=inputs, outputs=outputs, compile=compile, **kwargs)

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

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """`TextClassifier.compile`: Adam(5e-5), from-logits sparse categorical cross-entropy
        and accuracy; for a regressor (`num_classes=1`) mean squared error and no metric."""
        if self.is_regression:
            loss = keras.losses.MeanSquaredError() if loss == "auto" else loss
            metrics = None if metrics == "auto" else metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # keras skips a custom compile() when loading; the optimizer is built by the first fit.
        self.compile(**keras.saving.deserialize_keras_object(config))

    def preprocess_samples(self, x, y=None, sample_weight=None):
        # Token features pass through: the preprocessor runs on strings only.
        if not _has_strings(x):
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        self._require_preprocessor()
        return super().preprocess_samples(x, y, sample_weight)

    def _require_preprocessor(self) -> None:
        if self.preprocessor is None:
            raise ValueError(
                "this model has no preprocessor: call it on token ids, or pass preprocessor="
            )

    def preprocess(self, texts):
        """Token features for raw text: a list of strings, or a tuple of two lists (pairs)."""
        self._require_preprocessor()
        # y=None: keras-hub reads a bare 2-tuple as (x, y), not as a pair.
        return self.preprocessor(tuple(texts) if isinstance(texts, tuple) else texts, y=None)

    def predict(self, x=None, batch_size=None, **kwargs):
        """`TextClassifier.predict`: raw strings (or a tuple of two lists) or token features."""
        if self.preprocessor is not None and not self.preprocessor.built:
            self.preprocess([""])  # an unbuilt sublayer makes JAX's predict() run eagerly
        return super().predict(x, batch_size=batch_size, **kwargs)

    def fit(self, *args, **kwargs):
        """`TextClassifier.fit`; refused in soft mode (see the class)."""
        if self.mode == "soft":
            raise ValueError(
                "fit() on a soft-mode PowerBertClassifier would train the retention weights "
                "without the mass penalty lambda * sum_j j * mass_j and at BERT's learning rate: "
                "use power_bert_tf.training.Trainer (or scripts/run_glue.py --steps search)"
            )
        return super().fit(*args, **kwargs)

    def with_mode(self, mode: str, retention: Retention = None) -> PowerBertClassifier:
        """A new model in `mode` carrying this one's weights over by name."""
        config = self.get_config()
        config.update({"mode": mode, "retention": retention, "name": None})
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["preprocessor"] = self.preprocessor
        new = type(self)(**config)
        new.build_from_example(self.sequence_length)
        copy_weights_by_path(self, new)
        return new

    def sharing_weights(self, retention: Retention) -> PowerBertClassifier:
        """A hard-mode model at `retention` whose variables are this model's own: training either
        one trains both, and one export serves both. Not for soft mode.

        Example:
        >>> view = model.sharing_weights("8,4,2,1,1,1")  # doctest: +SKIP
        >>> [id(v) for v in view.variables] == [id(v) for v in model.variables]  # doctest: +SKIP
        True
        """
        if self.mode == "soft":
            raise ValueError(
                "a soft-mode model has retention weights of its own: it cannot share a view"
            )
        view = type(self)(
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
        """Trace the model once on `[1, sequence_length]` inputs: eager on TensorFlow, symbolic
        elsewhere (an eager JAX call compiles each op)."""
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
    def from_preset(cls, preset=None, load_weights: bool = True, **kwargs) -> PowerBertClassifier:
        """A task from a `save_to_preset` directory, or a new one on a backbone's preset.

        Args:
            preset: a `save_to_preset` directory; or a keras-hub preset name (needs
                internet), a local keras-hub preset or Hugging Face directory, or "minilm"
                (offline); None: `power_bert_tf.backbones.default_backbone()`.
            load_weights: False for random weights of the same shape.
            **kwargs: for a new task, the class's arguments (`num_classes` default 2,
                `sequence_length` default 128).
        """
        if saved_task_class(preset, PowerBertClassifier) is not None:
            return super().from_preset(resolve_source(preset), load_weights=load_weights, **kwargs)
        kwargs.setdefault("num_classes", 2)
        kwargs.setdefault("sequence_length", 128)
        backbone = load_backbone(preset, load_weights=load_weights)
        preprocessor = load_preprocessor(preset, kwargs["sequence_length"])
        model = cls(backbone, preprocessor=preprocessor, **kwargs)
        model.build_from_example()
        return model

    @classmethod
    def from_text_classifier(
        cls,
        classifier,
        retention: Retention = None,
        mode: str | None = None,
        sequence_length: int | None = None,
    ) -> PowerBertClassifier:
        """PoWER-BERT on a fine-tuned keras-hub classifier: its backbone and preprocessor
        shared, its head's weights copied (in mode "none" the outputs are the classifier's).

        Args:
            classifier: a keras-hub text classifier of a supported family, built, with
                `activation=None` (logits), as keras-hub makes it by default.
            retention, mode: see the class.
            sequence_length: default: the classifier's preprocessor's.

        Raises:
            ValueError: an unsupported family, an output activation, or a head whose shape
                differs from this model's (naming the layer).

        Example:
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
        copy_head_weights(classifier, model)
        return model

    def get_config(self):
        return {
            **super().get_config(),  # backbone, preprocessor, name
            "num_classes": self.num_classes,
            "retention": None if self.retention is None else self.retention.to_list(),
            "mode": self.mode,
            "sequence_length": self.sequence_length,
            "dropout": self.dropout,
            "exclude_self": self.encoder.exclude_self,
        }


def _has_strings(x) -> bool:
    """Raw text anywhere in `x`: Python or NumPy strings, or a string tensor."""
    for leaf in keras.tree.flatten(x):
        if isinstance(leaf, (str, bytes)):
            return True
        dtype = getattr(leaf, "dtype", None)
        if isinstance(leaf, np.ndarray) and leaf.dtype.kind in "USO":
            return leaf.dtype.kind != "O" or any(isinstance(v, (str, bytes)) for v in leaf.flat)
        if dtype is not None and "string" in str(dtype):
            return True
    return False


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerAlbertClassifier(PowerBertClassifier):
    """`PowerBertClassifier` on a keras-hub `AlbertBackbone`."""

    backbone_cls = keras_hub.models.AlbertBackbone
    preprocessor_cls = keras_hub.models.AlbertTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerRobertaClassifier(PowerBertClassifier):
    """`PowerBertClassifier` on a keras-hub `RobertaBackbone` (the head adds a tanh pooler)."""

    backbone_cls = keras_hub.models.RobertaBackbone
    preprocessor_cls = keras_hub.models.RobertaTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="power_bert_tf")
class PowerDistilBertClassifier(PowerBertClassifier):
    """`PowerBertClassifier` on a keras-hub `DistilBertBackbone` (the head adds a relu pooler)."""

    backbone_cls = keras_hub.models.DistilBertBackbone
    preprocessor_cls = keras_hub.models.DistilBertTextClassifierPreprocessor
