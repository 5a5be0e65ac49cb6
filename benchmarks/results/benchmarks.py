"""The fields of a benchmarks/benchmark.py JSON that the records use, older layouts included.

Current JSONs have ``protocol`` (padded / dynamic / batch1), ``speedup`` with ``speedup_ci``,
``baseline_ms``, ``power_ms``, ``device``, ``command``, ``timestamp``, ``load``, ``threads``
and ``variants``. Older ones have no protocol (they are padded), no interval, and carry
``truncation`` (the baseline on truncated inputs, not fine-tuned) and ``bucketed`` (the
whole dev set length-bucketed: the dynamic protocol, without an interval).
"""

from __future__ import annotations

from benchmarks.results.errors import ResultsError, optional, require

PROTOCOLS = ("padded", "dynamic", "batch1")
_PROTOCOL_ALIASES = {"batch-1": "batch1", "batch_1": "batch1", "bucketed": "dynamic"}


def normalize_protocol(protocol: str, where: str) -> str:
    """`protocol` as one of `PROTOCOLS`.

    Args:
        protocol: as written (``batch-1``, ``batch_1`` and ``bucketed`` are accepted).
        where: the message prefix.

    Returns:
        ``padded``, ``dynamic`` or ``batch1``.

    Raises:
        ResultsError: for any other protocol.
    """
    name = _PROTOCOL_ALIASES.get(protocol.lower(), protocol.lower())
    if name not in PROTOCOLS:
        raise ResultsError(f"{where}protocol '{protocol}' is not one of {', '.join(PROTOCOLS)}")
    return name


def _ci(value, where: str, key: str):
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ResultsError(f"{where}'{key}' is {value!r}, not [low, high]")
    return [float(value[0]), float(value[1])]


def normalize_benchmark(payload: dict, where: str) -> dict:
    """The fields of a benchmarks/benchmark.py JSON that the records use, older layouts included.

    Args:
        payload: the JSON. Required: ``speedup``. Optional: ``protocol`` (older JSONs have
            none: padded), ``speedup_ci``, ``baseline_ms``, ``power_ms``, ``device``,
            ``command``, ``timestamp``, ``load`` (``busy``, ``other_cpu_fraction``),
            ``threads``, ``retention``, ``variants``; and the older ``truncation`` (the
            baseline on truncated inputs, not fine-tuned) and ``bucketed`` (the dev set
            length-bucketed, which is the dynamic protocol, without an interval).
        where: the message prefix (``<file>: benchmark ...: ``).

    Returns:
        A dict with those keys (None where absent), ``truncation`` (``seq_len``, ``ms``,
        ``metric``, ``flops_fraction`` of the baseline on truncated inputs), and for an older
        JSON ``legacy_dynamic`` (from ``bucketed``) and ``legacy_truncation`` (else None).

    Raises:
        ResultsError: when ``speedup`` is missing or a field has the wrong type.
    """
    number = (int, float)
    load = payload.get("load") if isinstance(payload.get("load"), dict) else {}
    result = {
        "protocol": normalize_protocol(payload["protocol"], where)
        if payload.get("protocol")
        else None,
        "speedup": float(require(payload, "speedup", where, number)),
        "speedup_ci": _ci(payload.get("speedup_ci"), where, "speedup_ci"),
        "baseline_ms": optional(payload, "baseline_ms", where, number),
        "power_ms": optional(payload, "power_ms", where, number),
        "device": optional(payload, "device", where, str),
        "command": optional(payload, "command", where, str),
        "timestamp": optional(payload, "timestamp", where, str),
        "busy": load.get("busy"),
        "other_cpu_fraction": load.get("other_cpu_fraction"),
        "threads": payload.get("threads"),
        "retention": payload.get("retention"),
        "keras_backend": payload.get("keras_backend"),
        "variants": {},
        "truncation": None,
        "legacy_dynamic": None,
        "legacy_truncation": None,
    }
    variants = payload.get("variants") or {}
    if not isinstance(variants, dict):
        raise ResultsError(f"{where}'variants' is not an object")
    for name, variant in variants.items():
        inner = f"{where}variant '{name}': "
        if not isinstance(variant, dict):
            raise ResultsError(f"{inner}not an object")
        result["variants"][name] = {
            "ms": optional(variant, "ms", inner, number),
            "speedup": optional(variant, "speedup", inner, number),
            "speedup_ci": _ci(variant.get("speedup_ci"), inner, "speedup_ci"),
            "flops_fraction": optional(variant, "flops_fraction", inner, number),
            "seq_len": optional(variant, "seq_len", inner, int),
            "retention": variant.get("retention"),
        }
    truncation = payload.get("truncation")
    if isinstance(truncation, dict):
        result["truncation"] = {
            key: truncation.get(key) for key in ("seq_len", "ms", "metric", "flops_fraction")
        }
        if result["protocol"] is None and truncation.get("ms") is not None:
            result["legacy_truncation"] = result["truncation"]
    bucketed = payload.get("bucketed")
    if (
        result["protocol"] is None
        and isinstance(bucketed, dict)
        and bucketed.get("speedup") is not None
    ):
        seconds = {key: bucketed.get(f"{key}_s") for key in ("baseline", "power", "truncation")}
        result["legacy_dynamic"] = {
            "speedup": float(bucketed["speedup"]),
            "speedup_ci": None,
            **{
                f"{key}_ms": None if value is None else 1000.0 * value
                for key, value in seconds.items()
            },
        }
    return result
