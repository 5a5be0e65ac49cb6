"""The classification head (`[pooled_dense] -> dropout -> logits` on the encoder's pooled output,
in the backbone's dtype policy; a `pooled_dense` only for backbones without a pooler), and weights
between two models: copied by path, a head's from keras-hub's, rebuilt under the run's policy."""

from __future__ import annotations

import keras
from keras import ops


def make_head(backbone, pool_activation: str | None, num_classes: int, dropout: float) -> tuple:
    """`(pooled_dense or None, output_dropout, output_dense)`, unbuilt."""
    policy = backbone.dtype_policy
    pooled_dense = None
    if pool_activation is not None:
        pooled_dense = keras.layers.Dense(
            backbone.hidden_dim,
            activation=pool_activation,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=policy,
            name="pooled_dense",
        )
    output_dropout = keras.layers.Dropout(dropout, dtype=policy, name="output_dropout")
    output_dense = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        dtype=policy,
        name="logits",
    )
    return pooled_dense, output_dropout, output_dense


def apply_head(head: tuple, pooled, training=None):
    """Logits `[batch, num_classes]` from `pooled` `[batch, hidden]` (symbolic or not)."""
    pooled_dense, output_dropout, output_dense = head
    if pooled_dense is not None:
        pooled = pooled_dense(output_dropout(pooled, training=training))
    return output_dense(output_dropout(pooled, training=training))


def copy_head_weights(classifier, model) -> None:
    """Copy a keras-hub classifier's `pooled_dense` and `output_dense` weights into `model`'s.

    Raises:
        ValueError: a layer one head has and the other lacks, or a weight of another shape.
    """
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


def _relative_path(variable, model) -> str:
    """A variable's path without the owning model's (uniquified) name."""
    return variable.path.removeprefix(model.name + "/")


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
            # A copy: under JAX one shared buffer would be donated by keras' jitted calls.
            variable.assign(ops.copy(match.value))
    return missing


def with_global_precision(model):
    """A built `model` computing under the global precision policy (a `.keras` file restores the
    policy it was saved under): `model` itself, or one rebuilt on a backbone of that policy with
    its weights, preprocessor and compile configuration (not the optimizer's state)."""
    policy = keras.mixed_precision.global_policy().name
    if model.backbone.dtype_policy.name == policy:
        return model
    backbone_config = {**model.backbone.get_config(), "dtype": None}  # None: the global policy
    config = {
        **model.get_config(),
        "backbone": type(model.backbone).from_config(backbone_config),
        "preprocessor": model.preprocessor,
    }
    rebuilt = type(model)(**config)
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
