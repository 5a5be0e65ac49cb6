"""The one error type of the results package, and the field checks that raise it."""

from __future__ import annotations


class ResultsError(ValueError):
    """A ledger, results.json or benchmark JSON that is missing, not JSON, or lacks a field."""


def require(entry: dict, key: str, where: str, kind: type | tuple = str):
    """``entry[key]``, refusing a missing value or one of another type.

    Args:
        entry: a JSON object.
        key: the field.
        where: the message prefix, e.g. ``"docs/runs/ledger.json: run 'cola-s1': "``.
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
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ResultsError(f"{where}'{key}' is {value!r}, not a {expected}")
    return value


def optional(entry: dict, key: str, where: str, kind: type | tuple):
    """``entry[key]`` checked as `require` does, or None when absent."""
    return None if entry.get(key) is None else require(entry, key, where, kind)
