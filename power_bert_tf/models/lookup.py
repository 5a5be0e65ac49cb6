"""Which task class: a backbone's family's, or the one a `save_to_preset` directory holds."""

from __future__ import annotations

import json
import os

import keras

from power_bert_tf.backbones import resolve_source
from power_bert_tf.backbones.sources import BackboneLoadError


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
    path = os.path.join(directory, "task.json")
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        found = keras.saving.get_registered_object(json.load(handle).get("registered_name"))
    return found if isinstance(found, type) and issubclass(found, base) else None
