"""Backbones: where they come from (`sources`) and how PoWER-BERT wires into each family (`adapters`)."""

from power_bert_tf.backbones.adapters import (
    BackboneAdapter,
    UnsupportedBackboneError,
    adapter_for,
    check_versions,
)
from power_bert_tf.backbones.sources import (
    BackboneLoadError,
    default_backbone,
    load_backbone,
    load_preprocessor,
    minilm_directory,
    peek_backbone,
    resolve_source,
)

__all__ = [
    "BackboneAdapter",
    "BackboneLoadError",
    "UnsupportedBackboneError",
    "adapter_for",
    "check_versions",
    "default_backbone",
    "load_backbone",
    "load_preprocessor",
    "minilm_directory",
    "peek_backbone",
    "resolve_source",
]
