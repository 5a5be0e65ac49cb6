"""Command-line flags built from the package's config dataclasses: each flag is declared once.

A dataclass field with `metadata={"help": ...}` becomes `--field-name` (or its
`metadata["flag"]`); the type comes from the default, `csv=True` reads a
comma-separated tuple, `choices` and `required` pass through, and a bool is a switch.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

_TYPES = {"int": int, "float": float, "str": str}


def command_line_fields(cls):
    """`(field, flag)` for every field of a config dataclass that has a flag."""
    for item in fields(cls):
        flag = item.metadata.get("flag", "--" + item.name.strip("_").replace("_", "-"))
        if flag is not None and "help" in item.metadata:
            yield item, flag


def _value_type(item):
    annotation = str(item.type).replace(" ", "")
    for name, kind in _TYPES.items():
        if annotation.startswith(name):
            return kind
    return str


def add_dataclass_flags(parser: argparse.ArgumentParser, cls) -> None:
    """Add one flag per field of `cls` that has command-line help."""
    for item, flag in command_line_fields(cls):
        meta = item.metadata
        default = None if item.default is MISSING else item.default
        # argparse %-formats help strings: a literal "95%" would break --help.
        kwargs = {"dest": item.name, "help": meta["help"].replace("%", "%%")}
        if not isinstance(default, bool):
            kwargs["metavar"] = flag.lstrip("-").upper().replace("-", "_")
        if meta.get("required"):
            kwargs["required"] = True
        if isinstance(default, bool):
            parser.add_argument(
                flag,
                action="store_false" if meta.get("invert") else "store_true",
                default=default,
                **kwargs,
            )
            continue
        if meta.get("csv"):
            kwargs["type"] = lambda text: tuple(
                part.strip() for part in text.split(",") if part.strip()
            )
            kwargs["help"] += f" (default: {','.join(default)})"
        else:
            kwargs["type"] = _value_type(item)
            if default is not None:
                kwargs["help"] += f" (default: {default})"
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        parser.add_argument(flag, default=default, **kwargs)


def add_results_flag(parser: argparse.ArgumentParser) -> None:
    """`--results`, the per-task records the results scripts read (collect_results.py's --output)."""
    parser.add_argument(
        "--results",
        default="docs/results.json",
        help="the records benchmarks/collect_results.py writes (default: %(default)s)",
    )


def dataclass_from_args(cls, args: argparse.Namespace, **overrides):
    """An instance of `cls` from the parsed flags of `add_dataclass_flags`."""
    values = {item.name: getattr(args, item.name) for item, _ in command_line_fields(cls)}
    values.update(overrides)
    return cls(**values)
