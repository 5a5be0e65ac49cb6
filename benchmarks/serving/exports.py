"""Which text signatures of an export to serve, and their budgets, from its `power_bert.json`.

Version directories and the metadata file are `power_bert_tf.export`'s (`versions`,
`metadata`); this module resolves a base directory to its highest integer version (as TF
Serving does), reads the metadata, and chooses the text signatures: those whose inputs
are all raw-text inputs (`sentence`, or `sentence1` + `sentence2`). An export carries
`serving_default` and may carry more (one per FLOPs budget); all are found from the
metadata, none is assumed beyond `serving_default` coming first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from benchmarks.serving.errors import ServingError
from power_bert_tf.export.metadata import (
    SIGNATURE_TEXT,
    existing_versions,
    metadata_path,
    read_metadata,
)

TEXT_INPUTS = frozenset({"sentence", "sentence1", "sentence2"})


@dataclass(frozen=True)
class ExportInfo:
    """An export's version directory, metadata and the text signatures chosen from it.

    Attributes:
        version_dir: the directory holding `saved_model.pb`.
        metadata: the parsed `power_bert.json`.
        signatures: the chosen text signature names.
        inputs: their (common) input names, e.g. `("sentence",)`.
    """

    version_dir: Path
    metadata: dict
    signatures: tuple[str, ...]
    inputs: tuple[str, ...]

    @property
    def task(self) -> str:
        return str(self.metadata.get("task") or "")


def resolve_version_dir(path) -> Path:
    """`path` itself if it holds `saved_model.pb`, else its highest integer version directory.

    Raises:
        ServingError: naming the path, when it is not a directory or holds no SavedModel.
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.is_dir():
        raise ServingError(f"{path}: not a directory (expected a SavedModel version directory)")
    if not (path / "saved_model.pb").is_file():
        versions = existing_versions(path)
        if not versions:
            raise ServingError(
                f"{path}: not a SavedModel version directory (no saved_model.pb) "
                "and no integer version directory under it"
            )
        path = path / str(versions[-1])
        if not (path / "saved_model.pb").is_file():
            raise ServingError(f"{path}: not a SavedModel version directory (no saved_model.pb)")
    return path


def checked_metadata(version_dir: Path) -> dict:
    """`read_metadata(version_dir)`, with its `signatures` field checked.

    Raises:
        ServingError: naming the file and field, when it is missing or malformed.
    """
    path = metadata_path(version_dir)
    if not path.is_file():
        raise ServingError(f"{path}: missing (is {version_dir} a PoWER-BERT export?)")
    try:
        metadata = read_metadata(version_dir)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ServingError(f"{path}: unreadable ({error})") from None
    signatures = metadata.get("signatures") if isinstance(metadata, dict) else None
    if not isinstance(signatures, dict) or not all(
        isinstance(spec, dict) and isinstance(spec.get("inputs"), list)
        for spec in signatures.values()
    ):
        raise ServingError(f"{path}: field 'signatures' must map names to {{'inputs': [...], ...}}")
    return metadata


def text_signatures(metadata: dict) -> list[str]:
    """The text signatures' names: `serving_default` first, then the budgets' in the order
    `power_bert.json` lists them (largest budget first), then any others sorted."""
    names = [
        name
        for name, spec in metadata["signatures"].items()
        if spec["inputs"] and set(spec["inputs"]) <= TEXT_INPUTS
    ]
    listed = [entry.get("signature") for entry in metadata.get("budgets") or ()]
    return sorted(
        names,
        key=lambda name: (
            name != SIGNATURE_TEXT,
            listed.index(name) if name in listed else len(listed),
            name,
        ),
    )


def choose_signatures(metadata: dict, requested=None, where: str = "the export") -> tuple[str, ...]:
    """The requested text signatures (all of them when `requested` is empty), checked.

    Args:
        metadata: the export's metadata.
        requested: signature names, or None / empty for every text signature.
        where: how error messages name the export.

    Raises:
        ServingError: no text signature, or a requested name that is not one (the message lists
            the available ones), or chosen signatures with different inputs.
    """
    available = text_signatures(metadata)
    if not available:
        raise ServingError(
            f"{where}: no text signature (inputs among {', '.join(sorted(TEXT_INPUTS))}); "
            f"it has: {', '.join(metadata['signatures']) or 'none'}"
        )
    chosen = tuple(dict.fromkeys(requested or available))  # keeps order, drops repeats
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise ServingError(
            f"{where}: no text signature named {', '.join(map(repr, unknown))}; "
            f"available: {', '.join(available)}"
        )
    if len({tuple(metadata["signatures"][name]["inputs"]) for name in chosen}) > 1:
        raise ServingError(f"{where}: the signatures {', '.join(chosen)} take different inputs")
    return chosen


def budget_of(metadata: dict, signature: str) -> dict:
    """The signature's `retention`, `flops_fraction` and `dev_metric` from the metadata's "budgets".

    Exports made before budgets existed describe `serving_default` at the top level; a
    signature described nowhere gets None for each.
    """
    keys = ("retention", "flops_fraction", "dev_metric")
    for entry in metadata.get("budgets") or ():
        if entry.get("signature") == signature:
            return {key: entry.get(key) for key in keys}
    source = metadata if signature == SIGNATURE_TEXT else {}
    return {key: source.get(key) for key in keys}


def inspect_export(path, signatures=None) -> ExportInfo:
    """Resolve, read and check an export without loading it (see `choose_signatures`).

    Args:
        path: a version directory, or a base directory (its highest integer version).
        signatures: text signature names, or None for all of them.

    Returns:
        The `ExportInfo`.

    Raises:
        ServingError: naming the path, signature or field at fault.
    """
    version_dir = resolve_version_dir(path)
    metadata = checked_metadata(version_dir)
    chosen = choose_signatures(metadata, signatures, where=str(version_dir))
    inputs = tuple(metadata["signatures"][chosen[0]]["inputs"])
    return ExportInfo(version_dir, metadata, chosen, inputs)
