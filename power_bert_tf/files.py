"""Atomic file writes (`atomic_path`): a result, log or checkpoint is either the old file or
the whole new one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path beside `path`; on success rename it to `path`, else remove it.

    Args:
        path: the file to (re)write; its directory is created when missing.
        suffix: the temporary file's suffix (`keras.Model.save` insists on ``".keras"``).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=suffix
    )
    os.close(fd)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; the result should read like any file
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8, ``\\n`` line ends) to `path` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)


def write_json_atomically(path: str | os.PathLike, payload) -> None:
    """Write `payload` as indented JSON to `path` atomically."""
    write_text_atomically(path, json.dumps(payload, indent=2) + "\n")


def read_json_if_present(path: str | os.PathLike) -> dict:
    """The JSON object in `path`, or ``{}`` when there is no such file.

    Raises:
        ValueError: naming the file, when it is not a JSON object.
    """
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as handle:
            payload = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(payload).__name__}")
    return payload


def save_checkpoint(model, path: str | os.PathLike) -> None:
    """Save a model via a temporary file and a rename: never half-written."""
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)
