"""The one error type of the results package, the field checks that raise it, and how the
results scripts report it."""

from __future__ import annotations

import sys
from collections.abc import Callable

from power_bert_tf.errors import PowerBertError


class ResultsError(PowerBertError, ValueError):
    """A ledger, results.json or benchmark JSON that is missing, not JSON, or lacks a field."""


def require(entry: dict, key: str, where: str, kind: type | tuple = str):
    """``entry[key]``, refusing a missing value or one of another type.

    Args:
        entry: a JSON object.
        key: the field.
        where: the message prefix, e.g. ``"benchmarks/records/runs/ledger.json: run 'cola-s1': "``.
        kind: the accepted type(s) (a bool is never a number).

    Returns:
        The value.

    Raises:
        ResultsError: ``<where>no '<key>'`` or ``<where>'<key>' is <value>, not a <type>``.
    """
    value = entry.get(key)
    if value is None:
        raise ResultsError(f"{where}no '{key}'")
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise ResultsError(f"{where}'{key}' is {value!r}, not a {expected}")
    return value


def optional(entry: dict, key: str, where: str, kind: type | tuple):
    """``entry[key]`` checked as `require` does, or None when absent."""
    return None if entry.get(key) is None else require(entry, key, where, kind)


def exit_status(script: str, work: Callable[[], int]) -> int:
    """Runs a results script's `work`; its error, if any, is one line on stderr and status 2.

    Args:
        script: the script's file name, the message's prefix.
        work: the script's body; returns its exit status.

    Returns:
        `work()`'s status, or 2 after a `ResultsError` (its message names the file and field)
        or an `OSError` (``<file>: <reason>``).

    Example:
    >>> exit_status("demo.py", lambda: open("/nonexistent/results.json").close() or 0)
    2
    """
    try:
        return work()
    except ResultsError as error:
        print(f"{script}: error: {error}", file=sys.stderr)
    except OSError as error:
        print(f"{script}: error: {error.filename}: {error.strerror}", file=sys.stderr)
    return 2
