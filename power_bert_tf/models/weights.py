"""Weights between two `PowerBertClassifier`s: copied by path, and rebuilt under the run's policy."""

from __future__ import annotations

import keras
from keras import ops


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
    """`model` computing under the current global precision policy (a `.keras` file restores
    the policy it was saved under): rebuilt on a backbone of the global policy, weights copied.

    Args:
        model: a built `PowerBertClassifier`, e.g. one just loaded from a `.keras` file.

    Returns:
        `model` itself when its backbone already uses the global policy; otherwise a new built
        model of the same class, configuration, weights, attached preprocessor and compile
        configuration (not the optimizer's state).
    """
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
