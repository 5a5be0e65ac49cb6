"""What an export promises: signature names, `assets.extra/power_bert.json` (also the
SavedModel's `metadata_json` variable), exportability; and its version directories,
`<export_dir>/<version>/`, never overwritten, never seen half-written."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from power_bert_tf.errors import ExportError
from power_bert_tf.export.packing import PACKED_FEATURES, truncation

SIGNATURE_TEXT = "serving_default"
SIGNATURE_TOKEN_IDS = "serve_token_ids"
TOKEN_IDS_SUFFIX = "_token_ids"  # a budget's token-id signature: "budget_25_token_ids"
MAX_BATCH_SIZE = 1024  # the most examples one request may hold (more: InvalidArgument)
METADATA_FILENAME = "power_bert.json"
METADATA_FORMAT_VERSION = 1


def check_exportable(model, text_signature: bool = True) -> None:
    """Raise ExportError unless `model` can be exported (with a raw-text signature if asked)."""
    from power_bert_tf.models import PowerBertClassifier

    if not isinstance(model, PowerBertClassifier):
        raise ExportError(f"expected a PowerBertClassifier, got {type(model).__name__}")
    if not text_signature:
        return
    if tuple(model.input_features) != PACKED_FEATURES:
        raise ExportError(
            f"raw-text export (the '{SIGNATURE_TEXT}' signature) supports BERT/ALBERT "
            "backbones ([CLS] a [SEP] b [SEP] packing with segment ids); this model's "
            f"{type(model.backbone).__name__} reads {', '.join(model.input_features)}. "
            f"The '{SIGNATURE_TOKEN_IDS}' signature is available: export with "
            "text_signature=False (export_savedmodel.py --token-ids-only)"
        )
    if getattr(model, "preprocessor", None) is None:
        raise ExportError(
            "the model has no preprocessor, so its text signature cannot be built "
            f"(text_signature=False exports the '{SIGNATURE_TOKEN_IDS}' signature alone)"
        )


def label_names(model, names=None) -> list[str]:
    """The class names to serve: `names` (checked), else "0".."n-1"; [] for regression."""
    if model.is_regression:
        return []
    names = [str(name) for name in (names or [])]
    if names and len(names) != model.num_classes:
        raise ExportError(f"{len(names)} label names for a model with {model.num_classes} classes")
    return names or [str(i) for i in range(model.num_classes)]


def budget_entries(
    model, budgets=(), dev_metric: float | None = None, text_signature: bool = True
) -> list[dict]:
    """`power_bert.json`'s "budgets": the model's own configuration (`serving_default`) first, then
    one entry per budget of a `--budgets` retrain (`training.budgets`), all over the same variables.

    Args:
        budgets: the retrain record's "budgets" ("signature", "retention", "flops_fraction", "dev").
        dev_metric: the delivered model's dev metric (the retrain record's "dev").
    """
    retention = None if model.retention is None else model.retention.to_list()
    rows = [
        (SIGNATURE_TEXT, SIGNATURE_TOKEN_IDS, retention, float(model.flops_fraction()), dev_metric)
    ]
    for budget in budgets:
        name = str(budget["signature"])
        keep, fraction = list(budget["retention"]), float(budget["flops_fraction"])
        rows.append((name, name + TOKEN_IDS_SUFFIX, keep, fraction, budget.get("dev")))
    return [
        {
            "signature": text if text_signature else None,
            "token_ids_signature": token_ids,
            "retention": keep,
            "flops_fraction": fraction,
            "dev_metric": dev,
        }
        for text, token_ids, keep, fraction, dev in rows
    ]


def export_metadata(
    model,
    run_config: dict | None = None,
    checkpoint: str | None = None,
    text_signature: bool = True,
    budgets=(),
    dev_metric: float | None = None,
    max_batch_size: int = MAX_BATCH_SIZE,
) -> dict:
    """What an operator needs to know about the export of `model` (with its preprocessor for the
    text signature), JSON-ready: `run_config` is the run's `run_config.json` (task, backbone,
    label_names, is_pair; missing keys get defaults), `checkpoint` the recorded source, `budgets`
    and `dev_metric` as in `budget_entries`, `max_batch_size` the most examples a request holds."""
    import keras
    import keras_hub
    import tensorflow as tf

    import power_bert_tf

    check_exportable(model, text_signature)
    run_config = dict(run_config or {})
    is_pair = bool(run_config.get("is_pair", False))
    retention = model.retention
    preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    outputs = ["score"] if model.is_regression else ["logits", "probabilities", "label"]
    if int(max_batch_size) < 1:
        raise ExportError(f"max_batch_size must be at least 1, got {max_batch_size}")
    entries = budget_entries(model, budgets, dev_metric, text_signature)
    text = {"inputs": ["sentence1", "sentence2"] if is_pair else ["sentence"], "outputs": outputs}
    signatures = {e["signature"]: text for e in entries if e["signature"]}
    token_ids = {"inputs": list(model.input_features), "outputs": outputs}
    signatures.update({e["token_ids_signature"]: token_ids for e in entries})
    sequence_length = preprocessor.sequence_length if text_signature else model.sequence_length
    return {
        "format_version": METADATA_FORMAT_VERSION,
        "task": str(run_config.get("task") or ""),
        "backbone": str(run_config.get("backbone") or ""),
        "num_classes": int(model.num_classes),
        "is_regression": bool(model.is_regression),
        "is_pair": is_pair,
        "label_names": label_names(model, run_config.get("label_names")),
        "sequence_length": int(sequence_length),
        "mode": model.mode,
        "retention_config": None if retention is None else str(retention),
        "retention": None if retention is None else retention.to_list(),
        "flops_fraction": float(model.flops_fraction()),
        "vocabulary_size": int(model.backbone.vocabulary_size),
        "lowercase": None if preprocessor is None else bool(getattr(tokenizer, "lowercase", False)),
        "truncate": None if preprocessor is None else truncation(preprocessor),
        "signatures": signatures,
        "budgets": entries,
        "max_batch_size": int(max_batch_size),
        "checkpoint": checkpoint,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "power_bert_tf": power_bert_tf.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_hub": keras_hub.__version__,
        },
    }


def metadata_path(version_dir) -> Path:
    return Path(version_dir) / "assets.extra" / METADATA_FILENAME


def write_metadata(version_dir, metadata: dict) -> None:
    """Write `assets.extra/power_bert.json` into a (staging) version directory."""
    path = metadata_path(version_dir)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_metadata(version_dir) -> dict:
    """The `assets.extra/power_bert.json` of an exported version directory."""
    return json.loads(metadata_path(version_dir).read_text(encoding="utf-8"))


def existing_versions(export_dir) -> list[int]:
    """The integer version directories already under `export_dir`, sorted."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        return []
    return sorted(
        int(entry.name)
        for entry in export_dir.iterdir()
        if entry.is_dir() and re.fullmatch(r"[0-9]+", entry.name)
    )


def version_directory(export_dir, version: int | None = None) -> Path:
    """The version directory to write (default: the next version).

    Raises:
        ExportError: `export_dir` is not a directory, `version` is not a
            non-negative integer, or that version already exists.
    """
    export_dir = Path(os.fspath(export_dir)).expanduser()
    if export_dir.exists() and not export_dir.is_dir():
        raise ExportError(f"export directory '{export_dir}' is not a directory")
    if version is None:
        version = max(existing_versions(export_dir), default=0) + 1
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise ExportError(f"version must be a non-negative integer, got {version!r}")
    final = export_dir / str(int(version))
    if final.exists():
        raise ExportError(f"export version directory '{final}' already exists")
    return final


@contextlib.contextmanager
def staged_version(final: Path) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; renamed to `final` when the block succeeds,
    removed on any failure (ExportError when `final` appeared meanwhile)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        yield staging
        if final.exists():
            raise ExportError(f"export version directory '{final}' already exists")
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
