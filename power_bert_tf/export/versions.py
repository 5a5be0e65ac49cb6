"""Version directories: `<export_dir>/<version>/`, never overwritten, never seen half-written."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from power_bert_tf.export.errors import ExportError


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


def next_version(export_dir) -> int:
    """1 + the largest existing integer version directory (1 if none)."""
    return max(existing_versions(export_dir), default=0) + 1


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
        version = next_version(export_dir)
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
